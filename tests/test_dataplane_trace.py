"""Packet tracer over rendered and read-back rules (cases as in upstream's packet-flow tests)."""

import pytest
from proxyfixtures import (
    UPSTREAM_CONFIG,
    make_node,
    make_service,
    make_slice,
    overall_rules_inputs,
)
from upstream_rules import OVERALL_IPTABLES

from helpers.dataplane import trace_packet
from helpers.dataplane.nftables import render as render_nft
from helpers.dataplane.proxy import build_proxy_state

# (source, destination, expected outcomes, masquerade) for the HC-5 services on test-node.
FLOWS = [
    ("10.0.0.2", "172.30.0.44:80", {"10.180.0.4:80": 0.5, "10.180.0.5:80": 0.5}, False),  # cascade
    ("10.0.0.2", "172.30.0.46:80", {"REJECT": 1.0}, False),  # no endpoints at all
    ("203.0.113.2", "192.168.0.2:3001", {"DROP": 1.0}, False),  # eTP=Local, none on this node
    ("10.0.0.2", "192.168.0.2:3001", {"10.180.0.2:80": 1.0}, False),  # pods short-circuit to cluster
    ("node", "192.168.0.2:3001", {"10.180.0.2:80": 1.0}, True),  # node-local traffic is masqueraded
    ("203.0.113.2", "5.6.7.8:80", {"10.180.0.3:80": 1.0}, True),  # inside loadBalancerSourceRanges
    ("203.0.113.130", "5.6.7.8:80", {"DROP": 1.0}, False),  # outside the source ranges
    ("10.180.0.1", "172.30.0.41:80", {"10.180.0.1:80": 1.0}, True),  # hairpin
    ("10.0.0.2", "172.30.9.9:80", {"no rule (routed normally)": 1.0}, False),  # not a Service IP
]


def _kw(mode):
    services, slices = overall_rules_inputs()
    return {"services": services, "endpoint_slices": slices, "node": make_node(),
            "config": {**UPSTREAM_CONFIG, "mode": mode}}


@pytest.mark.parametrize("mode", ["iptables", "nftables"])
@pytest.mark.parametrize("source, destination, expected, masq", FLOWS)
def test_flows(mode, source, destination, expected, masq):
    trace = trace_packet(source, destination, **_kw(mode))
    assert trace.endpoints == pytest.approx(expected)
    assert {o.masquerade for o in trace.outcomes} == {masq}
    assert all(o.path for o in trace.outcomes)


def test_invalid_port_on_cluster_ip_differs_between_modes():
    # nftables rejects traffic to an allocated ClusterIP on a port no Service serves; iptables has no such rule.
    assert trace_packet("10.0.0.2", "172.30.0.41:81", **_kw("nftables")).endpoints == {"REJECT": 1.0}
    assert trace_packet("10.0.0.2", "172.30.0.41:81", **_kw("iptables")).endpoints == {
        "no rule (routed normally)": 1.0}
    state = build_proxy_state(**{k: v for k, v in _kw("nftables").items() if k != "services"},
                              services=overall_rules_inputs()[0])
    rules = render_nft(state, service_cidrs=["172.30.0.0/16"])
    assert trace_packet("10.0.0.2", "172.30.9.9:80", rules=rules, node=make_node()).endpoints == {"DROP": 1.0}


@pytest.mark.parametrize("mode", ["iptables", "nftables"])
def test_each_of_n_endpoints_gets_one_nth(mode):
    svc = make_service("ns1", "svc1", "172.30.0.41")
    ips = [f"10.1.0.{i}" for i in range(1, 8)]
    kw = {"services": [svc], "endpoint_slices": [make_slice("ns1", "svc1", "svc1-1", ips)], "node": make_node(),
          "config": {**UPSTREAM_CONFIG, "mode": mode}}
    trace = trace_packet("10.0.0.2", "172.30.0.41:80", **kw)
    assert trace.endpoints == pytest.approx({f"{ip}:80": 1 / 7 for ip in ips})
    hops = {len(o.path) for o in trace.outcomes}
    # iptables walks one probability rule per skipped endpoint; nftables is one numgen lookup.
    assert (max(hops) - min(hops) == 6) if mode == "iptables" else len(hops) == 1


def test_trace_rules_read_from_text():
    trace = trace_packet("10.0.0.2", "172.30.0.44:80", rules=OVERALL_IPTABLES, node_ips=["192.168.0.2"])
    assert trace.endpoints == pytest.approx({"10.180.0.4:80": 0.5, "10.180.0.5:80": 0.5})
    assert trace.rows()[0]["path"].startswith("nat/KUBE-SERVICES")


@pytest.mark.parametrize("source, destination, message", [
    ("10.0.0.2", "172.30.0.41", "ip:port"), ("10.0.0.2", "web:80", "ip:port"), ("10.0.0.2", "172.30.0.41:http", "ip:port"),
    ("pod-a", "172.30.0.41:80", "source must be"),
])
def test_bad_arguments(source, destination, message):
    with pytest.raises(ValueError, match=message):
        trace_packet(source, destination, **_kw("iptables"))


@pytest.mark.parametrize("source, destination, expected, masq", FLOWS)
def test_flows_over_nft_list_text(source, destination, expected, masq):
    kw = _kw("nftables")
    text = render_nft(build_proxy_state(kw["services"], kw["endpoint_slices"], kw["node"], kw["config"])).list_ruleset()
    trace = trace_packet(source, destination, rules=text, node=make_node())
    assert trace.endpoints == pytest.approx(expected)
    assert {o.masquerade for o in trace.outcomes} == {masq}


def test_nft_text_without_kube_proxy_table():
    with pytest.raises(ValueError, match="no 'ip kube-proxy' table"):
        trace_packet("10.0.0.2", "10.96.0.1:443", rules="table inet filter {\n}\n")
