"""End-to-end: stopped and deleted nodes in a private simulator, driven via /sim/, observed with kubectl.

Timings come from kind-cluster.yaml (node-monitor-grace-period, default toleration seconds) and run
on the virtual clock, which the tests fast-forward with POST /sim/clock/advance.
"""

from __future__ import annotations

import json
import urllib.request

from builders import applied_service as service
from conftest import apply, deployment, endpoints_of, kubectl, store_slices, wait_until

from helpers.kube import get_condition, is_ready


def sim_post(handle, path, body=None):
    request = urllib.request.Request(
        f"{handle.url}{path}",
        data=json.dumps(body or {}).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"{}")


def advance(handle, seconds):
    sim_post(handle, "/sim/clock/advance", {"seconds": seconds})


def make_namespace(handle, name):
    kubectl(
        handle,
        "apply",
        "-f",
        "-",
        input=json.dumps({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}),
    )
    return name


def node_json(handle, name):
    return json.loads(kubectl(handle, "get", "node", name, "-o", "json").stdout)


def ready_condition(node):
    return get_condition(node, "Ready")


def by_node(handle, ns, svc):
    eps = {}
    for ep in endpoints_of(store_slices(handle, ns, svc)):
        eps.setdefault(ep.get("nodeName"), []).append(ep["conditions"])
    return eps


def started(handle, ns, name, replicas):
    apply(handle, ns, deployment(name, replicas), service(name, {"app": name}))
    wait_until(
        handle,
        lambda: sum(c["ready"] for cs in by_node(handle, ns, name).values() for c in cs) == replicas,
        timeout=30,
        what=f"{replicas} ready endpoints",
    )
    return max(by_node(handle, ns, name).items(), key=lambda kv: len(kv[1]))[0]  # the busiest node


def test_stopped_node_unknown_then_evicted_then_recovers(private_sim):
    handle, config = private_sim, private_sim.cluster.config
    ns = make_namespace(handle, "nodes")
    node = started(handle, ns, "web", 4)

    sim_post(handle, f"/sim/nodes/{node}/stop")
    advance(handle, config.node_monitor_grace_period + 2 * config.node_monitor_period)
    wait_until(
        handle, lambda: ready_condition(node_json(handle, node))["status"] == "Unknown", what="node Unknown"
    )
    status = node_json(handle, node)
    assert ready_condition(status)["reason"] == "NodeStatusUnknown"
    assert ready_condition(status)["message"] == "Kubelet stopped posting node status."
    assert {(t["key"], t["effect"]) for t in status["spec"]["taints"]} == {
        ("node.kubernetes.io/unreachable", "NoSchedule"),
        ("node.kubernetes.io/unreachable", "NoExecute"),
    }
    wait_until(
        handle,
        lambda: all(
            c == {"ready": False, "serving": False, "terminating": False}
            for c in by_node(handle, ns, "web")[node]
        ),
        what="endpoints not ready",
    )
    table = kubectl(handle, "get", "nodes").stdout
    assert any(line.split()[:2] == [node, "NotReady"] for line in table.splitlines())

    advance(handle, config.default_unreachable_toleration_seconds + config.node_monitor_period)
    wait_until(
        handle, lambda: all(c["terminating"] for c in by_node(handle, ns, "web")[node]), what="evicted"
    )
    events = json.loads(kubectl(handle, "get", "events", "-n", ns, "-o", "json").stdout)["items"]
    assert {"TaintManagerEviction", "NodeNotReady"} <= {e["reason"] for e in events}
    wait_until(
        handle,
        lambda: sum(c["ready"] for n, cs in by_node(handle, ns, "web").items() if n != node for c in cs) == 4,
        timeout=30,
        what="replacements ready elsewhere",
    )

    sim_post(handle, f"/sim/nodes/{node}/start")
    wait_until(
        handle, lambda: ready_condition(node_json(handle, node))["status"] == "True", what="node Ready again"
    )
    advance(handle, config.node_monitor_period)
    wait_until(handle, lambda: not node_json(handle, node)["spec"].get("taints"), what="taints removed")
    wait_until(
        handle, lambda: node not in by_node(handle, ns, "web"), timeout=30, what="evicted pods finished"
    )


