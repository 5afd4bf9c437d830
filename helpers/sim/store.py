"""The simulator's versioned object store: what etcd plus the registry layer are to a real API server.

One lock guards all state. Every write gets the next value of a single global resourceVersion counter,
is appended to an event history that is compacted as kube-apiserver compacts etcd (every
``compaction_interval``, 5 minutes by default as ``--etcd-compaction-interval``, up to the revision of the
previous tick; ``history_size`` is only a memory bound, the watch cache's upper capacity), so resuming a
watch from a compacted revision fails with 410 Expired; it is pushed to matching watches, and is then announced to subscribers
outside the lock, in commit order. Stored objects are never mutated after a commit, so watches may
share them; every public method hands out deep copies.

API semantics (defaults, validation, patches, field ownership) are pure functions in ``helpers.sim.api``.
"""

import datetime as dt
import hashlib
import logging
import marshal
import pickle
import random
import sys
import threading
import uuid
from collections import deque

from helpers.kube import format_time, parse_time

from .api import (
    admission_sa,
    admission_storageclass,
    allocators,
    defaults,
    listoptions,
    managed,
    strategy,
    validation,
)
from .api.errors import (
    ApiError,
    already_exists,
    bad_request,
    conflict,
    expired,
    forbidden,
    invalid,
    not_found,
)
from .api.resources import BY_KEY, Resource
from .api.scale import from_scale, to_scale
from .api.selectors import fields_match, labels_match, parse_field_selector, parse_label_selector
from .api.strategy import clone

__all__ = ["ApiError", "CompactedError", "Store", "Watch", "clone"]

log = logging.getLogger(__name__)

# upstream's k8s.io/apimachinery/pkg/util/rand alphabet for generateName suffixes (no vowels, no 0/1/3)
_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_INITIAL_EVENTS_END = "k8s.io/initial-events-end"
_TERMINAL_PHASES = ("Succeeded", "Failed")
# NamespaceLifecycle admission refuses to delete these ("immortal") namespaces: kube-apiserver passes
# default, kube-system and kube-public (k8s.io/apiserver/pkg/admission/plugin/namespace/lifecycle,
# admission.go, v1.37). A real cluster's system-namespaces controller recreates kube-node-lease soon
# after a deletion; the simulator has no such controller, so it refuses that one too, alike.
# events a watch may have queued and not yet read before it is dropped (a slow or stalled client)
MAX_WATCH_QUEUE = 10000
IMMORTAL_NAMESPACES = frozenset({"default", "kube-system", "kube-public", "kube-node-lease"})


def _interned(value, previous=None):
    """A copy whose dict keys are interned: stored versions then share their ~150 key strings, which
    cuts a pod's footprint by about a third (keys dominate small JSON-shaped dicts).

    Subtrees identical to the same place in ``previous`` (the stored version this one replaces, itself
    interned and never mutated) are reused rather than rebuilt: a status update then copies only the
    parts that changed. ``==`` finds candidates cheaply; their version-2 marshal bytes confirm them (5x
    cheaper than ``repr``), since ``==`` equates ``1``, ``1.0`` and ``True`` and ignores key order, which
    must survive exactly: version 2 writes every value's type and every key in order, and no references
    or interning flags, so equal bytes are the same content whatever is shared.
    """
    if isinstance(value, dict):
        if type(previous) is dict and value == previous and _exactly(value, previous):
            return previous
        if type(previous) is not dict:
            previous = {}
        # scalars are immutable and shared as they are; only containers need the call
        return {sys.intern(k): _interned(v, previous.get(k)) if isinstance(v, dict | list) else v
                for k, v in value.items()}
    if isinstance(value, list):
        if type(previous) is list and value == previous and _exactly(value, previous):
            return previous
        if type(previous) is not list:
            previous = []
        return [_interned(v, previous[i] if i < len(previous) else None) if isinstance(v, dict | list) else v
                for i, v in enumerate(value)]
    return value


def _exactly(a, b) -> bool:
    return marshal.dumps(a, 2) == marshal.dumps(b, 2)


COMPACTION_INTERVAL_S = 300.0  # kube-apiserver --etcd-compaction-interval default (5m)
HISTORY_BOUND = 100 * 1024  # the watch cache's defaultUpperBoundCapacity: a memory bound, not the policy


class CompactedError(Exception):
    """A read at a revision the history no longer holds (etcd's ``ErrCompacted``)."""

    def __init__(self, rv: int):
        super().__init__(f"revision {rv} has been compacted")
        self.rv = rv


# etcd's --max-request-bytes (1.5 MiB, etcd 3.5/3.6) and kube-apiserver's etcd client send limit (2 MiB,
# k8s.io/apiserver/pkg/storage/storagebackend/factory/etcd3.go maxSendMsgSize): a bigger write fails in
# storage, and kube-apiserver answers the raw error as a reasonless 500 (handlers/responsewriters/status.go
# ErrorToAPIStatus); observed with the v1.36.1 oracle (tests/test_oracle_controlplane.py).
ETCD_MAX_REQUEST_BYTES = 1536 * 1024
ETCD_CLIENT_MAX_SEND_BYTES = 2 * 1024 * 1024
EVENT_TTL_S = 3600.0  # kube-apiserver --event-ttl (default 1h)


