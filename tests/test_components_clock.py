"""The virtual clock: ordering, fast-forward, thread safety and settle()."""

import threading
import time

import pytest
from builders import HandWall

from helpers.sim.clock import IDLE_GRACE, Clock


@pytest.fixture
def clock():
    c = Clock(speed=1.0)
    yield c
    c.stop()


def test_advance_runs_due_timers_in_order_with_their_virtual_time(clock):
    seen = []
    start = clock.time()
    for delay in (30, 10, 20):
        clock.call_later(delay, lambda d=delay: seen.append((d, round(clock.time() - start))))
    clock.call_later(400, seen.append, "late")
    clock.advance(60)
    assert seen == [(10, 10), (20, 20), (30, 30)]
    assert clock.time() - start >= 60


def test_advance_runs_timers_scheduled_inside_the_window(clock):
    renewals = []

    def renew():
        renewals.append(clock.time())
        clock.call_later(10, renew)

    clock.call_soon(renew)
    clock.advance(300)
    assert len(renewals) == 31  # t=0 and every 10 s up to t=300


def test_cancelled_timer_does_not_run(clock):
    ran = []
    timer = clock.call_later(5, ran.append, 1)
    timer.cancel()
    clock.advance(10)
    assert ran == []


def test_all_work_runs_on_one_thread_and_call_soon_is_thread_safe(clock):
    threads, counter = set(), []

    def work():
        threads.add(threading.current_thread().name)
        counter.append(1)

    submitters = [threading.Thread(target=lambda: [clock.call_soon(work) for _ in range(200)])
                  for _ in range(4)]
    for t in submitters:
        t.start()
    for t in submitters:
        t.join()
    assert clock.settle(5)
    assert len(counter) == 800
    assert threads == {"sim-clock"}


def test_speed_scales_virtual_time_and_now_is_utc():
    fast = Clock(speed=50.0)
    try:
        fired = threading.Event()
        fast.call_later(5, fired.set)  # 5 virtual seconds = 0.1 s of wall time
        assert fired.wait(3)
        assert fast.now().tzinfo is not None
    finally:
        fast.stop()


def test_failing_work_does_not_stop_the_reactor(clock):
    ran = []
    clock.call_soon(lambda: 1 / 0)
    clock.call_soon(ran.append, "after")
    assert clock.settle(5)
    assert ran == ["after"]


def test_bad_arguments_raise_clear_errors(clock):
    with pytest.raises(ValueError, match="negative"):
        clock.advance(-1)
    with pytest.raises(ValueError, match="positive"):
        Clock(speed=0)


def test_work_that_runs_late_still_sees_its_due_time():
    fast = Clock(speed=1000.0)
    try:
        seen = []

        def busy():  # 50 ms of wall time = 50 virtual seconds at this speed
            end = time.monotonic() + 0.05
            while time.monotonic() < end:
                pass

        def record(due):
            seen.append(fast.time() - due)

        start = fast.time()
        fast.call_soon(busy)
        fast.call_later(5, record, start + 5)  # falls due while `busy` still runs
        assert fast.settle(5)
        assert seen == [pytest.approx(0.0, abs=1.0)]  # not 45 s late: virtual time waited for the reactor
    finally:
        fast.stop()


def _wait_until(condition, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.005)
    return condition()


def test_fast_forward_skips_idle_gaps_keeping_order_and_virtual_times(clock):
    seen = []
    start = clock.time()
    for delay in (30, 3):
        clock.call_later(delay, lambda d=delay: seen.append((d, round(clock.time() - start, 1))))
    clock.fast_forward(60)
    wall = time.monotonic()
    assert _wait_until(lambda: len(seen) == 2)
    assert seen == [(3, 3.0), (30, 30.0)]  # each ran at its own virtual time, in order
    assert time.monotonic() - wall < 5  # instead of 30 s of waiting
    clock.fast_forward(0)
    assert not clock.fast_forwarding
    late = []
    clock.call_later(2, late.append, "ran")
    assert not _wait_until(lambda: late, timeout=0.3)  # off again: the next timer keeps its wall delay


