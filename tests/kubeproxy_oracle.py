"""Scenarios and comparisons behind tests/test_oracle_kubeproxy.py and `bench_fidelity.py --area kube-proxy`.

``Lab(mode)`` boots a simulator (kind-cluster.yaml for iptables, kind/kind-nftables.yaml for nftables, so
the simulated kube-proxy runs in the same mode) and a real kube-proxy per node (``netns.KernelNodes``).
``lab.run(scenario)`` creates the scenario's objects in a namespace of its own, waits until both the
model and every real kube-proxy have synced them, and compares, per node, the real rules with the model's
rules (``GET /sim/nodes/<node>/proxy``) loaded into a fresh namespace and read back by the same tools.

Waiting for a sync is event-driven through a fence: after the scenario's writes, the fence Service's
port and its EndpointSlice's endpoint port both move to a new number. kube-proxy's Service and
EndpointSlice informers each deliver their events in order, so once a node's rules show the new port
both as a Service port and as a DNAT target, every earlier write has reached that kube-proxy (and its
rules are read after each of its syncs). The fence is an ordinary Service in both rule sets.
"""

from __future__ import annotations

import difflib
import itertools
import json
import re
import subprocess
import threading
import time
import urllib.request
from dataclasses import dataclass, field

import netns

from helpers.config import REPO_ROOT
from helpers.nodes import backoff_pauses
from helpers.sim import start_in_process

CONFIGS = {"iptables": None, "nftables": REPO_ROOT / "kind" / "kind-nftables.yaml"}
SYNC_TIMEOUT_S = 20.0
MIN_SYNC_PERIOD_S = 1.0  # kube-proxy's minSyncPeriod (kind's default)
FENCE_NS = "kp-oracle-fence"
FENCE_IP = "10.244.3.250"  # outside every node's podCIDR, so it never looks local
SLICES = "endpointslices.discovery.k8s.io"
ZONES = {"endpoints-control-plane": "zone-a", "endpoints-worker": "zone-a", "endpoints-worker2": "zone-b"}
POD_CIDR_INDEX = {"endpoints-control-plane": 0, "endpoints-worker": 1, "endpoints-worker2": 2}


# -- objects --------------------------------------------------------------------------------------
def service(name: str, ports: list[dict], **spec) -> dict:
    """A selectorless Service (its EndpointSlices are written by the scenario, so they are exact)."""
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"ports": ports, **spec}}


def port(name: str, number: int, target: int | str, protocol: str = "TCP") -> dict:
    return {"name": name, "port": number, "targetPort": target, "protocol": protocol}


def endpoint(node: str, host: int, *, ready: bool = True, serving: bool | None = None,
             terminating: bool = False, hints: dict | None = None) -> dict:
    """An endpoint on ``node`` with the address 10.244.<node's /24>.<host>."""
    ep = {"addresses": [f"10.244.{POD_CIDR_INDEX[node]}.{host}"], "nodeName": node, "zone": ZONES[node],
          "conditions": {"ready": ready, "serving": ready if serving is None else serving,
                         "terminating": terminating}}
    if hints:
        ep["hints"] = hints
    return ep


def endpoint_slice(service_name: str, ports: list[dict], endpoints: list[dict], suffix: str = "a") -> dict:
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": f"{service_name}-{suffix}",
                         "labels": {"kubernetes.io/service-name": service_name,
                                    "endpointslice.kubernetes.io/managed-by": "oracle.endpoints.test"}},
            "addressType": "IPv4", "ports": ports, "endpoints": endpoints}


def slice_port(name: str, number: int, protocol: str = "TCP") -> dict:
    return {"name": name, "port": number, "protocol": protocol}


@dataclass
class Scenario:
    """Objects to create (Services, EndpointSlices), then Service status writes (LoadBalancer IPs)."""

    name: str
    objects: list[dict]
    statuses: dict[str, dict] = field(default_factory=dict)  # service name -> status

    def __str__(self) -> str:
        return self.name


