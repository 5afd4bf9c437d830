"""client-go's util/flowcontrol/backoff.go (v0.36.1), as the kubelet uses it for crash loops and image pulls.

``NewBackOff(initial, max)`` without jitter: an entry starts at ``initial`` and doubles on every ``next``,
capped at ``max``; an entry whose last update is more than 2 x max before the event is stale and starts
over (so a container that ran for 10 minutes is back at 10 s). The kubelet's constants (pkg/kubelet/kubelet.go):
crash loops 10 s -> 300 s (initialCrashLoopBackOff, MaxContainerBackOff), image pulls 10 s -> 300 s
(imageBackOffPeriod, MaxImageBackOff).
"""

from __future__ import annotations

INITIAL_S = 10.0
MAX_S = 300.0


class Backoff:
    def __init__(self, initial: float = INITIAL_S, maximum: float = MAX_S):
        self.initial, self.maximum = initial, maximum
        self.entries: dict[object, list[float]] = {}  # id -> [backoff, lastUpdate]

    def _expired(self, event_time: float, last_update: float) -> bool:
        return event_time - last_update > 2 * self.maximum

    def get(self, id_) -> float:
        entry = self.entries.get(id_)
        return entry[0] if entry else 0.0

    def next(self, id_, event_time: float, now: float) -> None:
        entry = self.entries.get(id_)
        if entry is None or self._expired(event_time, entry[1]):
            self.entries[id_] = [self.initial, now]
        else:
            entry[:] = [min(entry[0] * 2, self.maximum), now]

    def in_backoff_since(self, id_, event_time: float, now: float) -> bool:
        """IsInBackOffSince: less than the current back-off has passed since ``event_time``."""
        entry = self.entries.get(id_)
        if entry is None or self._expired(event_time, entry[1]):
            return False
        return now - event_time < entry[0]

    def in_backoff_since_update(self, id_, now: float) -> bool:
        """IsInBackOffSinceUpdate (the image puller's check): less than the back-off since the last ``next``."""
        entry = self.entries.get(id_)
        return entry is not None and not self._expired(now, entry[1]) and now - entry[1] < entry[0]

    def forget(self, id_) -> None:
        self.entries.pop(id_, None)


def go_duration(seconds: float) -> str:
    """Go's time.Duration String() for whole seconds: 10s, 1m20s, 5m0s."""
    whole = round(seconds)
    minutes, secs = divmod(whole, 60)
    return f"{minutes}m{secs}s" if minutes else f"{secs}s"