def test_fast_forward_lease_expires_and_work_in_flight_is_not_skipped(clock):
    clock.fast_forward(0.2)
    assert clock.fast_forwarding
    assert _wait_until(lambda: not clock.fast_forwarding, timeout=2)
    with pytest.raises(ValueError, match="negative"):
        clock.fast_forward(-1)
    ran = []
    clock.fast_forward(30)
    start = clock.time()
    clock.call_soon(ran.append, round(clock.time() - start, 1))
    assert _wait_until(lambda: ran) and ran == [0.0]  # due work runs first, without a jump


def test_fast_forward_leases_are_independent(clock):
    first = clock.fast_forward(30)
    second = clock.fast_forward(30)
    assert first != second and clock.fast_forwarding
    assert clock.fast_forward(30, first) == first  # renewing keeps the lease
    clock.fast_forward(0, first)
    assert clock.fast_forwarding  # the other waiter still holds its lease
    clock.fast_forward(0, second)
    assert not clock.fast_forwarding
    clock.fast_forward(30)
    clock.fast_forward(0)  # no lease named: every lease ends
    assert not clock.fast_forwarding


def test_virtual_time_never_goes_back_and_work_keeps_its_submission_order(monkeypatch):
    """A reactor that is late (a CPU hog, a burst of work) must not let a thread see time go back: before
    the fix a thread read the running time, then the late timer's pinned due time, so of two events it
    submitted in order the second got the earlier slot and ran first (issue 20: the kube-proxy oracle's
    fence then no longer proved that earlier writes had reached the simulated kube-proxy)."""
    wall = HandWall.install(monkeypatch)
    clock = Clock(speed=1.0)
    try:
        running, release, order, seen = threading.Event(), threading.Event(), [], []

        def late():
            running.set()
            assert release.wait(5)

        clock.call_later(1000, late)  # the reactor sleeps until notified (1000 s of real waiting otherwise)
        wall.seconds = 2000.0  # the machine stalls past its due time before the reactor runs it
        seen.append(clock.time())
        clock.call_soon(order.append, "first")  # wakes the reactor, which now runs the late timer
        assert running.wait(5)
        seen.append(clock.time())
        clock.call_soon(order.append, "second")
        release.set()
        assert clock.settle(5)
        seen.append(clock.time())
        assert seen == sorted(seen), f"virtual time went back: {seen}"
        assert order == ["first", "second"]
    finally:
        clock.stop()


def _fast_forward_run(clock, delays) -> tuple[list, float]:
    """Schedule a timer at each virtual delay, fast-forward, and return (virtual times run, wall seconds)."""
    seen, start = [], clock.time()
    for delay in delays:
        clock.call_later(delay, lambda: seen.append(round(clock.time() - start, 3)))
    wall = time.monotonic()
    clock.fast_forward(60)
    assert _wait_until(lambda: len(seen) == len(delays), timeout=30)
    return seen, time.monotonic() - wall


def test_fast_forward_jumps_gaps_shorter_than_the_grace_at_once(monkeypatch):
    """With the wall clock standing still, only jumps move virtual time: 200 kubelet-like steps 15 ms apart
    (each gap shorter than IDLE_GRACE) all run, each at its own virtual time, instead of waiting out gaps
    that a still wall never ends."""
    HandWall.install(monkeypatch)
    clock = Clock(speed=1.0)
    try:
        delays = [round(0.015 * (i + 1), 3) for i in range(200)]
        seen, _ = _fast_forward_run(clock, delays)
        assert seen == pytest.approx(delays, abs=0.0015)
    finally:
        clock.stop()


def test_fast_forward_keeps_a_quiet_spell_before_every_jump(clock):
    """Even jumps after which no watcher got anything wait IDLE_GRACE: a client late to end its fast-forward
    must not find the clock at the end of its lease (chapter 09's UDP entries expired that way under load)."""
    seen, wall = _fast_forward_run(clock, [float(i + 1) for i in range(25)])
    assert len(seen) == 25 and wall >= 24 * IDLE_GRACE
