"""KPNG, the Kubernetes Proxy Next Generation, as a model of its brain/backend split.

History. kube-proxy watches the API, computes per-node state and programs a backend, all in one
process on every node. KPNG (KEP-2104 "kube-proxy v2", `kubernetes-sigs/kpng`) split that up: a
**brain** watches Services and EndpointSlices once (`kube2store`), and for each node computes
the *node-local* state (`store2localdiff`): the services plus only the endpoints that node
needs. **Backends** (iptables, ipvs, nft, ebpf, Windows) receive just that, in-process or over
a gRPC stream of `OpItem`s (`Reset`, `Set(Ref{Set, Path}, Bytes)`, `Delete(Ref)`, `Sync`),
through a level-driven *full-state* sink or an event-driven *diff* sink. Its authors claimed
about two orders of magnitude fewer change events reaching backends. KEP-2104 stayed
provisional and the repository was archived in July 2024 (kubernetes/org#5054; now
`kubernetes-retired/kpng`). Its ideas live on in other forms: specialised proxies selected with
the `service.kubernetes.io/service-proxy-name` label, nftables mode (KEP-3866), partial
restores (KEP-3453), the proposal to move kube-proxy's shared code into a staging library
(KEP-3786, closed 2023) and third parties reusing `pkg/proxy` (Calico eBPF, Antrea).

The model. `Brain` merges every service's slices once (reusing `proxy.py`'s EndpointSliceCache
merge) and asks `proxy.categorize_endpoints` which endpoints each node needs, so the local
state is what today's kube-proxy would use on that node (KPNG itself kept ready endpoints and
applied the since-removed `topologyKeys`). Values are dicts shaped like KPNG's `localv1`
protobuf messages (`Service`, `Endpoint` with `Local`, `PortOverrides` and `Scopes`); paths are
KPNG's: `ns/name` for services and `ns/name/<hash of the endpoint>` for endpoints, with a stdlib
blake2b hash standing in for xxhash. Backends: `table_backend` (rows), `ipvs_backend`
(`ipvsadm -Ln` style) and `iptables_backend`, which feeds the local model to kube-proxy's own
renderer and gives the same `iptables-save` text as kube-proxy reading every slice.

Sizes are JSON bytes for both designs (kube-proxy's watch events as the API serves them, KPNG's
values as JSON), so the comparison is like for like; real kube-proxy may negotiate protobuf and
KPNG used protobuf, which shrinks both sides.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from typing import NamedTuple

from helpers.dataplane import proxy
from helpers.dataplane.iptables import iptables_save
from helpers.kube import (
    ANNOTATION_TRIGGER_TIME,
    LABEL_HEADLESS,
    LABEL_HOSTNAME,
    LABEL_MANAGED_BY,
    LABEL_SERVICE_NAME,
    LABEL_SERVICE_PROXY_NAME,
    LABEL_ZONE,
)

SERVICES_SET, ENDPOINTS_SET = "ServicesSet", "EndpointsSet"
State = dict  # {(set, path): value}, one node's local state


def wire_bytes(obj) -> int:
    """Bytes of `obj` as compact JSON, the unit every size here is measured in."""
    return len(json.dumps(obj, separators=(",", ":"), sort_keys=True))


# --- the local model's values (localv1.Service, localv1.Endpoint) ----------------------------


def _ipset(ips) -> dict:
    return {"V4": list(ips)} if ips else {}


def service_value(service: dict, ports: list[proxy.ServicePort]) -> dict:
    """A localv1.Service for one Service; fields at their zero value are left out (proto3)."""
    meta, spec = service.get("metadata") or {}, service.get("spec") or {}
    first = ports[0]
    mappings = []
    for sp, spec_port in zip(ports, spec.get("ports") or [], strict=False):
        target = spec_port.get("targetPort", spec_port.get("port"))
        mapping = {"Name": sp.name.port, "Protocol": sp.protocol, "Port": sp.port, "NodePort": sp.node_port}
        mapping.update({"TargetPortName": target} if isinstance(target, str) else {"TargetPort": target})
        mappings.append({k: v for k, v in mapping.items() if v not in ("", 0, None)})
    ips = {"ClusterIPs": _ipset([first.cluster_ip]), "ExternalIPs": _ipset(first.external_ips),
           "LoadBalancerIPs": _ipset(first.load_balancer_vips)}
    value = {
        "Namespace": meta.get("namespace", ""),
        "Name": meta.get("name", ""),
        "Type": spec.get("type", "ClusterIP"),
        "Labels": meta.get("labels") or {},
        "IPs": {k: v for k, v in ips.items() if v},
        "Ports": mappings,
        "ExternalTrafficToLocal": first.external_policy_local,
        "InternalTrafficToLocal": first.internal_policy_local,
    }
    if first.session_affinity_timeout is not None:
        value["ClientIP"] = {"TimeoutSeconds": first.session_affinity_timeout}
    return {k: v for k, v in value.items() if v not in ({}, [], False)}


def endpoint_values(states: list[proxy.ServicePortState]) -> list[dict]:
    """localv1.Endpoints for one service on one node: every endpoint some port may use here.

    `PortOverrides` carries each port's resolved targetPort; `Scopes` says whether the
    endpoint serves internal traffic (the cluster set, or the local set with iTP=Local) and
    external traffic (NodePort/LB: the local set with eTP=Local). `Terminating` (not in
    localv1, which had no conditions) marks an endpoint present only as the serving-and-
    terminating fallback, so a backend can tell it from the ready ones.
    """
    by_ip: dict[str, dict] = {}
    for state in states:
        sp, cat = state.service_port, state.categorized
        internal = cat.local if sp.internal_policy_local else cat.cluster
        external = (cat.local if sp.external_policy_local else cat.cluster) if sp.externally_accessible else ()
        # categorize_endpoints returns the very Endpoint objects it was given, so identity works
        internal_ids, external_ids = {id(ep) for ep in internal or ()}, {id(ep) for ep in external or ()}
        for ep in cat.all_reachable:
            value = by_ip.setdefault(ep.ip, {"IPs": {"V4": [ep.ip]}, "Local": ep.is_local,
                                             "Terminating": not ep.ready, "PortOverrides": {}, "Scopes": {}})
            value["PortOverrides"][sp.name.port] = ep.port
            value["Scopes"]["Internal"] = value["Scopes"].get("Internal", False) or id(ep) in internal_ids
            value["Scopes"]["External"] = value["Scopes"].get("External", False) or id(ep) in external_ids
    for value in by_ip.values():
        value["Scopes"] = {scope: True for scope, used in value["Scopes"].items() if used}
    return [{k: v for k, v in value.items() if v not in (False, {})} for _, value in sorted(by_ip.items())]


def endpoint_path(service_key: str, value: dict) -> str:
    """KPNG's endpoint key: the service key plus a 64-bit hash of the endpoint, in hex."""
    # repr is canonical here: endpoint_values builds every value with the same key order.
    digest = hashlib.blake2b(repr(value).encode(), digest_size=8).digest()
    return f"{service_key}/{int.from_bytes(digest, 'big'):x}"


