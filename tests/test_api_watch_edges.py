"""Watch and list edges as a real API server has them: a bookmark just before a watch's deadline (the watch
cache's), and compaction by time window (every --etcd-compaction-interval) rather than by a count."""

import datetime as dt
import json
import threading
import time
import urllib.error
import urllib.request

import pytest
from apiharness import Harness
from builders import pod
from kubernetes import client, watch

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


# -- resourceVersionMatch: Exact and NotOlderThan (tests/test_oracle_listoptions.py compares the rest) ----
def test_exact_lists_read_history_and_410_once_compacted():
    """An Exact list is the state at that revision (etcd serves any it has not compacted); once compaction
    passed it, etcd's 410 (pkg/storage/etcd3/errors.go interpretListError, v1.36.1)."""
    h = Harness()
    try:
        core = client.CoreV1Api(h.api)
        first = core.create_namespaced_pod("default", pod("a")).metadata.resource_version
        core.create_namespaced_pod("default", pod("b"))
        exact = core.list_namespaced_pod("default", resource_version=first, resource_version_match="Exact")
        assert [p.metadata.name for p in exact.items] == ["a"] and exact.metadata.resource_version == first
        newer = core.list_namespaced_pod("default", resource_version=first, resource_version_match="NotOlderThan")
        assert [p.metadata.name for p in newer.items] == ["a", "b"]
        assert newer.metadata.resource_version == h.store.resource_version
        h.store.compact()
        with pytest.raises(client.ApiException) as info:
            core.list_namespaced_pod("default", resource_version=first, resource_version_match="Exact")
        assert info.value.status == 410
        assert json.loads(info.value.body)["message"] == "The resourceVersion for the provided list is too old."
    finally:
        h.stop()


def test_a_future_revision_waits_for_the_write_or_is_504_with_retry_after():
    """waitUntilFreshAndBlock: a list of a revision not reached yet waits (3 s upstream) and is answered as
    soon as a write reaches it; otherwise 504 Timeout with Retry-After: 1 (apiserver watch_cache.go)."""
    h = Harness()
    h.server.block_timeout = 0.5
    try:
        url = f"{h.server.url}/api/v1/namespaces/default/pods?resourceVersionMatch=NotOlderThan&resourceVersion="
        wanted = int(h.store.resource_version) + 1
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(url + str(wanted + 5), timeout=10)
        assert info.value.code == 504 and info.value.headers["Retry-After"] == "1"
        body = json.loads(info.value.read())
        assert body["message"] == f"Timeout: Too large resource version: {wanted + 5}, current: {wanted - 1}"
        assert body["details"] == {"causes": [{"reason": "ResourceVersionTooLarge",
                                               "message": "Too large resource version"}], "retryAfterSeconds": 1}
        h.server.block_timeout = 30.0
        waiting, wait = threading.Event(), h.store.wait_for_revision

        def noted(rv, timeout):
            waiting.set()
            return wait(rv, timeout)

        h.store.wait_for_revision = noted
        answer = {}
        reader = threading.Thread(target=lambda: answer.update(json.loads(urllib.request.urlopen(
            url + str(wanted), timeout=60).read())))
        began = time.monotonic()
        reader.start()
        assert waiting.wait(10), "the list did not wait for the revision"
        h.store.create("pods", pod("late"), namespace="default")
        reader.join(timeout=30)
        assert time.monotonic() - began < 15  # woken by the write, not by the 30 s bound
        assert [p["metadata"]["name"] for p in answer["items"]] == ["late"]
        assert answer["metadata"]["resourceVersion"] == str(wanted)
    finally:
        h.stop()
