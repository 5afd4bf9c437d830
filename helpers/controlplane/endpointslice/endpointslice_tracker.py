"""Which EndpointSlice generations this controller wrote itself, per Service.

Follows kubernetes/kubernetes v1.36.1 `staging/src/k8s.io/endpointslice/util/endpointslice_tracker.go`
(generation-based since PR #99345, v1.21). It does two jobs:
- the watch events of the controller's own writes and deletions cause no second sync
  (`should_sync`, `handle_deletion`), while anyone else's change to a managed slice does;
- `stale_slices` tells `syncService` that its informer cache has not yet seen one of its own
  writes, so the sync fails with "EndpointSlice informer cache is out of date" and is retried
  instead of computing writes from old slices (duplicate slices, 409s on stale updates: #92928,
  #100033).
Not in v1.36.1: PR #141593 (2026-08) also forgets the generations when the Service's UID changes.
"""

from __future__ import annotations

from helpers.kube import LABEL_SERVICE_NAME

DELETION_EXPECTED = -1  # upstream deletionExpected


def _service_key(slice_: dict) -> tuple[str, str]:
    meta = slice_["metadata"]
    return meta.get("namespace") or "", (meta.get("labels") or {}).get(LABEL_SERVICE_NAME, "")


def _generation(slice_: dict) -> int:
    return int(slice_["metadata"].get("generation") or 0)


class EndpointSliceTracker:
    """Expected generation (or DELETION_EXPECTED) of each slice uid, grouped by Service."""

    def __init__(self):
        self._by_service: dict[tuple[str, str], dict[str, int]] = {}

    def has(self, slice_: dict) -> bool:
        return slice_["metadata"].get("uid") in self._by_service.get(_service_key(slice_), {})

    def should_sync(self, slice_: dict) -> bool:
        """True unless the slice's generation is one this controller wrote (or older)."""
        generations = self._by_service.get(_service_key(slice_))
        if generations is None:
            return True
        expected = generations.get(slice_["metadata"].get("uid"))
        return expected is None or _generation(slice_) > expected

    def stale_slices(self, service: dict, slices: list[dict]) -> bool:
        """True if the cache lags our writes: a slice older than we wrote it, a slice we deleted,
        or a slice we wrote that the cache does not hold (`slices` without those pending deletion)."""
        meta = service["metadata"]
        generations = self._by_service.get((meta.get("namespace") or "", meta["name"]))
        if generations is None:
            return False
        provided = set()
        for s in slices:
            uid = s["metadata"].get("uid")
            provided.add(uid)
            expected = generations.get(uid)
            if expected is not None and (expected == DELETION_EXPECTED or expected > _generation(s)):
                return True
        return any(g != DELETION_EXPECTED and uid not in provided for uid, g in generations.items())

    def update(self, slice_: dict) -> None:
        """Record a slice this controller created or updated (the API's answer)."""
        self._by_service.setdefault(_service_key(slice_), {})[slice_["metadata"]["uid"]] = _generation(slice_)

    def expect_deletion(self, slice_: dict) -> None:
        self._by_service.setdefault(_service_key(slice_), {})[slice_["metadata"].get("uid")] = DELETION_EXPECTED

    def handle_deletion(self, slice_: dict) -> bool:
        """Forget a deleted slice; False if this controller did not expect the deletion."""
        generations = self._by_service.get(_service_key(slice_))
        if generations is not None:
            expected = generations.pop(slice_["metadata"].get("uid"), None)
            if expected is not None and expected != DELETION_EXPECTED:
                return False
        return True

    def delete_service(self, namespace: str, name: str) -> None:
        self._by_service.pop((namespace, name), None)
