"""The Kubernetes vocabulary every part of the project shares: one definition of each word.

Conditions, the ready/terminating/terminal tests, RFC 3339 timestamps at the three precisions the
API serves, object keys, and the well-known labels, annotations and resource names. Everything here
works on plain Kubernetes-shaped dicts (the JSON the API serves), reads no clock and does no I/O, so
the toolkit, the chapters, the pure models (`helpers.controlplane`, `helpers.dataplane`) and the
simulator can all use it.

Sources (kubernetes/kubernetes v1.36): `staging/src/k8s.io/api/core/v1/well_known_labels.go`,
`staging/src/k8s.io/api/discovery/v1/well_known_labels.go`, `pkg/api/v1/pod/util.go`
(GetPodCondition, IsPodReady), `pkg/controller/controller_utils.go` (IsPodActive),
`staging/src/k8s.io/apimachinery/pkg/apis/meta/v1/time.go` and `micro_time.go` (Time serializes
with second precision, MicroTime with microseconds), and Go's `time.RFC3339Nano`.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

# --- well-known labels and annotations ------------------------------------------------------------
LABEL_SERVICE_NAME = "kubernetes.io/service-name"  # discovery/v1 LabelServiceName
LABEL_MANAGED_BY = "endpointslice.kubernetes.io/managed-by"  # discovery/v1 LabelManagedBy
LABEL_SKIP_MIRROR = "endpointslice.kubernetes.io/skip-mirror"  # discovery/v1 LabelSkipMirror
LABEL_HEADLESS = "service.kubernetes.io/headless"  # core/v1 IsHeadlessService
LABEL_SERVICE_PROXY_NAME = "service.kubernetes.io/service-proxy-name"  # kube-proxy skips such Services
LABEL_ZONE = "topology.kubernetes.io/zone"
LABEL_HOSTNAME = "kubernetes.io/hostname"
LABEL_OS = "kubernetes.io/os"
LABEL_ARCH = "kubernetes.io/arch"
LABEL_NODE_ROLE_CONTROL_PLANE = "node-role.kubernetes.io/control-plane"
ANNOTATION_TRIGGER_TIME = "endpoints.kubernetes.io/last-change-trigger-time"
ANNOTATION_OVER_CAPACITY = "endpoints.kubernetes.io/over-capacity"
# The Endpoints controller labels what it writes (pkg/controller/endpoint, LabelManagedBy).
LABEL_ENDPOINTS_MANAGED_BY = "endpoints.kubernetes.io/managed-by"
# Leader-election records live in this annotation; Endpoints carrying it are never mirrored or synced.
ANNOTATION_LEADER = "control-plane.alpha.kubernetes.io/leader"
ANNOTATION_LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
ANNOTATION_TOPOLOGY_MODE = "service.kubernetes.io/topology-mode"
ANNOTATION_TOPOLOGY_AWARE_HINTS = "service.kubernetes.io/topology-aware-hints"  # deprecated spelling

# Node taints the node lifecycle controller manages (core/v1 well_known_taints.go).
TAINT_NOT_READY = "node.kubernetes.io/not-ready"
TAINT_UNREACHABLE = "node.kubernetes.io/unreachable"
TAINT_OUT_OF_SERVICE = "node.kubernetes.io/out-of-service"

# --- resource names (kubectl-style plural, qualified by group; see docs/DESIGN.md) ------------------
ENDPOINT_SLICES = "endpointslices.discovery.k8s.io"


# --- object keys -----------------------------------------------------------------------------------
def obj_key(obj: dict) -> tuple[str, str]:
    """(namespace, name) of an object; namespace is "" for cluster-scoped objects (cache.MetaNamespaceKeyFunc)."""
    meta = obj["metadata"]
    return meta.get("namespace") or "", meta["name"]


# --- conditions ------------------------------------------------------------------------------------
def get_condition(obj: dict, type_: str) -> dict | None:
    """The status condition of type `type_`, or None (upstream GetPodCondition / GetNodeCondition)."""
    for cond in (obj.get("status") or {}).get("conditions") or ():
        if cond.get("type") == type_:
            return cond
    return None


def condition_true(obj: dict, type_: str) -> bool:
    cond = get_condition(obj, type_)
    return cond is not None and cond.get("status") == "True"


def set_condition(obj: dict, cond: dict, stamp: str) -> bool:
    """Upsert `cond` (type, status, optional reason/message) into obj.status.conditions.

    lastTransitionTime moves only when the status changes. Returns True when anything changed.
    """
    conditions = obj.setdefault("status", {}).setdefault("conditions", [])
    for i, current in enumerate(conditions):
        if current.get("type") != cond["type"]:
            continue
        # `cond` is the whole truth about reason/message: a stale reason must not survive a flip.
        merged = {k: v for k, v in current.items() if k in ("lastProbeTime", "lastTransitionTime")} | cond
        if current.get("status") != cond["status"]:
            merged["lastTransitionTime"] = stamp
        if merged == current:
            return False
        conditions[i] = merged
        return True
    conditions.append({"lastTransitionTime": stamp} | cond)
    return True


# --- lifecycle tests -------------------------------------------------------------------------------
def is_ready(obj: dict) -> bool:
    """The Ready condition is True (upstream IsPodReady; the same test for Nodes)."""
    return condition_true(obj, "Ready")


def is_terminating(obj: dict) -> bool:
    """The object has a deletionTimestamp."""
    return bool((obj.get("metadata") or {}).get("deletionTimestamp"))


def is_terminal(pod: dict) -> bool:
    """The pod's phase is Succeeded or Failed (upstream IsPodTerminal)."""
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def is_active(pod: dict) -> bool:
    """Upstream controller.IsPodActive: not terminal and not being deleted."""
    return not is_terminal(pod) and not is_terminating(pod)


