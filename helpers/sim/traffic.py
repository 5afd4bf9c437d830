"""Requests on the simulator: each one walks the client node's kube-proxy rules, as they are now.

A request from a client (a pod, or ``node/<name>``'s host network) to a Service is a new connection
through the rules its node's kube-proxy programmed at its last sync (what ``h.node_rules`` prints),
traced by :class:`helpers.dataplane.packettrace.Tracer` (what ``trace_packet`` runs; rules parsed once
per sync, each destination walked once per sync). The tracer gives every path with its probability
(``statistic --mode random`` / ``numgen random``); one path is drawn from a seeded RNG, so a run is
reproducible. ``sessionAffinity: ClientIP`` is the ``recent`` module's table: the
endpoint a client last reached is reused while it is still in the rules and within the timeout.

What happens next: REJECT -> ``refused``; DROP, no rule, or an address no running node has ->
``timeout``; an endpoint whose container has no process listening on the port -> ``refused`` (RST,
or ICMP port unreachable for UDP); otherwise the modelled process (:mod:`helpers.sim.images`)
answers -> ``ok`` with its reply.

Each node has a conntrack table. A held connection (:meth:`Traffic.open`) keeps the endpoint its
first packet was DNAT'ed to, whatever the rules say later; a process that stops under it gives
``reset`` (TCP) or ``refused`` (UDP: ICMP port unreachable). After a sync that changed a UDP Service's
endpoints (``ConntrackCleanupRequired``), kube-proxy deletes UDP entries to a Service
whose DNAT target is no longer a serving endpoint of it, as ``CleanStaleEntries`` does
(``pkg/proxy/conntrack/cleanup.go``, v1.37.0): all of them on its IPs when it has no serving endpoint
left, NodePort entries only while it has some.
"""

from __future__ import annotations

import ipaddress
import random
from dataclasses import dataclass

from helpers.controlplane.podutil import internal_ip
from helpers.dataplane.packettrace import Tracer
from helpers.sim import dns
from helpers.sim.api.errors import ApiError

TCP_TIME_WAIT_S = 120.0  # nf_conntrack_tcp_timeout_time_wait
TCP_ESTABLISHED_S = 432000.0  # nf_conntrack_tcp_timeout_established (5 days)
UDP_S, UDP_STREAM_S = 30.0, 120.0  # nf_conntrack_udp_timeout, nf_conntrack_udp_timeout_stream
AFFINITY_DEFAULT_S = 10800  # the Service API's default sessionAffinityConfig.clientIP.timeoutSeconds
EPHEMERAL = (32768, 60999)  # net.ipv4.ip_local_port_range
DIAL_TIMEOUT_S = 1.0  # how long a client command in a pod (curl, nc) waits on the kernel data plane
PURGE_AT = 65536  # entries per node before expired ones are dropped on insert (not only when listed)


class TrafficError(ApiError):
    """Bad input to a request: a 4xx Status whose message names the next step."""

    def __init__(self, code: int, message: str):
        super().__init__(code, {400: "BadRequest", 404: "NotFound", 409: "Conflict"}[code], message)


@dataclass
class Entry:
    """One conntrack entry, shaped like a line of ``conntrack -L``."""

    protocol: str
    src: str
    sport: int
    dst: str
    dport: int
    reply_src: str
    reply_sport: int
    reply_dst: str
    state: str
    expires: float
    assured: bool = False
    replied: bool = False

    def row(self, now: float) -> dict:
        return {"protocol": self.protocol.lower(), "state": self.state, "src": self.src, "sport": self.sport,
                "dst": self.dst, "dport": self.dport, "reply_src": self.reply_src, "reply_sport": self.reply_sport,
                "reply_dst": self.reply_dst, "expires_s": max(0, round(self.expires - now)),
                "flags": "[ASSURED]" if self.assured else ("" if self.replied else "[UNREPLIED]")}


@dataclass
class Client:
    name: str
    ip: str
    node: str
    namespace: str = ""


