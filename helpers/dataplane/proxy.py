"""The per-node kube-proxy model: which endpoints each service port uses on one node.

This is the part of kube-proxy that is the same for every backend (iptables, nftables, IPVS):
the ServiceChangeTracker turns Services into service ports, the EndpointSliceCache merges
EndpointSlices into one endpoint list per service port, and ``CategorizeEndpoints``
(``pkg/proxy/topology.go``) picks the cluster / local endpoint sets for this node.

Behaviour follows v1.37.0, the node image's version (``kubernetes/kubernetes``
``pkg/proxy/{servicechangetracker,endpointslicecache,topology}.go``):

* deduplication of an ``ip:port`` seen in several slices prefers a non-terminating copy
  (``EndpointSliceCache.addEndpoints``, since PR #135593 in v1.36, fixing #135266: a pod IP reused
  while the old pod still terminates; until v1.35 the local copy was preferred);
* node hints (``PreferSameNode``) are honoured when the feature gate
  ``PreferSameTrafficDistribution`` is on (GA in 1.35, so on by default);
* only the IPv4 family is modelled (kind's default); IPv6 slices and addresses are ignored as
  an IPv4 proxier ignores them.

Everything here is a pure function over plain API dicts. ``build_proxy_state`` is the entry
point; the renderers (``iptables.py``, ``nftables.py``) and the KPNG model build on it.
"""

from __future__ import annotations

import copy
import ipaddress
import re
from dataclasses import dataclass, field
from functools import lru_cache

from helpers.kube import LABEL_HEADLESS, LABEL_SERVICE_NAME, LABEL_SERVICE_PROXY_NAME, LABEL_ZONE

DEFAULT_AFFINITY_TIMEOUT = 10800

# KubeProxyConfiguration v1alpha1 defaults (pkg/proxy/apis/config/v1alpha1/defaults.go).
_DEFAULT_CONFIG = {
    "mode": "iptables",
    "clusterCIDR": "",
    "detectLocalMode": "ClusterCIDR",
    "detectLocal": {"bridgeInterface": "", "interfaceNamePrefix": ""},
    "hostnameOverride": "",
    "nodePortAddresses": [],
    "configSyncPeriod": "15m0s",
    "iptables": {
        "masqueradeAll": False,
        "masqueradeBit": 14,
        "localhostNodePorts": True,
        "syncPeriod": "30s",
        "minSyncPeriod": "1s",
    },
    "nftables": {"masqueradeAll": False, "masqueradeBit": 14, "syncPeriod": "30s", "minSyncPeriod": "1s"},
    "conntrack": {"tcpBeLiberal": False},
    "featureGates": {"PreferSameTrafficDistribution": True},
}


class ConfigError(ValueError):
    """A KubeProxyConfiguration field has a value kube-proxy would reject."""


class ObjectError(ValueError):
    """A Service or EndpointSlice dict lacks a field kube-proxy needs, or has a malformed one."""


