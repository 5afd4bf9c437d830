"""The per-node kube-proxy model: EndpointSliceCache merge, policies, topology (node-dataplane.md §1, §4)."""

import pytest
from proxyfixtures import (
    TEST_NODE,
    UPSTREAM_CONFIG,
    make_endpoint,
    make_node,
    make_service,
    make_slice,
    overall_rules_inputs,
)

from helpers.dataplane.proxy import (
    ConfigError,
    EndpointSliceCache,
    ObjectError,
    ServicePortName,
    build_endpoints_map,
    build_proxy_state,
    default_config,
    health_check_response,
    parse_duration,
)

SPN = ServicePortName("ns1", "svc1", "p80")


def _eps(slices, node=TEST_NODE):
    return [str(ep) for ep in build_endpoints_map(slices, node)[SPN]]


def test_endpoints_sorted_as_strings_hc8():
    slices = [make_slice("ns1", "svc1", "svc1-1", ["10.1.1.1", "10.1.1.11"], ports=(("p80", 11),))]
    assert _eps(slices) == ["10.1.1.11:11", "10.1.1.1:11"]


def test_duplicate_across_slices_prefers_non_terminating():
    a = make_slice("ns1", "svc1", "svc1-a", [make_endpoint("10.0.0.5", ready=False, terminating=True)])
    b = make_slice("ns1", "svc1", "svc1-b", [make_endpoint("10.0.0.5", ready=True)])
    for order in ([a, b], [b, a]):
        (ep,) = build_endpoints_map(order, TEST_NODE)[SPN]
        assert (ep.ready, ep.terminating) == (True, False)


def test_nil_conditions_mean_ready_serving_not_terminating():
    (ep,) = build_endpoints_map([make_slice("ns1", "svc1", "svc1-1", ["10.0.0.5"])], TEST_NODE)[SPN]
    assert (ep.ready, ep.serving, ep.terminating) == (True, True, False)


def test_ignored_ports_endpoints_and_slices():
    nil_name = make_slice("ns1", "svc1", "svc1-1", ["10.0.0.1"])
    del nil_name["ports"][0]["name"]
    zero_port = make_slice("ns1", "svc1", "svc1-2", ["10.0.0.2"], ports=(("p80", 0),))
    no_address = make_slice("ns1", "svc1", "svc1-3", [{"addresses": [], "conditions": {}}])
    ipv6 = make_slice("ns1", "svc1", "svc1-4", ["fd00::1"], address_type="IPv6")
    unlabelled = make_slice("ns1", "svc1", "svc1-5", ["10.0.0.5"])
    unlabelled["metadata"]["labels"] = {}
    kept = make_slice("ns1", "svc1", "svc1-6", ["10.0.0.6"])
    assert _eps([nil_name, zero_port, no_address, ipv6, unlabelled, kept]) == ["10.0.0.6:80"]


def test_merge_over_three_slices_and_port_from_slice():
    ips = [f"10.0.{i // 100}.{i % 100}" for i in range(250)]
    slices = [make_slice("ns1", "svc1", f"svc1-{n}", ips[n * 100:(n + 1) * 100], ports=(("p80", 8080),))
              for n in range(3)]
    eps = _eps(slices)
    assert len(eps) == 250 and eps == sorted(eps) and all(e.endswith(":8080") for e in eps)


def _state(svc, slices, node=None, config=None):
    return build_proxy_state([svc], slices, node or make_node(), {**UPSTREAM_CONFIG, **(config or {})})


def _cat(svc, slices, node=None):
    return _state(svc, slices, node).get("ns1/svc1:p80").categorized


def _names(eps):
    return None if eps is None else [ep.ip for ep in eps]


