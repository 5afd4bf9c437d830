"""What the simulator's containers do: a model of the agnhost subcommands the chapters run.

agnhost is the upstream e2e test image (``test/images/agnhost`` in kubernetes/kubernetes, v1.37.0, agnhost
2.66.1; tag pinned from ``test/utils/image/manifest.go``). Each modelled subcommand says which ports
listen, what a request gets back, and how the process reacts to SIGTERM:

* ``serve-hostname`` (``serve-hostname/serve_hostname.go``): HTTP on ``--port`` (9376) by default,
  or raw ``--tcp`` / ``--udp`` on it; replies with the hostname (the pod name). On SIGTERM it logs
  "Shutting down after receiving signal: terminated." and "Awaiting pod deletion.", then sleeps 60 s
  and keeps serving, so the grace period's SIGKILL usually ends it.
* ``netexec`` (``netexec/netexec.go``): HTTP on ``--http-port`` (8080) with ``/hostname``,
  ``/clientip``, ``/echo?msg=``, ``/serverport``, ``/shutdown``; UDP on ``--udp-port`` (8081, ``-1`` disables
  it) answering ``hostname``, ``echo <msg>``, ``clientip``, ``serverport`` (the payload lower-cased
  first; anything else gets no reply). On SIGTERM it exits at once, or after ``--delay-shutdown`` seconds.
  Every other path answers 200 ``NOW: <Go time.Now()>`` (``/`` is the catch-all ``rootHandler``);
  ``/readyz`` answers 503 once SIGTERM arrived (``readyzHandler``), ``/healthz`` 200. Not modelled:
  ``/envvar`` (new in 2.66.1; it falls to the catch-all here).
* ``liveness`` (``liveness/server.go``, the probes tutorial's image): HTTP on 8080; ``/healthz`` answers 200
  for the first 10 s after the process started, then 500; every other path 200.
* ``grpc-health-checking`` (``grpc-health-checking/grpc-health-checking.go``): the gRPC health service on
  ``--port`` (5000), SERVING until ``--delay-unhealthy-sec`` (-1: never) then NOT_SERVING; HTTP on
  ``--http-port`` (8080).
* ``connect`` (``connect/connect.go``) and ``pause`` (``pause/pause.go``): no listeners; pause exits on
  SIGTERM. The ``registry.k8s.io/pause`` image is modelled like ``agnhost pause``.
* nginx (``nginx``, ``docker.io/library/nginx``, ``registry.k8s.io/nginx-slim``) with its own entrypoint:
  HTTP on 80, ``/`` and ``/index.html`` 200 (the welcome page), other paths 404; its STOPSIGNAL is SIGQUIT,
  a graceful stop that ends at once when no request is in flight.

Any other image or subcommand runs as a container that listens on nothing; :func:`unmodelled`
gives the message saying so and naming what is modelled.

Which images exist (:func:`pull_error`): the simulated registry has the images a kind node preloads, the
ones modelled here and in helpers.sim.shell, and a few tutorial images that run as unmodelled containers
(``KNOWN``); every tag of those is taken to exist. Pulling any other repository fails as containerd 2 reports
a missing repository, and the kubelet goes through ErrImagePull and ImagePullBackOff.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from helpers.config import AGNHOST_IMAGE, AGNHOST_REPO

PAUSE_REPO = "registry.k8s.io/pause"
# The repositories the simulated registry has (any tag): what kindest/node preloads, what is modelled, and the
# tutorial images of kubernetes.io that run here as containers listening on nothing.
PRELOADED = ("registry.k8s.io/kube-apiserver", "registry.k8s.io/kube-controller-manager",
             "registry.k8s.io/kube-scheduler", "registry.k8s.io/kube-proxy", "registry.k8s.io/etcd",
             "registry.k8s.io/coredns/coredns", PAUSE_REPO, "docker.io/kindest/kindnetd",
             "docker.io/kindest/local-path-provisioner", "docker.io/kindest/local-path-helper")
MODELLED = (AGNHOST_REPO, "docker.io/library/nginx", "registry.k8s.io/nginx-slim", "docker.io/library/busybox",
            "registry.k8s.io/busybox", "registry.k8s.io/e2e-test-images/busybox")
TUTORIAL = ("docker.io/library/perl", "docker.io/library/python", "docker.io/library/redis",
            "docker.io/library/httpd", "docker.io/library/alpine", "docker.io/library/ubuntu",
            "docker.io/library/debian", "docker.io/curlimages/curl", "gcr.io/google-samples/kubernetes-bootcamp",
            "docker.io/jocatalin/kubernetes-bootcamp", "gcr.io/google-samples/hello-app",
            "registry.k8s.io/echoserver")
KNOWN = PRELOADED + MODELLED + TUTORIAL
# where the pull error points a reader (one line, after containerd's own text)
KNOWN_DOC = ("the simulator pulls only the images README.md lists under \"The simulated cluster\" "
             "(kind's preloaded ones, agnhost, pause, nginx, busybox and a few tutorial images)")
NGINX_REPOS = ("nginx", "docker.io/library/nginx", "registry.k8s.io/nginx-slim")
SUBCOMMANDS = ("serve-hostname", "netexec", "liveness", "grpc-health-checking", "connect", "pause")


def nginx_page(title: str, body: str) -> str:
    """The layout both pages of nginx's html directory share."""
    return ("<!DOCTYPE html>\n<html>\n<head>\n"
            f"<title>{title}</title>\n"
            "<style>\nhtml { color-scheme: light dark; }\nbody { width: 35em; margin: 0 auto;\n"
            "font-family: Tahoma, Verdana, Arial, sans-serif; }\n</style>\n</head>\n<body>\n"
            f"{body}</body>\n</html>\n")


