"""Upstream reconciler scenarios (`staging/src/k8s.io/endpointslice/reconciler_test.go`, v1.37.0),
numbered S1-S21 here, through the pure `reconcile` function.

Fixture as upstream (`utils_test.go` newPod / newServiceAndEndpointMeta; tests/builders.py
`selector_service`, `numbered_pod`): Service `foo` in `test`, selector foo=bar, one TCP port named
`foo` with targetPort 80, IPv4, no ClusterIP (so slices are headless); pod n = `pod<n>` on node-1
with IP 1.2.3.(4+n). Slice sizes are compared as multisets.
"""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import UTC, datetime
from functools import partial

import pytest
from builders import node as any_node
from builders import numbered_pod as pod
from builders import selector_service as service

from helpers.controlplane.endpointslice.endpointset import EndpointCache
from helpers.controlplane.endpointslice.reconciler import reconcile
from helpers.kube import ANNOTATION_TRIGGER_TIME, LABEL_HEADLESS, LABEL_MANAGED_BY

_names = itertools.count()
node = partial(any_node, cpu="100m")  # allocatable CPU weighs zones for topology hints


def run(svc, pods, existing=(), nodes=None, **kw):
    return reconcile(
        service=svc,
        pods=pods,
        nodes=[node()] if nodes is None else nodes,
        existing_slices=list(existing),
        **kw,
    )


def apply(existing, result):
    """What the API would hold after the writes: names for creates, updates replace, deletes go."""
    slices = {s["metadata"]["name"]: s for s in existing}
    for s in result.creates:
        s = {**s, "metadata": {**s["metadata"], "name": f"{s['metadata']['generateName']}{next(_names)}"}}
        slices[s["metadata"]["name"]] = s
    for s in result.updates:
        slices[s["metadata"]["name"]] = s
    for s in result.deletes:
        del slices[s["metadata"]["name"]]
    return list(slices.values())


def sizes(slices):
    return Counter(len(s["endpoints"]) for s in slices)


def writes(result):
    return (len(result.creates), len(result.updates), len(result.deletes))


def pod_slice(svc, pods, name, address_type="IPv4", nodes=None):
    """An existing controller-made slice holding the given pods (built by reconciling them alone)."""
    result = run(svc, pods, nodes=nodes)
    (s,) = result.creates
    s["metadata"]["name"] = name
    s["metadata"]["resourceVersion"] = "1"
    s["addressType"] = address_type
    return s


