"""Pure helpers over Pod and Node dicts shared by the simulated components.

Names follow upstream (k8s.io/kubernetes/pkg/api/v1/pod, pkg/controller, component-helpers).
"""

from __future__ import annotations

from datetime import datetime


def rfc3339(when: datetime) -> str:
    """Timestamps as the API serves them (second precision, `Z`)."""
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def micro_time(when: datetime) -> str:
    """MicroTime (Lease renewTime, Event eventTime) as the API serves it."""
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def get_condition(obj: dict, type_: str) -> dict | None:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == type_:
            return cond
    return None


def condition_true(obj: dict, type_: str) -> bool:
    cond = get_condition(obj, type_)
    return cond is not None and cond.get("status") == "True"


def set_condition(obj: dict, cond: dict, stamp: str) -> bool:
    """Upsert `cond` (type, status, optional reason/message) into obj.status.conditions.

    lastTransitionTime moves only when the status changes.

    Returns True when anything changed.
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


def is_terminating(pod: dict) -> bool:
    return bool(pod["metadata"].get("deletionTimestamp"))


def is_finished(pod: dict) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def is_active(pod: dict) -> bool:
    """Upstream's controller.IsPodActive: not finished and not being deleted."""
    return not is_finished(pod) and not is_terminating(pod)


def is_ready(pod: dict) -> bool:
    return condition_true(pod, "Ready")


def is_available(pod: dict, min_ready_seconds: int, now: float) -> bool:
    """Ready for at least minReadySeconds (upstream podutil.IsPodAvailable)."""
    if not is_ready(pod):
        return False
    if not min_ready_seconds:
        return True
    since = get_condition(pod, "Ready").get("lastTransitionTime")
    return since is None or datetime.fromisoformat(since).timestamp() + min_ready_seconds <= now


def tolerates(tolerations: list[dict], taint: dict) -> bool:
    """Upstream's Toleration.ToleratesTaint over a list of tolerations."""
    for tol in tolerations or []:
        if tol.get("effect") and tol["effect"] != taint.get("effect"):
            continue
        if tol.get("key") and tol["key"] != taint.get("key"):
            continue
        if not tol.get("key") and tol.get("operator") != "Exists":
            continue
        if tol.get("operator", "Equal") == "Exists" or tol.get("value", "") == taint.get("value", ""):
            return True
    return False


def untolerated_taints(node: dict, tolerations: list[dict], effects=("NoSchedule", "NoExecute")) -> list[dict]:
    """The node's taints with one of `effects` that the tolerations do not tolerate."""
    taints = (node.get("spec") or {}).get("taints") or []
    return [t for t in taints if t.get("effect") in effects and not tolerates(tolerations, t)]


def internal_ip(node: dict) -> str | None:
    for address in (node.get("status") or {}).get("addresses") or []:
        if address.get("type") == "InternalIP":
            return address["address"]
    return None
