"""kube-proxy's change trackers: what changed since the last sync, recorded by the event handlers.

Upstream (pkg/proxy/servicechangetracker.go, pkg/proxy/endpointschangetracker.go, v1.36) the
informer handlers only record: `ServiceChangeTracker.Update(previous, current)` keeps, per Service,
its service ports before the first change since the last sync and after the latest one (a change
that is undone drops out), and `EndpointsChangeTracker.EndpointSliceUpdate(slice, remove)` marks
the slice's Service pending in the `EndpointSliceCache` and collects the slice's
`endpoints.kubernetes.io/last-change-trigger-time`. The sync checks the changes out
(`ServicePortMap.Update`, `EndpointsMap.Update`) and builds its rules from the result.

The simulated proxier builds its rules from API dicts (`build_proxy_state`), so the service map
here keeps the Service objects whose ports the tracker compared.
"""

from __future__ import annotations

from helpers.dataplane.proxy import EndpointSliceCache, ObjectError, service_ports, skip_service, slice_owner
from helpers.kube import ANNOTATION_TRIGGER_TIME, epoch, obj_key

_MALFORMED = object()  # the ports of a Service the proxier cannot read: never equal to anything


def _ports(service: dict | None):
    """`serviceToServiceMap`: the service ports kube-proxy derives (None if absent or skipped)."""
    if service is None or skip_service(service):
        return None
    try:
        return service_ports(service)
    except ObjectError:
        return _MALFORMED  # it must reach the sync, which fails and says why


class ServiceChangeTracker:
    """Pending Service changes: key -> [ports before the first change, the latest Service (or None)]."""

    def __init__(self):
        self._items: dict[tuple[str, str], list] = {}

    def update(self, previous: dict | None, current: dict | None) -> bool:
        """Record one informer event (`current` None: deleted); True while any change is pending."""
        service = current if current is not None else previous
        if service is None:
            return False
        key = obj_key(service)
        change = self._items.setdefault(key, [_ports(previous), None])
        change[1] = current if current is not None and not skip_service(current) else None
        now = _ports(change[1])
        if now is not _MALFORMED and change[0] == now:
            del self._items[key]
        return bool(self._items)

    def checkout(self) -> dict[tuple[str, str], dict | None]:
        """The pending changes (key -> Service, or None once it is gone), emptying the tracker."""
        items, self._items = self._items, {}
        return {key: change[1] for key, change in items.items()}


class ServiceMap:
    """The proxier's `svcPortMap`: the Services it programs, updated from a `ServiceChangeTracker`."""

    def __init__(self):
        self._services: dict[tuple[str, str], dict] = {}

    def update(self, tracker: ServiceChangeTracker) -> set[tuple[str, str]]:
        """`ServicePortMap.Update`: apply the tracker's changes; returns the updated Services."""
        changes = tracker.checkout()
        for key, service in changes.items():
            if service is None:
                self._services.pop(key, None)
            else:
                self._services[key] = service
        return set(changes)

    def services(self) -> list[dict]:
        return list(self._services.values())


def trigger_time(slice_: dict) -> float | None:
    """`getLastChangeTriggerTime`: the annotation as epoch seconds (None if absent or unparseable)."""
    try:
        return epoch((slice_["metadata"].get("annotations") or {}).get(ANNOTATION_TRIGGER_TIME))
    except ValueError:
        return None


class EndpointsChangeTracker:
    """Pending EndpointSlice changes (in the `EndpointSliceCache`) and their trigger times.

    Trigger times count only after `start_time` (upstream's trackerStartTime): older ones measure
    changes that happened before this kube-proxy was there to program them.
    """

    def __init__(self, start_time: float):
        self.start_time = start_time
        self.cache = EndpointSliceCache()
        self.slice_changes = 0  # slice events that changed something, since the last checkout
        self._trigger_times: dict[tuple[str, str], list[float]] = {}

    def endpoint_slice_update(self, slice_: dict, remove: bool) -> bool:
        """Record one informer event; True if the slice's Service needs a sync."""
        changed = self.cache.delete(slice_) if remove else self.cache.update(slice_)
        owner = slice_owner(slice_)
        if changed and owner is not None:
            if remove:
                # upstream: a deletion's trigger time is that of the slice's last update, not this change
                self._trigger_times.pop(owner, None)
            elif (when := trigger_time(slice_)) is not None and when > self.start_time:
                self._trigger_times.setdefault(owner, []).append(when)
        self.slice_changes += changed
        return changed

    def checkout(self) -> tuple[set[tuple[str, str]], dict[tuple[str, str], list[float]], int]:
        """`EndpointsMap.Update`: (updated Services, their trigger times, slice changes), emptying the tracker."""
        times, self._trigger_times = self._trigger_times, {}
        count, self.slice_changes = self.slice_changes, 0
        return self.cache.checkout_changes(), times, count

    def slices(self) -> list[dict]:
        return self.cache.slices()