WEB = [port("http", 80, 8080), port("https", 443, 8443), port("dns", 53, 5353, "UDP")]
WEB_SLICE = [slice_port("http", 8080), slice_port("https", 8443), slice_port("dns", 5353, "UDP")]
ONE = [port("", 80, 8080)]
ONE_SLICE = [slice_port("", 8080)]
SPREAD = [endpoint("endpoints-control-plane", 10), endpoint("endpoints-worker", 10),
          endpoint("endpoints-worker2", 10)]


def _scenarios() -> list[Scenario]:
    return [
        Scenario("clusterip-multiport", [service("web", WEB), endpoint_slice("web", WEB_SLICE, SPREAD)]),
        Scenario("named-target-ports", [
            service("named", [port("web", 80, "web"), port("admin", 9000, "admin")]),
            endpoint_slice("named", [slice_port("web", 8080), slice_port("admin", 9090)], SPREAD[:2])]),
        Scenario("nodeport", [service("np", ONE, type="NodePort"), endpoint_slice("np", ONE_SLICE, SPREAD)]),
        Scenario("loadbalancer", [
            service("lb", ONE, type="LoadBalancer"), endpoint_slice("lb", ONE_SLICE, SPREAD)],
            statuses={"lb": {"loadBalancer": {"ingress": [{"ip": "192.168.10.5"}, {"ip": "192.168.10.6"}]}}}),
        Scenario("loadbalancer-source-ranges", [
            service("lbsr", ONE, type="LoadBalancer", loadBalancerSourceRanges=["203.0.113.0/24"]),
            endpoint_slice("lbsr", ONE_SLICE, SPREAD[1:])],
            statuses={"lbsr": {"loadBalancer": {"ingress": [{"ip": "192.168.10.7"}]}}}),
        Scenario("external-ips", [service("ext", ONE, externalIPs=["198.51.100.9"]),
                                  endpoint_slice("ext", ONE_SLICE, SPREAD)]),
        Scenario("external-traffic-policy-local", [
            service("etp", ONE, type="LoadBalancer", externalTrafficPolicy="Local"),
            endpoint_slice("etp", ONE_SLICE, [endpoint("endpoints-worker", 20)])],
            statuses={"etp": {"loadBalancer": {"ingress": [{"ip": "192.168.10.8"}]}}}),
        Scenario("internal-traffic-policy-local", [
            service("itp", ONE, internalTrafficPolicy="Local"),
            endpoint_slice("itp", ONE_SLICE, [endpoint("endpoints-worker", 21), endpoint("endpoints-worker2", 21)])]),
        Scenario("client-ip-affinity", [
            service("sticky", ONE, sessionAffinity="ClientIP",
                    sessionAffinityConfig={"clientIP": {"timeoutSeconds": 600}}),
            endpoint_slice("sticky", ONE_SLICE, SPREAD)]),
        Scenario("no-endpoints", [service("empty", WEB), service("np-empty", ONE, type="NodePort")]),
        Scenario("terminating-only", [
            service("term", ONE), service("term-local", ONE, type="NodePort", externalTrafficPolicy="Local"),
            endpoint_slice("term", ONE_SLICE, [endpoint(n, 30, ready=False, serving=True, terminating=True)
                                               for n in ZONES]),
            endpoint_slice("term-local", ONE_SLICE,
                           [endpoint("endpoints-worker", 31, ready=True),
                            endpoint("endpoints-worker2", 31, ready=False, serving=True, terminating=True),
                            endpoint("endpoints-control-plane", 31, ready=False, serving=False, terminating=True)])]),
        Scenario("topology-zone-hints", [
            service("zonal", ONE, trafficDistribution="PreferClose"),
            endpoint_slice("zonal", ONE_SLICE, [
                endpoint(n, 40, hints={"forZones": [{"name": ZONES[n]}]}) for n in ZONES])]),
        Scenario("topology-node-hints", [
            service("nodal", ONE, trafficDistribution="PreferSameNode"),
            endpoint_slice("nodal", ONE_SLICE, [
                endpoint(n, 41, hints={"forZones": [{"name": ZONES[n]}], "forNodes": [{"name": n}]})
                for n in ("endpoints-worker", "endpoints-worker2")])]),
    ]


