"""Pure models of what nodes program from Services and EndpointSlices.

kube-proxy (this package's modules ``proxy``, ``iptables``, ``nftables``, ``packettrace``,
``stats``, ``parse``) is re-exported here; the KPNG, CNI, IPAM and NetworkPolicy models are
imported by module (``helpers.dataplane.kpng`` and friends).
"""

from helpers.dataplane.proxy import (
    ConfigError,
    Endpoint,
    ProxyState,
    ServicePort,
    ServicePortName,
    build_proxy_state,
    default_config,
)

__all__ = [
    "ConfigError",
    "Endpoint",
    "ProxyState",
    "ServicePort",
    "ServicePortName",
    "build_proxy_state",
    "default_config",
]
