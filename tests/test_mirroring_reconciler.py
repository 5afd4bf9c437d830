"""Upstream EndpointSliceMirroring reconciler cases (kubernetes/kubernetes v1.37.0
`pkg/controller/endpointslicemirroring/reconciler_test.go` TestReconcile), numbered M1-M8 here, through
`reconcile_mirroring`, and the structured notes it explains them with."""

from __future__ import annotations

from collections import Counter

import pytest

from helpers.controlplane.endpointslice.reconciler import render_note
from helpers.controlplane.endpointslicemirroring import NOTE_TEXT, reconcile_mirroring, should_mirror


def endpoints(subsets, **meta):
    base = {
        "name": "svc",
        "namespace": "ns",
        "uid": "ep-uid",
        "labels": {"team": "a"},
        "annotations": {"note": "x", "endpoints.kubernetes.io/last-change-trigger-time": "t"},
    }
    base.update(meta)
    return {"apiVersion": "v1", "kind": "Endpoints", "metadata": base, "subsets": subsets}


def addresses(*ips):
    return [{"ip": ip} for ip in ips]


SUBSET1 = {
    "ports": [
        {"name": "http", "port": 80, "protocol": "TCP"},
        {"name": "https", "port": 443, "protocol": "TCP"},
    ],
    "addresses": addresses("10.0.0.1", "10.0.0.2"),
}
SUBSET2 = {
    "ports": [{"name": "dns", "port": 53, "protocol": "UDP"}],
    "addresses": addresses("10.0.1.1", "10.0.1.2", "10.0.1.3"),
}


def run(eps, existing=(), **kw):
    return reconcile_mirroring(endpoints=eps, existing_slices=list(existing), **kw)


def writes(result):
    return (len(result.creates), len(result.updates), len(result.deletes))


def n_endpoints(slices):
    return sum(len(s["endpoints"]) for s in slices)


@pytest.mark.parametrize(
    "subsets", [[], [{"ports": [{"port": 80, "protocol": "TCP"}]}]], ids=["none", "no-addresses"]
)
def test_m1_nothing_to_mirror_means_no_slice(subsets):
    assert writes(run(endpoints(subsets))) == (0, 0, 0)


def test_m2_one_subset_one_slice_with_metadata():
    result = run(
        endpoints(
            [{"ports": [{"name": "http", "port": 80, "protocol": "TCP"}], "addresses": addresses("10.0.0.1")}]
        )
    )
    (s,) = result.creates
    assert s["metadata"]["generateName"] == "svc-"
    assert s["metadata"]["labels"] == {
        "team": "a",
        "kubernetes.io/service-name": "svc",
        "endpointslice.kubernetes.io/managed-by": "endpointslicemirroring-controller.k8s.io",
    }
    assert s["metadata"]["annotations"] == {"note": "x"}
    assert s["metadata"]["ownerReferences"][0]["kind"] == "Endpoints"
    assert s["endpoints"] == [{"addresses": ["10.0.0.1"], "conditions": {"ready": True}}]


def test_m3_two_subsets_two_slices():
    result = run(endpoints([SUBSET1, SUBSET2]))
    assert writes(result) == (2, 0, 0) and n_endpoints(result.creates) == 5


def test_m4_existing_empty_slice_for_subset_one_is_updated():
    existing = run(endpoints([SUBSET1])).creates[0]
    existing["metadata"] |= {"name": "svc-abc", "resourceVersion": "3"}
    existing["endpoints"] = []
    result = run(endpoints([SUBSET1, SUBSET2]), [existing])
    assert writes(result) == (1, 1, 0)
    assert result.updates[0]["metadata"]["name"] == "svc-abc" and len(result.updates[0]["endpoints"]) == 2


def test_m4_unchanged_mirror_writes_nothing():
    first = run(endpoints([SUBSET1, SUBSET2])).creates
    for i, s in enumerate(first):
        s["metadata"] |= {"name": f"svc-{i}", "resourceVersion": "1"}
    assert writes(run(endpoints([SUBSET1, SUBSET2]), first)) == (0, 0, 0)


def test_m5_mixed_families_split_per_subset_and_family():
    dual1 = dict(SUBSET1, addresses=addresses("10.0.0.1", "2001:db8::1"))
    dual2 = dict(SUBSET2, addresses=addresses("10.0.1.1", "2001:db8::2", "2001:db8::3"))
    result = run(endpoints([dual1, dual2]))
    assert writes(result) == (4, 0, 0)
    assert Counter(s["addressType"] for s in result.creates) == Counter({"IPv4": 2, "IPv6": 2})


def test_m6_invalid_ips_are_skipped_with_an_event():
    bad1 = dict(SUBSET1, addresses=addresses("10.0.0.1", "not-an-ip"))
    bad2 = dict(SUBSET2, addresses=addresses("10.0.1.1", "10.0.1.2", "300.1.1.1"))
    result = run(endpoints([bad1, bad2]))
    assert writes(result) == (2, 0, 0) and n_endpoints(result.creates) == 3
    assert result.events == [
        ("Warning", "InvalidIPAddress", "Skipped 2 invalid IP addresses when mirroring to EndpointSlices")
    ]
    all_bad = run(endpoints([dict(SUBSET1, addresses=addresses("x", "y"))]))
    assert writes(all_bad) == (0, 0, 0)


def test_m7_max_endpoints_per_subset():
    result = run(endpoints([SUBSET1, SUBSET2]), max_endpoints_per_subset=2)
    assert writes(result) == (2, 0, 0) and n_endpoints(result.creates) == 4
    assert result.events[0][1] == "TooManyAddressesToMirror"
    assert "1 addresses were skipped" in result.events[0][2]


