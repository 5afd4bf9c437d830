"""The shared informer of the simulated components (client-go tools/cache, minus the goroutines).

Upstream controllers read from informer caches. The `SharedInformer` keeps one in-memory copy of
the resources the components watch, fed by the store's subscription and updated *on the clock's
reactor thread*, so every handler sees a consistent cache without locks. The work queue and the
controller base that consume its events are in `workqueue` and `controller`.
"""

from __future__ import annotations

from helpers.kube import obj_key


def rv_int(obj: dict | None) -> int:
    """An object's resourceVersion as an int (0 if absent), for ordering cache updates."""
    try:
        return int(obj["metadata"]["resourceVersion"])
    except (TypeError, KeyError, ValueError):
        return 0


def owner_uids(obj: dict | None) -> list[str]:
    return [ref["uid"] for ref in (obj or {}).get("metadata", {}).get("ownerReferences") or [] if "uid" in ref]


def controller_of(obj: dict) -> dict | None:
    """The ownerReference with controller=true, if any."""
    for ref in obj["metadata"].get("ownerReferences") or []:
        if ref.get("controller"):
            return ref
    return None


class SharedInformer:
    """One cache per resource, filled from `store.list` and kept fresh by `store.subscribe`."""

    def __init__(self, store, clock, resources):
        self.store, self.clock = store, clock
        self.resources = tuple(resources)
        self.cache: dict[str, dict[tuple[str, str], dict]] = {r: {} for r in self.resources}
        self._handlers: dict[str, list] = {r: [] for r in self.resources}
        # ownerReference uid -> keys of the dependents, per resource (upstream's owner index)
        self._by_owner: dict[str, dict[str, set]] = {r: {} for r in self.resources}
        self._unsubscribe = None

    def on(self, resource: str, handler) -> None:
        """Call `handler(event_type, obj, old)` on the reactor after each change to `resource`."""
        self._handlers[resource].append(handler)

    def start(self) -> None:
        """Subscribe first, then list, so no change can fall between the two."""
        # the stored objects themselves: handlers treat cached objects as read-only (as client-go's do)
        self._unsubscribe = self.store.subscribe(self._on_commit, resources=self.resources, wants_old=False,
                                                 copies=False)
        for resource in self.resources:
            items, _ = self.store.list_shared(resource)
            for obj in items:
                self._store(resource, obj_key(obj), obj)

    def stop(self) -> None:
        if self._unsubscribe:
            self._unsubscribe()

    def items(self, resource: str, namespace: str | None = None) -> list[dict]:
        """Cached objects of `resource` (optionally one namespace). Treat them as read-only."""
        objs = self.cache[resource].values()
        return [o for o in objs if namespace is None or o["metadata"].get("namespace") == namespace]

    def get(self, resource: str, name: str, namespace: str | None = None) -> dict | None:
        return self.cache[resource].get((namespace or "", name))

    def dependents(self, resource: str, owner_uid: str) -> list[dict]:
        """Cached objects of `resource` that list `owner_uid` in their ownerReferences."""
        cache = self.cache[resource]
        return [cache[k] for k in self._by_owner[resource].get(owner_uid, ()) if k in cache]

    def _store(self, resource: str, key, obj: dict | None) -> None:
        old = self.cache[resource].pop(key, None)
        for uid in owner_uids(old):
            self._by_owner[resource].get(uid, set()).discard(key)
        if obj is not None:
            self.cache[resource][key] = obj
            for uid in owner_uids(obj):
                self._by_owner[resource].setdefault(uid, set()).add(key)

    def _on_commit(self, event_type, resource, obj, old) -> None:
        # Called on the writer's thread with the stored object: apply it later, on the reactor.
        if resource in self.cache:
            self.clock.call_soon(self._apply, event_type, resource, obj)

    def _apply(self, event_type, resource, obj) -> None:
        key = obj_key(obj)
        old = self.cache[resource].get(key)
        if old is not None and rv_int(old) > rv_int(obj):
            return  # a newer version was already listed or applied
        if event_type == "DELETED":
            if old is not None and old["metadata"].get("uid") != obj["metadata"].get("uid"):
                return  # a newer object of the same name replaced it
            self._store(resource, key, None)
        else:
            if old is None:
                # An update of an object the cache never held is an add for the handlers, as client-go's
                # sharedIndexInformer.HandleDeltas turns it into OnAdd (tools/cache/shared_informer.go).
                event_type = "ADDED"
            self._store(resource, key, obj)
        for handler in self._handlers[resource]:
            handler(event_type, obj, old)
