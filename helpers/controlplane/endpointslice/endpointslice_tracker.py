"""Which EndpointSlice versions this controller wrote itself.

Follows kubernetes/kubernetes v1.36 `staging/src/k8s.io/endpointslice/util/endpointslice_tracker.go`:
the controller ignores the watch events of its own writes and deletions, so they cause no second
sync, while anyone else's change to a managed slice does.
"""

from __future__ import annotations


class EndpointSliceTracker:
    """The slice versions this controller wrote and the deletions it asked for (upstream
    EndpointSliceTracker), so the watch events of its own writes do not cause another sync while
    anyone else's change to a managed slice does."""

    def __init__(self):
        self._versions: dict[str, str] = {}  # slice uid -> resourceVersion we wrote
        self._deleting: set[str] = set()

    def wrote(self, slice_: dict) -> None:
        self._versions[slice_["metadata"]["uid"]] = slice_["metadata"]["resourceVersion"]

    def expect_deletion(self, slice_: dict) -> None:
        uid = slice_["metadata"].get("uid")
        self._versions.pop(uid, None)
        self._deleting.add(uid)

    def unexpected(self, event_type: str, slice_: dict) -> bool:
        """True if this event is someone else's doing."""
        uid = slice_["metadata"].get("uid")
        if event_type == "DELETED":
            self._versions.pop(uid, None)
            if uid in self._deleting:
                self._deleting.discard(uid)
                return False
            return True
        return self._versions.get(uid) != slice_["metadata"].get("resourceVersion")
