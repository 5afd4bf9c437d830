"""kube-controller-manager's persistentvolume-binder (pkg/controller/volume/persistentvolume/pv_controller.go,
v1.37.0) and kind's local-path provisioner (rancher/local-path-provisioner, the external provisioner of kind's
`standard` StorageClass).

The binder: a new PersistentVolume becomes Available; an unbound claim binds to the smallest Available volume
of its class whose access modes and capacity suffice (findBestMatchForClaim), or to the volume a provisioner
made for it: the volume's claimRef and phase Bound first, then the claim's volumeName, annotations and phase
Bound. A claim of a WaitForFirstConsumer class waits (the WaitForFirstConsumer Event) until the scheduler
names a node (``volume.kubernetes.io/selected-node``); then the binder hands it to the class's provisioner
(the storage-provisioner annotations, ExternalProvisioning). Unbound claims are looked at again every 15 s
(--pvclaimbinder-sync-period). Not modelled: deletion and reclaiming, volume expansion, the pvc/pv-protection
finalizers, label selectors on claims.

The provisioner makes ``pvc-<claim uid>``: a hostPath volume under /var/local-path-provisioner on the selected
node, with the node affinity that keeps the claim's pods there.
"""

from __future__ import annotations

import random
import re

from helpers.kube import LABEL_HOSTNAME
from helpers.sim.controllers.controller import Controller