# --- the brain --------------------------------------------------------------------------------


class Brain:
    """The global half: watches everything once, then answers "what does node N need?".

    Built from one snapshot of the cluster (Services, EndpointSlices, Nodes as the API serves
    them) and an optional KubeProxyConfiguration (for feature gates). The merge of every
    service's slices is done once. A service's node-local view depends on the node only
    through which of its endpoints are local, node hints naming the node, and the node's zone,
    so nodes alike in those share one computed view; per node the rest is a lookup. Given the
    `previous` brain, views of services whose Service and endpoints did not change are reused,
    as KPNG's store only recomputed what changed.
    """

    def __init__(self, services: list[dict], endpoint_slices: list[dict], nodes: list[dict],
                 config: dict | None = None, previous: Brain | None = None):
        self.config = proxy.default_config(config)
        self.gates = self.config.get("featureGates") or {}
        self.nodes = {n["metadata"]["name"]: proxy.node_info(n) for n in nodes}
        endpoints_map = proxy.build_endpoints_map(endpoint_slices, "", self.gates)
        self._services = {}  # key -> (service value, [(ServicePort, merged endpoints)], relevant nodes)
        self._views: dict[str, dict] = {}  # key -> {(node or "", zone): endpoints view}
        for service in sorted(services, key=lambda s: (s["metadata"].get("namespace", ""),
                                                        s["metadata"]["name"])):
            ports = proxy.service_ports(service)
            if not ports:
                continue
            key = f"{service['metadata'].get('namespace', '')}/{service['metadata']['name']}"
            merged = [(sp, endpoints_map.get(sp.name, [])) for sp in ports]
            relevant = {n for _, eps in merged for ep in eps for n in (ep.node_name, *ep.node_hints)}
            value = service_value(service, ports)
            old = previous._services.get(key) if previous is not None else None
            if old is not None and old[0] == value and old[1] == merged:
                value = old[0]  # unchanged: share the value and the computed views
                self._views[key] = previous._views[key]
            self._services[key] = (value, merged, relevant)
            self._views.setdefault(key, {})

    def local_state(self, node_name: str) -> State:
        """The node-local state store2localdiff keeps for `node_name`: {(set, path): value}."""
        if node_name not in self.nodes:
            raise ValueError(f"unknown node {node_name!r}; the brain knows {sorted(self.nodes)}")
        zone = self.nodes[node_name].zone
        state: State = {}
        for key, (value, merged, relevant) in self._services.items():
            state[(SERVICES_SET, key)] = value
            views, view_key = self._views[key], (node_name if node_name in relevant else "", zone)
            if view_key not in views:
                views[view_key] = self._endpoints_view(key, merged, *view_key)
            state.update(views[view_key])
        return state

    def _endpoints_view(self, key: str, merged, node_name: str, zone: str) -> dict:
        """{(EndpointsSet, path): value} for one service as seen from a node."""
        states = []
        for sp, endpoints in merged:
            local = [replace(ep, is_local=True) if ep.node_name == node_name else ep for ep in endpoints]
            cat = proxy.categorize_endpoints(local, sp, node_name, zone, self.gates)
            states.append(proxy.ServicePortState(sp, tuple(local), cat))
        return {(ENDPOINTS_SET, endpoint_path(key, v)): v for v in endpoint_values(states)}


