"""The controllers' work queue: dedupe, delayed adds (earliest wins), backoff 1 s .. cap, 15 retries."""

from __future__ import annotations

import itertools

import pytest

from helpers.sim.clock import Clock
from helpers.sim.controllers.esqueue import WorkQueue


@pytest.fixture
def clock():
    c = Clock(speed=1e-6)
    yield c
    c.stop()


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


def test_failures_back_off_exponentially_then_the_key_is_dropped(clock):
    calls = []

    def fail(key):
        calls.append(clock.time())
        raise RuntimeError("conflict")

    queue = WorkQueue(clock, fail, max_backoff=1000.0)
    queue.add("svc")
    clock.advance(7000)
    gaps = [round(b - a) for a, b in itertools.pairwise(calls)]
    assert gaps == [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1000, 1000, 1000, 1000, 1000]
    assert "svc" not in queue.failures  # dropped after 15 retries until the next event


def test_success_resets_the_backoff(clock):
    outcomes = iter([RuntimeError("x"), RuntimeError("y"), None, RuntimeError("z")])
    calls = []

    def process(key):
        calls.append(clock.time())
        outcome = next(outcomes)
        if outcome:
            raise outcome

    queue = WorkQueue(clock, process)
    queue.add("k")
    clock.advance(10)
    queue.add("k")
    clock.advance(0.5)  # the new failure is the first since the success: next retry in 1 s
    gaps = [round(b - a) for a, b in itertools.pairwise(calls)]
    assert gaps[:2] == [1, 2] and queue.failures == {"k": 1}
