"""The pod garbage collector shell (upstream pkg/controller/podgc/gc_controller.go).

Every gcCheckPeriod it lists pods and nodes, asks the pure `helpers.controlplane.podgc` which pods
to collect, and deletes them.
"""

from __future__ import annotations

from helpers.controlplane.podgc import (
    failed_with_condition,
    missing_node_names,
    orphaned_pods,
    out_of_service_terminating,
    terminated_over_threshold,
    unscheduled_terminating,
)
from helpers.kube import format_time
from helpers.sim.controllers.controller import Controller
from helpers.sim.store import ApiError

GC_CHECK_PERIOD = 20.0
QUARANTINE = 40.0

class PodGCController(Controller):
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