def _port_number(value, where: str) -> int:
    """A port number from an API object, or ObjectError naming the field."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 65535:
        raise ObjectError(f"{where}: expected a port number 0-65535, got {value!r}")
    return value


def default_config(config: dict | None = None) -> dict:
    """Return ``config`` (KubeProxyConfiguration v1alpha1 field names) with kube-proxy's defaults.

    Nested sections (``iptables``, ``nftables``, ...) are merged key by key, so a caller can
    pass just ``{"clusterCIDR": "10.244.0.0/16"}``.
    """
    if config is not None and not isinstance(config, dict):
        raise ConfigError(f"config must be a KubeProxyConfiguration dict, not {type(config).__name__}")
    merged = copy.deepcopy(_DEFAULT_CONFIG)
    for key, value in (config or {}).items():
        if isinstance(merged.get(key), dict) and value is not None:
            if not isinstance(value, dict):
                raise ConfigError(f"{key}: must be a mapping of {sorted(merged[key])}, got {value!r}")
            merged[key].update(value)
        elif value is not None:
            merged[key] = value
    merged["mode"] = merged["mode"] or "iptables"
    if merged["mode"] not in ("iptables", "nftables", "ipvs"):
        raise ConfigError(f"mode: unsupported value {merged['mode']!r} (iptables, nftables, ipvs)")
    for section in ("iptables", "nftables"):
        bit = merged[section]["masqueradeBit"]
        if not isinstance(bit, int) or not 0 <= bit <= 31:
            raise ConfigError(f"{section}.masqueradeBit: must be an integer in 0..31, got {bit!r}")
    return merged


def parse_duration(value: str | float) -> float:
    """Seconds from a Go duration string ("1s", "15m0s", "1h30m", "250ms") or a number."""
    if isinstance(value, (int, float)):
        return float(value)
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001, "us": 1e-6, "ns": 1e-9}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|us|ns|h|m|s)", value)
    if not parts or "".join(n + u for n, u in parts) != value:
        raise ConfigError(f"invalid duration {value!r}")
    return sum(float(n) * units[u] for n, u in parts)


# --------------------------------------------------------------------------- service ports


@dataclass(frozen=True, order=True)
class ServicePortName:
    """upstream ``proxy.ServicePortName``; ``str()`` is ``ns/name`` plus ``:port`` if named."""

    namespace: str
    name: str
    port: str
    protocol: str = "TCP"

    def __str__(self) -> str:
        base = f"{self.namespace}/{self.name}"
        return f"{base}:{self.port}" if self.port else base


@dataclass(frozen=True)
class ServicePort:
    """One port of one Service, as kube-proxy's ``BaseServicePortInfo`` sees it (IPv4 only)."""

    name: ServicePortName
    cluster_ip: str
    port: int
    protocol: str
    node_port: int = 0
    external_ips: tuple[str, ...] = ()
    load_balancer_vips: tuple[str, ...] = ()
    load_balancer_source_ranges: tuple[str, ...] = ()
    session_affinity_timeout: int | None = None
    internal_policy_local: bool = False
    external_policy_local: bool = False
    health_check_node_port: int = 0
    traffic_distribution: str | None = None

    @property
    def externally_accessible(self) -> bool:
        return self.node_port != 0 or bool(self.load_balancer_vips) or bool(self.external_ips)

    @property
    def uses_cluster_endpoints(self) -> bool:
        # Even with eTP=Local, external traffic from pods and the node short-circuits to
        # the cluster endpoints, so any externally reachable port needs them.
        return not self.internal_policy_local or self.externally_accessible

    @property
    def uses_local_endpoints(self) -> bool:
        return self.internal_policy_local or (self.external_policy_local and self.externally_accessible)


_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_DOTTED_QUAD = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}")


@lru_cache(maxsize=262144)
def normalize_ipv4(text: str) -> str | None:
    """The canonical form of an IPv4 address (like Go's ParseIP), or None if it is not one."""
    if _DOTTED_QUAD.fullmatch(text):
        return text  # already canonical; skips ipaddress' slower parser on the hot path
    try:
        ip = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    return str(ip) if ip.version == 4 else None


def _is_ipv4(text: str) -> bool:
    return normalize_ipv4(text) is not None


def _externally_accessible_type(spec: dict) -> bool:
    """apiservice.ExternallyAccessible: NodePort/LoadBalancer, or ClusterIP with externalIPs."""
    svc_type = spec.get("type", "ClusterIP")
    return svc_type in ("NodePort", "LoadBalancer") or (
        svc_type == "ClusterIP" and bool(spec.get("externalIPs"))
    )


def skip_service(service: dict) -> bool:
    """Services kube-proxy never programs: headless, ExternalName, owned by another proxy."""
    labels = service.get("metadata", {}).get("labels") or {}
    if LABEL_SERVICE_PROXY_NAME in labels or LABEL_HEADLESS in labels:
        return True
    spec = service.get("spec", {})
    return spec.get("type") == "ExternalName" or spec.get("clusterIP") in (None, "", "None")


def _ipv4_cluster_ip(spec: dict) -> str | None:
    for ip in spec.get("clusterIPs") or [spec.get("clusterIP", "")]:
        if _is_ipv4(ip):
            return ip
    return None


