"""Watch-driven waits: list, then watch from that resourceVersion, until a condition holds.

No sleep polling: every check runs when the API server reports a change. Watches resume from the
last resourceVersion after the server closes a stream or sends a BOOKMARK, and relist after
410 Expired, as client-go's reflector does. Every wait is bounded and says what did not happen.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from contextlib import contextmanager

from helpers import simapi
from helpers.connect import ApiError, Backend, HelperError, current, resource
from helpers.kube import LABEL_SERVICE_NAME, epoch, obj_key
from helpers.tables import pod_ready

WATCH_WINDOW = 30  # seconds per watch request; the stream is then resumed from the last resourceVersion
PROGRESS_DELAY = 0.5  # a wait shorter than this shows no progress line
PROGRESS_INTERVAL = 0.1  # redraw the line at most this often (a 250-pod scale-up changes it ~500 times)
FAST_FORWARD_ENV = "ENDPOINTS_SIM_FAST_FORWARD"  # "0": simulated latencies take their full wall time

_fast_lock = threading.Lock()
_fast_leases: dict[str, list] = {}  # simulator URL -> [lease, waits in progress] of this process


class WaitTimeout(HelperError):
    """A wait ran out of time before its condition held."""


@contextmanager
def fast_forward(backend: Backend, seconds: float):
    """While the caller waits, let the simulator skip idle gaps (image pulls, sync periods, grace periods).

    Virtual time jumps to the simulator's next scheduled step after a short quiet spell instead of
    waiting it out, so a wait costs the work it needs, not the latencies it models; what happens and
    when (on the cluster's clock) is unchanged. Nested waits share this process's lease (other kernels
    hold their own); on kind, or with ``ENDPOINTS_SIM_FAST_FORWARD=0`` (a workshop that wants real
    pacing), this does nothing.
    """
    if not backend.is_sim or os.environ.get(FAST_FORWARD_ENV, "1") == "0":
        yield
        return
    with _fast_lock:
        entry = _fast_leases.setdefault(backend.url, [None, 0])
        entry[1] += 1
        outer = entry[1] == 1
    try:
        if outer:  # bounded like the wait itself, so a crashed kernel cannot leave it on
            entry[0] = simapi.fast_forward(backend, seconds + 5)["lease"]
        yield
    finally:
        with _fast_lock:
            entry[1] -= 1
            lease = entry[0] if entry[1] == 0 else None
        if lease is not None:
            simapi.fast_forward(backend, 0, lease)


def cluster_now(backend: Backend) -> float:
    """Epoch seconds on the cluster's clock: the simulator's virtual time, or the wall clock on kind."""
    if not backend.is_sim:
        return time.time()
    return epoch(simapi.clock(backend)["virtualTime"])


def watch_events(backend: Backend, kind: str, *, namespace=None, selector=None, field_selector=None,
                 timeout: float = 60, stopped=lambda: False, on_stream=lambda stream: None):
    """Yield ("SYNC", items) after each (re)list, then (type, object) for every change until timeout.

    ``stopped()`` is checked after every event; ``on_stream(stream)`` receives each open watch so
    another thread can close it (that is how Trace.stop() unblocks its readers).
    """
    deadline = time.monotonic() + timeout
    res = resource(kind)
    rv = None
    while not stopped() and (remaining := deadline - time.monotonic()) > 0:
        if rv is None:
            items, rv = backend.list(kind, namespace, selector=selector, field_selector=field_selector)
            yield "SYNC", items
            continue
        query = {"watch": "true", "resourceVersion": rv, "allowWatchBookmarks": "true",
                 "labelSelector": selector, "fieldSelector": field_selector,
                 "timeoutSeconds": max(1, min(WATCH_WINDOW, int(remaining + 0.999)))}
        try:
            stream = backend.stream(res.path(namespace), query=query, timeout=remaining + 5)
        except ApiError as err:
            if err.code != 410:
                raise
            rv = None  # our resourceVersion is too old: relist
            continue
        on_stream(stream)
        try:
            for event in stream:
                etype, obj = event.get("type"), event.get("object") or {}
                if etype == "ERROR":
                    if obj.get("code") != 410:
                        raise ApiError(obj)
                    rv = None
                    break
                rv = obj.get("metadata", {}).get("resourceVersion") or rv
                if etype != "BOOKMARK":
                    obj.setdefault("kind", res.kind)
                    yield etype, obj
                if stopped() or time.monotonic() >= deadline:
                    return
        finally:
            stream.close()


def render_bar(done: int, total: int, noun: str, width: int = 24) -> str:
    """A text progress bar like ``[#########-----]  237/250 pods Ready``."""
    filled = width if total <= 0 else min(width, width * done // total)
    return f"[{'#' * filled}{'-' * (width - filled)}] {done:>{len(str(total))}}/{total} {noun}"


def _in_notebook() -> bool:
    shell = sys.modules.get("IPython") and sys.modules["IPython"].get_ipython()
    return bool(shell) and hasattr(shell, "kernel")


class Progress:
    """One progress line, updated in place; it appears once a wait takes longer than PROGRESS_DELAY."""

    def __init__(self):
        self.start = time.monotonic()
        self.text = ""
        self._handle = None
        self._shown = False
        self._last = ""
        self._drawn_at = 0.0

    def update(self, done: int, total: int, noun: str) -> None:
        self.text = render_bar(done, total, noun)
        now = time.monotonic()
        if (self.text != self._last and now - self.start >= PROGRESS_DELAY
                and now - self._drawn_at >= PROGRESS_INTERVAL):
            self._show(self.text)
            self._drawn_at = now

    def finish(self) -> None:
        if self._shown:
            self._show(f"{self.text} ({time.monotonic() - self.start:.1f} s)")
            if self._handle is None:
                sys.stdout.write("\n")
                sys.stdout.flush()

    def _show(self, text: str) -> None:
        if _in_notebook():
            from IPython.display import display

            bundle = {"text/plain": text}
            if self._handle is None:
                self._handle = display(bundle, raw=True, display_id=True)
            else:
                self._handle.update(bundle, raw=True)
        else:  # pad, so a shorter line fully covers the previous one
            sys.stdout.write("\r" + text.ljust(len(self._last)))
            sys.stdout.flush()
        self._last = text
        self._shown = True


def wait_for(kind: str, predicate, *, namespace=None, selector=None, field_selector=None, timeout: float = 60,
             what: str = "the condition", hint: str = "", progress=None, backend: Backend | None = None) -> list:
    """Wait until ``predicate(objects)`` holds for the matching objects; return them.

    ``progress(objects) -> (done, total, noun)`` drives the progress line.
    """
    backend = backend or current()
    state: dict = {}
    bar = Progress()
    with fast_forward(backend, timeout):
        for etype, obj in watch_events(backend, kind, namespace=namespace, selector=selector,
                                       field_selector=field_selector, timeout=timeout):
            if etype == "SYNC":
                state = {obj_key(o): o for o in obj}
            elif etype == "DELETED":
                state.pop(obj_key(obj), None)
            else:
                state[obj_key(obj)] = obj
            objects = [state[k] for k in sorted(state)]
            if progress:
                bar.update(*progress(objects))
            if predicate(objects):
                bar.finish()
                return objects
    bar.finish()
    where = f" in namespace {namespace}" if namespace else ""
    got = f" (last seen: {bar.text.split('] ')[-1]})" if bar.text else ""
    raise WaitTimeout(f"timed out after {timeout:g} s waiting for {what}{where}{got}",
                      hint or f"inspect the objects: h.kubectl('get', '{kind}'"
                      + (f", '-n', '{namespace}')" if namespace else ")"))


def wait_for_ready(namespace: str, selector=None, count: int | None = None, *, timeout: float = 120,
                   backend: Backend | None = None) -> list:
    """Wait until ``count`` pods (default: every matching pod, at least one) are Ready."""

    def live(pods):
        return [p for p in pods if not p["metadata"].get("deletionTimestamp")]

    def progress(pods):
        pods = live(pods)
        return sum(map(pod_ready, pods)), count if count is not None else len(pods), "pods Ready"

    def done(pods):
        ready, total, _ = progress(pods)
        return ready >= total and (count is not None or total > 0)

    return wait_for("pods", done, namespace=namespace, selector=selector, timeout=timeout, progress=progress,
                    what=f"{count if count is not None else 'all'} pods{' ' + selector if selector else ''} "
                         "to be Ready",
                    hint=f"check h.pods_table('{namespace}'): Pending pods have no node yet; pods with a "
                         "readiness gate stay unready until h.set_ready(pod) is called",
                    backend=backend)


def slice_counts(slices: list) -> tuple[int, int]:
    """(endpoints, ready endpoints) over a Service's EndpointSlices."""
    eps = [ep for s in slices for ep in s.get("endpoints") or []]
    return len(eps), sum(1 for ep in eps if (ep.get("conditions") or {}).get("ready") is True)


def wait_for_slices(namespace: str, service: str, *, endpoints: int | None = None, ready: int | None = None,
                    timeout: float = 60, backend: Backend | None = None) -> list:
    """Wait until the Service's EndpointSlices hold ``endpoints`` endpoints (``ready`` of them ready).

    At least one slice must exist (an empty placeholder counts), so ``endpoints=0`` waits for it.
    """

    first: list[int] = []  # the count when the wait began: scaling down counts removals, not a shrinking total

    def progress(slices):
        total, nready = slice_counts(slices)
        count, target, noun = ((nready, ready, "endpoints ready in slices") if ready is not None
                               else (total, endpoints if endpoints is not None else 1, "endpoints in slices"))
        first[:] = first or [count]
        if first[0] > target:
            return first[0] - count, first[0] - target, f"endpoints gone from slices ({count} left)"
        return count, target, noun

    def done(slices):  # a selector Service always has a slice (the placeholder when it selects nothing)
        total, nready = slice_counts(slices)
        return bool(slices) and (endpoints is None or total == endpoints) and (ready is None or nready == ready)

    want = " and ".join(f"{n} {w}" for n, w in ((endpoints, "endpoints"), (ready, "ready endpoints"))
                        if n is not None) or "a slice"
    return wait_for("endpointslices", done, namespace=namespace,
                    selector=f"{LABEL_SERVICE_NAME}={service}", timeout=timeout, progress=progress,
                    what=f"EndpointSlices of Service {service} to hold {want}",
                    hint=f"compare h.pods_table('{namespace}') with h.slices_table('{namespace}', "
                         f"service='{service}'): does the Service selector match the pods?",
                    backend=backend)


def wait_for_deleted(kind: str, name: str, namespace=None, *, timeout: float = 60,
                     backend: Backend | None = None) -> None:
    """Wait until the named object no longer exists."""
    wait_for(kind, lambda objs: not objs, namespace=namespace, field_selector=f"metadata.name={name}",
             timeout=timeout, what=f"{kind} {name} to be deleted",
             hint="something holds it (a finalizer, or pods still terminating); "
                  f"look at h.kubectl('get', '{kind}', '{name}', '-o', 'yaml')", backend=backend)
