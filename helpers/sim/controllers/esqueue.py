"""Work queue and controller shell shared by the endpoint and node-lifecycle controllers.

Upstream controllers process keys from a client-go rate-limited work queue: a key that is already
queued (or waiting for its delay) is not queued twice, so every event of one batch period
collapses into one sync; a failed sync is retried with per-key exponential backoff
(`NewItemExponentialFailureRateLimiter(1s, max)`) at most `maxRetries` (15) times, then dropped
until the next event. This module implements those semantics on the simulator's virtual clock
(single reactor thread, so no locks). Reads go through the cluster's shared informer cache when
it covers a resource, else through the store.
"""

from __future__ import annotations

import logging

from helpers.kube import selector_matches
from helpers.sim.store import ApiError

log = logging.getLogger(__name__)

MAX_RETRIES = 15
FIELD_MANAGER = "kube-controller-manager"  # the managedFields manager of every controller write


class WorkQueue:
    """Deduplicating delayed queue with exponential per-key backoff, driven by a Clock."""

    def __init__(self, clock, process, *, base_backoff=1.0, max_backoff=1000.0, max_retries=MAX_RETRIES):
        self.clock, self._process = clock, process
        self.base_backoff, self.max_backoff, self.max_retries = base_backoff, max_backoff, max_retries
        self._queued: set = set()
        self._waiting: dict = {}  # key -> Timer of a delayed add (the earliest one wins)
        self.failures: dict = {}

    def add(self, key, delay: float = 0.0) -> None:
        """Queue `key` now, or after `delay` virtual seconds (AddAfter); duplicates collapse."""
        if delay > 0:
            due = self.clock.time() + delay
            timer = self._waiting.get(key)
            if timer is not None and not timer.cancelled and timer.due <= due:
                return
            if timer is not None:
                timer.cancel()
            self._waiting[key] = self.clock.call_later(delay, self._fire, key)
            return
        if key in self._queued:
            return
        self._queued.add(key)
        self.clock.call_soon(self._run, key)

    def backoff(self, key) -> float:
        """Delay before the next retry of `key` (1 s, 2 s, 4 s ... capped)."""
        return min(self.base_backoff * 2 ** max(self.failures.get(key, 1) - 1, 0), self.max_backoff)

    def _fire(self, key) -> None:
        self._waiting.pop(key, None)
        self.add(key)

    def _run(self, key) -> None:
        self._queued.discard(key)
        try:
            self._process(key)
        except Exception as err:  # noqa: BLE001 - every failure is retried, like upstream handleErr
            self.failures[key] = self.failures.get(key, 0) + 1
            if self.failures[key] > self.max_retries:
                log.warning("dropping %s out of the queue after %d retries: %s", key, self.max_retries, err)
                self.failures.pop(key, None)
                return
            log.info("sync %s failed (%s), retrying in %.0fs", key, err, self.backoff(key))
            self.add(key, self.backoff(key))
        else:
            self.failures.pop(key, None)


class ControllerShell:
    """Base of the simulated controllers: event wiring, cached reads, queue, Events.

    Subclasses set `component`, `resources` (what they watch) and implement `on_event` (which
    may only enqueue) and `sync(key)` (which raises to request a retry).
    """

    component = "controller"
    resources: tuple = ()
    max_backoff = 1000.0

    def __init__(self, cluster):
        self.cluster = cluster
        self.store, self.clock = cluster.store, cluster.clock
        self.informer = getattr(cluster, "informer", None)
        self.queue = WorkQueue(self.clock, self.sync, max_backoff=self.max_backoff)

    # -- wiring ------------------------------------------------------------------------------
    def start(self) -> None:
        """Watch our resources and queue the initial keys."""
        cached = [r for r in self.resources if self._cached(r)]
        for resource in cached:
            self.informer.on(resource, lambda t, obj, old, r=resource: self.on_event(t, r, obj, old))
        uncached = [r for r in self.resources if r not in cached]
        if uncached:
            self.store.subscribe(self._on_commit, resources=uncached)
        self.clock.call_soon(self._initial_sync)

    def _cached(self, resource: str) -> bool:
        return self.informer is not None and resource in getattr(self.informer, "cache", {})

    def _on_commit(self, event_type, resource, obj, old) -> None:
        # Store subscribers run on the writer's thread: only schedule work here.
        if resource in self.resources and not self._cached(resource):
            self.clock.call_soon(self.on_event, event_type, resource, obj, old)

    def _initial_sync(self) -> None:
        for key in self.initial_keys():
            self.enqueue(key)

    def initial_keys(self) -> list:
        return []

    def enqueue(self, key, delay: float = 0.0) -> None:
        self.queue.add(key, delay)

    def on_event(self, event_type, resource, obj, old) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def sync(self, key) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    # -- reads and writes --------------------------------------------------------------------
    def list(self, resource: str, namespace: str | None = None) -> list[dict]:
        """Objects of a resource (read-only when they come from the informer cache)."""
        if self._cached(resource):
            return self.informer.items(resource, namespace)
        return self.store.list(resource, namespace=namespace)[0]

    def get(self, resource: str, name: str, namespace: str | None = None) -> dict | None:
        """One object, or None if it does not exist."""
        if self._cached(resource):
            return self.informer.get(resource, name, namespace)
        return self.live_get(resource, name, namespace)

    def selected_pods(self, service: dict) -> list[dict] | None:
        """The pods a Service selects, or None when the controllers leave it alone (no selector, or
        ExternalName), as the Endpoints and EndpointSlice controllers' syncService both check."""
        selector = service["spec"].get("selector")
        if selector is None or service["spec"].get("type") == "ExternalName":
            return None
        namespace = service["metadata"]["namespace"]
        return [p for p in self.list("pods", namespace) if selector_matches(selector, p["metadata"].get("labels"))]

    def create(self, resource: str, obj: dict, namespace: str | None = None) -> dict:
        return self.store.create(resource, obj, namespace=namespace, field_manager=FIELD_MANAGER)

    def update(self, resource: str, obj: dict, subresource: str | None = None) -> dict:
        return self.store.update(resource, obj, subresource=subresource, field_manager=FIELD_MANAGER)

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

    def config_value(self, name: str, default):
        value = getattr(getattr(self.cluster, "config", None), name, None)
        return default if value is None else value

    @property
    def batch_period(self) -> float:
        return float(self.config_value("endpoint_updates_batch_period", 0.0) or 0.0)

    def event(self, obj: dict, type_: str, reason: str, message: str) -> None:
        recorder = getattr(self.cluster, "recorder", None)
        if recorder is not None:
            recorder.event(obj, type_, reason, message, self.component)
