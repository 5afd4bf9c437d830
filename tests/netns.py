"""The real kube-proxy, one per simulated node, each in a network namespace of its own (issue 19).

Test support for ``tests/test_oracle_kubeproxy.py``: the upstream kube-proxy binary (built by
``make upstream`` into ``.state/upstream/<version>/bin/``, or found in ``$ENDPOINTS_UPSTREAM_BIN``) runs
as root inside a namespace that looks like a kind node to it -- loopback up, an ``eth0`` carrying the
node's InternalIP and a default route -- with a kubeconfig for the simulator, and programs that
namespace's netfilter. ``kernel_readback`` loads any rule text into a second, empty namespace and reads
it back, so the model's rules and kube-proxy's come out of the same kernel and the same tools.

Reaching the simulator from inside a namespace. The simulator listens on the host's 127.0.0.1, and a
fresh namespace has a loopback of its own. Joining the namespaces to the host (a veth pair, a route, a
NAT rule) would change the host's interfaces and rules, and running kube-proxy in the host namespace
would program the host. What is used instead: a socket belongs, for its whole life, to the network
namespace its creating thread was in. A short-lived thread joins the node's namespace with setns(2),
opens a listening socket on that namespace's 127.0.0.1 and leaves; this process accepts kube-proxy's
connections on it and forwards each one, from the host side, to the simulator's loopback port
(``Relay``). Nothing is added outside the node namespaces: no process, interface, route or rule.
``host_state`` is what a test compares before and after to show it.

Namespaces are named ``ep-kp-<pid>-<random>-<n>``: unique per run, and a later run removes those of
a run whose process is gone (``remove_stale``), with what still runs inside them.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from helpers.config import REPO_ROOT, load_cluster_config
from helpers.kube import LABEL_ZONE
from helpers.sim import kubeconfig_text
from helpers.sim.boot import kubernetes_version
from helpers.sim.kernel import netns as kernel_netns
from helpers.sim.kernel.host import host_state, without_comments, zero_counters
from helpers.sim.kernel.listeners import shut
from helpers.sim.kernel.netns import Unavailable, pid_alive

__all__ = ["host_state", "pid_alive"]

PREFIX = "ep-kp-"
TOOLS = ("ip", "iptables", "iptables-save", "iptables-restore", "ip6tables-save", "nft", "nfacct", "conntrack")
PR_SET_PDEATHSIG = 1
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 10.0

_libc = ctypes.CDLL(None, use_errno=True)


# -- the binary ---------------------------------------------------------------------------------------
def upstream_version() -> str:
    """The Kubernetes version the node image pins, which ``make upstream`` builds."""
    return kubernetes_version(load_cluster_config())


def upstream_bin_dir() -> Path:
    """``$ENDPOINTS_UPSTREAM_BIN`` (a directory of upstream binaries) or ``.state/upstream/<version>/bin``."""
    override = os.environ.get("ENDPOINTS_UPSTREAM_BIN")
    return Path(override) if override else REPO_ROOT / ".state" / "upstream" / upstream_version() / "bin"


def kube_proxy_binary() -> Path:
    """The kube-proxy binary; ``Unavailable`` saying how to get it when it is not there."""
    path = upstream_bin_dir() / "kube-proxy"
    if not os.access(path, os.X_OK):
        raise Unavailable(f"no kube-proxy binary at {path}: build it with `make upstream` "
                          f"(or point $ENDPOINTS_UPSTREAM_BIN at a directory holding one)")
    return path


def check_machine() -> None:
    """``Unavailable`` unless this is Linux, as root, with the netfilter tools and network namespaces."""
    reason = kernel_netns.unavailable_reason(TOOLS)
    if reason:
        raise Unavailable(reason)


def kube_proxy_unavailable() -> str:
    """Why a real kube-proxy cannot run in a namespace here, or "" when it can (for skipif)."""
    try:
        check_machine()
        kube_proxy_binary()
    except Unavailable as exc:
        return str(exc)
    return ""


# -- namespaces (helpers/sim/kernel/netns.py) ---------------------------------------------------------
def our_namespaces() -> list[str]:
    """Names of namespaces this harness made (any run) that still exist."""
    return kernel_netns.our_namespaces(PREFIX)


def remove_stale() -> list[str]:
    """Delete namespaces left by a run whose process is gone, and the processes still inside them."""
    return kernel_netns.remove_stale(PREFIX)


class Namespace(kernel_netns.Namespace):
    """One ``ep-kp-`` namespace of this harness."""

    @classmethod
    def create(cls, label: str) -> Namespace:
        return super().create(PREFIX, label)


# -- rules as the kernel prints them --------------------------------------------------------------
def read_rules(ns: Namespace, mode: str) -> str:
    """What ``iptables-save`` (IPv4) or ``nft list table ip kube-proxy`` prints in ``ns``, without
    iptables-save's dated header lines and with packet counters zeroed."""
    if mode == "iptables":
        return zero_counters(without_comments(ns.exec(["iptables-save"])))
    return zero_counters(ns.exec(["nft", "list", "table", "ip", "kube-proxy"], check=False))