def service_ports(service: dict) -> list[ServicePort]:
    """The IPv4 ServicePorts kube-proxy derives from one Service (empty when it skips it)."""
    if skip_service(service):
        return []
    spec, meta = service.get("spec", {}), service.get("metadata", {})
    if not meta.get("name") or not meta.get("namespace"):
        raise ObjectError(f"Service without metadata.name/namespace: {meta!r}")
    where = f"Service {meta['namespace']}/{meta['name']}"
    cluster_ip = _ipv4_cluster_ip(spec)
    if cluster_ip is None:
        return []
    external_ips = tuple(ip for ip in spec.get("externalIPs") or [] if _is_ipv4(ip))
    # Only VIP-mode ingress IPs are programmed; ipMode Proxy means the LB does the work.
    lb_vips = tuple(
        ing["ip"]
        for ing in (service.get("status", {}).get("loadBalancer", {}).get("ingress") or [])
        if ing.get("ip") and _is_ipv4(ing["ip"]) and ing.get("ipMode", "VIP") == "VIP"
    )
    ranges = tuple(
        r.strip() for r in spec.get("loadBalancerSourceRanges") or [] if _is_ipv4(r.strip().split("/")[0])
    )
    affinity = None
    if spec.get("sessionAffinity") == "ClientIP":
        client_ip = (spec.get("sessionAffinityConfig") or {}).get("clientIP") or {}
        affinity = int(client_ip.get("timeoutSeconds") or DEFAULT_AFFINITY_TIMEOUT)
    etp_local = _externally_accessible_type(spec) and spec.get("externalTrafficPolicy") == "Local"
    is_lb = spec.get("type") == "LoadBalancer"
    return [
        ServicePort(
            name=ServicePortName(meta["namespace"], meta["name"], p.get("name") or "", p.get("protocol", "TCP")),
            cluster_ip=cluster_ip,
            port=_port_number(p.get("port"), f"{where} spec.ports[{i}].port"),
            protocol=p.get("protocol", "TCP"),
            node_port=_port_number(p.get("nodePort") or 0, f"{where} spec.ports[{i}].nodePort"),
            external_ips=external_ips,
            load_balancer_vips=lb_vips if is_lb else (),
            load_balancer_source_ranges=ranges if is_lb else (),
            session_affinity_timeout=affinity,
            internal_policy_local=spec.get("internalTrafficPolicy") == "Local",
            external_policy_local=etp_local,
            health_check_node_port=int(spec.get("healthCheckNodePort") or 0) if etp_local and is_lb else 0,
            traffic_distribution=spec.get("trafficDistribution"),
        )
        for i, p in enumerate(spec.get("ports") or [])
    ]


# --------------------------------------------------------------------------- endpoints


@dataclass(frozen=True)
class Endpoint:
    """upstream ``BaseEndpointInfo``: one backend ``ip:port`` with its conditions on this node."""

    ip: str
    port: int
    ready: bool = True
    serving: bool = True
    terminating: bool = False
    is_local: bool = False
    node_name: str = ""
    zone: str = ""
    zone_hints: frozenset[str] = field(default_factory=frozenset)
    node_hints: frozenset[str] = field(default_factory=frozenset)

    def __str__(self) -> str:
        return f"{self.ip}:{self.port}"


def slice_owner(slice_: dict) -> tuple[str, str] | None:
    """(namespace, service) the slice belongs to, or None if kube-proxy ignores the slice."""
    meta = slice_.get("metadata", {})
    labels = meta.get("labels") or {}
    if LABEL_SERVICE_PROXY_NAME in labels or LABEL_HEADLESS in labels:
        return None
    service = labels.get(LABEL_SERVICE_NAME)
    if not service or not meta.get("name") or slice_.get("addressType") != "IPv4":
        return None
    return meta.get("namespace", ""), service


def _endpoint_from_slice(ep: dict, port: int, node_name: str, gates: dict) -> Endpoint | None:
    addresses = ep.get("addresses") or []
    ip = normalize_ipv4(addresses[0]) if addresses else None
    if ip is None:
        return None
    cond = ep.get("conditions") or {}
    hints = ep.get("hints") or {}
    node_hints = frozenset()
    if gates.get("PreferSameTrafficDistribution", True):
        node_hints = frozenset(h["name"] for h in hints.get("forNodes") or [])
    ep_node = ep.get("nodeName") or ""
    return Endpoint(
        ip=ip,
        port=port,
        ready=cond.get("ready") is not False,
        serving=cond.get("serving") is not False,
        terminating=cond.get("terminating") is True,
        is_local=bool(node_name) and ep_node == node_name,
        node_name=ep_node,
        zone=ep.get("zone") or "",
        zone_hints=frozenset(h["name"] for h in hints.get("forZones") or []),
        node_hints=node_hints,
    )


