"""client-go's rate-limited work queue on the simulator's virtual clock.

Upstream controllers process keys from a `workqueue.TypedRateLimitingInterface`
(k8s.io/client-go/util/workqueue: queue.go, delaying_queue.go, rate_limiting_queue.go): a key that
is already queued is not queued twice, so every event of one batch period collapses into one sync;
`AddAfter` keeps the earliest of several pending delays; a failed sync is re-added with
`AddRateLimited` until the controller gives up after `maxRetries` and `Forget`s the key until its
next event. The delay of a rate-limited add comes from default_rate_limiters.go: the maximum of a
per-key exponential back-off (`TypedItemExponentialFailureRateLimiter`: base * 2^failures, capped)
and one token bucket for the whole queue (`TypedBucketRateLimiter`, 10 qps with a burst of 100).

Every delay is virtual time (helpers/sim/clock.py), and everything runs on the clock's single
reactor thread, so there are no locks.
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)

# DefaultTypedControllerRateLimiter: 5 ms .. 1000 s per key, 10 qps / 100 burst overall.
DEFAULT_BASE_DELAY, DEFAULT_MAX_DELAY = 0.005, 1000.0
BUCKET_QPS, BUCKET_BURST = 10.0, 100
# maxRetries of the endpoint, EndpointSlice, mirroring and Deployment controllers
# (e.g. pkg/controller/endpointslice/endpointslice_controller.go).
MAX_RETRIES = 15


class ItemExponentialFailureRateLimiter:
    """`TypedItemExponentialFailureRateLimiter`: the n-th failure of a key waits base * 2^(n-1), capped."""

    def __init__(self, base_delay: float, max_delay: float):
        self.base_delay, self.max_delay = base_delay, max_delay
        self.failures: dict = {}

    def when(self, key) -> float:
        exp = self.failures.get(key, 0)
        self.failures[key] = exp + 1
        return min(self.base_delay * 2.0**exp, self.max_delay)

    def num_requeues(self, key) -> int:
        return self.failures.get(key, 0)

    def forget(self, key) -> None:
        self.failures.pop(key, None)


class BucketRateLimiter:
    """`TypedBucketRateLimiter` over golang.org/x/time/rate: a bucket of `burst` tokens refilled at `qps`.

    `when` reserves one token and returns how long the reservation must wait (the bucket may go
    negative, as `Limiter.Reserve` lets it), so a storm of retries is spread out at `qps`.
    """

    def __init__(self, clock, qps: float = BUCKET_QPS, burst: int = BUCKET_BURST):
        self.clock, self.qps, self.burst = clock, qps, burst
        self._tokens, self._last = float(burst), None

    def when(self, _key) -> float:
        now = self.clock.time()
        if self._last is not None:
            self._tokens = min(float(self.burst), self._tokens + (now - self._last) * self.qps)
        self._last = now
        self._tokens -= 1.0
        return max(0.0, -self._tokens / self.qps)


class ControllerRateLimiter:
    """`NewTypedMaxOfRateLimiter(item exponential, bucket)`: the longer of the two delays.

    The defaults are `DefaultTypedControllerRateLimiter`; the EndpointSlice controller uses 1 s ..
    1000 s per key and the mirroring controller 1 s .. 100 s, with the same bucket.
    """

    def __init__(self, clock, base_delay: float = DEFAULT_BASE_DELAY, max_delay: float = DEFAULT_MAX_DELAY):
        self.items = ItemExponentialFailureRateLimiter(base_delay, max_delay)
        self.bucket = BucketRateLimiter(clock)

    def when(self, key) -> float:
        return max(self.items.when(key), self.bucket.when(key))

    def num_requeues(self, key) -> int:
        return self.items.num_requeues(key)

    def forget(self, key) -> None:
        self.items.forget(key)


class WorkQueue:
    """A deduplicating delayed queue whose failed keys are retried through a `ControllerRateLimiter`.

    `process(key)` runs on the reactor; an exception is a request to retry (upstream's handleErr),
    at most `max_retries` times (None: for ever, as the ReplicaSet, DaemonSet, garbage collector
    and namespace controllers do).
    """

    def __init__(self, clock, process, rate_limiter: ControllerRateLimiter | None = None, *,
                 max_retries: int | None = MAX_RETRIES, name: str = "queue"):
        self.clock, self._process, self.name = clock, process, name
        self.rate_limiter = rate_limiter or ControllerRateLimiter(clock)
        self.max_retries = max_retries
        self._queued: set = set()
        self._waiting: dict = {}  # key -> Timer of a delayed add (the earliest one wins)

    def add(self, key, delay: float = 0.0) -> None:
        """Queue `key` now, or after `delay` virtual seconds (AddAfter); duplicates collapse."""
        if delay > 0:
            due = self.clock.time() + delay
            timer = self._waiting.get(key)
            if timer is not None and not timer.cancelled and timer.due <= due:
                return
            if timer is not None:
                timer.cancel()
            self._waiting[key] = self.clock.call_later(delay, self._fire, key)
            return
        if key in self._queued:
            return
        self._queued.add(key)
        self.clock.call_soon(self._run, key)

    def add_rate_limited(self, key) -> None:
        self.add(key, self.rate_limiter.when(key))

    def num_requeues(self, key) -> int:
        return self.rate_limiter.num_requeues(key)

    def _fire(self, key) -> None:
        self._waiting.pop(key, None)
        self.add(key)

    def _run(self, key) -> None:
        self._queued.discard(key)
        try:
            self._process(key)
        except Exception as err:  # noqa: BLE001 - every failure is retried, like upstream handleErr
            if self.max_retries is not None and self.num_requeues(key) >= self.max_retries:
                log.warning("%s: dropping %s out of the queue after %d retries: %s",
                            self.name, key, self.max_retries, err)
                self.rate_limiter.forget(key)
                return
            self.add_rate_limited(key)
            log.info("%s: sync %s failed (%s), retry %d", self.name, key, err, self.num_requeues(key))
        else:
            self.rate_limiter.forget(key)
