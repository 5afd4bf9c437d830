"""What the CNI layer does for Services, and what kube-proxy replacements do instead.

Two halves (sources: kubernetes-sigs/kind `images/kindnetd` for kindnet; for the replacements, the
upstream files in the `source` column of `proxy_comparison()`):

* **kindnet**, kind's default CNI, gives pods addresses and reachability and nothing more: it
  writes `/etc/cni/net.d/10-kindnet.conflist` (ptp + host-local IPAM on the node's podCIDR +
  portmap) and programs one route per other node, `podCIDR via nodeIP`. It never looks at
  Services or EndpointSlices; kube-proxy does that.
* **kube-proxy replacements** (Cilium, Antrea Proxy, Calico eBPF) watch the same Services and
  EndpointSlices as kube-proxy and program their own datapath. `proxy_comparison()` is that
  comparison as rows a chapter renders with pandas, and `backend_selection()` shows one node's
  endpoints as each datapath's selection structure.
"""

from __future__ import annotations

import ipaddress

from helpers.dataplane.ipam import HostLocalIPAM
from helpers.dataplane.iptables import probability
from helpers.dataplane.proxy import ProxyState


def _node_name(node: dict) -> str:
    return (node.get("metadata") or {}).get("name", "")


def node_pod_cidrs(node: dict) -> list[str]:
    """`spec.podCIDRs`, falling back to the older single `spec.podCIDR`."""
    spec = node.get("spec") or {}
    return list(spec.get("podCIDRs") or ([spec["podCIDR"]] if spec.get("podCIDR") else []))


def node_internal_ip(node: dict, family: int = 4) -> str | None:
    """The node's InternalIP of the given IP family, as kindnet uses for the route gateway."""
    for address in (node.get("status") or {}).get("addresses") or []:
        if address.get("type") == "InternalIP":
            try:
                if ipaddress.ip_address(address.get("address", "")).version == family:
                    return address["address"]
            except ValueError:
                continue
    return None


def kindnet_routes(nodes: list[dict], this_node: str, family: int = 4, device: str = "eth0") -> list[str]:
    """The routes kindnetd programs on `this_node`, as `ip route` prints them.

    One route per *other* node: its podCIDR via its InternalIP (the node containers share one
    Docker network, so the gateway is directly reachable on `eth0`). Nodes without a podCIDR or
    an InternalIP of the family are skipped, as kindnetd skips them until they have one. Lines
    are ordered by destination, the order the kernel lists its main table in.
    """
    if not any(_node_name(n) == this_node for n in nodes):
        known = ", ".join(sorted(_node_name(n) for n in nodes)) or "none"
        raise ValueError(f"node {this_node!r} is not among the nodes given (known: {known})")
    routes = []
    for node in nodes:
        gateway = node_internal_ip(node, family)
        if _node_name(node) == this_node or gateway is None:
            continue
        for cidr in node_pod_cidrs(node):
            network = ipaddress.ip_network(cidr, strict=False)
            if network.version == family:
                routes.append((network, f"{network} via {gateway} dev {device}"))
    return [line for _, line in sorted(routes, key=lambda r: (r[0].network_address, r[0].prefixlen))]