# --- the stream: OpItems, full state and diffs ------------------------------------------------


class Op(NamedTuple):
    """One localnetv1.OpItem: "Reset", "Set", "Delete" or "Sync" (a tuple: streams are long)."""

    op: str
    set: str = ""
    path: str = ""
    value: dict | None = None

    @property
    def size(self) -> int:
        """Bytes carried: the path plus the value (framing left out)."""
        return len(self.path) + (wire_bytes(self.value) if self.value is not None else 0)


def full_ops(state: State) -> list[Op]:
    """What a backend receives on (re)connect: Reset, every value (services first), then Sync."""
    keys = sorted(state, key=lambda k: (k[0] != SERVICES_SET, k[1]))
    return [Op("Reset"), *(Op("Set", s, p, state[(s, p)]) for s, p in keys), Op("Sync")]


def diff_ops(old: State, new: State) -> list[Op]:
    """The changes between two local states, in store2localdiff's order, then Sync.

    Updates of services, updates of endpoints, deletes of endpoints, deletes of services. A
    changed endpoint has a new hash, hence a new path: it arrives as a Set plus a Delete.
    """
    updated = sorted(k for k, v in new.items() if k not in old or (old[k] is not v and old[k] != v))
    deleted = sorted(k for k in old if k not in new)
    ops = []
    for wanted in (SERVICES_SET, ENDPOINTS_SET):
        ops += [Op("Set", s, p, new[(s, p)]) for s, p in updated if s == wanted]
    for wanted in (ENDPOINTS_SET, SERVICES_SET):
        ops += [Op("Delete", s, p) for s, p in deleted if s == wanted]
    return [*ops, Op("Sync")]


