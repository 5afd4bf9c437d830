"""kube-proxy's BoundedFrequencyRunner (pkg/proxy/runner/bounded_frequency_runner.go, v1.34+).

`run()` asks for a sync: it happens at once, or once `min_interval` has passed since the last one
finished; requests in between coalesce into that one (the v1.34 runner has no burst; the older
pkg/util/async runner allowed 2). After each run the next one is due after `max_interval`, or
after `retry_interval` when the run failed. Time is the given clock's (`time()`, and
`call_later(delay, fn)` returning a timer with `due`, `cancelled` and `cancel()`), so on the
simulator's clock every interval is virtual time.

Like upstream's, whose `Loop` goroutine alone owns the timers while `Run()` only signals its
one-slot channel (v1.37.0 pkg/proxy/runner/bounded_frequency_runner.go), the runner's state has one
owner: it is used on the clock's reactor only (event handlers reach it through `call_soon`), so it
needs no lock. Its requests coalesce correctly only if the handlers run in the order of their events,
which the clock guarantees (helpers/sim/clock.py `time()`).
"""

from __future__ import annotations


class BoundedFrequencyRunner:
    """Runs `fn` (which returns an error, or None on success) no more often than `min_interval`."""

    def __init__(self, clock, fn, min_interval: float, retry_interval: float, max_interval: float):
        if max_interval < min_interval:
            raise ValueError(f"maxInterval ({max_interval}) must be >= minInterval ({min_interval})")
        self.clock, self.fn = clock, fn
        self.min_interval, self.retry_interval, self.max_interval = min_interval, retry_interval, max_interval
        self.last_end = float("-inf")  # when the last run finished
        self._timer = None

    def run(self) -> None:
        """`Run()`: sync now, or as soon as `min_interval` after the last run allows."""
        self._schedule(max(0.0, self.last_end + self.min_interval - self.clock.time()))

    def start(self) -> None:
        """`Loop`: the first run, at once."""
        self._schedule(0.0)

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()

    def _schedule(self, delay: float) -> None:
        due = self.clock.time() + delay
        if self._timer is not None and not self._timer.cancelled and self._timer.due <= due:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self.clock.call_later(delay, self._run)

    def _run(self) -> None:
        self._timer = None
        err = self.fn()
        self.last_end = self.clock.time()
        self._schedule(min(self.retry_interval, self.max_interval) if err is not None else self.max_interval)
