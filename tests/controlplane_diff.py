"""Controller scenarios run on the real control plane and on the simulator, and their comparison.

Used by tests/test_oracle_controlplane.py and benchmarks/bench_fidelity.py. ``Lab`` holds both servers
(``controlplane_oracle.ControlPlane`` and a private simulator at speed 1, so node heartbeats and the node
monitor grace period mean the same wall-clock time on both) and two Nodes of its own that no kubelet
owns on either side: the lab is their kubelet. It creates them Ready, renews their Leases every
``LEASE_RENEW_S`` (the kubelet's 10 s, halved), and writes each pod's status (IP, phase, conditions) as
the kubelet would. ``lab.run(scenario)`` applies each step's writes to both servers, waits (watch-driven)
until the real controllers' state satisfies the step's ``until``, then until the simulator's state is
the same (bounded), and compares:

* EndpointSlices as a multiset of slices, each normalised to its labels, annotations, owner references
  (kind and name), address type, ports and the multiset of its endpoints (target refs without uids);
  generated names, uids, resourceVersions, managedFields and timestamps are dropped;
* Endpoints the same way (subsets' addresses sorted);
* the number of writes each step caused to EndpointSlices and Endpoints, counted from a watch opened
  before the step (compared only for ``count_writes`` steps, the single changes: a step of many writes,
  like creating a Service and its pods one by one, races the controllers' syncs, so how many of the lab's
  writes one sync covers depends on timing on both servers; seen on the real one: 3 or 4 writes for the
  same three pods).
"""

from __future__ import annotations

import contextlib
import difflib
import json
import random
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import pytest
from controlplane_oracle import Api, ControlPlane, hang_up, wait_for

from helpers.config import load_cluster_config
from helpers.kube import ANNOTATION_TRIGGER_TIME, format_micro_time, format_time
from helpers.sim import start_in_process

NODES = {"oracle-a": ("zone-a", "10.244.20", "172.18.1.10"), "oracle-b": ("zone-b", "10.244.21", "172.18.1.11"),
         "oracle-c": ("zone-b", "10.244.22", "172.18.1.12")}
DEFAULT_NODES = ("oracle-a", "oracle-b")  # registered for the lab's lifetime; oracle-c by the node-removal scenario
LEASE_RENEW_S = 5.0
STEP_TIMEOUT_S = 30.0
SLICES = "/apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices"
ENDPOINTS = "/api/v1/namespaces/{ns}/endpoints"
MERGE = "application/merge-patch+json"


def now_stamp() -> str:
    return format_time(datetime.now(UTC))


def micro_now() -> str:
    return format_micro_time(datetime.now(UTC))


def ipv6_prefix(prefix: str) -> str:
    """The node's IPv6 pod range beside its IPv4 one (10.244.20 -> fd00:10:244:20::), kind's dual-stack pod
    subnet fd00:10:244::/56 cut in /64s as node-cidr-mask-size-ipv6 64 does."""
    return f"fd00:10:244:{prefix.rsplit('.', 1)[1]}::"


def register_node(api: Api, name: str, dual: bool = False) -> None:
    """What a kubelet does when it starts: register its Node, report it Ready, create its Lease.
    ``dual``: the node has a podCIDR per family (IPv4 first), as on a dual-stack cluster."""
    zone, prefix, ip = NODES[name]
    stamp = now_stamp()
    cidrs = [f"{prefix}.0/24", *([f"{ipv6_prefix(prefix)}/64"] if dual else [])]
    node = {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
                                                  "topology.kubernetes.io/zone": zone}},
            "spec": {"podCIDR": cidrs[0], "podCIDRs": cidrs}}
    created = api.ok("POST", "/api/v1/nodes", node)
    status = {"status": {
        "addresses": [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": name}],
        "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                        "message": "kubelet is posting ready status", "lastHeartbeatTime": stamp,
                        "lastTransitionTime": stamp}],
        "capacity": {"cpu": "8", "memory": "16Gi", "pods": "300"},
        "allocatable": {"cpu": "8", "memory": "16Gi", "pods": "300"}}}
    api.ok("PATCH", f"/api/v1/nodes/{name}/status", status, content_type=MERGE)
    lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
             "metadata": {"name": name, "namespace": "kube-node-lease", "ownerReferences": [
                 {"apiVersion": "v1", "kind": "Node", "name": name, "uid": created["metadata"]["uid"]}]},
             "spec": {"holderIdentity": name, "leaseDurationSeconds": 40, "renewTime": micro_now()}}
    api.ok("POST", "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases", lease)


