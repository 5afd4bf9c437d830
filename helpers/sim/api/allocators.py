"""Service cluster-IP and node-port allocation (upstream's ipallocator / portallocator, simplified).

Pure functions over the set of values in use; the store passes that set and its random generator.
Like upstream, dynamic allocation prefers the upper part of the range, leaving a low "static band"
for addresses users pick by hand (KEP-3070), e.g. kube-dns's 10.96.0.10.
"""

import ipaddress
import random

from .errors import ApiError, invalid
from .validation import invalid_value


def _static_band(size: int, lo: int, hi: int) -> int:
    return min(max(lo, size // 16), hi)


def _pick(size: int, band: int, used_offsets: set, rng: random.Random) -> int | None:
    for lo, hi in ((band, size), (0, band)):
        free = hi - lo - len([u for u in used_offsets if lo <= u < hi])
        if free <= 0:
            continue
        for _ in range(32):  # random probing, then an exhaustive scan when the band is crowded
            candidate = rng.randrange(lo, hi)
            if candidate not in used_offsets:
                return candidate
        for candidate in range(lo, hi):
            if candidate not in used_offsets:
                return candidate
    return None


def allocate_cluster_ip(cidr: str, in_use: set[str], rng: random.Random) -> str:
    """A free IP of ``cidr`` (network and broadcast addresses excluded); 500 when the range is full."""
    net = ipaddress.ip_network(cidr)
    first = int(net.network_address) + 1
    size = net.num_addresses - 2
    used = {int(ipaddress.ip_address(ip)) - first for ip in in_use if _in(ip, net)}
    offset = _pick(size, _static_band(size, 16, 256), used, rng)
    if offset is None:
        raise ApiError(500, "InternalError",
                       f"Internal error occurred: failed to allocate a serviceIP: range is full ({cidr})")
    return str(ipaddress.ip_address(first + offset))


def cluster_ip_error(ip: str, cidr: str, in_use: set[str]) -> str | None:
    """Why a requested cluster IP cannot be used, or None when it can."""
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return "must be a valid IP address"
    net = ipaddress.ip_network(cidr)
    if addr not in net or addr in (net.network_address, net.broadcast_address):
        return f"failed to allocate IP {ip}: the provided IP ({ip}) is not in the valid range. " \
               f"The range of valid IPs is {cidr}"
    if ip in in_use:
        return f"failed to allocate IP {ip}: provided IP is already allocated"
    return None


def _in(ip: str, net) -> bool:
    try:
        return ipaddress.ip_address(ip) in net
    except ValueError:
        return False


def allocate_node_port(port_range: tuple[int, int], in_use: set[int], rng: random.Random) -> int:
    lo, hi = port_range
    size = hi - lo + 1
    offset = _pick(size, _static_band(size, 16, 128), {p - lo for p in in_use if lo <= p <= hi}, rng)
    if offset is None:
        raise ApiError(500, "InternalError",
                       "Internal error occurred: failed to allocate a nodePort: range is full")
    return lo + offset


def node_port_error(port: int, port_range: tuple[int, int], in_use: set[int]) -> str | None:
    lo, hi = port_range
    if not lo <= port <= hi:
        return f"provided port is not in the valid range. The range of valid ports is {lo}-{hi}"
    if port in in_use:
        return "provided port is already allocated"
    return None


def allocate_service(svc: dict, old: dict | None, others: list[dict], cidr: str, port_range: tuple[int, int],
                     rng: random.Random) -> None:
    """Cluster IP and node ports of ``svc``: keep what ``old`` had, honour requests, allocate the rest.

    ``others`` are the other Services, whose addresses and ports are taken. 422 for a requested
    address or port that is out of range or in use.
    """
    spec, old_spec = svc["spec"], (old or {}).get("spec") or {}
    if spec["type"] == "ExternalName":
        spec.pop("clusterIP", None)
        spec.pop("clusterIPs", None)
    else:
        if not spec.get("clusterIP") and old_spec.get("clusterIP"):
            spec["clusterIP"] = old_spec["clusterIP"]
        _assign_cluster_ip(spec, old_spec, {s["spec"].get("clusterIP") for s in others}, cidr, rng)
    if spec["type"] in ("NodePort", "LoadBalancer"):
        used = {p["nodePort"] for s in others for p in s["spec"].get("ports") or [] if p.get("nodePort")}
        used |= {s["spec"]["healthCheckNodePort"] for s in others if s["spec"].get("healthCheckNodePort")}
        _assign_node_ports(spec, old_spec, used, port_range, rng)
        _assign_health_check_node_port(spec, old_spec, used, port_range, rng)
    elif old_spec.get("type") in ("NodePort", "LoadBalancer"):
        _drop_node_ports(spec, old_spec)


def _refuse(field: str, value, why: str) -> ApiError:
    return invalid("Service", "", "", [invalid_value(field, value, why)])


def _assign_cluster_ip(spec: dict, old_spec: dict, in_use: set, cidr: str, rng) -> None:
    ip = spec.get("clusterIP")
    if ip and ip != "None" and ip != old_spec.get("clusterIP"):
        error = cluster_ip_error(ip, cidr, in_use)
        if error:
            raise _refuse("spec.clusterIPs", [ip], error)
    if not ip:
        ip = allocate_cluster_ip(cidr, in_use, rng)
    spec["clusterIP"] = ip
    spec["clusterIPs"] = [ip]
    spec.setdefault("ipFamilies", ["IPv4"])
    spec.setdefault("ipFamilyPolicy", "SingleStack")


def _assign_node_ports(spec: dict, old_spec: dict, used: set, port_range, rng) -> None:
    old_ports = {(p.get("port"), p.get("protocol", "TCP")): p.get("nodePort") for p in old_spec.get("ports") or []}
    for i, port in enumerate(spec.get("ports") or []):
        wanted = port.get("nodePort") or old_ports.get((port.get("port"), port.get("protocol")))
        if wanted and wanted not in old_ports.values():
            error = node_port_error(wanted, port_range, used)
            if error:
                raise _refuse(f"spec.ports[{i}].nodePort", wanted, error)
        port["nodePort"] = wanted or allocate_node_port(port_range, used, rng)
        used.add(port["nodePort"])


def _assign_health_check_node_port(spec: dict, old_spec: dict, used: set, port_range, rng) -> None:
    """A LoadBalancer with ``externalTrafficPolicy: Local`` gets a node port for load balancers' health
    checks, from the node-port range (v1.36.1 ``pkg/registry/core/service/storage/alloc.go``
    ``txnAllocateHealthCheckNodePort``, ``apiservice.NeedsHealthCheck``); one no longer needed is released
    unless the user changed it (``dropTypeDependentFields``)."""
    if spec["type"] != "LoadBalancer" or spec.get("externalTrafficPolicy") != "Local":
        if spec.get("healthCheckNodePort") and spec["healthCheckNodePort"] == old_spec.get("healthCheckNodePort"):
            del spec["healthCheckNodePort"]
        return
    wanted = spec.get("healthCheckNodePort") or old_spec.get("healthCheckNodePort")
    if wanted and wanted != old_spec.get("healthCheckNodePort"):
        error = node_port_error(wanted, port_range, used)
        if error:
            raise _refuse("spec.healthCheckNodePort", wanted, error)
    spec["healthCheckNodePort"] = wanted or allocate_node_port(port_range, used, rng)
    used.add(spec["healthCheckNodePort"])


def _drop_node_ports(spec: dict, old_spec: dict) -> None:
    """Changing the type away from NodePort releases the node ports the user did not change
    (upstream ``dropTypeDependentFields``)."""
    old_ports = {p.get("nodePort") for p in old_spec.get("ports") or []}
    for port in spec.get("ports") or []:
        if port.get("nodePort") in old_ports:
            del port["nodePort"]
    for field in ("externalTrafficPolicy", "allocateLoadBalancerNodePorts", "healthCheckNodePort"):
        if spec.get(field) == old_spec.get(field):
            spec.pop(field, None)
