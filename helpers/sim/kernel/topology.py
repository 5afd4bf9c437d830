"""The simulated cluster's network as namespaces: what kind's Docker network and kindnet build.

* The **bridge** namespace holds ``br0`` with the Docker network's gateway address (172.18.0.1/16,
  as Docker gives its bridge) -- like ``docker network create kind``, but in a namespace of its own,
  never the host's; it forwards nothing, so no packet leaves the namespaces made here.
* Each **node** namespace has ``eth0`` (a veth whose peer is a port of ``br0``) with the node's
  InternalIP and a default route via the gateway, as a kind node container has; forwarding on; and a
  route to every other node's podCIDR via that node's InternalIP, which kindnetd programs
  (kubernetes-sigs/kind ``images/kindnetd``: ``routes.go`` syncRoute, ``cni.go`` writes a ``ptp``
  conflist with host-local IPAM on the node's podCIDR).
* Each **pod** namespace gets what the ``ptp`` CNI plugin makes (containernetworking/plugins
  ``plugins/main/ptp``): ``eth0`` with the pod IP, a link route to the gateway (the podCIDR's first
  address) and the default route through it; the node side ``veth<8 hex>`` carries the gateway
  address as a /32 and a /32 route to the pod.

The ``*_commands`` functions are pure: lists of ``ip -batch`` lines, run by :class:`Topology`.
"""

from __future__ import annotations

import hashlib
import ipaddress
import secrets
import subprocess
import time
from dataclasses import dataclass

from helpers.sim.kernel.netns import Namespace, run

PREFIX = "ep-sim-"
BRIDGE = "br0"
LINK_UP_TIMEOUT_S = 5.0
LINK_POLL_S = 0.01


@dataclass(frozen=True)
class NodeNet:
    name: str
    index: int
    ip: str
    network: str  # the Docker network, e.g. 172.18.0.0/16
    pod_cidr: str

    @property
    def gateway(self) -> str:
        """The Docker network's gateway (its first address)."""
        return str(ipaddress.ip_network(self.network).network_address + 1)

    @property
    def pod_gateway(self) -> str:
        """The node side of every pod's veth: the podCIDR's first address (host-local's default gateway)."""
        return str(ipaddress.ip_network(self.pod_cidr).network_address + 1)

    @property
    def port(self) -> str:
        """The node's port on the bridge (in the bridge namespace)."""
        return f"n{self.index}"


def bridge_commands(network: str) -> list[str]:
    net = ipaddress.ip_network(network)
    return [f"link add {BRIDGE} type bridge", f"addr add {net.network_address + 1}/{net.prefixlen} dev {BRIDGE}",
            f"link set {BRIDGE} up"]


def node_commands(node: NodeNet, others: list[NodeNet], bridge_ns: str) -> list[str]:
    """In the node's namespace: eth0 on the bridge, the default route, kindnet's podCIDR routes."""
    prefix = ipaddress.ip_network(node.network).prefixlen
    return [f"link add eth0 type veth peer name {node.port} netns {bridge_ns}",
            f"addr add {node.ip}/{prefix} dev eth0", "link set eth0 up",
            f"route add default via {node.gateway} dev eth0",
            *(f"route add {o.pod_cidr} via {o.ip} dev eth0" for o in others if o.name != node.name)]


def port_commands(node: NodeNet, up: bool = True) -> list[str]:
    """In the bridge namespace: the node's port joins br0, up (a running node) or down (a stopped one)."""
    return [f"link set {node.port} master {BRIDGE}", f"link set {node.port} {'up' if up else 'down'}"]


def host_veth(pod_uid: str) -> str:
    return "veth" + hashlib.sha256(pod_uid.encode()).hexdigest()[:8]


def pod_node_commands(node: NodeNet, pod_ip: str, veth: str, pod_ns: str) -> list[str]:
    """In the node's namespace: the veth pair into the pod, the gateway /32 on it, the /32 route to the pod."""
    return [f"link add {veth} type veth peer name eth0 netns {pod_ns}",
            f"addr add {node.pod_gateway}/32 dev {veth}", f"link set {veth} up",
            f"route add {pod_ip}/32 dev {veth} scope host"]


