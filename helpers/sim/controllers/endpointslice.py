"""The EndpointSlice controller shell (upstream pkg/controller/endpointslice/endpointslice_controller.go).

It watches Services, pods, EndpointSlices and Nodes, queues Services with batching and back-off,
lists the inputs, calls the pure `helpers.controlplane.endpointslice.reconcile` and writes the
result; it records each sync's decisions for `/sim/controllers/endpointslice/decisions`.

Two switches reproduce the consistency machinery's failures (`/sim/controllers/endpointslice/config`):
`slice_informer_lag` delays the controller's own view of EndpointSlices (its informer cache, and the
events it reacts to) by that many seconds, as a slow watch does; `stale_slice_check=False` skips
syncService's `StaleSlices` check (PR #99345, v1.21), so syncs compute writes from a cache that has
not seen the controller's last writes (duplicate slices, kubernetes/kubernetes#100033).
"""

from __future__ import annotations

from collections import deque

from helpers.controlplane.endpointslice import topologycache
from helpers.controlplane.endpointslice.controller_utils import pod_event_states, services_to_update
from helpers.controlplane.endpointslice.endpointset import EndpointCache
from helpers.controlplane.endpointslice.endpointslice_tracker import EndpointSliceTracker
from helpers.controlplane.endpointslice.reconciler import (
    CONTROLLER_NAME,
    MAX_ENDPOINTS_PER_SLICE_LIMIT,
    MISSING_NODE_BEHAVIORS,
    reconcile,
    render_note,
)
from helpers.controlplane.endpointslice.trigger_time_tracker import TriggerTimeTracker
from helpers.kube import (
    ENDPOINT_SLICES,
    LABEL_MANAGED_BY,
    LABEL_SERVICE_NAME,
    is_terminating,
    obj_key,
    selector_matches,
)
from helpers.sim.controllers.controller import Controller
from helpers.sim.controllers.informer import rv_int
from helpers.sim.store import ApiError

# --- the controller shell ---------------------------------------------------------------------


MIN_SYNC_DELAY_FOR_SLICE_EVENTS = 1.0
STALE_INFORMER_CACHE = "EndpointSlice informer cache is out of date"  # endpointslicepkg.NewStaleInformerCache
MAX_SLICE_INFORMER_LAG = 60.0
DECISION_HISTORY = 50  # syncs remembered per Service
PLACEMENTS_KEPT = 100  # newly placed endpoints remembered per sync