SCENARIOS = _scenarios()


# -- comparing ------------------------------------------------------------------------------------
# What of the model is loaded into the kernel: for iptables the model's iptables-save text (which is
# valid iptables-restore input); for nftables what the model says kube-proxy hands `nft -f` (the node's
# `nft list ruleset` form is nft 1.1.3's, which this machine's nft 1.0.6 cannot always read back:
# `priority dstnat - 10` on an output hook). Either way both sides come out of one kernel and one nft.
MODEL_FORMATS = {"iptables": "iptables", "nftables": "nft-input"}


# -- canonical order ------------------------------------------------------------------------------
# Where kube-proxy's output order comes from iterating a Go map it is not stable from one run to the next,
# so both sides are put in one order before they are compared, as upstream's own tests do:
# sortIPTablesRules (pkg/proxy/iptables/proxier_test.go, v1.36) stable-sorts KUBE-SERVICES and
# KUBE-NODEPORTS by the service named in each rule's comment, keeping nat KUBE-SERVICES' "must be the
# last rule" rule last; the service port's name is part of the key here, since a Service's ports come
# out of the same map (upstream's fixtures have one port per Service). `nft list` prints a table's sets, maps and chains in the order they were created
# (service chains in map order); their order carries no meaning (hook priorities order the base chains),
# so they are sorted by kind and name.
_SORTED_CHAINS = ("KUBE-SERVICES", "KUBE-NODEPORTS")
_COMMENT = re.compile(r'--comment (?:"([^"]*)"|(\S+))')


def _service_key(rule: str) -> tuple[int, str]:
    match = _COMMENT.search(rule)
    comment = (match.group(1) or match.group(2)) if match else ""
    return ("must be the last rule" in comment, comment.split(" ", 1)[0])


def canonical(mode: str, text: str) -> str:
    """``text`` (as ``netns.read_rules`` prints it) in an order that does not depend on map iteration."""
    return _canonical_iptables(text) if mode == "iptables" else _canonical_nft(text)


def _canonical_iptables(text: str) -> str:
    out, rules = [], {}
    for line in text.splitlines():
        if line.startswith("-A "):
            rules.setdefault(line.split()[1], []).append(line)
            continue
        if line == "COMMIT":
            for chain, chain_rules in rules.items():
                out.extend(sorted(chain_rules, key=_service_key) if chain in _SORTED_CHAINS else chain_rules)
            rules = {}
        out.append(line)
    return "\n".join(out) + "\n"


def _canonical_nft(text: str) -> str:
    lines = text.splitlines()
    if not lines:
        return text
    head, blocks, current = [], [], None
    for line in lines[1:-1]:
        if current is None and line.startswith("\t") and line.rstrip().endswith("{"):
            current = [line]
        elif current is not None:
            current.append(line)
            if line == "\t}":
                blocks.append(current)
                current = None
        elif line.strip():
            head.append(line)
    blocks.sort(key=lambda block: block[0].split()[:2])
    body = "\n\n".join("\n".join(block) for block in blocks)
    return "\n".join([lines[0], *head, body, lines[-1]]) + "\n"


@dataclass
class Comparison:
    """One node's real rules against the model's, both as the kernel prints them."""

    mode: str
    scenario: str
    node: str
    real: str
    model: str  # the model's text read back from a kernel ("" if the kernel refused it)
    load_error: str = ""

    @property
    def diff(self) -> list[str]:
        """``-`` lines only the real kube-proxy programmed, ``+`` lines only the model has, or the
        kernel's error for a model text it refused."""
        if self.load_error:
            return [f"! model refused by the kernel: {self.load_error}"]
        lines = difflib.unified_diff(canonical(self.mode, self.real).splitlines(),
                                     canonical(self.mode, self.model).splitlines(), "kube-proxy", "model",
                                     lineterm="", n=0)
        return [line for line in lines if line[:1] in "+-" and not line.startswith(("+++", "---"))]

    @property
    def agrees(self) -> bool:
        return not self.diff


