"""The EndpointSlice controller shell on a real Store and Clock.

Configuration, echoes of its own writes, foreign edits and deletes, retries.
"""

from __future__ import annotations

from collections import Counter

import pytest
from builders import ControllerHarness

from helpers.kube import ENDPOINT_SLICES
from helpers.sim.controllers.endpointslice import EndpointSliceController


@pytest.fixture
def harness():
    made = []

    def make(**config):
        h = ControllerHarness(**config)
        made.append(h)
        return h

    yield make
    for h in made:
        h.stop()


def add_node(h, name):
    h.store.create("nodes", {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}})


def add_pod(h, i, node="n1", ready=True):
    pod = h.store.create(
        "pods",
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": f"p{i}", "namespace": "ns", "labels": {"app": "a"}},
            "spec": {"nodeName": node, "containers": [{"name": "c", "image": "img"}]},
        },
        namespace="ns",
    )
    ip = f"10.0.0.{i + 1}"
    pod["status"] = {
        "phase": "Running",
        "podIP": ip,
        "podIPs": [{"ip": ip}],
        "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
    }
    return h.store.update("pods", pod, subresource="status")


def add_service(h):
    h.store.create(
        "services",
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "svc"},
            "spec": {"selector": {"app": "a"}, "ports": [{"port": 80}]},
        },
        namespace="ns",
    )


def start(h):
    add_service(h)
    controller = EndpointSliceController(h)
    controller.start()
    h.clock.advance(1)
    return controller


def slices(h):
    return h.store.list(ENDPOINT_SLICES, "ns")[0]


def test_configured_max_endpoints_per_slice_and_one_update_per_flip(harness):
    h = harness(max_endpoints_per_slice=5)
    add_node(h, "n1")
    for i in range(12):
        add_pod(h, i)
    controller = start(h)
    assert Counter(len(s["endpoints"]) for s in slices(h)) == Counter({5: 2, 2: 1})
    placed = controller.decisions("ns", "svc")[-1]["placements"]
    assert len(placed) == 12 and {where.split(":")[0] for where in placed.values()} == {
        s["metadata"]["name"] for s in slices(h)
    }
    syncs = len(controller.decisions("ns", "svc"))
    pod = h.store.get("pods", "p3", "ns")
    pod["status"]["conditions"][0]["status"] = "False"
    h.store.update("pods", pod, subresource="status")
    h.clock.advance(2)
    history = controller.decisions("ns", "svc")
    assert len(history) == syncs + 1  # our own slice writes did not trigger another sync
    assert history[-1]["writes"] == {"create": 0, "update": 1, "delete": 0}
    (note,) = history[-1]["notes"]
    assert note["slice"].startswith("svc-") and note["slice"] in {s["metadata"]["name"] for s in slices(h)}
    assert note["reasons"] == [{"reason": "endpoints-changed", "count": 1, "change": "became not ready"}]
    assert history[-1]["explanations"] == [f"slice {note['slice']} updated (5 endpoints): 1 endpoint became not ready"]


def test_max_endpoints_per_slice_out_of_range_is_refused(harness):
    with pytest.raises(ValueError, match="1..1000"):
        EndpointSliceController(harness(max_endpoints_per_slice=1001))


def test_foreign_edit_of_our_slice_is_reverted_after_one_second(harness):
    h = harness()
    add_node(h, "n1")
    add_pod(h, 0)
    start(h)
    (s,) = slices(h)
    s["endpoints"][0]["conditions"]["ready"] = False
    h.store.update(ENDPOINT_SLICES, s)
    h.clock.advance(0.5)
    assert not slices(h)[0]["endpoints"][0]["conditions"]["ready"]
    h.clock.advance(1)
    assert slices(h)[0]["endpoints"][0]["conditions"]["ready"]


def test_missing_node_is_retried_with_backoff_not_on_node_add(harness):
    h = harness()
    add_pod(h, 0, node="late")
    controller = start(h)
    assert not slices(h)[0].get("endpoints")
    assert "Node late Not Found" in controller.decisions("ns", "svc")[-1]["error"]
    h.clock.advance(1.5)  # retries at +1 s, +2 s, +4 s ...
    retried = len(controller.decisions("ns", "svc"))
    add_node(h, "late")
    h.clock.advance(0.2)
    assert not slices(h)[0].get("endpoints")  # a new Node does not resync the Service
    h.clock.advance(4)
    assert [ep["targetRef"]["name"] for ep in slices(h)[0]["endpoints"]] == ["p0"]
    assert (
        len(controller.decisions("ns", "svc")) > retried
        and controller.decisions("ns", "svc")[-1]["error"] is None
    )


def test_foreign_delete_of_our_slice_is_repaired(harness):
    h = harness()
    add_node(h, "n1")
    add_pod(h, 0)
    controller = start(h)
    (s,) = slices(h)
    h.store.delete(ENDPOINT_SLICES, s["metadata"]["name"], "ns")
    h.clock.advance(1.5)
    (again,) = slices(h)
    assert again["metadata"]["name"] != s["metadata"]["name"]
    assert [ep["targetRef"]["name"] for ep in again["endpoints"]] == ["p0"]
    assert controller.decisions("ns", "svc")[-1]["writes"] == {"create": 1, "update": 0, "delete": 0}


