"""The `endpoints.kubernetes.io/last-change-trigger-time` of each Service's next write.

Follows kubernetes/kubernetes v1.36 `staging/src/k8s.io/endpointslice/util/trigger_time_tracker.go`,
shared by the EndpointSlice and Endpoints controllers.
"""

from __future__ import annotations

from datetime import datetime

from helpers.kube import get_condition, parse_time


class TriggerTimeTracker:
    """Computes `last-change-trigger-time` per Service (upstream TriggerTimeTracker).

    It remembers, per Service, the pods' Ready-condition transition times and the Service
    creation time seen at the previous sync; the trigger time is the earliest of those that
    changed since then (the Service's creationTimestamp on the first sync). A None result means
    "nothing changed": the annotation is then removed from written objects.
    """

    def __init__(self):
        self._states: dict[tuple[str, str], tuple[dict, datetime | None]] = {}  # pods' times, Service time

    def compute(self, service: dict, pods: list[dict]) -> datetime | None:
        key = (service["metadata"].get("namespace"), service["metadata"]["name"])
        known = key in self._states
        last_pods, last_service = self._states.get(key, ({}, None))
        pod_times = {}  # pod name -> (timestamp text, parsed time); text is only parsed when it changed
        earliest = None
        for pod in pods:
            cond = get_condition(pod, "Ready")
            text = cond.get("lastTransitionTime") if cond else None
            if not text:
                continue
            name = pod["metadata"]["name"]
            previous = last_pods.get(name)
            if previous is not None and previous[0] == text:
                pod_times[name] = previous
                continue
            when = parse_time(text)
            pod_times[name] = (text, when)
            if previous is None or when > previous[1]:
                earliest = when if earliest is None else min(earliest, when)
        created = parse_time(service["metadata"].get("creationTimestamp"))
        if created is not None and (last_service is None or created > last_service):
            earliest = created if earliest is None else min(earliest, created)
        self._states[key] = (pod_times, created)
        return created if not known else earliest

    def forget(self, namespace: str, name: str) -> None:
        self._states.pop((namespace, name), None)
