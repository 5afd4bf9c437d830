"""The disruption controller (pkg/controller/disruption/disruption.go): PodDisruptionBudget status.

``pdb_status`` is the pure half of ``trySync``: the pods the budget selects, the expected count
(``getExpectedPodCount``: an integer ``minAvailable`` counts the pods themselves; ``maxUnavailable`` or
a percentage count the scale of the pods' controllers, a Deployment's or a bare ReplicaSet's
``spec.replicas``, a StatefulSet's), the healthy pods (Ready, not terminating, not evicted within the last
``DeletionTimeout``), ``disruptionsAllowed = max(0, currentHealthy - desiredHealthy)`` and the
``DisruptionAllowed`` condition (SufficientPods / InsufficientPods). A selected pod whose controller has
no scale (a Job's, a DaemonSet's) when one is needed fails the sync safe: no disruption allowed, reason
SyncFailed (``failSafe``). The eviction subresource (helpers.sim.api.eviction) decrements the budget.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

from helpers.kube import format_time, is_ready, obj_key, parse_time, set_condition
from helpers.sim.api.selectors import label_requirements_from, labels_match
from helpers.sim.controllers.controller import Controller
from helpers.sim.controllers.informer import controller_of

DELETION_TIMEOUT_S = 120.0  # DeletionTimeout: an evicted pod not deleted by then counts again


def _scaled(value, total: int) -> int:
    """intstr.GetScaledValueFromIntOrPercent, rounding up (as both callers ask)."""
    if isinstance(value, str) and value.endswith("%"):
        return math.ceil(int(value[:-1]) * total / 100)
    return int(value)


def selected(pdb: dict, pods: list[dict]) -> list[dict]:
    """The pods of the budget's namespace its selector matches (a null selector matches none)."""
    selector = (pdb.get("spec") or {}).get("selector")
    if selector is None:
        return []
    reqs = label_requirements_from(selector)
    return [p for p in pods if labels_match(reqs, p["metadata"].get("labels"))]


def expected_scale(pods: list[dict], scale_of) -> int | None:
    """Sum of the distinct controllers' scales (getExpectedScale); None when one has no scale."""
    scales = {}
    for pod in pods:
        ref = controller_of(pod)
        if ref is None or ref["uid"] in scales:
            continue  # unmanaged pods are left out (upstream warns about them)
        scale = scale_of(pod["metadata"]["namespace"], ref)
        if scale is None:
            return None
        scales[ref["uid"]] = scale
    return sum(scales.values())


def pdb_status(pdb: dict, pods: list[dict], scale_of, now: float) -> dict:
    """The budget's new status from the pods it selects; ``scale_of(namespace, ownerRef)`` -> int | None."""
    spec, old = pdb.get("spec") or {}, pdb.get("status") or {}
    generation = pdb["metadata"].get("generation", 1)
    stamp = format_time_epoch(now)
    disrupted = {}
    for pod in pods:
        when = (old.get("disruptedPods") or {}).get(pod["metadata"]["name"])
        if when and not pod["metadata"].get("deletionTimestamp") and \
                parse_time(when).timestamp() + DELETION_TIMEOUT_S > now:
            disrupted[pod["metadata"]["name"]] = when
    healthy = sum(1 for p in pods if not p["metadata"].get("deletionTimestamp")
                  and p["metadata"]["name"] not in disrupted and is_ready(p))
    expected, desired = 0, 0
    if spec.get("maxUnavailable") is not None:
        expected = expected_scale(pods, scale_of)
        if expected is not None:
            desired = max(0, expected - _scaled(spec["maxUnavailable"], expected))
    elif spec.get("minAvailable") is not None:
        if isinstance(spec["minAvailable"], int):
            desired, expected = spec["minAvailable"], len(pods)
        else:
            expected = expected_scale(pods, scale_of)
            if expected is not None:
                desired = _scaled(spec["minAvailable"], expected)
    shell = {"status": {"conditions": [dict(c) for c in old.get("conditions") or []]}}
    if expected is None:  # failSafe
        status = dict(old, disruptionsAllowed=0, observedGeneration=generation)
        set_condition(shell, {"type": "DisruptionAllowed", "status": "False", "reason": "SyncFailed",
                              "message": "found no controllers for the pods this budget selects",
                              "observedGeneration": generation}, stamp)
        status["conditions"] = shell["status"]["conditions"]
        return status
    allowed = healthy - desired if expected > 0 else 0
    allowed = max(0, allowed)
    status = {"observedGeneration": generation, "disruptionsAllowed": allowed, "currentHealthy": healthy,
              "desiredHealthy": desired, "expectedPods": expected}
    if disrupted:
        status["disruptedPods"] = disrupted
    set_condition(shell, {"type": "DisruptionAllowed", "status": "True" if allowed > 0 else "False",
                          "reason": "SufficientPods" if allowed > 0 else "InsufficientPods", "message": "",
                          "observedGeneration": generation}, stamp)
    status["conditions"] = shell["status"]["conditions"]
    return status


def format_time_epoch(now: float) -> str:
    return format_time(datetime.fromtimestamp(now, UTC))


class DisruptionController(Controller):
    """Keeps every PodDisruptionBudget's status; work items are (namespace, name) of budgets."""

    component = "disruption-controller"
    resource = "poddisruptionbudgets.policy"

    def start(self) -> None:
        self.informer.on(self.resource, lambda _t, pdb, _o: self.enqueue(obj_key(pdb)))
        self.informer.on("pods", self._pod_changed)
        for resource in ("deployments.apps", "replicasets.apps", "statefulsets.apps"):
            self.informer.on(resource, lambda _t, obj, _o: self._namespace_changed(obj["metadata"]["namespace"]))
        for pdb in self.informer.items(self.resource):
            self.enqueue(obj_key(pdb))

    def _pod_changed(self, _type, pod, _old) -> None:
        self._namespace_changed(pod["metadata"]["namespace"])

    def _namespace_changed(self, namespace: str) -> None:
        for pdb in self.informer.items(self.resource, namespace):
            self.enqueue(obj_key(pdb))

    def _scale_of(self, namespace: str, ref: dict) -> int | None:
        if ref.get("kind") == "ReplicaSet":
            rs = self.informer.get("replicasets.apps", ref["name"], namespace)
            if rs is None:
                return None
            owner = controller_of(rs)
            if owner and owner.get("kind") == "Deployment":
                deploy = self.informer.get("deployments.apps", owner["name"], namespace)
                return None if deploy is None else deploy["spec"].get("replicas", 1)
            return rs["spec"].get("replicas", 1)
        if ref.get("kind") == "StatefulSet":
            sts = self.informer.get("statefulsets.apps", ref["name"], namespace)
            return None if sts is None else sts["spec"].get("replicas", 1)
        if ref.get("kind") == "Deployment":
            deploy = self.informer.get("deployments.apps", ref["name"], namespace)
            return None if deploy is None else deploy["spec"].get("replicas", 1)
        return None

    def sync(self, key) -> None:
        pdb = self.informer.get(self.resource, key[1], key[0])
        if pdb is None:
            return
        pods = selected(pdb, self.informer.items("pods", key[0]))
        now = self.clock.time()
        status = pdb_status(pdb, pods, self._scale_of, now)
        if status != (pdb.get("status") or {}):
            current = self.store.get(self.resource, key[1], key[0])
            self.update(self.resource, dict(current, status=status), subresource="status")
        if status.get("disruptedPods"):  # recheck when the oldest eviction times out
            oldest = min(parse_time(t).timestamp() for t in status["disruptedPods"].values())
            self.enqueue(key, max(0.0, oldest + DELETION_TIMEOUT_S - now))
