"""iptables rendering against upstream's expected outputs (node-dataplane.md §2, §10)."""

import re

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
from upstream_rules import OVERALL_IPTABLES

from helpers.dataplane import iptables_save
from helpers.dataplane.iptables import endpoint_chain, port_proto_hash, probability, render
from helpers.dataplane.proxy import build_proxy_state


def test_overall_rules_byte_identical_hc5():
    services, slices = overall_rules_inputs()
    assert iptables_save(services=services, endpoint_slices=slices, node=make_node(),
                         config=UPSTREAM_CONFIG) == OVERALL_IPTABLES


@pytest.mark.parametrize("text, expected", [
    ("ns1/svc1:p80tcp", "XPGD46QRK7WJZT7O"), ("ns1/svc1tcp", "AQI2S6QIMU7PVVRP"),
    ("kube-system/kube-dns:dnsudp", "TCOU7JCQXEZGVUNU"), ("kube-system/kube-dns:dns-tcptcp", "ERIFXISQEP7F7OF4"),
])
def test_chain_hash_table(text, expected):
    spn, proto = text[:-3], text[-3:]
    assert port_proto_hash(spn, proto.upper()) == expected


def test_endpoint_chain_and_probabilities():
    assert endpoint_chain("ns1/svc1:p80", "tcp", "10.180.0.1:80") == "KUBE-SEP-SXIVWICOYRO3J4NJ"
    assert [probability(n) for n in (2, 3, 4, 5, 6, 7, 10)] == [
        "0.5000000000", "0.3333333333", "0.2500000000", "0.2000000000", "0.1666666667", "0.1428571429",
        "0.1000000000"]


HC1_NAT = """\
:KUBE-SEP-3JOIVZTXZZRGORX4 - [0:0]
:KUBE-SEP-IO5XOSKPAXIFQXAJ - [0:0]
:KUBE-SEP-XGJFVO3L2O5SRFNT - [0:0]
:KUBE-SVC-AQI2S6QIMU7PVVRP - [0:0]
-A KUBE-SERVICES -m comment --comment "ns1/svc1 cluster IP" -m tcp -p tcp -d 172.30.1.1 --dport 80 -j KUBE-SVC-AQI2S6QIMU7PVVRP
-A KUBE-SEP-3JOIVZTXZZRGORX4 -m comment --comment ns1/svc1 -s 10.0.1.1 -j KUBE-MARK-MASQ
-A KUBE-SEP-3JOIVZTXZZRGORX4 -m comment --comment ns1/svc1 -m tcp -p tcp -j DNAT --to-destination 10.0.1.1:80
-A KUBE-SEP-IO5XOSKPAXIFQXAJ -m comment --comment ns1/svc1 -s 10.0.1.2 -j KUBE-MARK-MASQ
-A KUBE-SEP-IO5XOSKPAXIFQXAJ -m comment --comment ns1/svc1 -m tcp -p tcp -j DNAT --to-destination 10.0.1.2:80
-A KUBE-SEP-XGJFVO3L2O5SRFNT -m comment --comment ns1/svc1 -s 10.0.1.3 -j KUBE-MARK-MASQ
-A KUBE-SEP-XGJFVO3L2O5SRFNT -m comment --comment ns1/svc1 -m tcp -p tcp -j DNAT --to-destination 10.0.1.3:80
-A KUBE-SVC-AQI2S6QIMU7PVVRP -m comment --comment "ns1/svc1 cluster IP" -m tcp -p tcp -d 172.30.1.1 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
-A KUBE-SVC-AQI2S6QIMU7PVVRP -m comment --comment "ns1/svc1 -> 10.0.1.1:80" -m statistic --mode random --probability 0.3333333333 -j KUBE-SEP-3JOIVZTXZZRGORX4
-A KUBE-SVC-AQI2S6QIMU7PVVRP -m comment --comment "ns1/svc1 -> 10.0.1.2:80" -m statistic --mode random --probability 0.5000000000 -j KUBE-SEP-IO5XOSKPAXIFQXAJ
-A KUBE-SVC-AQI2S6QIMU7PVVRP -m comment --comment "ns1/svc1 -> 10.0.1.3:80" -j KUBE-SEP-XGJFVO3L2O5SRFNT
"""


