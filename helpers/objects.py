"""Create and change objects in a chapter's sandbox namespace.

Writes go only to sandbox namespaces (labelled part-of=endpoints-notebooks), so a chapter run
against the wrong cluster cannot touch anything it did not create. Readiness is flipped through a
pod readiness gate condition patched into pods/status, which kind's kubelet and the simulated
kubelet both honour, so no real container has to fail a probe.
"""

from __future__ import annotations

import atexit
import re
from datetime import UTC, datetime
from typing import Self

import yaml

from helpers import trace
from helpers.config import AGNHOST_IMAGE
from helpers.connect import ApiError, Backend, HelperError, current, resource
from helpers.guard import PART_OF, RESERVED, UnsafeNamespace, check_writable, is_sandbox, registered
from helpers.kube import format_time
from helpers.wait import cluster_now, wait_for_deleted

CHAPTER_LABEL = "endpoints-notebooks/chapter"
READINESS_GATE = "endpoints-notebooks/ready"
FIELD_MANAGER = "endpoints-notebooks"
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


class Sandbox:
    """A fresh, labelled namespace for one chapter; cleanup() deletes it and everything in it."""

    def __init__(self, name: str, backend: Backend, timeout: float = 60):
        if not _DNS_LABEL.match(name) or name in RESERVED:
            raise HelperError(f"{name!r} cannot be a sandbox namespace",
                              "use a short lowercase name such as 'ch01' (letters, digits, '-')")
        self.name, self.backend, self.timeout = name, backend, timeout

    def create(self) -> Sandbox:
        """Delete a leftover of an earlier run (waiting until it is gone), then create the namespace."""
        self._delete()
        self.backend.request("POST", "/api/v1/namespaces", body={
            "apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": self.name, "labels": {PART_OF[0]: PART_OF[1], CHAPTER_LABEL: self.name}}})
        previous = registered.pop((self.backend.context, self.name), None)
        if previous is not None:  # a re-run replaced it: one exit-time cleanup per namespace is enough
            atexit.unregister(previous._cleanup_at_exit)
        registered[(self.backend.context, self.name)] = self
        atexit.register(self._cleanup_at_exit)
        return self

    def cleanup(self) -> None:
        """Delete the namespace and wait (bounded) until it and its objects are gone."""
        atexit.unregister(self._cleanup_at_exit)
        if registered.get((self.backend.context, self.name)) is self:
            del registered[(self.backend.context, self.name)]
        self._delete()

    def _delete(self) -> None:
        try:
            ns = self.backend.get("namespaces", self.name)
        except ApiError as err:
            if err.code == 404:
                return
            raise
        if not is_sandbox(ns):
            raise UnsafeNamespace(f"namespace {self.name} exists and is not a sandbox; not deleting it",
                                  "pick another sandbox name")
        if not ns["metadata"].get("deletionTimestamp"):
            self.backend.request("DELETE", f"/api/v1/namespaces/{self.name}", body={"propagationPolicy": "Background"})
        wait_for_deleted("namespaces", self.name, timeout=self.timeout, backend=self.backend)

    def _cleanup_at_exit(self) -> None:
        try:
            self._delete()
        except HelperError as err:  # the interpreter is exiting: report, do not raise
            print(f"sandbox {self.name}: cleanup failed: {err}")

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.cleanup()

    def __repr__(self) -> str:
        return f"Sandbox({self.name!r} on {self.backend.context})"


def sandbox(name: str, *, timeout: float = 60, backend: Backend | None = None) -> Sandbox:
    """A fresh sandbox namespace ``name`` (a leftover from an earlier run is deleted first)."""
    return Sandbox(name, backend or current(), timeout).create()


def deployment(name: str, *, replicas: int = 1, image: str = AGNHOST_IMAGE, labels: dict | None = None,
               port: int = 80, readiness_gate: bool = False, node_name: str | None = None,
               args: list[str] | None = None) -> dict:
    """A Deployment whose pods carry ``app=<name>``; with ``readiness_gate`` their readiness is
    controlled by set_ready().

    By default its pods answer: agnhost ``netexec --http-port=<port>`` (``/hostname`` replies with the
    pod name; it exits at once on SIGTERM). ``args`` replaces that command line, e.g.
    ``["serve-hostname", "--port=80"]``; another ``image`` runs with its own command unless ``args`` is given.
    """
    pod_labels = {"app": name, **(labels or {})}
    container = {"name": "app", "image": image, "ports": [{"name": "http", "containerPort": port}]}
    if args is None and image == AGNHOST_IMAGE:
        args = ["netexec", f"--http-port={port}"]
    if args is not None:
        container["args"] = list(args)
    pod_spec = {"containers": [container], "terminationGracePeriodSeconds": 5}
    if readiness_gate:
        pod_spec["readinessGates"] = [{"conditionType": READINESS_GATE}]
    if node_name:
        pod_spec["nodeName"] = node_name
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "labels": {"app": name}},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": pod_labels}, "spec": pod_spec}}}


def service(name: str, *, selector: dict | None = None, ports=((80, 80),), type: str = "ClusterIP",
            publish_not_ready: bool = False, **spec) -> dict:
    """A Service selecting ``app=<name>`` by default; ``ports`` are (port, targetPort) pairs or dicts."""
    port_list = [p if isinstance(p, dict) else {"port": p[0], "targetPort": p[1], "protocol": "TCP"}
                 for p in ports]
    for p in port_list:
        p.setdefault("name", "http" if len(port_list) == 1 else f"p{p['port']}")
    body = {"type": type, "selector": selector if selector is not None else {"app": name}, "ports": port_list,
            **spec}
    if publish_not_ready:
        body["publishNotReadyAddresses"] = True
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name}, "spec": body}


