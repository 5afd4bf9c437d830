"""The simulator's kernel data plane (``ENDPOINTS_SIM_DATAPLANE=kernel``): real netfilter, real packets.

Opt-in, where the machine allows it (Linux, root, the tools below). The cluster's network is built
as namespaces (:mod:`helpers.sim.kernel.topology`); every sync of a simulated kube-proxy is loaded
into its node's namespace with the real ``iptables-restore`` / ``nft -f``; the modelled images'
listeners run as real sockets in their pods' namespaces (:mod:`helpers.sim.kernel.listeners`).
``h.requests`` then sends real packets from the client's namespace, ``h.conntrack`` reads the
node's conntrack table and ``h.node_rules`` what ``iptables-save`` / ``nft list ruleset`` print there.
The model decides everything else (which pods run, which listen, what kube-proxy writes); this
module only does the I/O, and :mod:`helpers.sim.traffic` keeps one code path for both data planes.

What is written to the kernel per sync:

* iptables: before a node's first sync, the nfacct objects (when the kernel has nfacct) and the
  setup calls kube-proxy makes (``EnsureChain``/``EnsureRule``: canary chains, jumps from built-in
  chains); then each sync's ``iptables-restore --noflush`` input, partial syncs included -- the
  same text the model's sync wrote.
* nftables: the sync's whole table in one ``nft -f`` transaction that deletes and re-adds it. The
  model's partial nft transaction lacks the ``flush chain`` after each ``add chain`` that upstream's
  ``ensureChain`` writes (pkg/proxy/nftables/proxier.go, v1.37.0), so it cannot be applied over a
  table; the full one can. Affinity sets restart empty at each sync that way.

Never the host: every namespace is ``ep-sim-<pid>-<token>-<label>``, removed by :meth:`stop` (also
at exit), and by the next start after a ``kill -9`` (:func:`helpers.sim.kernel.netns.remove_stale`).
"""

from __future__ import annotations

import atexit
import subprocess
import threading
import time

from helpers.controlplane.podutil import internal_ip
from helpers.dataplane import conntrack
from helpers.sim.boot import NODE_NETWORK
from helpers.sim.kernel import client
from helpers.sim.kernel.ctevents import FlowLog
from helpers.sim.kernel.listeners import Listener
from helpers.sim.kernel.netns import remove_stale, unavailable_reason
from helpers.sim.kernel.topology import PREFIX, NodeNet, Topology

TOOLS = ("ip", "sysctl", "iptables-restore", "iptables-save", "nft", "conntrack")
DATAPLANES = ("model", "kernel")
PROBE_COUNTER = "ep_sim_probe"


class KernelError(RuntimeError):
    """A kernel tool refused something (the message has its stderr)."""