RESYNC_S = 15.0  # --pvclaimbinder-sync-period
SELECTED_NODE = "volume.kubernetes.io/selected-node"
PROVISIONER_ANNOTATIONS = ("volume.beta.kubernetes.io/storage-provisioner", "volume.kubernetes.io/storage-provisioner")
BIND_COMPLETED, BOUND_BY_CONTROLLER = "pv.kubernetes.io/bind-completed", "pv.kubernetes.io/bound-by-controller"
PROVISIONED_BY = "pv.kubernetes.io/provisioned-by"
LOCAL_PATH = "rancher.io/local-path"
LOCAL_PATH_DIR = "/var/local-path-provisioner"
_UNITS = {"": 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18,
          "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_QUANTITY = re.compile(r"^([0-9.]+)(|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)$")


def quantity(text) -> float:
    """A storage size (``1Gi``, ``500M``, ``1024``) in bytes; 0 for what is not one."""
    match = _QUANTITY.match(str(text or ""))
    return float(match.group(1)) * _UNITS[match.group(2)] if match else 0.0


def class_of(obj: dict) -> str:
    return (obj.get("spec") or {}).get("storageClassName") or ""


def best_match(claim: dict, volumes: list[dict]) -> dict | None:
    """The volume the claim binds to: one pre-bound to it, else the smallest Available one that fits."""
    uid = claim["metadata"]["uid"]
    for pv in volumes:
        if ((pv["spec"].get("claimRef") or {}).get("uid")) == uid:
            return pv
    modes = set(claim["spec"].get("accessModes") or [])
    wanted = quantity(((claim["spec"].get("resources") or {}).get("requests") or {}).get("storage"))
    fits = [pv for pv in volumes if not pv["spec"].get("claimRef") and class_of(pv) == class_of(claim)
            and modes <= set(pv["spec"].get("accessModes") or [])
            and quantity((pv["spec"].get("capacity") or {}).get("storage")) >= wanted]
    return min(fits, key=lambda pv: (quantity(pv["spec"]["capacity"].get("storage")), pv["metadata"]["name"]),
               default=None)


def claim_ref(claim: dict) -> dict:
    meta = claim["metadata"]
    return {"kind": "PersistentVolumeClaim", "namespace": meta["namespace"], "name": meta["name"],
            "uid": meta["uid"], "apiVersion": "v1", "resourceVersion": meta.get("resourceVersion", "")}


class PersistentVolumeController(Controller):
    component = "persistentvolume-controller"
    resources = ("persistentvolumes", "persistentvolumeclaims")

    def on_event(self, event_type, resource, obj, old) -> None:
        if event_type == "DELETED":
            return
        self.enqueue((resource, obj["metadata"].get("namespace", ""), obj["metadata"]["name"]))
        ref = (obj.get("spec") or {}).get("claimRef") if resource == "persistentvolumes" else None
        if ref:  # a provisioned or bound volume: its claim may bind now
            self.enqueue(("persistentvolumeclaims", ref.get("namespace", ""), ref.get("name", "")))

    def initial_keys(self) -> list:
        return [(r, o["metadata"].get("namespace", ""), o["metadata"]["name"]) for r in self.resources
                for o in self.list(r)]

    def sync(self, key) -> None:
        resource, namespace, name = key
        obj = self.get(resource, name, namespace or None)
        if obj is None:
            return
        if resource == "persistentvolumes":
            if (obj.get("status") or {}).get("phase") == "Pending" and not obj["spec"].get("claimRef"):
                self.update("persistentvolumes", dict(obj, status={"phase": "Available"}), subresource="status")
        elif not obj["spec"].get("volumeName"):
            self._sync_unbound(obj)

    def _sync_unbound(self, claim: dict) -> None:
        """syncUnboundClaim: bind, or wait for a consumer, or hand the claim to its provisioner."""
        key = ("persistentvolumeclaims", claim["metadata"]["namespace"], claim["metadata"]["name"])
        volume = best_match(claim, self.list("persistentvolumes"))
        if volume is not None:
            self._bind(claim, volume)
            return
        self.enqueue(key, RESYNC_S)
        name = class_of(claim)
        storage_class = self.get("storageclasses.storage.k8s.io", name) if name else None
        annotations = claim["metadata"].get("annotations") or {}
        if storage_class is None:
            self.event(claim, "Warning", "ProvisioningFailed" if name else "FailedBinding",
                       f'storageclass.storage.k8s.io "{name}" not found' if name
                       else "no persistent volumes available for this claim and no storage class is set")
        elif storage_class.get("volumeBindingMode") == "WaitForFirstConsumer" and SELECTED_NODE not in annotations:
            self.event(claim, "Normal", "WaitForFirstConsumer", "waiting for first consumer to be created before binding")
        else:
            provisioner = storage_class.get("provisioner", "")
            if any(annotations.get(a) != provisioner for a in PROVISIONER_ANNOTATIONS):
                claim = dict(claim, metadata=dict(claim["metadata"], annotations={
                    **annotations, **dict.fromkeys(PROVISIONER_ANNOTATIONS, provisioner)}))
                claim = self.update("persistentvolumeclaims", claim)
            self.event(claim, "Normal", "ExternalProvisioning",
                       f"Waiting for a volume to be created either by the external provisioner '{provisioner}' or "
                       "manually by the system administrator. If volume creation is delayed, please verify that the "
                       "provisioner is running and correctly registered.")

    def _bind(self, claim: dict, volume: dict) -> None:
        """bind(): the volume's claimRef and phase, then the claim's volumeName, annotations and phase."""
        if (volume["spec"].get("claimRef") or {}).get("uid") != claim["metadata"]["uid"]:
            volume = dict(volume, spec=dict(volume["spec"], claimRef=claim_ref(claim)), metadata=dict(
                volume["metadata"], annotations={**(volume["metadata"].get("annotations") or {}),
                                                 BOUND_BY_CONTROLLER: "yes"}))
            volume = self.update("persistentvolumes", volume)
        if (volume.get("status") or {}).get("phase") != "Bound":
            volume = self.update("persistentvolumes", dict(volume, status={"phase": "Bound"}), subresource="status")
        annotations = {**(claim["metadata"].get("annotations") or {}), BIND_COMPLETED: "yes",
                       BOUND_BY_CONTROLLER: "yes"}
        claim = self.update("persistentvolumeclaims", dict(
            claim, metadata=dict(claim["metadata"], annotations=annotations),
            spec=dict(claim["spec"], volumeName=volume["metadata"]["name"])))
        self.update("persistentvolumeclaims", dict(claim, status={
            "phase": "Bound", "accessModes": list(volume["spec"].get("accessModes") or []),
            "capacity": dict(volume["spec"].get("capacity") or {})}), subresource="status")


class LocalPathProvisioner(Controller):
    """local-path-provisioner: provisions the claims the binder handed to rancher.io/local-path."""

    component = LOCAL_PATH
    field_manager = "local-path-provisioner"
    resources = ("persistentvolumeclaims",)
    PROVISION_S = (1.0, 3.0)  # the helper pod that creates the directory on the node

    def __init__(self, cluster):
        super().__init__(cluster)
        self.rng = random.Random(f"{cluster.seed}-local-path")

    def on_event(self, event_type, resource, obj, old) -> None:
        annotations = obj["metadata"].get("annotations") or {}
        if (event_type != "DELETED" and annotations.get(PROVISIONER_ANNOTATIONS[1]) == LOCAL_PATH
                and SELECTED_NODE in annotations and not obj["spec"].get("volumeName")):
            self.enqueue((obj["metadata"]["namespace"], obj["metadata"]["name"]))

    def sync(self, key) -> None:
        claim = self.get("persistentvolumeclaims", key[1], key[0])
        if claim is None or claim["spec"].get("volumeName") or self.get(
                "persistentvolumes", f"pvc-{claim['metadata']['uid']}"):
            return
        self.event(claim, "Normal", "Provisioning",
                   f'External provisioner is provisioning volume for claim "{key[0]}/{key[1]}"')
        self.clock.call_later(self.rng.uniform(*self.PROVISION_S), self._provisioned, key, claim["metadata"]["uid"])

    def _provisioned(self, key, uid: str) -> None:
        claim = self.get("persistentvolumeclaims", key[1], key[0])
        if claim is None or claim["metadata"]["uid"] != uid or self.get("persistentvolumes", f"pvc-{uid}"):
            return
        node = claim["metadata"]["annotations"][SELECTED_NODE]
        storage_class = self.get("storageclasses.storage.k8s.io", class_of(claim)) or {}
        name = f"pvc-{uid}"
        self.create("persistentvolumes", {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {
            "name": name, "annotations": {"local.path.provisioner/selected-node": node, PROVISIONED_BY: LOCAL_PATH}},
            "spec": {"accessModes": list(claim["spec"].get("accessModes") or []),
                     "capacity": {"storage": ((claim["spec"].get("resources") or {}).get("requests") or {}).get(
                         "storage", "0")},
                     "claimRef": claim_ref(claim),
                     "hostPath": {"path": f"{LOCAL_PATH_DIR}/{name}_{key[0]}_{key[1]}", "type": "DirectoryOrCreate"},
                     "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                         {"key": LABEL_HOSTNAME, "operator": "In", "values": [node]}]}]}},
                     "persistentVolumeReclaimPolicy": storage_class.get("reclaimPolicy", "Delete"),
                     "storageClassName": class_of(claim), "volumeMode": "Filesystem"}})
        self.event(claim, "Normal", "ProvisioningSucceeded", f"Successfully provisioned volume {name}")
