"""``pods/eviction``: the policy/v1 Eviction subresource ``kubectl drain`` posts to.

Follows upstream's ``EvictionREST.Create`` (pkg/registry/core/pod/storage/eviction.go): a pod that is
Pending, terminal or already terminating is deleted at once (canIgnorePDB); otherwise the
PodDisruptionBudgets of its namespace whose selector matches it decide. More than one is a 500 Status;
none, or an unready pod under a budget that is already healthy enough (or ``AlwaysAllow``), deletes it;
one budget is checked and decremented as ``checkAndDecrement`` does (429 TooManyRequests with a
``DisruptionBudget`` cause when it allows no disruption), recording the pod in ``disruptedPods`` for the
disruption controller. The pod gets the ``DisruptionTarget`` condition before its graceful deletion.
"""

from __future__ import annotations

from helpers.kube import format_time, is_ready, set_condition

from .errors import ApiError, bad_request, forbidden
from .selectors import label_requirements_from, labels_match

_BUDGET_VIOLATED = "Cannot evict pod as it would violate the pod's disruption budget."
SUCCESS = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}


def too_many_requests(message: str, retry_after: int) -> ApiError:
    """429 with a DisruptionBudget cause (errors.NewTooManyRequests plus the cause eviction adds)."""
    return ApiError(429, "TooManyRequests", _BUDGET_VIOLATED,
                    {"causes": [{"reason": "DisruptionBudget", "message": message}],
                     "retryAfterSeconds": retry_after})


def can_ignore_pdb(pod: dict) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed", "Pending") \
        or bool(pod["metadata"].get("deletionTimestamp"))


def refusal(pdb: dict) -> ApiError | None:
    """Why ``pdb`` refuses one more disruption (checkAndDecrement), or None when it allows it."""
    name, status = pdb["metadata"]["name"], pdb.get("status") or {}
    if status.get("observedGeneration", 0) < pdb["metadata"].get("generation", 1):
        return too_many_requests(f"The disruption budget {name} is still being processed by the server.", 10)
    allowed = status.get("disruptionsAllowed", 0)
    if allowed < 0:
        return forbidden("poddisruptionbudget.policy", name, "pdb disruptions allowed is negative")
    if allowed == 0:
        healthy, desired = status.get("currentHealthy", 0), status.get("desiredHealthy", 0)
        message = (f"The disruption budget {name} needs {desired} healthy pods and has {healthy} currently"
                   if healthy <= desired else f"The disruption budget {name} does not allow evicting pods currently")
        return too_many_requests(message, 0)
    return None


def evict(store, namespace: str, name: str, body) -> dict:
    """Evict pod ``namespace/name`` as the eviction subresource does; the answer is a Success Status."""
    if not isinstance(body, dict) or body.get("kind", "Eviction") != "Eviction":
        raise bad_request("not a Eviction object")
    if (body.get("metadata") or {}).get("name") != name:
        raise bad_request("name in URL does not match name in Eviction object")
    options = body.get("deleteOptions") or {}
    dry_run = "All" in (options.get("dryRun") or [])
    pod = store.get("pods", name, namespace)
    if not can_ignore_pdb(pod):
        pdbs, _ = store.list("poddisruptionbudgets.policy", namespace=namespace)
        pdbs = [p for p in pdbs if (p.get("spec") or {}).get("selector") is not None
                and labels_match(label_requirements_from(p["spec"]["selector"]), pod["metadata"].get("labels"))]
        if len(pdbs) > 1:
            raise ApiError(500, "InternalError", "This pod has more than one PodDisruptionBudget, which the "
                           "eviction subresource does not support.")
        if pdbs and not _unhealthy_may_go(pdbs[0], pod):
            _decrement(store, pdbs[0], name, dry_run)
    if not dry_run:
        _mark_disruption_target(store, pod)
        store.delete("pods", name, namespace, grace_period_seconds=options.get("gracePeriodSeconds"),
                     propagation_policy=options.get("propagationPolicy"),
                     preconditions=options.get("preconditions"))
    return dict(SUCCESS)


def _unhealthy_may_go(pdb: dict, pod: dict) -> bool:
    if is_ready(pod):
        return False
    spec, status = pdb.get("spec") or {}, pdb.get("status") or {}
    return spec.get("unhealthyPodEvictionPolicy") == "AlwaysAllow" or \
        status.get("currentHealthy", 0) >= status.get("desiredHealthy", 0) > 0


def _decrement(store, pdb: dict, pod_name: str, dry_run: bool) -> None:
    problem = refusal(pdb)
    if problem:
        raise problem
    if dry_run:
        return
    status = pdb["status"]
    status["disruptionsAllowed"] -= 1
    stamp = format_time(store.clock.now())
    if status["disruptionsAllowed"] == 0:  # pdbhelper.UpdateDisruptionAllowedCondition
        set_condition(pdb, {"type": "DisruptionAllowed", "status": "False", "reason": "InsufficientPods",
                            "message": "", "observedGeneration": pdb["metadata"].get("generation", 1)}, stamp)
    status.setdefault("disruptedPods", {})[pod_name] = stamp
    store.update("poddisruptionbudgets.policy", pdb, subresource="status")


def _mark_disruption_target(store, pod: dict) -> None:
    if set_condition(pod, {"type": "DisruptionTarget", "status": "True", "reason": "EvictionByEvictionAPI",
                           "message": "Eviction API: evicting"}, format_time(store.clock.now())):
        store.update("pods", pod, subresource="status")
