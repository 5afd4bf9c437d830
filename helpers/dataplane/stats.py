"""How much work a node's kube-proxy does: rule and chain counts, bytes written per sync.

A sync writes one ``iptables-restore`` payload (or one nft transaction). A **full** sync writes
everything; a **partial** sync (KEP-3453, GA 1.28; native in nftables) rewrites only the
per-service chains of services whose Service or endpoints changed, plus the shared chains
(``KUBE-SERVICES``, ``KUBE-NODEPORTS``, the filter table) in iptables mode, or just the
changed map elements in nftables mode. :func:`sync_payload` builds that text so chapters can
plot how a node's work grows with the cluster (:func:`scaling_rows`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from helpers.dataplane import iptables, nftables
from helpers.dataplane.proxy import ConfigError, ProxyState, build_proxy_state
from helpers.kube import LABEL_SERVICE_NAME


@dataclass(frozen=True)
class RuleStats:
    """Size of one node's programme in one mode."""

    mode: str
    chains: int
    rules: int
    elements: int  # nft set/map elements (0 in iptables mode)
    bytes: int  # size of a full sync's payload

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def render(state: ProxyState, mode: str | None = None, **options):
    """The ruleset object for ``mode`` (default: the config's mode)."""
    mode = mode or state.config["mode"]
    if mode == "nftables":
        return nftables.render(state, **options)
    if mode == "iptables":
        return iptables.render(state, **options)
    raise ConfigError(f"mode {mode!r} is not modelled (IPVS is deprecated since 1.35); use iptables or nftables")


def stats_of(ruleset) -> RuleStats:
    """Counts for an already rendered ruleset (``IPTablesRules`` or ``NFTRuleset``)."""
    if isinstance(ruleset, nftables.NFTRuleset):
        chains = ruleset.chains()
        text = ruleset.transaction_lines()
        return RuleStats("nftables", len(chains), sum(len(c.rules) for c in chains), len(ruleset.elements()),
                         len("\n".join(text)) + 1)
    dump = ruleset.dump()
    return RuleStats("iptables", dump.chain_count(), dump.rule_count(), 0, len(ruleset.restore_payload()))


def rule_stats(services=(), endpoint_slices=(), node=None, config=None, mode: str | None = None,
               **options) -> RuleStats:
    """Chains, rules, elements and full-sync bytes for one node (API dicts in, like ``iptables_save``).

    ``options`` go to the renderer (``nfacct``/``random_fully`` or ``service_cidrs``).
    """
    state = build_proxy_state(list(services), list(endpoint_slices), node, config)
    return stats_of(render(state, mode, **options))


def sync_payload(previous, current, changed: set | None) -> str:
    """The text one sync writes, going from ``previous`` to ``current`` (same mode).

    ``changed`` = None (or no previous ruleset) is a full sync; otherwise it is the set of
    (namespace, name) services whose Service or endpoints changed since the last sync.
    """
    if isinstance(current, nftables.NFTRuleset):
        return _nft_payload(previous, current, changed)
    stale = sorted(previous.service_chains() - current.service_chains()) if previous is not None else []
    return current.restore_payload(None if previous is None else changed, stale)


def _nft_payload(previous, current, changed) -> str:
    if previous is None or changed is None:
        lines = current.transaction_lines()
    else:
        lines = current.transaction_lines(changed)
        old, new = previous.element_lines(), current.element_lines()
        old_set, new_set = set(old), set(new)
        lines += [ln for ln in new if ln not in old_set]
        lines += ["delete" + ln[3:] for ln in old if ln not in new_set]
    if previous is not None:
        lines += [f"flush chain {nftables.FAMILY} {nftables.TABLE} {c}"
                  for c in sorted(previous.service_chains() - current.service_chains())]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- synthetic clusters


