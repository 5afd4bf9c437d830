"""The base of every simulated controller: informer handlers, one rate-limited work queue, writes, Events.

Upstream controllers share a shape rather than a base class (e.g.
pkg/controller/endpointslice/endpointslice_controller.go): shared-informer event handlers that
only compute keys and add them to a `workqueue.TypedRateLimitingInterface`, a worker that pops a
key and calls `syncHandler`, and `handleErr`, which forgets the key on success and re-adds it
rate-limited on failure until `maxRetries`. This class is that shape once, for every component on
the simulator's clock. The cluster always provides the informer, the recorder and the config:
there is no fallback for partial clusters, so tests build the same parts the simulator runs.
"""

from __future__ import annotations

from helpers.kube import selector_matches
from helpers.sim.api.errors import ApiError
from helpers.sim.controllers.workqueue import (
    DEFAULT_BASE_DELAY,
    DEFAULT_MAX_DELAY,
    MAX_RETRIES,
    ControllerRateLimiter,
    WorkQueue,
)


class Controller:
    """Event wiring, cached reads, the work queue and Events of one component.

    Subclasses set `component` (the Events' source), `field_manager` (the managedFields manager of its
    writes: the user agent's program name, kube-controller-manager for every controller), `resources` (the informer caches whose
    events go to `on_event`, which may only enqueue), optionally the rate limiter's `base_backoff`
    / `max_backoff` and `max_retries`, and implement `sync(key)`, which raises to request a retry.
    Components with their own wiring override `start` instead of setting `resources`.
    """

    component = "controller"
    field_manager = "kube-controller-manager"
    resources: tuple = ()
    base_backoff, max_backoff = DEFAULT_BASE_DELAY, DEFAULT_MAX_DELAY
    max_retries: int | None = MAX_RETRIES

    def __init__(self, cluster):
        self.cluster = cluster
        self.store, self.clock, self.config = cluster.store, cluster.clock, cluster.config
        self.informer, self.recorder = cluster.informer, cluster.recorder
        limiter = ControllerRateLimiter(self.clock, self.base_backoff, self.max_backoff)
        self.queue = WorkQueue(self.clock, self.sync, limiter, max_retries=self.max_retries, name=self.component)

    # -- wiring ------------------------------------------------------------------------------
    def start(self) -> None:
        """Watch our resources and queue the initial keys."""
        for resource in self.resources:
            self.informer.on(resource, lambda t, obj, old, r=resource: self.on_event(t, r, obj, old))
        self.clock.call_soon(self._initial_sync)

    def _initial_sync(self) -> None:
        for key in self.initial_keys():
            self.enqueue(key)

    def initial_keys(self) -> list:
        return []

    def enqueue(self, key, delay: float = 0.0) -> None:
        """Queue `key` for a sync now or after `delay` virtual seconds; a queued key is not queued twice."""
        self.queue.add(key, delay)

    def on_event(self, event_type, resource, obj, old) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def sync(self, key) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    # -- reads and writes --------------------------------------------------------------------
    def list(self, resource: str, namespace: str | None = None) -> list[dict]:
        """Cached objects of a resource (read-only)."""
        return self.informer.items(resource, namespace)

    def get(self, resource: str, name: str, namespace: str | None = None) -> dict | None:
        """One cached object, or None if it does not exist."""
        return self.informer.get(resource, name, namespace)

    def selected_pods(self, service: dict) -> list[dict] | None:
        """The pods a Service selects, or None when the controllers leave it alone (no selector, or
        ExternalName), as the Endpoints and EndpointSlice controllers' syncService both check."""
        selector = service["spec"].get("selector")
        if selector is None or service["spec"].get("type") == "ExternalName":
            return None
        namespace = service["metadata"]["namespace"]
        return [p for p in self.list("pods", namespace) if selector_matches(selector, p["metadata"].get("labels"))]

    def create(self, resource: str, obj: dict, namespace: str | None = None) -> dict:
        return self.store.create(resource, obj, namespace=namespace, field_manager=self.field_manager)

    def update(self, resource: str, obj: dict, subresource: str | None = None) -> dict:
        return self.store.update(resource, obj, subresource=subresource, field_manager=self.field_manager)

    def delete_ignoring_missing(self, resource, name, namespace=None, **options) -> None:
        try:
            self.store.delete(resource, name, namespace, **options)
        except ApiError as err:
            if err.code != 404:
                raise

    def live_get(self, resource: str, name: str, namespace: str | None = None) -> dict | None:
        """Read through to the store (a live GET, bypassing the cache); None if it does not exist."""
        try:
            return self.store.get(resource, name, namespace)
        except ApiError as err:
            if err.code == 404:
                return None
            raise

    @property
    def batch_period(self) -> float:
        """kube-controller-manager's --endpoint-updates-batch-period, in seconds."""
        return float(self.config.endpoint_updates_batch_period)

    def event(self, obj: dict, type_: str, reason: str, message: str, component: str | None = None) -> None:
        """An Event from this component (or from `component`, another controller of the same program)."""
        self.recorder.event(obj, type_, reason, message, component or self.component,
                            field_manager=self.field_manager)