def test_terminating_fallback_cluster():
    svc = make_service("ns1", "svc1", "172.30.1.1")
    eps = [make_endpoint("10.0.1.1", ready=False, serving=True, terminating=True),
           make_endpoint("10.0.1.2", ready=False, serving=False, terminating=True)]
    cat = _cat(svc, [make_slice("ns1", "svc1", "svc1-1", eps)])
    assert _names(cat.cluster) == ["10.0.1.1"] and cat.has_any and cat.local is None
    # One ready endpoint anywhere disables the fallback.
    eps.append(make_endpoint("10.0.1.3", ready=True))
    assert _names(_cat(svc, [make_slice("ns1", "svc1", "svc1-1", eps)]).cluster) == ["10.0.1.3"]


def test_not_serving_endpoints_are_never_used():
    svc = make_service("ns1", "svc1", "172.30.1.1")
    eps = [make_endpoint("10.0.1.1", ready=False, serving=False, terminating=True)]
    cat = _cat(svc, [make_slice("ns1", "svc1", "svc1-1", eps)])
    assert cat.cluster == () and not cat.has_any


def test_internal_traffic_policy_local():
    svc = make_service("ns1", "svc1", "172.30.1.1", internalTrafficPolicy="Local")
    eps = [make_endpoint("10.0.1.1", node=TEST_NODE), make_endpoint("10.0.1.2", node="host1")]
    cat = _cat(svc, [make_slice("ns1", "svc1", "svc1-1", eps)])
    assert cat.cluster is None and _names(cat.local) == ["10.0.1.1"] and _names(cat.all_reachable) == ["10.0.1.1"]
    remote = _cat(svc, [make_slice("ns1", "svc1", "svc1-1", eps[1:])])
    assert remote.local == () and remote.has_any  # -> DROP, not REJECT


def test_local_terminating_fallback_merges_with_cluster():
    svc = make_service("ns1", "svc1", "172.30.1.1", ports=(("p80", 80, 30080),), svc_type="NodePort",
                       externalTrafficPolicy="Local")
    eps = [make_endpoint("10.0.1.1", node=TEST_NODE, ready=False, serving=True, terminating=True),
           make_endpoint("10.0.1.2", node="host1")]
    cat = _cat(svc, [make_slice("ns1", "svc1", "svc1-1", eps)])
    assert _names(cat.cluster) == ["10.0.1.2"] and _names(cat.local) == ["10.0.1.1"]
    assert _names(cat.all_reachable) == ["10.0.1.1", "10.0.1.2"]


def test_external_policy_local_needs_external_access():
    # eTP=Local on a ClusterIP service without externalIPs is not honoured (apiservice rule).
    svc = make_service("ns1", "svc1", "172.30.1.1", externalTrafficPolicy="Local")
    assert not _state(svc, []).get("ns1/svc1:p80").service_port.external_policy_local


def _zone_slice(hints=True):
    return make_slice("ns1", "svc1", "svc1-1", [
        make_endpoint("10.0.1.1", node="n-a", zone="zone-a", for_zones=("zone-a",) if hints else ()),
        make_endpoint("10.0.1.2", node="n-b", zone="zone-b", for_zones=("zone-b",)),
        make_endpoint("10.0.1.3", node="n-b2", zone="zone-b", for_zones=("zone-b",)),
    ])


def test_topology_zone_hints_narrow_cluster_set_per_node():
    svc = make_service("ns1", "svc1", "172.30.1.1", trafficDistribution="PreferSameZone")
    cat = _cat(svc, [_zone_slice()], node=make_node("n-b", zone="zone-b"))
    assert cat.topology_mode == "PreferSameZone" and _names(cat.cluster) == ["10.0.1.2", "10.0.1.3"]
    assert _names(_cat(svc, [_zone_slice()], node=make_node("n-a", zone="zone-a")).cluster) == ["10.0.1.1"]


def test_topology_is_all_or_nothing():
    svc = make_service("ns1", "svc1", "172.30.1.1")
    cat = _cat(svc, [_zone_slice(hints=False)], node=make_node("n-b", zone="zone-b"))
    assert cat.topology_mode == "" and len(cat.cluster) == 3
    # A zone no hint names, or a node without a zone label, also means "use everything".
    for node in (make_node("n-c", zone="zone-c"), make_node("n-x")):
        assert len(_cat(svc, [_zone_slice()], node=node).cluster) == 3