# nginx's /usr/share/nginx/html/index.html (615 bytes)
NGINX_WELCOME = nginx_page("Welcome to nginx!", """<h1>Welcome to nginx!</h1>
<p>If you see this page, the nginx web server is successfully installed and
working. Further configuration is required.</p>

<p>For online documentation and support please refer to
<a href="http://nginx.org/">nginx.org</a>.<br/>
Commercial support is available at
<a href="http://nginx.com/">nginx.com</a>.</p>

<p><em>Thank you for using nginx.</em></p>
""")
LIVENESS_HEALTHY_S = 10.0  # liveness/server.go: /healthz fails once time.Since(started) > 10 s
SERVE_HOSTNAME_LINGER_S = 60.0  # serve_hostname.go: time.Sleep(60 * time.Second) after SIGTERM


@dataclass(frozen=True)
class Listener:
    port: int
    protocol: str  # "TCP" | "UDP"
    http: bool


@dataclass(frozen=True)
class Program:
    """A modelled process: its listeners, and how long it lives after SIGTERM."""

    subcommand: str
    listeners: tuple[Listener, ...] = ()
    sigterm_exit_s: float = 0.0
    sigterm_log: tuple[str, ...] = ()
    sigterm_exit_code: int = 0  # 143 for a Go program with no SIGTERM handler (killed by the signal)
    grpc_port: int | None = None
    unhealthy_after_s: float | None = None  # grpc-health-checking's --delay-unhealthy-sec

    def http_status(self, path: str, age_s: float, signalled: bool = False) -> int:
        """The HTTP status a GET of ``path`` gets, ``age_s`` seconds after the process started."""
        route = path.split("?", 1)[0] or "/"
        if self.subcommand == "nginx":
            return 200 if route in ("/", "/index.html") else 404
        if self.subcommand == "liveness" and route == "/healthz":
            return 500 if age_s > LIVENESS_HEALTHY_S else 200
        if self.subcommand == "netexec" and route == "/readyz" and signalled:
            return 503
        return 200

    def grpc_serving(self, age_s: float) -> bool | None:
        """The gRPC health answer (True SERVING, False NOT_SERVING), None when nothing serves gRPC."""
        if self.grpc_port is None:
            return None
        return self.unhealthy_after_s is None or age_s < self.unhealthy_after_s

    def listens(self, port: int, protocol: str = "TCP") -> bool:
        return any(listener.port == port and listener.protocol == protocol for listener in self.listeners)

    def answer(self, port: int, protocol: str, *, hostname: str, client_ip: str, request: str = "",
               now: datetime | None = None, age_s: float = 0.0) -> str:
        """The reply body to one request on ``port`` (HTTP path or UDP payload in ``request``); ``now`` and
        ``age_s`` (seconds since the process started) date netexec's catch-all reply."""
        if self.subcommand == "serve-hostname":
            return hostname
        if self.subcommand == "nginx":
            return NGINX_WELCOME if self.http_status(request, 0.0) == 200 else "404 page not found"
        if protocol == "UDP":  # netexec.go startUDPServer: strings.ToLower(strings.TrimSpace(payload))
            command, _, arg = request.strip().lower().partition(" ")
            return {"hostname": hostname, "clientip": client_ip, "echo": arg, "serverport": str(port)}.get(command, "")
        command, _, arg = request.lstrip("/").partition("?")
        if command in ("hostname", "hostName"):
            return hostname
        if command == "clientip":
            return f"{client_ip}:0"
        if command == "serverport":
            return str(port)
        if command == "echo":
            return arg.removeprefix("msg=")
        if command == "shutdown":
            return ""
        return f"NOW: {go_time(now or datetime.now(UTC), age_s)}"  # rootHandler: fmt.Fprintf(w, "NOW: %v", ...)