def test_a_deleted_services_decisions_go_with_it(harness):
    h = harness()
    add_node(h, "n1")
    add_pod(h, 0)
    controller = start(h)
    assert controller.decisions("ns", "svc")
    h.store.delete("services", "svc", "ns")
    h.clock.advance(1)
    assert controller.decisions("ns", "svc") == []
    add_service(h)  # the same name again: its history starts empty, then records its own first sync
    h.clock.advance(1)
    (first,) = controller.decisions("ns", "svc")
    assert first["desiredEndpoints"] == 1 and first["error"] is None


def tracked(uid, generation, service="svc", namespace="ns"):
    return {"metadata": {"uid": uid, "generation": generation, "namespace": namespace,
                         "labels": {"kubernetes.io/service-name": service}}}


def test_tracker_stale_slices_as_upstream():
    """The cases of upstream TestEndpointSliceTrackerStaleSlices (endpointslice_tracker_test.go, v1.36.1)."""
    from helpers.controlplane.endpointslice.endpointslice_tracker import EndpointSliceTracker

    svc = {"metadata": {"name": "svc", "namespace": "ns"}}
    cases = [  # (tracker writes, expected deletions, slices in the cache, stale?)
        ([], [], [tracked("a", 1)], False),  # nothing tracked for the Service
        ([tracked("a", 1)], [], [tracked("a", 1)], False),  # cache holds what we wrote
        ([tracked("a", 1)], [], [tracked("a", 2)], False),  # cache is newer (someone else's write)
        ([tracked("a", 2)], [], [tracked("a", 1)], True),  # cache older than our write
        ([tracked("a", 1)], [], [], True),  # we created it, the cache does not hold it yet
        ([], [tracked("a", 1)], [tracked("a", 1)], True),  # we deleted it, the cache still holds it
        ([], [tracked("a", 1)], [], False),  # deletion expected and gone from the cache
    ]
    for writes, deletions, cache, stale in cases:
        tracker = EndpointSliceTracker()
        for s in writes:
            tracker.update(s)
        for s in deletions:
            tracker.expect_deletion(s)
        assert tracker.stale_slices(svc, cache) is stale, (writes, deletions, cache)
    tracker = EndpointSliceTracker()
    tracker.update(tracked("a", 3))
    assert not tracker.should_sync(tracked("a", 3)) and tracker.should_sync(tracked("a", 4))
    assert tracker.should_sync(tracked("b", 1)) and tracker.should_sync(tracked("a", 1, service="other"))
    assert tracker.handle_deletion(tracked("a", 3)) is False  # not a deletion we asked for: resync
    tracker.expect_deletion(tracked("b", 1))
    assert tracker.handle_deletion(tracked("b", 1)) is True
    tracker.update(tracked("c", 1))
    tracker.delete_service("ns", "svc")
    assert not tracker.stale_slices(svc, []) and not tracker.has(tracked("c", 1))


def endpoint_copies(h) -> Counter:
    return Counter(ep["targetRef"]["name"] for s in slices(h) for ep in s.get("endpoints") or [])


def lagging_controller(h, stale_check):
    """A controller whose slice informer lags 3 s: it syncs once (a slice with p0), then pod p1 appears."""
    add_node(h, "n1")
    add_pod(h, 0)
    add_service(h)
    controller = EndpointSliceController(h)
    controller.start()
    controller.set_slice_informer(lag=3, stale_check=stale_check)
    h.clock.advance(0.1)
    add_pod(h, 1)
    return controller


def test_a_lagging_slice_informer_makes_duplicates_without_the_stale_check(harness):
    """kubernetes/kubernetes#100033: a sync before the cache holds the slice just created creates another."""
    h = harness()
    controller = lagging_controller(h, stale_check=False)  # first sync: creates a slice with p0; then p1 appears
    h.clock.advance(0.5)  # second sync: its cache holds no slice yet, so it creates one with p0 and p1
    assert len(slices(h)) == 2 and endpoint_copies(h) == Counter({"p0": 2, "p1": 1})
    h.clock.advance(5)  # the cache catches up, but our own writes trigger no sync: the duplicate stays
    assert endpoint_copies(h)["p0"] == 2
    assert all(d["error"] is None for d in controller.decisions("ns", "svc"))


def test_the_stale_check_retries_until_the_cache_holds_our_writes(harness):
    h = harness()
    controller = lagging_controller(h, stale_check=True)
    for _ in range(40):  # never a duplicate, whatever the moment
        h.clock.advance(0.25)
        assert max(endpoint_copies(h).values()) == 1
    assert endpoint_copies(h) == Counter({"p0": 1, "p1": 1}) and len(slices(h)) == 1
    errors = [d["error"] for d in controller.decisions("ns", "svc")]
    assert "EndpointSlice informer cache is out of date" in errors and errors[-1] is None
    with pytest.raises(ValueError, match="0 to 60"):
        controller.set_slice_informer(lag=61)
