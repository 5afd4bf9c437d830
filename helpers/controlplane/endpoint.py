"""The Endpoints (v1) controller's pure planner (its shell is helpers/sim/controllers/endpoints.py).

Follows kubernetes/kubernetes `pkg/controller/endpoint/endpoints_controller.go` (v1.33+ line:
managed-by label, deprecated API) and `pkg/api/v1/endpoints/util.go` (RepackSubsets). One
Endpoints object per selector Service, same name; ready and not-ready addresses; terminating pods
left out unless `publishNotReadyAddresses`; at most 1000 addresses, ready ones kept first and the
budget spread over subsets in proportion (annotation `endpoints.kubernetes.io/over-capacity:
truncated`); the last-change-trigger-time annotation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from helpers.controlplane.endpointslice.controller_utils import (
    should_pod_be_in_endpoints,
    should_set_hostname,
)
from helpers.controlplane.endpointslice.utils import (
    endpoint_ports,
    is_ipv6,
    is_service_ip_set,
    pod_ips,
    pod_ref,
)
from helpers.kube import (
    ANNOTATION_OVER_CAPACITY,
    ANNOTATION_TRIGGER_TIME,
    LABEL_ENDPOINTS_MANAGED_BY,
    LABEL_HEADLESS,
    format_rfc3339nano,
    is_ready,
)

MAX_CAPACITY = 1000
CONTROLLER_NAME = "endpoint-controller"


@dataclass
class EndpointsPlan:
    """The write one sync would make: `action` is "create", "update" or None (already correct)."""

    action: str | None
    endpoints: dict | None
    explanation: str


def endpoint_address(service: dict, pod: dict) -> dict | None:
    """The pod's address in the Service's primary family, or None.

    Upstream podToEndpointAddressForService.
    """
    spec = service.get("spec") or {}
    families = spec.get("ipFamilies") or []
    if families:
        want_v6 = families[0] == "IPv6"
    elif is_service_ip_set(service):
        want_v6 = is_ipv6(spec["clusterIP"])
    else:
        want_v6 = is_ipv6((pod.get("status") or {}).get("podIP") or "")
    ip = next((ip for ip in pod_ips(pod) if is_ipv6(ip) == want_v6), None)
    if ip is None:
        return None
    address = {"ip": ip, "nodeName": (pod.get("spec") or {}).get("nodeName") or "", "targetRef": pod_ref(pod)}
    if should_set_hostname(pod, service):
        address["hostname"] = pod["spec"]["hostname"]
    return address


def _address_sort_key(address: dict) -> tuple:
    return address["ip"].encode(), (address.get("targetRef") or {}).get("uid") or ""


def _port_sort_key(port: dict) -> tuple:
    return port.get("name") or "", port.get("port") or 0, port.get("protocol") or "TCP"


def repack_subsets(entries: list[tuple[dict, dict | None, bool]]) -> list[dict]:
    """Group (address, port, ready) entries into subsets of identical port sets (upstream RepackSubsets).

    Addresses are deduplicated by IP + pod UID; for the same address and port, not-ready wins.
    Addresses are sorted by IP bytes then UID; ports and subsets get a deterministic order.
    """
    by_port: dict[tuple, dict] = {}
    port_of: dict[tuple, dict | None] = {}
    addresses: dict[tuple, dict] = {}
    for address, port, ready in entries:
        akey = (address["ip"], (address.get("targetRef") or {}).get("uid"))
        addresses.setdefault(akey, address)
        pkey = _port_sort_key(port) + (port.get("appProtocol") or "",) if port else ("",)
        port_of[pkey] = port
        states = by_port.setdefault(pkey, {})
        states[akey] = states.get(akey, True) and ready
    groups: dict[tuple, list] = {}
    for pkey, states in by_port.items():
        groups.setdefault(tuple(sorted(states.items())), []).append(port_of[pkey])
    subsets = []
    for states, ports in groups.items():
        subset = {}
        ready = sorted((addresses[a] for a, r in states if r), key=_address_sort_key)
        not_ready = sorted((addresses[a] for a, r in states if not r), key=_address_sort_key)
        if ready:
            subset["addresses"] = ready
        if not_ready:
            subset["notReadyAddresses"] = not_ready
        real_ports = sorted((p for p in ports if p is not None), key=_port_sort_key)
        if real_ports:
            subset["ports"] = real_ports
        subsets.append(subset)
    return sorted(subsets, key=lambda s: [_port_sort_key(p) for p in s.get("ports", [])])


def pod_entries(service: dict, pod: dict) -> list[tuple[dict, dict | None, bool]]:
    """The pod's (address, port, ready) entries for the Service (upstream syncService's pod loop body)."""
    spec = service.get("spec") or {}
    tolerate = bool(spec.get("publishNotReadyAddresses"))
    if not should_pod_be_in_endpoints(pod, tolerate):
        return []
    address = endpoint_address(service, pod)
    if address is None:
        return []
    ready = tolerate or is_ready(pod)
    if not spec.get("ports"):
        # headless Services may have no ports
        return [(address, None, ready)] if spec.get("clusterIP") == "None" else []
    return [(address, endpoints_port(port), ready) for port in endpoint_ports(service, pod)]


def endpoints_port(slice_port: dict) -> dict:
    """The core/v1 EndpointPort for a slice port: its `name` is a plain string with omitempty, so an
    unnamed port has no `name` key (upstream endpoints_controller.go endpointPortFromServicePort; the
    discovery/v1 port's name is a pointer, always written)."""
    return {k: v for k, v in slice_port.items() if k != "name" or v}


def desired_subsets(service: dict, pods: list[dict], cache: dict | None = None) -> list[dict]:
    """The Service's subsets before truncation (upstream syncService's pod loop + RepackSubsets).

    ``cache``, when given, maps (pod uid, resourceVersion) to ``pod_entries`` for this version of the
    Service: a sync then recomputes only the pods that changed (the EndpointSlice controller's
    EndpointCache does the same). It is refilled with just the pods seen, so it stays bounded.
    """
    if cache is None:
        return repack_subsets([e for pod in pods for e in pod_entries(service, pod)])
    seen = {}
    for pod in pods:
        meta = pod["metadata"]
        key = (meta.get("uid"), meta.get("resourceVersion"))
        found = cache.get(key)
        seen[key] = pod_entries(service, pod) if found is None else found
    cache.clear()
    cache.update(seen)
    return repack_subsets([e for entries in seen.values() for e in entries])


def truncate_subsets(subsets: list[dict], max_capacity: int = MAX_CAPACITY) -> tuple[list[dict], bool]:
    """Cut subsets down to max_capacity addresses (upstream truncateEndpoints).

    Ready addresses are kept first: if they fit, the not-ready budget is shared across subsets in
    proportion to their not-ready counts (rounded up, later subsets get what is left); otherwise
    all not-ready addresses go and the ready budget is shared the same way.
    """
    ready = sum(len(s.get("addresses", ())) for s in subsets)
    not_ready = sum(len(s.get("notReadyAddresses", ())) for s in subsets)
    if ready + not_ready <= max_capacity:
        return subsets, False
    truncate_ready = ready > max_capacity
    budget = max_capacity if truncate_ready else max_capacity - ready
    total = ready if truncate_ready else not_ready
    field = "addresses" if truncate_ready else "notReadyAddresses"
    left = budget
    out = []
    for subset in subsets:
        subset = dict(subset)
        allowed = min(math.ceil(budget * len(subset.get(field, ())) / total), left)
        left -= allowed
        if truncate_ready:
            subset.pop("notReadyAddresses", None)
        if field in subset:
            subset[field] = subset[field][:allowed]
        out.append(subset)
    return out, True


def _strip_rv(subsets: list[dict]) -> list[dict]:
    """Subsets with targetRef resourceVersions dropped (the controller ignores them when comparing)."""

    def clean(address):
        ref = address.get("targetRef")
        if ref and "resourceVersion" in ref:
            address = {**address, "targetRef": {k: v for k, v in ref.items() if k != "resourceVersion"}}
        return address

    return [
        {k: ([clean(a) for a in v] if k in ("addresses", "notReadyAddresses") else v) for k, v in s.items()}
        for s in subsets or []
    ]


def plan_endpoints(
    service: dict, pods: list[dict], existing: dict | None = None, trigger_time=None, entry_cache=None
) -> EndpointsPlan:
    """The Endpoints object the controller would write for a selector Service, if any.

    ``entry_cache`` is ``desired_subsets``'s per-pod cache for this Service.
    """
    subsets = desired_subsets(service, pods, entry_cache)
    meta = service["metadata"]
    svc_labels = dict(meta.get("labels") or {})
    if existing is not None:
        current_labels = {
            k: v
            for k, v in (existing["metadata"].get("labels") or {}).items()
            if k not in (LABEL_HEADLESS, LABEL_ENDPOINTS_MANAGED_BY)
        }
        current = existing.get("subsets") or []
        fits = (
            sum(len(s.get("addresses", ())) + len(s.get("notReadyAddresses", ())) for s in current)
            <= MAX_CAPACITY
        )
        capacity_ok = fits and ANNOTATION_OVER_CAPACITY not in (existing["metadata"].get("annotations") or {})
        if _strip_rv(current) == _strip_rv(subsets) and current_labels == svc_labels and capacity_ok:
            return EndpointsPlan(
                None, existing, "no write: addresses, labels and capacity annotation are current"
            )
        new = {**existing, "metadata": dict(existing["metadata"])}
    else:
        new = {
            "apiVersion": "v1",
            "kind": "Endpoints",
            "metadata": {"name": meta["name"], "namespace": meta.get("namespace")},
        }
    annotations = dict(new["metadata"].get("annotations") or {})
    if trigger_time is not None:
        annotations[ANNOTATION_TRIGGER_TIME] = format_rfc3339nano(trigger_time)
    else:
        annotations.pop(ANNOTATION_TRIGGER_TIME, None)
    subsets, truncated = truncate_subsets(subsets)
    if truncated:
        annotations[ANNOTATION_OVER_CAPACITY] = "truncated"
    else:
        annotations.pop(ANNOTATION_OVER_CAPACITY, None)
    labels = dict(svc_labels)
    if not is_service_ip_set(service):
        labels[LABEL_HEADLESS] = ""
    labels[LABEL_ENDPOINTS_MANAGED_BY] = CONTROLLER_NAME
    new["metadata"]["annotations"] = annotations
    new["metadata"]["labels"] = labels
    new["subsets"] = subsets
    ready = sum(len(s.get("addresses", ())) for s in subsets)
    not_ready = sum(len(s.get("notReadyAddresses", ())) for s in subsets)
    why = f"{ready} ready and {not_ready} not-ready addresses in {len(subsets)} subset(s)"
    if truncated:
        why += f"; truncated to {MAX_CAPACITY} addresses (ready ones kept first)"
    action = "create" if existing is None else "update"
    return EndpointsPlan(action, new, f"{action}: {why}")