def merge_service_slices(slices: list[dict], node_name: str, gates: dict | None = None) -> dict:
    """EndpointSliceCache merge of one service's slices -> {ServicePortName: [Endpoint...]}.

    Slices are visited in name order (upstream iterates a Go map, so the winner between two
    equally-ranked duplicates is undefined there). A duplicate ``ip:port`` keeps the first
    copy unless the newcomer is not terminating. Each list is sorted by the endpoint string,
    which is plain string order: ``10.1.1.11:11`` sorts before ``10.1.1.1:11``.
    """
    gates = gates or {}
    by_port: dict[ServicePortName, dict[str, Endpoint]] = {}
    for slice_ in sorted(slices, key=lambda s: s["metadata"]["name"]):
        owner = slice_owner(slice_)
        if owner is None:
            continue
        for sp in slice_.get("ports") or []:
            if sp.get("name") is None or not sp.get("port"):
                continue  # upstream: "Ignoring port with nil name" / "invalid endpoint port"
            port = _port_number(sp["port"], f"EndpointSlice {owner[0]}/{slice_['metadata']['name']} port")
            spn = ServicePortName(owner[0], owner[1], sp["name"], sp.get("protocol") or "TCP")
            endpoint_set = by_port.setdefault(spn, {})
            for ep in slice_.get("endpoints") or []:
                info = _endpoint_from_slice(ep, port, node_name, gates)
                if info is not None and (str(info) not in endpoint_set or not info.terminating):
                    endpoint_set[str(info)] = info
    return {spn: sorted(eps.values(), key=str) for spn, eps in by_port.items() if eps}


def build_endpoints_map(endpoint_slices: list[dict], node_name: str, gates: dict | None = None) -> dict:
    """Merge every service's slices: {ServicePortName: [Endpoint...]} (kube-proxy's EndpointsMap)."""
    by_service: dict[tuple[str, str], list[dict]] = {}
    for slice_ in endpoint_slices:
        owner = slice_owner(slice_)
        if owner is not None:
            by_service.setdefault(owner, []).append(slice_)
    merged: dict = {}
    for slices in by_service.values():
        merged.update(merge_service_slices(slices, node_name, gates))
    return merged


class EndpointSliceCache:
    """upstream ``EndpointSliceCache`` as a change tracker: which services' endpoints changed.

    Keeps, per slice, only what kube-proxy reads (ports and each endpoint's addresses, node,
    zone, conditions and hints). An update identical in those parts is a no-op, as upstream's
    ``reflect.DeepEqual`` on endpointSliceInfo makes it; anything else marks the owning
    service pending until :meth:`checkout_changes`. The merge itself is :func:`merge_service_slices`.
    """

    def __init__(self):
        self._slices: dict[tuple[str, str], tuple[tuple[str, str], tuple, dict]] = {}
        self._pending: set[tuple[str, str]] = set()

    @staticmethod
    def signature(slice_: dict) -> tuple:
        ports = sorted((p.get("name"), p.get("port"), p.get("protocol")) for p in slice_.get("ports") or [])
        endpoints = sorted(
            (tuple(ep.get("addresses") or ()), ep.get("nodeName"), ep.get("zone"),
             repr(sorted((ep.get("conditions") or {}).items())), repr(ep.get("hints")))
            for ep in slice_.get("endpoints") or []
        )
        return slice_.get("addressType"), tuple(ports), tuple(endpoints)

    def update(self, slice_: dict) -> bool:
        """Add or update a slice; True if its service's endpoints may have changed."""
        meta = slice_["metadata"]
        key, owner = (meta.get("namespace", ""), meta["name"]), slice_owner(slice_)
        if owner is None:
            return self.delete(slice_)
        old = self._slices.get(key)
        signature = self.signature(slice_)
        self._slices[key] = (owner, signature, slice_)
        if old is not None and old[:2] == (owner, signature):
            return False
        self._pending.update({owner} | ({old[0]} if old else set()))
        return True

    def delete(self, slice_: dict) -> bool:
        """Forget a slice; True if it was known."""
        meta = slice_["metadata"]
        old = self._slices.pop((meta.get("namespace", ""), meta["name"]), None)
        if old is None:
            return False
        self._pending.add(old[0])
        return True

    def checkout_changes(self) -> set[tuple[str, str]]:
        """(namespace, service) of every service with pending changes; marks them applied."""
        changed, self._pending = self._pending, set()
        return changed

    def slices(self) -> list[dict]:
        return [entry[2] for entry in self._slices.values()]


