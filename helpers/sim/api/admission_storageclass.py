"""The DefaultStorageClass admission plugin (plugin/pkg/admission/storage/storageclass/setdefault/admission.go,
v1.37.0): a PersistentVolumeClaim created without ``spec.storageClassName`` gets the default class, the newest
StorageClass annotated as default, the first by name among equally new ones (pkg/volume/util GetDefaultClass).
An empty ``storageClassName`` is a class ("none") and stays.
"""

from __future__ import annotations

IS_DEFAULT = ("storageclass.kubernetes.io/is-default-class", "storageclass.beta.kubernetes.io/is-default-class")


def is_default(storage_class: dict) -> bool:
    annotations = storage_class["metadata"].get("annotations") or {}
    return any(annotations.get(key) == "true" for key in IS_DEFAULT)


def default_class(classes: list[dict]) -> str | None:
    """The name of the default StorageClass, None when no class is annotated as default."""
    defaults = sorted((c for c in classes if is_default(c)), key=lambda c: c["metadata"]["name"])
    newest = max(defaults, key=lambda c: c["metadata"].get("creationTimestamp", ""), default=None)
    return newest["metadata"]["name"] if newest else None


def admit(claim: dict, classes: list[dict]) -> None:
    """Set the default class on ``claim`` in place when it names none."""
    spec = claim.setdefault("spec", {})
    if spec.get("storageClassName") is None:
        name = default_class(classes)
        if name is not None:
            spec["storageClassName"] = name