def apply_ops(state: State, ops: list[Op]) -> State:
    """A new state with `ops` applied (Reset clears; Sync changes nothing)."""
    result = dict(state)
    for op in ops:
        _apply(result, op)
    return result


def _apply(state: State, op: Op) -> None:
    """Apply one op to `state` in place."""
    if op.op == "Reset":
        state.clear()
    elif op.op == "Set":
        state[(op.set, op.path)] = op.value
    elif op.op == "Delete":
        state.pop((op.set, op.path), None)
    elif op.op != "Sync":
        raise ValueError(f"unknown op {op.op!r} (Reset, Set, Delete, Sync)")


def service_endpoints(state: State) -> list[dict]:
    """The full state grouped per service, as the fullstate sink hands it to a backend."""
    grouped = {path: {"Service": value, "Endpoints": []}
               for (set_name, path), value in sorted(state.items()) if set_name == SERVICES_SET}
    for (set_name, path), value in sorted(state.items()):
        if set_name == ENDPOINTS_SET:
            grouped[path.rsplit("/", 1)[0]]["Endpoints"].append(value)
    return list(grouped.values())


class FullStateSink:
    """Level-driven client sink (`client/localsink/fullstate`): the callback receives the
    complete list of ServiceEndpoints after every Sync, whatever changed."""

    def __init__(self, callback):
        self.callback = callback
        self.state: State = {}

    def send(self, ops: list[Op]) -> None:
        for op in ops:
            _apply(self.state, op)
            if op.op == "Sync":
                self.callback(service_endpoints(self.state))


class DiffSink:
    """Event-driven client sink (the `filterreset`/decoder style): the callback receives each
    batch of Set/Delete ops up to a Sync, so a backend programs only what changed."""

    def __init__(self, callback):
        self.callback = callback
        self.state: State = {}
        self._batch: list[Op] = []

    def send(self, ops: list[Op]) -> None:
        for op in ops:
            _apply(self.state, op)
            if op.op == "Sync":
                self.callback(self._batch)
                self._batch = []
            else:
                self._batch.append(op)


# --- backends rendering the local model -------------------------------------------------------


def _port_endpoints(entry: dict, port: dict, scope: str) -> list[str]:
    """`ip:port` of the endpoints in `scope` for one port, in kube-proxy's string order (the
    stream's order is by hash, which means nothing to a reader)."""
    return sorted(f"{ep['IPs']['V4'][0]}:{ep['PortOverrides'][port.get('Name', '')]}"
                  for ep in entry["Endpoints"]
                  if ep.get("Scopes", {}).get(scope) and port.get("Name", "") in ep.get("PortOverrides", {}))


def table_backend(entries: list[dict]) -> list[dict]:
    """Rows (one per service port) of what the node would program: ClusterIP frontend and the
    internal-traffic endpoints, plus how many endpoints are local. Renders with pandas."""
    rows = []
    for entry in entries:
        svc = entry["Service"]
        for port in svc.get("Ports", []):
            endpoints = _port_endpoints(entry, port, "Internal")
            rows.append({
                "service": f"{svc['Namespace']}/{svc['Name']}",
                "port": port.get("Name", ""),
                "frontend": f"{svc['IPs']['ClusterIPs']['V4'][0]}:{port['Port']}/{port['Protocol']}",
                "endpoints": endpoints,
                "local endpoints": sum(1 for ep in entry["Endpoints"] if ep.get("Local")),
                "policy": "Local" if svc.get("InternalTrafficToLocal") else "Cluster",
            })
    return rows


def ipvs_backend(entries: list[dict]) -> str:
    """The local model rendered like `ipvsadm -Ln`: one virtual server per ClusterIP port with
    round-robin scheduling and masqueraded real servers (KPNG shipped an IPVS backend)."""
    lines = ["Prot LocalAddress:Port Scheduler Flags",
             "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn"]
    for entry in entries:
        svc = entry["Service"]
        for port in svc.get("Ports", []):
            frontend = f"{svc['IPs']['ClusterIPs']['V4'][0]}:{port['Port']}"
            flags = f" persistent {svc['ClientIP']['TimeoutSeconds']}" if "ClientIP" in svc else ""
            lines.append(f"{port['Protocol']:<4} {frontend} rr{flags}")
            for endpoint in _port_endpoints(entry, port, "Internal"):
                lines.append(f"  -> {endpoint:<28} Masq    1      0          0")
    return "\n".join(lines) + "\n"


