"""Pure helpers shared by the endpoint controllers (EndpointSlice, Endpoints, mirroring).

Follows kubernetes/kubernetes at the v1.33+ release line (the simulator reports 1.37):
`staging/src/k8s.io/endpointslice/utils.go`, `.../util/controller_utils.go`,
`.../util/trigger_time_tracker.go` and `pkg/api/v1/pod` FindPort. Everything here works on plain
Kubernetes-shaped dicts (the JSON the API serves) and never reads a clock or does I/O.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import datetime

from helpers.kube import (
    LABEL_HEADLESS,
    LABEL_MANAGED_BY,
    LABEL_SERVICE_NAME,
    get_condition,
    is_ready,
    is_terminal,
    is_terminating,
    parse_time,
)

RESERVED_LABELS = frozenset({LABEL_SERVICE_NAME, LABEL_MANAGED_BY, LABEL_HEADLESS})

_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


# --- pods -----------------------------------------------------------------------------------------
def should_pod_be_in_endpoints(pod: dict, include_terminating: bool) -> bool:
    """Upstream ShouldPodBeInEndpoints: not terminal, has an IP, terminating only if asked."""
    status = pod.get("status") or {}
    if is_terminal(pod):
        return False
    if not status.get("podIP") and not status.get("podIPs"):
        return False
    return include_terminating or not is_terminating(pod)


def should_set_hostname(pod: dict, service: dict) -> bool:
    """Hostname is published only for pods whose subdomain names this Service (StatefulSet pattern)."""
    spec = pod.get("spec") or {}
    return (
        bool(spec.get("hostname"))
        and spec.get("subdomain") == service["metadata"]["name"]
        and pod["metadata"].get("namespace") == service["metadata"].get("namespace")
    )


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


def port_map_key(ports: list[dict] | None) -> tuple:
    """Order-insensitive identity of a port list (upstream NewPortMapKey)."""
    return tuple(
        sorted(
            (p.get("name") or "", p.get("port") or 0, p.get("protocol") or "TCP", p.get("appProtocol") or "")
            for p in ports or ()
        )
    )


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


def selector_matches(selector: dict | None, labels: dict | None) -> bool:
    """Equality-based Service selector match; a None selector matches nothing."""
    if selector is None:
        return False
    labels = labels or {}
    return all(labels.get(k) == v for k, v in selector.items())


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
class TriggerTimeTracker:
    """Computes `last-change-trigger-time` per Service (upstream TriggerTimeTracker).

    It remembers, per Service, the pods' Ready-condition transition times and the Service
    creation time seen at the previous sync; the trigger time is the earliest of those that
    changed since then (the Service's creationTimestamp on the first sync). A None result means
    "nothing changed": the annotation is then removed from written objects.
    """

    def __init__(self):
        self._states: dict[tuple[str, str], tuple[dict, datetime | None]] = {}  # pods' times, Service time

    def compute(self, service: dict, pods: list[dict]) -> datetime | None:
        key = (service["metadata"].get("namespace"), service["metadata"]["name"])
        known = key in self._states
        last_pods, last_service = self._states.get(key, ({}, None))
        pod_times = {}  # pod name -> (timestamp text, parsed time); text is only parsed when it changed
        earliest = None
        for pod in pods:
            cond = get_condition(pod, "Ready")
            text = cond.get("lastTransitionTime") if cond else None
            if not text:
                continue
            name = pod["metadata"]["name"]
            previous = last_pods.get(name)
            if previous is not None and previous[0] == text:
                pod_times[name] = previous
                continue
            when = parse_time(text)
            pod_times[name] = (text, when)
            if previous is None or when > previous[1]:
                earliest = when if earliest is None else min(earliest, when)
        created = parse_time(service["metadata"].get("creationTimestamp"))
        if created is not None and (last_service is None or created > last_service):
            earliest = created if earliest is None else min(earliest, created)
        self._states[key] = (pod_times, created)
        return created if not known else earliest

    def forget(self, namespace: str, name: str) -> None:
        self._states.pop((namespace, name), None)


def pod_endpoints_changed(old: dict, new: dict) -> tuple[bool, bool]:
    """(pod changed in an endpoint-relevant way, labels/hostname changed) (upstream podEndpointsChanged)."""
    ospec, nspec = old.get("spec") or {}, new.get("spec") or {}
    labels_changed = (old["metadata"].get("labels") or {}) != (new["metadata"].get("labels") or {}) or (
        ospec.get("hostname"),
        ospec.get("subdomain"),
    ) != (nspec.get("hostname"), nspec.get("subdomain"))
    if old["metadata"].get("deletionTimestamp") != new["metadata"].get("deletionTimestamp"):
        return True, labels_changed
    if is_ready(old) != is_ready(new):
        return True, labels_changed
    return pod_ips(old) != pod_ips(new), labels_changed


def services_to_update(services: list[dict], old_pod: dict | None, new_pod: dict | None) -> set[str]:
    """Names of Services a pod event concerns (upstream GetPodUpdateProjectionKey + GetServicesToUpdate)."""

    def matching(pod):
        labels = pod["metadata"].get("labels")
        return {
            s["metadata"]["name"] for s in services if selector_matches(s["spec"].get("selector"), labels)
        }

    if old_pod is None or new_pod is None:
        return matching(new_pod or old_pod)
    if old_pod["metadata"].get("resourceVersion") == new_pod["metadata"].get("resourceVersion"):
        return set()
    pod_changed, labels_changed = pod_endpoints_changed(old_pod, new_pod)
    if not labels_changed:
        return matching(new_pod) if pod_changed else set()
    before, after = matching(old_pod), matching(new_pod)
    return before | after if pod_changed else before ^ after


def pod_event_states(event_type: str, obj: dict, old: dict | None) -> tuple[dict | None, dict | None]:
    """(old pod, new pod) of a store event; None stands for "did not exist"."""
    if event_type == "ADDED":
        return None, obj
    if event_type == "DELETED":
        return obj, None
    return old, obj
