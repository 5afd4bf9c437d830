"""The garbage collector: deletes dependents whose owners are gone (pkg/controller/garbagecollector).

Owners and dependents are linked by `metadata.ownerReferences` (uid). Three deletion modes, as
upstream:
* Background (kubectl's default): the owner disappears at once; the collector then deletes each
  dependent that has no other live owner (a dependent with one drops just the dead reference).
* Foreground: the owner stays with the `foregroundDeletion` finalizer while the collector deletes
  its dependents (foreground too, so it cascades); once no dependent with `blockOwnerDeletion`
  is left, the finalizer is removed and the owner goes.
* Orphan: the collector strips the owner's reference from every dependent, then removes the
  `orphan` finalizer.
A new object whose owners do not exist at all is deleted (dangling references).
"""

from __future__ import annotations

from helpers.kube import obj_key
from helpers.sim.api.errors import ApiError
from helpers.sim.api.resources import RESOURCES
from helpers.sim.controllers.controller import Controller

OWNER_KINDS = {(r.api_version, r.kind): r for r in RESOURCES}  # ownerReference -> served resource
FOREGROUND = "foregroundDeletion"
ORPHAN = "orphan"
# Resources whose objects can own or be owned by others in the simulator.
GRAPH_RESOURCES = ("deployments.apps", "replicasets.apps", "daemonsets.apps", "pods", "services",
                   "endpoints", "endpointslices.discovery.k8s.io", "nodes", "leases.coordination.k8s.io",
                   "jobs.batch", "cronjobs.batch", "statefulsets.apps")


def remaining_owners(dependent: dict, dead_uid: str, live_uids: set[str]) -> list[dict]:
    """The dependent's ownerReferences other than `dead_uid` that still point at live objects."""
    return [ref for ref in dependent["metadata"].get("ownerReferences") or []
            if ref.get("uid") != dead_uid and ref.get("uid") in live_uids]


class GarbageCollector(Controller):
    """Processes owner deletions; work items are (resource, namespace, name) of owners."""

    component = "garbage-collector-controller"
    max_retries = None  # garbagecollector.go re-adds a failed attemptToDelete item for ever

    def start(self) -> None:
        for resource in GRAPH_RESOURCES:
            self.informer.on(resource, lambda t, obj, old, r=resource: self._changed(r, t, obj))
            for obj in self.informer.items(resource):
                if obj["metadata"].get("deletionTimestamp"):
                    self._changed(resource, "MODIFIED", obj)

    def _changed(self, resource: str, type_: str, obj: dict) -> None:
        meta = obj["metadata"]
        if type_ == "DELETED":
            self.clock.call_soon(self._collect_dependents, meta["uid"])
        elif type_ == "ADDED" and meta.get("ownerReferences"):
            self.clock.call_soon(self._check_owners, resource, obj)
        elif meta.get("deletionTimestamp") and {FOREGROUND, ORPHAN} & set(meta.get("finalizers") or []):
            self.enqueue((resource, *obj_key(obj)))
        # A dependent that went away may unblock its foreground-deleting owners.
        if type_ == "DELETED" or meta.get("deletionTimestamp"):
            for ref in meta.get("ownerReferences") or []:
                owner = self._find(ref, meta.get("namespace") or "")
                if owner is not None:
                    self.enqueue(owner)

    def _find(self, ref: dict, namespace: str):
        for resource in GRAPH_RESOURCES:
            for ns in (namespace, ""):
                obj = self.informer.get(resource, ref["name"], ns)
                if obj is not None and obj["metadata"].get("uid") == ref.get("uid"):
                    return resource, ns, ref["name"]
        return None

    def _dependents(self, uid: str) -> list[tuple[str, dict]]:
        return [(r, d) for r in GRAPH_RESOURCES for d in self.informer.dependents(r, uid)]

    def _live_uids(self) -> set[str]:
        return {o["metadata"]["uid"] for r in GRAPH_RESOURCES for o in self.informer.items(r)}

    def _collect_dependents(self, dead_uid: str) -> None:
        """Background deletion: the owner is gone; delete or re-point each dependent."""
        dependents = self._dependents(dead_uid)
        live = self._live_uids() if dependents else set()
        for resource, dep in dependents:
            if remaining_owners(dep, dead_uid, live):
                self._drop_reference(resource, dep, dead_uid)
            elif not dep["metadata"].get("deletionTimestamp"):
                self._delete(resource, dep, "Background")

    def _check_owners(self, resource: str, obj: dict) -> None:
        """A new object whose owners do not exist (a dangling reference) is deleted, as upstream does;
        with some owners alive, only the dangling references are dropped."""
        meta = obj["metadata"]
        refs = meta["ownerReferences"]
        dead = [ref for ref in refs if not self._owner_exists(ref, meta.get("namespace"))]
        if not dead:
            return
        if len(dead) == len(refs):
            self._delete(resource, obj, "Background")
        else:
            for ref in dead:
                self._drop_reference(resource, obj, ref["uid"])

    def _owner_exists(self, ref: dict, namespace: str | None) -> bool:
        """Asks the store, not the cache: an owner created just before its dependent must count."""
        info = OWNER_KINDS.get((ref.get("apiVersion"), ref.get("kind")))
        if info is None:
            return True  # a kind the simulator does not serve: leave the reference alone
        try:
            owner = self.store.get(info.key, ref["name"], namespace if info.namespaced else None)
        except ApiError as err:
            if err.code == 404:
                return False
            raise
        return owner["metadata"].get("uid") == ref.get("uid")

    def sync(self, key) -> None:
        resource, namespace, name = key
        owner = self.informer.get(resource, name, namespace)
        if owner is None or not owner["metadata"].get("deletionTimestamp"):
            return
        uid = owner["metadata"]["uid"]
        finalizers = owner["metadata"].get("finalizers") or []
        dependents = self._dependents(uid)
        if ORPHAN in finalizers:
            for dep_resource, dep in dependents:
                self._drop_reference(dep_resource, dep, uid)
            self._remove_finalizer(resource, owner, ORPHAN)
        elif FOREGROUND in finalizers:
            blocking = [(r, d) for r, d in dependents
                        if any(ref.get("uid") == uid and ref.get("blockOwnerDeletion")
                               for ref in d["metadata"].get("ownerReferences") or [])]
            for dep_resource, dep in blocking:
                if not dep["metadata"].get("deletionTimestamp"):
                    self._delete(dep_resource, dep, "Foreground")
            if not blocking:
                self._remove_finalizer(resource, owner, FOREGROUND)

    def _delete(self, resource: str, obj: dict, policy: str) -> None:
        try:
            self.store.delete(resource, obj["metadata"]["name"], obj["metadata"].get("namespace"),
                              propagation_policy=policy)
        except ApiError as err:
            if err.code != 404:
                raise

    def _drop_reference(self, resource: str, obj: dict, uid: str) -> None:
        current = self.store.get(resource, obj["metadata"]["name"], obj["metadata"].get("namespace"))
        refs = current["metadata"].get("ownerReferences") or []
        kept = [r for r in refs if r.get("uid") != uid]
        if kept:
            current["metadata"]["ownerReferences"] = kept
        else:
            current["metadata"].pop("ownerReferences", None)  # the API omits an empty list
        self.update(resource, current)

    def _remove_finalizer(self, resource: str, obj: dict, finalizer: str) -> None:
        current = self.store.get(resource, obj["metadata"]["name"], obj["metadata"].get("namespace"))
        current["metadata"]["finalizers"] = [f for f in current["metadata"].get("finalizers") or []
                                             if f != finalizer]
        self.update(resource, current)
