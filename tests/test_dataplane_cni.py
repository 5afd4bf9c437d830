"""kindnet routes and conflist, node IPAM, and the kube-proxy replacement comparison."""

import pandas as pd
import pytest
from builders import endpoint, endpoint_slice, node, proxied_service

from helpers.dataplane.cni import (
    backend_selection,
    kindnet_conflist,
    kindnet_routes,
    node_ipam,
    proxy_comparison,
)
from helpers.dataplane.proxy import build_proxy_state

NODES = [
    node("endpoints-control-plane", "172.18.0.4", pod_cidr="10.244.0.0/24"),
    node("endpoints-worker", "172.18.0.2", pod_cidr="10.244.2.0/24"),
    node("endpoints-worker2", "172.18.0.3", pod_cidr="10.244.1.0/24"),
]


def test_each_node_routes_the_other_nodes_pod_cidrs():
    assert kindnet_routes(NODES, "endpoints-worker") == [
        "10.244.0.0/24 via 172.18.0.4 dev eth0",
        "10.244.1.0/24 via 172.18.0.3 dev eth0",
    ]
    assert kindnet_routes(NODES, "endpoints-control-plane") == [
        "10.244.1.0/24 via 172.18.0.3 dev eth0",
        "10.244.2.0/24 via 172.18.0.2 dev eth0",
    ]


def test_nodes_without_pod_cidr_get_no_route_and_ipv6_is_separate():
    nodes = [*NODES[:2], node("endpoints-worker3", "172.18.0.5"),
             {**NODES[2], "spec": {"podCIDRs": ["10.244.1.0/24", "fd00:10:244:1::/64"]},
              "status": {"addresses": [{"type": "InternalIP", "address": "172.18.0.3"},
                                       {"type": "InternalIP", "address": "fc00:f853:ccd:e793::3"}]}}]
    assert kindnet_routes(nodes, "endpoints-worker") == [
        "10.244.0.0/24 via 172.18.0.4 dev eth0", "10.244.1.0/24 via 172.18.0.3 dev eth0"]
    assert kindnet_routes(nodes, "endpoints-worker", family=6) == [
        "fd00:10:244:1::/64 via fc00:f853:ccd:e793::3 dev eth0"]


def test_unknown_node_is_a_clear_error():
    with pytest.raises(ValueError, match="node 'nope' is not among the nodes given"):
        kindnet_routes(NODES, "nope")


def test_conflist_uses_host_local_on_the_pod_cidr_and_ipam_follows_it():
    conf = kindnet_conflist(NODES[1])
    assert [p["type"] for p in conf["plugins"]] == ["ptp", "portmap"]
    ipam = conf["plugins"][0]["ipam"]
    assert ipam["type"] == "host-local" and ipam["ranges"] == [[{"subnet": "10.244.2.0/24"}]]
    assert ipam["dataDir"] == "/run/cni-ipam-state"
    assert node_ipam(NODES[1]).allocate("first-pod") == "10.244.2.2"
    with pytest.raises(ValueError, match="has no spec.podCIDR yet"):
        node_ipam(node("fresh", "172.18.0.9"))


def test_proxy_comparison_renders_as_a_table():
    table = pd.DataFrame(proxy_comparison()).set_index("implementation")
    assert list(table.index) == ["kube-proxy (iptables)", "kube-proxy (nftables)",
                                 "Cilium (kubeProxyReplacement=true)", "Antrea Proxy", "Calico eBPF"]
    assert table.notna().all().all() and (table != "").all().all()
    assert "EndpointSlices" in table.loc["Antrea Proxy", "watches"]
    assert "cilium_lb4_services_v2" in table.loc["Cilium (kubeProxyReplacement=true)", "programs"]
    rows = proxy_comparison()
    rows[0]["watches"] = "changed"
    assert proxy_comparison()[0]["watches"] != "changed"  # callers get copies


SLICE = endpoint_slice([endpoint(ip, n) for ip, n in (
    ("10.244.0.5", "endpoints-control-plane"), ("10.244.2.5", "endpoints-worker"), ("10.244.1.5", "endpoints-worker2"))])


def test_backend_selection_shows_one_nodes_endpoints_in_each_datapath():
    state = build_proxy_state([proxied_service()], [SLICE], NODES[1])
    rows = backend_selection(state)
    assert [(r["backend"], r["iptables"], r["nftables"]) for r in rows] == [
        ("10.244.0.5:8080", "--probability 0.3333333333", "numgen random mod 3 -> 0"),
        ("10.244.1.5:8080", "--probability 0.5000000000", "numgen random mod 3 -> 1"),
        ("10.244.2.5:8080", "last rule (no match)", "numgen random mod 3 -> 2"),
    ]
    assert {r["frontend"] for r in rows} == {"10.96.0.20:80/TCP"}
    assert [r["Antrea"] for r in rows][-1] == "bucket 3 of 3, equal weight"
    assert sum(r["chance"] for r in rows) == pytest.approx(1.0)


def test_backend_selection_with_internal_traffic_policy_local_keeps_the_local_endpoint():
    rows = backend_selection(build_proxy_state([proxied_service(itp="Local")], [SLICE], NODES[1]))
    assert [(r["backend"], r["iptables"], r["chance"]) for r in rows] == [
        ("10.244.2.5:8080", "last rule (no match)", 1.0)]