# --------------------------------------------------------------------------- topology


def topology_mode_from_hints(endpoints: list[Endpoint], node_name: str, zone: str, gates: dict) -> str:
    """"PreferSameNode", "PreferSameZone" or "" (use all ready endpoints); all-or-nothing."""
    ready = [ep for ep in endpoints if ep.ready]
    if not ready:
        return ""
    node_gate = gates.get("PreferSameTrafficDistribution", True)
    if node_gate and all(ep.node_hints for ep in ready) and any(node_name in ep.node_hints for ep in ready):
        return "PreferSameNode"
    if all(ep.zone_hints for ep in ready) and any(zone in ep.zone_hints for ep in ready):
        return "PreferSameZone"
    return ""


def _available_for_topology(ep: Endpoint, mode: str, node_name: str, zone: str) -> bool:
    if mode == "PreferSameNode":
        return node_name in ep.node_hints
    if mode == "PreferSameZone":
        return zone in ep.zone_hints
    return True


@dataclass(frozen=True)
class Categorized:
    """CategorizeEndpoints' result for one service port on one node.

    ``cluster``/``local`` are None when the port never uses that policy; ``all_reachable`` is
    the union (the SEP chains to write); ``has_any`` separates REJECT (no endpoints anywhere)
    from DROP (endpoints exist, none usable here).
    """

    cluster: tuple[Endpoint, ...] | None
    local: tuple[Endpoint, ...] | None
    all_reachable: tuple[Endpoint, ...]
    has_any: bool
    topology_mode: str = ""


def categorize_endpoints(
    endpoints: list[Endpoint], svc: ServicePort, node_name: str, zone: str, gates: dict | None = None
) -> Categorized:
    """upstream ``CategorizeEndpoints``: ready endpoints first, serving+terminating as fallback."""
    gates = gates or {}
    if not endpoints:
        return Categorized(
            cluster=() if svc.uses_cluster_endpoints else None,
            local=() if svc.uses_local_endpoints else None,
            all_reachable=(),
            has_any=False,
        )
    cluster, mode, has_any = None, "", False
    if svc.uses_cluster_endpoints:
        mode = topology_mode_from_hints(endpoints, node_name, zone, gates)
        cluster = [ep for ep in endpoints if ep.ready and _available_for_topology(ep, mode, node_name, zone)]
        if not cluster:
            cluster = [ep for ep in endpoints if ep.serving and ep.terminating]
        has_any = bool(cluster)
    if not svc.uses_local_endpoints:
        return Categorized(tuple(cluster), None, tuple(cluster), has_any, mode)

    usable = [ep for ep in endpoints if ep.ready or (ep.serving and ep.terminating)]
    has_any = has_any or bool(usable)
    local = [ep for ep in endpoints if ep.is_local and ep.ready]
    serving_terminating = not local
    if not local:
        local = [ep for ep in endpoints if ep.is_local and ep.serving and ep.terminating]
    serving_terminating = serving_terminating and bool(local)
    if cluster is None:
        return Categorized(None, tuple(local), tuple(local), has_any, mode)
    if mode == "" and not serving_terminating:
        return Categorized(tuple(cluster), tuple(local), tuple(cluster), has_any, mode)
    union = {str(ep): ep for ep in cluster + local}
    return Categorized(tuple(cluster), tuple(local), tuple(sorted(union.values(), key=str)), has_any, mode)


# --------------------------------------------------------------------------- node & state


@dataclass(frozen=True)
class NodeInfo:
    """What kube-proxy reads from its own Node object."""

    name: str
    ips: tuple[str, ...] = ()
    zone: str = ""
    pod_cidr: str = ""
    labels: dict = field(default_factory=dict, compare=False, hash=False)


