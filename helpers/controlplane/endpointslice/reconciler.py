"""The EndpointSlice reconciler: which slices to create, update and delete for one Service.

`reconcile(...)` mirrors kubernetes/kubernetes `staging/src/k8s.io/endpointslice/reconciler.go`
(commit 02043869, the v1.33+ line; unchanged in substance up to v1.37) with `utils.go`,
`util/controller_utils.go` and `util/endpointset.go`: which pods become endpoints, grouping by
address family and resolved port set, keep/replace/remove in existing slices, filling slices that
are written anyway (fullest first), then the single unchanged slice closest to full, else new
slices; the placeholder rule; recycling creates into deletes; creates, then updates, then
deletes. It takes and returns plain dicts, reads no clock and does no I/O, and explains every
decision in `Result.notes`: structured notes (a reason code, its counts, the slice it concerns),
rendered to sentences only at the edge (`Result.explanations`, `render_note`). How one pod
becomes one endpoint is in `endpointset`.
The controller shell that feeds it is `helpers.sim.controllers.endpointslice`.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

from helpers.controlplane.endpointslice import topologycache, trafficdist
from helpers.controlplane.endpointslice.controller_utils import (
    endpoints_equal_beyond_hash,
    port_map_key,
    should_pod_be_in_endpoints,
)
from helpers.controlplane.endpointslice.endpointset import EndpointCache, detached
from helpers.controlplane.endpointslice.utils import (
    address_types_for_service,
    endpoint_ports,
    has_named_target_port,
    new_endpoint_slice,
    non_reserved,
    owned_by,
    service_slice_labels,
)
from helpers.kube import (
    ANNOTATION_TRIGGER_TIME,
    LABEL_ZONE,
    format_rfc3339nano,
    is_terminating,
)

CONTROLLER_NAME = "endpointslice-controller.k8s.io"
MISSING_NODE_BEHAVIORS = ("current", "pre-1.25")
MAX_ENDPOINTS_PER_SLICE_LIMIT = 1000


@dataclass
class Result:
    """What one sync of one Service would write, and why.

    `creates`/`updates`/`deletes` are slice dicts exactly as they would be sent to the API, to be
    applied in that order. Creates and updates share no dict or list with the inputs or the
    EndpointCache, so callers may edit them; deletes are existing slices as passed in.
    `notes` say why, one per written slice ({"slice", "action", "endpoints", "reasons": [{"reason":
    code, ...counts}]}) or per Service-level decision ({"reason": code, ...}); `explanations` are
    the same rendered as sentences. `placements` maps each newly placed
    endpoint (pod name) to the slice it went to and why. `error` is set when the Service must be
    retried (a pod's Node is missing).
    """

    creates: list = field(default_factory=list)
    updates: list = field(default_factory=list)
    deletes: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    placements: dict = field(default_factory=dict)
    events: list = field(default_factory=list)
    error: str | None = None
    added: int = 0
    removed: int = 0
    desired_endpoints: int = 0
    desired_slices: int = 0
    actual_slices: int = 0

    @property
    def explanations(self) -> list[str]:
        """`notes` as sentences, in order."""
        return [render_note(n) for n in self.notes]

    @property
    def writes(self) -> dict:
        """API writes of this sync by verb (upstream metric endpoint_slice_controller_changes)."""
        return {"create": len(self.creates), "update": len(self.updates), "delete": len(self.deletes)}


def _new_slice_why(n: dict) -> str:
    left = n["left"]
    if n["why"] == "full":
        return f"{left} endpoints were left to place, at least a full slice"
    if n["why"] == "no-room":
        return f"no unchanged slice had room for all {left} remaining endpoints (they are never split)"
    return f"{left} endpoints were left to place and no existing slice could take them"


# Reason code -> its sentence. Slice reasons (first block) are joined into one sentence per slice.
NOTE_TEXT = {
    "all-endpoints-removed": lambda n: f"all {n['count']} of its endpoints were removed",
    "endpoints-removed": lambda n: _count(n["count"], "endpoint removed"),
    "endpoints-changed": lambda n: _count(n["count"], "endpoint " + n["change"]),
    "service-labels-changed": lambda n: "Service labels changed",
    "filled-slice-being-updated": lambda n: (
        f"{_count(n['count'], 'new endpoint added')} because it was already being updated"),
    "new-slice": lambda n: f"{_count(n['count'], 'new endpoint')}: {_new_slice_why(n)}",
    "fitted-unchanged-slice": lambda n: (
        f"{_count(n['count'], 'new endpoint added')}: the unchanged slice closest to full that fits them all"),
    "earlier-service-uid": lambda n: "it belongs to an earlier Service with the same name (different UID)",
    "port-set-gone": lambda n: "no pod offers its port set any more",
    "placeholder": lambda n: "placeholder: a Service with a selector always has one slice per family",
    "topology-hints-changed": lambda n: "topology hints changed",
    "traffic-distribution-hints": lambda n: f"trafficDistribution {n['trafficDistribution']} hints changed",
    "stale-hints-removed": lambda n: "stale topology hints removed",
    "recycled": lambda n: (f"rewrites slice {n['replaces']}, which was going to be deleted, "
                           "instead of a create + delete"),
    "address-type-not-served": lambda n: f"address type {n['addressType']} is not served by the Service any more",
    "no-reason": lambda n: "no reason recorded",
    # Service-level notes
    "missing-node-failed": lambda n: (
        f"{n['addressType']}: sync failed: pod {n['pod']} is on node {n['node']!r}, which does not exist; "
        "before v1.25 one missing Node fails the whole Service sync, so its slices stay frozen"),
    "missing-nodes-skipped": lambda n: (
        f"{n['addressType']}: {len(n['pods'])} pod(s) left out because their Node is missing "
        f"({', '.join(n['pods'])}); the Service will be retried"),
    "placeholder-kept": lambda n: f"{n['addressType']}: no endpoints; the existing placeholder slice is kept as it is",
    "topology-auto": lambda n: f"{n['addressType']}: topology-mode Auto: {n['summary']}",
    "creates-skipped-terminating": lambda n: f"{n['count']} create(s) skipped: the Service is being deleted",
    "no-selector": lambda n: "skipped: the Service has no selector (or is ExternalName); slices are user-managed",
    "no-writes-failed": lambda n: f"no writes: the sync failed ({n['error']})",
    "no-writes": lambda n: "no writes: every slice already matches the desired endpoints",
}


def render_note(note: dict, text: dict | None = None) -> str:
    """One note of `Result.notes` as the sentence the chapters and /decisions show; `text` is the
    table of reason codes (`NOTE_TEXT`; the mirroring reconciler passes its own, of format strings)."""
    text = NOTE_TEXT if text is None else text

    def sentence(n: dict) -> str:
        template = text[n["reason"]]
        return template(n) if callable(template) else template.format(**n)

    if "slice" in note:
        detail = f" ({note['endpoints']} endpoints)" if note["action"] != "deleted" else ""
        reasons = "; ".join(sentence(r) for r in note["reasons"])
        return f"slice {note['slice']} {note['action']}{detail}: {reasons}"
    return sentence(note)


class _Log:
    """Scratch notes of one sync: per-slice reasons and endpoint placements, collected at the end."""

    def __init__(self):
        self.notes: dict[int, list[dict]] = {}
        self.placements: list[tuple[str, dict, str]] = []
        self.lines: list[dict] = []

    def note(self, slice_: dict, reason: str, **counts) -> None:
        self.notes.setdefault(id(slice_), []).append({"reason": reason, **counts})

    def line(self, reason: str, **counts) -> None:
        self.lines.append({"reason": reason, **counts})

    def place(self, endpoints: list[dict], slice_: dict, reason: str) -> None:
        for ep in endpoints:
            self.placements.append(
                ((ep.get("targetRef") or {}).get("name") or ep["addresses"][0], slice_, reason)
            )


def _change_kind(new: dict, old: dict) -> str:
    was, now = old.get("conditions") or {}, new.get("conditions") or {}
    if now.get("terminating") and not was.get("terminating"):
        return "started terminating"
    if was.get("ready") and not now.get("ready"):
        return "became not ready"
    if now.get("ready") and not was.get("ready"):
        return "became ready"
    if was.get("serving") != now.get("serving"):
        return "changed serving"
    return "changed node/zone/pod reference"


def _count(n: int, what: str) -> str:
    return f"{n} {what}" if n == 1 else f"{n} {what.replace('endpoint', 'endpoints', 1)}"


# --- slices ---------------------------------------------------------------------------------------


def _with(slice_: dict, **changes) -> dict:
    """Shallow copy of a slice with new top-level values (metadata copied so it can be edited)."""
    copy = dict(slice_)
    copy["metadata"] = dict(slice_["metadata"])
    copy.update(changes)
    return copy


def _is_placeholder_of(slice_: dict, placeholder: dict) -> bool:
    """Upstream placeholderSliceCompare: namespace, labels, addressType, ports, endpoints."""
    return (
        slice_["metadata"].get("namespace") == placeholder["metadata"].get("namespace")
        and (slice_["metadata"].get("labels") or {}) == placeholder["metadata"]["labels"]
        and slice_.get("addressType") == placeholder["addressType"]
        and not slice_.get("ports")
        and not slice_.get("endpoints")
    )


def _slice_to_fill(candidates: list[dict], n: int, max_eps: int) -> dict | None:
    """The unchanged slice closest to full after taking all n endpoints (upstream getSliceToFill)."""
    best, best_diff = None, max_eps
    for s in candidates:
        diff = max_eps - (n + len(s.get("endpoints") or ()))
        if 0 <= diff < best_diff:
            best, best_diff = s, diff
            if diff == 0:
                break
    return best


def _reconcile_group(service, existing, desired, ports, address_type, max_eps, cache, log) -> tuple:
    """Plan one (family, port set) group (upstream reconcileByPortMapping).

    Returns (creates, updates, deletes, unchanged, added, removed); `desired` (endpoint key ->
    endpoint) is consumed.
    """
    labels = service_slice_labels(service, CONTROLLER_NAME)
    svc_labels = non_reserved(labels)
    to_update: dict[str, dict] = {}
    unchanged: dict[str, dict] = {}
    to_delete: list[dict] = []
    removed = 0
    # 1. keep desired endpoints where they are (refreshed), drop the rest
    for s in existing:
        name = s["metadata"]["name"]
        old_eps = s.get("endpoints") or []
        kept, changes = [], {}
        keys, equal, _ = cache.slice_keys(s)
        for i, key in enumerate(keys):
            got = desired.pop(key, None)
            if got is None:
                continue
            kept.append(got)
            if got is equal[i]:
                continue
            ep = old_eps[i]
            if got == ep or endpoints_equal_beyond_hash(got, ep):  # `==` first: most are equal
                equal[i] = got
            else:
                kind = _change_kind(got, ep)
                changes[kind] = changes.get(kind, 0) + 1
        labels_changed = non_reserved(s["metadata"].get("labels")) != svc_labels
        gone = len(old_eps) - len(kept)
        if changes or gone:
            removed += gone
            if not kept:
                to_delete.append(s)
                log.note(s, "all-endpoints-removed", count=len(old_eps))
                continue
            new = _with(s, endpoints=kept)
            new["metadata"]["labels"] = labels
            to_update[name] = new
            if gone:
                log.note(new, "endpoints-removed", count=gone)
            for kind, n in changes.items():
                log.note(new, "endpoints-changed", count=n, change=kind)
            if labels_changed:
                log.note(new, "service-labels-changed")
        elif labels_changed:
            new = _with(s)
            new["metadata"]["labels"] = labels
            to_update[name] = new
            log.note(new, "service-labels-changed")
        else:
            unchanged[name] = s
    remaining = deque(desired.values())
    added = len(remaining)
    # 2. top up slices that are written anyway, fullest first
    if remaining and to_update:
        for s in sorted(to_update.values(), key=lambda x: -len(x["endpoints"])):
            take = [remaining.popleft() for _ in range(min(len(remaining), max_eps - len(s["endpoints"])))]
            if take:
                s["endpoints"] = s["endpoints"] + take
                log.note(s, "filled-slice-being-updated", count=len(take))
                log.place(take, s, "filled into a slice that was already being updated")
    # 3. the one unchanged slice that fits everything, else new slices
    creates = []
    while remaining:
        target = None
        if len(remaining) < max_eps and unchanged:
            target = _slice_to_fill(list(unchanged.values()), len(remaining), max_eps)
        left = len(remaining)
        take = [
            remaining.popleft()
            for _ in range(min(left, max_eps - len((target or {}).get("endpoints") or ())))
        ]
        if target is None:
            new = new_endpoint_slice(service, ports, address_type, CONTROLLER_NAME)
            new["endpoints"] = take
            creates.append(new)
            why = "full" if left >= max_eps else "no-room" if unchanged else "none-fits"
            log.note(new, "new-slice", count=len(take), left=left, why=why)
            log.place(take, new, "new slice")
        else:
            new = _with(target, endpoints=target["endpoints"] + take)
            del unchanged[target["metadata"]["name"]]
            to_update[target["metadata"]["name"]] = new
            log.note(new, "fitted-unchanged-slice", count=len(take))
            log.place(take, new, "fitted into the unchanged slice closest to full")
    return creates, list(to_update.values()), to_delete, list(unchanged.values()), added, removed


def _desired_endpoints(service, pods, nodes_by_name, address_type, missing_node_behavior, cache):
    """Group the pods' endpoints by resolved port set; also report pods whose Node is missing."""
    groups: dict[tuple, dict] = {}
    ports_of: dict[tuple, list] = {}
    missing: list[tuple[str, str]] = []
    # Numeric targetPorts resolve the same for every pod: compute them once.
    shared_ports = None if has_named_target_port(service) or not pods else endpoint_ports(service, pods[0])
    shared_key = port_map_key(shared_ports)
    headless_no_ports = not service["spec"].get("ports") and service["spec"].get("clusterIP") == "None"
    pnra = bool(service["spec"].get("publishNotReadyAddresses"))
    known, absent = cache.known, (None, None)
    last_key = group = None  # with shared ports every pod joins the same group: skip its lookup
    for pod in pods:
        node_name = (pod.get("spec") or {}).get("nodeName") or ""
        node, zone = nodes_by_name.get(node_name, absent)
        entry = known(pod, zone, address_type) if node is not None else None
        if entry is None and not should_pod_be_in_endpoints(pod, True):
            continue
        if headless_no_ports:
            ports, key = [], ()
        elif shared_ports is not None:
            ports, key = shared_ports, shared_key
        else:
            ports = endpoint_ports(service, pod)
            key = port_map_key(ports)
        if key is not last_key:
            group = groups.get(key)
            if group is None:
                group = groups[key] = {}
                ports_of[key] = ports
            last_key = key
        if node is None:
            if missing_node_behavior == "pre-1.25":
                return groups, ports_of, [(pod["metadata"]["name"], node_name)], True
            if not pnra:
                missing.append((pod["metadata"]["name"], node_name))
                continue
        ep_key, ep = entry or cache.endpoint(pod, node, zone, service, address_type)
        if ep_key is not None:
            group[ep_key] = ep
    return groups, ports_of, missing, False


def _reconcile_family(
    service, pods, nodes, nodes_by_name, existing, address_type, max_eps, behavior, cache, result, log
):
    """Plan one address family (upstream reconcileByAddressType); returns (creates, updates, deletes)."""
    owned, to_delete = {}, []
    for s in existing:
        if owned_by(s, service):
            owned.setdefault(port_map_key(s.get("ports")), []).append(s)
        else:
            to_delete.append(s)
            log.note(s, "earlier-service-uid")
    groups, ports_of, missing, failed = _desired_endpoints(
        service, pods, nodes_by_name, address_type, behavior, cache
    )
    if failed:
        pod_name, node_name = missing[0]
        result.error = f'node "{node_name}" not found'
        log.line("missing-node-failed", addressType=address_type, pod=pod_name, node=node_name)
        return [], [], []
    if missing:
        result.error = "; ".join(
            f"skipping Pod {p} for Service "
            f"{service['metadata'].get('namespace')}/{service['metadata']['name']}: "
            f"Node {n} Not Found"
            for p, n in missing
        )
        log.line("missing-nodes-skipped", addressType=address_type, pods=[p for p, _ in missing])
    creates, updates, unchanged = [], [], []
    desired_slices = 0
    for key, desired in groups.items():
        n = len(desired)
        result.desired_endpoints += n
        desired_slices += math.ceil(n / max_eps)
        c, u, d, keep, added, removed = _reconcile_group(
            service, owned.get(key, []), desired, ports_of[key], address_type, max_eps, cache, log
        )
        creates += c
        updates += u
        to_delete += d
        unchanged += keep
        result.added += added
        result.removed += removed
    for key, slices in owned.items():
        if key not in groups:
            for s in slices:
                log.note(s, "port-set-gone")
            to_delete += slices
    if len(existing) == len(to_delete) and not creates:
        placeholder = new_endpoint_slice(service, [], address_type, CONTROLLER_NAME)
        if len(to_delete) == 1 and _is_placeholder_of(to_delete[0], placeholder):
            unchanged.append(to_delete.pop())
            log.line("placeholder-kept", addressType=address_type)
        else:
            creates.append(placeholder)
            log.note(placeholder, "placeholder")
    result.desired_slices += max(desired_slices, 1)
    # Only now, with the few slices to write known, copy their contents: until here endpoints are
    # shared with the EndpointCache and the existing slices (ports, labels with each other), and
    # hints and annotations are set on them in place. The slice dicts keep their identity (notes).
    for s in creates + updates:
        s.update(detached(s))
    creates, updates = _apply_hints(
        service, nodes, existing, address_type, creates, updates, unchanged, cache, result, log
    )
    result.actual_slices += len(existing) + len(creates) - len(to_delete)
    return creates, updates, to_delete


def _apply_hints(service, nodes, existing, address_type, creates, updates, unchanged, cache, result, log):
    """Topology annotation beats trafficDistribution; without either, hints are stripped."""
    if topologycache.hints_annotation_enabled(service):
        hinted_before = any(cache.hinted(s) for s in existing)
        before = {id(s) for s in updates}
        outcome = topologycache.add_hints(
            creates, updates, unchanged, nodes=nodes, address_type=address_type, hinted_before=hinted_before
        )
        result.events += outcome.events
        log.line("topology-auto", addressType=address_type, summary=outcome.summary)
        for s in outcome.to_update:
            if id(s) not in before:
                log.note(s, "topology-hints-changed")
        return outcome.to_create, outcome.to_update
    before = {id(s) for s in updates}
    traffic = service["spec"].get("trafficDistribution")
    if traffic in trafficdist.CLOSE_TRAFFIC_DISTRIBUTIONS:
        creates, updates = trafficdist.traffic_distribution_hints(traffic, creates, updates, unchanged)
        reason = {"reason": "traffic-distribution-hints", "trafficDistribution": traffic}
    else:
        creates, updates, _ = topologycache.remove_hints(creates, updates, unchanged, hinted=cache.hinted)
        reason = {"reason": "stale-hints-removed"}
    for s in updates:
        if id(s) not in before:
            log.note(s, **reason)
    return creates, updates


def _finalize(service, creates, updates, deletes, trigger_time, log) -> tuple[list, list, list]:
    """Recycle creates into deletes, skip creates for a deleting Service, stamp the trigger time."""
    creates, updates, deletes = list(creates), list(updates), list(deletes)
    i = 0
    while i < len(deletes) and creates:
        doomed, new = deletes[i], creates[-1]
        if doomed.get("addressType") == new["addressType"] and owned_by(doomed, service):
            creates.pop()
            new["metadata"]["name"] = doomed["metadata"]["name"]
            # Keep the doomed slice's version so the update is a normal optimistic-concurrency write.
            if doomed["metadata"].get("resourceVersion"):
                new["metadata"]["resourceVersion"] = doomed["metadata"]["resourceVersion"]
            log.note(new, "recycled", replaces=doomed["metadata"]["name"])
            log.notes.pop(id(doomed), None)
            deletes.pop(i)
            updates.append(new)
        else:
            i += 1
    if creates and is_terminating(service):
        log.line("creates-skipped-terminating", count=len(creates))
        creates = []
    stamp = format_rfc3339nano(trigger_time) if trigger_time is not None else None
    for s in creates + updates:
        annotations = dict(s["metadata"].get("annotations") or {})
        if stamp:
            annotations[ANNOTATION_TRIGGER_TIME] = stamp
        else:
            annotations.pop(ANNOTATION_TRIGGER_TIME, None)
        s["metadata"]["annotations"] = annotations
    return creates, updates, deletes


def _render(result: Result, log: _Log) -> None:
    """Turn the scratch notes into `Result.notes`; new slices are called `<prefix><new N>`."""

    def name(s):
        if s["metadata"].get("name"):
            return s["metadata"]["name"]
        return f"{s['metadata']['generateName']}<new {index[id(s)]}>"

    index = {id(s): i + 1 for i, s in enumerate(result.creates)}
    for verb, slices in (
        ("created", result.creates),
        ("updated", result.updates),
        ("deleted", result.deletes),
    ):
        for s in slices:
            result.notes.append({"slice": name(s), "action": verb, "endpoints": len(s.get("endpoints") or ()),
                                 "reasons": log.notes.get(id(s)) or [{"reason": "no-reason"}]})
    result.notes.extend(log.lines)
    written = {id(s) for s in result.creates + result.updates}
    result.placements = {pod: f"{name(s)}: {why}" for pod, s, why in log.placements if id(s) in written}


def reconcile(
    *,
    service: dict,
    pods: list[dict],
    nodes: list[dict],
    existing_slices: list[dict],
    max_endpoints_per_slice: int = 100,
    trigger_time=None,
    missing_node_behavior: str = "current",
    endpoint_cache: EndpointCache | None = None,
) -> Result:
    """Plan the EndpointSlice writes for one Service (upstream Reconciler.Reconcile).

    `pods` are the pods matching the selector, `existing_slices` the slices labelled with the
    Service name and our managed-by value (without those already being deleted), `nodes` the
    Nodes the controller knows. `trigger_time` (datetime, RFC3339 string or None) becomes the
    `endpoints.kubernetes.io/last-change-trigger-time` annotation of every written slice.
    `missing_node_behavior="pre-1.25"` reproduces kubernetes/kubernetes#107927: a pod on an unknown
    Node fails the family's whole sync (no writes, `error` set). `endpoint_cache` is an optional
    `EndpointCache` kept between syncs of this Service; it only saves time.
    """
    if not 1 <= max_endpoints_per_slice <= MAX_ENDPOINTS_PER_SLICE_LIMIT:
        raise ValueError(f"max_endpoints_per_slice must be within 1..1000, got {max_endpoints_per_slice}")
    if missing_node_behavior not in MISSING_NODE_BEHAVIORS:
        raise ValueError(f"missing_node_behavior must be one of {MISSING_NODE_BEHAVIORS}")
    result, log = Result(), _Log()
    spec = service.get("spec") or {}
    if spec.get("type") == "ExternalName" or spec.get("selector") is None:
        result.notes.append({"reason": "no-selector"})
        return result
    families = address_types_for_service(service)
    nodes_by_name = {
        n["metadata"]["name"]: (n, (n["metadata"].get("labels") or {}).get(LABEL_ZONE)) for n in nodes
    }
    by_family: dict[str, list] = {f: [] for f in families}
    unsupported = []
    for s in existing_slices:
        if s.get("addressType") in by_family:
            by_family[s["addressType"]].append(s)
        else:
            unsupported.append(s)
            log.note(s, "address-type-not-served", addressType=s.get("addressType"))
    cache = endpoint_cache if endpoint_cache is not None else EndpointCache()
    cache.start(service)
    creates, updates, deletes = [], [], []
    for family in families:
        c, u, d = _reconcile_family(
            service,
            pods,
            nodes,
            nodes_by_name,
            by_family[family],
            family,
            max_endpoints_per_slice,
            missing_node_behavior,
            cache,
            result,
            log,
        )
        c, u, d = _finalize(service, c, u, d, trigger_time, log)
        creates += c
        updates += u
        deletes += d
    cache.rotate()
    result.creates, result.updates, result.deletes = creates, updates, deletes + unsupported
    _render(result, log)
    if not (creates or updates or result.deletes):
        result.notes.insert(0, {"reason": "no-writes-failed", "error": result.error} if result.error
                            else {"reason": "no-writes"})
    return result