def _e2e_inputs(itp=None):
    extra = {"internalTrafficPolicy": itp} if itp else {}
    svc = make_service("ns1", "svc1", "172.30.1.1", ports=(("", 80),), **extra)
    eps = [make_endpoint("10.0.1.1", node=TEST_NODE), make_endpoint("10.0.1.2", node="host1"),
           make_endpoint("10.0.1.3", node="host2")]
    return [svc], [make_slice("ns1", "svc1", "svc1-1", eps, ports=(("", 80),))]


def _service_lines(text):
    """The per-service nat lines of HC-1: declarations and rules naming ns1/svc1 or its chains."""
    nat = text[text.index("*nat"):]
    return [ln for ln in nat.splitlines() if re.search(r"KUBE-(SEP|SVC|SVL)-|ns1/svc1", ln)]


def test_internal_traffic_policy_cluster_hc1():
    services, slices = _e2e_inputs()
    out = iptables_save(services=services, endpoint_slices=slices, node=make_node(), config=UPSTREAM_CONFIG)
    assert _service_lines(out) == HC1_NAT.splitlines()
    assert "ns1/svc1" not in out[:out.index("*nat")]  # no service-specific filter rules


def test_internal_traffic_policy_local_uses_svl_only_local_endpoint():
    services, slices = _e2e_inputs("Local")
    out = iptables_save(services=services, endpoint_slices=slices, node=make_node(), config=UPSTREAM_CONFIG)
    assert "-j KUBE-SVL-AQI2S6QIMU7PVVRP" in out and "KUBE-SVC-AQI2S6QIMU7PVVRP" not in out
    assert "-A KUBE-SVL-AQI2S6QIMU7PVVRP -m comment --comment \"ns1/svc1 -> 10.0.1.1:80\" -j KUBE-SEP-" in out
    assert "10.0.1.2" not in out
    # A node without a local endpoint drops (endpoints exist elsewhere) instead of rejecting.
    other = iptables_save(services=services, endpoint_slices=slices, node=make_node("host3"), config=UPSTREAM_CONFIG)
    assert ('-A KUBE-SERVICES -m comment --comment "ns1/svc1 has no local endpoints" -m tcp -p tcp '
            "-d 172.30.1.1 --dport 80 -j DROP") in other
    assert "KUBE-SEP-" not in other


def _render(services, slices, node=None, **config):
    return render(build_proxy_state(services, slices, node or make_node(), {**UPSTREAM_CONFIG, **config}))


def test_external_traffic_policy_local_with_local_endpoint_jumps_to_svl():
    svc = make_service("ns2", "svc2", "172.30.0.42", ports=(("p80", 80, 3001),), svc_type="NodePort",
                       externalTrafficPolicy="Local")
    eps = [make_endpoint("10.180.0.2", node=TEST_NODE), make_endpoint("10.180.0.9", node="other")]
    nat = _render([svc], [make_slice("ns2", "svc2", "svc2-1", eps)]).dump().tables["nat"]
    ext = nat["KUBE-EXT-GNZBNJ2PO5MGZ6GT"]
    assert ext[-1] == "-A KUBE-EXT-GNZBNJ2PO5MGZ6GT -j KUBE-SVL-GNZBNJ2PO5MGZ6GT"
    assert len(nat["KUBE-SVL-GNZBNJ2PO5MGZ6GT"]) == 1 and len(nat["KUBE-SVC-GNZBNJ2PO5MGZ6GT"]) == 3


def test_terminating_fallback_renders_serving_terminating_endpoint():
    svc = make_service("ns1", "svc1", "172.30.0.41")
    eps = [make_endpoint("10.180.0.1", ready=False, serving=True, terminating=True),
           make_endpoint("10.180.0.2", ready=False, serving=False, terminating=True)]
    nat = _render([svc], [make_slice("ns1", "svc1", "svc1-1", eps)]).dump().tables["nat"]
    assert nat["KUBE-SVC-XPGD46QRK7WJZT7O"][-1].endswith("-j " + endpoint_chain("ns1/svc1:p80", "tcp", "10.180.0.1:80"))
    assert not any("10.180.0.2" in r for rules in nat.values() for r in rules)


