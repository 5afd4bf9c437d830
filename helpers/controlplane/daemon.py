"""The DaemonSet controller's pure decisions (pkg/controller/daemon, v1.36.1).

`node_to_daemon_pods` groups a DaemonSet's pods by node as getNodesToDaemonPods does: a terminating pod
still occupies its node until it is gone (only a terminal one being deleted is left out), so the manage
loop creates nothing there meanwhile (podsShouldBeOnNode: `shouldRun && !exists`). `rolling_update_deletions`
is rollingUpdate's maxSurge=0 path (update.go): which old pods to delete now so that at most maxUnavailable
nodes lack an available up-to-date pod. Together they give upstream's order on a node: the old pod is
deleted, the controller waits until it is gone, then the new one is created.
"""

from __future__ import annotations

import math

from helpers.controlplane.podutil import is_available
from helpers.kube import is_terminal, is_terminating

HASH_LABEL = "controller-revision-hash"  # apps/v1 DefaultDaemonSetUniqueLabelKey
GENERATION_LABEL = "pod-template-generation"  # DaemonSetTemplateGenerationKey


def node_to_daemon_pods(pods: list[dict], node_of) -> dict[str, list[dict]]:
    """Pods by target node (`node_of(pod)`), leaving out terminal pods already being deleted."""
    by_node: dict[str, list[dict]] = {}
    for pod in pods:
        if is_terminal(pod) and is_terminating(pod):
            continue
        node = node_of(pod)
        if node:
            by_node.setdefault(node, []).append(pod)
    return by_node


def is_pod_updated(pod: dict, revision_hash: str, generation) -> bool:
    """util.IsPodUpdated: the pod carries the current template's hash or generation."""
    labels = pod["metadata"].get("labels") or {}
    return labels.get(HASH_LABEL) == revision_hash or (
        generation is not None and labels.get(GENERATION_LABEL) == str(generation))


def find_updated_pods_on_node(pods: list[dict], revision_hash: str, generation):
    """``(new, old, ok)``: the node's one up-to-date and one old pod, terminating ones skipped; ok is False
    when there are two of either (the manage loop cleans that node up first)."""
    new = old = None
    for pod in pods:
        if is_terminating(pod):
            continue
        if is_pod_updated(pod, revision_hash, generation):
            if new is not None:
                return None, None, False
            new = pod
        else:
            if old is not None:
                return None, None, False
            old = pod
    return new, old, True


def max_unavailable(ds: dict, desired: int) -> int:
    """util.UnavailableCount (a percentage rounds up), and 1 when both it and maxSurge come to 0."""
    rolling = ((ds["spec"].get("updateStrategy") or {}).get("rollingUpdate") or {})
    value = rolling.get("maxUnavailable", 1)
    if isinstance(value, str) and value.endswith("%"):
        value = math.ceil(int(value[:-1]) * desired / 100)
    surge = rolling.get("maxSurge", 0)
    if desired > 0 and int(value) == 0 and surge in (0, "0%", None):
        return 1
    return int(value)


def rolling_update_deletions(ds: dict, by_node: dict[str, list[dict]], desired_nodes, revision_hash: str,
                             now: float) -> list[dict]:
    """The old pods rollingUpdate deletes in this sync (maxSurge 0), in upstream's order: unavailable old
    pods always, then available ones while fewer than maxUnavailable nodes are unavailable."""
    if (ds["spec"].get("updateStrategy") or {}).get("type", "RollingUpdate") != "RollingUpdate":
        return []
    nodes = {**{node: [] for node in desired_nodes}, **by_node}
    limit = max_unavailable(ds, len(desired_nodes))
    min_ready = ds["spec"].get("minReadySeconds", 0)
    generation = ds["metadata"].get("generation")
    unavailable, replace, candidates = 0, [], []
    for node in sorted(nodes):
        new, old, ok = find_updated_pods_on_node(nodes[node], revision_hash, generation)
        if not ok or (new is None) == (old is None):
            unavailable += 1  # the manage loop creates or prunes here
        elif new is not None:
            unavailable += not is_available(new, min_ready, now)
        elif not is_available(old, min_ready, now):
            replace.append(old)
        elif unavailable < limit:
            candidates.append(old)
    return replace + candidates[:max(0, min(limit - unavailable, len(candidates)))]
