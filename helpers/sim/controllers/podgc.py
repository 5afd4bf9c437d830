"""Pod garbage collection: force-delete pods that can never finish on their own.

Follows kubernetes/kubernetes `pkg/controller/podgc/gc_controller.go` (commit 003e8629). Every
20 s (gcCheckPeriod) it
- deletes pods bound to a Node that no longer exists, once the node has been missing for the 40 s
  quarantine and a live GET confirms it (gcOrphaned): the pod is first marked phase Failed with a
  `DisruptionTarget` condition (reason `DeletionByPodGC`), then deleted with grace period 0;
- force-deletes terminating pods on NotReady nodes tainted `node.kubernetes.io/out-of-service`
  (gcTerminating, the non-graceful node shutdown path);
- force-deletes terminating pods that were never scheduled (gcUnscheduledTerminating);
- deletes the oldest terminated pods above `terminated_pod_gc_threshold` (12500) (gcTerminated).
The selections are pure functions; `PodGCController` is the shell.
"""

from __future__ import annotations

from helpers.kube import (
    TAINT_OUT_OF_SERVICE,
    condition_true,
    format_time,
    is_terminal,
    is_terminating,
    set_condition,
)
from helpers.sim.controllers.esqueue import ControllerShell
from helpers.sim.store import ApiError

GC_CHECK_PERIOD = 20.0
QUARANTINE = 40.0
TERMINATED_POD_GC_THRESHOLD = 12500


def missing_node_names(pods: list[dict], node_names: set[str]) -> set[str]:
    """Nodes that pods are bound to but that do not exist."""
    return {
        p["spec"]["nodeName"]
        for p in pods
        if p["spec"].get("nodeName") and p["spec"]["nodeName"] not in node_names
    }


def orphaned_pods(pods: list[dict], deleted_nodes: set[str]) -> list[dict]:
    """Pods bound to nodes confirmed deleted."""
    return [p for p in pods if p["spec"].get("nodeName") in deleted_nodes]


def out_of_service_terminating(pods: list[dict], nodes: list[dict]) -> list[dict]:
    """Terminating pods on NotReady nodes tainted out-of-service:NoExecute (upstream gcTerminating)."""

    def out_of_service(node):
        taints = (node.get("spec") or {}).get("taints") or []
        return not condition_true(node, "Ready") and any(
            t.get("key") == TAINT_OUT_OF_SERVICE and t.get("effect") == "NoExecute" for t in taints
        )

    names = {n["metadata"]["name"] for n in nodes if out_of_service(n)}
    return [p for p in pods if is_terminating(p) and p["spec"].get("nodeName") in names]


def unscheduled_terminating(pods: list[dict]) -> list[dict]:
    return [p for p in pods if is_terminating(p) and not p["spec"].get("nodeName")]


def terminated_over_threshold(pods: list[dict], threshold: int = TERMINATED_POD_GC_THRESHOLD) -> list[dict]:
    """The oldest terminated pods beyond the threshold (upstream gcTerminated)."""
    terminated = sorted(
        (p for p in pods if is_terminal(p) and not is_terminating(p)),
        key=lambda p: (p["metadata"].get("creationTimestamp") or "", p["metadata"]["name"]),
    )
    excess = len(terminated) - threshold
    return terminated[:excess] if threshold > 0 and excess > 0 else []


def failed_with_condition(pod: dict, condition: dict | None, stamp: str) -> dict | None:
    """The pod marked phase Failed (plus condition) as PodGC does before deleting it, or None if terminal."""
    if is_terminal(pod):
        return None
    new = {**pod, "status": dict(pod.get("status") or {})}
    new["status"]["conditions"] = [dict(c) for c in pod["status"].get("conditions") or []]
    new["status"]["phase"] = "Failed"
    if condition is not None:
        set_condition(new, condition, stamp)
    return new


class PodGCController(ControllerShell):
    """kube-controller-manager's pod garbage collector on the virtual clock."""

    component = "pod-garbage-collector"
    resources = ()

    def __init__(self, cluster):
        super().__init__(cluster)
        self._missing_since: dict[str, float] = {}

    def start(self) -> None:
        super().start()
        self.clock.call_later(GC_CHECK_PERIOD, self._tick)

    def _tick(self) -> None:
        try:
            self.enqueue("gc")
        finally:
            self.clock.call_later(GC_CHECK_PERIOD, self._tick)

    def sync(self, key) -> None:
        pods, nodes = self.list("pods"), self.list("nodes")
        stamp = format_time(self.clock.now())
        for pod in terminated_over_threshold(pods):
            self.delete_ignoring_missing(
                "pods", pod["metadata"]["name"], pod["metadata"]["namespace"], grace_period_seconds=0
            )
        self._gc_orphaned(pods, {n["metadata"]["name"] for n in nodes}, stamp)
        for pod in unscheduled_terminating(pods) + out_of_service_terminating(pods, nodes):
            self._fail_and_delete(pod, None, stamp)

    def _gc_orphaned(self, pods, node_names, stamp) -> None:
        now = self.clock.time()
        missing = missing_node_names(pods, node_names)
        self._missing_since = {n: self._missing_since.get(n, now) for n in missing}
        deleted = {
            n
            for n, since in self._missing_since.items()
            if now - since >= QUARANTINE and self.live_get("nodes", n) is None
        }
        condition = {
            "type": "DisruptionTarget",
            "status": "True",
            "reason": "DeletionByPodGC",
            "message": "PodGC: node no longer exists",
        }
        for pod in orphaned_pods(pods, deleted):
            self._fail_and_delete(pod, condition, stamp)

    def _fail_and_delete(self, pod, condition, stamp) -> None:
        meta = pod["metadata"]
        failed = failed_with_condition(pod, condition, stamp)
        if failed is not None:
            try:
                self.update("pods", failed, subresource="status")
            except ApiError as err:
                if err.code != 404:  # the pod may be gone already
                    raise
                return
        self.delete_ignoring_missing("pods", meta["name"], meta["namespace"], grace_period_seconds=0)
