"""cordon, drain and PodDisruptionBudgets end to end: the real kubectl against a private simulated cluster."""

import json

from conftest import deployment, kubectl, pods_of, ready, wait_until

from helpers.controlplane.nodelifecycle import TAINT_UNSCHEDULABLE
from helpers.sim.controllers.disruption import pdb_status

WORKER = "endpoints-worker"


def ready_set(handle, app, count):
    pods = [p for p in pods_of(handle, "default", app) if not p["metadata"].get("deletionTimestamp")]
    return pods if len(pods) == count and all(ready(p) for p in pods) else None


def taints(handle, node):
    return handle.cluster.store.get("nodes", node)["spec"].get("taints") or []


def test_cordon_taints_the_node_and_the_scheduler_keeps_new_pods_off_it(private_sim):
    h = private_sim
    assert kubectl(h, "cordon", WORKER).stdout.strip() == f"node/{WORKER} cordoned"
    taint = wait_until(h, lambda: next((t for t in taints(h, WORKER) if t["key"] == TAINT_UNSCHEDULABLE), None),
                       what="the unschedulable taint")
    assert taint["effect"] == "NoSchedule" and taint["timeAdded"]
    assert "SchedulingDisabled" in kubectl(h, "get", "node", WORKER).stdout
    kubectl(h, "apply", "-f", "-", input=json.dumps(deployment("after", 3)))
    pods = wait_until(h, lambda: ready_set(h, "after", 3), what="3 ready pods")
    assert {p["spec"]["nodeName"] for p in pods} == {"endpoints-worker2"}
    kubectl(h, "uncordon", WORKER)
    wait_until(h, lambda: not any(t["key"] == TAINT_UNSCHEDULABLE for t in taints(h, WORKER)), what="no taint")


def test_drain_evicts_within_the_budget_and_waits_for_replacements(private_sim):
    h = private_sim
    kubectl(h, "apply", "-f", "-", input=json.dumps(deployment("web", 4)))
    wait_until(h, lambda: ready_set(h, "web", 4), what="4 ready pods")
    kubectl(h, "create", "pdb", "web", "--selector=app=web", "--min-available=3")

    def allowed():
        status = json.loads(kubectl(h, "get", "pdb", "web", "-o", "json").stdout).get("status") or {}
        return status if status.get("observedGeneration") == 1 else None

    status = wait_until(h, allowed, what="the budget's status")
    assert (status["currentHealthy"], status["desiredHealthy"], status["expectedPods"],
            status["disruptionsAllowed"]) == (4, 3, 4, 1)
    assert kubectl(h, "get", "pdb", "web").stdout.splitlines()[1].split()[:4] == ["web", "3", "N/A", "1"]
    on_worker = {p["metadata"]["name"] for p in pods_of(h, "default", "web") if p["spec"]["nodeName"] == WORKER}
    assert len(on_worker) == 2
    # kubectl evicts both pods at once; whichever order the evictions and the replacement's readiness come
    # in, the budget must hold: never fewer than 3 ready, undeleted web pods.
    healthy = {p["metadata"]["name"] for p in ready_set(h, "web", 4)}
    fewest = [len(healthy)]

    def watch(_event_type, _resource, pod, _old):
        if (pod["metadata"].get("labels") or {}).get("app") != "web":
            return
        name = pod["metadata"]["name"]
        if ready(pod) and not pod["metadata"].get("deletionTimestamp") and _event_type != "DELETED":
            healthy.add(name)
        else:
            healthy.discard(name)
        fewest[0] = min(fewest[0], len(healthy))

    unsubscribe = h.cluster.store.subscribe(watch, resources=("pods",), wants_old=False)
    try:
        result = kubectl(h, "drain", WORKER, "--ignore-daemonsets", "--delete-emptydir-data", "--timeout=90s",
                         timeout=120)
    finally:
        unsubscribe()
    assert result.stdout.strip().endswith(f"node/{WORKER} drained")
    for name in on_worker:
        assert f"pod/{name} evicted" in result.stdout
    assert fewest[0] >= 3, f"the budget (minAvailable 3) was broken: {fewest[0]} healthy pods at one point"
    left = [p for p in pods_of(h, "default", "web") if not p["metadata"].get("deletionTimestamp")]
    assert all(p["spec"]["nodeName"] != WORKER for p in left)


def test_pdb_status_counts_controller_scale_for_max_unavailable():
    def pod(name, ready_):
        return {"metadata": {"name": name, "namespace": "d", "labels": {"app": "w"},
                             "ownerReferences": [{"kind": "ReplicaSet", "name": "rs", "uid": "u", "controller": True}]},
                "status": {"conditions": [{"type": "Ready", "status": "True" if ready_ else "False"}]}}

    pdb = {"metadata": {"name": "p", "generation": 1},
           "spec": {"maxUnavailable": "50%", "selector": {"matchLabels": {"app": "w"}}}}
    status = pdb_status(pdb, [pod("a", True), pod("b", True), pod("c", False)], lambda ns, ref: 4, 0.0)
    assert (status["expectedPods"], status["desiredHealthy"], status["currentHealthy"],
            status["disruptionsAllowed"]) == (4, 2, 2, 0)
    assert status["conditions"][0]["reason"] == "InsufficientPods"
    failed = pdb_status(pdb, [pod("a", True)], lambda ns, ref: None, 0.0)
    assert failed["disruptionsAllowed"] == 0 and failed["conditions"][0]["reason"] == "SyncFailed"
