"""Pure helpers over Pod and Node dicts shared by the simulated components: availability, taints.

Names follow upstream (k8s.io/kubernetes/pkg/api/v1/pod, component-helpers scheduling/corev1);
conditions, lifecycle tests and timestamps are in `helpers.kube`.
"""

from __future__ import annotations

from helpers.kube import epoch, get_condition, is_ready


def is_available(pod: dict, min_ready_seconds: int, now: float) -> bool:
    """Ready for at least minReadySeconds (upstream podutil.IsPodAvailable)."""
    if not is_ready(pod):
        return False
    if not min_ready_seconds:
        return True
    since = get_condition(pod, "Ready").get("lastTransitionTime")
    return since is None or epoch(since) + min_ready_seconds <= now


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
