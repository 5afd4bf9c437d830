"""Storage as kind ships it, through the real kubectl: the `standard` StorageClass, the persistentvolume binder
(pkg/controller/volume/persistentvolume, v1.37.0) and kind's local-path provisioner, with the scheduler's
VolumeBinding step (the selected node, binding once the claim is bound)."""

from __future__ import annotations

from conftest import kubectl, wait_until

from helpers.sim.controllers.persistentvolume import best_match, quantity

# kubernetes.io "Configure a Pod to Use a PersistentVolume for Storage"
STATIC = """apiVersion: v1
kind: PersistentVolume
metadata: {name: task-pv-volume, labels: {type: local}}
spec: {storageClassName: manual, capacity: {storage: 10Gi}, accessModes: [ReadWriteOnce], hostPath: {path: /mnt/data}}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: task-pv-claim}
spec: {storageClassName: manual, accessModes: [ReadWriteOnce], resources: {requests: {storage: 3Gi}}}
"""
DYNAMIC = """apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data}
spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
---
apiVersion: v1
kind: Pod
metadata: {name: user}
spec:
  volumes: [{name: d, persistentVolumeClaim: {claimName: data}}]
  containers: [{name: c, image: nginx:1.27, volumeMounts: [{name: d, mountPath: /data}]}]
"""


def claim(handle, name):
    return handle.cluster.store.get("persistentvolumeclaims", name, "default")


def test_quantities_and_the_best_match_are_the_smallest_volume_that_fits():
    assert quantity("1Gi") == 2**30 and quantity("500M") == 5e8 and quantity("x") == 0
    pvc = {"metadata": {"uid": "u"}, "spec": {"storageClassName": "manual", "accessModes": ["ReadWriteOnce"],
                                              "resources": {"requests": {"storage": "3Gi"}}}}
    pv = lambda name, size, cls="manual": {"metadata": {"name": name}, "spec": {
        "storageClassName": cls, "accessModes": ["ReadWriteOnce"], "capacity": {"storage": size}}}
    assert best_match(pvc, [pv("big", "10Gi"), pv("small", "2Gi"), pv("fit", "5Gi"), pv("other", "3Gi", "x")])[
        "metadata"]["name"] == "fit"


def test_a_static_volume_becomes_available_and_binds_to_the_claim(private_sim):
    handle = private_sim
    kubectl(handle, "apply", "-f", "-", input=STATIC)
    wait_until(handle, lambda: (claim(handle, "task-pv-claim").get("status") or {}).get("phase") == "Bound",
               what="the claim bound")
    pv = kubectl(handle, "get", "pv", "task-pv-volume", "--no-headers").stdout.split()
    assert pv[:7] == ["task-pv-volume", "10Gi", "RWO", "Retain", "Bound", "default/task-pv-claim", "manual"], pv
    pvc = kubectl(handle, "get", "pvc", "task-pv-claim", "--no-headers").stdout.split()
    assert pvc[:6] == ["task-pv-claim", "Bound", "task-pv-volume", "10Gi", "RWO", "manual"], pvc


def test_a_wait_for_first_consumer_claim_is_provisioned_on_the_pods_node(private_sim):
    handle = private_sim
    kubectl(handle, "apply", "-f", "-", input=DYNAMIC.split("---")[0])
    wait_until(handle, lambda: any(e["reason"] == "WaitForFirstConsumer" for e in handle.cluster.store.list(
        "events", "default")[0]), what="the WaitForFirstConsumer Event")
    assert claim(handle, "data")["spec"]["storageClassName"] == "standard"  # the DefaultStorageClass admission
    assert kubectl(handle, "get", "pvc", "data", "--no-headers").stdout.split()[1] == "Pending"
    kubectl(handle, "apply", "-f", "-", input=DYNAMIC.split("---")[1])
    kubectl(handle, "wait", "--for=condition=Ready", "pod/user", "--timeout=60s")
    bound = claim(handle, "data")
    node = handle.cluster.store.get("pods", "user", "default")["spec"]["nodeName"]
    assert bound["metadata"]["annotations"]["volume.kubernetes.io/selected-node"] == node
    pv = handle.cluster.store.get("persistentvolumes", bound["spec"]["volumeName"])
    assert pv["metadata"]["name"] == f"pvc-{bound['metadata']['uid']}"
    assert pv["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"][0]["matchExpressions"][0]["values"] == [node]
    assert pv["spec"]["hostPath"]["path"] == f"/var/local-path-provisioner/{pv['metadata']['name']}_default_data"
    row = kubectl(handle, "get", "pv", "--no-headers").stdout.split()
    assert row[1:7] == ["1Gi", "RWO", "Delete", "Bound", "default/data", "standard"], row
    reasons = [e["reason"] for e in sorted(handle.cluster.store.list("events", "default")[0],
                                           key=lambda e: e["metadata"]["creationTimestamp"])
               if e["involvedObject"]["name"] == "data"]
    assert {"WaitForFirstConsumer", "ExternalProvisioning", "Provisioning", "ProvisioningSucceeded"} <= set(reasons)
    assert kubectl(handle, "get", "sc", "--no-headers").stdout.split()[:2] == ["standard", "(default)"]
