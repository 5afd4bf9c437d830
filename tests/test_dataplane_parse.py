"""Parsers: render -> text -> parse gives the same structures; model-vs-node diffs (issue #6 live view)."""

import pytest
from proxyfixtures import UPSTREAM_CONFIG, make_node, overall_rules_inputs
from upstream_rules import OVERALL_IPTABLES

from helpers.dataplane.iptables import render as render_iptables
from helpers.dataplane.nftables import canonical_nft
from helpers.dataplane.nftables import render as render_nft
from helpers.dataplane.noderules import diff_node_rules
from helpers.dataplane.parse import (
    ParseError,
    canonical_iptables_rule,
    canonical_probability,
    comment_service_name,
    diff_iptables,
    diff_nft,
    kernel_read_back,
    parse_iptables_save,
    parse_nft_ruleset,
    parse_rule,
)
from helpers.dataplane.proxy import build_proxy_state


def _state(mode="iptables"):
    services, slices = overall_rules_inputs()
    return build_proxy_state(services, slices, make_node(), {**UPSTREAM_CONFIG, "mode": mode})


@pytest.mark.parametrize("hooks", [False, True])
def test_iptables_round_trip(hooks):
    dump = render_iptables(_state(), include_hooks=hooks).dump()
    assert parse_iptables_save(dump.format()) == dump


def test_restore_payload_parses_to_the_normalised_dump():
    rules = render_iptables(_state())
    assert parse_iptables_save(rules.restore_payload()).normalized() == rules.dump()
    assert parse_iptables_save(OVERALL_IPTABLES).format() == OVERALL_IPTABLES


def test_nft_round_trip():
    ruleset = render_nft(_state("nftables"), service_cidrs=["172.30.0.0/16"])
    parsed = parse_nft_ruleset(ruleset.list_ruleset())
    assert list(parsed) == [("ip", "kube-proxy")]
    assert parsed[("ip", "kube-proxy")] == ruleset.table()


def test_parse_rule_fields():
    rule = parse_rule('-A KUBE-SVC-X -m comment --comment "ns1/svc1:p80 -> 10.0.1.1:80" -m statistic --mode '
                      "random --probability 0.3333333333 -j KUBE-SEP-Y")
    assert rule.chain == "KUBE-SVC-X" and rule.target == "KUBE-SEP-Y"
    assert rule.matches["--probability"] == (False, "0.3333333333")
    assert rule.comment == "ns1/svc1:p80 -> 10.0.1.1:80"
    neg = parse_rule("-A KUBE-SVC-X -d 172.30.0.41 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ")
    assert neg.matches["-s"] == (True, "10.0.0.0/8") and neg.matches["-d"] == (False, "172.30.0.41")
    assert comment_service_name(rule.raw) == "ns1/svc1"


@pytest.mark.parametrize("text, message", [
    ("-A FOO -j ACCEPT\n", "before any"),
    ("*nat\n:KUBE-SERVICES - [0:0]\n", "no COMMIT"),
    ("*nat\nbogus line\nCOMMIT\n", "unsupported line"),
])
def test_iptables_parse_errors(text, message):
    with pytest.raises(ParseError, match=message):
        parse_iptables_save(text)


def test_nft_parse_errors():
    with pytest.raises(ParseError, match="expected 'table"):
        parse_nft_ruleset("chain x {\n}\n")
    with pytest.raises(ParseError, match="missing"):
        parse_nft_ruleset("table ip kube-proxy {\n\tchain x {\n")


def test_kernel_probability_read_back_is_mapped_back():
    assert canonical_probability("--probability 0.33333333349 -j X") == "--probability 0.3333333333 -j X"
    assert canonical_probability("--probability 0.10000000009 -j X") == "--probability 0.1000000000 -j X"
    assert canonical_probability("--probability 0.12345678901 -j X") == "--probability 0.12345678901 -j X"


def _as_node_shows_it(text: str) -> str:
    """What `iptables-save` on a kind node prints for the same rules, plus kind's own chains."""
    dump = parse_iptables_save(text)
    for chains in dump.tables.values():
        for chain, rules in chains.items():
            chains[chain] = [canonical_iptables_rule(r).replace("--probability 0.5000000000",
                                                                 "--probability 0.50000000000") for r in rules]
    dump.tables["nat"]["KIND-MASQ-AGENT"] = ["-A KIND-MASQ-AGENT -j MASQUERADE"]
    dump.tables["nat"]["POSTROUTING"].insert(0, "-A POSTROUTING -j KIND-MASQ-AGENT")
    dump.tables["nat"]["DOCKER_OUTPUT"] = ["-A DOCKER_OUTPUT -d 172.18.0.1/32 -j DNAT --to-destination 127.0.0.11"]
    return dump.format()