def pod_commands(node: NodeNet, pod_ip: str) -> list[str]:
    """In the pod's namespace: eth0 with the pod IP, the gateway on-link, the default route through it."""
    prefix = ipaddress.ip_network(node.pod_cidr).prefixlen
    return [f"addr add {pod_ip}/{prefix} dev eth0", "link set eth0 up",
            f"route del {ipaddress.ip_network(node.pod_cidr)} dev eth0",
            f"route add {node.pod_gateway} dev eth0 scope link",
            f"route add default via {node.pod_gateway} dev eth0"]


def wait_link_up(links: list[tuple[Namespace, str]]) -> None:
    """Until each (namespace, link) is operationally up. A veth sends nothing until the kernel's linkwatch
    work has seen its carrier (and activated its queue), up to a second after ``link set up``: a first
    SYN sent before that is dropped, and the request would time out."""
    deadline = time.monotonic() + LINK_UP_TIMEOUT_S
    for ns, link in links:
        while "state UP" not in run(["ip", "-n", ns.name, "-o", "link", "show", "dev", link]):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{link} in {ns.name} did not come up within {LINK_UP_TIMEOUT_S:g}s")
            time.sleep(LINK_POLL_S)  # linkwatch runs within a second; there is no event to wait on here


class Topology:
    """The namespaces of one simulator's network: ``.bridge``, ``.nodes[name]``, ``.pods[key]``.

    Everything made is recorded as it is made, so :meth:`remove` after a failure half-way removes it."""

    def __init__(self, nodes: list[NodeNet]):
        self.token = secrets.token_hex(3)
        self.specs = {n.name: n for n in nodes}
        self.bridge: Namespace | None = None
        self.nodes: dict[str, Namespace] = {}
        self.pods: dict[tuple[str, str], tuple[Namespace, str, str]] = {}  # key -> (ns, pod IP, uid)
        self._count = 0

    def _namespace(self, label: str) -> Namespace:
        return Namespace.create(PREFIX, label, token=self.token)

    def build(self) -> None:
        specs = list(self.specs.values())
        self.bridge = self._namespace("br")
        self.bridge.ip_batch(bridge_commands(specs[0].network))
        for spec in specs:
            ns = self._namespace(f"n{spec.index}")
            self.nodes[spec.name] = ns
            ns.ip_batch(node_commands(spec, specs, self.bridge.name))
            ns.exec(["sysctl", "-qw", "net.ipv4.ip_forward=1"])  # a kind node forwards (its pods' traffic)
            self.bridge.ip_batch(port_commands(spec))
        wait_link_up([(ns, "eth0") for ns in self.nodes.values()])

    def set_node_up(self, node: str, up: bool) -> None:
        """A stopped node's address has no owner on the network any more (``docker stop``)."""
        self.bridge.ip_batch([port_commands(self.specs[node], up)[1]])

    def add_pod(self, key: tuple[str, str], uid: str, node: str, pod_ip: str) -> Namespace:
        spec = self.specs[node]
        self._count += 1
        ns = self._namespace(f"p{self._count}")
        self.pods[key] = (ns, pod_ip, uid)
        self.nodes[node].ip_batch(pod_node_commands(spec, pod_ip, host_veth(uid), ns.name))
        ns.ip_batch(pod_commands(spec, pod_ip))
        wait_link_up([(ns, "eth0"), (self.nodes[node], host_veth(uid))])
        return ns

    def remove_pod(self, key: tuple[str, str]) -> None:
        """Delete the pod's namespace; its veth pair goes with it (the node side too)."""
        ns, _, _ = self.pods.pop(key)
        ns.delete()

    def namespaces(self) -> list[Namespace]:
        return [*(ns for ns, _, _ in self.pods.values()), *self.nodes.values(), *([self.bridge] if self.bridge else [])]

    def remove(self) -> None:
        for ns in self.namespaces():
            try:
                ns.delete()
            except subprocess.SubprocessError:
                pass
        self.pods.clear()
        self.nodes.clear()
        self.bridge = None
