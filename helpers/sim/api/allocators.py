"""Service cluster-IP and node-port allocation (upstream's ipallocator / portallocator, simplified).

Pure functions over the set of values in use; the store passes that set and its random generator.
Like upstream, dynamic allocation prefers the upper part of the range, leaving a low "static band"
for addresses users pick by hand (KEP-3070), e.g. kube-dns's 10.96.0.10.

The cluster's service CIDRs are kube-apiserver's ``--service-cluster-ip-range``: one, or one per family
("<primary>,<secondary>", dual-stack); a Service's ``ipFamilyPolicy``/``ipFamilies``/``clusterIPs`` are
defaulted and checked against them as pkg/registry/core/service/storage/alloc.go (v1.37.0)
``initIPFamilyFields`` and ``allocClusterIPs`` do.
"""

import ipaddress
import random

from .errors import ApiError, invalid
from .validation import duplicate, invalid_value, unsupported

FAMILY_POLICIES = ("PreferDualStack", "RequireDualStack", "SingleStack")  # sorted, as upstream lists them
FAMILIES = ("IPv4", "IPv6")


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


def family_of(ip: str) -> str:
    return "IPv6" if ":" in ip else "IPv4"


def cidrs_by_family(cidrs: str) -> dict[str, str]:
    """``--service-cluster-ip-range`` ("a" or "a,b") -> {family: cidr}, primary first."""
    return {family_of(c): c for c in cidrs.split(",")}


def allocate_service(svc: dict, old: dict | None, others: list[dict], cidrs: str, port_range: tuple[int, int],
                     rng: random.Random) -> None:
    """Cluster IPs and node ports of ``svc``: keep what ``old`` had, honour requests, allocate the rest.

    ``cidrs`` is the cluster's service range(s) (module docstring); ``others`` are the other Services,
    whose addresses and ports are taken. 422 for a requested address or port that is out of range or
    in use, and for an IP family policy the cluster cannot serve.
    """
    spec, old_spec = svc["spec"], (old or {}).get("spec") or {}
    if spec["type"] == "ExternalName":
        for field in ("clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"):
            spec.pop(field, None)
    else:
        # patchAllocatedValues: an update that leaves the cluster IPs out keeps the allocated ones
        if not spec.get("clusterIP") and old_spec.get("clusterIP"):
            spec["clusterIP"] = old_spec["clusterIP"]
        if not spec.get("clusterIPs") and old_spec.get("clusterIPs") and spec.get("clusterIP") == old_spec["clusterIP"]:
            spec["clusterIPs"] = list(old_spec["clusterIPs"])
        if spec.get("clusterIP") and not spec.get("clusterIPs"):  # v1 defaulting: clusterIPs from clusterIP
            spec["clusterIPs"] = [spec["clusterIP"]]
        by_family = cidrs_by_family(cidrs)
        _init_ip_families(svc, old_spec, by_family)
        in_use = {ip for s in others for ip in s["spec"].get("clusterIPs") or [s["spec"].get("clusterIP")]}
        _assign_cluster_ips(svc, old_spec, in_use, by_family, rng)
    if spec["type"] in ("NodePort", "LoadBalancer"):
        used = {p["nodePort"] for s in others for p in s["spec"].get("ports") or [] if p.get("nodePort")}
        used |= {s["spec"]["healthCheckNodePort"] for s in others if s["spec"].get("healthCheckNodePort")}
        _assign_node_ports(spec, old_spec, used, port_range, rng)
        _assign_health_check_node_port(spec, old_spec, used, port_range, rng)
    elif old_spec.get("type") in ("NodePort", "LoadBalancer"):
        _drop_node_ports(spec, old_spec)


def _refuse(field: str, value, why: str) -> ApiError:
    return invalid("Service", "", "", [invalid_value(field, value, why)])