def load_rules(ns: Namespace, mode: str, text: str) -> None:
    """``iptables-restore`` or ``nft -f -`` of ``text`` in ``ns``; CalledProcessError if the kernel refuses.

    ``-m nfacct`` matches need their accounting objects to exist: kube-proxy creates them before its
    first iptables-restore (pkg/proxy/iptables/proxier.go, ``proxier.nfacct.Ensure``), so this does too.
    """
    if mode == "iptables":
        for name in sorted(set(re.findall(r"--nfacct-name\s+(\S+)", text))):
            ns.exec(["nfacct", "add", name])
    ns.exec(["iptables-restore"] if mode == "iptables" else ["nft", "-f", "-"], input=text)


def kernel_readback(mode: str, text: str) -> str:
    """``text`` loaded into a fresh namespace and read back as ``read_rules`` reads a node."""
    ns = Namespace.create("readback")
    try:
        load_rules(ns, mode, text)
        return read_rules(ns, mode)
    finally:
        ns.delete()


# -- the relay ------------------------------------------------------------------------------------
class Relay:
    """Listens on 127.0.0.1:<port> inside ``ns`` and forwards each connection to ``target`` (a host
    loopback address), one pair of pump threads per connection."""

    def __init__(self, ns: Namespace, target: tuple[str, int]):
        self.target = target
        self._listener = ns.run_inside(self._listen)
        self.port = self._listener.getsockname()[1]
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._stopped = False
        self._thread = threading.Thread(target=self._accept, name=f"relay-{ns.name}", daemon=True)
        self._thread.start()

    @staticmethod
    def _listen() -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        return sock

    def _accept(self) -> None:
        while True:
            try:
                inner, _ = self._listener.accept()
            except OSError:
                return  # the listener was closed by stop()
            try:
                outer = socket.create_connection(self.target, timeout=10)
                outer.settimeout(None)
            except OSError:
                inner.close()
                continue
            with self._lock:
                if self._stopped:
                    inner.close()
                    outer.close()
                    return
                self._sockets.update((inner, outer))
            for src, dst in ((inner, outer), (outer, inner)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        finally:
            self._forget(src)

    def _forget(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.discard(sock)
        with contextlib.suppress(OSError):
            sock.close()

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            sockets, self._sockets = list(self._sockets), set()
        shut(self._listener, sockets)
        self._thread.join(STOP_TIMEOUT_S)


# -- kube-proxy -----------------------------------------------------------------------------------
def kube_proxy_config(mode: str, node: str, kubeconfig: str, cluster_cidr: str) -> str:
    """The KubeProxyConfiguration kind gives its nodes, adapted to a namespace of ours.

    kind's kubeadm template (kubernetes-sigs/kind pkg/cluster/internal/kubeadm/config.go) sets ``mode``,
    ``iptables.minSyncPeriod: 1s`` and ``conntrack.maxPerCore: 0`` (nf_conntrack_max is global to the
    machine); kubeadm adds ``clusterCIDR`` (the pod subnet) and the kubeconfig, and the DaemonSet passes
    ``--hostname-override``. Adapted here: the conntrack timeouts are 0s as in kind's rootless template,
    so kube-proxy writes no conntrack sysctl at all (none of them changes a rule); healthz and metrics
    listen on the namespace's own 127.0.0.1 (kube-proxy's default ports, private to the namespace).
    """
    config = {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1", "kind": "KubeProxyConfiguration",
        "mode": mode, "hostnameOverride": node, "clusterCIDR": cluster_cidr,
        "clientConnection": {"kubeconfig": kubeconfig},
        "healthzBindAddress": "127.0.0.1:10256", "metricsBindAddress": "127.0.0.1:10249",
        "iptables": {"minSyncPeriod": "1s"},
        "conntrack": {"maxPerCore": 0, "tcpEstablishedTimeout": "0s", "tcpCloseWaitTimeout": "0s"},
    }
    return json.dumps(config, indent=2) + "\n"  # JSON is YAML; kube-proxy reads either


@dataclass
class Sync:
    """One sync of the IPv4 proxier, from kube-proxy's log (epoch seconds)."""

    started: float
    full: bool
    ended: float | None = None
    failed: bool = False


def _die_with_parent() -> None:
    """In the child before exec: SIGKILL when the test process dies, so a crash leaves no kube-proxy."""
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


@dataclass
class KubeProxy:
    """A kube-proxy process in ``ns`` whose JSON log is read into ``syncs`` as it comes."""

    ns: Namespace
    mode: str
    process: subprocess.Popen
    log_path: Path
    syncs: list[Sync] = field(default_factory=list)
    lines: list[dict] = field(default_factory=list)
    # The node topology labels the IPv4 proxier last took (None before): it learns them from a
    # NodeTopologyConfig event after its informers start, so an early sync may not know its zone yet
    # (v1.36.1 cmd/kube-proxy/app/server.go NewNodeTopologyConfig; pkg/proxy/iptables/proxier.go and
    # pkg/proxy/nftables/proxier.go OnTopologyChange log "Updated proxier node topology labels" at V(4)).
    topology_labels: dict | None = None
    topology_updates: list[dict] = field(default_factory=list)  # every label set it took, in order
    # Whether its NodeTopologyConfig has its handler: cmd/kube-proxy/app/server.go (v1.37.0) registers it
    # right before `go nodeConfig.Run`, whose first line is "Starting node config controller".
    topology_handler_registered: bool = False
    changed: threading.Condition = field(default_factory=threading.Condition)

    @classmethod
    def start(cls, ns: Namespace, mode: str, config_path: Path, log_path: Path) -> KubeProxy:
        argv = ["ip", "netns", "exec", ns.name, str(kube_proxy_binary()), f"--config={config_path}",
                "--v=4", "--logging-format=json"]  # 4: OnTopologyChange's line (see topology_labels)
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.PIPE, text=True,
                                   preexec_fn=_die_with_parent)  # noqa: PLW1509 - only prctl(2), async-signal-safe
        proxy = cls(ns, mode, process, log_path)
        threading.Thread(target=proxy._read_log, name=f"log-{ns.name}", daemon=True).start()
        return proxy

    def _read_log(self) -> None:
        with open(self.log_path, "w") as log:
            for raw in self.process.stderr:
                log.write(raw)
                try:
                    line = json.loads(raw)
                except ValueError:
                    line = {"msg": raw.rstrip("\n")}
                with self.changed:
                    self._note(line)
                    self.changed.notify_all()
        with self.changed:
            self.changed.notify_all()

    def _note(self, line: dict) -> None:
        self.lines.append(line)
        if line.get("ipFamily") not in (None, "IPv4"):
            return
        msg, when = line.get("msg"), line.get("ts", 0) / 1000
        if msg in ("Syncing iptables rules", "Syncing nftables rules"):
            self.syncs.append(Sync(when, bool(line.get("fullSync"))))
        elif msg == "SyncProxyRules complete" and self.syncs and self.syncs[-1].ended is None:
            self.syncs[-1].ended = when
        elif msg == "Sync failed" and self.syncs:
            self.syncs[-1].failed = True
        elif msg == "Updated proxier node topology labels":
            self.topology_labels = line.get("labels") or {}
            self.topology_updates.append(self.topology_labels)
        elif msg == "Starting node config controller":
            self.topology_handler_registered = True

    def completed_syncs(self) -> int:
        with self.changed:
            return sum(s.ended is not None for s in self.syncs)

    def wait_for_rules(self, predicate, timeout: float) -> str:
        """The node's rules once ``predicate(rules)`` holds; they are read after each completed sync."""
        deadline = time.monotonic() + timeout
        seen = -1
        while True:
            with self.changed:
                while self.completed_syncs_locked() == seen and self.process.poll() is None:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0 or not self.changed.wait(remaining):
                        break
                seen = self.completed_syncs_locked()
            rules = read_rules(self.ns, self.mode)
            if predicate(rules):
                return rules
            if self.process.poll() is not None:
                raise AssertionError(f"kube-proxy in {self.ns.name} exited ({self.process.returncode}):\n"
                                     + self.tail())
            if time.monotonic() >= deadline:
                raise AssertionError(f"kube-proxy in {self.ns.name} did not program the expected rules "
                                     f"within {timeout:g}s; its last log lines:\n{self.tail()}")

    def wait_for_topology(self, labels: dict, timeout: float, relabel) -> None:
        """Until the proxier has taken ``labels`` as its node's topology labels.

        kube-proxy v1.37.0 can lose them at start: NewNodeTopologyConfig adds its handler to the already
        running Node informer, whose replay of the Node may run before RegisterEventHandler(proxier)
        (cmd/kube-proxy/app/server.go; pkg/proxy/config/config.go handleNodeEvent then records the labels
        with no handler to call, and skips every later event with the same labels). It happens under CPU
        load. So once the handler is registered without the labels having arrived, ``relabel()`` takes
        the zone label off the Node and puts it back, and this waits for the proxier to take none, then
        ``labels`` (a replay still in flight may come first; the last word is the restored label)."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while self.topology_labels != labels and not self.topology_handler_registered:
                self._wait_topology_locked(labels, timeout, deadline)
            if self.topology_labels == labels or not labels:  # no zone: it keeps the labels it started with
                return
            mark = len(self.topology_updates)
        relabel()
        with self.changed:
            while not self._relabelled_locked(mark, labels):
                self._wait_topology_locked(labels, timeout, deadline)

    def _relabelled_locked(self, mark: int, labels: dict) -> bool:
        updates = self.topology_updates[mark:]
        return {} in updates and updates[-1] == labels and updates.index({}) < len(updates) - 1

    def _wait_topology_locked(self, labels: dict, timeout: float, deadline: float) -> None:
        remaining = deadline - time.monotonic()
        if self.process.poll() is not None or remaining <= 0:
            nodes = "\n".join(json.dumps(line) for line in self.lines
                               if "Node" in json.dumps(line) or "opology" in json.dumps(line))
            raise AssertionError(f"kube-proxy in {self.ns.name} did not take the topology labels {labels} "
                                 f"within {timeout:g}s (it has {self.topology_labels}); its Node and "
                                 f"topology log lines:\n{nodes}\nits last log lines:\n{self._tail_locked()}")
        self.changed.wait(remaining)

    def completed_syncs_locked(self) -> int:
        return sum(s.ended is not None for s in self.syncs)

    def tail(self, lines: int = 15) -> str:
        with self.changed:
            return self._tail_locked(lines)

    def _tail_locked(self, lines: int = 15) -> str:
        return "\n".join(json.dumps(line) for line in self.lines[-lines:])

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(STOP_TIMEOUT_S)


@dataclass
class KernelNode:
    """One simulated node's namespace, relay and kube-proxy."""

    name: str
    ip: str
    ns: Namespace
    relay: Relay
    proxy: KubeProxy


def _node_ip(node: dict) -> str:
    return next(a["address"] for a in node["status"]["addresses"] if a["type"] == "InternalIP")


class KernelNodes:
    """A namespace and a real kube-proxy for each node of a running simulator (``SimHandle``).

    ``KernelNodes(sim, mode)`` starts them all; ``.nodes[name]``; ``.stop()`` (or leaving the ``with``
    block) removes every namespace, process and file it made, also after a failure half-way.
    """

    def __init__(self, sim, mode: str):
        kube_proxy_binary()
        self.mode = mode
        self.nodes: dict[str, KernelNode] = {}
        self.tmp = Path(tempfile.mkdtemp(prefix="ep-kp-"))
        self._sim = sim
        self._namespaces: list[Namespace] = []
        self._relays: list[Relay] = []
        self._proxies: list[KubeProxy] = []
        host, port = sim.url.removeprefix("http://").rsplit(":", 1)
        try:
            remove_stale()
            items, _ = sim.cluster.store.list("nodes")
            for index, node in enumerate(sorted(items, key=lambda n: n["metadata"]["name"])):
                self._start_node(node, index, (host, int(port)), sim.cluster.config.pod_subnet)
        except BaseException:
            self.stop()
            raise

    def _start_node(self, node: dict, index: int, target: tuple[str, int], pod_subnet: str) -> None:
        name, ip = node["metadata"]["name"], _node_ip(node)
        ns = Namespace.create(str(index))
        self._namespaces.append(ns)
        # A kind node's eth0: the node IP on the Docker network, and the default route through its gateway.
        # Both ends of the veth pair stay inside the namespace (this kernel has no dummy links); the peer
        # only gives eth0 a carrier.
        gateway = re.sub(r"\.\d+$", ".1", ip)
        ns.exec(["ip", "link", "add", "eth0", "type", "veth", "peer", "name", "gw0"])
        ns.exec(["ip", "addr", "add", f"{ip}/16", "dev", "eth0"])
        ns.exec(["ip", "link", "set", "gw0", "up"])
        ns.exec(["ip", "link", "set", "eth0", "up"])
        ns.exec(["ip", "route", "add", "default", "via", gateway, "dev", "eth0"])
        relay = Relay(ns, target)
        self._relays.append(relay)
        kubeconfig = self.tmp / f"{name}.kubeconfig"
        kubeconfig.write_text(kubeconfig_text(f"http://127.0.0.1:{relay.port}"))
        config = self.tmp / f"{name}.config.json"
        config.write_text(kube_proxy_config(self.mode, name, str(kubeconfig), pod_subnet))
        proxy = KubeProxy.start(ns, self.mode, config, self.tmp / f"{name}.log")
        self._proxies.append(proxy)
        self.nodes[name] = KernelNode(name, ip, ns, relay, proxy)

    def wait_started(self, timeout: float = START_TIMEOUT_S) -> None:
        """Until every kube-proxy has finished its first sync and taken its node's zone label (which may
        come after that sync: then the next, full, sync uses it).

        kube-proxy can miss its node's labels for good: v1.37.0 cmd/kube-proxy/app/server.go adds
        NodeTopologyConfig's handler to the node informer, already synced, one statement before it
        registers the proxier with it, and the informer replays the node from another goroutine. When
        the replay wins (seen under CPU load), pkg/proxy/config NodeTopologyConfig.handleNodeEvent
        records the labels with no handler to call, and later events with the same labels are skipped.
        A proxier still without labels after a short wait gets a relabel of its node (zone off, then
        back), which reaches it as two changes; the final labels are the node's own."""
        for name, node in self.nodes.items():
            node.proxy.wait_for_rules(lambda _rules, p=node.proxy: p.completed_syncs() > 0, timeout)
            labels = self._sim.cluster.store.get("nodes", name)["metadata"].get("labels") or {}
            node.proxy.wait_for_topology({k: v for k, v in labels.items() if k == LABEL_ZONE}, timeout,
                                         lambda name=name: self._relabel_zone(name))

    def _relabel_zone(self, name: str) -> None:
        """Take the Node's zone label off and put it back (see KubeProxy.wait_for_topology)."""
        store = self._sim.cluster.store
        node = store.get("nodes", name)
        zone = node["metadata"]["labels"].pop(LABEL_ZONE)
        node = store.update("nodes", node)
        node["metadata"]["labels"][LABEL_ZONE] = zone
        store.update("nodes", node)

    def stop(self) -> None:
        for proxy in self._proxies:
            proxy.stop()
        for relay in self._relays:
            relay.stop()
        for ns in self._namespaces:
            ns.delete()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

