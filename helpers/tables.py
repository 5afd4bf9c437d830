"""API objects as pandas tables, one row per thing a reader wants to compare.

Each table has a pure form over plain object dicts (``*_frame``) and a fetching form (``*_table``)
that lists the objects from the current backend first.
"""

from __future__ import annotations

import ipaddress
import math

import pandas as pd

from helpers.connect import Backend, current
from helpers.kube import LABEL_SERVICE_NAME, LABEL_ZONE, get_condition, is_ready


def readable_tables() -> None:
    """Show whole cells: pandas cuts text at 50 characters by default, and the chapters' tables hold
    explanations (reconciler decisions, summaries, comparisons) that must be read in full. Cells
    wrap in the HTML view; wide tables scroll inside their output box."""
    pd.set_option("display.max_colwidth", None)


readable_tables()  # whoever shows these tables sees whole cells, connected or not


def pod_ready(pod: dict) -> bool:
    """True when the pod's Ready condition is True (what the endpoint controllers look at)."""
    return is_ready(pod)


def _meta(obj: dict, key: str, default=None):
    return (obj.get("metadata") or {}).get(key, default)


def _ip_key(address) -> tuple:
    try:
        return (0, ipaddress.ip_address(address))
    except ValueError:
        return (1, str(address))


def _selector(sel: dict | None) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted((sel or {}).items()))


def _target(ref: dict | None) -> str | None:
    return f"{ref.get('kind', '')}/{ref.get('name', '')}" if ref else None


def services_frame(services: list) -> pd.DataFrame:
    """namespace, name, type, clusterIP, ports (port/protocol→targetPort), selector."""
    rows = [{
        "namespace": _meta(s, "namespace"), "name": _meta(s, "name"),
        "type": s.get("spec", {}).get("type", "ClusterIP"), "clusterIP": s.get("spec", {}).get("clusterIP"),
        "ports": ",".join(f"{p.get('port')}/{p.get('protocol', 'TCP')}→{p.get('targetPort', p.get('port'))}"
                          for p in s.get("spec", {}).get("ports") or []),
        "selector": _selector(s.get("spec", {}).get("selector")),
    } for s in services]
    return _frame(rows, ["namespace", "name", "type", "clusterIP", "ports", "selector"])


def pods_frame(pods: list) -> pd.DataFrame:
    """namespace, name, phase, ready, podIP, node, deleting (graceful deletion in progress)."""
    rows = [{
        "namespace": _meta(p, "namespace"), "name": _meta(p, "name"),
        "phase": (p.get("status") or {}).get("phase"), "ready": pod_ready(p),
        "podIP": (p.get("status") or {}).get("podIP"), "node": (p.get("spec") or {}).get("nodeName"),
        "deleting": _meta(p, "deletionTimestamp") is not None,
    } for p in pods]
    return _frame(rows, ["namespace", "name", "phase", "ready", "podIP", "node", "deleting"])


def _node_ready(node: dict) -> str:
    return (get_condition(node, "Ready") or {}).get("status", "Unknown")


def nodes_frame(nodes: list) -> pd.DataFrame:
    """name, ready (True/False/Unknown), roles, internalIP, podCIDR, zone."""
    rows = []
    for n in nodes:
        labels = _meta(n, "labels") or {}
        addresses = (n.get("status") or {}).get("addresses") or []
        rows.append({
            "name": _meta(n, "name"), "ready": _node_ready(n),
            "roles": ",".join(sorted(k.split("/", 1)[1] for k in labels
                                     if k.startswith("node-role.kubernetes.io/"))) or "<none>",
            "internalIP": next((a["address"] for a in addresses if a.get("type") == "InternalIP"), None),
            "podCIDR": (n.get("spec") or {}).get("podCIDR"), "zone": labels.get(LABEL_ZONE),
        })
    return _frame(rows, ["name", "ready", "roles", "internalIP", "podCIDR", "zone"], sort=["name"])


def endpoints_frame(endpoints: list) -> pd.DataFrame:
    """One row per address of v1 Endpoints: namespace, name, ip, ready, ports, node, targetRef."""
    rows = []
    for ep in endpoints:
        for subset in ep.get("subsets") or []:
            ports = ",".join(f"{p.get('port')}/{p.get('protocol', 'TCP')}" for p in subset.get("ports") or [])
            for ready, key in ((True, "addresses"), (False, "notReadyAddresses")):
                rows += [{
                    "namespace": _meta(ep, "namespace"), "name": _meta(ep, "name"), "ip": a.get("ip"),
                    "ready": ready, "ports": ports, "node": a.get("nodeName"), "targetRef": _target(a.get("targetRef")),
                } for a in subset.get(key) or []]
    frame = _frame(rows, ["namespace", "name", "ip", "ready", "ports", "node", "targetRef"], sort=[])
    return _sort_by_ip(frame, ["namespace", "name"], "ip")


def _hints(hints: dict | None) -> str | None:
    if not hints:
        return None
    parts = [f"{k.removeprefix('for')}: " + ",".join(v.get("name", "") for v in vals)
             for k, vals in sorted(hints.items())]
    return "; ".join(parts)