def test_s1_empty_service_gets_one_placeholder():
    result = run(service(), [])
    assert writes(result) == (1, 0, 0)
    (s,) = result.creates
    assert s["metadata"]["generateName"] == "foo-"
    assert s["ports"] == [] and s["endpoints"] == []
    assert s["metadata"]["labels"]["kubernetes.io/service-name"] == "foo"
    assert s["metadata"]["labels"][LABEL_MANAGED_BY] == "endpointslice-controller.k8s.io"
    assert s["metadata"]["ownerReferences"] == [
        {
            "apiVersion": "v1",
            "kind": "Service",
            "name": "foo",
            "uid": "svc-uid",
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    assert (result.desired_slices, result.actual_slices) == (1, 1)


def test_s2_placeholder_kept_updated_or_created():
    svc = service()
    placeholder = apply([], run(svc, []))
    assert writes(run(svc, [], placeholder)) == (0, 0, 0)
    labelled = [
        {
            **placeholder[0],
            "metadata": {
                **placeholder[0]["metadata"],
                "labels": {**placeholder[0]["metadata"]["labels"], "bar": "baz"},
            },
        }
    ]
    result = run(svc, [], labelled)
    assert writes(result) == (0, 1, 0)
    assert "bar" not in result.updates[0]["metadata"]["labels"]
    assert len(apply(labelled, result)) == 1


@pytest.mark.parametrize(
    ("families", "cluster_ip", "expected"),
    [
        (["IPv4"], None, {"IPv4": ["1.2.3.4"]}),
        (["IPv6"], None, {"IPv6": ["1234::5678:0:0:9abc:def0"]}),
        (["IPv4", "IPv6"], None, {"IPv4": ["1.2.3.4"], "IPv6": ["1234::5678:0:0:9abc:def0"]}),
        (["IPv4"], "1.1.1.1", {"IPv4": ["1.2.3.4"]}),
    ],
)
def test_s3_one_pod_per_family(families, cluster_ip, expected):
    svc = service(ipFamilies=families, **({"clusterIP": cluster_ip} if cluster_ip else {}))
    svc["metadata"]["labels"] = {"foo": "bar"}
    p = pod(0, ips=["1.2.3.4", "1234::5678:0000:0000:9abc:def0"], hostname="pod0")
    when = datetime(2026, 1, 2, 3, 4, 5, 120000, tzinfo=UTC)
    result = run(svc, [p], nodes=[node(zone="us-central1-a")], trigger_time=when)
    assert writes(result) == (len(expected), 0, 0)
    for s in result.creates:
        (ep,) = s["endpoints"]
        assert ep["addresses"] == expected[s["addressType"]]
        assert ep["conditions"] == {"ready": True, "serving": True, "terminating": False}
        assert ep["zone"] == "us-central1-a" and ep["nodeName"] == "node-1"
        assert "hostname" not in ep
        assert ep["targetRef"] == {"kind": "Pod", "namespace": "test", "name": "pod0", "uid": "uid-0"}
        assert s["metadata"]["labels"]["foo"] == "bar"
        assert (LABEL_HEADLESS in s["metadata"]["labels"]) == (cluster_ip is None)
        assert s["metadata"]["annotations"][ANNOTATION_TRIGGER_TIME] == "2026-01-02T03:04:05.12Z"


def test_s4_publish_not_ready_addresses_marks_all_ready():
    pods = [pod(i, ready=i % 3 != 0) for i in range(50)]
    result = run(service(publishNotReadyAddresses=True), pods)
    assert writes(result) == (1, 0, 0)
    assert sizes(result.creates) == Counter({50: 1})
    assert all(ep["conditions"]["ready"] for ep in result.creates[0]["endpoints"])
    assert sum(not ep["conditions"]["serving"] for ep in result.creates[0]["endpoints"]) == 17


def test_s5_many_pods():
    result = run(service(), [pod(i) for i in range(250)])
    assert writes(result) == (3, 0, 0)
    assert sizes(result.creates) == Counter({100: 2, 50: 1})


def test_s6_some_preexisting_fill_the_fuller_updated_slice():
    svc = service()
    pods = [pod(i) for i in range(250)]
    slice1 = pod_slice(svc, [pods[i] for i in range(1, 246, 4)], "slice1")  # 62
    slice2 = pod_slice(svc, [pods[i] for i in range(3, 244, 4)], "slice2")  # 61
    result = run(svc, pods, [slice1, slice2])
    assert writes(result) == (1, 1, 0)
    assert sizes(apply([slice1, slice2], result)) == Counter({100: 1, 89: 1, 61: 1})
    assert result.updates[0]["metadata"]["name"] == "slice1"
    assert result.added == 127
    (note,) = [n for n in result.notes if n.get("slice") == "slice1"]
    assert (note["action"], note["endpoints"]) == ("updated", 89)
    assert note["reasons"] == [{"reason": "fitted-unchanged-slice", "count": 27}]


def test_s7_worse_allocation_prefers_creating():
    svc = service()
    pods = [pod(i) for i in range(300)]
    slice1 = pod_slice(svc, [pods[i] for i in range(1, 300, 4)][:74], "slice1")
    slice2 = pod_slice(svc, [pods[i] for i in range(3, 300, 4)][:74], "slice2")
    result = run(svc, pods, [slice1, slice2])
    assert writes(result) == (2, 0, 0)
    assert sizes(result.creates) == Counter({100: 1, 52: 1})
    assert (result.desired_slices, result.actual_slices) == (3, 4)


def test_explanations_and_placements_say_why():
    svc = service()
    pods = [pod(i) for i in range(300)]
    slice1 = pod_slice(svc, [pods[i] for i in range(1, 300, 4)][:74], "slice1")
    slice2 = pod_slice(svc, [pods[i] for i in range(3, 300, 4)][:74], "slice2")
    result = run(svc, pods, [slice1, slice2])
    assert sorted((n["slice"], n["action"], n["endpoints"], n["reasons"]) for n in result.notes) == [
        ("foo-<new 1>", "created", 100, [{"reason": "new-slice", "count": 100, "left": 152, "why": "full"}]),
        ("foo-<new 2>", "created", 52, [{"reason": "new-slice", "count": 52, "left": 52, "why": "no-room"}]),
    ]
    assert sorted(result.explanations) == [  # the same notes as sentences
        (
            "slice foo-<new 1> created (100 endpoints): 100 new endpoints: 152 endpoints were left to place, "
            "at least a full slice"
        ),
        (
            "slice foo-<new 2> created (52 endpoints): 52 new endpoints: "
            "no unchanged slice had room for all 52 "
            "remaining endpoints (they are never split)"
        ),
    ]
    assert len(result.placements) == 152
    assert {p.split(": ")[1] for p in result.placements.values()} == {"new slice"}


def test_s8_target_port_change_recycles_creates_into_updates():
    svc = service()
    pods = [pod(i) for i in range(250)]
    existing = apply([], run(svc, pods))
    svc["spec"]["ports"][0]["targetPort"] = 81
    result = run(svc, pods, existing)
    assert writes(result) == (0, 3, 0)
    assert sizes(result.updates) == Counter({100: 2, 50: 1})
    assert all(s["ports"][0]["port"] == 81 for s in result.updates)


def test_s9_service_labels_update_every_slice_reserved_ones_do_not():
    svc = service()
    pods = [pod(i) for i in range(250)]
    existing = apply([], run(svc, pods))
    svc["metadata"]["labels"] = {"foo": "bar"}
    result = run(svc, pods, existing)
    assert writes(result) == (0, 3, 0)
    assert all(s["metadata"]["labels"]["foo"] == "bar" for s in result.updates)
    reserved = service()
    reserved["metadata"]["labels"] = {
        "endpointslice.kubernetes.io/managed-by": "evil",
        "kubernetes.io/service-name": "bar",
        LABEL_HEADLESS: "x",
    }
    assert writes(run(reserved, pods, existing)) == (0, 0, 0)


def test_s10_free_repack_when_every_slice_is_rewritten():
    svc = service()
    pods = [pod(i) for i in range(300)]
    existing = [pod_slice(svc, pods[i * 30 : (i + 1) * 30], f"slice{i}") for i in range(10)]
    assert writes(run(svc, pods, existing)) == (0, 0, 0)
    svc["spec"]["ports"][0]["targetPort"] = 81
    result = run(svc, pods, existing)
    assert writes(result) == (0, 3, 7)
    assert sizes(apply(existing, result)) == Counter({100: 3})


def test_s11_update_packing_goes_to_the_fuller_slice():
    svc = service()
    pods = [pod(i) for i in range(80)] + [pod(i) for i in range(100, 120)]
    slice1 = pod_slice(svc, pods[:80], "slice1")
    slice2 = pod_slice(svc, pods[80:], "slice2")
    for i, p in enumerate(pods):
        if i % 10 == 0:
            p["status"]["conditions"][0]["status"] = "False"
    pods += [pod(i) for i in range(200, 215)]
    result = run(svc, pods, [slice1, slice2])
    assert writes(result) == (0, 2, 0)
    assert sizes(result.updates) == Counter({95: 1, 20: 1})
    assert result.added == 15
    changed = [r for n in result.notes for r in n.get("reasons", ()) if r["reason"] == "endpoints-changed"]
    assert {"reason": "endpoints-changed", "count": 8, "change": "became not ready"} in changed


def test_s12_deprecated_ip_address_type_is_replaced_not_recycled():
    svc = service()
    pods = [pod(i) for i in range(130)]
    old1 = pod_slice(svc, pods[:80], "old1", address_type="IP")
    old2 = pod_slice(svc, pods[80:], "old2", address_type="IP")
    result = run(svc, pods, [old1, old2])
    assert writes(result) == (2, 0, 2)
    assert sizes(result.creates) == Counter({100: 1, 30: 1})
    assert {s["addressType"] for s in result.creates} == {"IPv4"}


def test_s13_slices_of_a_previous_service_uid_are_not_adopted():
    svc = service()
    existing = [pod_slice(svc, [pod(0)], "slice1")]
    assert writes(run(svc, [pod(0)], existing)) == (0, 0, 0)
    existing[0]["metadata"]["ownerReferences"][0]["uid"] = "old-uid"
    result = run(svc, [pod(0)], existing)
    assert writes(result) == (1, 0, 1)
    assert len(apply(existing, result)) == 1


def test_s14_named_ports_fan_out_per_resolved_number():
    svc = service(ports=[{"port": 80, "targetPort": "http", "protocol": "TCP"}])
    pods = [
        pod(
            i,
            containers=[
                {"name": "c", "ports": [{"name": "http", "containerPort": 8080 + i % 5, "protocol": "TCP"}]}
            ],
        )
        for i in range(300)
    ]
    result = run(svc, pods)
    assert writes(result) == (5, 0, 0)
    assert sizes(result.creates) == Counter({60: 5})
    assert sorted(s["ports"][0]["port"] for s in result.creates) == [8080, 8081, 8082, 8083, 8084]
    assert all(
        s["ports"] == [{"name": "", "port": s["ports"][0]["port"], "protocol": "TCP"}] for s in result.creates
    )


@pytest.mark.parametrize(
    ("max_eps", "expected"),
    [(50, {50: 5}), (80, {80: 3, 10: 1}), (150, {150: 1, 100: 1}), (250, {250: 1}), (500, {250: 1})],
)
def test_s15_max_endpoints_per_slice(max_eps, expected):
    result = run(service(), [pod(i) for i in range(250)], max_endpoints_per_slice=max_eps)
    assert sizes(result.creates) == Counter(expected)


def test_s15_max_endpoints_per_slice_is_validated():
    with pytest.raises(ValueError, match="1..1000"):
        run(service(), [], max_endpoints_per_slice=1001)


def test_s16_removing_pods_updates_in_place():
    svc = service()
    pods = [pod(i) for i in range(20)]
    first = run(svc, pods)
    assert writes(first) == (1, 0, 0) and sizes(first.creates) == Counter({20: 1})
    result = run(svc, pods[:10], apply([], first))
    assert writes(result) == (0, 1, 0)
    assert sizes(result.updates) == Counter({10: 1})
    assert result.removed == 10


def test_s17_deleting_service_skips_creates_but_recycles():
    svc = service()
    svc["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    assert writes(run(svc, [pod(0)])) == (0, 0, 0)
    stale = pod_slice(service(), [pod(1)], "stale")
    stale["ports"] = [{"name": "foo", "port": 81, "protocol": "TCP"}]
    result = run(svc, [pod(0)], [stale])
    assert writes(result) == (0, 1, 0)
    assert result.updates[0]["metadata"]["name"] == "stale"
    updated = pod_slice(service(), [pod(0), pod(2)], "kept")
    result = run(svc, [pod(0)], [updated])
    assert writes(result) == (0, 1, 0)


class TestS18MissingNode:
    pods = staticmethod(lambda: [pod(0, node="node-0"), pod(1, node="node-1")])

    def test_pod_on_missing_node_is_skipped_and_error_returned(self):
        result = run(service(), self.pods(), nodes=[node("node-0")])
        assert sizes(result.creates) == Counter({1: 1})
        assert result.error and "Node node-1 Not Found" in result.error

    def test_publish_not_ready_keeps_pod_without_zone(self):
        result = run(service(publishNotReadyAddresses=True), self.pods(), nodes=[node("node-0", zone="a")])
        assert sizes(result.creates) == Counter({2: 1}) and result.error is None
        zones = {ep["targetRef"]["name"]: ep.get("zone") for ep in result.creates[0]["endpoints"]}
        assert zones == {"pod0": "a", "pod1": None}

    def test_existing_slice_is_updated_without_the_pod(self):
        svc = service()
        existing = apply([], run(svc, self.pods(), nodes=[node("node-0"), node("node-1")]))
        result = run(svc, self.pods(), existing, nodes=[node("node-0")])
        assert writes(result) == (0, 1, 0) and sizes(result.updates) == Counter({1: 1})
        assert result.error

    def test_no_nodes_at_all_turns_the_slice_into_the_placeholder(self):
        svc = service()
        existing = apply([], run(svc, self.pods(), nodes=[node("node-0"), node("node-1")]))
        result = run(svc, self.pods(), existing, nodes=[])
        assert writes(result) == (0, 1, 0)
        assert result.updates[0]["endpoints"] == [] and result.updates[0]["ports"] == []
        assert result.error

    def test_publish_not_ready_and_all_nodes_missing_writes_nothing(self):
        svc = service(publishNotReadyAddresses=True)
        existing = apply([], run(svc, self.pods(), nodes=[]))
        result = run(svc, self.pods(), existing, nodes=[])
        assert writes(result) == (0, 0, 0) and result.error is None

    def test_pre_1_25_fails_the_whole_sync(self):
        svc = service()
        existing = apply([], run(svc, self.pods(), nodes=[node("node-0"), node("node-1")]))
        pods = self.pods() + [pod(2, node="node-0")]
        result = run(svc, pods, existing, nodes=[node("node-0")], missing_node_behavior="pre-1.25")
        assert writes(result) == (0, 0, 0)
        assert result.error == 'node "node-1" not found'
        assert result.notes[0] == {"reason": "no-writes-failed", "error": 'node "node-1" not found'}
        assert {"reason": "missing-node-failed", "addressType": "IPv4", "pod": "pod1", "node": "node-1"} in result.notes
        assert result.explanations[0] == 'no writes: the sync failed (node "node-1" not found)'
        current = run(svc, pods, existing, nodes=[node("node-0")])
        assert writes(current) == (0, 1, 0) and current.error


def zone_nodes():
    return [node(f"node-{z}-{i}", zone=f"zone-{z}") for z in "abc" for i in range(10)]


def zoned_pods(counts):
    pods, n = [], 0
    for zone, count in counts.items():
        for _ in range(count):
            pods.append(pod(n, node=f"node-{zone}-0"))
            n += 1
    return pods


def hints(slices):
    return Counter(
        ep["hints"]["forZones"][0]["name"] for s in slices for ep in s["endpoints"] if "hints" in ep
    )


def cross_zone(slices):
    return sum(
        ep["hints"]["forZones"][0]["name"] != ep["zone"]
        for s in slices
        for ep in s["endpoints"]
        if "hints" in ep
    )


def topology_service(mode="Auto"):
    svc = service()
    svc["metadata"]["annotations"] = {"service.kubernetes.io/topology-mode": mode}
    return svc


class TestS19TopologyHints:
    def test_three_endpoints_in_one_zone_spread_over_three(self):
        svc = topology_service()
        pods = zoned_pods({"c": 3})
        existing = apply([], run(service(), pods, nodes=zone_nodes()))
        result = run(svc, pods, existing, nodes=zone_nodes())
        assert writes(result) == (0, 1, 0)
        assert hints(result.updates) == Counter({"zone-a": 1, "zone-b": 1, "zone-c": 1})
        assert cross_zone(result.updates) == 2
        assert (
            "Normal",
            "TopologyAwareHintsEnabled",
            "Topology Aware Hints has been enabled, addressType: IPv4",
        ) in result.events

    def test_too_few_endpoints_for_the_overload_threshold(self):
        result = run(topology_service(), zoned_pods({"a": 2, "c": 2}), nodes=zone_nodes())
        assert hints(result.creates) == Counter()
        assert result.events[0][1] == "TopologyAwareHintsDisabled"
        assert "Unable to allocate minimum required endpoints" in result.events[0][2]

    def test_nine_endpoints_balanced_three_per_zone(self):
        svc = topology_service()
        pods = zoned_pods({"a": 4, "b": 3, "c": 2})
        first, second = pods[:4] + pods[7:8], pods[4:7] + pods[8:]
        existing = [
            pod_slice(service(), first, "s1", nodes=zone_nodes()),
            pod_slice(service(), second, "s2", nodes=zone_nodes()),
        ]
        result = run(svc, pods, existing, nodes=zone_nodes())
        assert writes(result) == (0, 2, 0)
        assert hints(result.updates) == Counter({"zone-a": 3, "zone-b": 3, "zone-c": 3})
        assert cross_zone(result.updates) == 1

    def test_disabled_annotation_writes_nothing(self):
        pods = zoned_pods({"a": 4, "b": 3, "c": 2})
        existing = apply([], run(service(), pods, nodes=zone_nodes()))
        assert writes(run(topology_service("disabled"), pods, existing, nodes=zone_nodes())) == (0, 0, 0)


class TestS20TrafficDistribution:
    pods = staticmethod(lambda: zoned_pods({"a": 1, "b": 3, "c": 2}))

    def test_prefer_close_hints_own_zone(self):
        result = run(service(trafficDistribution="PreferClose"), self.pods(), nodes=zone_nodes())
        assert writes(result) == (1, 0, 0)
        assert hints(result.creates) == Counter({"zone-a": 1, "zone-b": 3, "zone-c": 2})
        assert cross_zone(result.creates) == 0

    def test_no_traffic_distribution_no_hints(self):
        assert hints(run(service(), self.pods(), nodes=zone_nodes()).creates) == Counter()

    def test_topology_annotation_wins(self):
        svc = topology_service()
        svc["spec"]["trafficDistribution"] = "PreferClose"
        result = run(svc, self.pods(), nodes=zone_nodes())
        assert hints(result.creates) == Counter({"zone-a": 2, "zone-b": 2, "zone-c": 2})
        assert cross_zone(result.creates) == 1

    def test_prefer_same_node_adds_node_hints(self):
        result = run(service(trafficDistribution="PreferSameNode"), self.pods(), nodes=zone_nodes())
        ep = result.creates[0]["endpoints"][0]
        assert ep["hints"] == {"forZones": [{"name": ep["zone"]}], "forNodes": [{"name": ep["nodeName"]}]}

    def test_removing_traffic_distribution_strips_hints_with_one_update(self):
        existing = apply([], run(service(trafficDistribution="PreferClose"), self.pods(), nodes=zone_nodes()))
        result = run(service(), self.pods(), existing, nodes=zone_nodes())
        assert writes(result) == (0, 1, 0) and hints(result.updates) == Counter()


@pytest.mark.parametrize(
    ("ready", "deleting", "pnra", "expected"),
    [
        (True, False, False, (True, True, False)),
        (False, False, False, (False, False, False)),
        (True, True, False, (False, True, True)),
        (False, True, False, (False, False, True)),
        (True, False, True, (True, True, False)),
        (False, False, True, (True, False, False)),
        (True, True, True, (True, True, True)),
        (False, True, True, (True, False, True)),
    ],
)
def test_s21_pod_to_endpoint_conditions(ready, deleting, pnra, expected):
    result = run(service(publishNotReadyAddresses=pnra), [pod(0, ready=ready, deleting=deleting)])
    cond = result.creates[0]["endpoints"][0]["conditions"]
    assert (cond["ready"], cond["serving"], cond["terminating"]) == expected


def test_s21_hostname_only_with_matching_subdomain_and_no_zone_without_node():
    svc = service()
    with_sub = pod(0, hostname="h0", subdomain="foo")
    other_sub = pod(1, hostname="h1", subdomain="bar")
    result = run(svc, [with_sub, other_sub], nodes=[node(zone="z")])
    eps = {ep["targetRef"]["name"]: ep for ep in result.creates[0]["endpoints"]}
    assert eps["pod0"]["hostname"] == "h0" and "hostname" not in eps["pod1"]
    unscheduled = run(service(publishNotReadyAddresses=True), [pod(0, node="")], nodes=[])
    ep = unscheduled.creates[0]["endpoints"][0]
    assert "zone" not in ep and "nodeName" not in ep


def test_terminal_and_ipless_pods_are_left_out():
    failed = pod(0)
    failed["status"]["phase"] = "Failed"
    pending = pod(1)
    pending["status"] = {"phase": "Pending"}
    result = run(service(), [failed, pending, pod(2)])
    assert [ep["targetRef"]["name"] for ep in result.creates[0]["endpoints"]] == ["pod2"]


def test_selectorless_service_is_not_reconciled():
    result = run(service(selector=None), [pod(0)])
    assert writes(result) == (0, 0, 0)
    assert result.notes == [{"reason": "no-selector"}] and "no selector" in result.explanations[0]


def test_readiness_flip_is_one_in_place_update_explained():
    svc = service()
    pods = [pod(i) for i in range(250)]
    existing = apply([], run(svc, pods))
    pods[7]["status"]["conditions"][0]["status"] = "False"
    result = run(svc, pods, existing)
    assert writes(result) == (0, 1, 0)
    (note,) = result.notes
    assert note["action"] == "updated"
    assert note["reasons"] == [{"reason": "endpoints-changed", "count": 1, "change": "became not ready"}]
    assert result.added == 0 and result.removed == 0


def test_inputs_are_not_modified():
    import copy

    svc = topology_service()
    pods = zoned_pods({"a": 4, "b": 3, "c": 2})
    existing = apply([], run(service(), pods[:5], nodes=zone_nodes()))
    snapshot = copy.deepcopy((svc, pods, existing))
    run(svc, pods, existing, nodes=zone_nodes())
    assert (svc, pods, existing) == snapshot


def test_endpoint_cache_only_saves_time():
    svc = service()
    pods = [pod(i, ready=i % 2 == 0) for i in range(150)]
    for p in pods:
        p["metadata"]["resourceVersion"] = "1"
    cache = EndpointCache()
    first = run(svc, pods, endpoint_cache=cache)
    existing = apply([], first)
    pods[3]["status"]["conditions"][0]["status"] = "True"
    pods[3]["metadata"]["resourceVersion"] = "2"
    cached, fresh = run(svc, pods, existing, endpoint_cache=cache), run(svc, pods, existing)
    assert cached.updates == fresh.updates and writes(cached) == (0, 1, 0)
    pnra = service(publishNotReadyAddresses=True)  # a Service setting change invalidates the cache
    cached, fresh = run(pnra, pods, existing, endpoint_cache=cache), run(pnra, pods, existing)
    assert cached.updates == fresh.updates
    assert all(ep["conditions"]["ready"] for s in cached.updates for ep in s["endpoints"])


def test_endpoint_cache_stays_within_twice_the_service_and_sweeps_correctly():
    svc, pods = service(), [pod(i) for i in range(150)]
    for p in pods:
        p["metadata"]["resourceVersion"] = "1"
    cache, existing, sizes = EndpointCache(), [], []
    for change in range(400):  # one pod changes per sync; stale entries pile up until a sweep
        p = pods[change % len(pods)]
        p["metadata"]["resourceVersion"] = str(int(p["metadata"]["resourceVersion"]) + 1)
        p["status"]["conditions"][0]["status"] = "False" if change % 2 else "True"
        cached = run(svc, pods, existing, endpoint_cache=cache)
        if change % 25 == 0:
            fresh = run(svc, pods, existing)
            assert cached.creates == fresh.creates and cached.updates == fresh.updates
        existing = apply(existing, cached)
        sizes.append(len(cache))
    # one entry per pod version and per stored slice version in use
    live = len(pods) + sum(bool(s["metadata"].get("resourceVersion")) for s in existing)
    assert max(sizes) <= 2 * live + 64 + 2
    assert min(sizes[10:]) >= live  # and the live ones are never swept
    assert any(b < a for a, b in itertools.pairwise(sizes))  # a sweep happened


def _edit_everything(slices):
    """Change every nested part of returned slices, as a careless caller might."""
    for s in slices:
        s["metadata"]["labels"]["edited"] = "yes"
        s["metadata"]["ownerReferences"][0]["name"] = "edited"
        s["ports"].append({"name": "edited", "port": 1})
        for ep in s["endpoints"]:
            ep["conditions"]["ready"] = not ep["conditions"]["ready"]
            ep["addresses"].append("9.9.9.9")
            ep["targetRef"]["name"] = "edited"
            ep["hints"] = {"forZones": [{"name": "edited"}]}


def test_editing_results_does_not_change_the_next_reconcile():
    svc = topology_service()
    pods = zoned_pods({"a": 4, "b": 3, "c": 2})
    for p in pods:
        p["metadata"]["resourceVersion"] = "1"
    nodes = zone_nodes()
    existing = apply([], run(service(), pods[:5], nodes=nodes))  # one slice: gets hints and 4 more pods
    cache = EndpointCache()
    first = run(svc, pods, existing, nodes=nodes, endpoint_cache=cache, max_endpoints_per_slice=7)
    assert writes(first) == (1, 1, 0)
    _edit_everything(first.creates + first.updates)
    again = run(svc, pods, existing, nodes=nodes, endpoint_cache=cache, max_endpoints_per_slice=7)
    fresh = run(svc, pods, existing, nodes=nodes, max_endpoints_per_slice=7)
    assert again.creates == fresh.creates and again.updates == fresh.updates
    assert hints(again.creates + again.updates) == Counter({"zone-a": 3, "zone-b": 3, "zone-c": 3})


def test_hints_on_and_off_across_cached_syncs_match_uncached_ones():
    pods = zoned_pods({"a": 4, "b": 3, "c": 2})
    for p in pods:
        p["metadata"]["resourceVersion"] = "1"
    nodes, cache, existing = zone_nodes(), EndpointCache(), []
    modes = [topology_service(), service(), service(trafficDistribution="PreferSameNode"), topology_service()]
    for i, svc in enumerate(modes + modes[::-1]):
        pods[i]["status"]["conditions"][0]["status"] = "False"  # one pod changes per sync, too
        pods[i]["metadata"]["resourceVersion"] = "2"
        cached = run(svc, pods, existing, nodes=nodes, endpoint_cache=cache, max_endpoints_per_slice=4)
        fresh = run(svc, pods, existing, nodes=nodes, max_endpoints_per_slice=4)
        assert cached.creates == fresh.creates and cached.updates == fresh.updates
        assert cached.deletes == fresh.deletes and cached.explanations == fresh.explanations
        assert cached.creates or cached.updates  # every sync writes: hints or a readiness change
        existing = apply(existing, cached)


def test_updates_of_hinted_unchanged_slices_do_not_touch_the_input():
    import copy

    pods = zoned_pods({"a": 1, "b": 3, "c": 2})
    existing = apply([], run(service(trafficDistribution="PreferClose"), pods, nodes=zone_nodes()))
    existing[0]["metadata"]["annotations"] = {}
    snapshot = copy.deepcopy(existing)
    relabelled = service()
    relabelled["metadata"]["labels"] = {"team": "web"}  # a labels-only update, and hints to strip
    result = run(relabelled, pods, existing, nodes=zone_nodes(), trigger_time="2026-01-01T00:00:00Z")
    assert writes(result) == (0, 1, 0) and hints(result.updates) == Counter()
    assert existing == snapshot
