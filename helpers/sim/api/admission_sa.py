"""The ServiceAccount admission plugin's token mount (plugin/pkg/admission/serviceaccount/admission.go).

On pod create, unless the pod (first) or its ServiceAccount (then) sets ``automountServiceAccountToken:
false``, every container and init container that mounts nothing at
``/var/run/secrets/kubernetes.io/serviceaccount`` gets the ``kube-api-access-<5 chars>`` projected volume
there, read-only: the bound token (``expirationSeconds`` 3607, WarnOnlyBoundTokenExpirationSeconds), the
``kube-root-ca.crt`` ConfigMap's ``ca.crt`` and the pod's namespace (``TokenVolumeSource``). Mirror pods are
left alone. Not modelled: the plugin's 403 for a ServiceAccount that does not exist yet (the simulator admits
the pod; a real server refuses it until the serviceaccount controller created ``default``) and the copy of
the account's imagePullSecrets.
"""

from __future__ import annotations

VOLUME_PREFIX = "kube-api-access-"  # ServiceAccountVolumeName + "-"
MOUNT_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"  # DefaultAPITokenMountPath
MIRROR_ANNOTATION = "kubernetes.io/config.mirror"


def token_volume_source() -> dict:
    return {"defaultMode": 420, "sources": [
        {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
        {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
        {"downwardAPI": {"items": [{"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"},
                                    "path": "namespace"}]}},
    ]}


def mount_token(pod: dict, account: dict | None, suffix: str) -> None:
    """Add the token volume and mounts to ``pod`` in place, as mountServiceAccountToken does."""
    if MIRROR_ANNOTATION in (pod["metadata"].get("annotations") or {}):
        return
    spec = pod["spec"]
    wanted = spec.get("automountServiceAccountToken")
    if wanted is None:
        wanted = (account or {}).get("automountServiceAccountToken")
    if wanted is False:
        return
    existing = next((v["name"] for v in spec.get("volumes") or [] if v.get("name", "").startswith(VOLUME_PREFIX)),
                    None)
    name = existing or VOLUME_PREFIX + suffix
    needed = False
    for container in (spec.get("initContainers") or []) + (spec.get("containers") or []):
        mounts = container.setdefault("volumeMounts", [])
        if not any(m.get("mountPath") == MOUNT_PATH for m in mounts):
            mounts.append({"name": name, "readOnly": True, "mountPath": MOUNT_PATH})
            needed = True
    if needed and existing is None:
        spec.setdefault("volumes", []).append({"name": name, "projected": token_volume_source()})