# -- what the lab writes, on either server ------------------------------------------------------------
class Kubelet:
    """The lab's writes to one server for one namespace: what kubectl users and kubelets would write."""

    def __init__(self, api: Api, namespace: str, dual: bool = False):
        self.api, self.ns, self.dual = api, namespace, dual
        # the time the lab's kubelet writes into conditions: one per step, the same on both servers, so
        # whether a Ready transition time changed (the trigger-time annotation) never differs between them
        self.stamp = now_stamp()

    def service(self, name: str, ports: list[dict], selector: dict | None = None, **spec) -> None:
        body = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "labels": {"oracle": name}},
                "spec": {"ports": ports, **({"selector": selector} if selector is not None else {}), **spec}}
        self.api.ok("POST", f"/api/v1/namespaces/{self.ns}/services", body)

    def patch_service(self, name: str, patch: dict) -> None:
        self.api.ok("PATCH", f"/api/v1/namespaces/{self.ns}/services/{name}", patch, content_type=MERGE)

    def pod(self, name: str, labels: dict, index: int, *, node: str | None = None, ports=None,
            ready: bool = True, single_ip: bool = False, **spec) -> None:
        node = node or DEFAULT_NODES[index % len(DEFAULT_NODES)]
        container = {"name": "app", "image": "registry.k8s.io/pause:3.10"}
        if ports:
            container["ports"] = ports
        body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels},
                "spec": {"nodeName": node, "containers": [container], "automountServiceAccountToken": False,
                         "terminationGracePeriodSeconds": 30, **spec}}
        self.api.ok("POST", f"/api/v1/namespaces/{self.ns}/pods", body)
        self.pod_status(name, node, index, ready, single_ip)

    def pod_status(self, name: str, node: str, index: int, ready: bool, single_ip: bool = False) -> None:
        """The kubelet's status write: Running with an IP from the node's range (on a dual-stack lab one per
        family, IPv4 first, unless ``single_ip``), Ready as given."""
        _, prefix, host_ip = NODES[node]
        host = index // len(DEFAULT_NODES) + 2
        ip = f"{prefix}.{host}"
        ips = [ip, *([f"{ipv6_prefix(prefix)}{host:x}"] if self.dual and not single_ip else [])]
        stamp = self.stamp
        flag = "True" if ready else "False"
        conditions = [{"type": t, "status": s, "lastTransitionTime": stamp, "lastProbeTime": None}
                      for t, s in (("PodReadyToStartContainers", "True"), ("Initialized", "True"),
                                   ("Ready", flag), ("ContainersReady", flag), ("PodScheduled", "True"))]
        status = {"phase": "Running", "podIP": ip, "podIPs": [{"ip": i} for i in ips], "hostIP": host_ip,
                  "hostIPs": [{"ip": host_ip}], "startTime": stamp, "conditions": conditions,
                  "containerStatuses": [{"name": "app", "ready": ready, "restartCount": 0, "started": True,
                                         "image": "registry.k8s.io/pause:3.10", "imageID": "",
                                         "state": {"running": {"startedAt": stamp}}}]}
        self.api.ok("PATCH", f"/api/v1/namespaces/{self.ns}/pods/{name}/status", {"status": status},
                    content_type=MERGE)

    def set_ready(self, name: str, ready: bool) -> None:
        pod = self.api.ok("GET", f"/api/v1/namespaces/{self.ns}/pods/{name}")
        stamp = self.stamp
        flag = "True" if ready else "False"
        for condition in pod["status"]["conditions"]:
            if condition["type"] in ("Ready", "ContainersReady") and condition["status"] != flag:
                condition.update(status=flag, lastTransitionTime=stamp)
        pod["status"]["containerStatuses"][0]["ready"] = ready
        self.api.ok("PUT", f"/api/v1/namespaces/{self.ns}/pods/{name}/status", pod)

    def fail_pod(self, name: str) -> None:
        """The kubelet reports the pod's container exited with an error: phase Failed, not Ready."""
        pod = self.api.ok("GET", f"/api/v1/namespaces/{self.ns}/pods/{name}")
        for condition in pod["status"]["conditions"]:
            if condition["type"] in ("Ready", "ContainersReady"):
                condition.update(status="False", lastTransitionTime=self.stamp)
        pod["status"]["phase"] = "Failed"
        pod["status"]["containerStatuses"][0].update(
            ready=False, started=False,
            state={"terminated": {"exitCode": 1, "reason": "Error", "startedAt": self.stamp, "finishedAt": self.stamp}})
        self.api.ok("PUT", f"/api/v1/namespaces/{self.ns}/pods/{name}/status", pod)

    def delete_pod(self, name: str, grace: int | None = None) -> None:
        query = "" if grace is None else f"?gracePeriodSeconds={grace}"
        self.api.ok("DELETE", f"/api/v1/namespaces/{self.ns}/pods/{name}{query}")

    def endpoints(self, name: str, subsets: list[dict], *, update: bool = False) -> None:
        body = {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": name}, "subsets": subsets}
        if update:
            current = self.api.ok("GET", f"/api/v1/namespaces/{self.ns}/endpoints/{name}")
            body["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
            self.api.ok("PUT", f"/api/v1/namespaces/{self.ns}/endpoints/{name}", body)
        else:
            self.api.ok("POST", f"/api/v1/namespaces/{self.ns}/endpoints", body)

    def delete(self, path: str) -> None:
        self.api.ok("DELETE", path.format(ns=self.ns))

    def register_node(self, name: str) -> None:
        register_node(self.api, name, self.dual)


@dataclass
class Step:
    name: str
    action: Callable[[Kubelet], None]
    until: Callable[[dict], bool]
    count_writes: bool = True
    timeout: float = STEP_TIMEOUT_S
    # bulk steps: which slice ends up holding which endpoint depends on how the lab's writes fell into the
    # controller's syncs, so they compare the endpoints of all slices together and the number of slices
    packing: bool = True


@dataclass
class Scenario:
    name: str
    steps: list[Step]
    xfail: str | None = None  # the precise, known difference (a simulator bug left open)

    def __str__(self) -> str:
        return self.name


# -- normalising --------------------------------------------------------------------------------------
def _meta(obj: dict) -> dict:
    meta = obj["metadata"]
    annotations = dict(meta.get("annotations") or {})
    if ANNOTATION_TRIGGER_TIME in annotations:
        annotations[ANNOTATION_TRIGGER_TIME] = "<time>"
    owners = sorted((o["kind"], o["name"], bool(o.get("controller")), bool(o.get("blockOwnerDeletion")))
                    for o in meta.get("ownerReferences") or [])
    return {"labels": meta.get("labels") or {}, "annotations": annotations, "owners": owners,
            "generateName": meta.get("generateName", "")}


def _ref(ref: dict | None):
    return {k: ref[k] for k in ("kind", "name", "namespace") if k in ref} if ref else None


def _sorted(items) -> list:
    return sorted(items, key=lambda item: json.dumps(item, sort_keys=True))


def _address(entry: dict) -> dict:
    return {**entry, "targetRef": _ref(entry["targetRef"])} if entry.get("targetRef") else entry


def normal_slice(obj: dict) -> str:
    return json.dumps({**_meta(obj), "addressType": obj.get("addressType"), "ports": _sorted(obj.get("ports") or []),
                       "endpoints": _sorted(_address(e) for e in obj.get("endpoints") or [])},
                      sort_keys=True, indent=1)


def normal_endpoints(obj: dict) -> str:
    subsets = [{**{key: _sorted(_address(a) for a in subset[key])
                   for key in ("addresses", "notReadyAddresses") if subset.get(key)},
                "ports": _sorted(subset.get("ports") or [])} for subset in obj.get("subsets") or []]
    return json.dumps({**_meta(obj), "name": obj["metadata"]["name"], "subsets": _sorted(subsets)},
                      sort_keys=True, indent=1)


def snapshot(slices: list[dict], endpoints: list[dict]) -> dict:
    return {"slices": sorted(normal_slice(s) for s in slices),
            "endpoints": sorted(normal_endpoints(e) for e in endpoints),
            "slice_sizes": sorted(len(s.get("endpoints") or []) for s in slices)}


# summaries for `until`
def slice_endpoints(snap: dict) -> list[dict]:
    return [e for s in snap["slices"] for e in json.loads(s)["endpoints"]]


def count(snap: dict, **conditions) -> int:
    return sum(all(e["conditions"].get(k) == v for k, v in conditions.items()) for e in slice_endpoints(snap))


def endpoints_addresses(snap: dict, key: str = "addresses") -> int:
    """How many distinct IPs the Endpoints list under ``key`` (an IP is in one subset per port set)."""
    return len({a["ip"] for e in snap["endpoints"] for s in json.loads(e)["subsets"] for a in s.get(key, [])})


# -- watching ------------------------------------------------------------------------------------------
class Recorder:
    """List+watch a namespace's EndpointSlices and Endpoints; count the events, keep the objects."""

    def __init__(self, api: Api, namespace: str):
        self.api, self.ns = api, namespace
        # the time the lab's kubelet writes into conditions: one per step, the same on both servers, so
        # whether a Ready transition time changed (the trigger-time annotation) never differs between them
        self.stamp = now_stamp()
        self.objects: dict[tuple[str, str], dict] = {}
        self.events = {"slices": 0, "endpoints": 0}
        self.changed = threading.Condition()
        self.stop_event = threading.Event()
        self.streams = []
        self.threads = []
        for kind, path in (("slices", SLICES), ("endpoints", ENDPOINTS)):
            listed = api.ok("GET", path.format(ns=namespace))
            for item in listed["items"]:
                self.objects[(kind, item["metadata"]["name"])] = item
            thread = threading.Thread(target=self._watch, args=(kind, path.format(ns=namespace),
                                                                listed["metadata"]["resourceVersion"]),
                                      daemon=True, name=f"recorder-{kind}")
            thread.start()
            self.threads.append(thread)

    def _watch(self, kind: str, path: str, rv: str):
        def on_event(event):
            obj = event["object"]
            with self.changed:
                if event["type"] == "DELETED":
                    self.objects.pop((kind, obj["metadata"]["name"]), None)
                elif event["type"] in ("ADDED", "MODIFIED"):
                    self.objects[(kind, obj["metadata"]["name"])] = obj
                else:
                    return
                self.events[kind] += 1
                self.changed.notify_all()

        with contextlib.suppress(OSError, ValueError, AttributeError):  # AttributeError: hung up mid-read
            self.api.watch(path, rv, self.stop_event, on_event, timeout_s=900, on_open=self.streams.append)

    def snapshot(self) -> dict:
        with self.changed:
            return snapshot([o for (k, _), o in self.objects.items() if k == "slices"],
                            [o for (k, _), o in self.objects.items() if k == "endpoints"])

    def wait(self, predicate, timeout: float) -> tuple[bool, dict]:
        deadline = time.monotonic() + timeout
        with self.changed:
            while True:
                snap = self.snapshot()
                if predicate(snap):
                    return True, snap
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False, snap
                self.changed.wait(remaining)

    def close(self):
        """Stop and hang up the watches (an open watch would hold up kube-apiserver's shutdown)."""
        self.stop_event.set()
        for stream in self.streams:
            hang_up(stream)


# -- the lab -------------------------------------------------------------------------------------------
@dataclass
class Outcome:
    scenario: str
    differences: list[str] = field(default_factory=list)
    # step, real (slice writes, Endpoints writes), sim (the same)
    writes: list[tuple[str, tuple, tuple]] = field(default_factory=list)


class Lab:
    """The real control plane and a simulator side by side, with the lab's two kubelet-less Nodes.
    ``config_path``: the kind config both start from (default kind-cluster.yaml; kind/dual-stack.yaml gives
    both two service CIDRs, and the lab's nodes and pods an address range / IP per family)."""

    def __init__(self, kubeconfig_dir, config_path=None):
        self.stop_event = threading.Event()
        self.heartbeat = threading.Thread(target=self._renew_leases, daemon=True, name="oracle-leases")
        self.sim = None
        config = load_cluster_config(config_path)
        self.dual = len(config.service_cidrs) > 1
        self.real = ControlPlane(config).start()
        try:
            self.sim = start_in_process(config_path, speed=1.0, kubeconfig_path=f"{kubeconfig_dir}/sim-kubeconfig")
            self.apis = {"real": self.real.api, "sim": Api(self.sim.url)}
            for api in self.apis.values():
                self._register_nodes(api)
            self.heartbeat.start()
        except BaseException:
            self.close()
            raise
        self._count = 0
        self._last_stamp: datetime | None = None

    def close(self):
        """Stop the heartbeats, the simulator and the control plane, the last whatever happens before."""
        try:
            self.stop_event.set()
            if self.heartbeat.is_alive():
                self.heartbeat.join(timeout=LEASE_RENEW_S * 2)
            if self.sim is not None:
                self.sim.stop()
        finally:
            self.real.stop()

    def _register_nodes(self, api: Api):
        for name in DEFAULT_NODES:
            register_node(api, name, self.dual)

    def _renew_leases(self):
        while not self.stop_event.wait(LEASE_RENEW_S):  # the kubelet's periodic heartbeat
            for api in self.apis.values():
                for name in NODES:  # a node the scenario removed answers 404, ignored
                    with contextlib.suppress(OSError, AssertionError):
                        api.ok("PATCH", f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{name}",
                               {"spec": {"renewTime": micro_now()}}, content_type=MERGE)

    def _step_stamp(self) -> str:
        """The Ready transition time a step's kubelet writes: now, but always a later second than the last
        step's. Two steps within one second would write the same time, and whether the trigger-time
        annotation then survives depends on whether a controller synced between the steps (upstream
        TriggerTimeTracker counts only a strictly later time as a change): a race, not a disagreement."""
        now = datetime.now(UTC).replace(microsecond=0)
        last = self._last_stamp
        self._last_stamp = now if last is None or now > last else last + timedelta(seconds=1)
        return format_time(self._last_stamp)

    def _namespace(self, scenario: str) -> str:
        self._count += 1
        return make_namespace(self, f"cp-{self._count}-{scenario}"[:63])

    def run(self, scenario: Scenario) -> Outcome:
        ns = self._namespace(scenario.name)
        kubelets = {label: Kubelet(api, ns, self.dual) for label, api in self.apis.items()}
        recorders = {label: Recorder(api, ns) for label, api in self.apis.items()}
        outcome = Outcome(scenario.name)
        try:
            for step in scenario.steps:
                before = {label: dict(rec.events) for label, rec in recorders.items()}
                stamp = self._step_stamp()
                for kubelet in kubelets.values():
                    kubelet.stamp = stamp
                    step.action(kubelet)
                done, real = recorders["real"].wait(step.until, step.timeout)
                if not done:
                    outcome.differences.append(f"{step.name}: the real control plane never satisfied the step's "
                                               f"condition within {step.timeout}s:\n{_show(real)}")
                    break
                key = snapshot_key if step.packing else unpacked
                expected = key(real)
                same, sim = recorders["sim"].wait(lambda snap, k=key, e=expected: k(snap) == e, step.timeout)
                writes = tuple(tuple(recorders[side].events[kind] - before[side][kind]
                                     for kind in ("slices", "endpoints")) for side in ("real", "sim"))
                outcome.writes.append((step.name, *writes))
                if not same:
                    outcome.differences.append(f"{step.name}: state differs (- real, + sim):\n"
                                               f"{diff(key(real), key(sim))}")
                elif step.count_writes and writes[0] != writes[1]:
                    outcome.differences.append(f"{step.name}: writes (EndpointSlices, Endpoints): real {writes[0]}, "
                                               f"sim {writes[1]}")
        finally:
            for rec in recorders.values():
                rec.close()
        return outcome


def make_namespace(lab: Lab, name: str) -> str:
    """The namespace ``name`` on both servers, once pods may be created in it: the ServiceAccount admission
    plugin admits them when the serviceaccount controller has made `default`."""
    for api in lab.apis.values():
        api.ok("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    wait_for(lab.apis["real"], f"/api/v1/namespaces/{name}/serviceaccounts",
             lambda items: any(i["metadata"]["name"] == "default" for i in items), STEP_TIMEOUT_S,
             f"the default ServiceAccount in {name}")
    return name


def snapshot_key(snap: dict) -> dict:
    return snap


def unpacked(snap: dict) -> dict:
    """The snapshot without what depends on how a bulk step's writes fell into syncs: which slice holds
    which endpoint and how full each slice is (compared: their union, the number of slices and that none
    holds more than maxEndpointsPerSlice; seen on the real one: [51, 99] or [50, 100] for the same 150
    pods, as the reconciler fills existing slices with what one sync adds), and the trigger-time
    annotation (absent when the last sync saw no Ready transition it had not seen before,
    trigger_time_tracker.go)."""
    sizes = snap["slice_sizes"]
    limit = load_cluster_config().max_endpoints_per_slice
    snap = {**snap, "slice_sizes": {"slices": len(sizes), f"none over {limit}": all(n <= limit for n in sizes)}}
    slices = [json.loads(s) for s in snap["slices"]]
    union = _sorted(e for s in slices for e in s.pop("endpoints"))
    endpoints = [json.loads(e) for e in snap["endpoints"]]
    for obj in slices + endpoints:
        obj["annotations"].pop(ANNOTATION_TRIGGER_TIME, None)
    return {**snap, "slices": sorted(json.dumps(s, sort_keys=True, indent=1) for s in slices),
            "endpoints": sorted(json.dumps(e, sort_keys=True, indent=1) for e in endpoints),
            "union": [json.dumps(e, sort_keys=True) for e in union]}


def _show(snap: dict) -> str:
    return "\n".join(snap["slices"] + snap["endpoints"])


def diff(real: dict, sim: dict) -> str:
    lines = []
    for key in ("slice_sizes", "slices", "endpoints", "union"):
        if key not in real:
            continue
        a = real[key] if key == "slice_sizes" else "\n".join(real[key]).splitlines()
        b = sim[key] if key == "slice_sizes" else "\n".join(sim[key]).splitlines()
        if a != b:
            if key == "slice_sizes":
                lines.append(f"slice sizes: real {a}, sim {b}")
            else:
                lines.extend(difflib.unified_diff(a, b, f"real {key}", f"sim {key}", lineterm="", n=2))
    return "\n".join(lines)


# -- the scenarios ----------------------------------------------------------------------------------
def port(name: str, number: int, target, protocol: str = "TCP") -> dict:
    return {"name": name, "port": number, "targetPort": target, "protocol": protocol}


def total(snap: dict) -> int:
    return len(slice_endpoints(snap))


def pods(kubelet: Kubelet, prefix: str, labels: dict, indexes, **kwargs) -> None:
    for index in indexes:
        kubelet.pod(f"{prefix}-{index}", labels, index, **kwargs)


WEB_PORTS = [port("http", 80, "web"), port("metrics", 9090, 9090), port("dns", 53, 5353, "UDP")]


def _multiport(k: Kubelet) -> None:
    k.service("web", WEB_PORTS, {"app": "web"})
    for index in range(3):  # web-2 names another number for `web`: its endpoint needs a slice of its own
        k.pod(f"web-{index}", {"app": "web"}, index,
              ports=[{"name": "web", "containerPort": 8081 if index == 2 else 8080}])


def _selector(k: Kubelet) -> None:
    k.service("sel", [port("", 80, 8080)], {"app": "a"})
    pods(k, "a", {"app": "a"}, range(2))
    pods(k, "b", {"app": "b"}, range(2, 5))


def _names(snap: dict) -> set[str]:
    return {e["targetRef"]["name"][0] for e in slice_endpoints(snap) if e.get("targetRef")}


def _scale(n_from: int, n_to: int):
    def action(k: Kubelet) -> None:
        pods(k, "big", {"app": "big"}, range(n_from, n_to))
    return action


def _not_ready_publish(k: Kubelet) -> None:
    k.service("pnr", [port("http", 80, 8080)], {"app": "pnr"}, publishNotReadyAddresses=True)
    k.pod("pnr-0", {"app": "pnr"}, 0)
    k.pod("pnr-1", {"app": "pnr"}, 1, ready=False)


def _flip(k: Kubelet) -> None:
    k.service("flip", [port("http", 80, 8080)], {"app": "flip"})
    pods(k, "flip", {"app": "flip"}, range(3))


def _graceful(k: Kubelet) -> None:
    k.service("grace", [port("http", 80, 8080)], {"app": "grace"})
    pods(k, "grace", {"app": "grace"}, range(2))


MIRRORED = [{"addresses": [{"ip": "10.1.0.5"}, {"ip": "10.1.0.6"}], "ports": [{"name": "http", "port": 8080}]}]
MIRRORED_2 = [{"addresses": [{"ip": "10.1.0.5"}, {"ip": "10.1.0.6"}, {"ip": "10.1.0.7"}],
               "notReadyAddresses": [{"ip": "10.1.0.8"}], "ports": [{"name": "http", "port": 8080}]}]


def _mirror(k: Kubelet) -> None:
    k.service("ext", [port("http", 80, 8080)])
    k.endpoints("ext", MIRRORED)


def _node_pods(k: Kubelet) -> None:
    k.register_node("oracle-c")
    k.service("gone", [port("http", 80, 8080)], {"app": "gone"})
    k.pod("gone-0", {"app": "gone"}, 0, node="oracle-a")
    k.pod("gone-1", {"app": "gone"}, 1, node="oracle-c")
    k.pod("gone-3", {"app": "gone"}, 3, node="oracle-c")


def _headless(k: Kubelet) -> None:
    k.service("hl", [port("http", 80, 8080)], {"app": "hl"}, clusterIP="None")
    for index in range(2):
        k.pod(f"hl-{index}", {"app": "hl"}, index, hostname=f"member-{index}", subdomain="hl")


def _owned(k: Kubelet) -> None:
    k.service("owned", [port("http", 80, 8080)], {"app": "owned"})
    pods(k, "owned", {"app": "owned"}, range(2))


def _zonal(name: str, **spec):
    def action(k: Kubelet) -> None:
        k.service(name, [port("http", 80, 8080)], {"app": name}, **spec)
        pods(k, name, {"app": name}, range(4))  # two per zone
    return action


def _hinted(snap: dict) -> bool:
    return total(snap) == 4 and all(e.get("hints") for e in slice_endpoints(snap))


def setup(action, until) -> Step:
    """A scenario's first step, many writes at once: its write count is not compared (see the docstring)."""
    return Step("create", action, until, count_writes=False)


def _scenarios() -> list[Scenario]:
    return [
        Scenario("multiport-named-ports", [
            setup(_multiport, lambda s: total(s) == 3 and len(s["slices"]) == 2
                 and endpoints_addresses(s) == 3)]),
        Scenario("selector-change", [
            setup(_selector, lambda s: total(s) == 2 and endpoints_addresses(s) == 2),
            Step("select-b", lambda k: k.patch_service("sel", {"spec": {"selector": {"app": "b"}}}),
                 lambda s: _names(s) == {"b"} and total(s) == 3 and endpoints_addresses(s) == 3)]),
        Scenario("publish-not-ready-addresses", [
            setup(_not_ready_publish, lambda s: total(s) == 2 and endpoints_addresses(s) == 2),
            Step("ready", lambda k: k.set_ready("pnr-1", True), lambda s: count(s, serving=True) == 2)]),
        Scenario("scale-0-1-150-250", [
            Step("0-pods", lambda k: k.service("big", [port("http", 80, 8080)], {"app": "big"}),
                 lambda s: len(s["slices"]) == 1 and len(s["endpoints"]) == 1),
            Step("1-pod", _scale(0, 1), lambda s: total(s) == 1 and endpoints_addresses(s) == 1),
            Step("150-pods", _scale(1, 150), lambda s: count(s, ready=True) == 150
                 and endpoints_addresses(s) == 150, count_writes=False, packing=False, timeout=120),
            Step("250-pods", _scale(150, 250), lambda s: count(s, ready=True) == 250
                 and endpoints_addresses(s) == 250, count_writes=False, packing=False, timeout=120)]),
        Scenario("readiness-flips", [
            setup(_flip, lambda s: count(s, ready=True) == 3 and endpoints_addresses(s) == 3),
            Step("not-ready", lambda k: k.set_ready("flip-1", False),
                 lambda s: count(s, ready=False) == 1 and endpoints_addresses(s, "notReadyAddresses") == 1),
            Step("ready-again", lambda k: k.set_ready("flip-1", True),
                 lambda s: count(s, ready=True) == 3 and endpoints_addresses(s) == 3)]),
        Scenario("graceful-deletion", [
            setup(_graceful, lambda s: count(s, ready=True) == 2 and endpoints_addresses(s) == 2),
            Step("delete", lambda k: k.delete_pod("grace-0"),
                 lambda s: count(s, terminating=True, serving=True) == 1 and endpoints_addresses(s) == 1),
            Step("containers-stop", lambda k: k.set_ready("grace-0", False),
                 lambda s: count(s, terminating=True, serving=False) == 1),
            Step("kubelet-deletes", lambda k: k.delete_pod("grace-0", 0), lambda s: total(s) == 1)]),
        Scenario("selectorless-mirroring", [
            Step("create", _mirror, lambda s: total(s) == 2),
            Step("update", lambda k: k.endpoints("ext", MIRRORED_2, update=True), lambda s: total(s) == 4),
            Step("delete", lambda k: k.delete(ENDPOINTS + "/ext"), lambda s: not s["slices"])]),
        Scenario("node-removal", [
            setup(_node_pods, lambda s: count(s, ready=True) == 3 and endpoints_addresses(s) == 3),
            # no kubelet deletes the pods: the pod GC deletes orphans after a 40 s quarantine (gc_controller.go)
            # the GC deletes both pods back to back: whether the Endpoints controller syncs once or twice
            # depends on when its worker runs (seen: real 1 or 2 Endpoints writes), so writes are not compared
            Step("delete-node", lambda k: k.api.ok("DELETE", "/api/v1/nodes/oracle-c"),
                 lambda s: total(s) == 1 and endpoints_addresses(s) == 1, count_writes=False, timeout=150)]),
        Scenario("headless-hostnames", [
            setup(_headless, lambda s: total(s) == 2 and endpoints_addresses(s) == 2)]),
        Scenario("failed-pod", [
            setup(_owned, lambda s: count(s, ready=True) == 2 and endpoints_addresses(s) == 2),
            # a terminal pod leaves the slices and the Endpoints (IsPodActive / ShouldPodBeInEndpoints)
            Step("fails", lambda k: k.fail_pod("owned-0"), lambda s: total(s) == 1 and endpoints_addresses(s) == 1)]),
        Scenario("traffic-distribution-prefer-close", [setup(_zonal("close", trafficDistribution="PreferClose"),
                                                              _hinted)]),
        Scenario("topology-mode-auto", [setup(_zonal("auto"), lambda s: total(s) == 4),
                                        Step("annotate", lambda k: k.api.ok(
                                            "PATCH", f"/api/v1/namespaces/{k.ns}/services/auto",
                                            {"metadata": {"annotations": {"service.kubernetes.io/topology-mode": "Auto"}}},
                                            content_type=MERGE), _hinted)]),
        Scenario("service-deletion", [
            setup(_owned, lambda s: count(s, ready=True) == 2 and endpoints_addresses(s) == 2),
            # the garbage collector deletes the owned slices; the Endpoints controller its Endpoints
            Step("delete", lambda k: k.delete("/api/v1/namespaces/{ns}/services/owned"),
                 lambda s: not s["slices"] and not s["endpoints"])]),
    ]


SCENARIOS = _scenarios()


# -- dual-stack (kind/dual-stack.yaml: two service CIDRs, a podCIDR and a pod IP per family) ------------
# The EndpointSlice controller keeps one slice set (and, with no endpoints, one placeholder) per family of
# the Service's spec.ipFamilies, each endpoint holding the pod's IP of that family
# (pkg/controller/endpointslice/reconciler.go reconcile: getAddressTypesForService); the Endpoints
# controller lists only the primary family's IPs (endpoints_controller.go podToEndpointAddressForService).
DUAL_STACK_CONFIG = "kind/dual-stack.yaml"


def families(snap: dict) -> dict[str, tuple[int, int]]:
    """addressType -> (number of slices, number of endpoints in them)."""
    found: dict[str, tuple[int, int]] = {}
    for s in map(json.loads, snap["slices"]):
        slices, endpoints = found.get(s["addressType"], (0, 0))
        found[s["addressType"]] = (slices + 1, endpoints + len(s["endpoints"]))
    return found


def _dual(name: str, **spec):
    """A Service and four pods: three with an IP per family, the fourth with only its IPv4 one."""
    def action(k: Kubelet) -> None:
        k.service(name, [port("http", 80, 8080)], {"app": name}, **spec)
        pods(k, name, {"app": name}, range(3))
        k.pod(f"{name}-3", {"app": name}, 3, single_ip=True)
    return action


def _dual_scenario(name: str, served: tuple[str, ...], **spec) -> Scenario:
    """Create, flip one pod not ready (one write per family's slice), delete every pod (a placeholder per
    family; the Endpoints keep no address)."""
    per_family = {"IPv4": 4, "IPv6": 3}
    created = {f: (1, per_family[f]) for f in served}
    primary = per_family[served[0]]

    def delete_all(k: Kubelet) -> None:
        for index in range(4):
            k.delete_pod(f"{name}-{index}", 0)

    return Scenario(name, [
        setup(_dual(name, **spec), lambda s: families(s) == created and endpoints_addresses(s) == primary),
        Step("not-ready", lambda k: k.set_ready(f"{name}-1", False),
             lambda s: count(s, ready=False) == len(served)
             and endpoints_addresses(s, "notReadyAddresses") == 1),
        Step("delete-pods", delete_all, lambda s: families(s) == {f: (1, 0) for f in served}
             and endpoints_addresses(s) + endpoints_addresses(s, "notReadyAddresses") == 0,
             count_writes=False)])


def _family_change(k: Kubelet, policy: str) -> None:
    k.patch_service("updown", {"spec": {"ipFamilyPolicy": policy}})


DUAL_STACK_SCENARIOS = [
    _dual_scenario("dual-default-single-stack", ("IPv4",)),
    _dual_scenario("dual-prefer-dual-stack", ("IPv4", "IPv6"), ipFamilyPolicy="PreferDualStack"),
    _dual_scenario("dual-require-dual-stack", ("IPv4", "IPv6"), ipFamilyPolicy="RequireDualStack"),
    _dual_scenario("dual-ipv6-single-stack", ("IPv6",), ipFamilies=["IPv6"]),
    _dual_scenario("dual-prefer-ipv6-first", ("IPv6", "IPv4"), ipFamilyPolicy="PreferDualStack",
                   ipFamilies=["IPv6", "IPv4"]),
    _dual_scenario("dual-headless", ("IPv4", "IPv6"), clusterIP="None", ipFamilyPolicy="RequireDualStack"),
    Scenario("dual-upgrade-downgrade", [
        setup(_dual("updown"), lambda s: families(s) == {"IPv4": (1, 4)}),
        # the secondary family's IP is allocated and its slices created; SingleStack releases both
        Step("upgrade", lambda k: _family_change(k, "PreferDualStack"),
             lambda s: families(s) == {"IPv4": (1, 4), "IPv6": (1, 3)}),
        Step("downgrade", lambda k: _family_change(k, "SingleStack"), lambda s: families(s) == {"IPv4": (1, 4)})]),
    Scenario("dual-selectorless-mirroring", [
        Step("create", lambda k: (k.service("ext", [port("http", 80, 8080)], ipFamilyPolicy="PreferDualStack"),
                                  k.endpoints("ext", MIRRORED_DUAL)),
             lambda s: families(s) == {"IPv4": (1, 2), "IPv6": (1, 1)}),
        Step("delete", lambda k: k.delete(ENDPOINTS + "/ext"), lambda s: not s["slices"])]),
]
# Services' IP families as kube-apiserver defaults and checks them (alloc.go initIPFamilyFields): a spec (merged
# over ports and a selector; None drops the selector) and an optional merge patch applied after the create.
SERVICE_FAMILY_CASES = {
    "default": ({}, None),
    "single-stack": ({"ipFamilyPolicy": "SingleStack"}, None),
    "prefer-dual-stack": ({"ipFamilyPolicy": "PreferDualStack"}, None),
    "require-dual-stack": ({"ipFamilyPolicy": "RequireDualStack"}, None),
    "ipv6": ({"ipFamilies": ["IPv6"]}, None),
    "ipv6-first-prefer": ({"ipFamilyPolicy": "PreferDualStack", "ipFamilies": ["IPv6", "IPv4"]}, None),
    "require-one-family-given": ({"ipFamilyPolicy": "RequireDualStack", "ipFamilies": ["IPv6"]}, None),
    "single-stack-two-families": ({"ipFamilyPolicy": "SingleStack", "ipFamilies": ["IPv4", "IPv6"]}, None),
    "duplicate-families": ({"ipFamilyPolicy": "PreferDualStack", "ipFamilies": ["IPv4", "IPv4"]}, None),
    "unknown-policy": ({"ipFamilyPolicy": "Both"}, None),
    "two-ipv4-cluster-ips": ({"ipFamilyPolicy": "PreferDualStack", "clusterIP": "10.96.0.50",
                              "clusterIPs": ["10.96.0.50", "10.96.0.51"]}, None),
    "requested-cluster-ips": ({"ipFamilyPolicy": "RequireDualStack", "clusterIP": "10.96.0.52",
                               "clusterIPs": ["10.96.0.52", "fd00:10:96::52"]}, None),
    "headless": ({"clusterIP": "None"}, None),
    "headless-selectorless": ({"clusterIP": "None", "selector": None}, None),
    "external-name": ({"type": "ExternalName", "externalName": "example.com"}, None),
    "upgrade-by-patch": ({}, {"spec": {"ipFamilyPolicy": "PreferDualStack"}}),
    "downgrade-by-patch": ({"ipFamilyPolicy": "RequireDualStack"}, {"spec": {"ipFamilyPolicy": "SingleStack"}}),
    "release-without-single-stack": ({"ipFamilyPolicy": "PreferDualStack"},
                                     {"spec": {"ipFamilies": ["IPv4"]}}),
}


def _family_summary(status: int, body) -> dict:
    """A Service answer without what allocation draws at random: policy, families, each cluster IP's family
    (a requested IP as it is), or the error's Status shape."""
    if status >= 300:
        return status_shape(status, body)
    spec = body["spec"]
    ips = spec.get("clusterIPs")
    requested = {"10.96.0.52", "fd00:10:96::52", "None"}
    return {"code": status, "ipFamilyPolicy": spec.get("ipFamilyPolicy"), "ipFamilies": spec.get("ipFamilies"),
            "clusterIPs": None if ips is None else [ip if ip in requested else
                                                    "IPv6" if ":" in ip else "IPv4" for ip in ips],
            "clusterIP is clusterIPs[0]": spec.get("clusterIP") == (ips or [None])[0]}


def service_family_answers(lab: Lab, namespace: str, case: str) -> dict:
    """Create (and patch) the case's Service on both servers; their summarised answers."""
    spec, patch = SERVICE_FAMILY_CASES[case]
    spec = {"ports": [{"port": 80, "targetPort": 8080}], "selector": {"app": "fam"}, **spec}
    if spec["selector"] is None:
        del spec["selector"]
    body = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": case}, "spec": spec}
    answers = {}
    for label, api in lab.apis.items():
        path = f"/api/v1/namespaces/{namespace}/services"
        answer = api.call("POST", path, body)
        if patch and answer[0] < 300:
            answer = api.call("PATCH", f"{path}/{case}", patch, content_type=MERGE)
        answers[label] = _family_summary(*answer)
    return answers


def families_namespace_for(lab: Lab) -> str:
    name = "cp-families"
    for api in lab.apis.values():
        api.ok("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    return name


MIRRORED_DUAL = [{"addresses": [{"ip": "10.1.0.5"}, {"ip": "fd00:10:1::5"}, {"ip": "10.1.0.6"}],
                  "ports": [{"name": "http", "port": 8080}]}]


# -- randomised scenarios -------------------------------------------------------------------------------
# A seeded sequence of single changes after a setup step. The generator keeps a model of the pods and the
# Service, and each step waits until the real controllers show what the model says follows (the exact
# endpoints, their conditions and ports, in the slices and in the Endpoints), so a step never compares a
# state the real controllers are still writing. The model is upstream's rules (v1.37.0):
# staging/src/k8s.io/endpointslice/utils.go podToEndpoint (serving = Ready, terminating = deleted,
# ready = publishNotReadyAddresses or serving and not terminating; terminating pods kept) and
# pkg/controller/endpoint/endpoints_controller.go (terminating pods left out unless
# publishNotReadyAddresses; not-ready ones under notReadyAddresses unless it is set).
RANDOM_SEEDS = (7, 19, 2026)
RANDOM_PORTS = {"numeric": [port("http", 80, 8080)], "named": [port("http", 80, "web")],
                "named+numeric": [port("http", 80, "web"), port("metrics", 9090, 9090)]}


@dataclass
class _ModelPod:
    index: int
    app: str
    web: int  # the number the pod's container port `web` names
    ready: bool = True
    terminating: bool = False


@dataclass
class _Model:
    app: str = "a"
    ports: str = "numeric"
    publish: bool = False
    pods: dict[str, _ModelPod] = field(default_factory=dict)

    def resolved(self, pod: _ModelPod) -> tuple:
        return tuple(sorted((p["name"], pod.web if p["targetPort"] == "web" else p["targetPort"])
                            for p in RANDOM_PORTS[self.ports]))

    def expected(self) -> dict:
        slices, endpoints = [], []
        for name, pod in self.pods.items():
            if pod.app != self.app:
                continue
            ports = self.resolved(pod)
            slices.append((name, self.publish or (pod.ready and not pod.terminating), pod.ready, pod.terminating,
                           ports))
            if self.publish or not pod.terminating:
                endpoints.append((name, "addresses" if self.publish or pod.ready else "notReadyAddresses", ports))
        return {"slices": sorted(slices), "endpoints": sorted(endpoints)}


def _ports_of(entries) -> tuple:
    return tuple(sorted((p.get("name", ""), p["port"]) for p in entries or []))


def random_summary(snap: dict) -> dict | None:
    """What a random scenario's model predicts, read from a snapshot (None before both objects exist)."""
    if not snap["slices"] or len(snap["endpoints"]) != 1:
        return None
    slices = [(e["targetRef"]["name"], e["conditions"]["ready"], e["conditions"]["serving"],
               e["conditions"]["terminating"], _ports_of(s["ports"]))
              for s in map(json.loads, snap["slices"]) for e in s["endpoints"]]
    endpoints = [(a["targetRef"]["name"], key, _ports_of(subset["ports"]))
                 for subset in json.loads(snap["endpoints"][0])["subsets"]
                 for key in ("addresses", "notReadyAddresses") for a in subset.get(key, [])]
    return {"slices": sorted(slices), "endpoints": sorted(endpoints)}


def _reaches(model: _Model):
    expected = model.expected()
    return lambda snap: random_summary(snap) == expected


def random_scenario(seed: int, changes: int = 7) -> Scenario:
    """A setup step (the Service and three pods) and ``changes`` random changes, each kind at most once
    before any repeats. A single change compares the number of writes too; two pods at once, or a grace-0
    deletion of a pod not yet terminating, compare neither the writes nor the packing (module docstring)."""
    rng = random.Random(seed)
    model, indexes = _Model(), iter(range(1000))

    def new_pod() -> tuple[str, _ModelPod]:
        index = next(indexes)
        return f"r-{index}", _ModelPod(index, rng.choice("ab"), rng.choice((8080, 8081)))

    def creating(made: list[tuple[str, _ModelPod]]):
        # the pods as they are now: later steps change the model's pods
        fixed = [(name, replace(pod)) for name, pod in made]

        def create(k: Kubelet) -> None:
            for name, pod in fixed:
                k.pod(name, {"app": pod.app}, pod.index, ports=[{"name": "web", "containerPort": pod.web}],
                      ready=pod.ready)
        return create

    first = [new_pod() for _ in range(3)]
    # the Service selects a ready and a not-ready pod from the start, so publishNotReadyAddresses matters
    first[0][1].app = first[1][1].app = "a"
    first[1][1].ready = False
    model.pods.update(first)

    create_first = creating(first)

    def start(k: Kubelet, ports=model.ports) -> None:
        k.service("rnd", RANDOM_PORTS[ports], {"app": "a"})
        create_first(k)

    steps = [Step(f"create service app=a {model.ports} + pods "
                  + ", ".join(f"{n}(app={p.app}, web={p.web}{'' if p.ready else ', not ready'})" for n, p in first),
                  start, _reaches(model),
                  count_writes=False)]
    kinds = ("create-pod", "create-pods", "delete-pod", "graceful-delete", "flip-ready", "selector", "ports",
             "publish")
    order = rng.sample(kinds, len(kinds))  # each kind once, in a random order, before any repeats
    while len(steps) < changes + 1:
        kind = order.pop() if order else rng.choice(kinds)
        live = sorted(n for n, p in model.pods.items() if not p.terminating)
        bulk = False
        if kind in ("create-pod", "create-pods"):
            made = [new_pod() for _ in range(1 if kind == "create-pod" else 2)]
            model.pods.update(made)
            name = "create " + ", ".join(f"{n}(app={p.app}, web={p.web})" for n, p in made)
            action, bulk = creating(made), len(made) > 1
        elif kind == "delete-pod" and model.pods:
            victim = rng.choice(sorted(model.pods))
            # kube-apiserver first writes deletionTimestamp (MODIFIED), then deletes (DELETED), unless the
            # pod already has one (registry/rest/delete.go BeforeDelete, store.go updateForGraceful-
            # DeletionAndFinalizers): whether one sync covers both pod events is timing (seen: real 1 or 2
            # slice writes), so only an already terminating pod's deletion is a single change
            bulk = not model.pods.pop(victim).terminating
            name, action = f"delete {victim} (grace 0)", lambda k, v=victim: k.delete_pod(v, 0)
        elif kind == "graceful-delete" and live:
            victim = rng.choice(live)
            model.pods[victim].terminating = True
            name, action = f"delete {victim} (graceful)", lambda k, v=victim: k.delete_pod(v)
        elif kind == "flip-ready":
            # a terminating pod's containers only stop: it can become not ready, never ready again
            flippable = sorted(n for n, p in model.pods.items() if not p.terminating or p.ready)
            if not flippable:
                continue
            target = model.pods[rng.choice(flippable)]
            target.ready = not target.ready
            name = f"{'ready' if target.ready else 'not-ready'} r-{target.index}"
            action = lambda k, n=f"r-{target.index}", r=target.ready: k.set_ready(n, r)
        elif kind == "selector":
            model.app = "b" if model.app == "a" else "a"
            name = f"selector app={model.app}"
            action = lambda k, a=model.app: k.patch_service("rnd", {"spec": {"selector": {"app": a}}})
        elif kind == "ports":
            model.ports = rng.choice(sorted(set(RANDOM_PORTS) - {model.ports}))
            name = f"ports {model.ports}"
            action = lambda k, p=model.ports: k.patch_service("rnd", {"spec": {"ports": RANDOM_PORTS[p]}})
        elif kind == "publish":
            model.publish = not model.publish
            name = f"publishNotReadyAddresses={str(model.publish).lower()}"
            action = lambda k, v=model.publish: k.patch_service(
                "rnd", {"spec": {"publishNotReadyAddresses": v}})
        else:
            continue
        steps.append(Step(name, action, _reaches(model), count_writes=not bulk, packing=not bulk))
    return Scenario(f"random-{seed}", steps)


# -- the API: the same malformed requests, the same answers ---------------------------------------------
# Leases: a namespaced resource both servers serve that no controller here touches.
def _lease(name: str, **extra) -> dict:
    return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": name},
            "spec": {"holderIdentity": "oracle"}, **extra}


def _config_map(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"a": "b"}}


CM = "/apis/coordination.k8s.io/v1/namespaces/{ns}/leases"
CORE = "/api/v1/namespaces/{ns}/configmaps"
REQUESTS = {
    "bad-json": ("POST", CM, b'{"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {'),
    "bad-json-value": ("POST", CM, b'{"metadata": x}'),
    "bad-json-delimiter": ("PUT", CM + "/existing", b'{"metadata": {"name": "existing"} "spec": {}}'),
    "not-json": ("POST", CM, b"not json"),
    "unknown-field-strict": ("POST", CM + "?fieldValidation=Strict", _lease("strict", bogus=1)),
    "wrong-kind": ("POST", CM, {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "wrong"}}),
    "not-found": ("GET", CM + "/nope", None),
    "invalid-name": ("POST", CM, _lease("Bad_Name")),
    "already-exists": ("POST", CM, _lease("existing")),
    "stale-resource-version": ("PUT", CM + "/existing", {**_lease("existing"),
                                                          "metadata": {"name": "existing", "resourceVersion": "1"}}),
    "bad-resource-version": ("PUT", CM + "/existing", {**_lease("existing"),
                                                        "metadata": {"name": "existing", "resourceVersion": "x"}}),
    "bad-label-selector": ("GET", CM + "?labelSelector=a%3D%3D%3Db", None),
    "label-selector-trailing-operator": ("GET", CM + "?labelSelector=a%3D%3Db%3D", None),
    "label-selector-set-without-parens": ("GET", CM + "?labelSelector=a%20in%20b", None),
    "label-selector-trailing-comma": ("GET", CM + "?labelSelector=a%2C", None),
    "bad-field-selector": ("GET", CM + "?fieldSelector=spec.holderIdentity%3Dx", None),
    "name-mismatch": ("PUT", CM + "/existing", _lease("other")),
    "delete-not-found": ("DELETE", CM + "/nope", None),
    "unknown-resource": ("GET", "/api/v1/namespaces/{ns}/widgets", None),
    "unknown-group": ("GET", "/apis/widgets.example.com/v1/widgets", None),
    "unknown-subresource": ("GET", CM + "/existing/scale", None),
    # a core resource: its StatusDetails have no group (omitempty), unlike a Lease's
    "core-not-found": ("GET", CORE + "/nope", None),
    "core-already-exists": ("POST", CORE, _config_map("existing")),
    "core-conflict": ("PUT", CORE + "/existing", {**_config_map("existing"),
                                                   "metadata": {"name": "existing", "resourceVersion": "1"}}),
    "core-delete": ("DELETE", CORE + "/doomed", None),
}