def go_time(at: datetime, age_s: float) -> str:
    """Go's ``time.Now().String()`` in a UTC container: nanoseconds, zone, and the monotonic reading
    (``m=+<seconds since the process started>``)."""
    fraction = f"{at.microsecond:06d}".rstrip("0")  # layout .999999999 drops trailing zeros
    return f"{at:%Y-%m-%d %H:%M:%S}{'.' + fraction if fraction else ''} +0000 UTC m=+{age_s:.9f}"


def reference(image: str) -> tuple[str, str]:
    """(repository, full reference) as containerd normalises a name (reference/docker ParseDockerRef):
    ``nginx`` -> ``docker.io/library/nginx``, ``docker.io/library/nginx:latest``."""
    name, at, digest = image.partition("@")
    path, colon, tag = name.rpartition(":") if ":" in name.rsplit("/", 1)[-1] else (name, "", "")
    first = path.split("/", 1)[0]
    if "/" not in path or not ("." in first or ":" in first or first == "localhost"):
        path = "docker.io/" + ("library/" + path if "/" not in path else path)
    full = path + (f":{tag}" if colon else "" if at else ":latest") + (f"@{digest}" if at else "")
    return path, full


def pull_error(image: str) -> str | None:
    """containerd's PullImage error for an image the simulated registry does not have (None when it has it):
    Docker Hub answers a missing repository with 401 insufficient_scope (an Unknown gRPC code, which
    cri-client strips), another registry with 404 (NotFound, kept: cri-client remote_image.go pullImageV1).
    Its tail, in parentheses, is the simulator's own: where the images it has are listed."""
    repo, full = reference(image)
    if repo in KNOWN:
        return None
    prefix = f'failed to pull and unpack image "{full}": failed to resolve reference "{full}": '
    if repo.startswith("docker.io/"):
        text = (prefix + "pull access denied, repository does not exist or may require authorization: server "
                "message: insufficient_scope: authorization failed")
    else:
        text = f"rpc error: code = NotFound desc = {prefix}{full}: not found"
    return f"{text} ({KNOWN_DOC})"


def _repo(image: str) -> str:
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return name.rsplit(":", 1)[0] if ":" in last else name