def synthetic_cluster(n_services: int, endpoints_per_service: int, *, nodes: int = 3,
                      namespace: str = "bench") -> tuple[list[dict], list[dict]]:
    """``n_services`` ClusterIP Services with one slice each, endpoints spread over ``nodes`` nodes.

    ClusterIPs come from 10.96.0.0/12 and pod IPs from 10.244.0.0/16-style ranges, so inputs
    look like a kind cluster's; names are ``svc-<i>``.
    """
    services, slices = [], []
    for i in range(n_services):
        name = f"svc-{i}"
        cluster_ip = f"10.{96 + i // 65025}.{(i // 255) % 255}.{i % 255 + 1}"
        services.append({
            "apiVersion": "v1", "kind": "Service", "metadata": {"namespace": namespace, "name": name},
            "spec": {"type": "ClusterIP", "clusterIP": cluster_ip, "clusterIPs": [cluster_ip],
                     "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080}]},
        })
        endpoints = [{
            "addresses": [_pod_ip(i * endpoints_per_service + j)],
            "conditions": {"ready": True, "serving": True, "terminating": False},
            "nodeName": f"node-{j % nodes}",
        } for j in range(endpoints_per_service)]
        slices.append({
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
            "metadata": {"namespace": namespace, "name": f"{name}-abcde",
                         "labels": {LABEL_SERVICE_NAME: name}},
            "endpoints": endpoints, "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
        })
    return services, slices


def _pod_ip(n: int) -> str:
    """The n-th pod IP of a synthetic cluster (10.x.y.z, never .0)."""
    return f"10.{n // 65025 % 256}.{n // 255 % 255}.{n % 255 + 1}"


def scaling_rows(service_counts, endpoints_per_service: int = 10, modes=("iptables", "nftables"),
                 node: str = "node-0") -> list[dict]:
    """For each cluster size and mode: rules, chains, full-sync bytes and partial-sync bytes.

    The partial sync is the one that follows a change to a single Service's endpoints (one
    endpoint removed), which is the common case a node handles all day.
    """
    rows = []
    for n in service_counts:
        services, slices = synthetic_cluster(n, endpoints_per_service)
        changed_slices = [dict(slices[0], endpoints=slices[0]["endpoints"][1:])] + slices[1:]
        before = build_proxy_state(services, slices, node, {"clusterCIDR": "10.0.0.0/8"})
        after = build_proxy_state(services, changed_slices, node, {"clusterCIDR": "10.0.0.0/8"})
        for mode in modes:
            started = time.perf_counter()
            old = render(before, mode)
            elapsed = time.perf_counter() - started
            new = render(after, mode)
            counts = stats_of(old)
            partial = sync_payload(old, new, {(services[0]["metadata"]["namespace"], "svc-0")})
            rows.append({"services": n, "endpoints": n * endpoints_per_service, "mode": mode,
                         "chains": counts.chains, "rules": counts.rules, "elements": counts.elements,
                         "full_sync_bytes": counts.bytes, "partial_sync_bytes": len(partial),
                         "render_seconds": elapsed})
    return rows


def node_differences(services, endpoint_slices, nodes, config=None) -> dict[str, list[str]]:
    """Per node, the iptables rules that not every node has.

    Every node programs the same Service table except where ``isLocal`` (SVL chains, "no
    local endpoints" DROPs) or topology hints (zone/node-narrowed SVC chains) differ, so this
    is exactly the per-node part of the data plane (kubernetes/kubernetes v1.37.0: the node enters
    `pkg/proxy/iptables/proxier.go` `syncProxyRules` only through each endpoint's IsLocal, set in
    `pkg/proxy/endpointslicecache.go`, and `pkg/proxy/topology.go` `CategorizeEndpoints`).
    """
    per_node = {}
    for node in nodes:
        state = build_proxy_state(list(services), list(endpoint_slices), node, config)
        dump = iptables.render(state).dump()
        per_node[state.node.name] = [r for chains in dump.tables.values() for rules in chains.values() for r in rules]
    common = set.intersection(*(set(rules) for rules in per_node.values())) if per_node else set()
    return {name: [r for r in rules if r not in common] for name, rules in per_node.items()}
