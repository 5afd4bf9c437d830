"""kube-controller-manager's horizontal-pod-autoscaler controller (pkg/controller/podautoscaler/horizontal.go,
v1.37.0) on a cluster without metrics-server, as kind is: every 15 s (--horizontal-pod-autoscaler-sync-period,
the first time 15 s after it was created) each HPA reads its target's scale (AbleToScale SucceededGetScale, or FailedGetScale), then fails to read the
resource metrics API: the FailedGetResourceMetric and FailedComputeMetricsReplicas Events, ScalingActive False,
and a status with currentReplicas and one empty metric status per metric (so kubectl shows
``cpu: <unknown>/50%``). Not modelled: scaling from metrics (there are none), the min/max corrections of a
target outside [minReplicas, maxReplicas], scale to zero, and metrics other than resource ones.
"""

from __future__ import annotations

from helpers.kube import format_time
from helpers.sim.controllers.controller import Controller

SYNC_PERIOD_S = 15.0
TARGETS = {"Deployment": "deployments.apps", "ReplicaSet": "replicasets.apps", "StatefulSet": "statefulsets.apps"}
NO_METRICS_API = ("unable to fetch metrics from resource metrics API: the server could not find the requested "
                  "resource (get pods.metrics.k8s.io)")


def set_condition(conditions: list[dict], type_: str, status: str, reason: str, message: str, stamp: str) -> list:
    """setConditionInList: the transition time changes with the status only."""
    old = next((c for c in conditions if c["type"] == type_), None)
    new = {"type": type_, "status": status, "lastTransitionTime": old["lastTransitionTime"]
           if old and old["status"] == status else stamp, "reason": reason, "message": message}
    return [new if c is old else c for c in conditions] if old else [*conditions, new]


def metric_error(spec: dict) -> tuple[str, str]:
    """(the error computeStatusForResourceMetricGeneric returns for one metric, computeReplicasForMetric's wrap
    of it) without a resource metrics API."""
    if spec.get("type") != "Resource":
        err = f"the simulator models Resource metrics only, not {spec.get('type', '')}"
        return err, err
    name = (spec.get("resource") or {}).get("name", "")
    err = f"failed to get {name} utilization: unable to get metrics for resource {name}: {NO_METRICS_API}"
    return err, f"failed to get {name} resource metric value: {err}"


class HorizontalPodAutoscalerController(Controller):
    component = "horizontal-pod-autoscaler"
    resources = ("horizontalpodautoscalers.autoscaling",)

    def on_event(self, event_type, resource, obj, old) -> None:
        """enqueueHPA: every key waits the resync period (NewDefaultHPARateLimiter), a new HPA's first sync too."""
        if event_type != "DELETED":
            self.enqueue((obj["metadata"]["namespace"], obj["metadata"]["name"]), SYNC_PERIOD_S)

    def sync(self, key) -> None:
        hpa = self.live_get(self.resources[0], key[1], key[0])
        if hpa is None:
            return
        self.enqueue(key, SYNC_PERIOD_S)  # the next resync
        spec, stamp = hpa["spec"], format_time(self.clock.now())
        status = dict(hpa.get("status") or {})
        conditions = list(status.get("conditions") or [])
        ref = spec.get("scaleTargetRef") or {}
        resource = TARGETS.get(ref.get("kind", ""))
        target = self.live_get(resource, ref.get("name", ""), key[0]) if resource else None
        if target is None:
            err = (f'{resource} "{ref.get("name", "")}" not found' if resource
                   else f'no matches for kind "{ref.get("kind", "")}" in group ""')
            self.event(hpa, "Warning", "FailedGetScale", err)
            conditions = set_condition(conditions, "AbleToScale", "False", "FailedGetScale",
                                       f"the HPA controller was unable to get the target's current scale: {err}", stamp)
            self._write(hpa, {**status, "conditions": conditions})
            return
        conditions = set_condition(conditions, "AbleToScale", "True", "SucceededGetScale",
                                   "the HPA controller was able to get the target's current scale", stamp)
        current = target["spec"].get("replicas", 1)
        metrics = spec.get("metrics") or []
        if current == 0 or not metrics:  # (defaulting gives every HPA a metric)
            conditions = set_condition(conditions, "ScalingActive", "False", "ScalingDisabled",
                                       "scaling is disabled since the replica count of the target is zero", stamp)
            self._write(hpa, {**status, "conditions": conditions, "currentReplicas": 0, "desiredReplicas": 0})
            return
        errors = [metric_error(m) for m in metrics]
        for failed, _ in errors:  # getUnableComputeReplicaCountCondition, once per metric
            self.event(hpa, "Warning", "FailedGetResourceMetric", failed)
        conditions = set_condition(conditions, "ScalingActive", "False", "FailedGetResourceMetric",
                                   f"the HPA was unable to compute the replica count: {errors[0][0]}", stamp)
        self._write(hpa, {"currentReplicas": current, "desiredReplicas": status.get("desiredReplicas", 0),
                          "currentMetrics": [{"type": ""} for _ in metrics], "conditions": conditions,
                          "observedGeneration": hpa["metadata"].get("generation", 1)})
        self.event(hpa, "Warning", "FailedComputeMetricsReplicas",
                   f"invalid metrics ({len(metrics)} invalid out of {len(metrics)}), first error is: {errors[0][1]}")

    def _write(self, hpa: dict, status: dict) -> None:
        """updateStatusIfNeeded: only a status that changed is written."""
        if status != (hpa.get("status") or {}):
            self.update(self.resources[0], dict(hpa, status=status), subresource="status")
