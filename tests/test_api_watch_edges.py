"""Watch and list edges as a real API server has them: a bookmark just before a watch's deadline (the watch
cache's), and compaction by time window (every --etcd-compaction-interval) rather than by a count."""

import datetime as dt
import time

import pytest
from kubernetes import client, watch
from test_api_support import Harness, pod

from helpers.sim.server import next_bookmark_time
from helpers.sim.store import COMPACTION_INTERVAL_S, Store


class ManualClock:
    def __init__(self):
        self.t = 1_800_000_000.0

    def now(self):
        return dt.datetime.fromtimestamp(self.t, dt.UTC)


def test_next_bookmark_is_two_seconds_before_the_deadline_or_a_minute_away():
    assert next_bookmark_time(100.0, None, 60.0) == 160.0
    assert next_bookmark_time(100.0, 130.0, 60.0) == 128.0
    assert next_bookmark_time(100.0, 500.0, 60.0) == 160.0
    assert next_bookmark_time(129.0, 130.0, 60.0) is None  # the pre-timeout moment has passed


def test_a_watch_gets_a_bookmark_just_before_its_deadline():
    h = Harness()
    try:
        core = client.CoreV1Api(h.api)
        core.create_namespaced_pod("default", pod("bm"))
        start = time.monotonic()
        events = list(watch.Watch().stream(core.list_namespaced_pod, "default", allow_watch_bookmarks=True,
                                           timeout_seconds=3))
        took = time.monotonic() - start
        assert [e["type"] for e in events] == ["ADDED", "BOOKMARK"]
        bookmark = events[1]["raw_object"]
        assert bookmark["metadata"]["resourceVersion"] == h.store.resource_version
        assert took >= 2.5  # the stream stayed open to its deadline after the bookmark
        plain = list(watch.Watch().stream(core.list_namespaced_pod, "default", timeout_seconds=1))
        assert [e["type"] for e in plain] == ["ADDED"]  # no bookmarks unless asked for
    finally:
        h.stop()


def test_compaction_runs_every_interval_up_to_the_previous_tick():
    clock = ManualClock()
    store = Store(clock)
    store.create("namespaces", {"metadata": {"name": "default"}})
    first = store.create("pods", pod("a"), namespace="default")["metadata"]["resourceVersion"]
    for n in range(12_000):  # more than the old count-based limit of 10,000 events, within one interval
        store.patch("pods", "a", "default", patch_type="application/merge-patch+json",
                    body={"metadata": {"labels": {"n": str(n)}}})
    store.watch("pods", "default", resource_version=first).stop()  # nothing compacted yet
    clock.t += COMPACTION_INTERVAL_S + 1
    tick = store.create("pods", pod("b"), namespace="default")["metadata"]["resourceVersion"]
    store.watch("pods", "default", resource_version=first).stop()  # the first tick compacts nothing
    clock.t += COMPACTION_INTERVAL_S + 1
    store.create("pods", pod("c"), namespace="default")
    with pytest.raises(Exception) as info:
        store.watch("pods", "default", resource_version=first)
    assert getattr(info.value, "code", None) == 410 and "too old resource version" in str(info.value)
    store.watch("pods", "default", resource_version=tick).stop()  # written after the first tick: kept


def test_a_compacted_watch_is_410_through_the_python_client():
    clock = ManualClock()
    h = Harness(clock=clock)
    try:
        core = client.CoreV1Api(h.api)
        old = core.create_namespaced_pod("default", pod("old")).metadata.resource_version
        core.create_namespaced_pod("default", pod("newer"))
        for name in ("x", "y"):
            clock.t += COMPACTION_INTERVAL_S + 1
            core.create_namespaced_pod("default", pod(name))
        with pytest.raises(client.ApiException) as info:
            list(watch.Watch().stream(core.list_namespaced_pod, "default", resource_version=old, timeout_seconds=2))
        assert info.value.status == 410
    finally:
        h.stop()