class Traffic:
    """The cluster's traffic engine (one per Cluster; runs on the reactor)."""

    def __init__(self, cluster):
        self.cluster = cluster
        self.rng = random.Random(f"{cluster.seed}-traffic")
        self.conntrack: dict[str, dict[tuple, Entry]] = {name: {} for name in cluster.kubelets}
        self.recent: dict[str, dict[tuple, tuple[str, float]]] = {name: {} for name in cluster.kubelets}
        self.held: dict[int, tuple] = {}  # id -> (node, conntrack key, namespace, service, port, client)
        self._traces: dict = {}
        self._tracers: dict[str, tuple] = {}  # node -> (the ruleset of its last sync, its Tracer)
        self._next_id = 1

    # -- input ------------------------------------------------------------------------------------
    def _service_port(self, namespace: str, service: str, port) -> tuple[dict, dict]:
        if "." in service:  # a DNS name (web.other, web.other.svc.cluster.local): the client's search path
            for name, ns in dns.service_candidates(service, namespace):
                if self.cluster.informer.get("services", name, ns) is not None:
                    service, namespace = name, ns
                    break
        try:
            svc = self.cluster.store.get("services", service, namespace)
        except ApiError:
            raise TrafficError(404, f"there is no Service {service!r} in namespace {namespace!r}; "
                                    f"list them with h.services_table({namespace!r})") from None
        ports = svc["spec"].get("ports") or []
        if not ports:
            raise TrafficError(400, f"Service {namespace}/{service} has no ports; add spec.ports")
        if port is None:
            return svc, ports[0]
        for p in ports:
            if str(p.get("port")) == str(port) or p.get("name") == port:
                return svc, p
        names = ", ".join(str(p.get("name") or p["port"]) for p in ports)
        raise TrafficError(400, f"Service {namespace}/{service} has no port {port!r}; it has {names}")

    def _client(self, namespace: str, client: str) -> Client:
        if client.startswith("node/"):
            node = client.removeprefix("node/")
            if node not in self.cluster.kubelets:
                raise TrafficError(404, f"there is no node {node!r}; list them with h.nodes_table()")
            if not self.cluster.kubelets[node].running:
                raise TrafficError(409, f"node {node} is stopped; start it with h.start_node({node!r})")
            ip = internal_ip(self.cluster.store.get("nodes", node)) or ""
            return Client(client, ip, node, namespace)
        try:
            pod = self.cluster.store.get("pods", client, namespace)
        except ApiError:
            raise TrafficError(404, f"there is no client pod {client!r} in namespace {namespace!r}; "
                                    "leave client=None to let h.requests create one") from None
        status, node = pod.get("status") or {}, pod["spec"].get("nodeName")
        kubelet = self.cluster.kubelets.get(node)
        if status.get("phase") != "Running" or not status.get("podIP") or kubelet is None or not kubelet.running:
            raise TrafficError(409, f"client pod {namespace}/{client} is not running (phase "
                                    f"{status.get('phase', 'Pending')}); wait with h.wait_for_ready")
        return Client(client, status["podIP"], node, namespace)

    # -- the data path ----------------------------------------------------------------------------
    def _trace(self, node: str, source: str, dst: str, protocol: str):
        proxy = self.cluster.kube_proxies.get(node)
        ruleset = getattr(proxy, "_ruleset", None)
        if ruleset is None:
            return []
        seen = self._tracers.get(node)
        if seen is None or seen[0] is not ruleset:  # a new sync: parse its rules once; old traces go
            self._tracers[node] = seen = (ruleset, Tracer(ruleset))
            self._traces = {k: v for k, v in self._traces.items() if k[0] != node}
        key = (node, source, dst, protocol)
        if key not in self._traces:
            node_ip = internal_ip(self.cluster.store.get("nodes", node)) or ""
            self._traces[key] = seen[1].trace(source, dst, protocol=protocol, local_ips=[node_ip]).outcomes
        return self._traces[key]

    def _pick(self, node: str, client: Client, svc: dict, dst: str, protocol: str):
        """The path this new connection takes: affinity first (``recent --rcheck``), else a random draw."""
        outcomes = self._trace(node, "node" if client.name.startswith("node/") else client.ip, dst, protocol)
        if not outcomes:
            return None
        now = self.cluster.clock.time()
        affinity = svc["spec"].get("sessionAffinity") == "ClientIP"
        recent = self.recent[node]
        if affinity:
            timeout = ((svc["spec"].get("sessionAffinityConfig") or {}).get("clientIP") or {}).get(
                "timeoutSeconds", AFFINITY_DEFAULT_S)
            seen = recent.get((client.ip, dst, protocol))
            if seen and now - seen[1] <= timeout:
                match = next((o for o in outcomes if o.target == seen[0]), None)
                if match is not None:
                    recent[(client.ip, dst, protocol)] = (seen[0], now)
                    return match
        draw, total = self.rng.random(), 0.0
        chosen = outcomes[-1]
        for outcome in outcomes:
            total += outcome.probability
            if draw < total:
                chosen = outcome
                break
        if affinity and ":" in chosen.target:
            recent[(client.ip, dst, protocol)] = (chosen.target, now)
        return chosen

    def _host(self, ip: str) -> tuple[str | None, list[dict]]:
        """The running node that has ``ip`` (a pod's, or its own), and the pods sharing that address
        (one pod, or every hostNetwork pod on the node)."""
        pods = [p for p in self.cluster.informer.items("pods") if (p.get("status") or {}).get("podIP") == ip]
        node = pods[0]["spec"].get("nodeName") if pods else next(
            (n for n in self.cluster.kubelets if internal_ip(self.cluster.informer.get("nodes", n) or {}) == ip), None)
        kubelet = self.cluster.kubelets.get(node)
        return (node if kubelet is not None and kubelet.running else None), pods

    def _deliver(self, target: str, protocol: str, client_ip: str, request: str) -> tuple[str, str, str | None]:
        """(outcome, reply, node) for a packet DNAT'ed to ``target``: the process listening there
        answers; an address that is up with nothing listening refuses; an address nobody has times out."""
        ip, _, port = target.rpartition(":")
        node, pods = self._host(ip)
        if node is None:
            return "timeout", "", None
        kubelet = self.cluster.kubelets[node]
        for pod in pods:
            name = pod["metadata"]["name"]
            proc = kubelet.listener(pod["metadata"]["namespace"], name, int(port), protocol)
            if proc is not None:
                reply = proc.answer(int(port), protocol, hostname=name, client_ip=client_ip, request=request)
                return "ok", reply, node
        return "refused", "", node

    def _namespace(self, who: Client):
        """The kernel namespace a client sends from: its pod's, or its node's."""
        try:
            return self.cluster.kernel.client_namespace(who.namespace, who.name, who.node)
        except RuntimeError as err:
            raise TrafficError(409, f"{err}; wait with h.wait_for_ready and try again") from None

    def _pod_at(self, endpoint: str, protocol: str) -> str:
        """The pod that answered at ``endpoint`` (ip:port): the one listening there."""
        ip, _, port = endpoint.rpartition(":")
        node, pods = self._host(ip)
        for pod in pods:
            meta = pod["metadata"]
            if node and self.cluster.kubelets[node].listener(meta["namespace"], meta["name"], int(port), protocol):
                return meta["name"]
        return pods[0]["metadata"]["name"] if pods else ""

    def _sport(self) -> int:
        return self.rng.randint(*EPHEMERAL)

    def _latency_ms(self, outcome: str, timeout: float, same_node: bool) -> float:
        """A modelled round trip: a timeout waits the client's whole timeout; otherwise a fraction of a
        millisecond, more across nodes, more when a process answers than for an RST."""
        if outcome == "timeout":
            return timeout * 1000.0
        base = self.rng.uniform(0.15, 0.4) if same_node else self.rng.uniform(0.3, 0.8)
        return round(base if outcome != "ok" else base + self.rng.uniform(0.1, 0.5), 3)

    def request(self, namespace: str, service: str, *, port=None, client: str, timeout: float = 1.0,
                path: str = "/hostname") -> dict:
        """One request on a new connection from ``client`` to the Service; a row for ``h.requests``."""
        svc, sp = self._service_port(namespace, service, port)
        who = self._client(namespace, client)
        protocol = sp.get("protocol", "TCP")
        cluster_ip = self._cluster_ip(svc)
        dst = f"{cluster_ip}:{sp['port']}"
        now = self.cluster.clock.time()
        kernel = self.cluster.kernel
        if kernel is not None:  # real packets from the client's namespace (helpers/sim/kernel)
            outcome, endpoint, latency, _ = kernel.request(self._namespace(who), who.node, who.ip, cluster_ip, sp["port"],
                                                        protocol, timeout=timeout, path=path)
            return {"t": now, "client": who.name, "pod": self._pod_at(endpoint, protocol) if outcome == "ok" else "",
                    "endpoint": endpoint, "outcome": outcome, "latency_ms": latency}
        chosen = self._pick(who.node, who, svc, dst, protocol.lower())
        sport = self._sport()
        endpoint, pod, masq, node = "", "", False, who.node
        if chosen is None or chosen.target == "DROP" or ":" not in chosen.target:
            outcome = "refused" if chosen is not None and chosen.target == "REJECT" else "timeout"
        else:
            endpoint, masq = chosen.target, chosen.masquerade
            outcome, pod, node = self._deliver(endpoint, protocol, who.ip, path if protocol == "TCP" else "hostname")
        latency = self._latency_ms(outcome, timeout, node == who.node)
        if endpoint:
            self._track(who, sport, protocol, cluster_ip, sp["port"], endpoint, masq, outcome, now)
        return {"t": now, "client": who.name, "pod": pod if outcome == "ok" else "", "endpoint": endpoint,
                "outcome": outcome, "latency_ms": latency}

    def dial(self, namespace: str, client: str, ip: str, port: int, *, protocol: str = "TCP",
             path: str = "/hostname") -> tuple[str, str, str]:
        """A new connection from pod ``client`` to ``ip:port`` (a Service's ClusterIP, a pod's IP, a node's,
        or loopback): the client node's rules when a Service matches, routed as is otherwise.
        Returns (outcome, reply, answering pod)."""
        who = self._client(namespace, client)
        if self.cluster.kernel is not None:  # a real connection from the pod's namespace (loopback is its own)
            loopback = ipaddress.ip_address(ip).is_loopback
            outcome, endpoint, _, reply = self.cluster.kernel.request(
                self._namespace(who), who.node, "127.0.0.1" if loopback else who.ip, ip, port, protocol,
                timeout=DIAL_TIMEOUT_S, path=path)
            if outcome != "ok":
                return outcome, "", ""
            return outcome, reply, who.name if loopback else self._pod_at(endpoint or f"{ip}:{port}", protocol)
        if ipaddress.ip_address(ip).is_loopback:  # the pod's own network namespace
            ip = who.ip
        svc = next((s for s in self.cluster.informer.items("services")
                    if s["spec"].get("clusterIP") == ip), {"spec": {}})
        chosen = self._pick(who.node, who, svc, f"{ip}:{port}", protocol.lower())
        if chosen is not None and chosen.target in ("DROP", "REJECT"):
            return ("refused" if chosen.target == "REJECT" else "timeout"), "", ""
        target = chosen.target if chosen is not None and ":" in chosen.target else f"{ip}:{port}"
        if svc["spec"] and target == f"{ip}:{port}":
            return "timeout", "", ""  # a ClusterIP no rule DNATs: nothing owns that address
        outcome, reply, _ = self._deliver(target, protocol, who.ip, path)
        if outcome != "ok":
            return outcome, "", ""
        _, pods = self._host(target.rpartition(":")[0])
        return outcome, reply, next((p["metadata"]["name"] for p in pods), "")

    def _track(self, who: Client, sport: int, protocol: str, dst: str, dport: int, endpoint: str, masq: bool,
               outcome: str, now: float, *, held: bool = False) -> tuple:
        ep_ip, _, ep_port = endpoint.rpartition(":")
        node_ip = internal_ip(self.cluster.store.get("nodes", who.node)) or who.ip
        replied = outcome == "ok"
        if protocol == "TCP":
            state = ("ESTABLISHED" if held else "TIME_WAIT") if outcome == "ok" else "CLOSE"
            expires = TCP_ESTABLISHED_S if state == "ESTABLISHED" else TCP_TIME_WAIT_S if replied else 10.0
        else:
            state, expires = "", UDP_S
        entry = Entry(protocol, who.ip, sport, dst, dport, ep_ip, int(ep_port), node_ip if masq else who.ip, state,
                      now + expires, assured=replied and protocol == "TCP", replied=replied)
        key = (protocol, who.ip, sport, dst, dport)
        table = self.conntrack[who.node]
        table[key] = entry
        if len(table) > PURGE_AT:  # the kernel's garbage collector drops expired entries as it goes
            self._purge(who.node, now)
        return key

    @staticmethod
    def _cluster_ip(svc: dict) -> str:
        cluster_ip = svc["spec"].get("clusterIP")
        if not cluster_ip or cluster_ip == "None":
            meta = svc["metadata"]
            raise TrafficError(400, f"Service {meta['namespace']}/{meta['name']} is headless: kube-proxy has no "
                                    "rules for it; send requests to a Service with a ClusterIP")
        return cluster_ip

    # -- held connections -------------------------------------------------------------------------
    def open(self, namespace: str, service: str, *, port=None, client: str, timeout: float = 1.0) -> dict:
        """Open a connection and keep it: later sends reuse its conntrack entry (its DNAT'ed endpoint)."""
        svc, sp = self._service_port(namespace, service, port)
        who = self._client(namespace, client)
        protocol = sp.get("protocol", "TCP")
        cluster_ip = self._cluster_ip(svc)
        now = self.cluster.clock.time()
        kernel = self.cluster.kernel
        if kernel is not None:
            conn = self._next_id
            outcome, endpoint = kernel.open(conn, self._namespace(who), who.node, who.ip, cluster_ip, sp["port"],
                                            protocol, timeout=timeout)
            if not endpoint:
                return {"id": None, "t": now, "outcome": outcome, "endpoint": "", "pod": ""}
            self._next_id += 1
            self.held[conn] = (who.node, None, namespace, service, sp["port"], client)
            return {"id": conn, "t": now, "outcome": outcome, "endpoint": endpoint,
                    "pod": self._pod_at(endpoint, protocol) if outcome == "ok" else ""}
        chosen = self._pick(who.node, who, svc, f"{cluster_ip}:{sp['port']}", protocol.lower())
        if chosen is None or ":" not in chosen.target:
            outcome = "refused" if chosen is not None and chosen.target == "REJECT" else "timeout"
            return {"id": None, "t": now, "outcome": outcome, "endpoint": "", "pod": ""}
        outcome, pod, _ = self._deliver(chosen.target, protocol, who.ip, "hostname")
        sport = self._sport()
        key = self._track(who, sport, protocol, cluster_ip, sp["port"], chosen.target,
                          chosen.masquerade, outcome, now, held=True)
        conn = self._next_id
        self._next_id += 1
        self.held[conn] = (who.node, key, namespace, service, sp["port"], client)
        return {"id": conn, "t": now, "outcome": outcome, "endpoint": chosen.target, "pod": pod}

    def send(self, conn: int) -> dict:
        """One more request on held connection ``conn``: it goes where its conntrack entry says."""
        if conn not in self.held:
            raise TrafficError(404, f"there is no open connection {conn}; open one first")
        node, key, namespace, service, port, client = self.held[conn]
        now = self.cluster.clock.time()
        sent = self.cluster.kernel.send(conn) if self.cluster.kernel is not None else None
        if sent is not None:
            outcome, endpoint, protocol = sent
            return {"id": conn, "t": now, "outcome": outcome, "endpoint": endpoint,
                    "pod": self._pod_at(endpoint, protocol) if outcome == "ok" else ""}
        entry = self.conntrack[node].get(key)
        if entry is None or entry.expires < now:  # deleted (stale UDP clean-up) or expired: a new flow
            protocol, src, sport = key[0], key[1], key[2]
            who = Client(client, src, node)
            svc, _ = self._service_port(namespace, service, port)
            chosen = self._pick(node, who, svc, f"{key[3]}:{key[4]}", protocol.lower())
            if chosen is None or ":" not in chosen.target:  # REJECT answers (port unreachable); DROP does not
                outcome = "refused" if chosen is not None and chosen.target == "REJECT" else "timeout"
                return {"id": conn, "t": now, "outcome": outcome, "endpoint": "", "pod": ""}
            outcome, pod, _ = self._deliver(chosen.target, protocol, src, "hostname")
            self._track(who, sport, protocol, key[3], key[4], chosen.target, chosen.masquerade, outcome, now,
                        held=True)
            return {"id": conn, "t": now, "outcome": outcome, "endpoint": chosen.target, "pod": pod}
        endpoint = f"{entry.reply_src}:{entry.reply_sport}"
        outcome, pod, _ = self._deliver(endpoint, entry.protocol, entry.src, "hostname")
        if outcome == "refused":  # the process under an established flow is gone: RST / port unreachable
            outcome = "reset" if entry.protocol == "TCP" else "refused"
        if outcome == "ok":
            entry.replied = True
            entry.expires = now + (TCP_ESTABLISHED_S if entry.protocol == "TCP" else UDP_STREAM_S)
            entry.assured = True
        return {"id": conn, "t": now, "outcome": outcome, "endpoint": endpoint, "pod": pod}

    # -- kube-proxy's conntrack reconciler ------------------------------------------------------------
    def clean_stale_udp(self, node: str, state) -> int:
        """``CleanStaleEntries`` after a sync of ``node``'s kube-proxy: delete UDP entries to a Service
        IP:port (or NodePort) whose reply source is not one of its serving endpoints. A Service without
        serving endpoints loses every entry to its IPs, and keeps its NodePort ones (v1.37.0 matches a
        NodePort on the port alone, so it leaves them to flows it may not own)."""
        by_frontend: dict[tuple[str, int], set[str]] = {}
        by_node_port: dict[int, set[str]] = {}
        for port_state in state.ports:
            sp = port_state.service_port
            if sp.protocol != "UDP":
                continue
            serving = {f"{e.ip}:{e.port}" for e in port_state.endpoints if e.serving}
            for ip in (sp.cluster_ip, *sp.load_balancer_vips, *sp.external_ips):
                by_frontend[(ip, sp.port)] = serving
            if sp.node_port and serving:
                by_node_port[sp.node_port] = serving
        def stale(protocol: str, dst: str, dport: int, backend: str) -> bool:
            return protocol.upper() == "UDP" and any(
                wanted is not None and backend not in wanted
                for wanted in (by_frontend.get((dst, dport)), by_node_port.get(dport)))

        if self.cluster.kernel is not None:  # `conntrack -D` of those flows in the node's namespace
            rows = [r for r in self.cluster.kernel.table(node)
                    if stale(r["protocol"], r["dst"], r["dport"], f"{r['reply_src']}:{r['reply_sport']}")]
            self.cluster.kernel.delete_entries(node, rows)
            return len(rows)
        table = self.conntrack.get(node, {})
        keys = [key for key, e in table.items() if stale(e.protocol, e.dst, e.dport, f"{e.reply_src}:{e.reply_sport}")]
        for key in keys:
            del table[key]
        return len(keys)

    def table(self, node: str) -> list[dict]:
        """The node's conntrack entries (expired ones dropped first), like ``conntrack -L``."""
        if node not in self.conntrack:
            raise TrafficError(404, f"there is no node {node!r}; list them with h.nodes_table()")
        if self.cluster.kernel is not None:
            return self.cluster.kernel.table(node)
        now = self.cluster.clock.time()
        self._purge(node, now)
        return [e.row(now) for e in self.conntrack[node].values()]

    def _purge(self, node: str, now: float) -> None:
        table = self.conntrack[node]
        for key in [k for k, e in table.items() if e.expires < now]:
            del table[key]
