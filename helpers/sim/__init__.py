"""The built-in simulated cluster: start it in this process or in the background, and stop it.

It is a simulator, not kind: a real HTTP server on 127.0.0.1 that speaks the Kubernetes API, so the
real kubectl and the official Python client use it unchanged. Its kubeconfig context is
`sim-endpoints`; it never touches ~/.kube/config.

* `start_in_process(...) -> SimHandle` runs the cluster and server in daemon threads (tests, notebooks).
* `start_background()` starts `python -m helpers.sim serve` detached and records it in
  `.state/sim.json`; `running()` and `stop_background()` find it there (stale files are cleaned up).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from helpers.config import REPO_ROOT, load_cluster_config
from helpers.sim import process
from helpers.sim.process import pid_alive as _pid_alive

CONTEXT = "sim-endpoints"
HOST = "127.0.0.1"
START_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 10.0
POLL_S = 0.01  # how often start/stop look at the child process (a restart is on a chapter's critical path)


def state_dir() -> Path:
    """Where uncommitted project state lives: $ENDPOINTS_STATE_DIR or <repo>/.state."""
    path = Path(os.environ.get("ENDPOINTS_STATE_DIR") or REPO_ROOT / ".state")
    path.mkdir(parents=True, exist_ok=True)
    return path


def kubeconfig_text(url: str) -> str:
    """A kubeconfig with one context, `sim-endpoints`, pointing at `url` (plain HTTP, no credentials)."""
    return "\n".join([
        "apiVersion: v1", "kind: Config", "preferences: {}",
        "clusters:", f"- name: {CONTEXT}", "  cluster:", f"    server: {url}",
        "contexts:", f"- name: {CONTEXT}", "  context:", f"    cluster: {CONTEXT}", f"    user: {CONTEXT}",
        "    namespace: default",
        f"current-context: {CONTEXT}",
        "users:", f"- name: {CONTEXT}", "  user: {}", ""])


def version_info(version: str) -> dict:
    """/version for the simulated Kubernetes version; gitVersion says `-sim` so nobody mistakes it for kind."""
    from helpers.sim.server import default_version_info

    major, minor, _ = version.lstrip("v").split(".")
    return default_version_info() | {"major": major, "minor": minor, "gitVersion": f"{version}-sim"}


@dataclass
class SimHandle:
    """A simulator running in this process."""

    url: str
    kubeconfig: str
    cluster: object
    server: object

    @property
    def port(self) -> int:
        return self.server.port

    def stop(self) -> None:
        """Stop the server and the simulation, and remove this handle's kubeconfig."""
        self.server.shutdown()
        self.cluster.shutdown()
        Path(self.kubeconfig).unlink(missing_ok=True)


def start_in_process(config_path=None, *, speed: float = 1.0, port: int = 0, kubeconfig_path=None,
                     **overrides) -> SimHandle:
    """Boot a Cluster and serve it on 127.0.0.1:<free port> from daemon threads of this process.

    `overrides` go to `Cluster` (e.g. `missing_node_behavior="pre-1.25"`, `seed=1`).
    """
    from helpers.sim.cluster import Cluster
    from helpers.sim.control import ControlHandler
    from helpers.sim.server import serve

    cluster = Cluster(load_cluster_config(config_path), speed=speed, **overrides)
    try:
        server = serve(cluster.store, host=HOST, port=port, control=ControlHandler(cluster),
                       version_info=version_info(cluster.version))
    except Exception:
        cluster.shutdown()
        raise
    url = f"http://{HOST}:{server.port}"
    path = Path(kubeconfig_path) if kubeconfig_path else state_dir() / f"sim-kubeconfig-{server.port}"
    try:
        write_atomically(path, kubeconfig_text(url))
    except OSError:
        server.shutdown()
        cluster.shutdown()
        raise
    return SimHandle(url, str(path), cluster, server)


# -- the background simulator ------------------------------------------------------------------------
def _state_file() -> Path:
    return state_dir() / "sim.json"


def running() -> dict | None:
    """The background simulator's state (`url`, `pid`, `kubeconfig`) if it runs and answers, else None.

    A state file left by a dead process is removed; a live pid answers only if `/sim/info` at the
    recorded URL reports that pid (a reused pid or port is someone else).
    """
    try:
        path = _state_file()
        state = json.loads(path.read_text())
    except (OSError, ValueError):  # no state file, or no state directory (start_background explains)
        return None
    if not isinstance(state, dict) or not _pid_alive(_int(state.get("pid"))):
        path.unlink(missing_ok=True)
        return None
    return state if process.info_pid(str(state.get("url"))) == state["pid"] else None


