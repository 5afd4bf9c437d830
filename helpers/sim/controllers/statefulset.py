"""The StatefulSet controller (pkg/controller/statefulset/stateful_set_control.go), without volume claims.

Pods are ``<name>-<ordinal>`` with ``spec.hostname`` = the pod's name and ``spec.subdomain`` =
``spec.serviceName`` (so the headless Service's EndpointSlices carry their hostnames), labelled
``statefulset.kubernetes.io/pod-name``, ``apps.kubernetes.io/pod-index`` and ``controller-revision-hash``
(``<name>-<template hash>``). Under ``podManagementPolicy: OrderedReady`` (the default) ``plan`` makes one
move at a time and only while every lower ordinal is Running and Ready: create the lowest missing ordinal,
else delete the highest ordinal beyond ``replicas``, else (RollingUpdate) delete the highest pod at or above
``partition`` whose revision is old, so it comes back with the new template; ``Parallel`` creates and
deletes without waiting. Not modelled: volumeClaimTemplates (kind's local-path PVCs), ControllerRevision
objects (``rollout history``), OnDelete, maxUnavailable, minReadySeconds.
"""

from __future__ import annotations

import copy

from helpers.kube import is_ready, is_terminating
from helpers.sim.controllers.workloads import _PodOwnerController, owner_reference, template_hash

POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"
POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"
REVISION_LABEL = "controller-revision-hash"


def ordinal(sts: dict, pod: dict) -> int | None:
    prefix, name = sts["metadata"]["name"] + "-", pod["metadata"]["name"]
    tail = name[len(prefix):] if name.startswith(prefix) else ""
    return int(tail) if tail.isdigit() else None


def revision(sts: dict) -> str:
    return f"{sts['metadata']['name']}-{template_hash(sts['spec']['template'])}"


def new_pod(sts: dict, index: int) -> dict:
    """newVersionedStatefulSetPod: the template, named and labelled for ``index``."""
    template = copy.deepcopy(sts["spec"]["template"])
    name = f"{sts['metadata']['name']}-{index}"
    labels = {**((template.get("metadata") or {}).get("labels") or {}), POD_NAME_LABEL: name,
              POD_INDEX_LABEL: str(index), REVISION_LABEL: revision(sts)}
    spec = template.get("spec") or {}
    spec["hostname"] = name
    if sts["spec"].get("serviceName"):
        spec["subdomain"] = sts["spec"]["serviceName"]
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": sts["metadata"]["namespace"], "labels": labels,
                         "annotations": dict((template.get("metadata") or {}).get("annotations") or {}),
                         "ownerReferences": [owner_reference(sts)]},
            "spec": spec}


def healthy(pod: dict) -> bool:
    return (pod.get("status") or {}).get("phase") == "Running" and is_ready(pod) and not is_terminating(pod)


def plan(sts: dict, pods: dict[int, dict]) -> tuple[list[int], list[str]]:
    """(ordinals to create, pod names to delete) for this sync."""
    spec = sts["spec"]
    replicas, ordered = spec.get("replicas", 1), spec.get("podManagementPolicy", "OrderedReady") == "OrderedReady"
    create, delete = [], []
    for index in range(replicas):
        pod = pods.get(index)
        if pod is None:
            create.append(index)
            if ordered:
                return create, delete
        elif ordered and not healthy(pod):
            return create, delete  # wait for it (terminating, pending or unready)
    extra = sorted((i for i in pods if i >= replicas), reverse=True)
    for index in extra:
        if not is_terminating(pods[index]):
            delete.append(pods[index]["metadata"]["name"])
            if ordered:
                return create, delete
    if extra and ordered:
        return create, delete
    strategy = spec.get("updateStrategy") or {}
    if strategy.get("type", "RollingUpdate") == "RollingUpdate":
        partition = (strategy.get("rollingUpdate") or {}).get("partition", 0)
        wanted = revision(sts)
        for index in sorted((i for i in pods if partition <= i < replicas), reverse=True):
            pod = pods[index]
            if pod["metadata"].get("labels", {}).get(REVISION_LABEL) != wanted and not is_terminating(pod):
                delete.append(pod["metadata"]["name"])
                return create, delete
    return create, delete


def status_of(sts: dict, pods: dict[int, dict], current: str) -> dict:
    wanted = revision(sts)
    live = [p for p in pods.values() if not is_terminating(p)]
    ready = sum(1 for p in live if is_ready(p))
    updated = sum(1 for p in live if p["metadata"].get("labels", {}).get(REVISION_LABEL) == wanted)
    status = {"observedGeneration": sts["metadata"].get("generation", 1), "replicas": len(pods),
              "readyReplicas": ready, "currentReplicas": len(live) - updated if current != wanted else updated,
              "updatedReplicas": updated, "currentRevision": wanted if updated == len(live) else current,
              "updateRevision": wanted, "collisionCount": 0, "availableReplicas": ready}
    return {k: v for k, v in status.items() if v or k in ("replicas", "availableReplicas", "observedGeneration",
                                                           "collisionCount")}


class StatefulSetController(_PodOwnerController):
    """Ordered, stable pods per StatefulSet; work items are (namespace, name)."""

    component, resource, kind = "statefulset-controller", "statefulsets.apps", "StatefulSet"

    def sync(self, key) -> None:
        sts = self.informer.get(self.resource, key[1], key[0])
        if sts is None or sts["metadata"].get("deletionTimestamp"):
            return
        uid = sts["metadata"]["uid"]
        pods = {}
        for pod in self.informer.dependents("pods", uid):
            index = ordinal(sts, pod)
            if index is not None and any(r.get("uid") == uid and r.get("controller")
                                         for r in pod["metadata"].get("ownerReferences") or []):
                pods[index] = pod
        self.owned_pods(sts)  # settles create expectations against the cache
        if not self.pending_creates(sts):
            create, delete = plan(sts, pods)
            for index in create:
                pod = new_pod(sts, index)
                self.create("pods", pod, namespace=key[0])
                self._creating.setdefault(uid, set()).add(pod["metadata"]["name"])
                self.event(sts, "Normal", "SuccessfulCreate",
                           f"create Pod {pod['metadata']['name']} in StatefulSet {key[1]} successful")
            for name in delete:
                self.store.delete("pods", name, key[0])
                self.event(sts, "Normal", "SuccessfulDelete", f"delete Pod {name} in StatefulSet {key[1]} successful")
        current = (sts.get("status") or {}).get("currentRevision") or revision(sts)
        self.write_status(sts, status_of(sts, pods, current))
