"""The EndpointSliceMirroring controller shell (upstream
pkg/controller/endpointslicemirroring/endpointslicemirroring_controller.go).

It watches Endpoints, Services and EndpointSlices, queues Endpoints, and writes what the pure
`helpers.controlplane.endpointslicemirroring.reconcile_mirroring` decides.
"""

from __future__ import annotations

from helpers.controlplane.endpointslicemirroring import CONTROLLER_NAME, reconcile_mirroring, should_mirror
from helpers.kube import ENDPOINT_SLICES, LABEL_MANAGED_BY, LABEL_SERVICE_NAME, obj_key, selector_matches
from helpers.sim.controllers.controller import Controller

# kube-controller-manager's --mirroring-max-endpoints-per-subset default
MIRRORING_MAX_ENDPOINTS_PER_SUBSET = 1000


class EndpointSliceMirroringController(Controller):
    """Mirrors custom Endpoints into EndpointSlices (kube-controller-manager, since v1.19)."""

    component = "endpoint-slice-mirroring-controller"  # endpointslicemirroring_controller.go
    resources = ("endpoints", "services", ENDPOINT_SLICES)
    base_backoff, max_backoff = 1.0, 100.0  # defaultSyncBackOff, maxSyncBackOff

    def initial_keys(self):
        return sorted(
            {obj_key(e) for e in self.list("endpoints")}
        )

    def on_event(self, event_type, resource, obj, old):
        namespace = obj["metadata"].get("namespace")
        if resource == "endpoints":
            self.enqueue((namespace, obj["metadata"]["name"]), delay=self.batch_period)
        elif resource == "services":
            selectorless = obj["spec"].get("selector") is None
            if event_type == "MODIFIED":
                relevant = (old["spec"].get("selector") is None) != selectorless  # selector added or removed
            else:
                relevant = selectorless or event_type == "DELETED"
            if relevant:
                self.enqueue((namespace, obj["metadata"]["name"]))
        else:
            labels = obj["metadata"].get("labels") or {}
            if labels.get(LABEL_MANAGED_BY) == CONTROLLER_NAME and labels.get(LABEL_SERVICE_NAME):
                self.enqueue((namespace, labels[LABEL_SERVICE_NAME]), delay=max(1.0, self.batch_period))

    def _mirrored_slices(self, namespace, name):
        ours = {LABEL_SERVICE_NAME: name, LABEL_MANAGED_BY: CONTROLLER_NAME}
        return [
            s for s in self.list(ENDPOINT_SLICES, namespace) if selector_matches(ours, s["metadata"].get("labels"))
        ]

    def sync(self, key):
        namespace, name = key
        endpoints = self.get("endpoints", name, namespace)
        slices = self._mirrored_slices(namespace, name)
        mirror, _ = (
            (False, "")
            if endpoints is None
            else should_mirror(endpoints, self.get("services", name, namespace))
        )
        if not mirror:
            for s in slices:
                self.delete_ignoring_missing(ENDPOINT_SLICES, s["metadata"]["name"], namespace)
            return
        result = reconcile_mirroring(
            endpoints=endpoints,
            existing_slices=slices,
            max_endpoints_per_subset=MIRRORING_MAX_ENDPOINTS_PER_SUBSET,
        )
        for etype, reason, message in result.events:
            self.event(endpoints, etype, reason, message)
        for s in result.creates:
            self.create(ENDPOINT_SLICES, s, namespace)
        for s in result.updates:
            self.update(ENDPOINT_SLICES, s)
        for s in result.deletes:
            self.delete_ignoring_missing(ENDPOINT_SLICES, s["metadata"]["name"], namespace)