def api_objects(entries: list[dict], node_name: str) -> tuple[list[dict], list[dict]]:
    """Turn a node's ServiceEndpoints back into the Services and EndpointSlices they imply.

    KPNG's iptables backend reused kube-proxy's proxier by feeding it such objects. Only what
    localv1 carries comes back (no source ranges or health-check node ports). Endpoints are
    ready unless marked `Terminating`, carry `nodeName` only when local and no hints, because
    the brain already chose which endpoints the node may use; so kube-proxy's categorisation
    of these objects gives the brain's sets back (except if topology hints send a node's own
    endpoint to another zone, which the local model cannot express). Endpoints whose ports
    differ land in different slices, as the EndpointSlice controller would put them.
    """
    services, slices = [], []
    for entry in entries:
        svc = entry["Service"]
        services.append(_api_service(svc))
        by_ports: dict[tuple, list[dict]] = {}
        for ep in entry["Endpoints"]:
            terminating = ep.get("Terminating", False)
            endpoint = {"addresses": ep["IPs"]["V4"][:1],
                        "conditions": {"ready": not terminating, "serving": True, "terminating": terminating}}
            if ep.get("Local"):
                endpoint["nodeName"] = node_name
            by_ports.setdefault(tuple(ep.get("PortOverrides", {}).items()), []).append(endpoint)
        protocols = {p.get("Name", ""): p["Protocol"] for p in svc.get("Ports", [])}
        for i, (ports, endpoints) in enumerate(sorted(by_ports.items())):
            slices.append({
                "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
                "metadata": {"namespace": svc["Namespace"], "name": f"{svc['Name']}-{i}",
                             "labels": {LABEL_SERVICE_NAME: svc["Name"]}},
                "ports": [{"name": name, "port": port, "protocol": protocols.get(name, "TCP")} for name, port in ports],
                "endpoints": endpoints,
            })
    return services, slices


def _api_service(svc: dict) -> dict:
    ips = svc.get("IPs", {})
    cluster_ips = ips.get("ClusterIPs", {}).get("V4", [])
    spec = {
        "type": svc.get("Type", "ClusterIP"), "clusterIP": cluster_ips[0], "clusterIPs": cluster_ips,
        "ports": [{"name": p.get("Name", ""), "protocol": p["Protocol"], "port": p["Port"],
                   "targetPort": p.get("TargetPortName", p.get("TargetPort", p["Port"])),
                   **({"nodePort": p["NodePort"]} if p.get("NodePort") else {})} for p in svc.get("Ports", [])],
        "internalTrafficPolicy": "Local" if svc.get("InternalTrafficToLocal") else "Cluster",
    }
    if ips.get("ExternalIPs"):
        spec["externalIPs"] = ips["ExternalIPs"]["V4"]
    if svc.get("Type") in ("NodePort", "LoadBalancer"):
        spec["externalTrafficPolicy"] = "Local" if svc.get("ExternalTrafficToLocal") else "Cluster"
    if "ClientIP" in svc:
        spec["sessionAffinity"] = "ClientIP"
        spec["sessionAffinityConfig"] = {"clientIP": {"timeoutSeconds": svc["ClientIP"]["TimeoutSeconds"]}}
    status = {"loadBalancer": {"ingress": [{"ip": ip} for ip in ips.get("LoadBalancerIPs", {}).get("V4", [])]}}
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"namespace": svc["Namespace"], "name": svc["Name"], "labels": svc.get("Labels", {})},
            "spec": spec, "status": status}


def iptables_backend(entries: list[dict], node: dict, config: dict | None = None) -> str:
    """The local model rendered by kube-proxy's own iptables renderer, as KPNG's iptables
    backend did: `iptables-save` text for `node` from far less input than kube-proxy reads."""
    services, slices = api_objects(entries, node["metadata"]["name"])
    return iptables_save(services=services, endpoint_slices=slices, node=node, config=config)


