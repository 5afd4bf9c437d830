"""Pure models of what nodes program from Services and EndpointSlices.

kube-proxy (modules ``proxy``, ``iptables``, ``nftables``, ``packettrace``, ``stats``,
``parse``) is re-exported here; the KPNG, CNI, IPAM and NetworkPolicy models are imported by
module (``helpers.dataplane.kpng`` and friends).
"""

from helpers.dataplane import parse as parsers
from helpers.dataplane.iptables import iptables_save
from helpers.dataplane.nftables import nft_ruleset
from helpers.dataplane.packettrace import Trace, trace_packet
from helpers.dataplane.parse import diff_iptables, diff_node_rules, parse_iptables_save, parse_nft_ruleset
from helpers.dataplane.proxy import (
    ConfigError,
    Endpoint,
    ProxyState,
    ServicePort,
    ServicePortName,
    build_proxy_state,
    default_config,
)
from helpers.dataplane.stats import RuleStats, rule_stats, scaling_rows, sync_payload

__all__ = [
    "ConfigError",
    "Endpoint",
    "ProxyState",
    "RuleStats",
    "ServicePort",
    "ServicePortName",
    "Trace",
    "build_proxy_state",
    "default_config",
    "diff_iptables",
    "diff_node_rules",
    "iptables_save",
    "nft_ruleset",
    "parse_iptables_save",
    "parse_nft_ruleset",
    "parsers",
    "rule_stats",
    "scaling_rows",
    "sync_payload",
    "trace_packet",
]
