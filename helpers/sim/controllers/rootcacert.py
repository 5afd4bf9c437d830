"""The root-CA publisher: a ``kube-root-ca.crt`` ConfigMap in every namespace.

Upstream (pkg/controller/certificates/rootcacertpublisher/publisher.go, kube-controller-manager's
``root-ca-certificate-publisher-controller``): on every namespace add or update, and whenever that
ConfigMap changes or is deleted, ``syncNamespace`` creates it (``ca.crt`` plus the
``kubernetes.io/description`` annotation) or puts its data and annotation back. Pods' projected
service-account volumes read ``ca.crt`` from it. The simulator serves plain HTTP and holds no cluster CA,
so its ``ca.crt`` is empty: the ConfigMap is where kind has it, the certificate in it is not.
"""

from __future__ import annotations

from helpers.sim.api.errors import ApiError
from helpers.sim.controllers.controller import Controller

NAME = "kube-root-ca.crt"  # RootCACertConfigMapName
DESCRIPTION_ANNOTATION = "kubernetes.io/description"
DESCRIPTION = ("Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints "
               "such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across "
               "distributions of Kubernetes clusters.")
ROOT_CA = ""  # no CA: see the module docstring


def wanted(current: dict | None) -> dict | None:
    """The ConfigMap to write (a new one, or ``current`` repaired), or None when ``current`` is right."""
    data = {"ca.crt": ROOT_CA}
    if current is None:
        return {"metadata": {"name": NAME, "annotations": {DESCRIPTION_ANNOTATION: DESCRIPTION}}, "data": data}
    annotations = current["metadata"].get("annotations") or {}
    if current.get("data") == data and annotations.get(DESCRIPTION_ANNOTATION):
        return None
    meta = dict(current["metadata"], annotations={**annotations, DESCRIPTION_ANNOTATION: DESCRIPTION})
    return dict(current, metadata=meta, data=data)


class RootCACertPublisher(Controller):
    """Keeps ``kube-root-ca.crt`` in every namespace; work items are namespace names."""

    component = "root-ca-certificate-publisher-controller"

    def start(self) -> None:
        self.informer.on("namespaces", lambda _t, ns, _o: self.enqueue(ns["metadata"]["name"]))
        self.informer.on("configmaps", self._configmap_changed)
        for ns in self.informer.items("namespaces"):
            self.enqueue(ns["metadata"]["name"])

    def _configmap_changed(self, _type: str, cm: dict, _old) -> None:
        if cm["metadata"]["name"] == NAME:
            self.enqueue(cm["metadata"]["namespace"])

    def sync(self, namespace: str) -> None:
        ns = self.informer.get("namespaces", namespace)
        if ns is None or ns["metadata"].get("deletionTimestamp"):
            return
        current = self.informer.get("configmaps", NAME, namespace)
        obj = wanted(current)
        if obj is None:
            return
        try:
            if current is None:
                self.create("configmaps", obj, namespace=namespace)
            else:
                self.update("configmaps", obj)
        except ApiError as err:
            if err.code not in (403, 409) or current is not None:  # terminating namespace, or created meanwhile
                raise
