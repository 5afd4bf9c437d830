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

The decisions are pure functions below; `NodeLifecycleController` is the shell.
"""

from __future__ import annotations

from helpers.kube import (
    TAINT_NOT_READY,
    TAINT_UNREACHABLE,
    format_time,
    get_condition,
    parse_time,
    set_condition,
)
from helpers.sim.controllers.esqueue import ControllerShell
from helpers.sim.controllers.podutil import tolerates

UNKNOWN_REASON = "NodeStatusUnknown"
UNKNOWN_MESSAGE = "Kubelet stopped posting node status."
NODE_CONDITION_TYPES = ("Ready", "MemoryPressure", "DiskPressure", "PIDPressure")
LEASES = "leases.coordination.k8s.io"
LEASE_NAMESPACE = "kube-node-lease"


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
    """The node's taints with ours matching its Ready status (processTaintBaseEviction + NoSchedule pass).

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
class NodeLifecycleController(ControllerShell):
    """Watches node heartbeats; taints, marks and evicts like kube-controller-manager's node lifecycle."""

    component = "node-controller"
    resources = ("nodes", "pods")

    def __init__(self, cluster):
        super().__init__(cluster)
        self._evictions: dict[tuple, object] = {}  # (namespace, name, uid) -> Timer of its scheduled eviction

    def start(self) -> None:
        super().start()
        self.clock.call_soon(self._monitor)

    @property
    def grace(self) -> float:
        return float(self.config_value("node_monitor_grace_period", 50.0))

    def _monitor(self) -> None:
        """monitorNodeHealth: one pass over every node, then again after node_monitor_period."""
        try:
            for node in self.list("nodes"):
                self.enqueue(("node", node["metadata"]["name"]))
        finally:
            self.clock.call_later(float(self.config_value("node_monitor_period", 5.0)), self._monitor)

    def on_event(self, event_type, resource, obj, old):
        if resource == "nodes":
            if event_type != "DELETED":
                self.enqueue(("node", obj["metadata"]["name"]))
        elif event_type != "DELETED" and obj["spec"].get("nodeName"):
            self.enqueue(("pod", obj["metadata"].get("namespace"), obj["metadata"]["name"]))

    def sync(self, key):
        if key[0] == "node":
            self._sync_node(key[1])
        elif key[0] == "pod":
            self._sync_pod(key[1], key[2])
        else:
            self._evict(key[1:])

    def _sync_node(self, name: str) -> None:
        node = self.get("nodes", name)
        if node is None:
            return
        stamp = format_time(self.clock.now())
        seen = last_heartbeat(node, self.get(LEASES, name, LEASE_NAMESPACE))
        was = ready_status(node)
        if was != "Unknown" and seen is not None and self.clock.time() - seen > self.grace:
            updated = mark_unknown(node, stamp)
            if updated is not None:
                node = self.update("nodes", updated, subresource="status")
            if was == "True":
                self.event(node, "Normal", "NodeNotReady", f"Node {name} status is now: NodeNotReady")
        if ready_status(node) != "True":
            self._mark_pods_not_ready(name, stamp)
        taints = wanted_taints(node, stamp)
        if taints != ((node.get("spec") or {}).get("taints") or []):
            node = self.update("nodes", {**node, "spec": {**(node.get("spec") or {}), "taints": taints}})
        if any(t.get("effect") == "NoExecute" for t in taints):
            for pod in self._pods_on(name):
                self._schedule_eviction(pod, node)

    def _pods_on(self, node_name: str) -> list[dict]:
        return [p for p in self.list("pods") if p["spec"].get("nodeName") == node_name]

    def _mark_pods_not_ready(self, node_name: str, stamp: str) -> None:
        for pod in self._pods_on(node_name):
            updated = mark_pod_not_ready(pod, stamp)
            if updated is not None:
                self.update("pods", updated, subresource="status")
                self.event(pod, "Warning", "NodeNotReady", "Node is not ready")

    def _sync_pod(self, namespace: str, name: str) -> None:
        """processPod: a pod seen Ready on a not-ready node is marked again; evictions follow taints."""
        pod = self.get("pods", name, namespace)
        node = self.get("nodes", pod["spec"]["nodeName"]) if pod else None
        if pod is None or node is None:
            return
        if ready_status(node) != "True":
            updated = mark_pod_not_ready(pod, format_time(self.clock.now()))
            if updated is not None:
                self.update("pods", updated, subresource="status")
        self._schedule_eviction(pod, node)

    def _schedule_eviction(self, pod: dict, node: dict) -> None:
        if pod["metadata"].get("deletionTimestamp"):
            return
        due = eviction_time(pod, node, self._tolerations(pod))
        key = (pod["metadata"].get("namespace"), pod["metadata"]["name"], pod["metadata"].get("uid"))
        timer = self._evictions.pop(key, None)
        if timer is not None:
            timer.cancel()
        if due is not None:
            self._evictions[key] = self.clock.call_later(
                max(0.0, due - self.clock.time()), self.enqueue, ("evict", *key)
            )

    def _tolerations(self, pod: dict) -> list[dict]:
        return default_tolerations(
            pod,
            self.config_value("default_not_ready_toleration_seconds", 300),
            self.config_value("default_unreachable_toleration_seconds", 300),
        )

    def _evict(self, key) -> None:
        """Delete the pod if it is still the same pod on a node whose taints still say so."""
        self._evictions.pop(key, None)
        namespace, name, uid = key
        pod = self.get("pods", name, namespace)
        if pod is None or pod["metadata"].get("uid") != uid or pod["metadata"].get("deletionTimestamp"):
            return
        node = self.get("nodes", pod["spec"]["nodeName"])
        due = eviction_time(pod, node, self._tolerations(pod)) if node else None
        if due is None or due > self.clock.time() + 1e-6:
            return
        stamp = format_time(self.clock.now())
        marked = {**pod, "status": dict(pod.get("status") or {})}
        marked["status"]["conditions"] = [dict(c) for c in pod["status"].get("conditions") or []]
        set_condition(
            marked,
            {
                "type": "DisruptionTarget",
                "status": "True",
                "reason": "DeletionByTaintManager",
                "message": "Taint manager: deleting due to NoExecute taint",
            },
            stamp,
        )
        self.update("pods", marked, subresource="status")
        self.event(pod, "Normal", "TaintManagerEviction", f"Marking for deletion Pod {namespace}/{name}")
        self.delete_ignoring_missing("pods", name, namespace)
