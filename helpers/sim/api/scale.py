"""The ``scale`` subresource: autoscaling/v1 ``Scale`` views of Deployments and ReplicaSets."""

from .selectors import format_requirements, label_requirements_from


def to_scale(obj: dict) -> dict:
    """The Scale object upstream returns for ``GET .../scale`` (``status.selector`` is a string)."""
    meta = obj["metadata"]
    return {
        "kind": "Scale", "apiVersion": "autoscaling/v1",
        "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
                     if k in meta},
        "spec": {"replicas": obj.get("spec", {}).get("replicas", 0)},
        "status": {"replicas": obj.get("status", {}).get("replicas", 0),
                   "selector": _selector_string(obj.get("spec", {}).get("selector"))},
    }


def _selector_string(selector) -> str:
    text = format_requirements(label_requirements_from(selector))
    return "" if text == "<none>" else text


def from_scale(obj: dict, scale: dict) -> dict:
    """``obj`` with the replica count a Scale write asks for (rv carried over for the conflict check)."""
    new = dict(obj)
    new["spec"] = {**obj.get("spec", {}), "replicas": (scale.get("spec") or {}).get("replicas", 0)}
    rv = (scale.get("metadata") or {}).get("resourceVersion")
    new["metadata"] = {**obj["metadata"], "resourceVersion": rv} if rv else obj["metadata"]
    return new