class EndpointSliceController(Controller):
    """Keeps every selector Service's EndpointSlices in line with its pods (kube-controller-manager).

    Queue semantics follow upstream: Service events sync immediately, pod events after the batch
    period, foreign changes to our slices after max(1 s, batch period); failures (API errors, a
    missing Node) retry with exponential backoff 1 s .. 1000 s (and the 10 qps bucket), at most 15 times.
    """

    component = "endpoint-slice-controller"  # endpointslice_controller.go EventSource
    resources = ("services", "pods", ENDPOINT_SLICES, "nodes")
    base_backoff, max_backoff = 1.0, 1000.0  # defaultSyncBackOff, maxSyncBackOff

    def __init__(self, cluster):
        super().__init__(cluster)
        self.max_endpoints_per_slice = int(self.config.max_endpoints_per_slice)
        if not 1 <= self.max_endpoints_per_slice <= MAX_ENDPOINTS_PER_SLICE_LIMIT:
            # kube-controller-manager refuses to start with such a flag value
            raise ValueError(
                f"--max-endpoints-per-slice must be within 1..{MAX_ENDPOINTS_PER_SLICE_LIMIT}, "
                f"got {self.max_endpoints_per_slice}"
            )
        self.missing_node_behavior = "current"
        self._trigger_times = TriggerTimeTracker()
        self._decisions: dict[tuple[str, str], deque] = {}
        self._endpoint_caches: dict[tuple[str, str], EndpointCache] = {}
        self._slice_tracker = EndpointSliceTracker()
        self.slice_informer_lag = 0.0
        self.stale_slice_check = True
        self._slices: dict = {}  # this controller's view of EndpointSlices (the shared cache, or lagging it)

    def start(self) -> None:
        super().start()
        self._slices = {obj_key(s): s for s in self.list(ENDPOINT_SLICES)}

    # -- public ------------------------------------------------------------------------------
    def set_missing_node_behavior(self, behavior: str) -> None:
        if behavior not in MISSING_NODE_BEHAVIORS:
            raise ValueError(f"missingNodeBehavior must be one of {', '.join(MISSING_NODE_BEHAVIORS)}")
        self.missing_node_behavior = behavior

    def set_slice_informer(self, lag: float | None = None, stale_check: bool | None = None) -> None:
        """Delay this controller's EndpointSlice events by `lag` seconds; switch the StaleSlices check."""
        if lag is not None:
            if isinstance(lag, bool) or not isinstance(lag, int | float) or not 0 <= lag <= MAX_SLICE_INFORMER_LAG:
                raise ValueError(f"sliceInformerLagSeconds must be a number from 0 to {MAX_SLICE_INFORMER_LAG:g}")
            self.slice_informer_lag = float(lag)
        if stale_check is not None:
            if not isinstance(stale_check, bool):
                raise ValueError("staleSliceCheck must be true or false")
            self.stale_slice_check = stale_check

    def decisions(self, namespace: str, service: str) -> list[dict]:
        """Recorded syncs of one Service, oldest first (explanations and write counts); a deleted
        Service's history is dropped with it."""
        return list(self._decisions.get((namespace, service), ()))

    # -- events ------------------------------------------------------------------------------
    def initial_keys(self):
        return [obj_key(s) for s in self.list("services")]

    def on_event(self, event_type, resource, obj, old):
        if resource == "services":
            if event_type == "DELETED":  # a later Service of the same name starts a history of its own
                self._decisions.pop(obj_key(obj), None)
            self.enqueue(obj_key(obj))
        elif resource == "pods":
            namespace = obj["metadata"].get("namespace")
            old_pod, new_pod = pod_event_states(event_type, obj, old)
            for name in services_to_update(self.list("services", namespace), old_pod, new_pod):
                self.enqueue((namespace, name), delay=self.batch_period)
        elif resource == ENDPOINT_SLICES:
            if self.slice_informer_lag:
                self.clock.call_later(self.slice_informer_lag, self._slice_arrived, event_type, obj, old)
            else:
                self._slice_arrived(event_type, obj, old)
        elif resource == "nodes":
            # Node zones and CPU only matter to topology hints (upstream checkNodeTopologyDistribution).
            for svc in self.list("services"):
                if topologycache.hints_annotation_enabled(svc):
                    self.enqueue(obj_key(svc))

    def _slice_arrived(self, event_type, obj, old):
        """An EndpointSlice event reaches this controller's cache (at once, or `slice_informer_lag` late)."""
        key = obj_key(obj)
        held = self._slices.get(key)
        if held is not None and rv_int(held) > rv_int(obj):
            return  # a newer version arrived first
        if event_type == "DELETED":
            if held is not None and held["metadata"].get("uid") == obj["metadata"].get("uid"):
                del self._slices[key]
        else:
            self._slices[key] = obj
        self._on_slice(event_type, obj, old)

    def _on_slice(self, event_type, obj, old):
        """Upstream onEndpointSliceAdd/Update/Delete: queue the Service unless the event is our own write."""
        labels = obj["metadata"].get("labels") or {}
        old_labels = (old or {}).get("metadata", {}).get("labels") or {}
        ours = labels.get(LABEL_MANAGED_BY) == CONTROLLER_NAME
        if event_type == "DELETED":
            if ours and self._slice_tracker.has(obj) and not self._slice_tracker.handle_deletion(obj):
                self._queue_for_slice(obj, labels)
            return
        if old is not None and old_labels.get(LABEL_SERVICE_NAME) != labels.get(LABEL_SERVICE_NAME):
            self._queue_for_slice(obj, labels)
            self._queue_for_slice(old, old_labels)
            return
        managed_by_changed = old is not None and old_labels.get(LABEL_MANAGED_BY) != labels.get(LABEL_MANAGED_BY) and (
            CONTROLLER_NAME in (old_labels.get(LABEL_MANAGED_BY), labels.get(LABEL_MANAGED_BY)))
        if managed_by_changed or (ours and self._slice_tracker.should_sync(obj)):
            self._queue_for_slice(obj, labels)

    def _queue_for_slice(self, obj, labels):
        if labels.get(LABEL_SERVICE_NAME):
            delay = max(MIN_SYNC_DELAY_FOR_SLICE_EVENTS, self.batch_period)
            self.enqueue((obj["metadata"].get("namespace"), labels[LABEL_SERVICE_NAME]), delay=delay)

    # -- sync ---------------------------------------------------------------------------------
    def sync(self, key):
        namespace, name = key
        service = self.get("services", name, namespace)
        if service is None:
            self._trigger_times.forget(namespace, name)
            self._endpoint_caches.pop(key, None)
            self._slice_tracker.delete_service(namespace, name)
            return
        pods = self.selected_pods(service)
        if pods is None:
            return
        ours = {LABEL_SERVICE_NAME: name, LABEL_MANAGED_BY: CONTROLLER_NAME}
        slices = [  # dropEndpointSlicesPendingDeletion (PR #109624): a slice held by a finalizer is not ours to fix
            s
            for s in self._slices.values()
            if s["metadata"].get("namespace") == namespace
            and selector_matches(ours, s["metadata"].get("labels")) and not is_terminating(s)
        ]
        if self.stale_slice_check and self._slice_tracker.stale_slices(service, slices):
            self._record_stale(key, len(slices))
            raise RuntimeError(STALE_INFORMER_CACHE)  # retried with backoff; no Event, as upstream
        nodes = self.list("nodes")
        trigger = self._trigger_times.compute(service, pods)
        result = reconcile(
            service=service,
            pods=pods,
            nodes=nodes,
            existing_slices=slices,
            max_endpoints_per_slice=self.max_endpoints_per_slice,
            trigger_time=trigger,
            missing_node_behavior=self.missing_node_behavior,
            endpoint_cache=self._endpoint_caches.setdefault(key, EndpointCache()),
        )
        created: list[str] = []
        error = result.error
        try:
            self._write(namespace, result, created)
        except ApiError as err:  # e.g. a 409 Conflict: the whole Service is retried with backoff
            error = f"failed to write EndpointSlices for Service {namespace}/{name}: {err.message}"
        self._record(key, result, created, error)
        for etype, reason, message in result.events:
            self.event(service, etype, reason, message)
        if error:
            self.event(
                service,
                "Warning",
                "FailedToUpdateEndpointSlices",
                f"Error updating Endpoint Slices for Service {namespace}/{name}: {error}",
            )
            raise RuntimeError(error)

    def _write(self, namespace, result, created: list[str]) -> None:
        """Creates, then updates, then deletes; appends the names of created slices to `created`."""
        for s in result.creates:
            obj = self.create(ENDPOINT_SLICES, s, namespace)
            self._slice_tracker.update(obj)
            created.append(obj["metadata"]["name"])
        for s in result.updates:
            obj = self.update(ENDPOINT_SLICES, s)
            self._slice_tracker.update(obj)
        for s in result.deletes:
            self._slice_tracker.expect_deletion(s)
            self.delete_ignoring_missing(ENDPOINT_SLICES, s["metadata"]["name"], namespace)

    def _record_stale(self, key, cached_slices: int):
        self._history(key).append({
            "time": self.clock.now().isoformat(), "writes": {"create": 0, "update": 0, "delete": 0}, "added": 0,
            "removed": 0, "desiredEndpoints": None, "desiredSlices": None, "actualSlices": cached_slices,
            "error": STALE_INFORMER_CACHE, "notes": [], "placements": {},
            "explanations": [f"{STALE_INFORMER_CACHE}: no writes, retried with backoff"]})

    def _history(self, key) -> deque:
        return self._decisions.setdefault(key, deque(maxlen=DECISION_HISTORY))

    def _record(self, key, result, created, error):
        """Keep the sync's notes (and their sentences), write counts and (some) placements, with real slice names."""
        names = {
            f"{s['metadata']['generateName']}<new {i + 1}>": real
            for i, (s, real) in enumerate(zip(result.creates, created, strict=False))
        }

        def resolve(text):
            for token, real in names.items():
                text = text.replace(token, real)
            return text

        notes = [{**n, "slice": names.get(n["slice"], n["slice"])} if "slice" in n else n for n in result.notes]

        placements = dict(list(result.placements.items())[:PLACEMENTS_KEPT])
        self._history(key).append(
            {
                "time": self.clock.now().isoformat(),
                "writes": result.writes,
                "added": result.added,
                "removed": result.removed,
                "desiredEndpoints": result.desired_endpoints,
                "desiredSlices": result.desired_slices,
                "actualSlices": result.actual_slices,
                "error": error,
                "notes": notes,
                "explanations": [render_note(n) for n in notes],
                "placements": {pod: resolve(where) for pod, where in placements.items()},
            }
        )
