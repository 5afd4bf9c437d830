"""Upstream Endpoints (v1) controller scenarios (`pkg/controller/endpoint/endpoints_controller_test.go`,
v1.37.0), numbered E1-E8 here, through the pure planner."""

from __future__ import annotations

from functools import partial

import pytest
from builders import numbered_pod, selector_service

from helpers.controlplane.endpoint import desired_subsets, plan_endpoints, repack_subsets, truncate_subsets
from helpers.kube import ANNOTATION_OVER_CAPACITY, LABEL_ENDPOINTS_MANAGED_BY

# Pod n has IP 10.0.0.0 + n (room for the 1001-pod cases); the Service has a ClusterIP, labels and port 80 -> 8080.
pod = partial(numbered_pod, first_ip="10.0.0.0")
service = partial(selector_service, labels={"app": "foo"}, clusterIP="10.0.0.1",
                  ports=[{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}])


def subsets_with(ready_counts, not_ready_counts):
    out, n = [], 0
    for i, (r, nr) in enumerate(zip(ready_counts, not_ready_counts, strict=True)):
        subset = {
            "ports": [{"name": f"p{i}", "port": 1000 + i, "protocol": "TCP"}],
            "addresses": [{"ip": f"10.0.{(n + k) >> 8}.{(n + k) & 255}"} for k in range(r)],
            "notReadyAddresses": [{"ip": f"10.1.{(n + k) >> 8}.{(n + k) & 255}"} for k in range(nr)],
        }
        n += r + nr
        out.append(subset)
    return out


def counts(subsets, field):
    return [len(s.get(field, ())) for s in subsets]


@pytest.mark.parametrize(
    ("ready", "not_ready", "want_ready", "want_not_ready"),
    [
        ([90, 110, 50, 10, 20], [101, 200, 200, 201, 298], [90, 110, 50, 10, 20], [73, 144, 144, 145, 214]),
        ([205, 400, 402, 400, 693], [100, 200, 200, 200, 300], [98, 191, 192, 191, 328], [0, 0, 0, 0, 0]),
        ([100] * 5, [100] * 5, [100] * 5, [100] * 5),
    ],
    ids=["E1-not-ready-budget", "E2-ready-over-capacity", "E3-exactly-1000"],
)
def test_truncate_endpoints(ready, not_ready, want_ready, want_not_ready):
    subsets, truncated = truncate_subsets(subsets_with(ready, not_ready))
    assert counts(subsets, "addresses") == want_ready
    assert counts(subsets, "notReadyAddresses") == want_not_ready
    assert truncated == (sum(ready) + sum(not_ready) > 1000)


def totals(plan):
    subsets = plan.endpoints["subsets"]
    return sum(counts(subsets, "addresses")), sum(counts(subsets, "notReadyAddresses"))


@pytest.mark.parametrize(
    ("n_ready", "n_not_ready", "expected"),
    [(997, 4, (997, 3)), (1000, 10, (1000, 0))],
    ids=["E4", "E5"],
)
def test_sync_over_capacity_truncates_and_annotates(n_ready, n_not_ready, expected):
    pods = [pod(i) for i in range(n_ready)] + [pod(n_ready + i, ready=False) for i in range(n_not_ready)]
    plan = plan_endpoints(service(), pods)
    assert plan.action == "create"
    assert totals(plan) == expected
    assert plan.endpoints["metadata"]["annotations"][ANNOTATION_OVER_CAPACITY] == "truncated"


def existing_with(annotation, pods):
    plan = plan_endpoints(service(), pods)
    obj = plan.endpoints
    obj["metadata"]["resourceVersion"] = "5"
    obj["metadata"]["annotations"] = {ANNOTATION_OVER_CAPACITY: annotation}
    return obj


@pytest.mark.parametrize("previous", ["warning", "invalid"])
def test_e6_annotation_corrected_to_truncated(previous):
    pods = [pod(i) for i in range(1001)]
    plan = plan_endpoints(service(), pods, existing_with(previous, pods[:10]))
    assert plan.action == "update"
    assert totals(plan) == (1000, 0)
    assert plan.endpoints["metadata"]["annotations"][ANNOTATION_OVER_CAPACITY] == "truncated"


@pytest.mark.parametrize("n", [999, 1000])
@pytest.mark.parametrize("previous", ["truncated", "warning"])
def test_e7_annotation_removed_when_back_under_capacity(n, previous):
    pods = [pod(i) for i in range(n)]
    plan = plan_endpoints(service(), pods, existing_with(previous, pods))
    assert plan.action == "update"
    assert ANNOTATION_OVER_CAPACITY not in plan.endpoints["metadata"]["annotations"]
    assert totals(plan) == (n, 0)


