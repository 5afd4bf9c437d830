"""Network namespaces of ours, ``ip netns`` style (a bind mount under /run/netns), and setns(2).

A socket belongs, for its whole life, to the network namespace its creating thread was in, and a
child process starts in the namespace of the thread that forked it. :meth:`Namespace.run_inside`
calls a function on a short-lived thread that has joined the namespace with setns(2) and leaves it
again, so this process never moves into a namespace of ours itself: a listening socket or a
``conntrack``/``iptables-restore`` child made there stays in the namespace, and nothing is added to
the host's.

Names are ``<prefix><pid>-<random>-<label>``: unique per run, and :func:`remove_stale` deletes
those of a run whose process is gone (after a ``kill -9``), with what still runs inside them.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import secrets
import shutil
import signal
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

from helpers.sim.process import pid_alive

CLONE_NEWNET = 0x40000000
NETNS_DIR = Path("/run/netns")
COMMAND_TIMEOUT_S = 60.0
PREFIXES = ("ep-kp-", "ep-sim-")  # the kube-proxy oracle's nodes; the simulator's kernel data plane

_libc = ctypes.CDLL(None, use_errno=True)


class Unavailable(RuntimeError):
    """The machine cannot make network namespaces for us (the reason is the message)."""


def run(argv: list[str], *, input: str | None = None, netns: str | None = None, check: bool = True) -> str:
    """Run a command (inside ``netns`` if given, via ``ip netns exec``); its stdout."""
    full = ["ip", "netns", "exec", netns, *argv] if netns else argv
    proc = subprocess.run(full, input=input, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S, check=False)
    if check and proc.returncode != 0:
        raise subprocess.CalledProcessError(proc.returncode, full, proc.stdout, proc.stderr)
    return proc.stdout


def unavailable_reason(tools: tuple[str, ...]) -> str:
    """Why network namespaces with ``tools`` cannot be used here, or "" when they can."""
    if not Path("/proc/self/ns/net").exists():
        return "network namespaces need Linux"
    if os.geteuid() != 0:
        return "creating network namespaces needs root (this process is not)"
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if missing:
        return f"missing {', '.join(missing)} (apt-get install iproute2 iptables nftables conntrack)"
    try:
        Namespace.create("ep-sim-", "probe").delete()
    except (OSError, subprocess.SubprocessError) as err:
        detail = getattr(err, "stderr", "") or str(err)
        return f"cannot create a network namespace: {detail.strip()}"
    return ""


def our_namespaces(prefix: str) -> list[str]:
    """Names of namespaces with ``prefix`` (any run) that still exist."""
    return sorted(p.name for p in NETNS_DIR.glob(f"{prefix}*")) if NETNS_DIR.is_dir() else []


def remove_stale(prefix: str) -> list[str]:
    """Delete namespaces with ``prefix`` left by a run whose process is gone, and what runs inside them."""
    removed = []
    for name in our_namespaces(prefix):
        match = re.match(rf"{re.escape(prefix)}(\d+)-", name)
        if match and not pid_alive(int(match.group(1))):
            Namespace(name).delete()
            removed.append(name)
    return removed


@dataclass
class Namespace:
    """One network namespace of ours."""

    name: str

    @classmethod
    def create(cls, prefix: str, label: str, *, token: str | None = None) -> Namespace:
        """``<prefix><pid>-<token>-<label>``, with its loopback up (``token``: random unless given)."""
        ns = cls(f"{prefix}{os.getpid()}-{token or secrets.token_hex(3)}-{label}")
        run(["ip", "netns", "add", ns.name])
        try:
            run(["ip", "-n", ns.name, "link", "set", "lo", "up"])
        except subprocess.CalledProcessError:
            ns.delete()
            raise
        return ns

    @property
    def path(self) -> Path:
        return NETNS_DIR / self.name

    def exec(self, argv: list[str], *, input: str | None = None, check: bool = True) -> str:
        return run(argv, input=input, netns=self.name, check=check)

    def ip_batch(self, commands: list[str]) -> None:
        """``ip -n <ns> -batch -``: many ``ip`` commands in one process, stopping at the first that fails."""
        if commands:
            run(["ip", "-n", self.name, "-batch", "-"], input="".join(c + "\n" for c in commands))

    def spawn(self, argv: list[str], *, input: str | None = None) -> subprocess.CompletedProcess:
        """Run ``argv`` as a child forked by a thread inside this namespace (no ``ip netns exec``, so no
        mount namespace to set up: a ``conntrack -L`` or ``iptables-restore`` only needs the netns)."""
        return self.run_inside(lambda: subprocess.run(argv, input=input, capture_output=True, text=True,
                                                      timeout=COMMAND_TIMEOUT_S, check=False))

    def pids(self) -> list[int]:
        out = run(["ip", "netns", "pids", self.name], check=False)
        return [int(p) for p in out.split()]

    def delete(self) -> None:
        """Kill what still runs inside (processes we started there), then delete it."""
        for pid in self.pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        run(["ip", "netns", "delete", self.name], check=False)

    def run_inside(self, fn):
        """``fn()`` called on a thread that has joined this namespace; what it returns (e.g. a socket,
        which stays in this namespace after the thread has left it)."""
        result: dict = {}

        def body():
            own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
            try:
                target = os.open(self.path, os.O_RDONLY)
            except OSError as exc:
                os.close(own)
                result["error"] = exc
                return
            try:
                if _libc.setns(target, CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), f"setns({self.name})")
                try:
                    result["value"] = fn()
                finally:
                    if _libc.setns(own, CLONE_NEWNET) != 0:  # never leave a thread behind in the namespace
                        raise OSError(ctypes.get_errno(), "setns(back to the host namespace)")
            except BaseException as exc:  # noqa: BLE001 - handed to the calling thread
                result["error"] = exc
            finally:
                os.close(own)
                os.close(target)

        thread = threading.Thread(target=body, name=f"setns-{self.name}")
        thread.start()
        thread.join()
        if "error" in result:
            raise result["error"]
        return result["value"]
