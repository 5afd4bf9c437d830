"""Hints for `spec.trafficDistribution` (PreferClose / PreferSameZone / PreferSameNode).

Follows kubernetes/kubernetes v1.36 `staging/src/k8s.io/endpointslice/trafficdist/trafficdist.go`:
unlike topology-aware hints, these need no CPU-proportional allocation: every ready endpoint is
hinted for its own zone (and node, for PreferSameNode).
"""

from __future__ import annotations

from helpers.controlplane.endpointslice.endpointset import copy_slice, endpoint_ready

CLOSE_TRAFFIC_DISTRIBUTIONS = ("PreferClose", "PreferSameZone", "PreferSameNode")


def _wanted_hints(ep: dict, node_hints: bool) -> dict | None:
    hints = {}
    if ep.get("zone") is not None:
        hints["forZones"] = [{"name": ep["zone"]}]
    if node_hints and ep.get("nodeName") is not None:
        hints["forNodes"] = [{"name": ep["nodeName"]}]
    return hints or None


def traffic_distribution_hints(traffic_distribution, to_create, to_update, unchanged) -> tuple[list, list]:
    """Hints from `spec.trafficDistribution` (upstream trafficdist.ReconcileHints).

    PreferClose/PreferSameZone: each ready endpoint is hinted to its own zone; PreferSameNode also
    to its own node. Any other value removes hints. No capacity arithmetic.
    """
    close = traffic_distribution in CLOSE_TRAFFIC_DISTRIBUTIONS
    node_hints = traffic_distribution == "PreferSameNode"

    def needs_update(slice_):
        for ep in slice_.get("endpoints") or ():
            if not close:
                if "hints" in ep:
                    return True
            elif endpoint_ready(ep) and (ep.get("hints") or None) != _wanted_hints(ep, node_hints):
                return True
        return False

    def update(slice_):
        for ep in slice_.get("endpoints") or ():
            if not close:
                ep.pop("hints", None)
            elif endpoint_ready(ep):
                wanted = _wanted_hints(ep, node_hints)
                if wanted is None:
                    ep.pop("hints", None)
                else:
                    ep["hints"] = wanted

    to_update = to_update + [copy_slice(s) for s in unchanged if needs_update(s)]
    for slice_ in to_create + to_update:
        update(slice_)
    return to_create, to_update