def test_m7_ready_addresses_first_and_not_ready_mirrored_as_not_ready():
    subset = {
        "ports": [{"port": 80, "protocol": "TCP"}],
        "notReadyAddresses": addresses("10.0.0.9"),
        "addresses": addresses("10.0.0.1"),
    }
    (s,) = run(endpoints([subset])).creates
    assert [ep["conditions"]["ready"] for ep in s["endpoints"]] == [True, False]


def test_m8_deleting_endpoints_creates_nothing():
    result = run(endpoints([SUBSET1], deletionTimestamp="2026-01-01T00:00:00Z"))
    assert writes(result) == (0, 0, 0)


def test_removed_subset_slice_is_recycled_for_a_new_one():
    old = run(endpoints([SUBSET1])).creates[0]
    old["metadata"] |= {"name": "svc-old", "resourceVersion": "2"}
    result = run(endpoints([SUBSET2]), [old])
    assert writes(result) == (0, 1, 0)
    assert result.updates[0]["metadata"]["name"] == "svc-old" and result.updates[0]["ports"][0]["port"] == 53


@pytest.mark.parametrize(
    ("labels", "annotations", "service", "answer"),
    [
        ({}, {}, {"spec": {}}, (True, "")),
        ({"endpointslice.kubernetes.io/skip-mirror": "true"}, {}, {"spec": {}}, (False, "skip-mirror-label")),
        ({}, {"control-plane.alpha.kubernetes.io/leader": "{}"}, {"spec": {}}, (False, "leader-election-record")),
        ({}, {}, None, (False, "service-missing")),
        ({}, {}, {"spec": {"selector": {"app": "x"}}}, (False, "service-has-selector")),
    ],
    ids=["mirrored", "skip-mirror", "leader", "no-service", "selector"],
)
def test_should_mirror(labels, annotations, service, answer):
    eps = endpoints([], labels=labels, annotations=annotations)
    assert should_mirror(eps, service) == answer
    if not answer[0]:
        assert render_note({"reason": answer[1]}, NOTE_TEXT).startswith("not mirrored: ")


def slice_reasons(result):
    """(slice, action, endpoints, addressType, [reason codes]) of each slice note."""
    return [(n["slice"], n["action"], n["endpoints"], n["addressType"], [r["reason"] for r in n["reasons"]])
            for n in result.notes if "slice" in n]


def test_notes_name_each_new_slice_and_its_subset():
    result = run(endpoints([SUBSET1, dict(SUBSET2, addresses=addresses("10.0.1.1", "2001:db8::2"))]))
    assert slice_reasons(result) == [  # in the order of the repacked subsets (RepackSubsets sorts them)
        ("svc-<new 1>", "created", 1, "IPv4", ["new-subset"]),
        ("svc-<new 2>", "created", 1, "IPv6", ["new-subset"]),
        ("svc-<new 3>", "created", 2, "IPv4", ["new-subset"]),
    ]
    assert result.explanations[2] == (
        "slice svc-<new 3> created (2 endpoints): a subset (port set and address family) that no slice mirrors yet")


def test_notes_count_the_endpoints_an_update_adds_and_removes():
    existing = run(endpoints([SUBSET2])).creates[0]
    existing["metadata"] |= {"name": "svc-abc", "resourceVersion": "3"}
    changed = dict(SUBSET2, addresses=addresses("10.0.1.1", "10.0.1.4", "10.0.1.5", "10.0.1.6"))
    result = run(endpoints([changed]), [existing])
    assert result.notes == [{"slice": "svc-abc", "action": "updated", "endpoints": 4, "addressType": "IPv4",
                             "reasons": [{"reason": "endpoints-changed", "added": 3, "removed": 2}]}]
    relabelled = run(endpoints([SUBSET2], labels={"team": "b"}), [existing])
    assert slice_reasons(relabelled) == [("svc-abc", "updated", 3, "IPv4", ["metadata-changed"])]
    assert run(endpoints([SUBSET2]), [existing]).notes == [{"reason": "no-writes"}]


def test_notes_of_deletes_recycling_and_skipped_addresses():
    old = run(endpoints([SUBSET1])).creates[0]
    old["metadata"] |= {"name": "svc-old", "resourceVersion": "2"}
    twin = {**old, "metadata": {**old["metadata"], "name": "svc-twin"}}
    assert slice_reasons(run(endpoints([SUBSET2]), [old])) == [("svc-old", "updated", 3, "IPv4",
                                                                ["new-subset", "recycled"])]
    assert slice_reasons(run(endpoints([SUBSET1]), [old, twin])) == [("svc-twin", "deleted", 2, "IPv4",
                                                                       ["duplicate-for-subset"])]
    assert slice_reasons(run(endpoints([]), [old])) == [("svc-old", "deleted", 2, "IPv4", ["subset-gone"])]
    bad = dict(SUBSET2, addresses=addresses("1.2.3", "10.0.1.1", "10.0.1.2"))  # the invalid one sorts first
    capped = run(endpoints([SUBSET1, bad]), max_endpoints_per_subset=1)
    assert [n for n in capped.notes if "slice" not in n] == [
        {"reason": "invalid-ips-skipped", "count": 1}, {"reason": "too-many-addresses", "count": 2, "max": 1}]
    deleting = run(endpoints([SUBSET1, SUBSET2], deletionTimestamp="2026-01-01T00:00:00Z"))
    assert deleting.notes == [{"reason": "creates-skipped-terminating", "count": 2}]
    assert deleting.explanations == ["2 create(s) skipped: the Endpoints object is being deleted"]
