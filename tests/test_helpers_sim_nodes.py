"""Node actions, kube-proxy rules and the virtual clock against a simulator (real HTTP, real client)."""

from datetime import UTC, datetime

import pytest

import helpers as h
from helpers.connect import SIM_CONTEXT, load_backend, use
from helpers.sim import start_in_process


@pytest.fixture(scope="module")
def backend(sim):
    return use(load_backend("sim", SIM_CONTEXT, sim.kubeconfig))


def test_node_rules_come_from_the_simulated_kube_proxy(backend):
    rules = h.node_rules("endpoints-worker")
    assert "KUBE-SERVICES" in rules and rules.rstrip().endswith("COMMIT")
    assert "table ip kube-proxy" in h.node_rules("endpoints-worker", "nftables")


def test_node_stop_start_and_clock(private_sim):
    backend = load_backend("sim", SIM_CONTEXT, private_sim.kubeconfig)
    node = "endpoints-worker"

    def node_ready(nodes):
        return {n["metadata"]["name"]: h.nodes_frame([n]).iloc[0]["ready"] for n in nodes}

    h.stop_node(node, backend=backend)
    h.advance(120, backend=backend)  # past node-monitor-grace-period: the node is no longer Ready
    h.wait_for("nodes", lambda nodes: node_ready(nodes)[node] != "True", timeout=20, backend=backend)
    h.start_node(node, backend=backend)
    h.wait_for("nodes", lambda nodes: set(node_ready(nodes).values()) == {"True"}, timeout=30, backend=backend)
    with pytest.raises(h.NodeActionError):
        h.stop_node("endpoints-worker42", backend=backend)
    with pytest.raises(h.ApiError) as err:  # the simulator asks for both; its Status comes through
        h.reconciler_decisions("", "", backend=backend)
    assert err.value.code == 400


def test_node_rules_match_the_dataplane_model(private_sim):
    backend = load_backend("sim", SIM_CONTEXT, private_sim.kubeconfig)
    with h.sandbox("hx-model", backend=backend) as box:
        h.apply(h.deployment("web", replicas=3), h.service("web"), namespace=box.name, backend=backend)
        h.wait_for_slices(box.name, "web", endpoints=3, ready=3, backend=backend)
        h.advance(2, backend=backend)  # past kube-proxy's minSyncPeriod: every node has synced
        for fmt in ("iptables", "nftables"):
            diff = h.rules_vs_model("endpoints-worker", fmt, backend=backend)
            assert diff.identical, diff.summary()
        assert "web" in h.node_rules("endpoints-worker", backend=backend)


def test_wait_for_rules_fast_forwards_kube_proxy_until_the_rules_show_the_change(private_sim):
    backend = load_backend("sim", SIM_CONTEXT, private_sim.kubeconfig)
    with h.sandbox("hx-rules", backend=backend) as box:
        h.apply(h.deployment("web", replicas=2), h.service("web"), namespace=box.name, backend=backend)
        slices = h.wait_for_slices(box.name, "web", endpoints=2, ready=2, backend=backend)
        ip = slices[0]["endpoints"][0]["addresses"][0]
        rules = h.wait_for_rules("endpoints-worker", f"--to-destination {ip}:80", backend=backend)
        assert f"{box.name}/web:http" in rules
        nft = h.wait_for_rules("endpoints-worker2", f"dnat to {ip}:80", "nftables", backend=backend)
        assert f"{box.name}/web" in nft
        with pytest.raises(h.WaitTimeout) as err:
            h.wait_for_rules("endpoints-worker", "192.0.2.99", timeout=3, backend=backend)
        assert "3 s of virtual time" in str(err.value) and "192.0.2.99" in str(err.value)
        with pytest.raises(h.NodeActionError):
            h.wait_for_rules("endpoints-worker42", "KUBE", backend=backend)


