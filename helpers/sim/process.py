"""Safe management of the background simulator: state-directory locks and "is this pid ours?".

Two rules keep `start` and `stop` from hurting anything else on the machine:

* One simulator per state directory. `serve` holds an exclusive lock on `<state>/sim.lock` for its
  whole life, and `start`/`stop` hold `<state>/start.lock` while they check, spawn, signal and clean
  up, so two starts never make two simulators and a stop never deletes another one's kubeconfig.
* A pid is signalled only after it is shown to be our simulator: its command line is
  `python -m helpers.sim serve`, it is the pid holding the directory's serve lock, and, when its port answers,
  `/sim/info` reports that same pid. A pid the kernel has since given to another program fails the
  first two tests and is left alone.
"""

from __future__ import annotations

import fcntl
import itertools
import json
import os
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Self

SERVE_LOCK = "sim.lock"
START_LOCK = "start.lock"
LOCK_POLL_S = 0.02  # how often a waiting start/stop retries the start lock


class LockHeld(RuntimeError):
    """Another process holds a state-directory lock (``holder``: its pid, when it recorded one)."""

    def __init__(self, message: str, holder: int | None = None):
        super().__init__(message)
        self.holder = holder


class StateLock:
    """An exclusive advisory lock (flock) on one file of the state directory; released on close or exit.

    The kernel drops a flock when its holder dies, so a killed simulator never leaves a stale lock.
    """

    def __init__(self, directory: Path, name: str):
        self.path = directory / name
        self._fd: int | None = None

    def acquire(self, timeout: float = 0.0, *, record: bool = True) -> StateLock:
        """Take the lock, waiting up to ``timeout`` seconds; LockHeld if another process keeps it.

        ``record`` writes our pid into the file, so others can name the holder.
        """
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = _read_holder(fd)
                    os.close(fd)
                    raise LockHeld(f"{self.path} is held by {f'pid {holder}' if holder else 'another process'}",
                                   holder) from None
                time.sleep(LOCK_POLL_S)  # flock has no timed wait; bounded by the deadline above
        if record:
            os.ftruncate(fd, 0)
            os.write(fd, str(os.getpid()).encode())
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def _read_holder(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def serve_lock_holder(directory: Path) -> int | None:
    """The pid holding the serve lock of ``directory`` (a live simulator), or None when it is free."""
    try:
        StateLock(directory, SERVE_LOCK).acquire(record=False).release()
    except LockHeld as held:
        return held.holder
    except OSError:
        return None
    return None


def command_line(pid: int) -> list[str]:
    """The argv of ``pid`` (/proc on Linux, `ps` elsewhere); [] when it cannot be read."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")[:-1]
    except FileNotFoundError:
        if Path("/proc/self/cmdline").exists():
            return []  # Linux, and the process is gone
    except OSError:
        return []
    try:
        out = subprocess.run(["ps", "-o", "command=", "-p", str(pid)], capture_output=True, text=True,
                             timeout=5, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return out.split()


def looks_like_simulator(argv: list[str]) -> bool:
    """`<python> -m helpers.sim serve ...`: what start_background launches."""
    return any(a == "-m" and b == "helpers.sim" for a, b in itertools.pairwise(argv)) and "serve" in argv


def info_pid(url: str, timeout: float = 2.0) -> int | None:
    """The pid `/sim/info` at ``url`` reports, or None when nothing there answers as the simulator."""
    try:
        with urllib.request.urlopen(f"{url}/sim/info", timeout=timeout) as response:
            info = json.load(response)
    except (OSError, ValueError):
        return None
    return info.get("pid") if isinstance(info, dict) and info.get("simulator") is True else None


def is_our_simulator(pid: int, url: str, directory: Path) -> bool:
    """Is ``pid`` the simulator serving ``directory`` (see the module docstring for the tests)?"""
    if not looks_like_simulator(command_line(pid)) or serve_lock_holder(directory) != pid:
        return False
    answering = info_pid(url)
    return answering is None or answering == pid  # None: alive but wedged; the lock and argv vouch for it


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` runs (an exited child of ours is reaped first; a zombie does not run)."""
    if pid <= 0:
        return False
    try:  # reap it first if it is our own exited child (a zombie still answers kill(pid, 0))
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    """An exited process whose parent (not us) has not reaped it yet; Linux only, elsewhere False."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] == "Z"