# --- what every node receives: kube-proxy's watches versus KPNG's local model -----------------


def kube_proxy_watches(obj: dict, kind: str | None = None) -> bool:
    """Whether kube-proxy's informers deliver `obj`. v1.36 (`cmd/kube-proxy/app/server.go`) has two
    selectors: Services without the `service.kubernetes.io/service-proxy-name` label and with
    `spec.clusterIP` other than `None`; EndpointSlices without the `service.kubernetes.io/headless` label.
    `kind` is for list items, which the API serves without one."""
    labels = (obj.get("metadata") or {}).get("labels") or {}
    if (kind or obj.get("kind")) == "EndpointSlice":
        return LABEL_HEADLESS not in labels
    return LABEL_SERVICE_PROXY_NAME not in labels and (obj.get("spec") or {}).get("clusterIP") != "None"


def _watched(cluster: dict) -> dict:
    """{(kind, ns/name): object} for everything kube-proxy's informers deliver."""
    watched = {}
    for kind, key in (("Service", "services"), ("EndpointSlice", "endpoint_slices")):
        for obj in cluster[key]:
            if kube_proxy_watches(obj, kind):
                meta = obj["metadata"]
                watched[(kind, f"{meta.get('namespace', '')}/{meta['name']}")] = obj
    return watched


def _cost_row(design: str, per_node: list[tuple[int, int]]) -> dict:
    """Summary of (objects, bytes) received by each node."""
    objects, sizes = [o for o, _ in per_node], [b for _, b in per_node]
    return {
        "design": design,
        "nodes": len(per_node),
        "nodes reached": sum(1 for o in objects if o),
        "objects per node (max)": max(objects, default=0),
        "bytes per node (mean)": round(sum(sizes) / len(sizes)) if sizes else 0,
        "bytes per node (max)": max(sizes, default=0),
        "bytes in total": sum(sizes),
    }


def _received(items, sizes: dict) -> tuple[int, int]:
    """(objects, bytes) for (path, value-or-None) pairs. `sizes` memoises value sizes by
    identity: the brain hands the same value objects to every node that shares a view."""
    count = total = 0
    for path, value in items:
        if value is not None and id(value) not in sizes:
            sizes[id(value)] = wire_bytes(value)
        count += 1
        total += len(path) + (sizes[id(value)] if value is not None else 0)
    return count, total


def initial_sync_cost(cluster: dict, config: dict | None = None, brain: Brain | None = None) -> list[dict]:
    """What each node receives to start: kube-proxy lists every Service and EndpointSlice,
    a KPNG backend receives its node's local state. `cluster` is {"services",
    "endpoint_slices", "nodes"} (lists of API dicts); returns one row per design. Pass the
    snapshot's `brain` if one is already built."""
    watched = _watched(cluster)
    kube_proxy = (len(watched), sum(wire_bytes(obj) for obj in watched.values()))
    brain = brain or Brain(cluster["services"], cluster["endpoint_slices"], cluster["nodes"], config)
    # The full state is full_ops' Set items; summing the state directly avoids building them.
    sizes: dict = {}
    kpng = [_received(((path, value) for (_, path), value in brain.local_state(name).items()), sizes)
            for name in brain.nodes]
    return [_cost_row("kube-proxy: all Services + EndpointSlices", [kube_proxy] * len(brain.nodes)),
            _cost_row("KPNG: node-local full state", kpng)]