# Known differences, each precise (the simulator's answer is left as it is, for the reason given).
API_XFAIL = {
    "unknown-group": "kube-apiserver's mux answers a group it does not serve with text/plain '404 page not "
                     "found'; the simulator with a JSON Status (NotFound, 'the server could not find the requested "
                     "resource', details.causes UnexpectedServerResponse '404 page not found': what client-go makes "
                     "of the text answer)",
    "bad-resource-version": "kube-apiserver answers 500 with 'strconv.ParseUint: parsing \"x\": invalid syntax' "
                            "and no reason for a non-numeric metadata.resourceVersion on update; the simulator "
                            "answers 409 Conflict (bad input gets a 4xx here, deliberately)",
}


def with_known(cases, known: dict[str, str]) -> list:
    """``sorted(cases)`` for parametrize, each known difference a strict xfail with its reason."""
    return [pytest.param(c, marks=pytest.mark.xfail(strict=True, reason=known[c])) if c in known else c
            for c in sorted(cases)]


def status_shape(status: int, body) -> dict:
    if not isinstance(body, dict):
        return {"code": status, "body": body}
    details = dict(body.get("details") or {})
    details.pop("uid", None)
    return {"code": status, **{k: body.get(k) for k in ("kind", "apiVersion", "status", "reason", "message", "code")},
            "details": details, "metadata": body.get("metadata")}