# --- RFC 3339 timestamps ---------------------------------------------------------------------------
def format_time(when: datetime) -> str:
    """metav1.Time as the API serves it: UTC, second precision, `Z`."""
    return _utc(when).strftime("%Y-%m-%dT%H:%M:%SZ")


def format_micro_time(when: datetime) -> str:
    """metav1.MicroTime (Lease renewTime, Event eventTime): UTC, six fractional digits, `Z`."""
    return _utc(when).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def format_rfc3339nano(value) -> str:
    """Go's time.RFC3339Nano in UTC: fractional seconds without trailing zeros."""
    moment = parse_time(value)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if moment.microsecond:
        text += "." + f"{moment.microsecond:06d}".rstrip("0")
    return text + "Z"


def parse_time(value) -> datetime | None:
    """datetime | epoch seconds | RFC 3339 text (any precision, nanoseconds included) | None -> aware UTC."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return _utc(value)
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    text = str(value).replace("Z", "+00:00")
    if "." in text:  # Python parses at most microseconds: cut nanoseconds, pad shorter fractions
        head, _, rest = text.partition(".")
        digits = re.match(r"\d*", rest).group(0)
        if not digits:
            raise ValueError(f"not an RFC 3339 timestamp: {value!r}")
        text = f"{head}.{digits[:6].ljust(6, '0')}{rest[len(digits) :]}"
    return datetime.fromisoformat(text).astimezone(UTC)


def epoch(value) -> float | None:
    """An RFC 3339 timestamp (or datetime) as epoch seconds; None for None or ""."""
    moment = parse_time(value)
    return None if moment is None else moment.timestamp()


def _utc(when: datetime) -> datetime:
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def selector_matches(selector: dict | None, labels: dict | None) -> bool:
    """Equality-based Service selector match; a None selector matches nothing."""
    if selector is None:
        return False
    labels = labels or {}
    return all(labels.get(k) == v for k, v in selector.items())