def change_cost(before: dict, after: dict, config: dict | None = None, brain: Brain | None = None) -> list[dict]:
    """What each node receives for one change between two cluster snapshots.

    kube-proxy: every changed or deleted Service/EndpointSlice is a watch event carrying the
    whole object, sent to every node. KPNG: each node receives the diff of its own local state,
    possibly nothing at all. `brain`, if given, is the Brain of `before`.
    """
    old, new = _watched(before), _watched(after)
    changed = [obj for key, obj in new.items() if old.get(key) != obj]
    changed += [obj for key, obj in old.items() if key not in new]  # DELETED events carry the object
    kube_proxy = (len(changed), sum(wire_bytes(obj) for obj in changed))
    brain_old = brain or Brain(before["services"], before["endpoint_slices"], before["nodes"], config)
    brain_new = Brain(after["services"], after["endpoint_slices"], after["nodes"], config, previous=brain_old)
    sizes: dict = {}
    kpng = [_received(((op.path, op.value) for op in diff_ops(brain_old.local_state(name),
                                                              brain_new.local_state(name)) if op.op != "Sync"), sizes)
            for name in brain_new.nodes]
    return [_cost_row("kube-proxy: changed objects to every node", [kube_proxy] * len(brain_new.nodes)),
            _cost_row("KPNG: per-node diff", kpng)]


def scaling_rows(service_counts=(100, 1000), node_counts=(3, 10), endpoints_per_service: int = 10,
                 **policy) -> list[dict]:
    """Long-format rows for plotting how each design's traffic grows with the cluster.

    For every (services, nodes) pair: start-up bytes per node and bytes for one change (an
    endpoint turning not ready) summed over all nodes, for kube-proxy and for KPNG. `policy`
    is passed to `scale_cluster` (e.g. `internal_traffic_policy="Local"`).
    """
    rows = []
    for services in service_counts:
        for nodes in node_counts:
            cluster = scale_cluster(services, endpoints_per_service, nodes, **policy)
            victim = cluster["endpoint_slices"][0]["endpoints"][-1]["addresses"][0]
            brain = Brain(cluster["services"], cluster["endpoint_slices"], cluster["nodes"])
            initial = initial_sync_cost(cluster, brain=brain)
            change = change_cost(cluster, with_endpoint_ready(cluster, victim, False), brain=brain)
            for design, start, one in zip(("kube-proxy", "KPNG"), initial, change, strict=True):
                rows.append({"services": services, "nodes": nodes, "endpoints": services * endpoints_per_service,
                             "design": design,
                             "start-up bytes per node": start["bytes per node (mean)"],
                             "start-up objects per node": start["objects per node (max)"],
                             "change bytes, all nodes": one["bytes in total"],
                             "nodes reached by a change": one["nodes reached"]})
    return rows


# --- synthetic clusters for scale experiments -------------------------------------------------


def _ip(base: str, index: int) -> str:
    octets = [int(o) for o in base.split(".")]
    value = (octets[0] << 24 | octets[1] << 16 | octets[2] << 8 | octets[3]) + index
    return ".".join(str(value >> shift & 255) for shift in (24, 16, 8, 0))


def scale_cluster(services: int = 100, endpoints_per_service: int = 10, nodes: int = 3, *,
                      zones: int = 3, internal_traffic_policy: str = "Cluster",
                      traffic_distribution: str | None = None,
                      max_endpoints_per_slice: int = 100) -> dict:
    """A deterministic cluster shaped as the API serves it: {"services", "endpoint_slices",
    "nodes"}. Pods are spread round-robin over the nodes, nodes round-robin over the zones;
    slices carry the metadata the EndpointSlice controller writes (labels, owner reference,
    trigger-time annotation) and zone hints when `traffic_distribution` is set.

    Unlike `stats.synthetic_cluster`, which has just what rule rendering needs, objects here
    carry realistic metadata, nodes and zones: bytes on the wire are what is measured.
    (managedFields are left out, so kube-proxy's side is if anything underestimated.)"""
    node_objs = [{
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": f"node-{n:03d}", "labels": {
            LABEL_HOSTNAME: f"node-{n:03d}", LABEL_ZONE: f"zone-{n % zones}"}},
        "status": {"addresses": [{"type": "InternalIP", "address": _ip("172.18.0.2", n)}]},
    } for n in range(nodes)]
    svc_objs, slice_objs = [], []
    for s in range(services):
        name = f"svc-{s:05d}"
        uid = f"00000000-0000-4000-8000-{s:012d}"
        svc_objs.append(_synthetic_service(name, uid, _ip("10.96.0.10", s), internal_traffic_policy,
                                           traffic_distribution))
        endpoints = []
        for k in range(endpoints_per_service):
            pod_index = s * endpoints_per_service + k
            node = node_objs[pod_index % nodes]
            endpoints.append(_synthetic_endpoint(name, k, _ip("10.244.0.2", pod_index), node,
                                                 traffic_distribution is not None))
        for part, start in enumerate(range(0, max(len(endpoints), 1), max_endpoints_per_slice)):
            slice_objs.append(_synthetic_slice(name, uid, part, endpoints[start:start + max_endpoints_per_slice]))
    return {"services": svc_objs, "endpoint_slices": slice_objs, "nodes": node_objs}