def _too_large_for_etcd(size: int) -> ApiError:
    if size > ETCD_CLIENT_MAX_SEND_BYTES:  # refused by the gRPC client before etcd sees it
        return ApiError(500, "", "rpc error: code = ResourceExhausted desc = trying to send message larger than "
                                 f"max ({size} vs. {ETCD_CLIENT_MAX_SEND_BYTES})")
    return ApiError(500, "", "etcdserver: request is too large")


class _WallClock:
    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)


def _no_exec(namespace, pod, container=None):
    raise ApiError(400, "BadRequest", "exec, attach and port-forward need the simulated cluster's kubelets; "
                                      "this API server runs none")


class Store:
    """Thread-safe object store with Kubernetes semantics. See docs/DESIGN.md ("Store").

    Hooks other parts set: ``log_source(namespace, pod, container, previous) -> str`` serves ``pods/log``;
    ``exec_source`` / ``attach_source(namespace, pod, container)`` give what serves ``pods/exec`` and
    ``pods/attach`` (``Cluster.exec_process``, ``Cluster.attach_process``); ``portforward_source(namespace,
    pod)`` what serves ``pods/portforward`` (``Cluster.port_forwarder``);
    ``default_not_ready_toleration_seconds`` / ``default_unreachable_toleration_seconds`` feed the
    DefaultTolerationSeconds admission defaults; ``rng`` (a ``random.Random``) drives name suffixes
    and IP/port allocation, so seeding it makes a run reproducible.
    """

    def __init__(self, clock=None, *, service_cidr="10.96.0.0/16", node_port_range=(30000, 32767),
                 history_size=HISTORY_BOUND, history_bytes=64 * 1024 * 1024,
                 compaction_interval=COMPACTION_INTERVAL_S):
        self.clock = clock or _WallClock()
        self.service_cidr = service_cidr
        self.node_port_range = tuple(node_port_range)
        self.rng = random.Random()
        self.log_source = lambda namespace, pod, container, previous=False: ""
        self.exec_source = self.attach_source = self.portforward_source = _no_exec
        self.default_not_ready_toleration_seconds = 300
        self.default_unreachable_toleration_seconds = 300
        self._lock = threading.RLock()
        self._advanced = threading.Condition(self._lock)  # notified at each commit (wait_for_revision)
        self._objects = {key: {} for key in BY_KEY}
        self._rv = 0
        self._history = deque(maxlen=history_size)
        # the history is bounded in bytes too (each event's object as pickled), so large objects written
        # often compact it sooner instead of growing memory
        self._history_sizes = deque(maxlen=history_size)
        self._history_bytes = 0
        self._history_budget = history_bytes
        self._commit_times: dict[int, float] = {}  # resourceVersion -> clock time, for those in the history
        self._compacted_rv = 0  # newest resourceVersion no longer in the history
        self.compaction_interval = compaction_interval  # clock seconds between compactions (0: never)
        self.event_ttl = EVENT_TTL_S  # an Event is deleted this long after its last write (0: never)
        self._compaction_mark = 0  # the revision of the previous compaction tick: compacted at the next
        self._next_compaction = self.clock.now().timestamp() + compaction_interval
        self._watches = {key: set() for key in BY_KEY}
        self._subscribers = []
        self._pending = deque()
        self._dispatch_lock = threading.RLock()

    # ----------------------------------------------------------------- reads

    def commit_times(self, resource_versions) -> dict[str, float]:
        """When each still-remembered resourceVersion was written, on the store's clock (epoch seconds).

        A simulator-only view (a real API server keeps no such record): it lets a recorder place
        events exactly, where a watcher only knows when it received them.
        """
        with self._lock:
            return {str(rv): self._commit_times[int(rv)] for rv in resource_versions
                    if str(rv).isdigit() and int(rv) in self._commit_times}

    @property
    def resource_version(self) -> str:
        with self._lock:
            return str(self._rv)

    def wait_for_revision(self, rv: int, timeout: float) -> int:
        """Block until the store has reached revision ``rv`` or ``timeout`` wall seconds pass, as the watch
        cache's waitUntilFreshAndBlock does; returns the current revision either way."""
        with self._advanced:
            self._advanced.wait_for(lambda: self._rv >= rv, timeout)
            return self._rv

    def get(self, resource: str, name: str, namespace: str | None = None) -> dict:
        info = _info(resource)
        with self._lock:
            return clone(self._existing(info, name, namespace))

    def list(self, resource: str, namespace=None, label_selector=None, field_selector=None):
        """``(items, resourceVersion)``; selectors are query-string syntax (400 on bad syntax)."""
        items, rv = self.list_shared(resource, namespace, label_selector, field_selector)
        return clone(items), rv

    def list_shared(self, resource: str, namespace=None, label_selector=None, field_selector=None):
        """Like ``list`` but returns the stored objects themselves: callers must not modify them.

        The HTTP layer uses it to serialise large lists without copying.
        """
        items, rv, _more, _remaining = self.list_chunk(resource, namespace, label_selector, field_selector)
        return items, rv

    def list_chunk(self, resource: str, namespace=None, label_selector=None, field_selector=None, *,
                   limit: int = 0, after: tuple | None = None, at: int | None = None):
        """One page of a list, read as the API server reads etcd: the matching stored objects (shared, so
        read-only) in key order, after storage key ``after`` ((namespace, name)), at most ``limit`` of them
        (0: all), from the state at revision ``at`` (None: now). Returns ``(items, rv, more, remaining)``:
        ``rv`` the revision read, ``more`` whether matching objects follow, ``remaining`` how many
        (None when a selector filters: upstream only counts them for an unfiltered list).

        An older revision is rebuilt from the event history, as etcd serves any revision it has not
        compacted; a compacted one raises ``CompactedError``."""
        info = _info(resource)
        match = _matcher(info, namespace, label_selector, field_selector)
        with self._lock:
            if at is not None and at < self._compacted_rv:
                raise CompactedError(at)
            rv = self._rv if at is None else min(at, self._rv)
            objects = self._objects[info.key] if rv == self._rv else self._state_at(info, rv)
            # the namespace and the continue key narrow the storage keys (namespace, name) before sorting;
            # without a selector a page and its remainingItemCount need no object read, so a page costs
            # its own items rather than the whole collection
            own = namespace if info.namespaced else None
            keys = sorted(k for k in objects if (after is None or k > after) and (not own or k[0] == own))
            if not (label_selector or field_selector):
                page = keys[:limit] if limit else keys
                rest = len(keys) - len(page)
                return [objects[k] for k in page], str(rv), rest > 0, rest
            items = []
            for i, key in enumerate(keys):
                if limit and len(items) == limit:
                    return items, str(rv), any(match(objects[k]) for k in keys[i:]), None
                if match(objects[key]):
                    items.append(objects[key])
        return items, str(rv), False, 0

    def _state_at(self, info: Resource, rv: int) -> dict:
        """The objects of one resource as they were at revision ``rv`` (lock held): today's, with every
        later event of the history undone."""
        state = dict(self._objects[info.key])
        for event_rv, event_type, resource, obj, old in reversed(self._history):
            if event_rv <= rv:
                break
            if resource != info.key:
                continue
            key = self._key(info, obj["metadata"])
            if event_type == "ADDED":
                state.pop(key, None)
            else:
                state[key] = old
        return state

    def get_scale(self, resource: str, name: str, namespace: str | None = None) -> dict:
        return to_scale(self.get(resource, name, namespace))

    # ----------------------------------------------------------------- writes

    def create(self, resource: str, obj: dict, *, namespace=None, dry_run=False,
               field_manager: str | None = None) -> dict:
        """Create ``obj`` (defaults, generateName, uid, resourceVersion, validation, admission)."""
        info = _info(resource)
        obj = strategy.decoded(info, obj, namespace)
        with self._lock:
            result = self._create_locked(info, obj, dry_run, field_manager)
        self._dispatch()
        return result

    def update(self, resource: str, obj: dict, *, subresource=None, dry_run=False,
               field_manager: str | None = None) -> dict:
        """Replace an object (PUT). ``subresource``: None, "status", "scale" (obj is a Scale) or
        "finalize" (namespaces: writes ``spec.finalizers``). 409 Conflict on a stale resourceVersion."""
        info = _info(resource, subresource)
        if not isinstance(obj, dict) or not isinstance(obj.get("metadata"), dict):
            raise bad_request("the object to update must have metadata")
        meta = obj["metadata"]
        with self._lock:
            old = self._existing(info, meta.get("name"), meta.get("namespace"))
            if subresource == "scale":
                obj = from_scale(clone(old), obj)
            else:
                obj = strategy.decoded(info, obj, old["metadata"].get("namespace"))
            result = self._update_locked(info, obj, old, subresource, dry_run, field_manager)
        self._dispatch()
        return result if subresource != "scale" else to_scale(result)

    def patch(self, resource: str, name: str, namespace=None, *, patch_type: str, body,
              subresource=None, dry_run=False, field_manager=None, force=False):
        """Apply a PATCH body atomically. ``patch_type`` is the Content-Type: merge, json, strategic
        or ``application/apply-patch+yaml`` (server-side apply; creates the object when absent).

        Returns ``(object, created)``; for ``subresource="scale"`` the object is a Scale.
        """
        info = _info(resource, subresource)
        if patch_type == "application/apply-patch+yaml":
            return self._apply(info, name, namespace, body, subresource, dry_run, field_manager, force)
        with self._lock:
            old = self._existing(info, name, namespace)
            current = to_scale(old) if subresource == "scale" else old
            patched = strategy.patched(current, patch_type, body, info.kind)
            if subresource == "scale":
                patched = from_scale(clone(old), patched)
            else:
                patched = strategy.decoded(info, patched, old["metadata"].get("namespace"))
                strategy.check_identity(info, patched, old)
            result = self._update_locked(info, patched, old, subresource, dry_run, field_manager)
        self._dispatch()
        return (to_scale(result) if subresource == "scale" else result), False

    def delete(self, resource: str, name: str, namespace=None, *, grace_period_seconds=None,
               propagation_policy=None, dry_run=False, preconditions=None) -> dict:
        """Delete as upstream does: graceful pods, finalizers, terminating namespaces.

        Pods are deleted gracefully (staging apiserver pkg/registry/rest/delete.go BeforeDelete and
        generic/registry/store.go updateForGracefulDeletionAndFinalizers, v1.37.0): a first delete writes
        ``deletionTimestamp`` (now + grace; grace 0 when unscheduled or terminal) and bumps ``generation``,
        a later one may only shorten the grace. That write is a MODIFIED event even at grace 0, where the
        DELETED event follows at once; above 0 the pod stays until the kubelet deletes it with grace 0.
        Other objects with finalizers (including the ``foregroundDeletion`` / ``orphan`` finalizers a
        propagation policy adds, for the garbage collector) stay with a deletionTimestamp until their
        finalizers are emptied (markAsDeleting); without finalizers they go as stored. Namespaces turn
        ``Terminating`` and stay until the namespace controller empties ``spec.finalizers``
        (``update(..., subresource="finalize")``). Returns the object as it is now (or as it was when removed).
        """
        info = _info(resource)
        if info.key == "namespaces" and name in IMMORTAL_NAMESPACES:
            raise forbidden("namespaces", name, "this namespace may not be deleted")
        with self._lock:
            old = self._existing(info, name, namespace)
            strategy.check_preconditions(info, old, preconditions)
            new = clone(old)
            meta = new["metadata"]
            strategy.add_propagation_finalizer(meta, propagation_policy)
            now = self.clock.now()
            if info.key == "namespaces":
                remove = bool(meta.get("deletionTimestamp")) and strategy.namespace_finalized(new)
                meta.setdefault("deletionTimestamp", format_time(now))
                meta["deletionGracePeriodSeconds"] = 0
                new.setdefault("status", {})["phase"] = "Terminating"
            elif info.key == "pods":
                remove = self._graceful_delete(new, grace_period_seconds, now) and not meta.get("finalizers")
                if remove and new != old and not dry_run:  # the zero-grace write, then the delete
                    self._commit("MODIFIED", info, new, old)
                    new, old = clone(new), self._existing(info, name, namespace)
            elif meta.get("finalizers"):  # markAsDeleting
                remove = False
                if not meta.get("deletionTimestamp") and meta.get("generation", 0) > 0:
                    meta["generation"] += 1
                meta.setdefault("deletionTimestamp", format_time(now))
                meta["deletionGracePeriodSeconds"] = 0
            else:
                remove = True
            result = self._finish_delete(info, new, old, dry_run, remove=remove)
        self._dispatch()
        return result

    def _graceful_delete(self, pod: dict, requested, now: dt.datetime) -> bool:
        """rest.BeforeDelete for a pod, in place: set or shorten its deletion; True when it goes now."""
        meta = pod["metadata"]
        if requested is not None:
            requested = 1 if int(requested) < 0 else int(requested)  # negative is 1 s on the delete path
        current = meta.get("deletionGracePeriodSeconds")
        if not meta.get("deletionTimestamp"):  # pod strategy.go CheckGracefulDelete
            grace = requested if requested is not None else pod["spec"].get("terminationGracePeriodSeconds", 30)
            if not pod["spec"].get("nodeName") or pod.get("status", {}).get("phase") in _TERMINAL_PHASES:
                grace = 0
            grace = 1 if grace < 0 else grace
            meta["deletionTimestamp"] = format_time(now + dt.timedelta(seconds=grace))
            meta["deletionGracePeriodSeconds"] = grace
            if meta.get("generation", 0) > 0:
                meta["generation"] += 1
            return grace == 0
        if not current:
            return True
        if requested is None or requested >= current:
            return False  # a deletion is pending: nothing changes
        # move the deletion back by the old grace and forward by the new one, never into the past
        at = parse_time(meta["deletionTimestamp"]) - dt.timedelta(seconds=current - requested)
        if at < now:  # a graceful request whose whole grace has passed still gets 1 s
            at, requested = now, (1 if requested else 0)
        meta["deletionTimestamp"], meta["deletionGracePeriodSeconds"] = format_time(at), requested
        return requested == 0

    # ----------------------------------------------------------------- watches and subscribers

    def watch(self, resource: str, namespace=None, resource_version=None, label_selector=None,
              field_selector=None, send_initial_events=False, allow_bookmarks=False) -> "Watch":
        """Open a watch. ``resource_version`` None/""/"0" starts with ADDED events for current objects;
        a specific value resumes after it (410 Expired when compacted). ``send_initial_events`` (streaming
        list) ends the initial ADDED events with a BOOKMARK annotated ``k8s.io/initial-events-end``."""
        info = _info(resource)
        match = _matcher(info, namespace, label_selector, field_selector)
        with self._lock:
            w = Watch(self, info, match)
            start = listoptions.parse_resource_version(resource_version, prefix="")
            if start in (None, 0) or send_initial_events:
                for obj in sorted(self._objects[info.key].values(),
                                  key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"])):
                    if match(obj):
                        w._queue.append(("ADDED", obj))
                if send_initial_events:
                    w._queue.append(("BOOKMARK", _bookmark(info, self._rv, initial_events_end=True)))
            else:
                if start < self._compacted_rv:
                    oldest = self._history[0][0] if self._history else self._rv
                    raise expired(f"too old resource version: {start} ({oldest})")
                for rv, event_type, res, obj, old in self._history:
                    if rv > start and res == info.key:
                        w._offer(event_type, obj, old)
            w._allow_bookmarks = allow_bookmarks
            self._watches[info.key].add(w)
        return w

    def subscribe(self, fn, resources=None, wants_old: bool = True, copies: bool = True):
        """Call ``fn(event_type, resource, obj, old)`` after each commit, in commit order, outside the
        store lock. ``resources`` (resource keys) limits the calls to those resources, which also spares
        copying objects the subscriber would ignore. Returns an ``unsubscribe`` function. ``fn`` must not
        block (schedule work instead). Every subscriber of an event gets the same copy of ``obj`` and
        ``old`` (not the stored objects), so subscribers must treat them as read-only, as client-go
        requires of objects from an informer. ``wants_old=False`` gets ``old=None`` (an informer keeps
        its own previous version), which spares copying it when no subscriber needs it.
        ``copies=False`` gets the stored objects themselves (never mutated after their commit, so as
        safe to read as a copy): the simulated components' informers, which only read, then neither copy
        each event (a third of a write's cost) nor keep a second copy of every object."""
        entry = (fn, frozenset(resources) if resources is not None else None, wants_old, copies)
        with self._lock:
            self._subscribers.append(entry)

        def unsubscribe():
            with self._lock:
                if entry in self._subscribers:
                    self._subscribers.remove(entry)
        return unsubscribe

    def stop_watches(self) -> None:
        """End every open watch (server shutdown)."""
        with self._lock:
            watches = [w for ws in self._watches.values() for w in ws]
        for w in watches:
            w.stop()

    # ----------------------------------------------------------------- internals

    def _create_locked(self, info: Resource, obj: dict, dry_run, field_manager, applied=None) -> dict:
        """Admit, default, validate and commit a decoded object (lock held). ``applied``: the
        configuration of a server-side apply that creates the object (its manager owns those fields)."""
        meta = obj["metadata"]
        if info.namespaced:
            self._admit_namespace(info, meta)
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = self._generate_name(info, meta)
        self._prepare_create(info, obj)
        self._raise_if_invalid(info, obj, validation.validate(info.key, obj))
        if self._key(info, meta) in self._objects[info.key]:
            raise already_exists(info.key, meta["name"])
        self._stamp_new(info, obj, field_manager, applied)
        if info.key == "jobs.batch":
            defaults.job_selector(obj)
        if not dry_run:
            self._commit("ADDED", info, obj, None)
        return obj  # private: decoded for this call, and the store keeps an interned copy (see _commit)

    def _existing(self, info: Resource, name, namespace) -> dict:
        if not name:
            raise bad_request("resource name may not be empty")
        obj = self._objects[info.key].get((namespace or "", name) if info.namespaced else ("", name))
        if obj is None:
            raise not_found(info.key, name)
        return obj

    @staticmethod
    def _key(info: Resource, meta: dict) -> tuple:
        return (meta.get("namespace", ""), meta["name"]) if info.namespaced else ("", meta["name"])

    def _admit_namespace(self, info: Resource, meta: dict) -> None:
        """NamespaceLifecycle admission: the namespace must exist and must not be terminating."""
        ns_name = meta.get("namespace")
        if not ns_name:
            raise bad_request("the namespace of the object must be set")
        namespace = self._objects["namespaces"].get(("", ns_name))
        if namespace is None:
            raise not_found("namespaces", ns_name)
        if namespace["metadata"].get("deletionTimestamp") and info.key != "events":
            raise forbidden(info.key, meta.get("name") or meta.get("generateName", ""),
                            f"unable to create new content in namespace {ns_name} because it is being "
                            "terminated")

    def _generate_name(self, info: Resource, meta: dict) -> str:
        for _ in range(8):
            name = meta["generateName"] + "".join(self.rng.choice(_NAME_ALPHABET) for _ in range(5))
            if self._key(info, {**meta, "name": name}) not in self._objects[info.key]:
                return name
        raise already_exists(info.key, meta["generateName"])

    def _prepare_create(self, info: Resource, obj: dict) -> None:
        self._default(info, obj)
        if info.key == "pods":  # ServiceAccount admission
            spec, namespace = obj["spec"], obj["metadata"].get("namespace", "")
            account = self._objects["serviceaccounts"].get((namespace, spec["serviceAccountName"]))
            # the volume's random suffix, drawn without touching ``rng`` (names and IPs stay as they were)
            digest = hashlib.sha256(f"{self._rv}/{namespace}/{obj['metadata'].get('name')}".encode()).digest()
            admission_sa.mount_token(obj, account, "".join(_NAME_ALPHABET[b % len(_NAME_ALPHABET)]
                                                           for b in digest[:5]))
        if info.key == "persistentvolumeclaims":
            admission_storageclass.admit(obj, list(self._objects["storageclasses.storage.k8s.io"].values()))
        status = defaults.initial_status(info.key, obj)
        if status is not None:
            obj["status"] = status
        if info.key == "services":
            allocators.allocate_service(obj, None, self._services_except(None), self.service_cidr,
                                        self.node_port_range, self.rng)
        for field in ("deletionTimestamp", "deletionGracePeriodSeconds"):
            obj["metadata"].pop(field, None)

    def _default(self, info: Resource, obj: dict) -> None:
        if info.key == "pods":
            defaults.pod(obj, not_ready_seconds=self.default_not_ready_toleration_seconds,
                         unreachable_seconds=self.default_unreachable_toleration_seconds)
        elif info.key in defaults.BY_RESOURCE:
            defaults.BY_RESOURCE[info.key](obj)

    def _stamp_new(self, info: Resource, obj: dict, field_manager, applied) -> None:
        meta = obj["metadata"]
        meta["uid"] = str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
        meta["creationTimestamp"] = format_time(self.clock.now())
        meta.pop("resourceVersion", None)
        if info.tracks_generation:
            meta["generation"] = 1
        meta.pop("managedFields", None)
        defaults.storage_form(info.key, obj)  # entries then name only fields the stored object has
        if applied is None:
            meta["managedFields"] = managed.record_update(None, obj, field_manager or "unknown", info.kind,
                                                          meta["creationTimestamp"])
        else:
            meta["managedFields"] = managed.record_apply_create(obj, applied, field_manager, info.kind,
                                                                meta["creationTimestamp"])

    def _services_except(self, svc: dict | None) -> "list[dict]":  # quoted: `list` is a method here
        """Every stored Service but ``svc``: whose cluster IPs and node ports are taken."""
        skip = self._key(BY_KEY["services"], svc["metadata"]) if svc else None
        return [other for key, other in self._objects["services"].items() if key != skip]

    def _raise_if_invalid(self, info: Resource, obj: dict, causes: list) -> None:
        if causes:
            raise invalid(info.kind, obj["metadata"].get("name", ""), info.group, causes)

    def _update_locked(self, info, obj, old, subresource, dry_run, field_manager) -> dict:
        """Validate and commit ``obj`` as the new state of ``old`` (the lock is held)."""
        rv = obj["metadata"].get("resourceVersion")
        if rv and rv != old["metadata"]["resourceVersion"]:
            raise conflict(info.key, old["metadata"]["name"])
        new = self._merge_for_update(info, obj, old, subresource)
        self._raise_if_invalid(info, new, validation.validate_update(info.key, new, old))
        if strategy.same_content(new, old):
            return clone(old)
        defaults.storage_form(info.key, new)  # entries then name only fields the stored object has
        new["metadata"]["managedFields"] = managed.record_update(
            old, new, field_manager or "unknown", info.kind, format_time(self.clock.now()), subresource)
        return self._write_update(info, new, old, dry_run)

    def _write_update(self, info: Resource, new: dict, old: dict, dry_run) -> dict:
        """Commit an update; an object being deleted whose last finalizer just went is removed instead."""
        if dry_run:
            return new
        meta = new["metadata"]
        remove = bool(meta.get("deletionTimestamp")) and not meta.get("finalizers") and (
            strategy.namespace_finalized(new) if info.key == "namespaces" else not meta.get("deletionGracePeriodSeconds"))
        self._commit("DELETED" if remove else "MODIFIED", info, new, old)
        return new  # private to this call, like a created object

    def _merge_for_update(self, info: Resource, obj: dict, old: dict, subresource) -> dict:
        """The full new object: what the write may change taken from ``obj``, the rest from ``old``."""
        if subresource in ("status", "finalize"):
            new = clone(old)
            if subresource == "status":
                new["status"] = obj.get("status") or {}
                defaults.always_serialized_status(info.key, new["status"])
                if info.key == "deployments.apps":  # deploymentStatusStrategy resets only spec and labels
                    annotations = (obj.get("metadata") or {}).get("annotations")
                    new["metadata"].pop("annotations", None)
                    if annotations:
                        new["metadata"]["annotations"] = dict(annotations)
            else:
                new.setdefault("spec", {})["finalizers"] = list((obj.get("spec") or {}).get("finalizers") or [])
            return new
        new = obj
        meta, old_meta = new["metadata"], old["metadata"]
        for field in ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds",
                      "generation", "managedFields"):
            if field in old_meta:
                meta[field] = old_meta[field]
            else:
                meta.pop(field, None)
        meta["resourceVersion"] = old_meta["resourceVersion"]
        self._default(info, new)
        if info.has_status:
            if "status" in old:
                new["status"] = old["status"]
            else:
                new.pop("status", None)
        if info.key == "namespaces":
            new["spec"]["finalizers"] = (old.get("spec") or {}).get("finalizers", [])
        if info.key == "services":
            allocators.allocate_service(new, old, self._services_except(old), self.service_cidr,
                                        self.node_port_range, self.rng)
        if info.tracks_generation and strategy.spec_of(info, new) != strategy.spec_of(info, old):
            meta["generation"] = old_meta.get("generation", 1) + 1
        return new

    def _apply(self, info, name, namespace, body, subresource, dry_run, field_manager, force):
        if not field_manager:
            raise bad_request("PATCH, application/apply-patch+yaml requires fieldManager to be set")
        if not isinstance(body, dict):
            raise bad_request("apply patch must be an object")
        body = strategy.decoded(info, body, namespace)
        if body["metadata"].get("name") not in (None, name):
            raise bad_request(f'the name of the object ({body["metadata"].get("name")}) does not match '
                              f"the name on the URL ({name})")
        body["metadata"]["name"] = name
        with self._lock:
            key = (namespace or "", name) if info.namespaced else ("", name)
            old = self._objects[info.key].get(key)
            if old is None:
                result = self._create_locked(info, body, dry_run, field_manager, applied=clone(body))
                created = True
            else:
                result, created = self._apply_existing(info, old, body, subresource, dry_run, field_manager,
                                                       force), False
        self._dispatch()
        return result, created

    def _apply_existing(self, info, old, body, subresource, dry_run, field_manager, force) -> dict:
        now = format_time(self.clock.now())
        merged = managed.apply(clone(old), body, field_manager, info.kind, now, force=force)
        merged["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"]
        fields = merged["metadata"]["managedFields"]
        new = self._merge_for_update(info, merged, old, subresource)
        new["metadata"]["managedFields"] = fields
        self._raise_if_invalid(info, new, validation.validate_update(info.key, new, old))
        if strategy.same_content(new, old) and fields == old["metadata"].get("managedFields"):
            return clone(old)
        return self._write_update(info, new, old, dry_run)

    def _finish_delete(self, info, new, old, dry_run, *, remove: bool) -> dict:
        if dry_run:
            return new
        if remove:
            self._commit("DELETED", info, new, old)
        elif new != old:
            self._commit("MODIFIED", info, new, old)
        return new

    def bind(self, name: str, namespace: str, node: str) -> dict:
        """pods/binding as the registry writes it (pkg/registry/core/pod/storage/storage.go
        setPodNodeAndMetadata, v1.36.1): spec.nodeName and PodScheduled=True in one write straight to
        storage, so the pod's managedFields do not change (no manager owns a binding)."""
        info = _info("pods")
        with self._lock:
            old = self._existing(info, name, namespace)
            if old["spec"].get("nodeName"):
                raise ApiError(409, "Conflict", f'Operation cannot be fulfilled on pods/binding "{name}": pod '
                               f'{name} is already assigned to node "{old["spec"]["nodeName"]}"')
            new = clone(old)
            new["spec"]["nodeName"] = node
            scheduled = {"type": "PodScheduled", "status": "True", "lastProbeTime": None,
                         "lastTransitionTime": format_time(self.clock.now())}
            conditions = new.setdefault("status", {}).setdefault("conditions", [])
            at = next((i for i, c in enumerate(conditions) if c.get("type") == "PodScheduled"), None)
            if at is None:
                conditions.append(scheduled)
            else:  # podutil.UpdatePodCondition: the transition time stays when the status does
                if conditions[at].get("status") == "True":
                    scheduled["lastTransitionTime"] = conditions[at].get("lastTransitionTime")
                conditions[at] = scheduled
            result = self._write_update(info, new, old, False)
        self._dispatch()
        return clone(result)

    def compact(self, rv: int | None = None) -> None:
        """Compact the history up to revision ``rv`` (default: the current one), as ``etcdctl compact`` does:
        a watch or list from an older revision then gets 410 Expired."""
        with self._lock:
            self._compact(self._rv if rv is None else min(rv, self._rv))

    def _compact(self, rv: int) -> None:
        """Forget the history up to and including revision ``rv`` (etcd's Compact; lock held).

        The compactor (k8s.io/apiserver/pkg/storage/etcd3/compact.go) compacts, at each tick, to the
        revision it noted at the previous tick, so events live between one and two intervals; this runs
        at the first commit after a tick is due."""
        while self._history and self._history[0][0] <= rv:
            self._commit_times.pop(self._history.popleft()[0], None)
            self._history_bytes -= self._history_sizes.popleft()
        self._compacted_rv = max(self._compacted_rv, rv)

    def _expire_event(self, key: tuple, resource_version: str) -> None:
        """The Event's etcd lease ran out: every write of an Event gives it a new lease of ``event_ttl``
        (v1.36.1 pkg/registry/core/event/storage/storage.go TTLFunc), so only an Event not written since
        expires; its watchers see it DELETED, as etcd's lease expiry deletes the key."""
        namespace, name = key
        try:
            self.delete("events", name, namespace or None, preconditions={"resourceVersion": resource_version})
        except ApiError:
            pass  # written again since (its newer lease decides) or already deleted

    def _commit(self, event_type: str, info: Resource, obj: dict, old: dict | None) -> None:
        """Write ``obj`` at the next resourceVersion (lock held); announce it after the lock is released."""
        # The object's stored size (its pickle, close to its protobuf for the large objects this is about)
        size = len(pickle.dumps(obj, pickle.HIGHEST_PROTOCOL))
        if event_type != "DELETED" and size > ETCD_MAX_REQUEST_BYTES:
            raise _too_large_for_etcd(size)
        self._rv += 1
        self._advanced.notify_all()
        obj["metadata"]["resourceVersion"] = str(self._rv)
        defaults.storage_form(info.key, obj)
        # Interning builds fresh containers (or reuses the stored ``old``'s), never ``obj``'s: the caller
        # may keep ``obj`` (writes return it) without touching what is stored.
        obj = _interned(obj, old)
        key = self._key(info, obj["metadata"])
        if event_type == "DELETED":
            self._objects[info.key].pop(key, None)
        else:
            self._objects[info.key][key] = obj
            if info.key == "events" and self.event_ttl and hasattr(self.clock, "call_later"):
                self.clock.call_later(self.event_ttl, self._expire_event, key, str(self._rv))
        now = self.clock.now().timestamp()
        if self.compaction_interval and now >= self._next_compaction:
            self._compact(self._compaction_mark)
            self._compaction_mark, self._next_compaction = self._rv - 1, now + self.compaction_interval
        while self._history and (len(self._history) == self._history.maxlen
                                 or self._history_bytes + size > self._history_budget):
            self._compact(self._history[0][0])
        self._history.append((self._rv, event_type, info.key, obj, old))
        self._history_sizes.append(size)
        self._history_bytes += size
        self._commit_times[self._rv] = now
        for w in tuple(self._watches[info.key]):  # _offer may drop a watch from the set
            w._offer(event_type, obj, old)
        if self._subscribers:
            self._pending.append((event_type, info.key, obj, old))

    def _dispatch(self) -> None:
        """Call subscribers for committed events, in commit order, outside the store lock."""
        with self._dispatch_lock:
            while True:
                with self._lock:
                    if not self._pending:
                        return
                    event_type, resource, obj, old = self._pending.popleft()
                    subscribers = list(self._subscribers)
                # one private copy per event, shared by the subscribers that want copies (read-only for them)
                new_copy = old_copy = None
                for fn, wanted, wants_old, copies in subscribers:
                    if wanted is not None and resource not in wanted:
                        continue
                    if not copies:
                        new, previous = obj, old
                    else:
                        if new_copy is None:
                            new_copy = clone(obj)
                        if wants_old and old_copy is None and old is not None:
                            old_copy = clone(old)
                        new, previous = new_copy, old_copy
                    try:
                        fn(event_type, resource, new, previous if wants_old else None)
                    except Exception:  # a broken subscriber must not fail the write that triggered it
                        log.exception("store subscriber %r failed on %s %s", fn, event_type, resource)