def api_namespace_for(lab: Lab) -> str:
    """A namespace with the Lease `existing` and the ConfigMaps `existing` and `doomed` on both servers."""
    name = "cp-api"
    for api in lab.apis.values():
        api.ok("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
        api.ok("POST", CM.format(ns=name), _lease("existing"))
        for config_map in ("existing", "doomed"):
            api.ok("POST", CORE.format(ns=name), _config_map(config_map))
    return name


def api_answers(lab: Lab, namespace: str, case: str) -> dict:
    method, path, body = REQUESTS[case]
    return {label: status_shape(*api.call(method, path.format(ns=namespace), body))
            for label, api in lab.apis.items()}


# -- kubectl -o wide columns ------------------------------------------------------------------------------
WIDE = ("pods", "services", "endpointslices", "endpoints", "nodes")


def wide_namespace_for(lab: Lab) -> str:
    """A namespace with a Service and one ready pod behind it on both servers."""
    name = make_namespace(lab, "cp-wide")
    for api in lab.apis.values():
        kubelet = Kubelet(api, name)
        kubelet.service("wide", [port("http", 80, 8080)], {"app": "wide"})
        kubelet.pod("wide-0", {"app": "wide"}, 0)
    return name


def wide_headers(lab: Lab, namespace: str, resource: str) -> dict:
    """The column headers of `kubectl get <resource> -o wide` from both servers."""
    from conftest import KUBECTL

    headers = {}
    for label, kubeconfig in (("real", lab.real.kubeconfig), ("sim", lab.sim.kubeconfig)):
        result = subprocess.run([KUBECTL, f"--kubeconfig={kubeconfig}", f"--cache-dir={kubeconfig}.cache", "-n",
                                 namespace, "get", resource, "-o", "wide"],
                                capture_output=True, text=True, timeout=60, check=False)
        assert result.returncode == 0, result.stderr
        headers[label] = result.stdout.splitlines()[0].split()
    return headers


# -- deletions as a pod watch sees them ---------------------------------------------------------------------
DELETIONS = {"default grace, then the kubelet's grace 0": ("oracle-a", [None, 0]),
             "grace 0": ("oracle-a", [0]), "unbound": (None, [None])}


def deletions_namespace_for(lab: Lab) -> str:
    """A namespace on both servers whose `default` ServiceAccount exists (pods are admitted)."""
    return lab._namespace("deletions")


class _Deleted(Exception):
    """Ends a watch replay at its DELETED event."""


def deletion_events(api: Api, namespace: str, case: str) -> list[tuple]:
    """Create a pod, delete it as ``DELETIONS[case]`` says, then replay its watch from the creation:
    (type, deletionTimestamp set, deletionGracePeriodSeconds, generation) per event, up to the DELETED."""
    node, graces = DELETIONS[case]
    name = "del-" + "".join(c for c in case if c.isalnum())[:20].lower()
    spec = {"containers": [{"name": "app", "image": "registry.k8s.io/pause:3.10"}],
            "automountServiceAccountToken": False,
            **({"nodeName": node} if node else {"schedulerName": "oracle-none"})}  # stays unbound on both
    created = api.ok("POST", f"/api/v1/namespaces/{namespace}/pods",
                     {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec})
    for grace in graces:
        api.ok("DELETE", f"/api/v1/namespaces/{namespace}/pods/{name}"
                         + ("" if grace is None else f"?gracePeriodSeconds={grace}"))
    events = []

    def on_event(event):
        meta = event["object"]["metadata"]
        events.append((event["type"], "deletionTimestamp" in meta, meta.get("deletionGracePeriodSeconds"),
                       meta.get("generation")))
        if event["type"] == "DELETED":
            raise _Deleted

    with contextlib.suppress(_Deleted):
        api.watch(f"/api/v1/namespaces/{namespace}/pods?fieldSelector=metadata.name={name}",
                  created["metadata"]["resourceVersion"], threading.Event(), on_event, timeout_s=int(STEP_TIMEOUT_S))
    return events