def _flags(args: list[str]) -> dict[str, str]:
    """``--a=1 --b 2 --c`` -> {"a": "1", "b": "2", "c": "true"} (cobra/pflag forms)."""
    out: dict[str, str] = {}
    i = 0
    while i < len(args):
        arg = args[i]
        if arg.startswith("--"):
            name, eq, value = arg[2:].partition("=")
            if not eq:
                if i + 1 < len(args) and not args[i + 1].startswith("--") and name not in ("tcp", "udp", "http",
                                                                                            "close"):
                    value, i = args[i + 1], i + 1
                else:
                    value = "true"
            out[name] = value
        i += 1
    return out


def _int(flags: dict, name: str, default: int) -> int:
    try:
        return int(flags.get(name, default))
    except ValueError:
        return default


def program(container: dict) -> Program | None:
    """The modelled process of a container spec, or None when its image/command is not modelled."""
    repo = _repo(container.get("image", ""))
    argv = [*(container.get("command") or []), *(container.get("args") or [])]
    if repo == PAUSE_REPO:
        return Program("pause")
    if repo in NGINX_REPOS and not argv:
        return Program("nginx", (Listener(80, "TCP", True),))
    if repo != AGNHOST_REPO:
        return None
    words = [a for a in argv if not a.endswith("agnhost")]
    if not words or words[0] not in SUBCOMMANDS:
        return None
    sub, flags = words[0], _flags(words[1:])
    if sub == "serve-hostname":
        port = _int(flags, "port", 9376)
        raw = [p for p in ("tcp", "udp") if flags.get(p) == "true"]
        listeners = tuple(Listener(port, p.upper(), False) for p in raw) or (
            (Listener(port, "TCP", True),) if flags.get("http", "true") == "true" else ())
        return Program(sub, listeners, SERVE_HOSTNAME_LINGER_S,
                       ("Shutting down after receiving signal: terminated.", "Awaiting pod deletion."))
    if sub == "netexec":
        http, udp = _int(flags, "http-port", 8080), _int(flags, "udp-port", 8081)
        listeners = (Listener(http, "TCP", True), *((Listener(udp, "UDP", False),) if udp != -1 else ()))
        delay = float(_int(flags, "delay-shutdown", 0))
        log = (f"Sleeping {int(delay)} seconds before terminating...",) if delay > 0 else ()
        return Program(sub, listeners, delay, log)
    if sub == "liveness":
        return Program(sub, (Listener(8080, "TCP", True),), sigterm_exit_code=143)
    if sub == "grpc-health-checking":
        port, http = _int(flags, "port", 5000), _int(flags, "http-port", 8080)
        delay = _int(flags, "delay-unhealthy-sec", -1)
        return Program(sub, (Listener(port, "TCP", False), Listener(http, "TCP", True)), sigterm_exit_code=143,
                       grpc_port=port,
                       unhealthy_after_s=float(delay) if delay >= 0 else None)
    return Program(sub, sigterm_exit_code=143 if sub == "connect" else 0)


def sigterm_reaction(proc: Program | None, shell_image: bool) -> tuple[float, int] | None:
    """(seconds from SIGTERM to exit, exit code), or None when the process ignores SIGTERM: a shell image's
    own command (busybox ``sleep``, ``sh -c``) runs as PID 1 with no handler, so the kernel drops the signal
    and only the grace period's SIGKILL ends it. Another image the simulator does not model is taken to
    exit at once."""
    if proc is None:
        return None if shell_image else (0.0, 0)
    return proc.sigterm_exit_s, proc.sigterm_exit_code


def unmodelled(container: dict) -> str:
    """Why a container listens on nothing in the simulator, naming what is modelled."""
    argv = " ".join([*(container.get("command") or []), *(container.get("args") or [])]) or "(image default)"
    return (f"the simulator does not model image {container.get('image', '')!r} with command {argv!r}: "
            f"its container runs but listens on no port and answers nothing. Modelled: {AGNHOST_IMAGE} "
            f"with args {' | '.join(SUBCOMMANDS)}, {PAUSE_REPO}, and nginx with its own entrypoint")
