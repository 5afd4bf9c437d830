""""The model predicts / your node has": diff a node's rules against the model's for the same objects.

Lives apart from ``parse`` so the dependencies run one way: ``iptables`` and ``nftables`` build
on ``parse``'s structures, and this module builds on all three.
"""

from __future__ import annotations

from helpers.dataplane import iptables, nftables
from helpers.dataplane.parse import (
    ParseError,
    RuleDiff,
    diff_iptables,
    diff_nft,
    parse_iptables_save,
    parse_nft_ruleset,
)
from helpers.dataplane.proxy import build_proxy_state


def diff_node_rules(node_text: str, *, services=(), endpoint_slices=(), node=None, config=None,
                    fmt: str = "iptables", service_cidrs=()) -> RuleDiff:
    """Diff a node's ``iptables-save`` or ``nft list ruleset`` text against the model's rules for
    the same Services, EndpointSlices, Node and config.

    Raises ParseError when the text is not what the format promises.
    """
    state = build_proxy_state(list(services), list(endpoint_slices), node, config)
    if fmt == "iptables":
        # Kernel features decide two details; read them off the node (nfacct also marks INVALID drops).
        model = iptables.render(state, include_hooks=True, random_fully="--random-fully" in node_text,
                                nfacct="-m nfacct" in node_text).dump()
        return diff_iptables(model, parse_iptables_save(node_text))
    if fmt == "nftables":
        tables = parse_nft_ruleset(node_text)
        if ("ip", nftables.TABLE) not in tables:
            raise ParseError("the node has no 'ip kube-proxy' table (is kube-proxy running in nftables mode?)")
        model_table = nftables.render(state, service_cidrs=service_cidrs).table()
        node_table = tables[("ip", nftables.TABLE)]
        node_table.chains = {c: [nftables.canonical_nft(r) for r in rules] for c, rules in node_table.chains.items()}
        for spec in node_table.sets.values():
            spec["elements"] = [nftables.canonical_nft(e) for e in spec["elements"]]
        return diff_nft(model_table, node_table)
    raise ValueError(f"fmt must be 'iptables' or 'nftables', not {fmt!r}")
