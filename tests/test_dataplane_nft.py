"""nftables rendering against upstream's TestOverallNFTablesRules (node-dataplane.md §3.1, HC-10)."""

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
from upstream_rules import OVERALL_NFTABLES

from helpers.dataplane import nft_ruleset
from helpers.dataplane.nftables import canonical_nft, chain_base, render, sort_nft_transaction
from helpers.dataplane.proxy import build_proxy_state

NFT_CONFIG = {**UPSTREAM_CONFIG, "mode": "nftables"}


def _overall(fmt="transaction"):
    services, slices = overall_rules_inputs()
    return nft_ruleset(services=services, endpoint_slices=slices, node=make_node(), config=NFT_CONFIG, fmt=fmt,
                       service_cidrs=["172.30.0.0/16"])


def test_overall_transaction_byte_identical_hc10():
    expected = "\n".join(sort_nft_transaction(OVERALL_NFTABLES.splitlines())) + "\n"
    assert _overall() == expected


@pytest.mark.parametrize("line", [
    "add element ip kube-proxy service-ips { 172.30.0.41 . tcp . 80 : goto service-ULMVA6XW-ns1/svc1/tcp/p80 }",
    ("add rule ip kube-proxy services ip daddr @cluster-ips ip saddr != 10.0.0.0/8 mark set mark or 0x4000 "
     "comment \"masquerade clusterIP traffic from outside cluster\""),
    ("add rule ip kube-proxy service-LAUZTJTB-ns4/svc4/tcp/p80 meta l4proto tcp dnat ip addr . port to numgen random "
     "mod 2 map { 0 : 10.180.0.4 . 80 , 1 : 10.180.0.5 . 80 }"),
    ("add rule ip kube-proxy service-HVFWP5L3-ns5/svc5/tcp/p80 numgen random mod 1 vmap { 0 : goto "
     "endpoint-GTK6MW7G-ns5/svc5/tcp/p80__10.180.0.3/80 }"),
    "add element ip kube-proxy hairpin-connections { 10.180.0.5 . 10.180.0.5 . tcp . 80 }",
    ("add set ip kube-proxy affinity-GTK6MW7G-ns5/svc5/tcp/p80__10.180.0.3/80 { type ipv4_addr ; flags dynamic,timeout "
    "; timeout 10800s ; }"),
    "add rule ip kube-proxy firewall-HVFWP5L3-ns5/svc5/tcp/p80 ip saddr != { 203.0.113.0/25 } drop",
    ("add element ip kube-proxy no-endpoint-services { 172.30.0.46 . tcp . 80 comment \"ns6/svc6:p80\" : goto "
    "reject-chain }"),
    "add element ip kube-proxy no-endpoint-nodeports { tcp . 3001 comment \"ns2/svc2:p80\" : drop }",
])
def test_hc10_lines_present(line):
    assert line in _overall().splitlines()


def test_chain_base_names():
    assert chain_base("ns1", "svc1", "TCP", "p80") == "ULMVA6XW-ns1/svc1/tcp/p80"
    assert chain_base("ns3", "svc3", "tcp", "p80") == "4AT6LBPK-ns3/svc3/tcp/p80"


def test_list_ruleset_shape():
    text = _overall("list")
    assert text.startswith("table ip kube-proxy {\n") and text.endswith("}\n")
    assert "\t\ttype nat hook prerouting priority dstnat; policy accept;" in text
    assert "\t\ttype filter hook prerouting priority dstnat - 10; policy accept;" in text
    assert "\t\tmeta mark set meta mark | 0x00004000 comment \"masquerade\"" in text
    assert ("\t\tmeta mark & 0x00004000 != 0x00000000 meta mark set meta mark ^ 0x00004000 masquerade fully-random"
            in text)
    assert ("\t\tmeta l4proto tcp dnat ip to numgen random mod 2 map { 0 : 10.180.0.4 . 80, 1 : 10.180.0.5 . 80 }"
            in text)
    assert "\t\tip saddr != 203.0.113.0/25 drop" in text
    assert "\t\ttimeout 3h" in text


def test_canonical_nft_is_idempotent():
    for rule in ("mark and 0x4000 != 0 mark set mark xor 0x4000 masquerade fully-random",
                 "ip daddr { 10.96.0.0/16 } drop comment \"x\"",
                 "meta l4proto tcp dnat ip addr . port to numgen random mod 2 map { 0 : 10.0.0.1 . 80 , 1 : 10.0.0.2 . 80 }",
                 "numgen random mod 2 vmap { 0 : goto a , 1 : goto b }"):
        once = canonical_nft(rule)
        assert canonical_nft(once) == once


def test_local_policy_chain_and_no_endpoint_verdicts():
    svc = make_service("ns1", "svc1", "172.30.0.41", ports=(("p80", 80, 30080),), svc_type="NodePort",
                       externalTrafficPolicy="Local")
    eps = [make_endpoint("10.180.0.1", node=TEST_NODE), make_endpoint("10.180.0.2", node="other")]
    rs = render(build_proxy_state([svc], [make_slice("ns1", "svc1", "svc1-1", eps)], make_node(), NFT_CONFIG))
    chains = {c.name: c.rules for c in rs.chains()}
    ext = chains["external-ULMVA6XW-ns1/svc1/tcp/p80"]
    assert ext[-1] == "goto local-ULMVA6XW-ns1/svc1/tcp/p80"
    assert chains["local-ULMVA6XW-ns1/svc1/tcp/p80"] == [
        "meta l4proto tcp dnat to 10.180.0.1:80"]
    assert not [name for name in chains if name.startswith("endpoint-")]  # only ClientIP affinity has them
    # The local endpoint reaching itself through the Service is masqueraded (hairpin), the other is not.
    assert [e.key for e in rs.elements() if e.container == "hairpin-connections"] == [
        ("10.180.0.1", "10.180.0.1", "tcp", "80")]
    # On a node without the local endpoint, NodePort traffic from outside is dropped.
    other = render(build_proxy_state([svc], [make_slice("ns1", "svc1", "svc1-1", eps[1:])], make_node(),
                                     NFT_CONFIG))
    assert [e.body() for e in other.elements() if e.container == "no-endpoint-nodeports"] == [
        'tcp . 30080 comment "ns1/svc1:p80" : drop']


def test_match_all_node_ports():
    svc = make_service("ns1", "svc1", "172.30.0.41")
    rs = render(build_proxy_state([svc], [], make_node(), {**NFT_CONFIG, "nodePortAddresses": ["0.0.0.0/0"]}))
    assert "nodeport-ips" not in rs.sets
    services_chain = next(c for c in rs.chains() if c.name == "services")
    assert services_chain.rules[-1].startswith("fib daddr type local ip daddr != 127.0.0.0/8")


def test_bad_format_is_a_clear_error():
    with pytest.raises(ValueError, match="fmt must be"):
        nft_ruleset(fmt="json")
