"""The virtual clock: the simulation's single-threaded event loop.

Every simulated component runs its work on the clock's one reactor thread, so components need
no locks among themselves. Virtual time runs at `speed` times wall time plus an offset that
`advance()` grows: "advance 5 minutes" runs every timer due in those 5 minutes, in order, in a
fraction of a second of wall time. Virtual time never passes a timer the reactor has not run, so
every thread sees it go forward only and work submitted in order runs in that order.

While someone waits for the cluster (a helper's `wait_for`), `fast_forward()` lets the reactor
skip idle gaps: once nothing has happened for IDLE_GRACE of wall time, virtual time jumps to the
next timer instead of waiting for it; a gap shorter than IDLE_GRACE is jumped at once (250 pods
started together leave a few milliseconds between their kubelet steps, which at speed 1 add up to
seconds). Order and virtual timing stay exact; only dead wall time goes.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time as _time
from datetime import UTC, datetime

log = logging.getLogger(__name__)

IDLE_GRACE = 0.02  # wall seconds of quiet before a fast-forwarding reactor jumps to its next timer


class Timer:
    """A scheduled call; `cancel()` prevents it from running (a no-op once it ran)."""

    __slots__ = ("args", "cancelled", "due", "fn")

    def __init__(self, due: float, fn, args: tuple):
        self.due, self.fn, self.args, self.cancelled = due, fn, args, False

    def cancel(self) -> None:
        self.cancelled = True


class Clock:
    """Virtual time plus a reactor thread that runs due timers in (due time, submission) order."""

    def __init__(self, speed: float = 1.0, start: float | None = None):
        if speed <= 0:
            raise ValueError(f"clock speed must be positive, got {speed!r}")
        self.speed = float(speed)
        self._wall0 = _time.monotonic()
        self._virtual0 = _time.time() if start is None else float(start)
        self._offset = 0.0
        self._pinned: float | None = None  # virtual time while a timer runs (see _execute)
        self._last_due = float("-inf")
        self._heap: list[tuple[float, int, Timer]] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._busy = False
        self._stopped = False
        self._leases: dict[int, float] = {}  # fast-forward lease -> its wall monotonic deadline
        self._lease_ids = itertools.count(1)
        self._thread = threading.Thread(target=self._run, name="sim-clock", daemon=True)
        self._thread.start()

    # -- time ---------------------------------------------------------------------------------
    def time(self) -> float:
        """Virtual epoch seconds, the same on every thread and never going back.

        Held at a timer's due time while it runs (so runs are exact), and never past a timer that
        has not run: when the reactor is behind, virtual time waits for it. Otherwise a thread that
        read the running time (ahead of a late timer) and then the late timer's pinned time would see
        time go back, and work it submits later would get an earlier slot than work it submitted
        first (events delivered out of order)."""
        with self._cond:
            if self._pinned is not None:
                return self._pinned
            running = self._running_time()
            return min(running, self._heap[0][0]) if self._heap else running

    def _running_time(self) -> float:
        return self._virtual0 + (_time.monotonic() - self._wall0) * self.speed + self._offset

    def now(self) -> datetime:
        """Virtual time as an aware UTC datetime."""
        return datetime.fromtimestamp(self.time(), UTC)

    # -- scheduling -----------------------------------------------------------------------------
    def call_soon(self, fn, *args) -> Timer:
        """Run `fn(*args)` on the reactor thread as soon as possible (after earlier work)."""
        return self.call_later(0.0, fn, *args)

    def call_later(self, delay_s: float, fn, *args) -> Timer:
        """Run `fn(*args)` on the reactor thread once `delay_s` virtual seconds have passed."""
        with self._cond:  # read the time under the lock: submissions in order get dues in order
            timer = Timer(self.time() + max(0.0, float(delay_s)), fn, args)
            heapq.heappush(self._heap, (timer.due, next(self._seq), timer))
            self._cond.notify_all()
        return timer

    def in_reactor(self) -> bool:
        """True when called from the reactor thread (i.e. from component work)."""
        return threading.current_thread() is self._thread

    # -- fast-forward and test support -------------------------------------------------------
    def advance(self, seconds: float, timeout: float = 60.0) -> datetime:
        """Jump virtual time forward by `seconds`, running every timer due on the way, in order.

        Timers scheduled by those timers within the window run too (a lease renewed every 10 s
        renews 30 times over 5 minutes). Returns the new virtual time.
        """
        if seconds < 0:
            raise ValueError(f"cannot advance the clock by a negative amount ({seconds})")
        if self.in_reactor():
            self._advance_inline(seconds)
            return self.now()
        done = threading.Event()
        self.call_soon(self._advance_then_signal, float(seconds), done)
        if not done.wait(timeout):
            raise TimeoutError(f"clock advance of {seconds}s did not finish within {timeout}s")
        return self.now()

    def fast_forward(self, seconds: float, lease: int | None = None) -> int | None:
        """Skip idle gaps for the next `seconds` of wall time; returns the lease that asked for it.

        The caller is waiting for the cluster: nothing outside the simulation is expected to
        happen, so waiting out a modelled latency (an image pull, a sync period) only costs wall
        time. The grace period lets a watching client see the last change, and end its lease,
        before the next jump. Several waiters (kernels of different notebooks) hold leases of their
        own; the clock skips while any is live. `seconds=0` ends `lease`, or every lease if None.
        """
        if seconds < 0:
            raise ValueError(f"cannot fast-forward for a negative time ({seconds})")
        with self._cond:
            if not seconds:
                if lease is None:
                    self._leases.clear()
                else:
                    self._leases.pop(lease, None)
                return None
            lease = lease if lease in self._leases else next(self._lease_ids)
            self._leases[lease] = _time.monotonic() + seconds
            self._cond.notify_all()
            return lease

    @property
    def fast_forwarding(self) -> bool:
        now = _time.monotonic()
        return any(deadline > now for deadline in list(self._leases.values()))

    def settle(self, timeout: float = 10.0) -> bool:
        """Block until no timer is due now and the reactor is idle; False on timeout.

        Tests call this after a write so that the work it triggers (and the immediate work that
        work triggers) has run before they assert. Timers due later do not count.
        """
        deadline = _time.monotonic() + timeout
        with self._cond:
            while self._busy or (self._heap and self._heap[0][0] <= self._running_time()):
                remaining = deadline - _time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(min(remaining, 0.05))
        return True

    def stop(self) -> None:
        """Stop the reactor thread; pending timers are dropped."""
        with self._cond:
            self._stopped = True
            self._heap.clear()  # and no longer hold virtual time back
            self._cond.notify_all()
        if not self.in_reactor():
            self._thread.join(timeout=5)

    # -- reactor ------------------------------------------------------------------------------
    def _advance_then_signal(self, seconds: float, done: threading.Event) -> None:
        try:
            self._advance_inline(seconds)
        finally:
            done.set()

    def _advance_inline(self, seconds: float) -> None:
        target = self.time() + seconds
        try:
            while (timer := self._pop_due(target)) is not None:
                self._execute(timer, keep_pinned=True)
        finally:
            with self._cond:  # catch up, then unpin: no thread sees a time between the two
                self._offset += max(0.0, target - self._running_time())
                self._pinned = None

    def _pop_due(self, limit: float) -> Timer | None:
        with self._cond:
            while self._heap and self._heap[0][0] <= limit:
                timer = self._take()
                if not timer.cancelled:
                    return timer
        return None

    def _take(self) -> Timer:
        """(Lock held.) Pop the next timer and pin virtual time to its due time in one step, so no
        thread reads a time past it before it runs."""
        _, _, timer = heapq.heappop(self._heap)
        if not timer.cancelled:
            self._pinned = self._last_due = max(timer.due, self._last_due)
        return timer

    def _run(self) -> None:
        while True:
            with self._cond:
                self._busy = False
                self._cond.notify_all()
                while not self._stopped:
                    if self._heap and self._heap[0][2].cancelled:
                        heapq.heappop(self._heap)
                        continue
                    wait = (self._heap[0][0] - self._running_time()) / self.speed if self._heap else None
                    if wait is not None and wait <= 0:
                        break
                    if wait is not None and self.fast_forwarding:
                        if wait > IDLE_GRACE:
                            self._skip_idle_gap(self._heap[0])
                        else:  # mid-burst (pods started together): waiting out each short gap adds up
                            self._offset += max(0.0, self._heap[0][0] - self._running_time())
                        continue
                    self._cond.wait(wait)
                if self._stopped:
                    return
                timer = self._take()
                self._busy = True
            self._execute(timer)

    def _skip_idle_gap(self, head: tuple) -> None:
        """(Lock held.) After IDLE_GRACE of quiet with the same next timer, jump to it.

        Any notification (new work scheduled, even for later) restarts the quiet spell: whoever
        scheduled it is still active, and a client may be reading the change it caused.
        Every jump keeps the spell, even one after which no watcher got anything: a waiting client
        may be late to end its fast-forward (a loaded machine), and jumps without a spell would carry
        the clock to the end of its lease in that time (timers such as UDP conntrack expiry then fire).
        """
        if self._cond.wait(IDLE_GRACE):
            return
        if self._heap and self._heap[0] is head and self.fast_forwarding and not self._stopped:
            self._offset += max(0.0, head[0] - self._running_time())

    def _execute(self, timer: Timer, keep_pinned: bool = False) -> None:
        """Run one timer with the clock held at its due time.

        The work sees exactly its "now" and what it schedules lands exactly `delay` later, so
        periods do not drift; and when the reactor falls behind (a burst of work, a slow machine)
        virtual time waits for it instead of running ahead: a lease renewal that runs late still
        carries the time it was due, so a busy simulator never looks like a dead node.
        """
        timer.cancelled = True  # a Timer runs at most once (pinned by _take)
        try:
            timer.fn(*timer.args)
        except Exception:  # one component's bug must not stop the whole simulation
            log.exception("simulated component work %r failed", timer.fn)
        finally:
            if not keep_pinned:
                self._pinned = None
