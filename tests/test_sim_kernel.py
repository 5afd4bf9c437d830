"""The simulator's kernel data plane is contained and clean (issue 13).

It never changes the host namespace (links, addresses, routes, policy rules, iptables, nftables,
sysctls are compared before and after), and every namespace it made -- with the veths and rules in
them -- is gone after ``stop()``, after a normal exit without ``stop()``, after SIGTERM of
``python -m helpers.sim serve --dataplane kernel``, and, after a ``kill -9``, once the next simulator
starts. Where it cannot run it says why in one line and keeps the model.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import urllib.request

import pytest

from helpers.config import REPO_ROOT, sim_dataplane
from helpers.connect import banner
from helpers.sim import start_in_process
from helpers.sim.kernel import dataplane
from helpers.sim.kernel.host import changes, host_state
from helpers.sim.kernel.netns import our_namespaces, unavailable_reason
from helpers.sim.kernel.topology import PREFIX

REASON = unavailable_reason(dataplane.TOOLS)
needs_kernel = pytest.mark.skipif(bool(REASON), reason=f"no kernel data plane here: {REASON}")
START_TIMEOUT_S = 60.0


def _ours(pid: int) -> list[str]:
    return [n for n in our_namespaces(PREFIX) if n.startswith(f"{PREFIX}{pid}-")]


@needs_kernel
@pytest.mark.parametrize("config", [None, REPO_ROOT / "kind" / "kind-nftables.yaml"], ids=["iptables", "nftables"])
def test_the_host_is_unchanged_and_stop_removes_everything(config, tmp_path):
    import traffic_scenarios as scenarios

    before = host_state()
    handle = start_in_process(config, speed=1.0, kubeconfig_path=tmp_path / "kubeconfig", dataplane="kernel")
    try:
        kernel = handle.cluster.kernel
        assert kernel is not None, handle.cluster.dataplane
        world = scenarios.World(handle.cluster)
        for i in range(2):
            world.run(scenarios._pod(f"web{i}"), world.workers[i])
        world.store.create("services", scenarios.WEB_SERVICE, namespace=scenarios.NS)
        world.sync()
        assert {r["outcome"] for r in world.requests(count=20)} == {"ok"}
        made = kernel.namespaces()
        # a bridge, 3 nodes, the boot pods (2 CoreDNS, local-path) and this test's 4 pods
        assert len(made) == 1 + 3 + 3 + 4 and set(made) == set(_ours(os.getpid()))
        during = host_state()
    finally:
        handle.stop()
    assert not set(made) & set(our_namespaces(PREFIX))
    assert changes(before, during) == {}  # nothing of it ever showed in the host namespace
    assert changes(before, host_state()) == {}


def _serve(tmp_path) -> tuple[subprocess.Popen, str]:
    env = {**os.environ, "ENDPOINTS_STATE_DIR": str(tmp_path), "ENDPOINTS_SIM_DATAPLANE": "kernel"}
    proc = subprocess.Popen([sys.executable, "-m", "helpers.sim", "serve", "--dataplane", "kernel"], cwd=REPO_ROOT,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()
    try:
        while True:
            line = lines.get(timeout=START_TIMEOUT_S)
            if line.startswith("serving the simulated cluster at "):
                return proc, line.split(" at ", 1)[1].strip()
    except queue.Empty:
        proc.kill()
        raise AssertionError(f"`python -m helpers.sim serve --dataplane kernel` did not start within "
                             f"{START_TIMEOUT_S:g}s") from None


def _info(url: str) -> dict:
    with urllib.request.urlopen(f"{url}/sim/info", timeout=10) as resp:
        return json.load(resp)


@needs_kernel
def test_sigterm_of_serve_removes_everything(tmp_path):
    before = host_state()
    proc, url = _serve(tmp_path)
    try:
        info = _info(url)
        assert info["dataplane"]["mode"] == "kernel" and "kernel data plane" in info["dataplane"]["note"]
        assert len(_ours(proc.pid)) == 1 + 3 + 3
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    assert proc.returncode == 0 and _ours(proc.pid) == []
    assert changes(before, host_state()) == {}


@needs_kernel
def test_after_kill_9_the_next_start_removes_what_was_left(tmp_path):
    before = host_state()
    proc, _ = _serve(tmp_path)
    left = _ours(proc.pid)
    proc.kill()  # SIGKILL: no atexit, no stop
    proc.wait(30)
    assert left and _ours(proc.pid) == left  # the namespaces outlive the process ...
    handle = start_in_process(speed=1.0, kubeconfig_path=tmp_path / "kubeconfig", dataplane="kernel")
    try:
        assert _ours(proc.pid) == []  # ... until the next simulator with the kernel data plane starts
    finally:
        handle.stop()
    assert changes(before, host_state()) == {}


@needs_kernel
def test_a_normal_exit_without_stop_removes_everything(tmp_path):
    code = ("import os; from helpers.sim import start_in_process as s; "
            f"h = s(kubeconfig_path={str(tmp_path / 'k')!r}, dataplane='kernel'); "
            "print(os.getpid(), len(h.cluster.kernel.namespaces()), flush=True)")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stderr
    pid, made = map(int, done.stdout.split())
    assert made == 1 + 3 + 3 and _ours(pid) == []


def test_where_it_cannot_run_it_says_why_and_keeps_the_model(monkeypatch, tmp_path):
    monkeypatch.setattr(dataplane, "unavailable_reason", lambda tools: "creating network namespaces needs root")
    handle = start_in_process(kubeconfig_path=tmp_path / "kubeconfig", dataplane="kernel")
    try:
        assert handle.cluster.kernel is None
        note = _info(handle.url)["dataplane"]
        assert note == {"requested": "kernel", "mode": "model", "note": (
            "kernel data plane unavailable (creating network namespaces needs root); traffic and rules are the "
            "model's")}
        line = banner("sim", "sim-endpoints", "v1.37.0-sim", 3, note["note"])
        assert line.endswith("— kernel data plane unavailable (creating network namespaces needs root); "
                             "traffic and rules are the model's") and "\n" not in line
        assert handle.cluster.proxy_rules("endpoints-worker", "iptables").startswith("# Generated by")
    finally:
        handle.stop()


def test_the_data_plane_setting():
    assert sim_dataplane({}) == "model"
    assert sim_dataplane({"ENDPOINTS_SIM_DATAPLANE": "Kernel"}) == "kernel"
    with pytest.raises(ValueError, match="must be one of model, kernel, not 'ebpf'"):
        sim_dataplane({"ENDPOINTS_SIM_DATAPLANE": "ebpf"})


@needs_kernel
def test_chapter_07_shows_the_kernel_data_plane(tmp_path, monkeypatch):
    """Chapter 07 on a simulator with the kernel data plane: its cells (which check what they show) pass,
    and the kernel part printed what it is."""
    import chapters

    monkeypatch.setenv("ENDPOINTS_SIM_DATAPLANE", "kernel")  # the background simulator inherits it
    env = chapters.start_simulator(tmp_path)
    try:
        executed = chapters.run_chapter(chapters.NOTEBOOKS / "07-kube-proxy-and-endpointslices.ipynb",
                                              env)
    finally:
        chapters.stop_simulator(env)
    texts = ["".join(o.get("text", "") for o in cell.get("outputs", [])) for cell in executed.cells]
    assert any(t.startswith("data plane: kernel — kernel data plane: 3 node namespaces") for t in texts)
    assert any("# Generated by iptables-save v" in t for t in texts)


def test_host_changes_name_what_differs_and_leave_out_sysctls_a_module_added():
    before = {"ip route": "default via 10.0.0.1\n", "net/ipv4/ip_forward": "0\n"}
    after = {**before, "net/netfilter/nf_conntrack_max": "262144\n"}
    assert changes(before, after) == {}
    assert changes(before, {**after, "ip route": ""}) == {"ip route": ("default via 10.0.0.1\n", "")}
    assert changes(before, {"ip route": before["ip route"]}) == {"net/ipv4/ip_forward": ("0\n", None)}