def _documents(items) -> list[dict]:
    docs = []
    for item in items:
        if isinstance(item, str):
            try:
                docs += [d for d in yaml.safe_load_all(item) if d]
            except yaml.YAMLError as err:
                raise HelperError(f"the manifest is not valid YAML: {err}",
                                  "check the indentation around the line named above") from None
        elif isinstance(item, list):
            docs += _documents(item)
        else:
            docs.append(item)
    return docs


def apply(*objs, namespace: str | None = None, backend: Backend | None = None) -> list[dict]:
    """Server-side apply dicts, lists of dicts or YAML strings; returns the stored objects."""
    backend = backend or current()
    stored = []
    for obj in _documents(objs):
        res = resource(obj.get("kind", ""))
        ns = obj.get("metadata", {}).get("namespace") or namespace
        name = (obj.get("metadata") or {}).get("name")
        check_writable(backend, ns, res.plural, name, (obj.get("metadata") or {}).get("labels"))
        if not name:
            raise HelperError(f"cannot apply a {res.kind} without metadata.name",
                              "server-side apply identifies objects by name; give it one")
        trace.note(f"apply {res.kind}/{name}")
        body = {**obj, "metadata": {**obj["metadata"], **({"namespace": ns} if res.namespaced else {})}}
        stored.append(backend.request("PATCH", res.path(ns, name), body=body,
                                      content_type="application/apply-patch+yaml",
                                      query={"fieldManager": FIELD_MANAGER, "force": "true"}))
    return stored


def get(kind: str, name: str, namespace: str | None = None, *, backend: Backend | None = None) -> dict:
    """One object as a dict."""
    return (backend or current()).get(kind, name, namespace)


def list_objects(kind: str, namespace: str | None = None, selector: str | None = None, *,
                 backend: Backend | None = None) -> list[dict]:
    """Objects of ``kind`` (all namespaces when ``namespace`` is None)."""
    return (backend or current()).list(kind, namespace, selector=selector)[0]


def scale(name: str, replicas: int, namespace: str, *, kind: str = "deployment",
          backend: Backend | None = None) -> dict:
    """Set replicas through the scale subresource (what `kubectl scale` does); returns the Scale."""
    backend = backend or current()
    check_writable(backend, namespace, kind, name)
    trace.note(f"scale {kind}/{name} --replicas={replicas}")
    return backend.request("PATCH", resource(kind).path(namespace, name, "scale"),
                           body={"spec": {"replicas": replicas}}, content_type="application/merge-patch+json")


def delete(kind: str, name: str, namespace: str | None = None, *, wait: bool = False, timeout: float = 60,
           backend: Backend | None = None) -> None:
    """Delete one object (dependents in the background); with ``wait``, until it is gone."""
    backend = backend or current()
    check_writable(backend, namespace, kind, name)
    trace.note(f"delete {kind}/{name}")
    backend.request("DELETE", resource(kind).path(namespace, name), body={"propagationPolicy": "Background"})
    if wait:
        wait_for_deleted(kind, name, namespace, timeout=timeout, backend=backend)


def label(kind: str, name: str, labels: dict, namespace: str | None = None, *,
          backend: Backend | None = None) -> dict:
    """Merge ``labels`` into the object's labels; a value of None removes that label."""
    backend = backend or current()
    check_writable(backend, namespace, kind, name, labels)
    trace.note(f"label {kind}/{name} " + " ".join(f"{k}={v}" if v is not None else f"{k}-" for k, v in labels.items()))
    return backend.request("PATCH", resource(kind).path(namespace, name),
                           body={"metadata": {"labels": labels}}, content_type="application/merge-patch+json")


def readiness_patch(ready: bool, now: datetime) -> dict:
    """The pods/status patch that sets the readiness-gate condition (merged by condition type)."""
    return {"status": {"conditions": [{"type": READINESS_GATE, "status": "True" if ready else "False",
                                       "lastTransitionTime": format_time(now)}]}}


def set_ready(pods, ready: bool = True, namespace: str | None = None, *,
              backend: Backend | None = None) -> list[dict]:
    """Flip the readiness gate of one pod or several (names or pod dicts); returns the updated pods.

    The pods must come from a template with ``readinessGates`` (deployment(..., readiness_gate=True));
    their kubelet then reports Ready only while this condition is True.
    """
    backend = backend or current()
    updated = []
    now = None  # the cluster's clock, not this machine's: the simulator's may be ahead (fast-forward)
    for pod in pods if isinstance(pods, list) else [pods]:
        name = pod["metadata"]["name"] if isinstance(pod, dict) else pod
        ns = pod["metadata"].get("namespace", namespace) if isinstance(pod, dict) else namespace
        check_writable(backend, ns, "pods")
        spec = pod.get("spec") if isinstance(pod, dict) else None
        gates = (spec or backend.get("pods", name, ns).get("spec") or {}).get("readinessGates") or []
        if not any(g.get("conditionType") == READINESS_GATE for g in gates):
            raise HelperError(f"pod {name} has no readiness gate {READINESS_GATE}, so set_ready would change "
                              "nothing", "create its Deployment with h.deployment(..., readiness_gate=True)")
        trace.note(f"set_ready pod/{name} {ready}")
        now = now or datetime.fromtimestamp(cluster_now(backend), UTC)
        updated.append(backend.request("PATCH", resource("pods").path(ns, name, "status"),
                                       body=readiness_patch(ready, now),
                                       content_type="application/strategic-merge-patch+json"))
    return updated