def model_readback(mode: str, text: str) -> tuple[str, str]:
    """(read-back text, load error) for the model's rules."""
    try:
        return netns.kernel_readback(mode, text), ""
    except subprocess.CalledProcessError as err:
        return "", " ".join((err.stderr or "").split())


class Lab:
    """A simulator and a real kube-proxy per node, in one mode (see the module docstring)."""

    def __init__(self, mode: str):
        self.mode = mode
        self._fence = itertools.count(20001)
        self._sequence = itertools.count(1)
        self.sim = start_in_process(CONFIGS[mode])
        try:
            started = time.monotonic()
            self.kernel = netns.KernelNodes(self.sim, mode)
            self.kernel.wait_started()
            self.start_seconds = time.monotonic() - started
            self._create("namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": FENCE_NS}})
            self._create("services", service("fence", [port("", 20000, 20000)]), FENCE_NS)
            self._create(SLICES, endpoint_slice("fence", [slice_port("", 20000)],
                                                [{"addresses": [FENCE_IP], "conditions": {"ready": True}}]),
                         FENCE_NS)
        except BaseException:
            self.stop()
            raise

    @property
    def store(self):
        return self.sim.cluster.store

    def _create(self, resource: str, obj: dict, namespace: str | None = None) -> dict:
        return self.store.create(resource, obj, namespace=namespace)

    def stop(self) -> float:
        """Stop the kube-proxies, remove the namespaces, stop the simulator; the seconds it took."""
        started = time.monotonic()
        if hasattr(self, "kernel"):
            self.kernel.stop()
        self.sim.stop()
        return time.monotonic() - started

    # -- the fence --------------------------------------------------------------------------------
    def fence(self) -> int:
        """Move the fence to a new port; return it."""
        number = next(self._fence)
        svc = self.store.get("services", "fence", FENCE_NS)
        svc["spec"]["ports"][0].update(port=number, targetPort=number)
        self.store.update("services", svc)
        eps = self.store.get(SLICES, "fence-a", FENCE_NS)
        eps["ports"][0]["port"] = number
        self.store.update(SLICES, eps)
        return number

    def fenced(self, number: int):
        """A predicate: the rules show fence port ``number`` as a Service port and as a DNAT target."""
        service_mark = f"--dport {number}" if self.mode == "iptables" else f"tcp . {number} "
        target_mark = f"{FENCE_IP}:{number}" if self.mode == "iptables" else f"{FENCE_IP} . {number}"
        targets = (target_mark, f"dnat to {FENCE_IP}:{number}")
        return lambda text: service_mark in text and any(t in text for t in targets)

    def model_rules(self, node: str) -> str:
        url = f"{self.sim.url}/sim/nodes/{node}/proxy?format={MODEL_FORMATS[self.mode]}"
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.read().decode()

    def wait_model(self, node: str, predicate) -> str:
        """The model's rules for ``node`` once ``predicate`` holds. The simulated kube-proxy syncs within
        its minSyncPeriod of 1 s of *virtual* time, which a busy reactor can hold back (clock.py), so each
        re-read after a doubling pause first moves the virtual clock on by that period, as
        h.wait_for_rules does on the simulator."""
        deadline = time.monotonic() + SYNC_TIMEOUT_S
        clock = self.sim.cluster.clock
        for pause in backoff_pauses(0.05, 0.5):
            text = self.model_rules(node)
            if predicate(text):
                return text
            if time.monotonic() > deadline:
                proxy = self.sim.cluster.kube_proxies[node]
                last = proxy.syncs[-1].time if proxy.syncs else None
                tail = "".join(f"\n  {line}" for line in proxy.log_text().splitlines()[-8:])
                raise AssertionError(f"the simulated kube-proxy of {node} never synced the fence: virtual time "
                                     f"{clock.time():.3f}, its last sync at {last}, {len(proxy.syncs)} syncs, node "
                                     f"running: {self.sim.cluster.node_running(node)}; its log ends:{tail}")
            time.sleep(pause)  # bounded re-read of the model's rules, see the docstring
            clock.advance(MIN_SYNC_PERIOD_S)
        raise AssertionError("unreachable")

    def settle(self) -> dict[str, tuple[str, str]]:
        """Fence, then per node (real rules, model rules) once both have synced past the fence."""
        predicate = self.fenced(self.fence())
        out = {}
        for name, node in self.kernel.nodes.items():
            real = node.proxy.wait_for_rules(predicate, SYNC_TIMEOUT_S)
            out[name] = (real, self.wait_model(name, predicate))
        return out

    # -- scenarios --------------------------------------------------------------------------------
    def run(self, scenario: Scenario) -> list[Comparison]:
        namespace = f"kp-{next(self._sequence)}-{scenario.name}"[:63]
        self._create("namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
        try:
            for obj in scenario.objects:
                resource = "services" if obj["kind"] == "Service" else SLICES
                self._create(resource, json.loads(json.dumps(obj)), namespace)
            for name, status in scenario.statuses.items():
                svc = self.store.get("services", name, namespace)
                svc["status"] = status
                self.store.update("services", svc, subresource="status")
            results = []
            for node, (real, model) in self.settle().items():
                results.append(Comparison(self.mode, scenario.name, node, real, *model_readback(self.mode, model)))
            return results
        finally:
            self._remove(namespace)

    def _remove(self, namespace: str) -> None:
        """Delete the scenario's objects, then fence: the sync that removes its Services has to be
        over before the next scenario's writes. kube-proxy's nftables proxier only flushes a removed
        Service's chains in that sync and deletes them in the next one (``staleChains``, at least 1 s
        later), so a scenario's own sync then deletes the previous one's chains instead of leaving
        them, flushed, in its comparison."""
        for resource in (SLICES, "services"):
            items, _ = self.store.list(resource, namespace)
            for obj in items:
                self.store.delete(resource, obj["metadata"]["name"], namespace)
        self.store.delete("namespaces", namespace)
        self.settle()


# -- sync timing ------------------------------------------------------------------------------------
# A burst of EndpointSlice changes (one endpoint added per change, ``spacing`` seconds apart) after a quiet
# spell, and the syncs it causes on each node: the real kube-proxy's (from its log, wall time) and the model's
# (its sync records, the simulator's clock, which runs at wall speed here). Both follow
# pkg/proxy/runner/bounded_frequency_runner.go (v1.37.0): the first change syncs at once, later ones wait until
# minSyncPeriod after the last sync and coalesce into one sync. The offsets are from the burst's first write.
BURSTS = {"10-in-0.9s": (10, 0.1), "10-in-2.7s": (10, 0.3), "4-in-3s": (4, 1.0)}
SYNC_COUNT_TOLERANCE = 1  # the real one runs on wall time on a shared machine: one sync more or fewer
OFFSET_TOLERANCE_S = 0.35  # a sync's start, real vs model, once the counts agree


@dataclass
class SyncTiming:
    mode: str
    burst: str
    node: str
    real: list[float]  # seconds from the burst's first write to each sync's start
    model: list[float]

    @property
    def agrees(self) -> bool:
        if abs(len(self.real) - len(self.model)) > SYNC_COUNT_TOLERANCE:
            return False
        return len(self.real) != len(self.model) or all(
            abs(r - m) <= OFFSET_TOLERANCE_S for r, m in zip(self.real, self.model, strict=True))

    def __str__(self) -> str:
        show = lambda offsets: "[" + ", ".join(f"{o:.2f}" for o in offsets) + "]"
        return (f"{self.mode} {self.burst} on {self.node}: real {len(self.real)} syncs at {show(self.real)} s, "
                f"model {len(self.model)} at {show(self.model)} s")


def _burst_ip(index: int) -> str:
    return f"10.244.1.{100 + index}"


def sync_timing(lab: Lab, burst: str) -> list[SyncTiming]:
    """Run ``burst`` (``BURSTS``) on ``lab``; the syncs it caused on every node, real and model."""
    changes, spacing = BURSTS[burst]
    namespace = f"kp-burst-{next(lab._sequence)}"
    lab._create("namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    try:
        lab._create("services", service("burst", ONE), namespace)
        lab._create(SLICES, endpoint_slice("burst", ONE_SLICE, []), namespace)
        lab.settle()
        # the quiet spell: minSyncPeriod past every node's last sync (real: its end; model: it takes no
        # virtual time), so the burst's first change syncs at once on all of them
        ends = [node.proxy.syncs[-1].ended or time.time() for node in lab.kernel.nodes.values()]
        time.sleep(max(0.0, max(ends) + MIN_SYNC_PERIOD_S + 0.2 - time.time()))  # the input's timing
        clock = lab.sim.cluster.clock
        wall0, virtual0 = time.time(), clock.time()
        for index in range(changes):
            eps = lab.store.get(SLICES, "burst-a", namespace)
            eps["endpoints"] = [*(eps.get("endpoints") or []), {"addresses": [_burst_ip(index)], "conditions": {"ready": True}}]
            lab.store.update(SLICES, eps)
            if index < changes - 1:
                time.sleep(spacing)  # the burst's own spacing: it is the input being measured
        last = _burst_ip(changes - 1)
        results = []
        for name, node in lab.kernel.nodes.items():
            node.proxy.wait_for_rules(lambda text: last in text, SYNC_TIMEOUT_S)
            _wait_model_unforced(lab, name, last)
            with node.proxy.changed:
                real = [s.started - wall0 for s in node.proxy.syncs if s.started >= wall0 - 0.05]
            model = [r.time - virtual0 for r in lab.sim.cluster.kube_proxies[name].syncs if r.time >= virtual0]
            results.append(SyncTiming(lab.mode, burst, name, real, model))
        return results
    finally:
        lab._remove(namespace)


def _wait_model_unforced(lab: Lab, node: str, needle: str) -> None:
    """Until the model's rules for ``node`` hold ``needle``, without moving the virtual clock on (``wait_model``
    does, which would change the timing measured here); bounded re-reads."""
    deadline = time.monotonic() + SYNC_TIMEOUT_S
    for pause in backoff_pauses(0.05, 0.5):
        if needle in lab.model_rules(node):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"the simulated kube-proxy of {node} never programmed {needle}")
        time.sleep(pause)  # bounded re-read of the model's rules


# -- the report -----------------------------------------------------------------------------------
_lock = threading.Lock()
RESULTS: list[Comparison] = []


def record(results: list[Comparison]) -> None:
    with _lock:
        RESULTS.extend(results)


def report(results: list[Comparison] | None = None) -> str:
    """Per mode: how many scenarios agree on every node; then each disagreement's diff lines."""
    results = RESULTS if results is None else results
    lines = []
    for mode in CONFIGS:
        ours = [r for r in results if r.mode == mode]
        if not ours:
            continue
        names = list(dict.fromkeys(r.scenario for r in ours))
        agree = [n for n in names if all(r.agrees for r in ours if r.scenario == n)]
        lines.append(f"kube-proxy {mode}: {len(agree)}/{len(names)} scenarios agree on every node "
                     f"({sum(r.agrees for r in ours)}/{len(ours)} node comparisons)")
        for r in ours:
            if not r.agrees:
                lines.append(f"  {r.scenario} on {r.node}: {len(r.diff)} lines differ")
                lines.extend(f"    {line}" for line in r.diff)
    return "\n".join(lines)