@pytest.mark.parametrize(
    ("phase", "ready", "deleting", "plain", "tolerate"),
    [
        ("Running", True, False, (1, 0), (1, 0)),
        ("Running", True, True, (0, 0), (1, 0)),
        ("Pending", True, False, (1, 0), (1, 0)),
        ("Unknown", True, False, (1, 0), (1, 0)),
        ("Pending", False, False, (0, 1), (1, 0)),
        ("Unknown", False, False, (0, 1), (1, 0)),
        ("Running", False, True, (0, 0), (1, 0)),
        ("Failed", True, False, (0, 0), (0, 0)),
        ("Succeeded", True, False, (0, 0), (0, 0)),
    ],
)
def test_e8_sync_service_addresses(phase, ready, deleting, plain, tolerate):
    p = pod(1, ready=ready, phase=phase, deleting=deleting)
    assert totals(plan_endpoints(service(), [p])) == plain
    assert totals(plan_endpoints(service(publishNotReadyAddresses=True), [p])) == tolerate


def test_labels_managed_by_headless_and_no_op():
    svc = service(clusterIP="None")
    plan = plan_endpoints(svc, [pod(1)], trigger_time="2026-01-01T00:00:05Z")
    labels = plan.endpoints["metadata"]["labels"]
    assert labels == {
        "app": "foo",
        "service.kubernetes.io/headless": "",
        LABEL_ENDPOINTS_MANAGED_BY: "endpoint-controller",
    }
    assert plan.endpoints["metadata"]["annotations"]["endpoints.kubernetes.io/last-change-trigger-time"] == (
        "2026-01-01T00:00:05Z"
    )
    existing = plan.endpoints | {"metadata": plan.endpoints["metadata"] | {"resourceVersion": "3"}}
    again = plan_endpoints(svc, [pod(1)], existing)
    assert again.action is None


def test_repack_groups_ports_by_the_addresses_offering_them():
    svc = service(
        ports=[
            {"name": "a", "port": 80, "targetPort": 8080, "protocol": "TCP"},
            {"name": "b", "port": 81, "targetPort": "metrics", "protocol": "TCP"},
        ]
    )
    with_metrics = pod(1)
    with_metrics["spec"]["containers"] = [
        {"name": "c", "ports": [{"name": "metrics", "containerPort": 9090}]}
    ]
    subsets = desired_subsets(svc, [with_metrics, pod(2), pod(10, ready=False)])
    by_ports = {tuple(p["name"] for p in s["ports"]): s for s in subsets}
    assert set(by_ports) == {("a",), ("b",)}
    assert [a["ip"] for a in by_ports[("a",)]["addresses"]] == ["10.0.0.1", "10.0.0.2"]
    assert [a["ip"] for a in by_ports[("a",)]["notReadyAddresses"]] == ["10.0.0.10"]
    assert [a["ip"] for a in by_ports[("b",)]["addresses"]] == ["10.0.0.1"]
    assert by_ports[("b",)]["ports"] == [{"name": "b", "port": 9090, "protocol": "TCP"}]
    address = by_ports[("a",)]["addresses"][1]
    assert address["nodeName"] == "node-1" and address["targetRef"]["name"] == "pod2"
    same_ports = desired_subsets(svc, [with_metrics])
    assert len(same_ports) == 1 and [p["name"] for p in same_ports[0]["ports"]] == ["a", "b"]


def test_repack_not_ready_wins_for_the_same_address_and_port():
    address = {"ip": "10.0.0.1", "targetRef": {"uid": "u1"}}
    port = {"name": "a", "port": 80, "protocol": "TCP"}
    (subset,) = repack_subsets([(address, port, True), (address, port, False)])
    assert "addresses" not in subset and subset["notReadyAddresses"] == [address]


def test_addresses_sort_by_ip_bytes():
    subsets = desired_subsets(service(), [pod(2), pod(10), pod(1)])
    assert [a["ip"] for a in subsets[0]["addresses"]] == ["10.0.0.1", "10.0.0.10", "10.0.0.2"]


def test_headless_without_ports_gets_a_portless_subset():
    subsets = desired_subsets(service(clusterIP="None", ports=[]), [pod(1)])
    assert subsets == [{"addresses": [subsets[0]["addresses"][0]]}]
    assert desired_subsets(service(ports=[]), [pod(1)]) == []


def versioned(p, rv):
    p["metadata"]["resourceVersion"] = str(rv)
    return p


def test_entry_cache_recomputes_only_changed_pods_and_forgets_departed_ones():
    svc = service()
    cache = {}
    pods = [versioned(pod(n), 1) for n in range(1, 6)]
    assert desired_subsets(svc, pods, cache) == desired_subsets(svc, pods)
    first = dict(cache)
    # pod 2 turns not-ready at a new resourceVersion; pod 5 goes away
    pods = [*pods[:1], versioned(pod(2, ready=False), 2), *pods[2:4]]
    subsets = desired_subsets(svc, pods, cache)
    assert subsets == desired_subsets(svc, pods)
    assert [a["ip"] for a in subsets[0]["notReadyAddresses"]] == ["10.0.0.2"]
    assert set(cache) == {("uid-1", "1"), ("uid-2", "2"), ("uid-3", "1"), ("uid-4", "1")}
    assert cache[("uid-1", "1")] is first[("uid-1", "1")]  # reused, not rebuilt
