"""Pure decisions of the node lifecycle controller and PodGC (helpers.controlplane)."""

from __future__ import annotations

from functools import partial

from builders import node as any_node
from builders import scheduled_pod as pod

from helpers.controlplane import podgc
from helpers.controlplane.nodelifecycle import (
    default_tolerations,
    eviction_time,
    last_heartbeat,
    mark_pod_not_ready,
    mark_unknown,
    wanted_taints,
)
from helpers.kube import TAINT_NOT_READY, TAINT_UNREACHABLE

T0 = "2026-01-01T00:00:00Z"
T0_EPOCH = 1767225600.0
node = partial(any_node, name="n1", heartbeat=T0)  # its kubelet last heartbeated at T0


def test_last_heartbeat_is_the_newer_of_lease_and_status():
    lease = {"spec": {"renewTime": "2026-01-01T00:00:30.000000Z"}}
    assert last_heartbeat(node(), lease) == T0_EPOCH + 30
    assert last_heartbeat(node(heartbeat="2026-01-01T00:01:00Z"), lease) == T0_EPOCH + 60
    assert last_heartbeat({"metadata": {"name": "x"}}, None) is None


def test_mark_unknown_sets_every_condition_and_keeps_heartbeat():
    updated = mark_unknown(node(), "2026-01-01T00:01:00Z")
    conditions = {c["type"]: c for c in updated["status"]["conditions"]}
    assert set(conditions) == {"Ready", "MemoryPressure", "DiskPressure", "PIDPressure"}
    ready = conditions["Ready"]
    assert (ready["status"], ready["reason"], ready["message"]) == (
        "Unknown",
        "NodeStatusUnknown",
        "Kubelet stopped posting node status.",
    )
    assert ready["lastTransitionTime"] == "2026-01-01T00:01:00Z" and ready["lastHeartbeatTime"] == T0
    assert mark_unknown(updated, "2026-01-01T00:02:00Z") is None


def test_taints_follow_the_ready_status():
    assert wanted_taints(node(), T0) == []
    unknown = wanted_taints(node(ready="Unknown"), T0)
    assert unknown == [
        {"key": TAINT_UNREACHABLE, "effect": "NoSchedule"},
        {"key": TAINT_UNREACHABLE, "effect": "NoExecute", "timeAdded": T0},
    ]
    # Unknown -> False swaps the taints; a user's taint survives; True clears ours
    false = wanted_taints(node(ready="False", taints=unknown + [{"key": "mine", "effect": "NoSchedule"}]), T0)
    assert {(t["key"], t["effect"]) for t in false} == {
        ("mine", "NoSchedule"),
        (TAINT_NOT_READY, "NoSchedule"),
        (TAINT_NOT_READY, "NoExecute"),
    }
    assert wanted_taints(node(taints=false), T0) == [{"key": "mine", "effect": "NoSchedule"}]
    assert wanted_taints(node(ready="Unknown", taints=unknown), "later") == unknown  # timeAdded kept


def test_mark_pod_not_ready_only_flips_ready_pods():
    updated = mark_pod_not_ready(pod(), "2026-01-01T00:01:00Z")
    (ready,) = updated["status"]["conditions"]
    assert ready["status"] == "False" and ready["lastTransitionTime"] == "2026-01-01T00:01:00Z"
    assert mark_pod_not_ready(pod(ready=False), T0) is None


def test_eviction_after_the_shortest_toleration():
    tainted = node(
        ready="Unknown", taints=[{"key": TAINT_UNREACHABLE, "effect": "NoExecute", "timeAdded": T0}]
    )
    defaults = default_tolerations(pod(), 300, 30)
    assert eviction_time(pod(), tainted, defaults) == T0_EPOCH + 30
    own = [{"key": TAINT_UNREACHABLE, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 5}]
    assert default_tolerations(pod(tolerations=own), 300, 30) == own + [
        {"key": TAINT_NOT_READY, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}
    ]
    assert eviction_time(pod(), tainted, own) == T0_EPOCH + 5
    forever = [{"operator": "Exists"}]
    assert eviction_time(pod(), tainted, forever) is None
    assert eviction_time(pod(), tainted, []) == T0_EPOCH  # untolerated NoExecute: at once
    assert eviction_time(pod(), node(), defaults) is None


def test_podgc_selections():
    pods = [pod("a", "gone"), pod("b", "n1"), pod("c", "", deleting=True), pod("d", "n2", deleting=True)]
    assert podgc.missing_node_names(pods, {"n1", "n2"}) == {"gone"}
    assert [p["metadata"]["name"] for p in podgc.orphaned_pods(pods, {"gone"})] == ["a"]
    assert [p["metadata"]["name"] for p in podgc.unscheduled_terminating(pods)] == ["c"]
    oos = node(
        name="n2", ready="False", taints=[{"key": "node.kubernetes.io/out-of-service", "effect": "NoExecute"}]
    )
    assert [p["metadata"]["name"] for p in podgc.out_of_service_terminating(pods, [node(), oos])] == ["d"]
    assert podgc.out_of_service_terminating(pods, [node(name="n2", taints=oos["spec"]["taints"])]) == []


def test_podgc_marks_failed_with_condition_and_trims_terminated_pods():
    cond = {
        "type": "DisruptionTarget",
        "status": "True",
        "reason": "DeletionByPodGC",
        "message": "PodGC: node no longer exists",
    }
    failed = podgc.failed_with_condition(pod(), cond, T0)
    assert failed["status"]["phase"] == "Failed"
    assert any(
        c["type"] == "DisruptionTarget" and c["reason"] == "DeletionByPodGC"
        for c in failed["status"]["conditions"]
    )
    assert podgc.failed_with_condition(pod(phase="Succeeded"), cond, T0) is None
    done = [pod(f"t{i}", phase="Failed", created=f"2026-01-01T00:00:0{i}Z") for i in range(5)]
    assert [p["metadata"]["name"] for p in podgc.terminated_over_threshold(done + [pod()], threshold=3)] == [
        "t0",
        "t1",
    ]
