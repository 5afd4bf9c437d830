"""The node lifecycle controller shell (upstream pkg/controller/nodelifecycle/node_lifecycle_controller.go).

It checks every node's heartbeat each `node_monitor_period`, writes the Unknown conditions, the
taints and the pods' Ready=False that the pure `helpers.controlplane.nodelifecycle` decides, and
evicts pods whose NoExecute toleration ran out.
"""

from __future__ import annotations

from helpers.controlplane.nodelifecycle import (
    default_tolerations,
    eviction_time,
    last_heartbeat,
    mark_pod_not_ready,
    mark_unknown,
    ready_status,
    wanted_taints,
)
from helpers.kube import format_time, set_condition
from helpers.sim.controllers.controller import Controller

LEASES = "leases.coordination.k8s.io"
LEASE_NAMESPACE = "kube-node-lease"

class NodeLifecycleController(Controller):
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
        return float(self.config.node_monitor_grace_period)

    def _monitor(self) -> None:
        """monitorNodeHealth: one pass over every node, then again after node_monitor_period."""
        try:
            for node in self.list("nodes"):
                self.enqueue(("node", node["metadata"]["name"]))
        finally:
            self.clock.call_later(float(self.config.node_monitor_period), self._monitor)

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
            self.config.default_not_ready_toleration_seconds,
            self.config.default_unreachable_toleration_seconds,
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
        self.event(pod, "Normal", "TaintManagerEviction", f"Marking for deletion Pod {namespace}/{name}",
                   component="taint-eviction-controller")  # pkg/controller/tainteviction: its own recorder
        self.delete_ignoring_missing("pods", name, namespace)
