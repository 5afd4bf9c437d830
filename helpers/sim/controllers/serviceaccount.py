"""The service-account controller: a ``default`` ServiceAccount in every active namespace.

Upstream (pkg/controller/serviceaccount/serviceaccounts_controller.go, run by kube-controller-manager as
``serviceaccount-controller``): on every namespace add or update, and whenever a ServiceAccount is
deleted, ``syncNamespace`` creates each account of ``DefaultServiceAccountsControllerOptions`` (just
``default``) that the namespace lacks, unless the namespace is not ``Active``. An AlreadyExists answer
is success, as is a namespace that started terminating in between.
"""

from __future__ import annotations

from helpers.sim.api.errors import ApiError
from helpers.sim.controllers.controller import Controller

ENSURED = ("default",)  # DefaultServiceAccountsControllerOptions().ServiceAccounts


def missing_accounts(namespace: dict | None, existing: set[str]) -> list[str]:
    """The ensured accounts an Active namespace lacks (none for a missing or terminating namespace)."""
    if namespace is None or (namespace.get("status") or {}).get("phase") != "Active":
        return []
    return [name for name in ENSURED if name not in existing]


class ServiceAccountsController(Controller):
    """Keeps the ``default`` ServiceAccount in every namespace; work items are namespace names."""

    component = "serviceaccount-controller"

    def start(self) -> None:
        self.informer.on("namespaces", lambda _t, ns, _o: self.enqueue(ns["metadata"]["name"]))
        self.informer.on("serviceaccounts", self._account_changed)
        for ns in self.informer.items("namespaces"):
            self.enqueue(ns["metadata"]["name"])

    def _account_changed(self, event_type: str, sa: dict, _old) -> None:
        if event_type == "DELETED":
            self.enqueue(sa["metadata"]["namespace"])

    def sync(self, namespace: str) -> None:
        existing = {sa["metadata"]["name"] for sa in self.informer.items("serviceaccounts", namespace)}
        for name in missing_accounts(self.informer.get("namespaces", namespace), existing):
            try:
                self.create("serviceaccounts", {"metadata": {"name": name}}, namespace=namespace)
            except ApiError as err:
                if err.code not in (409, 403):  # AlreadyExists; NamespaceTerminating is Forbidden
                    raise
