"""Builders shared by the tests: a controller harness and the objects the controller shells read.

`ControllerHarness` is the part of a `Cluster` a controller runs on (store, clock, config, shared
informer, Event recorder), built from the same classes the simulator uses, so a shell under test
reads through a real informer cache and writes real Events.
"""

from __future__ import annotations

import ipaddress
from dataclasses import replace

from helpers.config import load_cluster_config
from helpers.kube import ANNOTATION_TRIGGER_TIME, LABEL_HOSTNAME, LABEL_SERVICE_NAME, LABEL_ZONE
from helpers.sim import clock as clock_module
from helpers.sim.clock import Clock
from helpers.sim.cluster import INFORMED
from helpers.sim.controllers.informer import SharedInformer
from helpers.sim.controllers.recorder import EventRecorder
from helpers.sim.store import Store


class HandWall:
    """A wall clock the test moves by hand, in place of the `time` module inside helpers.sim.clock
    (`HandWall.install(monkeypatch)`): a reactor then only wakes when work is submitted, and a test can
    make it late by a chosen amount (`wall.seconds += 2`), as a CPU hog would."""

    def __init__(self):
        self.seconds = 0.0

    @classmethod
    def install(cls, monkeypatch) -> HandWall:
        wall = cls()
        monkeypatch.setattr(clock_module, "_time", wall)
        return wall

    def monotonic(self) -> float:
        return self.seconds

    def time(self) -> float:
        return 1_800_000_000.0


class ControllerHarness:
    """Store, clock, config, informer and recorder for one controller, in a namespace "ns".

    The clock hardly moves on its own (speed 1e-6): tests move it with `advance`. Call `stop()`.
    """

    def __init__(self, **config):
        self.clock = Clock(speed=1e-6)
        self.store = Store(self.clock)
        self.config = replace(load_cluster_config(), **config)
        self.recorder = EventRecorder(self.store, self.clock)
        self.informer = SharedInformer(self.store, self.clock, INFORMED)
        self.informer.start()
        self.store.create("namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ns"}})

    def events(self, reason: str | None = None) -> list[dict]:
        """The Events written so far (optionally of one reason), oldest first."""
        items = self.store.list("events")[0]
        return [e for e in items if reason is None or e["reason"] == reason]

    def stop(self) -> None:
        self.informer.stop()
        self.clock.stop()


def service(name: str = "svc", selector: dict | None = None, ports=({"port": 80},), *, namespace: str | None = "ns",
            **spec) -> dict:
    """A Service in `namespace` (None: none, for `kubectl apply -n`); `selector=None` makes it selectorless."""
    body = {"ports": [dict(p) for p in ports], **spec}
    if selector is not None:
        body["selector"] = selector
    meta = {"name": name} if namespace is None else {"name": name, "namespace": namespace}
    return {"apiVersion": "v1", "kind": "Service", "metadata": meta, "spec": body}


HTTP_PORT = {"name": "http", "port": 80, "targetPort": 80, "protocol": "TCP"}


def applied_service(name: str, selector: dict | None = None, **spec) -> dict:
    """A Service to `kubectl apply -n <ns>`: no namespace of its own, one TCP port named http (80 -> 80)."""
    return service(name, selector, (HTTP_PORT,), namespace=None, **spec)


def node(name: str = "node-1", ip: str | None = None, *, ready: bool | str = True, roles=(), zone: str | None = None,
         labels: dict | None = None, taints=(), unschedulable: bool = False, pod_cidr: str | None = None,
         cpu: str | None = None, heartbeat: str | None = None) -> dict:
    """A Node as its kubelet registers it: hostname, role and zone labels, InternalIP and Hostname
    addresses when `ip` is given, `pod_cidr` as spec.podCIDR(s), allocatable `cpu`, nodeInfo, and
    Ready ("True"/"False", or "Unknown" as a string); `heartbeat` adds the kubelet's heartbeat and
    transition times (and its MemoryPressure condition), as the node lifecycle controller reads them."""
    meta_labels = {LABEL_HOSTNAME: name, **{f"node-role.kubernetes.io/{r}": "" for r in roles}}
    if zone:
        meta_labels[LABEL_ZONE] = zone
    spec = {"unschedulable": unschedulable, "taints": list(taints)}
    if pod_cidr:
        spec |= {"podCIDR": pod_cidr, "podCIDRs": [pod_cidr]}
    ready_condition = {"type": "Ready", "status": ready if isinstance(ready, str) else ("True" if ready else "False")}
    conditions = [ready_condition]
    if heartbeat:
        ready_condition |= {"reason": "KubeletReady", "lastHeartbeatTime": heartbeat, "lastTransitionTime": heartbeat}
        conditions.insert(0, {"type": "MemoryPressure", "status": "False", "lastHeartbeatTime": heartbeat})
    status = {"conditions": conditions,
              "nodeInfo": {"kubeletVersion": "v1.37.0", "osImage": "Debian GNU/Linux 12 (bookworm)",
                           "kernelVersion": "6.8.0", "containerRuntimeVersion": "containerd://2.1.0"}}
    if ip:
        status["addresses"] = [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": name}]
    if cpu:
        status["allocatable"] = {"cpu": cpu}
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": {**meta_labels, **(labels or {})}},
            "spec": spec, "status": status}