def kindnet_conflist(node: dict, mtu: int = 1500) -> dict:
    """The CNI network config kindnetd writes on `node` (cniVersion 0.3.1; ptp, portmap).

    The `host-local` ranges are the node's podCIDRs; `HostLocalIPAM` models the allocation.
    """
    cidrs = node_pod_cidrs(node)
    if not cidrs:
        raise ValueError(f"node {_node_name(node)!r} has no spec.podCIDR yet; kindnetd waits for one")
    default_routes = [{"dst": "0.0.0.0/0" if ipaddress.ip_network(c).version == 4 else "::/0"} for c in cidrs]
    return {
        "cniVersion": "0.3.1",
        "name": "kindnet",
        "plugins": [
            {
                "type": "ptp",
                "ipMasq": False,
                "ipam": {
                    "type": "host-local",
                    "dataDir": "/run/cni-ipam-state",
                    "routes": default_routes,
                    "ranges": [[{"subnet": c}] for c in cidrs],
                },
                "mtu": mtu,
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }


def node_ipam(node: dict) -> HostLocalIPAM:
    """A host-local allocator for the node's (first) podCIDR, as its kindnet config sets up."""
    cidrs = node_pod_cidrs(node)
    if not cidrs:
        raise ValueError(f"node {_node_name(node)!r} has no spec.podCIDR yet; kindnetd waits for one")
    return HostLocalIPAM(cidrs[0])


# What each service proxy watches and programs, from the upstream files named in the `source` column.
_PROXIES = [
    {
        "implementation": "kube-proxy (iptables)",
        "watches": "Services (no service-proxy-name label, clusterIP not None) + EndpointSlices (no headless label); "
                   "its own Node",
        "programs": "iptables nat/filter chains KUBE-SERVICES -> KUBE-SVC/SVL/EXT/FW-<hash> -> KUBE-SEP-<hash>, "
                    "written with iptables-restore (partial restores since KEP-3453)",
        "backend selection": "random: -m statistic --probability 1/(n-i) cascade",
        "session affinity": "ClientIP via -m recent (default 10800 s)",
        "topology and traffic policies": "hints / trafficDistribution narrow the cluster set per node; "
                                         "iTP=Local -> KUBE-SVL, eTP=Local -> KUBE-EXT",
        "honours service-proxy-name": "yes (skips labelled Services)",
        "source": "kubernetes/kubernetes pkg/proxy/iptables/proxier.go",
    },
    {
        "implementation": "kube-proxy (nftables)",
        "watches": "same informers as iptables mode",
        "programs": "nftables table `ip kube-proxy`: service-ips verdict map -> service chain -> one DNAT "
                    "through a numgen map (KEP-3866, GA 1.33)",
        "backend selection": "random: dnat ip addr . port to numgen random mod n map",
        "session affinity": "ClientIP via per-endpoint chains and timeout sets",
        "topology and traffic policies": "same CategorizeEndpoints as iptables mode",
        "honours service-proxy-name": "yes (skips labelled Services)",
        "source": "kubernetes/kubernetes pkg/proxy/nftables/proxier.go",
    },
    {
        "implementation": "Cilium (kubeProxyReplacement=true)",
        "watches": "Services + EndpointSlices through its own k8s watchers",
        "programs": "eBPF maps cilium_lb4_services_v2, cilium_lb4_backends_v3, cilium_lb4_reverse_nat; "
                    "socket-LB translates the ClusterIP at connect(), so no per-packet DNAT",
        "backend selection": "random or Maglev (cilium_lb4_maglev)",
        "session affinity": "ClientIP via cilium_lb4_affinity",
        "topology and traffic policies": "topology hints with loadBalancer.serviceTopology=true; "
                                         "iTP/eTP per its kubeproxy-free guide",
        "honours service-proxy-name": "yes, via k8s.serviceProxyName",
        "source": "cilium/cilium docs: kubeproxy-free",
    },
    {
        "implementation": "Antrea Proxy",
        "watches": "Services + EndpointSlices through a vendored copy of kube-proxy's change trackers "
                   "(third_party/proxy, endpointslicecache.go)",
        "programs": "OVS flows: ServiceLB table -> OpenFlow select group (one bucket per endpoint) -> "
                    "EndpointDNAT table ct(commit, zone=65520, nat(dst=ip:port))",
        "backend selection": "select group, equal-weight buckets",
        "session affinity": "ClientIP via OVS learn flows (timeout at most 65535 s)",
        "topology and traffic policies": "TopologyAwareHints feature gate; NodePort/LB traffic only with "
                                         "proxyAll (v1.4+)",
        "honours service-proxy-name": "not stated in the reference; see antrea-agent.conf",
        "source": "antrea-io/antrea pkg/agent/proxy, third_party/proxy",
    },
    {
        "implementation": "Calico eBPF",
        "watches": "imports k8s.io/kubernetes/pkg/proxy Service/EndpointsChangeTracker with kube-proxy's "
                   "label selectors",
        "programs": "BPF NAT maps cali_v4_nat_fe (frontends) and cali_v4_nat_be (backends), written by "
                    "DPSyncer.Apply(SvcMap, EpsMap, NodeZone)",
        "backend selection": "random; Maglev with lb.projectcalico.org/external-traffic-strategy: maglev",
        "session affinity": "ClientIP via the cali_v4_nat_aff LRU map",
        "topology and traffic policies": "NodeZone passed to the syncer; kube-proxy's categorisation",
        "honours service-proxy-name": "yes (kube-proxy's selectors)",
        "source": "projectcalico/calico felix/bpf/proxy/proxy.go, felix/bpf/nat/maps.go",
    },
]


def proxy_comparison() -> list[dict]:
    """One row per service proxy: what it watches, where it programs, affinity, topology.

    `pandas.DataFrame(proxy_comparison()).set_index("implementation")` renders the chapter's
    table. Plain CNI plugins (bridge, ptp, host-local, flannel, kindnet) have no row: they
    ignore Services and EndpointSlices entirely.
    """
    return [dict(row) for row in _PROXIES]


def backend_selection(state: ProxyState) -> list[dict]:
    """The same per-node endpoints as each datapath's selection structure, one row per backend.

    For every service port of a kube-proxy `ProxyState` (from `build_proxy_state`), the
    endpoints pod traffic to the ClusterIP may use (the cluster set, or the local set with
    internalTrafficPolicy Local), and where each sits: the iptables `KUBE-SVC` rule with its
    `--probability` (the last rule has none), the nftables `numgen random mod n` map index,
    a backend slot of the Cilium frontend, a bucket of the Antrea select group. Every backend
    has the same 1/n chance in all four; Cilium and Antrea order backends their own way, so
    their numbers only count.
    """
    rows = []
    for port_state in state.ports:
        sp, cat = port_state.service_port, port_state.categorized
        endpoints = (cat.local if sp.internal_policy_local else cat.cluster) or ()
        n = len(endpoints)
        for i, endpoint in enumerate(endpoints):
            rows.append({
                "service port": str(sp.name),
                "frontend": f"{sp.cluster_ip}:{sp.port}/{sp.protocol}",
                "backend": str(endpoint),
                "iptables": f"--probability {probability(n - i)}" if i < n - 1 else "last rule (no match)",
                "nftables": f"numgen random mod {n} -> {i}",
                "Cilium": f"backend slot {i + 1} of {n}",
                "Antrea": f"bucket {i + 1} of {n}, equal weight",
                "chance": 1 / n,
            })
    return rows
