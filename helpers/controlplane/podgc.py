"""Pod garbage collection: force-delete pods that can never finish on their own.

Follows kubernetes/kubernetes `pkg/controller/podgc/gc_controller.go` (commit 003e8629). Every
20 s (gcCheckPeriod) it
- deletes pods bound to a Node that no longer exists, once the node has been missing for the 40 s
  quarantine and a live GET confirms it (gcOrphaned): the pod is first marked phase Failed with a
  `DisruptionTarget` condition (reason `DeletionByPodGC`), then deleted with grace period 0;
- force-deletes terminating pods on NotReady nodes tainted `node.kubernetes.io/out-of-service`
  (gcTerminating, the non-graceful node shutdown path);
- force-deletes terminating pods that were never scheduled (gcUnscheduledTerminating);
- deletes the oldest terminated pods above `terminated_pod_gc_threshold` (12500) (gcTerminated).
The selections are the pure functions here; `helpers.sim.controllers.podgc` is the shell.
"""

from __future__ import annotations

from helpers.kube import (
    TAINT_OUT_OF_SERVICE,
    condition_true,
    is_terminal,
    is_terminating,
    set_condition,
)

TERMINATED_POD_GC_THRESHOLD = 12500


def missing_node_names(pods: list[dict], node_names: set[str]) -> set[str]:
    """Nodes that pods are bound to but that do not exist."""
    return {
        p["spec"]["nodeName"]
        for p in pods
        if p["spec"].get("nodeName") and p["spec"]["nodeName"] not in node_names
    }


def orphaned_pods(pods: list[dict], deleted_nodes: set[str]) -> list[dict]:
    """Pods bound to nodes confirmed deleted."""
    return [p for p in pods if p["spec"].get("nodeName") in deleted_nodes]


def out_of_service_terminating(pods: list[dict], nodes: list[dict]) -> list[dict]:
    """Terminating pods on NotReady nodes tainted out-of-service:NoExecute (upstream gcTerminating)."""

    def out_of_service(node):
        taints = (node.get("spec") or {}).get("taints") or []
        return not condition_true(node, "Ready") and any(
            t.get("key") == TAINT_OUT_OF_SERVICE and t.get("effect") == "NoExecute" for t in taints
        )

    names = {n["metadata"]["name"] for n in nodes if out_of_service(n)}
    return [p for p in pods if is_terminating(p) and p["spec"].get("nodeName") in names]


def unscheduled_terminating(pods: list[dict]) -> list[dict]:
    return [p for p in pods if is_terminating(p) and not p["spec"].get("nodeName")]


def terminated_over_threshold(pods: list[dict], threshold: int = TERMINATED_POD_GC_THRESHOLD) -> list[dict]:
    """The oldest terminated pods beyond the threshold (upstream gcTerminated)."""
    terminated = sorted(
        (p for p in pods if is_terminal(p) and not is_terminating(p)),
        key=lambda p: (p["metadata"].get("creationTimestamp") or "", p["metadata"]["name"]),
    )
    excess = len(terminated) - threshold
    return terminated[:excess] if threshold > 0 and excess > 0 else []


def failed_with_condition(pod: dict, condition: dict | None, stamp: str) -> dict | None:
    """The pod marked phase Failed (plus condition) as PodGC does before deleting it, or None if terminal."""
    if is_terminal(pod):
        return None
    new = {**pod, "status": dict(pod.get("status") or {})}
    new["status"]["conditions"] = [dict(c) for c in pod["status"].get("conditions") or []]
    new["status"]["phase"] = "Failed"
    if condition is not None:
        set_condition(new, condition, stamp)
    return new