def pod(name: str | None = None, *, labels: dict | None = None, node: str | None = None, image: str = "nginx:1.27",
        gates=(), **spec) -> dict:
    """A pod to create (no status): one container `web` on port 80, labelled app=web unless `labels`
    says otherwise; `name=None` gives it generateName "web-"; `gates` are readiness-gate conditions."""
    spec = {"containers": [{"name": "web", "image": image, "ports": [{"containerPort": 80}]}], **spec}
    if node:
        spec["nodeName"] = node
    if gates:
        spec["readinessGates"] = [{"conditionType": g} for g in gates]
    meta = {"name": name} if name else {"generateName": "web-"}
    return {"metadata": {**meta, "labels": {"app": "web"} if labels is None else labels}, "spec": spec}


def deployment(name, replicas=2, image="nginx:1.27"):
    """An apps/v1 Deployment of `replicas` pods (container `web`) selecting app=<name>."""
    labels = {"app": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "web", "image": image}]}}}}


def running(store, name, namespace, ip, *, ready=True, conditions=()):
    """Mark a pod Running with the given IP, as a kubelet would (through the status subresource)."""
    p = store.get("pods", name, namespace)
    p["status"] = {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}],
                   "conditions": [{"type": "Ready", "status": "True" if ready else "False"}, *conditions],
                   "containerStatuses": [{"name": c["name"], "ready": ready, "restartCount": 0,
                                          "image": c["image"], "state": {"running": {}}}
                                         for c in p["spec"]["containers"]]}
    return store.update("pods", p, subresource="status")


def pod_with_ip(ip: str, name: str = "p", node: str = "ghost", labels=None, ready: bool = True, *,
                namespace: str = "ns", ports=(), **spec) -> dict:
    """A Running pod with one IP and the given Ready condition, as the kubelet would have reported it;
    `ports` are its container's ports, `spec` more pod spec fields (hostname, subdomain...)."""
    container = {"name": "c", "image": "img", **({"ports": [dict(p) for p in ports]} if ports else {})}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(labels or {"app": "a"})},
        "spec": {"nodeName": node, "containers": [container], **spec},
        "status": {
            "phase": "Running",
            "podIP": ip,
            "podIPs": [{"ip": ip}],
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }


def create_running_pod(store, pod: dict) -> dict:
    """Create `pod`, then write its status through the status subresource (as create drops it)."""
    created = store.create("pods", pod, namespace=pod["metadata"]["namespace"])
    created["status"] = pod["status"]
    return store.update("pods", created, subresource="status")


# The fixture of upstream's controller tests (staging/src/k8s.io/endpointslice/utils_test.go newPod,
# newServiceAndEndpointMeta): Service `foo` in namespace `test` selecting foo=bar, pods `pod<n>`.


def selector_service(*, labels: dict | None = None, **spec) -> dict:
    """Service `foo` in "test" selecting foo=bar: one TCP port `foo` 80 -> 80, IPv4, no ClusterIP
    (headless, as upstream's fixture); `spec` keys replace the defaults."""
    body = {"selector": {"foo": "bar"}, "ports": [{"name": "foo", "port": 80, "targetPort": 80, "protocol": "TCP"}],
            "ipFamilies": ["IPv4"], **spec}
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "foo", "namespace": "test", "uid": "svc-uid", "labels": dict(labels or {})},
            "spec": body}


