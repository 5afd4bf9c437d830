"""What the simulator's containers do: a model of the agnhost subcommands the chapters run.

agnhost is the upstream e2e test image (``test/images/agnhost`` in kubernetes/kubernetes, v1.36.1;
tag pinned from ``test/utils/image/manifest.go``). Each modelled subcommand says which ports
listen, what a request gets back, and how the process reacts to SIGTERM:

* ``serve-hostname`` (``serve-hostname/serve_hostname.go``): HTTP on ``--port`` (9376) by default,
  or raw ``--tcp`` / ``--udp`` on it; replies with the hostname (the pod name). On SIGTERM it logs
  "Shutting down after receiving signal: terminated." and "Awaiting pod deletion.", then sleeps 60 s
  and keeps serving, so the grace period's SIGKILL usually ends it.
* ``netexec`` (``netexec/netexec.go``): HTTP on ``--http-port`` (8080) with ``/hostname``,
  ``/clientip``, ``/echo?msg=``, ``/shutdown``; UDP on ``--udp-port`` (8081, ``-1`` disables it)
  answering ``hostname``, ``echo <msg>``, ``clientip``. On SIGTERM it exits at once, or after
  ``--delay-shutdown`` seconds.
* ``connect`` (``connect/connect.go``) and ``pause`` (``pause/pause.go``): no listeners; pause exits on
  SIGTERM. The ``registry.k8s.io/pause`` image is modelled like ``agnhost pause``.

Any other image or subcommand runs as a container that listens on nothing; :func:`unmodelled`
gives the message saying so and naming what is modelled.
"""

from __future__ import annotations

from dataclasses import dataclass

from helpers.config import AGNHOST_IMAGE, AGNHOST_REPO

PAUSE_REPO = "registry.k8s.io/pause"
SUBCOMMANDS = ("serve-hostname", "netexec", "connect", "pause")
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

    def listens(self, port: int, protocol: str = "TCP") -> bool:
        return any(listener.port == port and listener.protocol == protocol for listener in self.listeners)

    def answer(self, port: int, protocol: str, *, hostname: str, client_ip: str, request: str = "") -> str:
        """The reply body to one request on ``port`` (HTTP path or UDP payload in ``request``)."""
        if self.subcommand == "serve-hostname":
            return hostname
        command, _, arg = request.lstrip("/").partition("?" if protocol == "TCP" else " ")
        if command in ("", "hostname", "hostName"):
            return hostname
        if command == "clientip":
            return f"{client_ip}:0" if protocol == "TCP" else client_ip
        if command == "echo":
            return arg.removeprefix("msg=")
        if command == "shutdown":
            return ""
        return f"404 page not found: {command}" if protocol == "TCP" else ""


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
    return Program(sub)


def unmodelled(container: dict) -> str:
    """Why a container listens on nothing in the simulator, naming what is modelled."""
    argv = " ".join([*(container.get("command") or []), *(container.get("args") or [])]) or "(image default)"
    return (f"the simulator does not model image {container.get('image', '')!r} with command {argv!r}: "
            f"its container runs but listens on no port and answers nothing. Modelled: {AGNHOST_IMAGE} "
            f"with args {' | '.join(SUBCOMMANDS)}, and {PAUSE_REPO}")