def test_missing_node_behavior_patch_status_and_cluster_time(private_sim):
    backend = load_backend("sim", SIM_CONTEXT, private_sim.kubeconfig)
    assert h.set_missing_node_behavior("pre-1.25", backend=backend) == "pre-1.25"
    assert backend.request("GET", "/sim/info")["config"]["missingNodeBehavior"] == "pre-1.25"
    with pytest.raises(h.ApiError) as err:
        h.set_missing_node_behavior("sometimes", backend=backend)
    assert err.value.code == 400 and "pre-1.25" in err.value.message
    assert h.set_missing_node_behavior("current", backend=backend) == "current"

    with h.sandbox("hx-status", backend=backend) as box:
        h.apply({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "orphan", "labels": {"app": "web"}},
                 "spec": {"nodeName": "endpoints-gone", "containers": [{"name": "c", "image": "pause"}]}},
                h.deployment("web"), h.service("web"), namespace=box.name, backend=backend)
        pod = h.patch_status("pods", "orphan", box.name, {"status": {
            "phase": "Running", "podIP": "10.244.9.9", "podIPs": [{"ip": "10.244.9.9"}],
            "conditions": [{"type": "Ready", "status": "True"}]}}, backend=backend)
        assert pod["status"]["podIP"] == "10.244.9.9" and pod["spec"]["nodeName"] == "endpoints-gone"
        slices = h.wait_for_slices(box.name, "web", endpoints=1, ready=1, backend=backend)
        assert "10.244.9.9" not in str(slices)  # the current controller skips the pod of a missing Node
        with pytest.raises(h.UnsafeNamespace):
            h.patch_status("pods", "coredns", "kube-system", {"status": {"phase": "Failed"}}, backend=backend)

    before = h.cluster_time(backend=backend)
    h.advance(120, backend=backend)
    after = h.cluster_time(backend=backend)
    assert (after - before).total_seconds() >= 120
    assert (after - datetime.now(UTC)).total_seconds() >= 110  # ahead of the wall clock by the jump


def test_restart_simulator_takes_the_new_config_and_keeps_the_speed(monkeypatch, tmp_path):
    from helpers import sim
    from helpers.config import ConfigError

    monkeypatch.setenv("ENDPOINTS_STATE_DIR", str(tmp_path))
    sim.start_background(speed=3.0)
    try:
        first = h.connect("sim", quiet=True)
        assert first.request("GET", "/sim/info")["config"]["maxEndpointsPerSlice"] == 100
        with pytest.raises(ConfigError):  # a broken path fails before the running simulator is stopped
            h.restart_simulator("kind/no-such-file.yaml")
        assert sim.running() is not None
        fresh = h.restart_simulator("kind/kind-slices5.yaml")
        info = fresh.request("GET", "/sim/info")
        assert info["config"]["maxEndpointsPerSlice"] == 5 and info["speed"] == 3.0
    finally:
        sim.stop_background()


def test_waits_fast_forward_modelled_latencies_unless_told_not_to(tmp_path, monkeypatch):
    """On a real-time simulator a wait skips idle gaps (image pulls, container starts): the cluster's
    clock gets ahead of the wall clock. With ENDPOINTS_SIM_FAST_FORWARD=0 it keeps real pacing."""
    handle = start_in_process(speed=1.0, kubeconfig_path=tmp_path / "kubeconfig")
    try:
        backend = load_backend("sim", SIM_CONTEXT, handle.kubeconfig)

        def lead() -> float:
            return h.cluster_time(backend=backend).timestamp() - datetime.now(UTC).timestamp()

        def deploy_and_wait(name: str) -> float:
            before = lead()  # a fresh image per run: each pod start includes an image pull (~1 s)
            h.apply(h.deployment(name, replicas=2, image=f"registry.k8s.io/{name}:1.0"), namespace=box.name,
                    backend=backend)
            h.wait_for_ready(box.name, f"app={name}", 2, timeout=30, backend=backend)
            assert backend.request("GET", "/sim/clock")["fastForwarding"] is False  # switched off after the wait
            return lead() - before

        box = h.sandbox("ff", backend=backend)
        assert deploy_and_wait("fast") > 0.8
        monkeypatch.setenv("ENDPOINTS_SIM_FAST_FORWARD", "0")
        assert deploy_and_wait("paced") < 0.2
        box.cleanup()
    finally:
        handle.stop()


def test_trace_times_are_on_the_cluster_clock(private_sim):
    """After the clock jumps 300 s, a trace's rows say so, as the cluster's own timestamps do."""
    backend = load_backend("sim", SIM_CONTEXT, private_sim.kubeconfig)
    with h.sandbox("hx-clock", backend=backend) as box:
        with h.Trace(kinds=("services",), namespace=box.name, proxy_logs=False, backend=backend) as tr:
            h.advance(300, backend=backend)
            h.apply(h.service("late"), namespace=box.name, backend=backend)
            assert tr.wait_for_event(lambda e: e["kind"] == "Service" and e["type"] == "ADDED", timeout=10)
        frame = tr.to_frame()
        (added,) = frame[frame["kind"] == "Service"]["t"]
        assert 300 <= added < 330
        created = datetime.fromisoformat(
            h.get("services", "late", box.name, backend=backend)["metadata"]["creationTimestamp"]).timestamp()
        assert abs((tr.server_start + added) - created) < 2  # second precision of creationTimestamp
        # stop() moved every row from its receive time to its commit time, which the simulator remembers
        rows = frame[frame["rv"].notna()]
        times = private_sim.cluster.store.commit_times(rows["rv"])
        assert len(times) == len(rows)
        assert [round(times[rv] - tr.server_start, 3) for rv in rows["rv"]] == rows["t"].tolist()