def _int(value) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _state_error(directory: Path, err: OSError) -> RuntimeError:
    return RuntimeError(f"cannot write the simulator's state in {directory} ({err.strerror or err}); "
                        "free some disk space or set ENDPOINTS_STATE_DIR to a writable directory")


def start_background(config_path=None, *, speed: float = 1.0) -> dict:
    """Start (or reuse) the detached simulator; returns its state dict once it answers.

    The start lock makes concurrent starts (two kernels opening chapters at once) share one simulator.
    """
    try:
        directory = state_dir()
        lock = process.StateLock(directory, process.START_LOCK).acquire(timeout=START_TIMEOUT_S + STOP_TIMEOUT_S)
    except OSError as err:
        raise _state_error(Path(os.environ.get("ENDPOINTS_STATE_DIR") or REPO_ROOT / ".state"), err) from None
    with lock:
        return running() or _spawn(directory, config_path, speed)


def _spawn(directory: Path, config_path, speed: float) -> dict:
    command = [sys.executable, "-m", "helpers.sim", "serve", "--speed", str(speed)]
    if config_path:
        command += ["--config", str(Path(config_path).resolve())]
    log_path = directory / "sim.log"
    try:
        with open(log_path, "ab") as log:
            child = subprocess.Popen(command, cwd=REPO_ROOT, stdin=subprocess.DEVNULL, stdout=log,
                                     stderr=subprocess.STDOUT, start_new_session=True,
                                     env=dict(os.environ, ENDPOINTS_STATE_DIR=str(directory)))
    except OSError as err:
        raise _state_error(directory, err) from None
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        state = running()
        if state and state["pid"] == child.pid:
            return state
        if child.poll() is not None:
            break
        time.sleep(POLL_S)  # polling the child's readiness, bounded by the deadline
    child.kill()
    child.wait(timeout=STOP_TIMEOUT_S)
    try:
        tail = log_path.read_text(errors="replace")[-2000:].strip()
    except OSError:
        tail = ""
    raise RuntimeError(f"the simulator did not start (exit code {child.returncode}); "
                       + (f"last lines of {log_path}:\n{tail}" if tail else
                          f"{log_path} is empty: is the disk full or {directory} not writable?"))


def stop_background() -> bool:
    """Stop the background simulator; True if one was running.

    Only a process shown to be this state directory's simulator is signalled (helpers.sim.process);
    state files are removed only while no other start can run (the start lock is held).
    """
    directory = state_dir()
    with process.StateLock(directory, process.START_LOCK).acquire(timeout=START_TIMEOUT_S + STOP_TIMEOUT_S):
        path = _state_file()
        try:
            state = json.loads(path.read_text())
        except (OSError, ValueError):
            return False
        pid = _int(state.get("pid")) if isinstance(state, dict) else 0
        ours = _pid_alive(pid) and process.is_our_simulator(pid, str(state.get("url")), directory)
        if ours:
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + STOP_TIMEOUT_S
            while _pid_alive(pid) and time.monotonic() < deadline:
                time.sleep(POLL_S)  # waiting for the process to exit, bounded by the deadline
            if _pid_alive(pid) and process.looks_like_simulator(process.command_line(pid)):
                os.kill(pid, signal.SIGKILL)
        elif process.serve_lock_holder(directory) is not None:
            return False  # a live simulator serves this directory under another pid: its files are its own
        path.unlink(missing_ok=True)
        if isinstance(state, dict) and isinstance(state.get("kubeconfig"), str):
            Path(state["kubeconfig"]).unlink(missing_ok=True)
        return ours


def write_state(url: str, pid: int) -> dict:
    """Record a running server (used by `serve`): `.state/sim.json` and `.state/sim-kubeconfig`."""
    directory = state_dir()
    kubeconfig = directory / "sim-kubeconfig"
    write_atomically(kubeconfig, kubeconfig_text(url))
    state = {"url": url, "pid": pid, "kubeconfig": str(kubeconfig)}
    write_atomically(_state_file(), json.dumps(state))
    return state


def write_atomically(path: Path, text: str) -> None:
    """Write ``path`` whole or not at all (a full disk must not leave an empty kubeconfig behind)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