def test_deleted_node_orphans_are_force_deleted_after_quarantine(private_sim):
    handle = private_sim
    ns = make_namespace(handle, "orphans")
    node = started(handle, ns, "web", 4)
    orphans = [p for p in handle.cluster.store.list("pods", ns)[0] if p["spec"]["nodeName"] == node]
    sim_post(handle, f"/sim/nodes/{node}/stop")
    kubectl(handle, "delete", "node", node)
    advance(handle, 30)  # inside the 40 s quarantine: the pods still exist
    names = {p["metadata"]["name"] for p in handle.cluster.store.list("pods", ns)[0]}
    assert {p["metadata"]["name"] for p in orphans} <= names
    advance(handle, 40)
    wait_until(
        handle,
        lambda: (
            not {p["metadata"]["name"] for p in orphans}
            & {p["metadata"]["name"] for p in handle.cluster.store.list("pods", ns)[0]}
        ),
        what="orphans deleted",
    )
    wait_until(handle, lambda: node not in by_node(handle, ns, "web"), what="orphans left the slices")


def ready_pods(handle, ns):
    return {
        p["metadata"]["name"]: p["spec"]["nodeName"]
        for p in handle.cluster.store.list("pods", ns)[0]
        if is_ready(p)
    }


def test_missing_node_pre_1_25_freezes_slices_current_skips_the_pod(private_sim):
    """kubernetes/kubernetes#107927 and its v1.25 fix, side by side on one cluster."""
    handle = private_sim
    ns = make_namespace(handle, "issue107927")
    node = started(handle, ns, "web", 4)
    before = ready_pods(handle, ns)
    sim_post(handle, "/sim/controllers/endpointslice/config", {"missingNodeBehavior": "pre-1.25"})
    sim_post(handle, f"/sim/nodes/{node}/stop")
    kubectl(handle, "delete", "node", node)
    kubectl(handle, "scale", "deployment/web", "-n", ns, "--replicas=5")
    (new_pod,) = wait_until(
        handle, lambda: set(ready_pods(handle, ns)) - set(before), timeout=30, what="new pod ready"
    )
    advance(handle, 3)
    frozen = {ep["targetRef"]["name"] for ep in endpoints_of(store_slices(handle, ns, "web"))}
    assert frozen == set(before)  # the new pod is not published, the orphans stay
    events = json.loads(kubectl(handle, "get", "events", "-n", ns, "-o", "json").stdout)["items"]
    failed = [e["message"] for e in events if e["reason"] == "FailedToUpdateEndpointSlices"]
    assert failed and f'node "{node}" not found' in failed[0]
    decisions = handle.cluster.endpointslice_decisions(ns, "web")
    assert decisions[-1]["error"] == f'node "{node}" not found' and decisions[-1]["writes"]["update"] == 0

    sim_post(handle, "/sim/controllers/endpointslice/config", {"missingNodeBehavior": "current"})
    advance(handle, 8)  # the next backoff retry runs with the fixed behaviour
    expected = {name for name, on in before.items() if on != node} | {new_pod}
    wait_until(
        handle,
        lambda: {ep["targetRef"]["name"] for ep in endpoints_of(store_slices(handle, ns, "web"))} == expected,
        what="pods on the missing node skipped, the new pod published",
    )
    assert "Not Found" in handle.cluster.endpointslice_decisions(ns, "web")[-1]["error"]


def test_node_back_before_eviction_makes_its_endpoints_ready_again(private_sim):
    handle, config = private_sim, private_sim.cluster.config
    ns = make_namespace(handle, "blip")
    node = started(handle, ns, "web", 4)
    names = {
        ep["targetRef"]["name"]
        for ep in endpoints_of(store_slices(handle, ns, "web"))
        if ep["nodeName"] == node
    }
    sim_post(handle, f"/sim/nodes/{node}/stop")
    advance(handle, config.node_monitor_grace_period + 2 * config.node_monitor_period)
    wait_until(
        handle, lambda: not any(c["ready"] for c in by_node(handle, ns, "web")[node]), what="not ready"
    )
    sim_post(handle, f"/sim/nodes/{node}/start")
    wait_until(
        handle,
        lambda: all(
            c == {"ready": True, "serving": True, "terminating": False}
            for c in by_node(handle, ns, "web")[node]
        ),
        what="ready again",
    )
    still = {
        ep["targetRef"]["name"]
        for ep in endpoints_of(store_slices(handle, ns, "web"))
        if ep["nodeName"] == node
    }
    assert still == names  # the same pods: nothing was evicted
