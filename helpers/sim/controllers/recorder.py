"""EventRecorder: core/v1 Events from the simulated components, as client-go's recorder writes them.

Upstream (client-go tools/record) names an Event `<object name>.<unix nanos in hex>`, puts it in
the object's namespace ("default" for cluster-scoped objects such as Nodes), and its
EventCorrelator turns a repeat of the same (object, type, reason, message, source) into an update
of the first Event: `count` + 1 and a new `lastTimestamp`. `kubectl describe` finds the Events by
`involvedObject.uid`, so the reference carries it.

kube-scheduler records through the events.k8s.io/v1 API instead (client-go tools/events, v1.36.1): its
Events carry `eventTime`, `action` and `reportingInstance` `<controller>-<hostname>`, no `source`, first/last
timestamps or `count`, and a repeat grows `series` (count, lastObservedTime) instead. `new_event(...,
action=...)` builds that shape as the core/v1 API shows it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from helpers.kube import format_micro_time, format_time
from helpers.sim.api.errors import ApiError

# client-go tools/record/events_cache.go (v0.36.1): the eventLogger's LRU of correlation keys holds
# maxLruCacheEntries; a key it has evicted starts a new Event instead of counting the old one up.
MAX_LRU_CACHE_ENTRIES = 4096


def object_reference(obj: dict) -> dict:
    """The `involvedObject` reference to `obj` (kind, namespace, name, uid, apiVersion, resourceVersion)."""
    meta = obj["metadata"]
    ref = {"kind": obj.get("kind"), "name": meta["name"], "uid": meta.get("uid"),
           "apiVersion": obj.get("apiVersion"), "resourceVersion": meta.get("resourceVersion")}
    if meta.get("namespace"):
        ref["namespace"] = meta["namespace"]
    return {k: v for k, v in ref.items() if v is not None}


def new_event(obj: dict, type_: str, reason: str, message: str, component: str, now, nanos: int,
              host: str | None = None, action: str | None = None) -> dict:
    """A fresh core/v1 Event about `obj` at `now` (pure): record's shape, or events/v1's with `action`
    (then `host` is the reporting instance)."""
    ref = object_reference(obj)
    event = {"apiVersion": "v1", "kind": "Event",
             "metadata": {"name": f"{ref['name']}.{nanos:x}", "namespace": ref.get("namespace", "default")},
             "involvedObject": ref, "type": type_, "reason": reason, "message": message}
    if action:  # tools/events makeEvent
        return event | {"source": {}, "reportingComponent": component, "reportingInstance": host or "",
                        "action": action, "eventTime": format_micro_time(now), "firstTimestamp": None,
                        "lastTimestamp": None}
    stamp = format_time(now)
    return event | {"source": {"component": component} | ({"host": host} if host else {}),
                    "reportingComponent": component, "reportingInstance": host or "",
                    "firstTimestamp": stamp, "lastTimestamp": stamp, "count": 1, "eventTime": None}


class EventRecorder:
    """Writes Events through the store and aggregates repeats like upstream's EventCorrelator."""

    def __init__(self, store, clock):
        self.store, self.clock = store, clock
        self._lock = threading.Lock()
        self._seen: OrderedDict[tuple, tuple[str, str]] = OrderedDict()  # key -> (namespace, event name), LRU
        self._last_nanos = 0  # names must be unique even for two Events in the same nanosecond

    def event(self, obj: dict, type_: str, reason: str, message: str, component: str,
              host: str | None = None, field_manager: str = "kube-controller-manager",
              action: str | None = None) -> dict | None:
        """Record an Event about `obj`, written by the program `field_manager` names (events/v1's shape
        when `action` is given); returns the stored Event (None if the write failed)."""
        now = self.clock.now()
        uid = obj["metadata"].get("uid")
        key = (uid, obj["metadata"]["name"], type_, reason, message, component, host, action)
        with self._lock:
            try:
                if key in self._seen:
                    self._seen.move_to_end(key)
                    repeated = self._repeat(*self._seen[key], now, field_manager)
                    if repeated is not None:
                        return repeated
                nanos = self._last_nanos = max(int(now.timestamp() * 1e9), self._last_nanos + 1)
                created = self.store.create("events", new_event(obj, type_, reason, message, component,
                                                                now, nanos, host, action),
                                            field_manager=field_manager)
            except ApiError:
                return None  # e.g. the namespace is being deleted; Events are best effort upstream too
            self._seen[key] = (created["metadata"]["namespace"], created["metadata"]["name"])
            if len(self._seen) > MAX_LRU_CACHE_ENTRIES:
                self._seen.popitem(last=False)
            return created

    def _repeat(self, namespace: str, name: str, now, field_manager: str) -> dict | None:
        try:
            current = self.store.get("events", name, namespace)
        except ApiError:
            return None
        if current.get("action"):  # events/v1: the series counts the repeats
            series = current.get("series") or {"count": 1}
            current["series"] = {"count": series["count"] + 1, "lastObservedTime": format_micro_time(now)}
        else:
            current["count"] = current.get("count", 1) + 1
            current["lastTimestamp"] = format_time(now)
        return self.store.update("events", current, field_manager=field_manager)
