"""Garbage collection and namespace deletion through kubectl."""

import json

from conftest import deployment, kubectl, pods_of, ready, wait_until


def rollout(handle, ns, name, replicas=2):
    kubectl(handle, "apply", "-n", ns, "-f", "-", input=json.dumps(deployment(name, replicas)))
    wait_until(handle, lambda: len(pods_of(handle, ns, name)) == replicas
               and all(ready(p) for p in pods_of(handle, ns, name)), what=f"{name} ready")


def listed(handle, resource, ns):
    return handle.cluster.store.list(resource, ns)[0]


def test_background_deletion_removes_replicasets_and_pods(sim, ns):
    rollout(sim, ns, "bg")
    kubectl(sim, "delete", "deployment", "bg", "-n", ns)
    wait_until(sim, lambda: not listed(sim, "replicasets.apps", ns) and not pods_of(sim, ns, "bg"),
               what="dependents collected")


def test_foreground_deletion_keeps_the_owner_until_dependents_are_gone(sim, ns):
    rollout(sim, ns, "fg")
    kubectl(sim, "delete", "deployment", "fg", "-n", ns, "--cascade=foreground", "--wait=false")
    owner = sim.cluster.store.get("deployments.apps", "fg", ns)
    assert owner["metadata"]["finalizers"] == ["foregroundDeletion"] and owner["metadata"]["deletionTimestamp"]
    wait_until(sim, lambda: not listed(sim, "deployments.apps", ns), what="owner removed at the end")
    assert not pods_of(sim, ns, "fg") and not listed(sim, "replicasets.apps", ns)


def test_orphan_deletion_leaves_the_replicaset_without_owner(sim, ns):
    rollout(sim, ns, "orphan")
    kubectl(sim, "delete", "deployment", "orphan", "-n", ns, "--cascade=orphan")
    wait_until(sim, lambda: not listed(sim, "deployments.apps", ns), what="owner gone")
    rs = wait_until(sim, lambda: [r for r in listed(sim, "replicasets.apps", ns)
                                  if not r["metadata"].get("ownerReferences")], what="orphaned ReplicaSet")
    assert rs[0]["spec"]["replicas"] == 2 and len(pods_of(sim, ns, "orphan")) == 2


def test_namespace_deletion_empties_the_namespace_then_removes_it(sim):
    name = "doomed"
    kubectl(sim, "apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "Namespace",
                                                       "metadata": {"name": name}}))
    rollout(sim, name, "web", 3)
    kubectl(sim, "delete", "namespace", name, "--wait=false")
    assert sim.cluster.store.get("namespaces", name)["status"]["phase"] == "Terminating"
    kubectl(sim, "wait", "--for=delete", f"namespace/{name}", "--timeout=30s")
    for resource in ("pods", "replicasets.apps", "deployments.apps", "events"):
        assert not listed(sim, resource, name)


def test_an_object_created_with_a_dangling_owner_is_collected(sim, ns):
    ghost = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "gone", "uid": "0000-dead",
             "controller": True, "blockOwnerDeletion": True}
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "stray", "labels": {"app": "stray"},
                                                           "ownerReferences": [ghost]},
           "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
    sim.cluster.store.create("pods", pod, namespace=ns)
    wait_until(sim, lambda: not pods_of(sim, ns, "stray"), what="the dangling dependent deleted")