def node_info(node: dict | str | None, config: dict | None = None) -> NodeInfo:
    """NodeInfo from a Node dict (IPs from status.addresses, zone from labels) or a bare name."""
    if node is None or isinstance(node, str):
        name = (config or {}).get("hostnameOverride") or node or ""
        return NodeInfo(name=name)
    meta, status = node.get("metadata", {}), node.get("status", {})
    labels = meta.get("labels") or {}
    ips = tuple(
        a["address"]
        for a in status.get("addresses") or []
        if a.get("type") in ("InternalIP", "ExternalIP") and _is_ipv4(a.get("address", ""))
    )
    return NodeInfo(
        name=(config or {}).get("hostnameOverride") or meta.get("name", ""),
        ips=ips,
        zone=labels.get(LABEL_ZONE, ""),
        pod_cidr=(node.get("spec") or {}).get("podCIDR", ""),
        labels=dict(labels),
    )


@dataclass(frozen=True)
class LocalDetector:
    """How kube-proxy tells pod traffic from other traffic (``detectLocalMode``).

    ``kind`` is "cidr" (ClusterCIDR / NodeCIDR), "bridge" (BridgeInterface) or
    "prefix" (InterfaceNamePrefix); ``value`` is the CIDR or interface name.
    """

    kind: str
    value: str


def local_detector(config: dict, node: NodeInfo) -> LocalDetector | None:
    """The detector for this node, or None (kube-proxy's no-op detector) when unconfigured."""
    mode = config.get("detectLocalMode") or "ClusterCIDR"
    detect = config.get("detectLocal") or {}
    if mode == "ClusterCIDR":
        cidrs = [c.strip() for c in (config.get("clusterCIDR") or "").split(",") if c.strip()]
        cidr = next((c for c in cidrs if _is_ipv4(c.split("/")[0])), "")
        return LocalDetector("cidr", cidr) if cidr else None
    if mode == "NodeCIDR":
        return LocalDetector("cidr", node.pod_cidr) if node.pod_cidr else None
    if mode == "BridgeInterface" and detect.get("bridgeInterface"):
        return LocalDetector("bridge", detect["bridgeInterface"])
    if mode == "InterfaceNamePrefix" and detect.get("interfaceNamePrefix"):
        return LocalDetector("prefix", detect["interfaceNamePrefix"])
    if mode in ("ClusterCIDR", "NodeCIDR", "BridgeInterface", "InterfaceNamePrefix"):
        return None
    raise ConfigError(f"detectLocalMode: unsupported value {mode!r}")


@dataclass(frozen=True)
class ServicePortState:
    """A service port and the endpoints this node's kube-proxy programs for it."""

    service_port: ServicePort
    endpoints: tuple[Endpoint, ...]  # merged from every slice, including unusable ones
    categorized: Categorized

    @property
    def key(self) -> str:
        return str(self.service_port.name)

    @property
    def service(self) -> tuple[str, str]:
        """(namespace, name): the unit upstream's partial sync tracks changes by."""
        name = self.service_port.name
        return name.namespace, name.name

    @property
    def plan(self) -> TrafficPlan:
        return traffic_plan(self.service_port, self.categorized)


@dataclass(frozen=True)
class TrafficPlan:
    """Which policy chains a service port needs on this node; shared by every backend.

    Mirrors the variables at the top of syncProxyRules' per-service loop (iptables and
    nftables proxiers alike): internal (ClusterIP) traffic goes to the local-policy chain when
    iTP=Local, external traffic when eTP=Local; without usable endpoints the filter verdict is
    REJECT (none anywhere) or DROP (none on this node).
    """

    has_endpoints: bool
    has_internal: bool
    has_external: bool
    internal_local: bool
    external_local: bool
    uses_cluster_chain: bool
    uses_local_chain: bool
    uses_external_chain: bool

    @property
    def no_endpoints_verdict(self) -> str:
        return "REJECT" if not self.has_endpoints else "DROP"


def traffic_plan(sp: ServicePort, cat: Categorized) -> TrafficPlan:
    has_local = bool(cat.local)
    return TrafficPlan(
        has_endpoints=cat.has_any,
        has_internal=cat.has_any and (has_local or not sp.internal_policy_local),
        has_external=cat.has_any and (has_local or not sp.external_policy_local),
        internal_local=sp.internal_policy_local,
        external_local=sp.external_policy_local,
        uses_cluster_chain=bool(cat.cluster) and sp.uses_cluster_endpoints,
        uses_local_chain=has_local and sp.uses_local_endpoints,
        uses_external_chain=cat.has_any and sp.externally_accessible,
    )