def test_topology_prefer_same_node_and_gate():
    svc = make_service("ns1", "svc1", "172.30.1.1", trafficDistribution="PreferSameNode")
    slices = [make_slice("ns1", "svc1", "svc1-1", [
        make_endpoint("10.0.1.1", node="n-a", zone="z", for_zones=("z",), for_nodes=("n-a",)),
        make_endpoint("10.0.1.2", node="n-b", zone="z", for_zones=("z",), for_nodes=("n-b",)),
    ])]
    node = make_node("n-a", zone="z")
    cat = _cat(svc, slices, node=node)
    assert cat.topology_mode == "PreferSameNode" and _names(cat.cluster) == ["10.0.1.1"]
    off = _state(svc, slices, node, {"featureGates": {"PreferSameTrafficDistribution": False}})
    assert off.get("ns1/svc1:p80").categorized.topology_mode == "PreferSameZone"


def test_topology_not_applied_to_local_set():
    svc = make_service("ns1", "svc1", "172.30.1.1", internalTrafficPolicy="Local")
    slices = [make_slice("ns1", "svc1", "svc1-1", [
        make_endpoint("10.0.1.1", node=TEST_NODE, zone="zone-a", for_zones=("zone-b",)),
        make_endpoint("10.0.1.2", node="x", zone="zone-b", for_zones=("zone-b",)),
    ])]
    assert _names(_cat(svc, slices, node=make_node(zone="zone-a")).local) == ["10.0.1.1"]


def test_skipped_services_and_state_lookup():
    services, slices = overall_rules_inputs()
    headless = make_service("ns7", "svc7", "None")
    external = make_service("ns8", "svc8", "")
    external["spec"]["type"] = "ExternalName"
    other_proxy = make_service("ns9", "svc9", "172.30.0.49")
    other_proxy["metadata"]["labels"] = {"service.kubernetes.io/service-proxy-name": "cilium"}
    state = build_proxy_state(services + [headless, external, other_proxy], slices, make_node(), UPSTREAM_CONFIG)
    assert [s.key for s in state.ports] == [f"ns{i}/svc{i}:p80" for i in range(1, 7)]
    svc2 = state.get("ns2/svc2:p80")
    assert svc2.service_port.health_check_node_port == 30000 and svc2.categorized.local == ()
    assert state.get("ns5/svc5:p80").service_port.load_balancer_source_ranges == ("203.0.113.0/25",)
    assert state.detector.value == "10.0.0.0/8" and state.node.ips == ("192.168.0.2",)
    with pytest.raises(KeyError, match="ns1/svc1:p80 \\(UDP\\)"):
        state.get("ns1/svc1:p80", "UDP")


def test_config_defaults_and_errors():
    cfg = default_config({"iptables": {"masqueradeBit": 13}})
    assert cfg["iptables"] == {**cfg["iptables"], "masqueradeBit": 13, "localhostNodePorts": True}
    assert cfg["mode"] == "iptables" and cfg["detectLocalMode"] == "ClusterCIDR"
    with pytest.raises(ConfigError, match="masqueradeBit"):
        default_config({"iptables": {"masqueradeBit": 40}})
    with pytest.raises(ConfigError, match="mode"):
        default_config({"mode": "userspace"})
    with pytest.raises(ConfigError, match="iptables: must be a mapping"):
        default_config({"iptables": 14})
    with pytest.raises(ConfigError, match="must be a KubeProxyConfiguration dict"):
        default_config("iptables")
    assert parse_duration("15m0s") == 900 and parse_duration("250ms") == 0.25
    with pytest.raises(ConfigError):
        parse_duration("ten seconds")