def test_diff_against_a_node_ignores_kind_chains_order_and_read_back():
    model = render_iptables(_state(), include_hooks=True).dump()
    node = parse_iptables_save(_as_node_shows_it(model.format()))
    diff = diff_iptables(model, node)
    assert diff.identical, diff
    assert diff.summary() == "the node's kube-proxy rules match the model"


def test_diff_reports_missing_and_extra_rules():
    model = render_iptables(_state()).dump()
    node = parse_iptables_save(model.format())
    dropped = node.tables["nat"]["KUBE-SVC-4SW47YFZTEDKD3PK"].pop()
    node.tables["nat"]["KUBE-SEP-STALESTALESTALE1"] = ["-A KUBE-SEP-STALESTALESTALE1 -j DNAT --to-destination 1.1.1.1:1"]
    diff = diff_iptables(model, node)
    assert diff.missing == {"nat/KUBE-SVC-4SW47YFZTEDKD3PK": [canonical_iptables_rule(dropped)]}
    assert list(diff.extra) == ["nat/KUBE-SEP-STALESTALESTALE1"]
    assert diff.summary().startswith("1 rule(s) predicted but absent on the node, 1 present")


def test_nft_diff():
    ruleset = render_nft(_state("nftables"))
    model = ruleset.table()
    node = parse_nft_ruleset(ruleset.list_ruleset())[("ip", "kube-proxy")]
    assert diff_nft(model, node).identical
    node.sets["service-ips"]["elements"].pop(0)
    node.chains["masquerading"][0] = canonical_nft("mark and 0x8000 == 0 return")
    diff = diff_nft(model, node)
    assert set(diff.missing) == {"set/service-ips", "chain/masquerading"}


def test_diff_node_rules_entry_point():
    services, slices = overall_rules_inputs()
    kw = {"services": services, "endpoint_slices": slices, "node": make_node(), "config": UPSTREAM_CONFIG}
    model = render_iptables(_state(), include_hooks=True, random_fully=True).dump()
    assert diff_node_rules(_as_node_shows_it(model.format()), **kw).identical
    nft_text = render_nft(_state("nftables")).list_ruleset()
    assert diff_node_rules(nft_text, fmt="nftables", **kw).identical
    fewer = diff_node_rules(nft_text, fmt="nftables", **{**kw, "services": services[:-1]})
    assert "set/no-endpoint-services" in fewer.extra  # the node still rejects ns6, the model lost it
    with pytest.raises(ParseError, match="no 'ip kube-proxy' table"):
        diff_node_rules("table inet filter {\n}\n", fmt="nftables", **kw)
    with pytest.raises(ValueError, match="fmt must be"):
        diff_node_rules("", fmt="ipvs", **kw)


@pytest.mark.parametrize("n, read_back", [
    (2, "0.50000000000"), (3, "0.33333333349"), (4, "0.25000000000"), (5, "0.20000000019"), (6, "0.16666666651"),
    (7, "0.14285714272"), (8, "0.12500000000"), (9, "0.11111111101"), (10, "0.10000000009"),
])
def test_kernel_read_back_of_probabilities(n, read_back):
    written = f"{1 / n:.10f}"
    assert kernel_read_back(written) == read_back
    assert canonical_probability(f"-m statistic --mode random --probability {read_back} -j X") == (
        f"-m statistic --mode random --probability {written} -j X")


def test_diff_node_rules_follows_the_nodes_kernel_features():
    services, slices = overall_rules_inputs()
    kw = {"services": services, "endpoint_slices": slices, "node": make_node(), "config": UPSTREAM_CONFIG}
    without_nfacct = render_iptables(_state(), include_hooks=True, nfacct=False).dump().format()
    assert "nfacct" not in without_nfacct and diff_node_rules(without_nfacct, **kw).identical


def test_nft_parser_skips_objects_kube_proxy_never_creates():
    text = ("table inet kindnet {\n\tct helper ftp {\n\t\ttype \"ftp\" protocol tcp\n\t}\n"
            "\tchain forward {\n\t\ttype filter hook forward priority filter; policy accept;\n\t\tcounter accept\n\t}\n}\n"
            + render_nft(_state("nftables")).list_ruleset())
    tables = parse_nft_ruleset(text)
    assert tables[("inet", "kindnet")].chains == {"forward": ["counter accept"]}
    assert ("ip", "kube-proxy") in tables
