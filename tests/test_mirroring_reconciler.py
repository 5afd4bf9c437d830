"""Upstream EndpointSliceMirroring scenarios M1-M8 (shared doc §3) through `reconcile_mirroring`."""

from __future__ import annotations

from collections import Counter

import pytest

from helpers.controlplane.endpointslicemirroring import reconcile_mirroring, should_mirror


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
    ("labels", "annotations", "service", "mirrored"),
    [
        ({}, {}, {"spec": {}}, True),
        ({"endpointslice.kubernetes.io/skip-mirror": "true"}, {}, {"spec": {}}, False),
        ({}, {"control-plane.alpha.kubernetes.io/leader": "{}"}, {"spec": {}}, False),
        ({}, {}, None, False),
        ({}, {}, {"spec": {"selector": {"app": "x"}}}, False),
    ],
)
def test_should_mirror(labels, annotations, service, mirrored):
    eps = endpoints([], labels=labels, annotations=annotations)
    assert should_mirror(eps, service)[0] is mirrored
