"""A minimal headless-Chromium driver over the Chrome DevTools Protocol, for the rendering tests.

Chromium is started with ``--remote-debugging-pipe``: it reads CDP commands from file descriptor 3
and writes replies and events to descriptor 4, each message JSON terminated by a NUL byte
(https://chromedevtools.github.io/devtools-protocol/, "--remote-debugging-pipe" in
chromium/src/content/browser/devtools/devtools_pipe_handler.cc). A pipe needs no websocket client
and no free port. One page target is attached in flat mode; every wait is bounded.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import signal
import tempfile
import time
from pathlib import Path
from typing import Self

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "chrome")


def find_browser() -> str | None:
    """The first Chromium-like executable on PATH (``CHROMIUM`` overrides)."""
    if os.environ.get("CHROMIUM"):
        return os.environ["CHROMIUM"]
    return next((path for name in BROWSERS if (path := shutil.which(name))), None)


class BrowserError(RuntimeError):
    """Chromium answered a command with an error, died, or did not answer in time."""


class Browser:
    """One headless Chromium with one page; use as a context manager."""

    def __init__(self, executable: str, timeout: float = 60.0):
        self.timeout = timeout
        self._profile = tempfile.TemporaryDirectory(prefix="endpoints-chromium-")
        to_child_r, self._to_child = os.pipe()
        self._from_child, from_child_w = os.pipe()
        # CDP reads the child's fd 3 and writes its fd 4; move our ends above them first so that the
        # dup2s cannot clobber each other (posix_spawn: no Python code runs between fork and exec).
        high = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10) for fd in (to_child_r, from_child_w)]
        for fd in (to_child_r, from_child_w):
            os.close(fd)
        argv = [executable, "--headless=new", "--remote-debugging-pipe", "--no-sandbox", "--disable-gpu",
                "--disable-dev-shm-usage", "--no-first-run", "--no-default-browser-check", "--hide-scrollbars",
                "--mute-audio", "--font-render-hinting=none", f"--user-data-dir={self._profile.name}",
                "about:blank"]
        try:
            self._pid = os.posix_spawn(executable, argv, os.environ, file_actions=[
                (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
                (os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0),
                (os.POSIX_SPAWN_DUP2, high[0], 3), (os.POSIX_SPAWN_DUP2, high[1], 4)])
        finally:
            for fd in high:
                os.close(fd)
        self._exited = None
        self._pidfd = os.pidfd_open(self._pid)
        self._buffer = b""
        self._next_id = 0
        self._events: list[dict] = []
        self.session = None
        try:
            target = self.send("Target.createTarget", url="about:blank", session=False)["targetId"]
            self.session = self.send("Target.attachToTarget", targetId=target, flatten=True,
                                     session=False)["sessionId"]
            self.send("Page.enable")
            self.send("Runtime.enable")
        except BaseException:
            self.close()
            raise

    # -- protocol ------------------------------------------------------------------------------

    def _read_message(self, deadline: float) -> dict:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BrowserError("chromium did not answer in time")
            ready, _, _ = select.select([self._from_child], [], [], left)
            if ready:
                chunk = os.read(self._from_child, 1 << 20)
                if not chunk:
                    raise BrowserError(f"chromium exited (status {self._wait(1.0)})")
                self._buffer += chunk
        raw, _, self._buffer = self._buffer.partition(b"\0")
        return json.loads(raw)

    def send(self, method: str, session: bool = True, **params):
        """Send one command and return its result (events that arrive meanwhile are kept)."""
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params}
        if session and self.session:
            message["sessionId"] = self.session
        os.write(self._to_child, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise BrowserError(f"{method}: {reply['error'].get('message')}")
                return reply.get("result", {})
            if "method" in reply:
                self._events.append(reply)

    def wait_event(self, method: str) -> dict:
        """The next event named ``method`` (one already received counts)."""
        deadline = time.monotonic() + self.timeout
        while True:
            for i, event in enumerate(self._events):
                if event["method"] == method:
                    return self._events.pop(i)
            event = self._read_message(deadline)
            if "method" in event:
                self._events.append(event)

    # -- page ----------------------------------------------------------------------------------

    def viewport(self, width: int, height: int) -> None:
        self.send("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1,
                  mobile=False)

    def open(self, path: Path | str) -> None:
        """Load a file (or URL) and wait for its load event and for web fonts."""
        url = Path(path).resolve().as_uri() if not str(path).startswith(("http:", "https:", "file:")) else path
        self._events = [e for e in self._events if e["method"] != "Page.loadEventFired"]
        self.send("Page.navigate", url=str(url))
        self.wait_event("Page.loadEventFired")
        self.evaluate("document.fonts.ready.then(() => true)")

    def evaluate(self, expression: str):
        """The value of a JavaScript expression (promises are awaited); page exceptions raise."""
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            raise BrowserError(f"{(details.get('exception') or {}).get('description') or details.get('text')}")
        return result["result"].get("value")

    def screenshot(self, target: Path, full_page: bool = True) -> Path:
        """A PNG of the page (the whole document when ``full_page``)."""
        params = {"format": "png"}
        if full_page:
            width, height = self.evaluate("[document.documentElement.scrollWidth, "
                                          "document.documentElement.scrollHeight]")
            params.update(captureBeyondViewport=True,
                          clip={"x": 0, "y": 0, "width": width, "height": min(height, 16000), "scale": 1})
        data = self.send("Page.captureScreenshot", **params)["data"]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(base64.b64decode(data))
        return target

    def _wait(self, timeout: float) -> int | None:
        """Chromium's exit status once it has exited within ``timeout`` s (its pidfd turns readable)."""
        if self._exited is None and select.select([self._pidfd], [], [], timeout)[0]:
            self._exited = os.waitpid(self._pid, 0)[1]
        return self._exited

    def close(self) -> None:
        if self._wait(0) is None:
            try:
                self.send("Browser.close", session=False)
            except (BrowserError, OSError):
                pass
            if self._wait(10) is None:
                os.kill(self._pid, signal.SIGKILL)
                self._wait(10)
        for fd in (self._to_child, self._from_child, self._pidfd):
            try:
                os.close(fd)
            except OSError:
                pass
        self._profile.cleanup()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