def slices_frame(slices: list) -> pd.DataFrame:
    """One row per endpoint of each EndpointSlice; an empty slice gives one row with address None."""
    columns = ["namespace", "slice", "service", "addressType", "ports", "address", "ready", "serving",
               "terminating", "node", "zone", "targetRef", "hints"]
    rows = []
    for s in sorted(slices, key=lambda s: (_meta(s, "namespace") or "", _meta(s, "name") or "")):
        base = {"namespace": _meta(s, "namespace"), "slice": _meta(s, "name"),
                "service": (_meta(s, "labels") or {}).get(LABEL_SERVICE_NAME), "addressType": s.get("addressType"),
                "ports": ",".join(f"{p.get('name') + ':' if p.get('name') else ''}{p.get('port')}/"
                                  f"{p.get('protocol', 'TCP')}" for p in s.get("ports") or []) or None}
        endpoints = s.get("endpoints") or [None]
        for ep in endpoints:
            ep = ep or {}
            cond = ep.get("conditions") or {}
            rows.append({**base, "address": ",".join(ep.get("addresses") or []) or None,
                         "ready": cond.get("ready"), "serving": cond.get("serving"),
                         "terminating": cond.get("terminating"), "node": ep.get("nodeName"),
                         "zone": ep.get("zone"), "targetRef": _target(ep.get("targetRef")),
                         "hints": _hints(ep.get("hints"))})
    return _frame(rows, columns, sort=[])


def _frame(rows: list, columns: list, sort=("namespace", "name")) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=columns)
    if sort and not frame.empty:
        frame = frame.sort_values(list(sort), kind="stable").reset_index(drop=True)
    return frame


def _sort_by_ip(frame: pd.DataFrame, group: list, column: str) -> pd.DataFrame:
    if frame.empty:
        return frame
    order = sorted(range(len(frame)), key=lambda i: (*[str(frame.iloc[i][g]) for g in group],
                                                      _ip_key(frame.iloc[i][column])))
    return frame.iloc[order].reset_index(drop=True)


_COMPARED = ["ready", "serving", "terminating", "node", "zone", "ports", "hints"]


def _as_slice_frame(snapshot) -> pd.DataFrame:
    frame = snapshot if isinstance(snapshot, pd.DataFrame) else slices_frame(snapshot)
    return frame[frame["address"].notna()]


def diff_slices(before, after) -> pd.DataFrame:
    """What changed between two slice snapshots (slice dicts or slices_frame tables), per endpoint.

    Rows: change (added/removed/moved/changed), address, slice_before, slice_after, detail.
    Endpoints are matched by address; ``moved`` means it now lives in another slice.
    """
    old = {r["address"]: r for r in _as_slice_frame(before).to_dict("records")}
    new = {r["address"]: r for r in _as_slice_frame(after).to_dict("records")}
    rows = []
    for address in sorted(old.keys() | new.keys(), key=_ip_key):
        a, b = old.get(address), new.get(address)
        if a is None:
            rows.append(("added", address, None, b["slice"], _describe(b)))
        elif b is None:
            rows.append(("removed", address, a["slice"], None, _describe(a)))
        else:
            details = [f"{c} {a[c]}→{b[c]}" for c in _COMPARED if not _same(a[c], b[c])]
            if a["slice"] != b["slice"]:
                rows.append(("moved", address, a["slice"], b["slice"], "; ".join(details)))
            elif details:
                rows.append(("changed", address, a["slice"], b["slice"], "; ".join(details)))
    return pd.DataFrame(rows, columns=["change", "address", "slice_before", "slice_after", "detail"])


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _same(x, y) -> bool:
    """Equal, treating None and NaN (what pandas makes of None) as the same missing value."""
    return _missing(x) and _missing(y) or (not _missing(x) and not _missing(y) and x == y)


def _describe(row: dict) -> str:
    return f"ready={row['ready']} node={row['node']}"


def services_table(namespace=None, *, backend: Backend | None = None) -> pd.DataFrame:
    """Services of ``namespace`` (all namespaces when None)."""
    return services_frame((backend or current()).list("services", namespace)[0])


def pods_table(namespace=None, selector=None, *, backend: Backend | None = None) -> pd.DataFrame:
    """Pods of ``namespace``, optionally filtered by a label selector."""
    return pods_frame((backend or current()).list("pods", namespace, selector=selector)[0])


def nodes_table(*, backend: Backend | None = None) -> pd.DataFrame:
    """The cluster's nodes."""
    return nodes_frame((backend or current()).list("nodes")[0])


def endpoints_table(namespace=None, service=None, *, backend: Backend | None = None) -> pd.DataFrame:
    """v1 Endpoints (deprecated since 1.33, still served) — one row per address."""
    field_selector = f"metadata.name={service}" if service else None
    return endpoints_frame((backend or current()).list("endpoints", namespace, field_selector=field_selector)[0])


def slices_table(namespace=None, service=None, *, backend: Backend | None = None) -> pd.DataFrame:
    """EndpointSlices (of one Service when given, found by its kubernetes.io/service-name label)."""
    selector = f"{LABEL_SERVICE_NAME}={service}" if service else None
    return slices_frame((backend or current()).list("endpointslices", namespace, selector=selector)[0])