def test_node_cidr_detector_and_no_detector():
    svc = make_service("ns1", "svc1", "172.30.1.1")
    node = make_node(pod_cidr="10.244.1.0/24")
    state = build_proxy_state([svc], [], node, {"detectLocalMode": "NodeCIDR"})
    assert state.detector.value == "10.244.1.0/24"
    assert build_proxy_state([svc], [], node, {}).detector is None


def test_health_check_node_port_answers_per_node():
    services, slices = overall_rules_inputs()
    local_eps = [make_endpoint("10.180.0.2", node=TEST_NODE), make_endpoint("10.180.0.9", node=TEST_NODE,
                                                                             ready=False)]
    slices = [s for s in slices if s["metadata"]["name"] != "svc2-1"]
    here = build_proxy_state(services, slices + [make_slice("ns2", "svc2", "svc2-1", local_eps)], make_node(),
                             UPSTREAM_CONFIG)
    code, body = health_check_response(here, "ns2", "svc2")
    assert code == 200 and body == {"service": {"namespace": "ns2", "name": "svc2"}, "localEndpoints": 1,
                                    "serviceProxyHealthy": True}
    elsewhere = build_proxy_state(services, slices + [make_slice("ns2", "svc2", "svc2-1", local_eps)],
                                  make_node("other"), UPSTREAM_CONFIG)
    assert health_check_response(elsewhere, "ns2", "svc2")[0] == 503


def test_malformed_objects_raise_clear_errors():
    bad_port = make_service("ns1", "svc1", "172.30.0.41")
    bad_port["spec"]["ports"][0]["port"] = "eighty"
    with pytest.raises(ObjectError, match=r"Service ns1/svc1 spec.ports\[0\].port: expected a port number"):
        build_proxy_state([bad_port], [], make_node(), UPSTREAM_CONFIG)
    nameless = make_service("ns1", "svc1", "172.30.0.41")
    del nameless["metadata"]["name"]
    with pytest.raises(ObjectError, match="without metadata.name"):
        build_proxy_state([nameless], [], make_node(), UPSTREAM_CONFIG)
    bad_slice = make_slice("ns1", "svc1", "svc1-1", ["10.0.0.1"], ports=(("p80", "http"),))
    with pytest.raises(ObjectError, match="EndpointSlice ns1/svc1-1 port"):
        build_proxy_state([], [bad_slice], make_node(), UPSTREAM_CONFIG)


def test_rows_show_per_node_use_of_each_endpoint():
    svc = make_service("ns1", "svc1", "172.30.1.1", internalTrafficPolicy="Local")
    eps = [make_endpoint("10.0.1.1", node=TEST_NODE), make_endpoint("10.0.1.2", node="host1", ready=False)]
    rows = build_proxy_state([svc], [make_slice("ns1", "svc1", "svc1-1", eps)], make_node(), UPSTREAM_CONFIG).rows()
    assert [(r["endpoint"], r["local"], r["ready"], r["cluster"], r["localPolicy"]) for r in rows] == [
        ("10.0.1.1:80", True, True, None, True), ("10.0.1.2:80", False, False, None, False)]


def test_endpoint_slice_cache_tracks_changes_and_no_ops():
    cache = EndpointSliceCache()
    first = make_slice("ns1", "svc1", "svc1-a", ["10.0.0.1"])
    assert cache.update(first) and cache.checkout_changes() == {("ns1", "svc1")}
    relabelled = {**first, "metadata": {**first["metadata"], "annotations": {"x": "y"}}}
    assert not cache.update(relabelled) and cache.checkout_changes() == set()  # nothing kube-proxy reads
    moved = make_slice("ns1", "svc2", "svc1-a", ["10.0.0.1"])  # same slice, now labelled for svc2
    assert cache.update(moved) and cache.checkout_changes() == {("ns1", "svc1"), ("ns1", "svc2")}
    assert cache.delete(moved) and not cache.delete(moved) and cache.slices() == []