def _init_ip_families(svc: dict, old_spec: dict, by_family: dict[str, str]) -> None:
    """Default ``ipFamilyPolicy`` and ``ipFamilies`` and refuse what this cluster cannot serve
    (initIPFamilyFields, with the checks of validation.go ValidateServiceClusterIPsRelatedFields it runs first)."""
    spec, name = svc["spec"], svc["metadata"].get("name", "")
    headless_selectorless = spec.get("clusterIP") == "None" and not spec.get("selector")
    if (old_spec and spec.get("ipFamilyPolicy") == "PreferDualStack" == old_spec.get("ipFamilyPolicy")
            and spec.get("type") == old_spec.get("type") and spec.get("clusterIPs") == old_spec.get("clusterIPs")
            and spec.get("ipFamilies") == old_spec.get("ipFamilies")):
        return  # isMatchingPreferDualStackClusterIPFields: no up- or downgrade without a policy change
    if not spec.get("ipFamilyPolicy"):
        spec["ipFamilyPolicy"] = (old_spec.get("ipFamilyPolicy")
                                  or ("RequireDualStack" if headless_selectorless else "SingleStack"))
    policy, families, ips = spec["ipFamilyPolicy"], spec.setdefault("ipFamilies", []), spec.get("clusterIPs") or []
    causes = []
    for i, family in enumerate(families):
        if family not in FAMILIES:
            causes.append(unsupported(f"spec.ipFamilies[{i}]", family, list(FAMILIES)))
        elif family in families[:i]:
            causes.append(duplicate(f"spec.ipFamilies[{i}]", family))
    if policy not in FAMILY_POLICIES:
        causes.append(unsupported("spec.ipFamilyPolicy", policy, list(FAMILY_POLICIES)))
    if len(ips) > 1 and len({family_of(ip) for ip in ips if ip != "None"}) < len(ips):
        causes.append(invalid_value("spec.clusterIPs", ips, "may specify no more than one IP for each IP family"))
    if causes:
        raise invalid("Service", name, "", causes)
    if old_spec and policy == "SingleStack":  # downgrade: release the secondary IP and family
        if ips == old_spec.get("clusterIPs") and len(ips) > 1:
            spec["clusterIPs"] = ips = ips[:1]
        if families == old_spec.get("ipFamilies") and len(families) > 1:
            del families[1:]
    elif old_spec:
        if ips and len(ips) < len(old_spec.get("clusterIPs") or []):  # reducedClusterIPs: not when left out
            causes.append(invalid_value("spec.ipFamilyPolicy", policy,
                                        "must be 'SingleStack' to release the secondary cluster IP"))
        if families and len(families) < len(old_spec.get("ipFamilies") or []):
            causes.append(invalid_value("spec.ipFamilyPolicy", policy,
                                        "must be 'SingleStack' to release the secondary IP family"))
    if policy == "SingleStack":
        if len(ips) == 2:
            causes.append(invalid_value("spec.ipFamilyPolicy", policy, "must be 'RequireDualStack' or "
                                        "'PreferDualStack' when multiple cluster IPs are specified"))
        if len(families) == 2:
            causes.append(invalid_value("spec.ipFamilyPolicy", policy, "must be 'RequireDualStack' or "
                                        "'PreferDualStack' when multiple IP families are specified"))
    for i, ip in enumerate(ips):
        if ip == "None":
            break
        if i >= len(families):  # infer the family of a requested IP
            if family_of(ip) in by_family:
                families.append(family_of(ip))
            else:
                causes.append(invalid_value(f"spec.clusterIPs[{i}]", ips, f"{family_of(ip)} is not configured on "
                                            "this cluster"))
    if causes:
        raise invalid("Service", name, "", causes)
    primary = next(iter(by_family))
    other = {"IPv4": "IPv6", "IPv6": "IPv4"}
    if headless_selectorless:  # may name families the cluster lacks
        families[:] = families or [primary]
        if len(families) < 2 and policy != "SingleStack":
            families.append(other[families[0]])
        return
    if policy == "RequireDualStack" and len(by_family) < 2:
        causes.append(invalid_value("spec.ipFamilyPolicy", policy, "this cluster is not configured for dual-stack "
                                    "services"))
    causes += [invalid_value(f"spec.ipFamilies[{i}]", family, "not configured on this cluster")
               for i, family in enumerate(families) if family not in by_family]
    if causes:
        raise invalid("Service", name, "", causes)
    families[:] = families or [primary]
    if policy != "SingleStack" and len(families) == 1 and len(by_family) == 2:
        families.append(other[families[0]])


def _assign_cluster_ips(svc: dict, old_spec: dict, in_use: set, by_family: dict[str, str], rng) -> None:
    """One cluster IP per family of ``spec.ipFamilies``, in that order (allocClusterIPs); headless gets none."""
    spec = svc["spec"]
    ips = list(spec.get("clusterIPs") or [])
    if ips[:1] == ["None"]:
        spec["clusterIP"], spec["clusterIPs"] = "None", ["None"]
        return
    kept = set(old_spec.get("clusterIPs") or [])
    for i, family in enumerate(spec["ipFamilies"]):
        ip = ips[i] if i < len(ips) else ""
        if ip and ip not in kept:
            error = cluster_ip_error(ip, by_family[family], in_use)
            if error:
                raise _refuse("spec.clusterIPs", [ip], error)
        if not ip:
            ip = allocate_cluster_ip(by_family[family], in_use, rng)
        in_use.add(ip)
        ips[i:i + 1] = [ip]
    spec["clusterIPs"] = ips[:len(spec["ipFamilies"])]
    spec["clusterIP"] = spec["clusterIPs"][0]


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
