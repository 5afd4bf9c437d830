"""Node lifecycle: node health from leases, unreachable/not-ready taints, taint-based eviction.

Follows kubernetes/kubernetes `pkg/controller/nodelifecycle/node_lifecycle_controller.go`
(monitorNodeHealth, tryUpdateNodeHealth, processTaintBaseEviction, doNoScheduleTaintingPass),
`pkg/controller/util/node` (MarkPodsNotReady) and `pkg/controller/tainteviction` (the taint
manager). Every `node_monitor_period` the controller compares each node's last heartbeat (Lease
renewTime or Ready lastHeartbeatTime) with `node_monitor_grace_period`; a silent node gets its
conditions set to Unknown ("Kubelet stopped posting node status."), its pods' Ready condition
False, and the `node.kubernetes.io/unreachable` NoSchedule + NoExecute taints. Pods are evicted
(deleted, graceful) once their toleration of the NoExecute taint runs out. When the kubelet
reports Ready again, the taints go away.

Not modelled: per-zone eviction rate limits and the full-disruption pause (a kind cluster with
a few nodes taints at most one node per 10 s upstream, which the demos never exceed).

The decisions are the pure functions here; `helpers.sim.controllers.nodelifecycle` is the shell.
"""

from __future__ import annotations

from helpers.controlplane.podutil import tolerates
from helpers.kube import (
    TAINT_NOT_READY,
    TAINT_UNREACHABLE,
    get_condition,
    parse_time,
    set_condition,
)

UNKNOWN_REASON = "NodeStatusUnknown"
UNKNOWN_MESSAGE = "Kubelet stopped posting node status."
NODE_CONDITION_TYPES = ("Ready", "MemoryPressure", "DiskPressure", "PIDPressure")
TAINT_UNSCHEDULABLE = "node.kubernetes.io/unschedulable"  # v1.TaintNodeUnschedulable


# --- pure decisions -------------------------------------------------------------------------------
def last_heartbeat(node: dict, lease: dict | None) -> float | None:
    """Epoch seconds of the node's latest sign of life (lease renewal or status heartbeat)."""
    times = []
    if lease is not None:
        times.append(parse_time((lease.get("spec") or {}).get("renewTime")))
    ready = get_condition(node, "Ready")
    if ready is not None:
        times.append(parse_time(ready.get("lastHeartbeatTime")))
    times = [t.timestamp() for t in times if t is not None]
    return max(times) if times else None


def ready_status(node: dict) -> str:
    """ "True", "False" or "Unknown" (a node without a Ready condition counts as Unknown)."""
    cond = get_condition(node, "Ready")
    return cond.get("status", "Unknown") if cond else "Unknown"


def mark_unknown(node: dict, stamp: str) -> dict | None:
    """The node with its conditions set to Unknown (upstream tryUpdateNodeHealth), or None if already so."""
    new = {**node, "status": dict(node.get("status") or {})}
    new["status"]["conditions"] = [dict(c) for c in node.get("status", {}).get("conditions") or []]
    changed = False
    for ctype in NODE_CONDITION_TYPES:
        current = get_condition(new, ctype)
        if current is not None and current.get("status") == "Unknown":
            continue
        cond = {"type": ctype, "status": "Unknown", "reason": UNKNOWN_REASON, "message": UNKNOWN_MESSAGE}
        if current is not None and current.get("lastHeartbeatTime"):
            cond["lastHeartbeatTime"] = current["lastHeartbeatTime"]
        changed |= set_condition(new, cond, stamp)
    return new if changed else None


def wanted_taints(node: dict, stamp: str) -> list[dict]:
    """The node's taints with ours matching its Ready status and cordon (processTaintBaseEviction +
    doNoScheduleTaintingPass).

    Ready Unknown -> unreachable, False -> not-ready (NoSchedule and NoExecute), True -> neither.
    Taints already present keep their timeAdded.
    """
    status = ready_status(node)
    ours = {"Unknown": TAINT_UNREACHABLE, "False": TAINT_NOT_READY}.get(status)
    current = (node.get("spec") or {}).get("taints") or []
    keep = [
        t for t in current if t.get("key") not in (TAINT_UNREACHABLE, TAINT_NOT_READY) or t.get("key") == ours
    ]
    for effect in ("NoSchedule", "NoExecute"):
        if ours and not any(t.get("key") == ours and t.get("effect") == effect for t in keep):
            taint = {"key": ours, "effect": effect}
            if effect == "NoExecute":
                taint["timeAdded"] = stamp
            keep.append(taint)
    # doNoScheduleTaintingPass: a cordoned node (spec.unschedulable) carries the unschedulable taint, added
    # with its timeAdded as SwapNodeControllerTaint stamps it, and loses it when uncordoned
    cordoned = bool((node.get("spec") or {}).get("unschedulable"))
    has = any(t.get("key") == TAINT_UNSCHEDULABLE and t.get("effect") == "NoSchedule" for t in keep)
    if cordoned and not has:
        keep.append({"key": TAINT_UNSCHEDULABLE, "effect": "NoSchedule", "timeAdded": stamp})
    elif not cordoned and has:
        keep = [t for t in keep if not (t.get("key") == TAINT_UNSCHEDULABLE and t.get("effect") == "NoSchedule")]
    return keep


def mark_pod_not_ready(pod: dict, stamp: str) -> dict | None:
    """The pod with Ready=False (upstream MarkPodsNotReady), or None if it is not Ready=True."""
    cond = get_condition(pod, "Ready")
    if cond is None or cond.get("status") == "False":
        return None
    new = {**pod, "status": dict(pod.get("status") or {})}
    new["status"]["conditions"] = [dict(c) for c in pod["status"].get("conditions") or []]
    set_condition(
        new, {k: v for k, v in cond.items() if k not in ("lastTransitionTime",)} | {"status": "False"}, stamp
    )
    return new


def default_tolerations(pod: dict, not_ready_seconds: int, unreachable_seconds: int) -> list[dict]:
    """The pod's tolerations plus DefaultTolerationSeconds' ones when it has none for our taints."""
    tolerations = list((pod.get("spec") or {}).get("tolerations") or [])
    for key, seconds in ((TAINT_NOT_READY, not_ready_seconds), (TAINT_UNREACHABLE, unreachable_seconds)):
        if not tolerates(tolerations, {"key": key, "effect": "NoExecute"}):
            tolerations.append(
                {"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": seconds}
            )
    return tolerations


def eviction_time(pod: dict, node: dict, tolerations: list[dict]) -> float | None:
    """Epoch seconds at which taint eviction deletes the pod, or None if it never does.

    Like the taint manager: an untolerated NoExecute taint evicts at once; otherwise the shortest
    tolerationSeconds among the tolerations used counts from when the taint was added.
    """
    taints = [t for t in (node.get("spec") or {}).get("taints") or [] if t.get("effect") == "NoExecute"]
    due = None
    for taint in taints:
        used = [tol for tol in tolerations if tolerates([tol], taint)]
        added = parse_time(taint.get("timeAdded"))
        start = added.timestamp() if added else 0.0
        if not used:
            return start
        seconds = [tol["tolerationSeconds"] for tol in used if tol.get("tolerationSeconds") is not None]
        if not seconds or len(seconds) < len(used):
            continue  # tolerated forever by at least one toleration
        when = start + max(0, min(seconds))
        due = when if due is None else min(due, when)
    return due


# --- the shell -----------------------------------------------------------------------------------
