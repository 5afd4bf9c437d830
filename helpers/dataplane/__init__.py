"""Pure models of what nodes program from Services and EndpointSlices.

kube-proxy (modules ``proxy``, ``iptables``, ``nftables``, ``packettrace``, ``stats``,
``parse``) is re-exported here; the KPNG, CNI, IPAM and NetworkPolicy models are imported by
module (``helpers.dataplane.kpng`` and friends). Inputs are API dicts; ``config`` uses
KubeProxyConfiguration (v1alpha1) field names::

    from helpers import dataplane as dp
    kw = dict(services=svcs, endpoint_slices=slices, node=node, config={"clusterCIDR": "10.244.0.0/16"})
    dp.build_proxy_state(**kw).rows()            # which endpoints this node uses, and why
    print(dp.iptables_save(**kw))                 # nat + filter, as upstream's tests normalise them
    print(dp.nft_ruleset(**kw))                   # the kube-proxy table as `nft list ruleset` prints it
    dp.trace_packet("10.244.1.7", "10.96.0.10:53", protocol="udp", **kw).endpoints
    dp.rule_stats(**kw); dp.scaling_rows([100, 1000])   # size of the programme, full vs partial syncs
    dp.diff_node_rules(text_from_node, **kw).summary()  # "the model predicts / your node has"
"""

from helpers.dataplane import parse as parsers
from helpers.dataplane.iptables import iptables_save
from helpers.dataplane.nftables import nft_ruleset
from helpers.dataplane.noderules import diff_node_rules
from helpers.dataplane.packettrace import Trace, trace_packet
from helpers.dataplane.parse import diff_iptables, parse_iptables_save, parse_nft_ruleset
from helpers.dataplane.proxy import (
    ConfigError,
    Endpoint,
    EndpointSliceCache,
    ObjectError,
    ProxyState,
    ServicePort,
    ServicePortName,
    build_proxy_state,
    default_config,
    health_check_response,
)
from helpers.dataplane.stats import RuleStats, node_differences, rule_stats, scaling_rows, sync_payload

__all__ = [
    "ConfigError",
    "Endpoint",
    "EndpointSliceCache",
    "ObjectError",
    "ProxyState",
    "RuleStats",
    "ServicePort",
    "ServicePortName",
    "Trace",
    "build_proxy_state",
    "default_config",
    "diff_iptables",
    "diff_node_rules",
    "health_check_response",
    "iptables_save",
    "nft_ruleset",
    "node_differences",
    "parse_iptables_save",
    "parse_nft_ruleset",
    "parsers",
    "rule_stats",
    "scaling_rows",
    "sync_payload",
    "trace_packet",
]
