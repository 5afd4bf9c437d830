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
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from helpers.config import REPO_ROOT, load_cluster_config

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
    path.write_text(kubeconfig_text(url))
    return SimHandle(url, str(path), cluster, server)


# -- the background simulator ------------------------------------------------------------------------
def _state_file() -> Path:
    return state_dir() / "sim.json"


def _pid_alive(pid: int) -> bool:
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


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/sim/info", timeout=2) as response:
            return json.load(response).get("simulator") is True
    except (OSError, ValueError):
        return False


def running() -> dict | None:
    """The background simulator's state (`url`, `pid`, `kubeconfig`) if it runs and answers, else None.

    A state file left by a dead process is removed.
    """
    path = _state_file()
    try:
        state = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not _pid_alive(int(state.get("pid", 0))):
        path.unlink(missing_ok=True)
        return None
    return state if _answers(state["url"]) else None


def start_background(config_path=None, *, speed: float = 1.0) -> dict:
    """Start (or reuse) the detached simulator; returns its state dict once it answers."""
    current = running()
    if current:
        return current
    directory = state_dir()
    command = [sys.executable, "-m", "helpers.sim", "serve", "--speed", str(speed)]
    if config_path:
        command += ["--config", str(Path(config_path).resolve())]
    with open(directory / "sim.log", "ab") as log:
        process = subprocess.Popen(command, cwd=REPO_ROOT, stdin=subprocess.DEVNULL, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True,
                                   env=dict(os.environ, ENDPOINTS_STATE_DIR=str(directory)))
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        state = running()
        if state and state["pid"] == process.pid:
            return state
        if process.poll() is not None:
            break
        time.sleep(POLL_S)  # polling the child's readiness, bounded by the deadline
    process.kill()
    tail = (directory / "sim.log").read_text(errors="replace")[-2000:]
    raise RuntimeError(f"the simulator did not start; last lines of {directory / 'sim.log'}:\n{tail}")


def stop_background() -> bool:
    """Stop the background simulator; True if one was running."""
    path = _state_file()
    try:
        state = json.loads(path.read_text())
    except (OSError, ValueError):
        return False
    pid = int(state.get("pid", 0))
    was_running = _pid_alive(pid)
    if was_running:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while _pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(POLL_S)  # waiting for the process to exit, bounded by the deadline
        if _pid_alive(pid):
            os.kill(pid, signal.SIGKILL)
    path.unlink(missing_ok=True)
    if state.get("kubeconfig"):
        Path(state["kubeconfig"]).unlink(missing_ok=True)
    return was_running


def write_state(url: str, pid: int) -> dict:
    """Record a running server (used by `serve`): `.state/sim.json` and `.state/sim-kubeconfig`."""
    directory = state_dir()
    kubeconfig = directory / "sim-kubeconfig"
    kubeconfig.write_text(kubeconfig_text(url))
    state = {"url": url, "pid": pid, "kubeconfig": str(kubeconfig)}
    tmp = directory / "sim.json.tmp"
    tmp.write_text(json.dumps(state))
    tmp.replace(_state_file())
    return state