def numbered_pod(n: int, ready: bool = True, *, node: str = "node-1", ips=None, phase: str = "Running",
                 deleting: bool = False, first_ip: str = "1.2.3.4", **spec) -> dict:
    """Pod `pod<n>` in "test" (uid `uid-<n>`, label foo=bar) on `node`, with IP `first_ip` + n (upstream:
    1.2.3.(4+n)) unless `ips` says otherwise; Ready or not; `deleting` sets a deletionTimestamp."""
    ips = ips or [str(ipaddress.ip_address(first_ip) + n)]
    meta = {"name": f"pod{n}", "namespace": "test", "uid": f"uid-{n}", "labels": {"foo": "bar"}}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta,
            "spec": {"nodeName": node, "containers": [{"name": "c"}], **spec},
            "status": {"phase": phase, "podIP": ips[0], "podIPs": [{"ip": ip} for ip in ips],
                       "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


def scheduled_pod(name: str = "p", node: str | None = "n1", *, ready: bool = True, phase: str = "Running",
                  created: str = "2026-01-01T00:00:00Z", deleting: bool = False, ip: str | None = None,
                  **spec) -> dict:
    """A pod in "ns" as the node and pod controllers see it: uid = name, bound to `node` (None or "":
    unscheduled), created at `created`, Ready or not since then, with `ip` as its podIP if given;
    `deleting` sets a deletionTimestamp."""
    meta = {"name": name, "namespace": "ns", "uid": name, "creationTimestamp": created}
    if deleting:
        meta["deletionTimestamp"] = created
    return {"metadata": meta, "spec": {"nodeName": node, "containers": [{"name": "c", "image": "img"}], **spec},
            "status": {"phase": phase, **({"podIP": ip, "podIPs": [{"ip": ip}]} if ip else {}),
                       "conditions": [{"type": "Ready", "status": "True" if ready else "False",
                                       "lastTransitionTime": created}]}}


# What a kube-proxy reads: Service demo/web with a ClusterIP and its EndpointSlices.


def proxied_service(name: str = "web", *, port: int = 80, target_port: int | str = 8080, cluster_ip: str = "10.96.0.20",
                    itp: str | None = None, affinity: bool = False, labels: dict | None = None) -> dict:
    """ClusterIP Service `name` in "demo" with one TCP port `http`; `itp` sets internalTrafficPolicy,
    `affinity` sessionAffinity ClientIP."""
    spec = {"clusterIP": cluster_ip, "clusterIPs": [cluster_ip], "type": "ClusterIP",
            "ports": [{"name": "http", "port": port, "protocol": "TCP", "targetPort": target_port}]}
    if itp:
        spec["internalTrafficPolicy"] = itp
    if affinity:
        spec["sessionAffinity"] = "ClientIP"
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"namespace": "demo", "name": name, "labels": dict(labels or {})}, "spec": spec}


def endpoint(ip: str, node: str | None = None, zone: str | None = None, *, ready: bool = True,
             terminating: bool = False, hint: str | None = None) -> dict:
    """One EndpointSlice endpoint; serving is ready or terminating (as the controller writes it)."""
    ep = {"addresses": [ip], "conditions": {"ready": ready, "serving": ready or terminating, "terminating": terminating}}
    if node:
        ep["nodeName"] = node
    if zone:
        ep["zone"] = zone
    if hint:
        ep["hints"] = {"forZones": [{"name": hint}]}
    return ep


def endpoint_slice(endpoints, service: str = "web", *, name: str | None = None, namespace: str = "demo",
                   ports=(("http", 8080),), labels: dict | None = None, trigger_time: str | None = None) -> dict:
    """An IPv4 EndpointSlice of `service` (named `<service>-abc` unless `name`), TCP `ports` as (name, port)."""
    meta = {"namespace": namespace, "name": name or f"{service}-abc",
            "labels": {LABEL_SERVICE_NAME: service, **(labels or {})},
            "annotations": {ANNOTATION_TRIGGER_TIME: trigger_time} if trigger_time else {}}
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4", "metadata": meta,
            "ports": [{"name": n, "port": p, "protocol": "TCP"} for n, p in ports] if ports is not None else None,
            "endpoints": list(endpoints)}
