"""Pure helpers shared by the endpoint controllers (EndpointSlice, Endpoints, mirroring).

Follows kubernetes/kubernetes at the v1.33+ release line (the simulator reports 1.37):
`staging/src/k8s.io/endpointslice/utils.go`, `.../util/controller_utils.go`,
`.../util/trigger_time_tracker.go` and `pkg/api/v1/pod` FindPort. Everything here works on plain
Kubernetes-shaped dicts (the JSON the API serves) and never reads a clock or does I/O.
"""

from __future__ import annotations

import ipaddress
import re

from helpers.kube import (
    LABEL_HEADLESS,
    LABEL_MANAGED_BY,
    LABEL_SERVICE_NAME,
)

RESERVED_LABELS = frozenset({LABEL_SERVICE_NAME, LABEL_MANAGED_BY, LABEL_HEADLESS})

_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


# --- pods -----------------------------------------------------------------------------------------




def pod_ips(pod: dict) -> list[str]:
    """The pod's IPs (status.podIPs, falling back to status.podIP)."""
    status = pod.get("status") or {}
    ips = [ip for entry in status.get("podIPs") or () if (ip := entry.get("ip"))]
    if not ips and status.get("podIP"):
        ips = [status["podIP"]]
    return ips


def pod_ref(pod: dict) -> dict:
    """ObjectReference to a pod, as controllers write it (no resourceVersion)."""
    meta = pod["metadata"]
    return {"kind": "Pod", "namespace": meta.get("namespace"), "name": meta["name"], "uid": meta.get("uid")}


# --- IP addresses -------------------------------------------------------------------------------
def is_ipv6(ip: str) -> bool:
    return ":" in ip


def canonical_ip(ip: str) -> str | None:
    """Canonical text form of an IP (IPv6 zero-compressed), or None if it is not an IP."""
    try:
        return str(ipaddress.ip_address(ip))
    except ValueError:
        return None


def address_type_of(ip: str) -> str:
    return "IPv6" if is_ipv6(ip) else "IPv4"


def is_service_ip_set(service: dict) -> bool:
    """False for headless Services (clusterIP None or empty), which get the headless label."""
    cluster_ip = (service.get("spec") or {}).get("clusterIP") or ""
    return cluster_ip not in ("", "None")


def address_types_for_service(service: dict) -> list[str]:
    """Address families the Service's slices carry (upstream getAddressTypesForService)."""
    spec = service.get("spec") or {}
    families = spec.get("ipFamilies") or []
    if families:
        return [{"IPv4": "IPv4", "IPv6": "IPv6"}[f] for f in families if f in ("IPv4", "IPv6")]
    # Old API servers did not default ipFamilies: headful -> family of the ClusterIP, headless -> both.
    if is_service_ip_set(service):
        return [address_type_of(spec["clusterIP"])]
    return ["IPv4", "IPv6"]


# --- ports --------------------------------------------------------------------------------------
def find_port(pod: dict, service_port: dict) -> int | None:
    """Resolve a Service port's targetPort against a pod (upstream podutil.FindPort).

    Numeric targetPorts are used as they are; a named one must match a container port with the
    same name and protocol (then a restartable init container, i.e. a sidecar). None = not found.
    """
    target = service_port.get("targetPort", service_port.get("port"))
    if isinstance(target, int):
        return target
    if isinstance(target, str) and target.isdigit():
        return int(target)
    protocol = service_port.get("protocol", "TCP")
    spec = pod.get("spec") or {}
    sidecars = [c for c in spec.get("initContainers") or () if c.get("restartPolicy") == "Always"]
    for container in list(spec.get("containers") or ()) + sidecars:
        for port in container.get("ports") or ():
            if port.get("name") == target and port.get("protocol", "TCP") == protocol:
                return port["containerPort"]
    return None


def has_named_target_port(service: dict) -> bool:
    """True if any Service port needs per-pod resolution."""
    for port in (service.get("spec") or {}).get("ports") or ():
        target = port.get("targetPort", port.get("port"))
        if isinstance(target, str) and not target.isdigit():
            return True
    return False


def endpoint_ports(service: dict, pod: dict) -> list[dict]:
    """EndpointSlice ports for one pod: one entry per Service port whose targetPort resolves."""
    ports = []
    for sp in (service.get("spec") or {}).get("ports") or ():
        number = find_port(pod, sp)
        if number is None:
            continue
        entry = {"name": sp.get("name", ""), "port": number, "protocol": sp.get("protocol", "TCP")}
        if sp.get("appProtocol") is not None:
            entry["appProtocol"] = sp["appProtocol"]
        ports.append(entry)
    return ports




# --- metadata ----------------------------------------------------------------------------------
def slice_prefix(name: str) -> str:
    """generateName for slices: `<name>-`, or the bare name if that is not a valid prefix."""
    prefix = f"{name}-"
    return prefix if _DNS1123_SUBDOMAIN.match(prefix + "a") and len(prefix) <= 253 else name


def controller_ref(obj: dict, api_version: str, kind: str) -> dict:
    """A controller ownerReference to `obj` (blockOwnerDeletion and controller set)."""
    meta = obj["metadata"]
    return {
        "apiVersion": api_version,
        "kind": kind,
        "name": meta["name"],
        "uid": meta.get("uid"),
        "controller": True,
        "blockOwnerDeletion": True,
    }


def owned_by(obj: dict, owner: dict) -> bool:
    """True if `obj` has an ownerReference to `owner`'s UID (upstream ownedBy)."""
    uid = owner["metadata"].get("uid")
    return any(ref.get("uid") == uid for ref in (obj.get("metadata") or {}).get("ownerReferences") or ())




def service_slice_labels(service: dict, controller_name: str) -> dict:
    """Labels a controller-managed slice must carry: Service labels minus reserved keys, plus ours."""
    labels = {k: v for k, v in (service["metadata"].get("labels") or {}).items() if k not in RESERVED_LABELS}
    if not is_service_ip_set(service):
        labels[LABEL_HEADLESS] = ""
    labels[LABEL_SERVICE_NAME] = service["metadata"]["name"]
    labels[LABEL_MANAGED_BY] = controller_name
    return labels


def non_reserved(labels: dict | None) -> dict:
    return {k: v for k, v in (labels or {}).items() if k not in RESERVED_LABELS}


# --- trigger times --------------------------------------------------------------------------------


def new_endpoint_slice(service: dict, ports: list, address_type: str, controller_name: str) -> dict:
    """A slice to create for the Service (upstream newEndpointSlice)."""
    meta = service["metadata"]
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "generateName": slice_prefix(meta["name"]),
            "namespace": meta.get("namespace"),
            "labels": service_slice_labels(service, controller_name),
            "ownerReferences": [controller_ref(service, "v1", "Service")],
        },
        "addressType": address_type,
        "endpoints": [],
        "ports": ports,
    }
