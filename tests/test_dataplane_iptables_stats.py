"""Rule statistics and full vs partial sync payloads (node-dataplane.md §1.5, KEP-3453)."""

import pytest
from proxyfixtures import (
    UPSTREAM_CONFIG,
    make_endpoint,
    make_node,
    make_service,
    make_slice,
    overall_rules_inputs,
)
from upstream_rules import OVERALL_IPTABLES, OVERALL_NFTABLES

from helpers.dataplane import ConfigError, rule_stats, scaling_rows, sync_payload
from helpers.dataplane.parse import parse_iptables_save
from helpers.dataplane.proxy import build_proxy_state
from helpers.dataplane.stats import node_differences, render, synthetic_cluster


def test_rule_stats_count_what_the_text_contains():
    services, slices = overall_rules_inputs()
    stats = rule_stats(services, slices, make_node(), UPSTREAM_CONFIG)
    dump = parse_iptables_save(OVERALL_IPTABLES)
    assert (stats.mode, stats.rules, stats.chains) == ("iptables", dump.rule_count(), dump.chain_count())
    nft = rule_stats(services, slices, make_node(), UPSTREAM_CONFIG, mode="nftables", service_cidrs=["172.30.0.0/16"])
    upstream = OVERALL_NFTABLES.splitlines()
    assert nft.elements == sum(ln.startswith("add element") for ln in upstream)
    assert nft.rules == sum(ln.startswith("add rule") for ln in upstream)


def _rulesets(mode, n=20):
    services, slices = synthetic_cluster(n, 4)
    config = {"clusterCIDR": "10.0.0.0/8", "mode": mode}
    before = render(build_proxy_state(services, slices, "node-0", config))
    fewer = [dict(slices[0], endpoints=slices[0]["endpoints"][1:])] + slices[1:]
    after = render(build_proxy_state(services, fewer, "node-0", config))
    gone = render(build_proxy_state(services[1:], slices[1:], "node-0", config))
    return before, after, gone


def test_iptables_partial_sync_rewrites_one_service_and_deletes_stale_chains():
    before, after, gone = _rulesets("iptables")
    full, partial = sync_payload(None, after, None), sync_payload(before, after, {("bench", "svc-0")})
    assert len(partial) < len(full) / 5
    assert "svc-1:http -> " not in partial and "bench/svc-0:http -> " in partial
    removed = sync_payload(before, gone, {("bench", "svc-0")})
    svc0_chains = {c for p in before.ports if p.service == ("bench", "svc-0") for c in p.chains}
    assert {f"-X {c}" for c in svc0_chains} <= set(removed.splitlines())


def test_nft_partial_sync_writes_element_diffs():
    before, after, gone = _rulesets("nftables")
    partial = sync_payload(before, after, {("bench", "svc-0")})
    assert "svc-1/" not in partial
    removed = sync_payload(before, gone, {("bench", "svc-0")})
    assert any(ln.startswith("delete element ip kube-proxy service-ips") for ln in removed.splitlines())
    assert any(ln.startswith("flush chain ip kube-proxy service-") for ln in removed.splitlines())


def test_scaling_rows_show_how_work_grows():
    rows = {(r["services"], r["mode"]): r for r in scaling_rows([10, 100], endpoints_per_service=2)}
    ipt_small, ipt_big = rows[(10, "iptables")], rows[(100, "iptables")]
    nft_small, nft_big = rows[(10, "nftables")], rows[(100, "nftables")]
    assert ipt_big["full_sync_bytes"] > 5 * ipt_small["full_sync_bytes"]
    # iptables rewrites KUBE-SERVICES on every sync, so even a one-service change grows with the cluster;
    # nftables only sends the changed service's chains and map elements.
    assert ipt_big["partial_sync_bytes"] > 2 * ipt_small["partial_sync_bytes"]
    assert nft_big["partial_sync_bytes"] == nft_small["partial_sync_bytes"]
    assert ipt_big["rules"] == 10 * (ipt_small["rules"] - 9) + 9  # 9 fixed rules, the rest per service


def test_ipvs_is_not_rendered():
    with pytest.raises(ConfigError, match="not modelled"):
        rule_stats([], [], "n1", {"mode": "ipvs"})


def test_node_differences_are_local_endpoints_and_topology():
    nodes = [make_node("a1", "10.1.0.1", zone="a"), make_node("a2", "10.1.0.2", zone="a"),
             make_node("b1", "10.1.0.3", zone="b")]
    hinted = make_service("ns", "web", "10.96.0.5", trafficDistribution="PreferSameZone")
    local = make_service("ns", "cache", "10.96.0.6", internalTrafficPolicy="Local")
    slices = [
        make_slice("ns", "web", "web-1", [make_endpoint("10.2.0.1", node="a1", zone="a", for_zones=["a"]),
                                          make_endpoint("10.2.0.2", node="b1", zone="b", for_zones=["b"])]),
        make_slice("ns", "cache", "cache-1", [make_endpoint("10.3.0.1", node="a1")]),
    ]
    diff = node_differences([hinted, local], slices, nodes, {"clusterCIDR": "10.0.0.0/8"})
    # Zone a nodes send web traffic to 10.2.0.1 only, zone b to 10.2.0.2 only.
    assert any("-> 10.2.0.1:80" in r for r in diff["a1"]) and not any("-> 10.2.0.2:80" in r for r in diff["a2"])
    assert any("-> 10.2.0.2:80" in r for r in diff["b1"])
    # Only a1 has the iTP=Local endpoint; the others DROP.
    assert any("KUBE-SVL-" in r for r in diff["a1"])
    assert any('"ns/cache:p80 has no local endpoints"' in r and r.endswith("-j DROP") for r in diff["b1"])
    assert not any("KUBE-SVL-" in r for r in diff["a2"])
