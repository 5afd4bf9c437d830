"""Store watches: initial events, resume, selectors, compaction (410), streaming-list bookmarks."""

import threading

import pytest
from builders import pod

from helpers.sim.store import ApiError, Store


@pytest.fixture
def store():
    s = Store()
    s.create("namespaces", {"metadata": {"name": "default"}})
    s.create("namespaces", {"metadata": {"name": "other"}})
    return s


def drain(w):
    events = []
    while (e := w.get(0)) is not None:
        events.append((e["type"], e["object"]["metadata"].get("name")))
    return events


def test_watch_from_now_starts_with_current_objects(store):
    store.create("pods", pod("a"), namespace="default")
    store.create("pods", pod("z"), namespace="other")
    with store.watch("pods", "default") as w:
        store.create("pods", pod("b"), namespace="default")
        store.create("pods", pod("y"), namespace="other")
        assert drain(w) == [("ADDED", "a"), ("ADDED", "b")]


def test_resume_from_resource_version_replays_history(store):
    a = store.create("pods", pod("a"), namespace="default")
    store.create("pods", pod("b"), namespace="default")
    store.delete("pods", "a", "default")
    with store.watch("pods", "default", resource_version=a["metadata"]["resourceVersion"]) as w:
        assert drain(w) == [("ADDED", "b"), ("MODIFIED", "a"), ("DELETED", "a")]  # unbound: grace 0


def _deletion(w):
    """(type, deletionTimestamp set, deletionGracePeriodSeconds, generation) per event."""
    out = []
    while (e := w.get(0)) is not None:
        meta = e["object"]["metadata"]
        out.append((e["type"], "deletionTimestamp" in meta, meta.get("deletionGracePeriodSeconds"), meta.get("generation")))
    return out


def test_deletes_write_then_delete_as_kube_apiserver_does(store):
    """What a real kube-apiserver v1.37.0 sends a pod watch (tests/test_oracle_controlplane.py checks the
    same against it): every pod deletion first writes deletionTimestamp (and bumps generation once), even
    at grace 0; the kubelet's final grace-0 delete writes grace 0 before the DELETED. Objects without
    graceful deletion or finalizers go as stored."""
    runs = {"bound": (pod("bound", node="w1"), [None, 0]), "grace0": (pod("grace0", node="w1"), [0]),
            "unbound": (pod("unbound"), [None])}
    for name, (body, graces) in runs.items():
        created = store.create("pods", body, namespace="default")
        with store.watch("pods", "default", resource_version=created["metadata"]["resourceVersion"]) as w:
            for grace in graces:
                store.delete("pods", name, "default", grace_period_seconds=grace)
            runs[name] = _deletion(w)
    assert runs == {"bound": [("MODIFIED", True, 30, 2), ("MODIFIED", True, 0, 2), ("DELETED", True, 0, 2)],
                    "grace0": [("MODIFIED", True, 0, 2), ("DELETED", True, 0, 2)],
                    "unbound": [("MODIFIED", True, 0, 2), ("DELETED", True, 0, 2)]}
    cm = store.create("configmaps", {"metadata": {"name": "cm"}}, namespace="default")
    with store.watch("configmaps", "default", resource_version=cm["metadata"]["resourceVersion"]) as w:
        store.delete("configmaps", "cm", "default")
        assert _deletion(w) == [("DELETED", False, None, None)]


def test_compacted_resource_version_is_410(store):
    small = Store(history_size=2)
    small.create("namespaces", {"metadata": {"name": "default"}})
    first = small.create("pods", pod("a"), namespace="default")
    for name in "bcd":
        small.create("pods", pod(name), namespace="default")
    with pytest.raises(ApiError) as info:
        small.watch("pods", "default", resource_version=first["metadata"]["resourceVersion"])
    assert info.value.code == 410 and info.value.reason == "Expired"
    assert "too old resource version" in info.value.message
    latest = small.resource_version
    with small.watch("pods", resource_version=latest) as w:
        assert drain(w) == []


def test_label_selector_turns_relabels_into_added_and_deleted(store):
    store.create("pods", pod("a", labels={"app": "web"}), namespace="default")
    with store.watch("pods", "default", label_selector="app=web") as w:
        p = store.get("pods", "a", "default")
        p["metadata"]["labels"] = {"app": "db"}
        store.update("pods", p)
        p = store.get("pods", "a", "default")
        p["metadata"]["labels"] = {"app": "web", "v": "2"}
        store.update("pods", p)
        assert drain(w) == [("ADDED", "a"), ("DELETED", "a"), ("ADDED", "a")]


def test_field_selector_on_node_name(store):
    store.create("pods", pod("on1", node="n1"), namespace="default")
    store.create("pods", pod("on2", node="n2"), namespace="default")
    with store.watch("pods", field_selector="spec.nodeName=n1") as w:
        assert drain(w) == [("ADDED", "on1")]
    with pytest.raises(ApiError) as info:
        store.watch("pods", field_selector="spec.bogus=x")
    assert info.value.code == 400


def test_streaming_list_ends_initial_events_with_annotated_bookmark(store):
    store.create("pods", pod("a"), namespace="default")
    with store.watch("pods", "default", send_initial_events=True, allow_bookmarks=True,
                     resource_version="") as w:
        first, end = w.get(0), w.get(0)
        assert first["type"] == "ADDED"
        assert end["type"] == "BOOKMARK"
        assert end["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}
        assert end["object"]["metadata"]["resourceVersion"] == store.resource_version
        bookmark = w.bookmark()
        assert bookmark["type"] == "BOOKMARK" and "annotations" not in bookmark["object"]["metadata"]


def test_blocked_get_wakes_on_commit_and_stop(store):
    w = store.watch("pods", "default", resource_version=store.resource_version)
    results = []
    reader = threading.Thread(target=lambda: results.append(w.get(10)))
    reader.start()
    store.create("pods", pod("late"), namespace="default")
    reader.join(10)
    assert results[0]["type"] == "ADDED"
    stopper = threading.Thread(target=lambda: results.append(w.get(10)))
    stopper.start()
    w.stop()
    stopper.join(10)
    assert results[1] is None and not stopper.is_alive()


def test_concurrent_writers_and_watchers_see_every_event(store):
    watches = [store.watch("pods", "default", resource_version=store.resource_version) for _ in range(4)]

    def writer(prefix):
        for i in range(50):
            store.create("pods", pod(f"{prefix}-{i}"), namespace="default")

    threads = [threading.Thread(target=writer, args=(p,)) for p in "abc"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for w in watches:
        events = drain(w)
        assert len(events) == 150 and len(set(events)) == 150
        w.stop()