def _synthetic_service(name, uid, cluster_ip, internal_traffic_policy, traffic_distribution) -> dict:
    spec = {
        "clusterIP": cluster_ip, "clusterIPs": [cluster_ip], "internalTrafficPolicy": internal_traffic_policy,
        "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack",
        "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080}],
        "selector": {"app": name}, "sessionAffinity": "None", "type": "ClusterIP",
    }
    if traffic_distribution:
        spec["trafficDistribution"] = traffic_distribution
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"namespace": "bench", "name": name, "uid": uid, "resourceVersion": "1000",
                         "creationTimestamp": "2026-01-01T00:00:00Z", "labels": {"app": name}},
            "spec": spec, "status": {"loadBalancer": {}}}


def _synthetic_endpoint(service, k, ip, node, hinted) -> dict:
    zone = node["metadata"]["labels"][LABEL_ZONE]
    endpoint = {"addresses": [ip], "conditions": {"ready": True, "serving": True, "terminating": False},
                "nodeName": node["metadata"]["name"], "zone": zone,
                "targetRef": {"kind": "Pod", "namespace": "bench", "name": f"{service}-pod-{k}",
                              "uid": f"10000000-0000-4000-8000-{k:012d}"}}
    if hinted:
        endpoint["hints"] = {"forZones": [{"name": zone}]}
    return endpoint


def _synthetic_slice(service, uid, part, endpoints) -> dict:
    return {
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
        "metadata": {
            "namespace": "bench", "name": f"{service}-{part:05x}", "generateName": f"{service}-",
            "uid": f"20000000-0000-4000-8000-{part:012d}", "resourceVersion": "1000", "generation": 1,
            "creationTimestamp": "2026-01-01T00:00:00Z",
            "labels": {"app": service, LABEL_SERVICE_NAME: service,
                       LABEL_MANAGED_BY: "endpointslice-controller.k8s.io"},
            "annotations": {ANNOTATION_TRIGGER_TIME: "2026-01-01T00:00:00Z"},
            "ownerReferences": [{"apiVersion": "v1", "kind": "Service", "name": service, "uid": uid,
                                 "blockOwnerDeletion": True, "controller": True}],
        },
        "endpoints": endpoints,
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
    }


def with_endpoint_ready(cluster: dict, ip: str, ready: bool) -> dict:
    """A copy of `cluster` where the endpoint `ip` turned (not) ready, as the EndpointSlice
    controller would write it: ready and serving follow the pod, and the slice's
    resourceVersion and generation move on."""
    slices = []
    found = False
    for eps in cluster["endpoint_slices"]:
        if any(ep.get("addresses", [None])[0] == ip for ep in eps.get("endpoints") or []):
            found = True
            meta = eps["metadata"]
            eps = {**eps, "metadata": {**meta, "resourceVersion": str(int(meta.get("resourceVersion", 0)) + 1),
                                       "generation": meta.get("generation", 1) + 1},
                   "endpoints": [{**ep, "conditions": {**ep.get("conditions", {}), "ready": ready,
                                                       "serving": ready}}
                                 if ep.get("addresses", [None])[0] == ip else ep for ep in eps["endpoints"]]}
        slices.append(eps)
    if not found:
        raise ValueError(f"no EndpointSlice has an endpoint with address {ip}")
    return {**cluster, "endpoint_slices": slices}
