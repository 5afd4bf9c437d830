"""Topology-aware hints for EndpointSlices: the `service.kubernetes.io/topology-mode` annotation.

Follows kubernetes/kubernetes `staging/src/k8s.io/endpointslice/topologycache/{topologycache,utils,
event}.go` (commit 40d99474); `spec.trafficDistribution` is in `trafficdist`. Pure
functions: the per-zone CPU ratios are computed from the node list passed in, and "hints were
populated before" (which upstream keeps in its TopologyCache) is read from the existing slices.

Slices handed in as `to_create`/`to_update`, endpoints included, are owned by the caller and
modified in place; `unchanged` slices are never modified - one that needs new hints is copied
(`detached`) into the updates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from helpers.controlplane.endpointslice.endpointset import copy_slice, endpoint_ready
from helpers.kube import (
    ANNOTATION_TOPOLOGY_AWARE_HINTS,
    ANNOTATION_TOPOLOGY_MODE,
    LABEL_NODE_ROLE_CONTROL_PLANE,
    LABEL_ZONE,
    is_ready,
)

OVERLOAD_THRESHOLD = 0.2

NO_ZONE_SPECIFIED = "One or more endpoints do not have a zone specified"
NO_ALLOCATED_HINTS = "No hints allocated for zones"
HINTS_ENABLED = "Topology Aware Hints has been enabled"
HINTS_DISABLED = "Topology Aware Hints has been disabled"
INSUFFICIENT_NODE_INFO = (
    "Insufficient Node information: allocatable CPU or zone not specified on one or more nodes"
)
ONE_ZONE_ONLY = "Nodes only ready in one zone"
INSUFFICIENT_ENDPOINTS = "Insufficient number of endpoints"
MIN_EXCEEDS_OVERLOAD = (
    "Unable to allocate minimum required endpoints to each zone without exceeding overload threshold"
)


@dataclass
class HintOutcome:
    """Slices after hinting, plus events for the Service (type, reason, message) and a summary."""

    to_create: list
    to_update: list
    events: list = field(default_factory=list)
    summary: str = ""


def hints_annotation_enabled(service: dict) -> bool:
    """The deprecated annotation wins over topology-mode; `Auto`/`auto` enables hints."""
    annotations = service["metadata"].get("annotations") or {}
    value = annotations.get(ANNOTATION_TOPOLOGY_AWARE_HINTS, annotations.get(ANNOTATION_TOPOLOGY_MODE))
    return value in ("Auto", "auto")


def parse_cpu_millis(quantity) -> int:
    """Kubernetes CPU quantity ("2", "1500m", "0.5") -> millicores (0 if unparsable)."""
    text = str(quantity or "").strip()
    try:
        if text.endswith("m"):
            return int(float(text[:-1]))
        return int(float(text) * 1000)
    except ValueError:
        return 0


def cpu_ratios_by_zone(nodes: list[dict]) -> dict[str, float] | None:
    """Share of allocatable CPU per zone over Ready, non-control-plane nodes (upstream SetNodes).

    None when any counted node lacks a zone or CPU, or fewer than two zones have CPU.
    """
    by_zone: dict[str, int] = {}
    for node in nodes:
        labels = node["metadata"].get("labels") or {}
        if LABEL_NODE_ROLE_CONTROL_PLANE in labels or "node-role.kubernetes.io/master" in labels:
            continue
        if not is_ready(node):
            continue
        zone = labels.get(LABEL_ZONE, "")
        cpu = parse_cpu_millis(((node.get("status") or {}).get("allocatable") or {}).get("cpu"))
        if not zone or cpu == 0:
            return None
        by_zone[zone] = by_zone.get(zone, 0) + cpu
    total = sum(by_zone.values())
    if total == 0 or len(by_zone) < 2:
        return None
    return {zone: cpu / total for zone, cpu in by_zone.items()}








def _any_hints(slice_: dict) -> bool:
    return any("hints" in ep for ep in slice_.get("endpoints") or ())


def remove_hints(to_create, to_update, unchanged, hinted=_any_hints) -> tuple[list, list, list]:
    """Strip hints everywhere; unchanged slices that carried hints become updates (`hinted` may
    answer from a memo per slice version)."""
    for slice_ in to_create + to_update:
        for ep in slice_.get("endpoints") or ():
            ep.pop("hints", None)
    still = []
    for slice_ in unchanged:
        if hinted(slice_):
            copy = copy_slice(slice_)
            for ep in copy["endpoints"]:
                ep.pop("hints", None)
            to_update = to_update + [copy]
        else:
            still.append(slice_)
    return to_create, to_update, still


def _allocations(ratios: dict | None, n_endpoints: int):
    """Per-zone min/max/desired allocations, or (None, reason) (upstream getAllocations)."""
    if ratios is None:
        return None, INSUFFICIENT_NODE_INFO
    if len(ratios) < 2:
        return None, ONE_ZONE_ONLY
    if len(ratios) > n_endpoints:
        return None, f"{INSUFFICIENT_ENDPOINTS} ({n_endpoints} endpoints, {len(ratios)} zones)"
    allocations, min_total = {}, 0
    for zone, ratio in ratios.items():
        desired = ratio * n_endpoints
        minimum = math.ceil(desired * (1 / (1 + OVERLOAD_THRESHOLD)))
        allocations[zone] = {"minimum": minimum, "desired": max(desired, float(minimum))}
        min_total += minimum
        if min_total > n_endpoints:
            return None, f"{MIN_EXCEEDS_OVERLOAD} ({n_endpoints} endpoints, {len(ratios)} zones)"
    for alloc in allocations.values():
        alloc["maximum"] = alloc["minimum"] + n_endpoints - min_total
    return allocations, None


def _hints_by_zone(slice_: dict, allocated: dict, allocations: dict) -> dict | None:
    """Hints an unchanged slice contributes, or None when they must be recomputed."""
    counts: dict[str, int] = {}
    for ep in slice_.get("endpoints") or ():
        if not endpoint_ready(ep):
            continue
        zones = (ep.get("hints") or {}).get("forZones") or []
        if not zones:
            return None
        for hint in zones:
            if hint["name"] not in allocations:
                return None
            counts[hint["name"]] = counts.get(hint["name"], 0) + 1
    for zone, n in counts.items():
        if n + allocated.get(zone, 0) > allocations[zone]["maximum"]:
            return None
    return counts


def _most(values: dict) -> tuple[str, float]:
    zone, best = "", 0.0
    for z in sorted(values):
        if values[z] > best:
            zone, best = z, values[z]
    return zone, best


def _giving_and_receiving(allocations: dict, allocated: dict) -> tuple[dict, dict]:
    """How many endpoints each zone gives away or receives (upstream getGivingAndReceivingZones)."""
    giving_f, receiving_f = {}, {}
    for zone, alloc in allocations.items():
        have, target = allocated.get(zone, 0), alloc["desired"]
        if have > target:
            giving_f[zone] = have - target
        elif have < target:
            receiving_f[zone] = target - have
    giving, receiving = {}, {}
    while True:
        gz, give = _most(giving_f)
        rz, receive = _most(receiving_f)
        if not gz or not rz or (give < 1.0 and receive < 1.0) or give < 0.5 or receive < 0.5:
            break
        giving[gz] = giving.get(gz, 0) + 1
        giving_f[gz] -= 1
        receiving[rz] = receiving.get(rz, 0) + 1
        receiving_f[rz] -= 1
    return giving, receiving


def _redistribute(slices: list, giving: dict, receiving: dict) -> dict:
    """Re-point hints of surplus endpoints to under-allocated zones (upstream redistributeHints)."""
    moved: dict[str, int] = {}
    for slice_ in slices:
        for ep in slice_.get("endpoints") or ():
            if not endpoint_ready(ep):
                continue
            if not giving or not receiving:
                return moved
            zone = ep.get("zone")
            if not zone or giving.get(zone, 0) <= 0:
                continue
            target = next(z for z in sorted(receiving) if receiving[z] > 0)
            ep["hints"] = {"forZones": [{"name": target}]}
            for table, key in ((giving, zone), (receiving, target)):
                table[key] -= 1
                if table[key] == 0:
                    del table[key]
            moved[target] = moved.get(target, 0) + 1
            moved[zone] = moved.get(zone, 0) - 1
    return moved


def add_hints(to_create, to_update, unchanged, *, nodes, address_type, hinted_before) -> HintOutcome:
    """Topology Aware Routing for one address family (upstream TopologyCache.AddHints)."""

    def disable(message):
        create, update, _ = remove_hints(to_create, to_update, unchanged)
        text = f"{message}, addressType: {address_type}"
        return HintOutcome(
            create, update, [("Warning", "TopologyAwareHintsDisabled", text)], f"no hints: {text}"
        )

    n_ready = sum(endpoint_ready(ep) for s in to_create + to_update + unchanged for ep in s.get("endpoints") or ())
    allocations, problem = _allocations(cpu_ratios_by_zone(nodes), n_ready)
    if problem:
        return disable(problem)
    allocated: dict[str, int] = {}
    for slice_ in unchanged:
        counts = _hints_by_zone(slice_, allocated, allocations)
        if counts is None:
            to_update = to_update + [copy_slice(slice_)]
        else:
            for zone, n in counts.items():
                allocated[zone] = allocated.get(zone, 0) + n
    allocatable = to_create + to_update
    for slice_ in allocatable:
        for ep in slice_.get("endpoints") or ():
            if not endpoint_ready(ep):
                continue
            if not ep.get("zone"):
                return disable(NO_ZONE_SPECIFIED)
            allocated[ep["zone"]] = allocated.get(ep["zone"], 0) + 1
            ep["hints"] = {"forZones": [{"name": ep["zone"]}]}
    giving, receiving = _giving_and_receiving(allocations, allocated)
    for zone, diff in _redistribute(allocatable, giving, receiving).items():
        allocated[zone] = allocated.get(zone, 0) + diff
    if not allocated:
        return disable(NO_ALLOCATED_HINTS)
    events = []
    if not hinted_before:
        events.append(
            ("Normal", "TopologyAwareHintsEnabled", f"{HINTS_ENABLED}, addressType: {address_type}")
        )
    summary = "zone hints " + ", ".join(f"{z}:{n}" for z, n in sorted(allocated.items()))
    return HintOutcome(to_create, to_update, events, summary)




