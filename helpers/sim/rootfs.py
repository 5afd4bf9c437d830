"""What a simulated container's file system holds: the few directories whose content an image documents, and
what the container's processes (its command, ``kubectl exec``, exec probes) write there.

Each run of a container starts from its image's files (a restarted container gets a fresh writable layer, as
containerd gives it). Known completely, so that a missing file there is "No such file or directory":

* every image: ``/tmp``, empty;
* nginx (``nginx``, ``docker.io/library/nginx``): ``/usr/share/nginx/html`` with the two pages the image
  ships, ``index.html`` (its welcome page, helpers.sim.images.NGINX_WELCOME) and ``50x.html``.

Anywhere else the model does not know what the image has, and says so (:class:`NotModelled`) rather than
inventing an answer. The files the kubelet mounts (``/etc/hosts``, ``/etc/resolv.conf``, ``/etc/hostname``)
are the shell's (helpers.sim.shell), not in here.
"""

from __future__ import annotations

import posixpath

from helpers.sim.images import NGINX_WELCOME, nginx_page, reference

NGINX_HTML = "/usr/share/nginx/html"
# nginx's html/50x.html, as the image ships it
NGINX_50X = nginx_page("Error", """<h1>An error occurred.</h1>
<p>Sorry, the page you are looking for is currently unavailable.<br/>
Please try again later.</p>
<p>If you are the system administrator of this resource then you should check
the error log for details.</p>
<p><em>Faithfully yours, nginx.</em></p>
""")


class NotModelled(Exception):
    """A path outside the directories the model knows."""


class FileSystem:
    """One container run's files: ``files`` (path -> content) inside ``dirs``, the directories known whole."""

    def __init__(self, image: str):
        self.image = image
        self.dirs = {"/tmp"}
        self.files: dict[str, str] = {}
        if reference(image)[0] == "docker.io/library/nginx":  # not nginx-slim, whose html directory is its own
            self.dirs.add(NGINX_HTML)
            self.files.update({f"{NGINX_HTML}/index.html": NGINX_WELCOME, f"{NGINX_HTML}/50x.html": NGINX_50X})

    @staticmethod
    def path(name: str) -> str:
        return posixpath.normpath(posixpath.join("/", name))  # the images' working directory is /

    def _check(self, path: str) -> None:
        if path not in self.dirs and posixpath.dirname(path) not in self.dirs:
            known = ", ".join(sorted(self.dirs))
            raise NotModelled(f"the simulator does not model what {path} holds in {self.image} (it models {known})")

    def is_dir(self, name: str) -> bool:
        path = self.path(name)
        self._check(path)
        return path in self.dirs

    def read(self, name: str) -> str | None:
        """The file's content; None when it does not exist (NotModelled outside the known directories)."""
        path = self.path(name)
        self._check(path)
        return self.files.get(path)

    def entries(self, name: str) -> list[str]:
        """The names in directory ``name``, sorted as ls prints them."""
        path = self.path(name)
        self._check(path)
        return sorted(posixpath.basename(f) for f in self.files if posixpath.dirname(f) == path)

    def write(self, name: str, text: str, append: bool = False) -> None:
        path = self.path(name)
        self._check(path)
        self.files[path] = (self.files.get(path, "") if append else "") + text

    def remove(self, name: str) -> bool:
        """Delete a file; False when there was none."""
        path = self.path(name)
        self._check(path)
        return self.files.pop(path, None) is not None
