"""The EndpointSliceMirroring controller: custom Endpoints of selectorless Services -> EndpointSlices.

Follows kubernetes/kubernetes `pkg/controller/endpointslicemirroring/{reconciler,utils,
endpointslicemirroring_controller}.go` (commit 09007d45 / 003e8629). The mapping is 1:1: each
(subset port set x address family) becomes one slice owned by the Endpoints object, at most
`max_endpoints_per_subset` (default 1000) addresses per subset, ready ones first; invalid IPs are
skipped with an event; no placeholder slice. `reconcile_mirroring` is pure; the controller class
is the shell.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from helpers.controlplane.endpoint import repack_subsets
from helpers.controlplane.endpointslice.controller_utils import port_map_key
from helpers.controlplane.endpointslice.reconciler import render_note
from helpers.controlplane.endpointslice.utils import (
    address_type_of,
    canonical_ip,
    controller_ref,
    slice_prefix,
)
from helpers.kube import (
    ANNOTATION_LAST_APPLIED,
    ANNOTATION_LEADER,
    ANNOTATION_TRIGGER_TIME,
    LABEL_MANAGED_BY,
    LABEL_SERVICE_NAME,
    LABEL_SKIP_MIRROR,
    is_terminating,
)

CONTROLLER_NAME = "endpointslicemirroring-controller.k8s.io"
NOT_COPIED_ANNOTATIONS = (
    ANNOTATION_TRIGGER_TIME,
    ANNOTATION_LAST_APPLIED,
)


@dataclass
class MirrorResult:
    """Planned slice writes for one Endpoints object, with Events for it and why.

    `notes` are structured like the EndpointSlice reconciler's `Result.notes`: one per written slice
    ({"slice", "action", "endpoints", "addressType", "reasons": [{"reason": code, ...counts}]}; a new
    slice is called `<generateName><new N>`) or per Endpoints-level decision ({"reason": code, ...});
    `explanations` renders them as sentences.
    """

    creates: list = field(default_factory=list)
    updates: list = field(default_factory=list)
    deletes: list = field(default_factory=list)
    events: list = field(default_factory=list)
    notes: list = field(default_factory=list)

    @property
    def writes(self) -> dict:
        return {"create": len(self.creates), "update": len(self.updates), "delete": len(self.deletes)}

    @property
    def explanations(self) -> list[str]:
        """`notes` as sentences, in order."""
        return [render_note(n, NOTE_TEXT) for n in self.notes]


# Reason code -> its sentence, a format string over the note (slice reasons first, then Endpoints-level
# notes and should_mirror's answers).
NOTE_TEXT = {
    "new-subset": "a subset (port set and address family) that no slice mirrors yet",
    "endpoints-changed": "{added} endpoint(s) added, {removed} removed",
    "metadata-changed": "the Endpoints object's labels or annotations changed",
    "recycled": "reused for a new subset instead of a create + delete",
    "subset-gone": "its subset is gone",
    "duplicate-for-subset": "another slice already mirrors its subset",
    "invalid-ips-skipped": "{count} invalid IP address(es) skipped",
    "too-many-addresses": "{count} address(es) skipped: at most {max} per subset are mirrored",
    "creates-skipped-terminating": "{count} create(s) skipped: the Endpoints object is being deleted",
    "no-writes": "no writes: every slice already mirrors its subset",
    "skip-mirror-label": f"not mirrored: label {LABEL_SKIP_MIRROR}=true",
    "leader-election-record": "not mirrored: it is a leader-election record",
    "service-missing": "not mirrored: its Service does not exist",
    "service-has-selector": "not mirrored: its Service has a selector (the EndpointSlice controller owns its slices)",
}


def should_mirror(endpoints: dict, service: dict | None) -> tuple[bool, str]:
    """Whether an Endpoints object is mirrored, and if not the reason code (a key of `NOTE_TEXT`)
    (upstream shouldMirror + syncEndpoints)."""
    meta = endpoints["metadata"]
    if (meta.get("labels") or {}).get(LABEL_SKIP_MIRROR) == "true":
        return False, "skip-mirror-label"
    if ANNOTATION_LEADER in (meta.get("annotations") or {}):
        return False, "leader-election-record"
    if service is None:
        return False, "service-missing"
    if service["spec"].get("selector") is not None:
        return False, "service-has-selector"
    return True, ""


def _mirrored_endpoint(address: dict, ready: bool) -> dict:
    """Upstream addressToEndpoint: only the ready condition is set, no zone."""
    ep = {"addresses": [address["ip"]], "conditions": {"ready": ready}}
    if address.get("targetRef"):
        ep["targetRef"] = address["targetRef"]
    if address.get("nodeName") is not None:
        ep["nodeName"] = address["nodeName"]
    if address.get("hostname"):
        ep["hostname"] = address["hostname"]
    return ep


def _new_slice(endpoints: dict, ports: list, address_type: str, name: str | None) -> dict:
    meta = endpoints["metadata"]
    labels = dict(meta.get("labels") or {})
    labels[LABEL_SERVICE_NAME] = meta["name"]
    labels[LABEL_MANAGED_BY] = CONTROLLER_NAME
    annotations = {
        k: v for k, v in (meta.get("annotations") or {}).items() if k not in NOT_COPIED_ANNOTATIONS
    }
    slice_meta = {
        "namespace": meta.get("namespace"),
        "labels": labels,
        "annotations": annotations,
        "ownerReferences": [controller_ref(endpoints, "v1", "Endpoints")],
    }
    if name:
        slice_meta["name"] = name
    else:
        slice_meta["generateName"] = slice_prefix(meta["name"])
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": slice_meta,
        "addressType": address_type,
        "endpoints": [],
        "ports": ports,
    }


def _desired(endpoints: dict, max_per_subset: int):
    """Desired endpoints per (port key, family), plus invalid and skipped address counts."""
    desired: dict[tuple, list] = {}
    ports_of: dict[tuple, list] = {}
    invalid = skipped = 0
    entries = [
        (a, p, ready)
        for subset in endpoints.get("subsets") or ()
        for ready, key in ((True, "addresses"), (False, "notReadyAddresses"))
        for a in subset.get(key) or ()
        for p in (subset.get("ports") or [None])
    ]
    for subset in repack_subsets(entries):
        ports = [
            {k: p[k] for k in ("name", "port", "protocol", "appProtocol") if k in p}
            for p in subset.get("ports", [])
        ]
        pkey = port_map_key(ports)
        addresses = [(a, True) for a in subset.get("addresses", [])] + [
            (a, False) for a in subset.get("notReadyAddresses", [])
        ]
        added = 0
        for address, ready in addresses:
            if added >= max_per_subset:
                break
            if canonical_ip(address["ip"]) is None:
                invalid += 1
                continue
            key = (pkey, address_type_of(address["ip"]))
            desired.setdefault(key, []).append(_mirrored_endpoint(address, ready))
            ports_of[pkey] = ports
            added += 1
        skipped += len(addresses) - added
    return desired, ports_of, invalid, skipped


def reconcile_mirroring(
    *, endpoints: dict, existing_slices: list[dict], max_endpoints_per_subset: int = 1000
) -> MirrorResult:
    """Plan the mirrored slices of one Endpoints object (upstream reconciler.reconcile)."""
    result, reasons = MirrorResult(), {}
    desired, ports_of, invalid, skipped = _desired(endpoints, max_endpoints_per_subset)
    if invalid:
        result.events.append(
            ("Warning", "InvalidIPAddress", f"Skipped {invalid} invalid IP addresses when mirroring to EndpointSlices")
        )
        result.notes.append({"reason": "invalid-ips-skipped", "count": invalid})
    if skipped > invalid:
        result.events.append(
            (
                "Warning",
                "TooManyAddressesToMirror",
                (
                    f"A max of {max_endpoints_per_subset} addresses can be mirrored to EndpointSlices per "
                    f"Endpoints subset. {skipped} addresses were skipped"
                ),
            )
        )
        result.notes.append({"reason": "too-many-addresses", "count": skipped - invalid,
                             "max": max_endpoints_per_subset})
    existing: dict[tuple, list] = {}
    for s in existing_slices:
        existing.setdefault((port_map_key(s.get("ports")), s.get("addressType")), []).append(s)
    for key, eps in desired.items():
        _reconcile_group(endpoints, existing.get(key, []), eps, ports_of[key[0]], key[1], result, reasons)
    for key, slices in existing.items():
        if key not in desired:
            result.deletes += slices
            reasons.update({id(s): [{"reason": "subset-gone"}] for s in slices})
    _recycle(result, reasons)
    if is_terminating(endpoints) and result.creates:
        result.notes.append({"reason": "creates-skipped-terminating", "count": len(result.creates)})
        result.creates = []
    _slice_notes(result, reasons)
    return result


def _reconcile_group(endpoints, existing, eps, ports, address_type, result, reasons) -> None:
    """Keep the first existing slice of a group (rewritten if anything differs), delete the rest."""
    result.deletes += existing[1:]
    reasons.update({id(s): [{"reason": "duplicate-for-subset"}] for s in existing[1:]})
    first = existing[0] if existing else None
    new = _new_slice(endpoints, ports, address_type, first["metadata"]["name"] if first else None)
    new["endpoints"] = eps
    if first is None:
        result.creates.append(new)
        reasons[id(new)] = [{"reason": "new-subset"}]
        return
    old, wanted = _endpoint_set(first.get("endpoints")), _endpoint_set(eps)
    why = []
    if old != wanted:
        why.append({"reason": "endpoints-changed", "added": len(set(wanted) - set(old)),
                    "removed": len(set(old) - set(wanted))})
    if ((first["metadata"].get("labels") or {}) != new["metadata"]["labels"]
            or (first["metadata"].get("annotations") or {}) != new["metadata"]["annotations"]):
        why.append({"reason": "metadata-changed"})
    if not why:
        return
    new["metadata"]["resourceVersion"] = first["metadata"].get("resourceVersion")
    result.updates.append(new)
    reasons[id(new)] = why


def _endpoint_set(eps) -> list:
    return sorted(repr(sorted(ep.items())) for ep in eps or ())


def _recycle(result: MirrorResult, reasons: dict) -> None:
    """Turn creates into updates of same-family slices that would be deleted (upstream recycleSlices)."""
    kept = []
    for doomed in result.deletes:
        new = next((c for c in result.creates if c["addressType"] == doomed.get("addressType")), None)
        if new is None:
            kept.append(doomed)
            continue
        result.creates.remove(new)
        new["metadata"].pop("generateName", None)
        new["metadata"]["name"] = doomed["metadata"]["name"]
        new["metadata"]["resourceVersion"] = doomed["metadata"].get("resourceVersion")
        result.updates.append(new)
        reasons[id(new)].append({"reason": "recycled"})
    result.deletes = kept


def _slice_notes(result: MirrorResult, reasons: dict) -> None:
    """One note per written slice, after the Endpoints-level ones (creates, updates, deletes)."""
    for verb, slices in (("created", result.creates), ("updated", result.updates), ("deleted", result.deletes)):
        for i, s in enumerate(slices, 1):
            meta = s["metadata"]
            result.notes.append({"slice": meta.get("name") or f"{meta['generateName']}<new {i}>", "action": verb,
                                 "endpoints": len(s.get("endpoints") or ()), "addressType": s["addressType"],
                                 "reasons": reasons[id(s)]})
    if not result.notes:
        result.notes.append({"reason": "no-writes"})