def test_masquerade_all_bit_and_no_detector():
    svc = make_service("ns1", "svc1", "172.30.0.41")
    slices = [make_slice("ns1", "svc1", "svc1-1", ["10.180.0.1"])]
    state = build_proxy_state([svc], slices, make_node(),
                              {"iptables": {"masqueradeAll": True, "masqueradeBit": 13, "localhostNodePorts": False}})
    dump = render(state, nfacct=False, random_fully=True).dump()
    svc_rules = dump.tables["nat"]["KUBE-SVC-XPGD46QRK7WJZT7O"]
    assert svc_rules[0].endswith("--dport 80 -j KUBE-MARK-MASQ") and "! -s" not in svc_rules[0]
    assert dump.tables["nat"]["KUBE-MARK-MASQ"] == ["-A KUBE-MARK-MASQ -j MARK --or-mark 0x2000"]
    assert dump.tables["nat"]["KUBE-POSTROUTING"][-1].endswith("-j MASQUERADE --random-fully")
    assert "KUBE-FIREWALL" not in dump.tables["filter"]
    assert dump.tables["nat"]["KUBE-SERVICES"][-1].endswith("--dst-type LOCAL ! -d 127.0.0.0/8 -j KUBE-NODEPORTS")
    # Without any local-traffic detector the off-cluster masquerade rule is omitted.
    bare = render(build_proxy_state([svc], slices, make_node(), {})).dump()
    assert not any("cluster IP" in r for r in bare.tables["nat"]["KUBE-SVC-XPGD46QRK7WJZT7O"])


def test_node_port_addresses_write_one_jump_per_matching_ip():
    svc = make_service("ns3", "svc3", "172.30.0.43", ports=(("p80", 80, 3003),), svc_type="NodePort")
    out = iptables_save(services=[svc], endpoint_slices=[make_slice("ns3", "svc3", "svc3-1", ["10.180.0.3"])],
                        node=make_node(), config={**UPSTREAM_CONFIG, "nodePortAddresses": ["192.168.0.0/24"]})
    assert '-d 192.168.0.2 -j KUBE-NODEPORTS' in out and "--dst-type LOCAL -j KUBE-NODEPORTS" not in out


def test_large_cluster_mode_drops_endpoint_comments():
    services = [make_service("ns1", f"s{i}", f"172.30.{i // 200}.{i % 200 + 1}") for i in range(101)]
    slices = [make_slice("ns1", f"s{i}", f"s{i}-1", [f"10.1.{i}.{j}" for j in range(10)]) for i in range(101)]
    rules = _render(services, slices)
    assert rules.large_cluster_mode
    nat = rules.dump().tables["nat"]
    sep = next(c for c in nat if c.startswith("KUBE-SEP-"))
    assert all("--comment" not in r for r in nat[sep])
    small = _render(services[:99], slices[:99])
    assert not small.large_cluster_mode


def test_hooks_are_prepended_jumps():
    services, slices = overall_rules_inputs()
    dump = render(build_proxy_state(services, slices, make_node(), UPSTREAM_CONFIG), include_hooks=True).dump()
    assert dump.tables["nat"]["PREROUTING"] == [
        '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES']
    assert dump.tables["filter"]["INPUT"][0] == "-A INPUT -j KUBE-FIREWALL"
    assert dump.policies[("nat", "PREROUTING")] == "ACCEPT"


def test_partial_restore_only_rewrites_changed_services():
    services, slices = overall_rules_inputs()
    rules = render(build_proxy_state(services, slices, make_node(), UPSTREAM_CONFIG))
    full = rules.restore_payload()
    partial = rules.restore_payload(changed={("ns4", "svc4")}, stale=["KUBE-SEP-OLDOLDOLDOLDOLD1"])
    assert len(partial) < len(full)
    assert ":KUBE-SVC-4SW47YFZTEDKD3PK - [0:0]" in partial and ":KUBE-SVC-XPGD46QRK7WJZT7O" not in partial
    assert "-X KUBE-SEP-OLDOLDOLDOLDOLD1" in partial
    assert "-A KUBE-SERVICES -m comment --comment \"ns1/svc1:p80 cluster IP\"" in partial  # shared chains stay


def test_node_view_has_canary_chains():
    services, slices = overall_rules_inputs()
    dump = render(build_proxy_state(services, slices, make_node(), UPSTREAM_CONFIG), include_hooks=True).dump()
    assert all(dump.tables[t]["KUBE-PROXY-CANARY"] == [] for t in ("mangle", "nat", "filter"))
    assert "KUBE-PROXY-CANARY" not in render(build_proxy_state(services, slices, make_node(), UPSTREAM_CONFIG)
                                             ).dump().tables["nat"]
