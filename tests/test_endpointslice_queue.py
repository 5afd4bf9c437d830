"""The controllers' work queue (client-go workqueue): dedupe, AddAfter (earliest wins), rate-limited retries.

The rate limiter is `DefaultTypedControllerRateLimiter` (k8s.io/client-go/util/workqueue/
default_rate_limiters.go): per-key 5 ms * 2^failures up to 1000 s, combined (max) with one token
bucket of 10 qps and burst 100; a key is dropped after `maxRetries` (15) retries.
"""

from __future__ import annotations

import itertools

import pytest

from helpers.sim.controllers.workqueue import (
    BucketRateLimiter,
    ControllerRateLimiter,
    ItemExponentialFailureRateLimiter,
    WorkQueue,
)


def test_duplicates_collapse_and_the_earliest_delay_wins(clock):
    runs = []
    queue = WorkQueue(clock, lambda key: runs.append((key, round(clock.time() - start, 3))))
    start = clock.time()
    queue.add("a", 1.0)
    queue.add("a", 0.5)
    queue.add("a", 2.0)
    queue.add("b")
    queue.add("b")
    clock.advance(3)
    assert runs == [("b", 0.0), ("a", 0.5)]


@pytest.mark.parametrize(
    ("base", "cap", "gaps"),
    [
        (1.0, 1000.0, [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1000, 1000, 1000, 1000, 1000]),
        (0.005, 1000.0, [0.005 * 2**n for n in range(15)]),
        (1.0, 100.0, [1, 2, 4, 8, 16, 32, 64, 100, 100, 100, 100, 100, 100, 100, 100]),
    ],
    ids=["endpointslice-1s-1000s", "default-5ms-1000s", "mirroring-1s-100s"],
)
def test_failures_back_off_exponentially_then_the_key_is_dropped(clock, base, cap, gaps):
    calls = []

    def fail(key):
        calls.append(clock.time())
        raise RuntimeError("conflict")

    queue = WorkQueue(clock, fail, ControllerRateLimiter(clock, base, cap))
    queue.add("svc")
    clock.advance(sum(gaps) + 2000)
    assert len(calls) == 16  # the first attempt and 15 retries (maxRetries)
    assert [b - a for a, b in itertools.pairwise(calls)] == pytest.approx(gaps, abs=1e-6)
    assert queue.num_requeues("svc") == 0  # forgotten: the next event starts from the base delay


def test_unlimited_retries_keep_the_capped_delay(clock):
    calls = []

    def fail(key):
        calls.append(clock.time())
        raise RuntimeError("still failing")

    queue = WorkQueue(clock, fail, ControllerRateLimiter(clock, 1.0, 4.0), max_retries=None)
    queue.add("k")
    clock.advance(100)
    assert len(calls) > 16 and calls[-1] - calls[-2] == pytest.approx(4.0)


def test_success_resets_the_backoff(clock):
    outcomes = iter([RuntimeError("x"), RuntimeError("y"), None, RuntimeError("z")])
    calls = []

    def process(key):
        calls.append(clock.time())
        outcome = next(outcomes)
        if outcome:
            raise outcome

    queue = WorkQueue(clock, process, ControllerRateLimiter(clock, 1.0, 1000.0))
    queue.add("k")
    clock.advance(10)
    queue.add("k")
    clock.advance(0.5)  # the new failure is the first since the success: next retry in 1 s
    gaps = [round(b - a) for a, b in itertools.pairwise(calls)]
    assert gaps[:2] == [1, 2] and queue.num_requeues("k") == 1


def test_item_limiter_counts_per_key():
    limiter = ItemExponentialFailureRateLimiter(0.005, 1000.0)
    assert [limiter.when("a") for _ in range(3)] == [0.005, 0.01, 0.02]
    assert limiter.when("b") == 0.005 and limiter.num_requeues("a") == 3
    limiter.forget("a")
    assert limiter.when("a") == 0.005


def test_bucket_spreads_a_retry_storm_at_ten_per_second(clock):
    bucket = BucketRateLimiter(clock)
    delays = [bucket.when(i) for i in range(110)]
    assert delays[:100] == [0.0] * 100  # the burst
    assert delays[100:] == pytest.approx([0.1 * n for n in range(1, 11)], abs=1e-3)
    clock.advance(5)  # refills at 10 tokens per second, capped at the burst
    assert bucket.when("next") == 0.0


def test_the_bucket_delays_retries_of_many_keys(clock):
    """Across keys the max of the two limiters applies: 101 failing keys in one instant, the last waits 0.1 s."""
    limiter = ControllerRateLimiter(clock)
    delays = [limiter.when(f"k{i}") for i in range(101)]
    assert delays[0] == 0.005 and delays[-1] == pytest.approx(0.1, abs=1e-3)