@dataclass(frozen=True)
class ProxyState:
    """Everything a renderer needs for one node: ports sorted by ServicePortName."""

    node: NodeInfo
    config: dict = field(compare=False, hash=False)
    detector: LocalDetector | None
    ports: tuple[ServicePortState, ...]

    def get(self, key: str, protocol: str = "TCP") -> ServicePortState:
        """The state for "ns/name:port" (and protocol); KeyError if the node has no such port."""
        for state in self.ports:
            if state.key == key and state.service_port.protocol == protocol:
                return state
        raise KeyError(f"{key} ({protocol}) is not a service port on node {self.node.name!r}")

    @property
    def total_endpoints(self) -> int:
        """Endpoints over all service ports (upstream compares it with the large-cluster threshold)."""
        return sum(len(s.endpoints) for s in self.ports)

    def rows(self) -> list[dict]:
        """One row per (service port, endpoint) with its conditions and the sets this node puts it in.

        ``cluster``/``local`` are None when the port never uses that policy, so a chapter can
        show "used for ClusterIP traffic here?" per node with ``pandas.DataFrame(state.rows())``.
        """
        out = []
        for s in self.ports:
            cat = s.categorized
            cluster = None if cat.cluster is None else set(cat.cluster)
            local = None if cat.local is None else set(cat.local)
            for ep in s.endpoints:
                out.append({"node": self.node.name, "servicePort": s.key, "protocol": s.service_port.protocol,
                            "endpoint": str(ep), "nodeName": ep.node_name, "zone": ep.zone, "ready": ep.ready,
                            "serving": ep.serving, "terminating": ep.terminating, "local": ep.is_local,
                            "cluster": None if cluster is None else ep in cluster,
                            "localPolicy": None if local is None else ep in local,
                            "topology": cat.topology_mode or "-"})
        return out


def build_proxy_state(
    services: list[dict],
    endpoint_slices: list[dict],
    node: dict | str | None = None,
    config: dict | None = None,
) -> ProxyState:
    """The per-node model: Services + EndpointSlices + Node + KubeProxyConfiguration -> ProxyState.

    ``node`` may be a Node dict or just its name; ``config`` uses KubeProxyConfiguration
    v1alpha1 field names and is defaulted with :func:`default_config`.
    """
    cfg = default_config(config)
    info = node_info(node, cfg)
    gates = cfg.get("featureGates") or {}
    endpoints_map = build_endpoints_map(endpoint_slices, info.name, gates)
    ports = []
    for svc in services:
        for sp in service_ports(svc):
            endpoints = endpoints_map.get(sp.name, [])
            cat = categorize_endpoints(endpoints, sp, info.name, info.zone, gates)
            ports.append(ServicePortState(sp, tuple(endpoints), cat))
    # upstream's test normalisation orders rules by "ns/name" first, then emission order.
    ports.sort(key=lambda s: (f"{s.service_port.name.namespace}/{s.service_port.name.name}",
                              s.service_port.name.port, s.service_port.protocol))
    return ProxyState(node=info, config=cfg, detector=local_detector(cfg, info), ports=tuple(ports))


def local_ready_endpoints(state: ProxyState, namespace: str, name: str) -> int:
    """upstream LocalReadyEndpoints: distinct local, ready endpoint IPs of one Service (all ports)."""
    return len({ep.ip for s in state.ports if (s.service_port.name.namespace, s.service_port.name.name)
                == (namespace, name) for ep in s.endpoints if ep.is_local and ep.ready})


def health_check_response(state: ProxyState, namespace: str, name: str) -> tuple[int, dict]:
    """What kube-proxy's healthCheckNodePort server answers for an eTP=Local Service on this node.

    200 when the node has local ready endpoints, 503 otherwise, with the JSON body upstream's
    ``pkg/proxy/healthcheck`` writes (load balancers use it to skip nodes without endpoints).
    """
    count = local_ready_endpoints(state, namespace, name)
    body = {"service": {"namespace": namespace, "name": name}, "localEndpoints": count, "serviceProxyHealthy": True}
    return (200 if count else 503), body
