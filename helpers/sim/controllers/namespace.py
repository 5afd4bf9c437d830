"""The namespace controller: empties a terminating namespace, then finalizes it.

Upstream (pkg/controller/namespace/deletion): when a Namespace gets a deletionTimestamp its phase
is Terminating; the controller deletes every namespaced object in it (pods gracefully, so the
kubelets finish them), polls until nothing is left, and then removes the `kubernetes` finalizer
through the `finalize` subresource, after which the API server removes the Namespace.
"""

from __future__ import annotations

from helpers.sim.api.errors import ApiError
from helpers.sim.api.resources import RESOURCES
from helpers.sim.controllers.controller import Controller

POLL_S = 0.5  # virtual seconds between checks while content is still being deleted
FINALIZER = "kubernetes"


class NamespaceController(Controller):
    """Deletes the content of terminating namespaces and finalizes them."""

    component = "namespace-controller"
    max_backoff, max_retries = 60.0, None  # namespace_controller.go nsControllerRateLimiter: 5 ms .. 60 s

    def start(self) -> None:
        self.informer.on("namespaces", lambda _t, ns, _o: self._changed(ns))
        for ns in self.informer.items("namespaces"):
            self._changed(ns)

    def _changed(self, ns: dict) -> None:
        if ns["metadata"].get("deletionTimestamp"):
            self.enqueue(ns["metadata"]["name"])

    def sync(self, name) -> None:
        ns = self.informer.get("namespaces", name)
        if ns is None or not ns["metadata"].get("deletionTimestamp"):
            return
        remaining = 0
        for resource in (r.key for r in RESOURCES if r.namespaced):
            items, _ = self.store.list(resource, namespace=name)
            remaining += len(items)
            for obj in items:
                if not obj["metadata"].get("deletionTimestamp"):
                    self._delete(resource, obj)
        if remaining:
            self.enqueue(name, POLL_S)
            return
        if FINALIZER in (ns.get("spec") or {}).get("finalizers") or []:
            current = self.store.get("namespaces", name)
            current["spec"]["finalizers"] = [f for f in current["spec"]["finalizers"] if f != FINALIZER]
            self.update("namespaces", current, subresource="finalize")

    def _delete(self, resource: str, obj: dict) -> None:
        try:
            self.store.delete(resource, obj["metadata"]["name"], obj["metadata"]["namespace"],
                              propagation_policy="Background")
        except ApiError as err:
            if err.code != 404:
                raise