def _check(proc: subprocess.CompletedProcess, what: str) -> str:
    if proc.returncode != 0:
        raise KernelError(f"{what} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc.stdout


class KernelDataplane:
    """One simulator's namespaces, rules, listeners and held connections."""

    def __init__(self, cluster):
        self.cluster = cluster
        nodes = []
        for index, name in enumerate(cluster.kubelets):
            node = cluster.store.get("nodes", name)
            nodes.append(NodeNet(name, index, internal_ip(node), NODE_NETWORK, node["spec"]["podCIDR"]))
        self.topology = Topology(nodes)
        self.listeners: dict[tuple[str, int, str], Listener] = {}
        self.flow_logs: dict[str, FlowLog] = {}
        self.nfacct = False
        self._set_up: set[str] = set()  # nodes whose namespace has kube-proxy's setup calls
        self._up = {name: True for name in cluster.kubelets}
        self._held: dict[int, tuple] = {}  # id -> (socket, node, protocol, flow: src, sport, dst, dport)
        self._pending = False
        self._stopped = False
        self._lock = threading.Lock()
        self._unsubscribe = None
        self.start_seconds = 0.0

    # -- lifecycle --------------------------------------------------------------------------------
    def start(self) -> None:
        started = time.monotonic()
        remove_stale(PREFIX)
        atexit.register(self.stop)
        try:
            self.topology.build()
            self.flow_logs = {name: FlowLog(ns) for name, ns in self.topology.nodes.items()}
            self.nfacct = self._nfacct_supported()
            self.reconcile()
        except BaseException:
            self.stop()
            raise
        self._unsubscribe = self.cluster.store.subscribe(self._on_commit, resources=("pods",), wants_old=False)
        self.start_seconds = time.monotonic() - started

    def stop(self) -> None:
        """Close every socket, remove every namespace (and with them every veth and rule)."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        if self._unsubscribe:
            self._unsubscribe()
        for held in self._held.values():
            held[0].close()
        self._held.clear()
        for listener in self.listeners.values():
            listener.close()
        self.listeners.clear()
        for log in self.flow_logs.values():
            log.close()
        self.topology.remove()
        atexit.unregister(self.stop)

    def namespaces(self) -> list[str]:
        return [ns.name for ns in self.topology.namespaces()]

    def _nfacct_supported(self) -> bool:
        """Like kube-proxy's ``nfacct.Ensure`` probe: can this kernel make an accounting object?"""
        ns = next(iter(self.topology.nodes.values()))
        try:
            made = ns.spawn(["nfacct", "add", PROBE_COUNTER])
        except FileNotFoundError:
            return False
        if made.returncode != 0:
            return False
        ns.spawn(["nfacct", "del", PROBE_COUNTER])
        return True

    # -- what runs where (on the reactor) -----------------------------------------------------------
    def _on_commit(self, _type, _resource, _obj, _old) -> None:
        with self._lock:
            if self._pending or self._stopped:
                return
            self._pending = True
        self.cluster.clock.call_soon(self.reconcile)

    def reconcile(self) -> None:
        """Make the namespaces and listening sockets match the model: a namespace per pod with an IP on a
        running node, a socket per listener of a running modelled process, a bridge port per node."""
        with self._lock:
            self._pending = False
            if self._stopped:
                return
        cluster, topology = self.cluster, self.topology
        for name, kubelet in cluster.kubelets.items():
            if kubelet.running != self._up[name]:
                topology.set_node_up(name, kubelet.running)
                self._up[name] = kubelet.running
        wanted = {}
        for pod in cluster.informer.items("pods"):
            status, spec = pod.get("status") or {}, pod["spec"]
            kubelet = cluster.kubelets.get(spec.get("nodeName"))
            if (kubelet is None or not kubelet.running or spec.get("hostNetwork") or not status.get("podIP")
                    or status.get("phase") in ("Succeeded", "Failed")):
                continue
            wanted[(pod["metadata"]["namespace"], pod["metadata"]["name"])] = (
                pod["metadata"]["uid"], spec["nodeName"], status["podIP"])
        for key, (_, ip, uid) in list(topology.pods.items()):
            if wanted.get(key, (None, None, None))[::2] != (uid, ip):
                self._close_listeners(topology.pods[key][0].name)
                topology.remove_pod(key)
        for key, (uid, node, ip) in wanted.items():
            if key not in topology.pods:
                topology.add_pod(key, uid, node, ip)
        self._reconcile_listeners()

    def _reconcile_listeners(self) -> None:
        cluster, topology = self.cluster, self.topology
        wanted = {}
        for name, kubelet in cluster.kubelets.items():
            if not kubelet.running:
                continue
            for key, processes in kubelet.processes.items():
                pod = cluster.informer.get("pods", key[1], key[0])
                if pod is None:
                    continue
                ns = topology.nodes[name] if pod["spec"].get("hostNetwork") else (topology.pods.get(key) or (None,))[0]
                address = (pod.get("status") or {}).get("podIP")
                if ns is None or not address:
                    continue
                for program in processes.values():
                    for listener in program.listeners if program is not None else ():
                        wanted.setdefault((ns.name, listener.port, listener.protocol), (ns, program, key[1], address))
        for key, listener in list(self.listeners.items()):
            if key not in wanted or wanted[key][1] is not listener.program:
                listener.close()
                del self.listeners[key]
        for key, (ns, program, hostname, address) in wanted.items():
            if key not in self.listeners:
                try:
                    self.listeners[key] = Listener(ns, key[1], key[2], program, hostname, cluster.clock.now, address)
                except OSError:
                    pass  # two hostNetwork processes on one node port: the second cannot bind, as on a node

    def _close_listeners(self, ns_name: str) -> None:
        for key in [k for k in self.listeners if k[0] == ns_name]:
            self.listeners.pop(key).close()

    # -- kube-proxy's writes and the node's tools -------------------------------------------------------
    def program(self, node: str, mode: str, ruleset, payload: str) -> None:
        """Load one sync of ``node``'s kube-proxy into its namespace (KernelError if the kernel refuses)."""
        ns = self.topology.nodes[node]
        if mode == "iptables":
            if node not in self._set_up:
                for counter in ruleset.nfacct_counters:
                    ns.spawn(["nfacct", "add", counter])  # already there after a restart: that is fine
                _check(ns.spawn(["iptables-restore", "--noflush"], input=ruleset.setup_payload()),
                       "iptables-restore (setup)")
                self._set_up.add(node)
            _check(ns.spawn(["iptables-restore", "--noflush"], input=payload), "iptables-restore")
            return
        text = "add table ip kube-proxy\ndelete table ip kube-proxy\n" + ruleset.nft_input()
        _check(ns.spawn(["nft", "-f", "-"], input=text), "nft -f")

    def rules(self, node: str, mode: str) -> str:
        """What ``iptables-save`` or ``nft list ruleset`` prints in the node's namespace."""
        ns = self.topology.nodes[node]
        argv = ["iptables-save"] if mode == "iptables" else ["nft", "list", "ruleset"]
        return _check(ns.spawn(argv), argv[0])

    def table(self, node: str) -> list[dict]:
        """``conntrack -L`` in the node's namespace, as rows."""
        return conntrack.parse(_check(self.topology.nodes[node].spawn(["conntrack", "-L"]), "conntrack -L"))

    def delete_entries(self, node: str, rows: list[dict]) -> None:
        ns = self.topology.nodes[node]
        for row in rows:
            ns.spawn(["conntrack", "-D", "-p", row["protocol"], "-s", row["src"], "-d", row["dst"],
                      "--sport", str(row["sport"]), "--dport", str(row["dport"])])

    # -- packets ----------------------------------------------------------------------------------------
    def client_namespace(self, namespace: str, client_name: str, node: str):
        if client_name.startswith("node/"):
            return self.topology.nodes[node]
        pod = self.topology.pods.get((namespace, client_name))
        if pod is None:
            raise KernelError(f"client pod {namespace}/{client_name} has no network namespace yet")
        return pod[0]

    def _endpoint(self, node: str, protocol: str, src: str, sport: int, dst: str, dport: int) -> str:
        """Where this flow went: the listener that accepted it from (src, sport) when its source was not
        rewritten, else the reply source of its conntrack entry as the node's kernel announced it
        (:mod:`helpers.sim.kernel.ctevents`); "" when nothing DNAT'ed it."""
        arrivals = [reached for listener in list(self.listeners.values())
                    if listener.protocol == protocol and (reached := listener.reached(src, sport)) is not None]
        if arrivals:
            return max(arrivals)[1]
        reply = self.flow_logs[node].reply(protocol, src, dst, sport, dport)
        if reply is None or (reply[1], reply[3]) == (dst, dport):
            return ""
        return f"{reply[1]}:{reply[3]}"

    def request(self, ns, node: str, src: str, dst: str, dport: int, protocol: str, *, timeout: float,
                path: str) -> tuple[str, str, float, str]:
        """One request on a new connection from ``ns``: (outcome, endpoint, latency in ms, reply body)."""
        self.reconcile()
        sock = client.new_socket(ns, protocol, timeout)
        started, sport, outcome, reply = time.monotonic(), client.local_port(sock), "ok", ""
        try:
            client.connect(sock, dst, dport)
            if protocol == "TCP":
                reply = client.http_get(sock, dst, path, keep_alive=False)
            else:
                reply = client.udp_exchange(sock, path.lstrip("/") or "hostname")
        except client.Failed as failed:
            outcome = failed.outcome
        finally:
            sock.close()
        # a timeout is the client's whole timeout (what curl --max-time waits), as the model reports it
        latency = timeout * 1000.0 if outcome == "timeout" else round((time.monotonic() - started) * 1000.0, 3)
        return outcome, self._endpoint(node, protocol, src, sport, dst, dport), latency, reply

    def open(self, conn: int, ns, node: str, src: str, dst: str, dport: int, protocol: str, *,
             timeout: float) -> tuple[str, str]:
        """A connection held open as ``conn``, with a first request on it: (outcome, endpoint)."""
        self.reconcile()
        sock = client.new_socket(ns, protocol, timeout)
        sport = client.local_port(sock)
        try:
            client.connect(sock, dst, dport)
        except client.Failed as failed:
            sock.close()
            return failed.outcome, ""
        outcome = self._exchange(sock, protocol, dst)
        self._held[conn] = (sock, node, protocol, (src, sport, dst, dport))
        return outcome, self._endpoint(node, protocol, src, sport, dst, dport)

    def send(self, conn: int) -> tuple[str, str, str] | None:
        """One more request on held connection ``conn``: (outcome, endpoint, protocol); None if not ours."""
        if conn not in self._held:
            return None
        self.reconcile()
        sock, node, protocol, flow = self._held[conn]
        outcome = self._exchange(sock, protocol, flow[2])
        return outcome, self._endpoint(node, protocol, *flow), protocol

    @staticmethod
    def _exchange(sock, protocol: str, host: str) -> str:
        try:
            if protocol == "TCP":
                client.http_get(sock, host, "/hostname", keep_alive=True)
            else:
                client.udp_exchange(sock, "hostname")
        except client.Failed as failed:
            return failed.outcome
        return "ok"


def open_dataplane(cluster, requested: str) -> tuple[KernelDataplane | None, dict]:
    """The data plane a Cluster runs: (the kernel one or None, what /sim/info and the banner say)."""
    if requested not in DATAPLANES:
        raise ValueError(f"the data plane must be one of {', '.join(DATAPLANES)}, not {requested!r}")
    if requested == "model":
        return None, {"requested": "model", "mode": "model", "note": ""}
    reason = unavailable_reason(TOOLS)
    if reason:
        return None, {"requested": "kernel", "mode": "model",
                      "note": f"kernel data plane unavailable ({reason}); traffic and rules are the model's"}
    kernel = KernelDataplane(cluster)
    try:
        kernel.start()
    except (OSError, subprocess.SubprocessError, KernelError) as err:
        detail = (getattr(err, "stderr", "") or str(err)).strip().splitlines()
        return None, {"requested": "kernel", "mode": "model",
                      "note": f"kernel data plane did not start ({detail[-1] if detail else err}); "
                              "traffic and rules are the model's"}
    return kernel, {"requested": "kernel", "mode": "kernel", "startSeconds": round(kernel.start_seconds, 3),
                    "note": f"kernel data plane: {len(kernel.topology.nodes)} node namespaces, real "
                            f"{cluster.config.kube_proxy_mode} rules, real packets and conntrack"}