class Watch:
    """A stream of ``{"type", "object"}`` events. Iterate it, or call ``get(timeout)``; ``stop()`` ends it."""

    def __init__(self, store: Store, info: Resource, match):
        self._store = store
        self._info = info
        self._match = match
        self._queue = deque()
        self._cond = threading.Condition(store._lock)
        self._allow_bookmarks = False
        self.stopped = False
        self.dropped = False

    def _offer(self, event_type: str, obj: dict, old: dict | None) -> None:
        """Queue an event as a selector-filtered watch sees it (lock held)."""
        now_in = self._match(obj)
        was_in = old is not None and self._match(old)
        if event_type == "MODIFIED" and now_in != was_in:
            event_type = "ADDED" if now_in else "DELETED"  # moved into / out of the selection
        elif not now_in and not (event_type == "DELETED" and was_in):
            return
        if len(self._queue) >= MAX_WATCH_QUEUE:
            # a watcher this far behind is dropped, as the watch cache closes an unresponsive watcher
            # (cacher.go: "Forcing ... watcher close due to unresponsiveness"); its client re-lists
            log.warning("watch of %s dropped: %d events not read", self._info.key, len(self._queue))
            self._queue.clear()
            self.dropped = True
            self.stopped = True
            self._store._watches[self._info.key].discard(self)
            self._cond.notify_all()
            return
        self._queue.append((event_type, obj))
        self._cond.notify_all()

    def get(self, timeout: float | None = None) -> dict | None:
        """The next event, or None when ``timeout`` passes first or the watch is stopped."""
        with self._cond:
            if not self._queue and not self.stopped:
                self._cond.wait(timeout)
            if not self._queue:
                return None
            event_type, obj = self._queue.popleft()
        return {"type": event_type, "object": clone(obj)}

    def bookmark(self) -> dict | None:
        """A BOOKMARK at the current resourceVersion when nothing is pending (and bookmarks were asked)."""
        with self._cond:
            if not self._allow_bookmarks or self._queue or self.stopped:
                return None
            return {"type": "BOOKMARK", "object": _bookmark(self._info, self._store._rv)}

    def stop(self) -> None:
        with self._cond:
            self.stopped = True
            self._store._watches[self._info.key].discard(self)
            self._cond.notify_all()

    def __iter__(self):
        while not self.stopped:
            event = self.get()
            if event is not None:
                yield event

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


# --------------------------------------------------------------------- pure helpers


def _info(resource: str, subresource: str | None = None) -> Resource:
    info = BY_KEY.get(resource)
    if info is None or (subresource is not None and subresource not in info.subresources):
        name = f"{resource}/{subresource}" if info and subresource else resource
        raise ApiError(404, "NotFound", f"the server could not find the requested resource ({name})")
    return info


def _matcher(info: Resource, namespace, label_selector, field_selector):
    labels = parse_label_selector(label_selector)
    fields = parse_field_selector(field_selector, info)
    namespace = namespace if info.namespaced else None

    def match(obj: dict) -> bool:
        meta = obj["metadata"]
        return ((not namespace or meta.get("namespace") == namespace)
                and labels_match(labels, meta.get("labels"))
                and fields_match(fields, obj))
    return match


def _bookmark(info: Resource, rv: int, *, initial_events_end=False) -> dict:
    meta = {"resourceVersion": str(rv)}
    if initial_events_end:
        meta["annotations"] = {_INITIAL_EVENTS_END: "true"}
    return {"kind": info.kind, "apiVersion": info.api_version, "metadata": meta}
