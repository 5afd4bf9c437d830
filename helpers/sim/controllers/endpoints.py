"""The Endpoints controller shell (upstream pkg/controller/endpoint/endpoints_controller.go).

It watches Services, pods and Endpoints, queues Services, and writes what the pure
`helpers.controlplane.endpoint.plan_endpoints` decides; Events for failed writes.
"""

from __future__ import annotations

from helpers.controlplane.endpoint import plan_endpoints
from helpers.controlplane.endpointslice.controller_utils import pod_event_states, services_to_update
from helpers.controlplane.endpointslice.trigger_time_tracker import TriggerTimeTracker
from helpers.kube import ANNOTATION_LEADER, obj_key
from helpers.sim.controllers.controller import Controller
from helpers.sim.store import ApiError


class EndpointsController(Controller):
    """Keeps one Endpoints object per selector Service (kube-controller-manager's endpoint controller)."""

    component = "endpoint-controller"
    resources = ("services", "pods", "endpoints")
    # DefaultTypedControllerRateLimiter: 5 ms .. 1000 s (the base's defaults)

    def __init__(self, cluster):
        super().__init__(cluster)
        self._trigger_times = TriggerTimeTracker()
        self._entry_caches: dict[tuple, tuple[tuple, dict]] = {}  # Service key -> (its uid + rv, cache)

    def initial_keys(self):
        # Every Service, plus every Endpoints object once so that orphans get deleted
        # (upstream checkLeftoverEndpoints).
        keys = {obj_key(s) for s in self.list("services")}
        for ep in self.list("endpoints"):
            if ANNOTATION_LEADER not in (ep["metadata"].get("annotations") or {}):
                keys.add(obj_key(ep))
        return sorted(keys)

    def on_event(self, event_type, resource, obj, old):
        namespace = obj["metadata"].get("namespace")
        if resource == "services":
            self.enqueue((namespace, obj["metadata"]["name"]))
        elif resource == "endpoints":
            if event_type == "DELETED":
                self.enqueue((namespace, obj["metadata"]["name"]))
        else:
            old_pod, new_pod = pod_event_states(event_type, obj, old)
            for name in services_to_update(self.list("services", namespace), old_pod, new_pod):
                self.enqueue((namespace, name), delay=self.batch_period)

    def sync(self, key):
        namespace, name = key
        service = self.get("services", name, namespace)
        existing = self.get("endpoints", name, namespace)
        if service is None:
            self._trigger_times.forget(namespace, name)
            self._entry_caches.pop(key, None)
            leader = ANNOTATION_LEADER in ((existing or {}).get("metadata", {}).get("annotations") or {})
            if existing is not None and not leader:
                self.delete_ignoring_missing("endpoints", name, namespace)
            return
        pods = self.selected_pods(service)
        if pods is None:
            return
        trigger_time = self._trigger_times.compute(service, pods)
        plan = plan_endpoints(service, pods, existing, trigger_time, self._entry_cache(key, service))
        try:
            if plan.action == "create":
                self.create("endpoints", plan.endpoints, namespace)
            elif plan.action == "update":
                self.update("endpoints", plan.endpoints)
        except ApiError as err:
            reason = "FailedToCreateEndpoint" if plan.action == "create" else "FailedToUpdateEndpoint"
            self.event(
                service,
                "Warning",
                reason,
                f"Failed to {plan.action} endpoint {namespace}/{name}: {err.message}",
            )
            raise

    def _entry_cache(self, key, service: dict) -> dict:
        """The per-pod entry cache of the Service at ``key``, emptied when the Service changes."""
        meta = service["metadata"]
        version = (meta.get("uid"), meta.get("resourceVersion"))
        cached_version, cache = self._entry_caches.get(key, (None, {}))
        if cached_version != version:
            cache = {}
        self._entry_caches[key] = (version, cache)
        return cache
