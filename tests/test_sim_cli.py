"""`python -m helpers.sim start|status|stop` as a user runs them (subprocesses, isolated state dir)."""

import json
import os
import subprocess
import sys

import pytest
from conftest import KUBECTL

from helpers.config import REPO_ROOT


def cli(state_dir, *args, timeout=60):
    env = dict(os.environ, ENDPOINTS_STATE_DIR=str(state_dir))
    return subprocess.run([sys.executable, "-m", "helpers.sim", *args], cwd=REPO_ROOT, env=env, check=False,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def state_dir(tmp_path):
    yield tmp_path
    cli(tmp_path, "stop")  # never leave a server behind, even when an assertion failed


def test_start_status_stop_round_trip(state_dir):
    started = cli(state_dir, "start")
    assert started.returncode == 0, started.stderr
    state = json.loads((state_dir / "sim.json").read_text())
    assert state["url"].startswith("http://127.0.0.1:")
    assert f"export KUBECONFIG={state['kubeconfig']}" in started.stdout
    assert KUBECTL in started.stdout and "not kind" in started.stdout
    kubeconfig = (state_dir / "sim-kubeconfig").read_text()
    assert "current-context: sim-endpoints" in kubeconfig and state["url"] in kubeconfig
    # The server outlived the `start` process and answers the real kubectl.
    nodes = subprocess.run([KUBECTL, f"--kubeconfig={state['kubeconfig']}", f"--cache-dir={state_dir}/cache",
                            "get", "nodes", "--no-headers"], capture_output=True, text=True, check=True)
    assert len(nodes.stdout.strip().split("\n")) == 3
    again = cli(state_dir, "start")  # a second start reuses the running simulator
    assert again.returncode == 0 and state["url"] in again.stdout
    assert json.loads((state_dir / "sim.json").read_text())["pid"] == state["pid"]
    status = cli(state_dir, "status")
    assert status.returncode == 0 and state["url"] in status.stdout
    stopped = cli(state_dir, "stop")
    assert stopped.returncode == 0 and "stopped" in stopped.stdout
    assert not (state_dir / "sim.json").exists() and not (state_dir / "sim-kubeconfig").exists()


def test_stale_state_file_of_a_dead_process_is_cleaned_up(state_dir):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True)
    (state_dir / "sim.json").write_text(json.dumps({"url": "http://127.0.0.1:9", "pid": int(dead.stdout),
                                                    "kubeconfig": str(state_dir / "sim-kubeconfig")}))
    status = cli(state_dir, "status")
    assert status.returncode == 1 and "not running" in status.stdout
    assert not (state_dir / "sim.json").exists()


def test_bad_config_is_a_clear_error(state_dir, tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnetworking: [1, 2]\n")
    result = cli(state_dir, "serve", "--config", str(broken))
    assert result.returncode == 1
    assert result.stderr.startswith("error: ") and "Traceback" not in result.stderr


def test_an_exited_process_that_is_not_our_child_counts_as_stopped():
    """stop_background must not wait out its timeout for a zombie another process has not reaped."""
    import subprocess
    import time

    from helpers.sim import _pid_alive

    parent = subprocess.Popen(["bash", "-c", "true & echo $!; exec sleep 30"], stdout=subprocess.PIPE, text=True)
    try:
        child = int(parent.stdout.readline())
        deadline = time.monotonic() + 10
        while _pid_alive(child) and time.monotonic() < deadline:
            time.sleep(0.02)  # the child exits at once; give the kernel a moment to mark it a zombie
        assert not _pid_alive(child)
        assert _pid_alive(parent.pid)
    finally:
        parent.kill()
        parent.wait()


# --- safe process management (issue 20, finding 6) ---------------------------------------------------

def test_stop_leaves_alone_a_process_that_reused_the_recorded_pid(state_dir):
    """sim.json names a live pid that is not our simulator (pid reuse): stop must not signal it."""
    bystander = subprocess.Popen(["sleep", "60"])
    try:
        (state_dir / "sim.json").write_text(json.dumps({"url": "http://127.0.0.1:9", "pid": bystander.pid,
                                                        "kubeconfig": str(state_dir / "sim-kubeconfig")}))
        stopped = cli(state_dir, "stop")
        assert stopped.returncode == 0 and "not running" in stopped.stdout
        assert bystander.poll() is None  # still alive
        assert not (state_dir / "sim.json").exists()  # the stale record is gone
    finally:
        bystander.kill()
        bystander.wait()


def test_concurrent_starts_share_one_simulator_and_a_second_serve_is_refused(state_dir):
    starts = [subprocess.Popen([sys.executable, "-m", "helpers.sim", "start"], cwd=REPO_ROOT, text=True,
                               env=dict(os.environ, ENDPOINTS_STATE_DIR=str(state_dir)),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    outputs = [p.communicate(timeout=60) for p in starts]
    assert [p.returncode for p in starts] == [0, 0], outputs
    state = json.loads((state_dir / "sim.json").read_text())
    assert all(f"(pid {state['pid']})" in out for out, _ in outputs)  # both report the same simulator
    kubeconfig = (state_dir / "sim-kubeconfig").read_text()
    second = cli(state_dir, "serve")  # by hand, in the same state directory
    assert second.returncode == 1 and "already serves" in second.stderr and "Traceback" not in second.stderr
    assert (state_dir / "sim-kubeconfig").read_text() == kubeconfig
    assert json.loads((state_dir / "sim.json").read_text()) == state
    stopped = cli(state_dir, "stop")
    assert stopped.returncode == 0 and "stopped" in stopped.stdout


def test_bad_port_and_unwritable_state_dir_are_clear_errors(tmp_path):
    result = cli(tmp_path, "serve", "--port", "70000")
    assert result.returncode == 2 and "outside 0-65535" in result.stderr and "Traceback" not in result.stderr
    blocked = tmp_path / "a-file"
    blocked.write_text("")  # a state dir below a regular file cannot be created, even by root
    result = cli(blocked / "state", "start")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "cannot write the simulator's state" in result.stderr and "ENDPOINTS_STATE_DIR" in result.stderr
