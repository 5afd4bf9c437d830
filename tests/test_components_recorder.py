"""The EventRecorder's aggregation cache is bounded like client-go's eventLogger LRU (4096 keys)."""

from builders import ControllerHarness

from helpers.sim.controllers.recorder import MAX_LRU_CACHE_ENTRIES


def test_repeats_aggregate_until_the_key_is_evicted_from_the_lru():
    h = ControllerHarness()
    try:
        pod = {"metadata": {"name": "p", "namespace": "ns", "uid": "u1"}, "kind": "Pod", "apiVersion": "v1"}
        first = h.recorder.event(pod, "Normal", "Pulled", "message 0", "kubelet")
        kept = h.recorder.event(pod, "Normal", "Pulled", "message 1", "kubelet")
        for i in range(2, MAX_LRU_CACHE_ENTRIES + 1):  # one more distinct key than the LRU holds
            if i == MAX_LRU_CACHE_ENTRIES // 2:
                assert h.recorder.event(pod, "Normal", "Pulled", "message 1", "kubelet")["count"] == 2  # used again
            h.recorder.event(pod, "Normal", "Pulled", f"message {i}", "kubelet")
        assert len(h.recorder._seen) == MAX_LRU_CACHE_ENTRIES
        again = h.recorder.event(pod, "Normal", "Pulled", "message 0", "kubelet")  # evicted: a new Event
        assert again["metadata"]["name"] != first["metadata"]["name"] and again.get("count", 1) == 1
        recent = h.recorder.event(pod, "Normal", "Pulled", "message 1", "kubelet")  # kept by its use
        assert recent["metadata"]["name"] == kept["metadata"]["name"] and recent["count"] == 3
    finally:
        h.stop()


def test_events_expire_an_event_ttl_after_their_last_write():
    """kube-apiserver --event-ttl (1h): each write renews an Event's etcd lease; expiry deletes it."""
    h = ControllerHarness()
    try:
        ttl = h.store.event_ttl
        assert ttl == 3600.0
        pod = {"metadata": {"name": "p", "namespace": "ns", "uid": "u1"}, "kind": "Pod", "apiVersion": "v1"}
        once = h.recorder.event(pod, "Normal", "Scheduled", "once", "scheduler")
        renewed = h.recorder.event(pod, "Normal", "Pulled", "again", "kubelet")
        watch = h.store.watch("events", "ns")
        h.clock.advance(ttl - 60)
        assert h.recorder.event(pod, "Normal", "Pulled", "again", "kubelet")["count"] == 2  # a new lease
        h.clock.advance(59)
        assert {e["metadata"]["name"] for e in h.events()} == {once["metadata"]["name"], renewed["metadata"]["name"]}
        h.clock.advance(2)
        assert [e["metadata"]["name"] for e in h.events()] == [renewed["metadata"]["name"]]
        h.clock.advance(ttl)
        assert h.events() == []
        seen = []
        while (event := watch.get(timeout=0)) is not None:
            seen.append(event)
        assert [(e["type"], e["object"]["metadata"]["name"]) for e in seen if e["type"] != "ADDED"] == [
            ("MODIFIED", renewed["metadata"]["name"]), ("DELETED", once["metadata"]["name"]),
            ("DELETED", renewed["metadata"]["name"])]
        watch.stop()
    finally:
        h.stop()
