"""Requests on the simulator: which pod answers, through each node's kube-proxy rules and conntrack."""

from __future__ import annotations

import math
from collections import Counter

import pytest
from builders import service

from helpers.kube import format_time
from helpers.objects import READINESS_GATE
from helpers.sim import images
from helpers.sim.api.errors import ApiError

NS = "traffic"


def _pod(name: str, *, args=("netexec",), labels=None, gate=False, pre_stop: float = 0, image=images.AGNHOST_IMAGE):
    container = {"name": "app", "image": image, "args": list(args)}
    if pre_stop:
        container["lifecycle"] = {"preStop": {"sleep": {"seconds": pre_stop}}}
    spec = {"containers": [container], "terminationGracePeriodSeconds": 30}
    if gate:
        spec["readinessGates"] = [{"conditionType": READINESS_GATE}]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels or {"app": "web"}},
            "spec": spec}


# The Service's ports: HTTP to agnhost netexec's 8080, DNS to its UDP 8081.
HTTP = {"port": 80, "targetPort": 8080, "protocol": "TCP"}
DNS = {"port": 53, "targetPort": 8081, "protocol": "UDP"}
WEB = {"app": "web"}
# Service web selecting app=web, 80 -> 8080 (the store copies what it is given).
WEB_SERVICE = service("web", WEB, (HTTP,), namespace=None)


class World:
    def __init__(self, cluster):
        self.cluster, self.store, self.clock = cluster, cluster.store, cluster.clock
        self.workers = [n for n in cluster.node_names() if "worker" in n]
        self.store.create("namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
        for i, node in enumerate(self.workers):
            self.run(_pod(f"client{i}", args=("pause",), labels={"role": "client"}), node)

    def run(self, pod: dict, node: str) -> dict:
        pod["metadata"]["namespace"] = NS
        return self.cluster.create_running_pod(pod, node)

    def set_gate(self, name: str, status: str) -> None:
        pod = self.store.get("pods", name, NS)
        conditions = [c for c in pod["status"]["conditions"] if c["type"] != READINESS_GATE]
        conditions.append({"type": READINESS_GATE, "status": status, "lastTransitionTime": format_time(
            self.clock.now())})
        pod["status"]["conditions"] = conditions
        self.store.update("pods", pod, subresource="status")

    def sync(self, seconds: float = 2.5) -> None:
        """Long enough for the EndpointSlice controller and every kube-proxy (minSyncPeriod 1 s)."""
        self.clock.advance(seconds)
        assert self.clock.settle()

    def requests(self, count=100, client="client0", **kw):
        return self.cluster.requests(NS, "web", count=count, client=client, **kw)


@pytest.fixture
def world(private_sim):
    return World(private_sim.cluster)


@pytest.fixture
def still_world(still_sim):
    """A World whose virtual time moves only with the test's advances."""
    return World(still_sim.cluster)


def _within_binomial(observed: int, n: int, p: float, sigmas: float = 5.0) -> bool:
    return abs(observed - n * p) <= sigmas * math.sqrt(n * p * (1 - p))


def test_requests_spread_over_ready_pods_and_replies_name_the_pod(world):
    for i in range(3):
        world.run(_pod(f"web{i}"), world.workers[i % len(world.workers)])
    world.store.create("services", WEB_SERVICE, namespace=NS)
    world.sync()
    rows = world.requests(count=900)
    assert {r["outcome"] for r in rows} == {"ok"}
    counts = Counter(r["pod"] for r in rows)
    assert set(counts) == {"web0", "web1", "web2"}
    assert all(_within_binomial(c, 900, 1 / 3) for c in counts.values()), counts
    ips = {world.store.get("pods", p, NS)["status"]["podIP"] for p in counts}
    assert {r["endpoint"].rsplit(":", 1)[0] for r in rows} == ips
    assert all(r["endpoint"].endswith(":8080") for r in rows)


def test_the_same_seed_gives_the_same_answers(private_sim, tmp_path):
    from helpers.sim import start_in_process

    def run(cluster):
        w = World(cluster)
        for i in range(2):
            w.run(_pod(f"web{i}"), w.workers[0])
        w.store.create("services", WEB_SERVICE, namespace=NS)
        w.sync()
        return [r["pod"] for r in w.requests(count=50)]

    other = start_in_process(speed=10.0, kubeconfig_path=tmp_path / "other")
    try:
        assert run(private_sim.cluster) == run(other.cluster)
    finally:
        other.stop()


def test_a_service_without_endpoints_rejects(world):
    world.store.create("services", WEB_SERVICE, namespace=NS)
    world.sync()
    rows = world.requests(count=20)
    assert {r["outcome"] for r in rows} == {"refused"} and not any(r["pod"] for r in rows)


def test_a_pod_that_does_not_listen_on_the_target_port_refuses(world):
    world.run(_pod("web0", args=("serve-hostname",)), world.workers[0])  # listens on 9376, not 8080
    world.store.create("services", WEB_SERVICE, namespace=NS)
    world.sync()
    rows = world.requests(count=5)
    assert {r["outcome"] for r in rows} == {"refused"}
    assert {r["endpoint"].rsplit(":", 1)[1] for r in rows} == {"8080"}


def test_serve_hostname_answers_on_9376(world):
    world.run(_pod("web0", args=("serve-hostname",)), world.workers[0])
    world.store.create("services",
                       service("web", WEB, ({**HTTP, "targetPort": 9376},), namespace=None), namespace=NS)
    world.sync()
    assert {r["pod"] for r in world.requests(count=5)} == {"web0"}


def test_internal_traffic_policy_local(world):
    world.run(_pod("web0"), world.workers[0])
    world.store.create("services",
                       service("web", WEB, (HTTP,), namespace=None, internalTrafficPolicy="Local"), namespace=NS)
    world.sync()
    local = world.requests(count=20, client="client0")
    assert {r["outcome"] for r in local} == {"ok"} and {r["pod"] for r in local} == {"web0"}
    remote = world.requests(count=20, client="client1")  # client1 runs on a node without an endpoint
    assert {r["outcome"] for r in remote} == {"timeout"}  # kube-proxy DROPs: "has no local endpoints"
    assert all(r["latency_ms"] == 1000.0 for r in remote)


def test_client_ip_session_affinity_sticks_to_one_pod(world):
    for i in range(3):
        world.run(_pod(f"web{i}"), world.workers[0])
    world.store.create("services",
                       service("web", WEB, (HTTP,), namespace=None, sessionAffinity="ClientIP"), namespace=NS)
    world.sync()
    first = world.requests(count=50, client="client0")
    assert len({r["pod"] for r in first}) == 1
    others = world.requests(count=50, client="node/" + world.workers[1])
    assert len({r["pod"] for r in others}) == 1  # another source IP: its own (possibly different) pod


def test_not_ready_pods_get_no_new_requests(world):
    for i in range(2):
        world.run(_pod(f"web{i}", gate=True), world.workers[0])
        world.set_gate(f"web{i}", "True")
    world.store.create("services", WEB_SERVICE, namespace=NS)
    world.sync()
    assert {r["pod"] for r in world.requests(count=60)} == {"web0", "web1"}
    world.set_gate("web1", "False")
    world.sync()
    assert {r["pod"] for r in world.requests(count=60)} == {"web0"}


def test_terminating_pods_serve_when_no_pod_is_ready(world):
    """kube-proxy falls back to serving terminating endpoints when none is ready (KEP-1669)."""
    for i in range(2):
        world.run(_pod(f"web{i}", pre_stop=20), world.workers[0])
    world.store.create("services", WEB_SERVICE, namespace=NS)
    world.sync()
    for i in range(2):
        world.store.delete("pods", f"web{i}", NS)
    world.sync()
    rows = world.requests(count=40)
    assert {r["outcome"] for r in rows} == {"ok"} and {r["pod"] for r in rows} == {"web0", "web1"}
    slices, _ = world.store.list("endpointslices.discovery.k8s.io", NS)
    conditions = [e["conditions"] for s in slices for e in s["endpoints"]]
    assert all(c == {"ready": False, "serving": True, "terminating": True} for c in conditions), conditions


@pytest.mark.parametrize("pre_stop", [0, 5])
def test_deleting_a_pod_with_and_without_pre_stop(still_world, pre_stop):
    """netexec exits at SIGTERM. kube-proxy had just synced (another Service appeared), so minSyncPeriod
    holds the rules without the deleted endpoint back for up to 1 s; requests it still gets meanwhile are
    refused. A preStop sleep longer than that keeps it serving until the rules have moved on. (On a
    still clock: at the shared SPEED a loaded machine's 0.1 s pause is the whole 1 s window.)"""
    world = still_world
    for i in range(2):
        world.run(_pod(f"web{i}", pre_stop=pre_stop), world.workers[0])
    world.store.create("services", WEB_SERVICE, namespace=NS)
    world.sync()
    gone = world.store.get("pods", "web1", NS)["status"]["podIP"]
    world.store.create("services",
                       dict(service("other", WEB, (HTTP,), namespace=None), spec={"ports": [{"port": 81}]}), namespace=NS)
    assert world.clock.settle()  # that change's sync has run
    world.store.delete("pods", "web1", NS)
    rows = world.requests(count=80, interval=0.05)  # 4 s across the deletion
    failed = [r for r in rows if r["outcome"] != "ok"]
    if pre_stop:
        assert failed == []
    else:
        # refused while its IP is up with nothing listening; timeout once the pod (and its IP) is gone
        outcomes = [r["outcome"] for r in failed]
        assert failed and set(outcomes) <= {"refused", "timeout"}
        assert outcomes == sorted(outcomes, key=("refused", "timeout").index)  # never refused after a timeout
        if world.cluster.kernel is None:
            # The model's endpoint choice is seeded. The kernel draws its own (iptables `statistic --mode
            # random`, nftables `numgen random`), so every request of the short window between the exit and
            # the IP's removal may go to web0 (one hogged clean-clone run of five): then the first is a timeout.
            assert outcomes[0] == "refused"
        assert {r["endpoint"].rsplit(":", 1)[0] for r in failed} == {gone}
        assert max(r["t"] for r in failed) - rows[0]["t"] <= 2.0  # about one minSyncPeriod
    assert {r["pod"] for r in rows[-40:]} == {"web0"}


def test_serve_hostname_logs_awaiting_pod_deletion_and_keeps_serving(world):
    world.run(_pod("web0", args=("serve-hostname",)), world.workers[0])
    world.store.create("services",
                       service("web", WEB, ({**HTTP, "targetPort": 9376},), namespace=None), namespace=NS)
    world.sync()
    world.store.delete("pods", "web0", NS)
    world.sync()
    assert "Awaiting pod deletion." in world.cluster.pod_log(NS, "web0")
    # No other endpoint: kube-proxy falls back to the terminating one, which still answers.
    assert {r["outcome"] for r in world.requests(count=5)} == {"ok"}
    world.sync(30)  # the grace period's SIGKILL
    with pytest.raises(ApiError):
        world.store.get("pods", "web0", NS)


def test_an_established_connection_keeps_its_endpoint_after_it_leaves_the_rules(world):
    traffic = world.cluster.traffic
    for i in range(2):
        world.run(_pod(f"web{i}", gate=True), world.workers[0])
        world.set_gate(f"web{i}", "True")
    world.store.create("services", WEB_SERVICE, namespace=NS)
    world.sync()
    conn = world.cluster.on_reactor(lambda: traffic.open(NS, "web", client="client0"))
    assert conn["outcome"] == "ok"
    held = conn["pod"]
    world.set_gate(held, "False")  # the endpoint leaves the rules; its pod keeps running
    world.sync()
    new = {r["pod"] for r in world.requests(count=30)}
    assert new == {"web0", "web1"} - {held}
    assert world.cluster.on_reactor(traffic.send, conn["id"])["pod"] == held
    table = world.cluster.on_reactor(traffic.table, world.workers[0])
    assert any(e["state"] == "ESTABLISHED" and e["reply_src"] + ":" + str(e["reply_sport"]) == conn["endpoint"]
               for e in table)


def test_a_stopped_process_resets_an_established_connection(world):
    traffic = world.cluster.traffic
    world.run(_pod("web0"), world.workers[0])
    world.store.create("services", WEB_SERVICE, namespace=NS)
    world.sync()
    conn = world.cluster.on_reactor(lambda: traffic.open(NS, "web", client="client0"))
    world.store.delete("pods", "web0", NS)  # netexec exits at SIGTERM
    world.clock.advance(0.2)
    assert world.clock.settle()
    assert world.cluster.on_reactor(traffic.send, conn["id"])["outcome"] == "reset"


def test_kube_proxy_deletes_stale_udp_entries(world):
    traffic = world.cluster.traffic
    for i in range(2):
        world.run(_pod(f"web{i}", gate=True), world.workers[0])
        world.set_gate(f"web{i}", "True")
    world.store.create("services", service("web", WEB, (DNS,), namespace=None), namespace=NS)
    world.sync()
    flow = world.cluster.on_reactor(lambda: traffic.open(NS, "web", client="client0"))
    assert flow["outcome"] == "ok"
    node = world.workers[0]
    udp = [e for e in world.cluster.on_reactor(traffic.table, node) if e["protocol"] == "udp"]
    assert len(udp) == 1 and f"{udp[0]['reply_src']}:{udp[0]['reply_sport']}" == flow["endpoint"]
    world.set_gate(flow["pod"], "False")  # not serving any more: kube-proxy's clean-up removes the entry
    world.sync()
    assert not [e for e in world.cluster.on_reactor(traffic.table, node) if e["protocol"] == "udp"
                and e["sport"] == udp[0]["sport"]]
    again = world.cluster.on_reactor(traffic.send, flow["id"])
    assert again["outcome"] == "ok" and again["pod"] != flow["pod"]


def _udp_flow(world, **spec):
    """A UDP Service on port 53 in front of web0 and a held flow through it, DNAT'ed to web0."""
    world.run(_pod("web0", gate=True), world.workers[0])
    world.set_gate("web0", "True")
    world.store.create("services", service("web", WEB, (DNS,), namespace=None, **spec), namespace=NS)
    world.sync()
    flow = world.cluster.on_reactor(lambda: world.cluster.traffic.open(NS, "web", client="client0"))
    assert flow["outcome"] == "ok" and flow["pod"] == "web0"
    return flow


def test_a_new_udp_service_on_an_old_clusterip_cleans_the_old_flows(world):
    """endpointschangetracker.go (v1.37.0): ConntrackCleanupRequired when a changed Service has UDP endpoints
    before *or after* the change; so a Service recreated on the same ClusterIP, whose first sync already has
    its endpoints, deletes the flows still DNAT'ed to the old Service's pod."""
    world.run(_pod("web0"), world.workers[0])
    ip = world.store.get("pods", "web0", NS)["status"]["podIP"]
    old = service("web", WEB, (DNS,), namespace=None, clusterIP="10.96.100.53")
    del old["spec"]["selector"]  # a hand-written EndpointSlice, so that it outlives the Service
    world.store.create("services", old, namespace=NS)
    world.store.create("endpointslices.discovery.k8s.io", {
        "metadata": {"name": "web-manual", "labels": {"kubernetes.io/service-name": "web"}},
        "addressType": "IPv4", "endpoints": [{"addresses": [ip], "conditions": {"ready": True}}],
        "ports": [{"name": "", "port": 8081, "protocol": "UDP"}]}, namespace=NS)
    world.sync()
    flow = world.cluster.on_reactor(lambda: world.cluster.traffic.open(NS, "web", client="client0"))
    assert flow["outcome"] == "ok" and flow["pod"] == "web0"
    for resource, name in (("services", "web"), ("endpointslices.discovery.k8s.io", "web-manual")):
        world.store.delete(resource, name, NS)
        world.sync()  # the Service is gone from the proxier's maps: no clean-up matches its flows
    world.run(_pod("new0", labels={"app": "new"}), world.workers[0])
    # another Service's change syncs kube-proxy now, so minSyncPeriod holds the next sync until the new
    # Service and its EndpointSlice are both there: the proxier never sees it without endpoints
    world.store.create("services", service("other", {"app": "none"}, (HTTP,), namespace=None), namespace=NS)
    world.store.create("services", service("web", {"app": "new"}, (DNS,), namespace=None,
                                            clusterIP="10.96.100.53"), namespace=NS)
    world.sync()
    again = world.cluster.on_reactor(world.cluster.traffic.send, flow["id"])
    assert again["outcome"] == "ok" and again["pod"] == "new0", again


def test_a_udp_service_with_no_serving_endpoint_left_loses_its_flows(world):
    """cleanup.go (v1.37.0) cleans a Service without serving endpoints too: its flows stop reaching the pod
    that left (the REJECT rule then answers a new flow)."""
    flow = _udp_flow(world)
    world.set_gate("web0", "False")  # the pod keeps running and listening, but is no endpoint
    world.sync()
    udp = [e for e in world.cluster.on_reactor(world.cluster.traffic.table, world.workers[0])
           if e["protocol"] == "udp"]
    assert udp == []
    again = world.cluster.on_reactor(world.cluster.traffic.send, flow["id"])
    assert again["outcome"] != "ok" and again["pod"] == "", again


@pytest.mark.parametrize(("kwargs", "code", "words"), [
    ({"service": "nope"}, 404, "h.services_table"),
    ({"port": 81}, 400, "has no port 81"),
    ({"client": "ghost"}, 404, "client=None"),
    ({"client": "node/nowhere"}, 404, "h.nodes_table"),
])
def test_bad_input_names_the_next_step(world, kwargs, code, words):
    world.store.create("services", WEB_SERVICE, namespace=NS)
    args = {"service": "web", "client": "client0", **kwargs}
    with pytest.raises(ApiError) as err:
        world.cluster.requests(NS, args.pop("service"), count=1, **args)
    assert err.value.code == code and words in err.value.status()["message"]


def test_a_headless_service_has_no_rules_to_send_through(world):
    world.store.create("services",
                       service("web", WEB, (HTTP,), namespace=None, clusterIP="None"), namespace=NS)
    for call in (lambda: world.requests(count=1),
                 lambda: world.cluster.on_reactor(lambda: world.cluster.traffic.open(NS, "web", client="client0"))):
        with pytest.raises(ApiError) as err:
            call()
        assert err.value.code == 400 and "headless" in err.value.status()["message"]


def test_unmodelled_images_say_what_is_modelled(world):
    world.run(_pod("web0", image="redis:7", args=()), world.workers[0])
    log = world.cluster.pod_log(NS, "web0")
    assert "does not model image 'redis:7'" in log and images.AGNHOST_IMAGE in log


def test_requests_through_nftables_rules(tmp_path):
    from helpers.config import REPO_ROOT
    from helpers.sim import start_in_process

    handle = start_in_process(REPO_ROOT / "kind" / "kind-nftables.yaml", speed=10.0,
                              kubeconfig_path=tmp_path / "kubeconfig")
    try:
        world = World(handle.cluster)
        assert handle.cluster.kube_proxies[world.workers[0]].mode == "nftables"
        for i in range(2):
            world.run(_pod(f"web{i}"), world.workers[i % len(world.workers)])
        world.store.create("services", WEB_SERVICE, namespace=NS)
        world.sync()
        rows = world.requests(count=400)
        counts = Counter(r["pod"] for r in rows)
        assert {r["outcome"] for r in rows} == {"ok"} and set(counts) == {"web0", "web1"}
        assert all(_within_binomial(c, 400, 0.5) for c in counts.values()), counts
    finally:
        handle.stop()


def test_a_host_network_address_with_nothing_listening_refuses(world):
    """The `kubernetes` Service's endpoint is the control plane's address; no modelled process listens on
    6443 there, so the simulator answers `refused` (not `timeout`: the address is up)."""
    world.store.create("services",
                       dict(WEB_SERVICE, spec={"ports": [{"port": 443, "targetPort": 6443}]}),
                       namespace=NS)
    slice_ = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
              "metadata": {"name": "web-1", "labels": {"kubernetes.io/service-name": "web"}},
              "endpoints": [{"addresses": [world.cluster.node_ips[world.workers[1]]],
                             "conditions": {"ready": True}}],
              "ports": [{"port": 6443, "protocol": "TCP"}]}
    world.store.create("endpointslices.discovery.k8s.io", slice_, namespace=NS)
    world.sync()
    assert {r["outcome"] for r in world.requests(count=5)} == {"refused"}


def test_udp_requests_are_answered_by_netexec(world):
    for i in range(2):
        world.run(_pod(f"web{i}"), world.workers[0])
    world.store.create("services", service("web", WEB, (DNS,), namespace=None), namespace=NS)
    world.sync()
    rows = world.requests(count=40)
    assert {r["outcome"] for r in rows} == {"ok"} and {r["pod"] for r in rows} == {"web0", "web1"}
    udp = [e for e in world.cluster.on_reactor(world.cluster.traffic.table, world.workers[0])
           if e["protocol"] == "udp"]
    assert all(e["expires_s"] <= 30 for e in udp)  # nf_conntrack_udp_timeout
    if world.cluster.kernel is None:
        assert len(udp) == 40  # the model gives each request a source port of its own
    else:  # the kernel's ephemeral ports may repeat (~3 % for 40 of ~28,000): a repeat reuses the live entry
        assert 35 <= len(udp) <= 40, len(udp)


def test_netexec_delay_shutdown_keeps_serving_through_the_rule_update(world):
    for i in range(2):
        world.run(_pod(f"web{i}", args=("netexec", "--delay-shutdown=5")), world.workers[0])
    world.store.create("services", WEB_SERVICE, namespace=NS)
    world.sync()
    world.store.create("services",
                       dict(service("other", WEB, (HTTP,), namespace=None), spec={"ports": [{"port": 81}]}), namespace=NS)
    assert world.clock.settle()
    world.store.delete("pods", "web1", NS)
    rows = world.requests(count=60, interval=0.05)
    assert {r["outcome"] for r in rows} == {"ok"}
    assert "Sleeping 5 seconds before terminating..." in world.cluster.pod_log(NS, "web1")


@pytest.mark.parametrize("pre_stop", [0, 3])
def test_requests_through_a_rolling_update(world, pre_stop):
    """A Deployment's rollout replaces every pod while requests flow. With a preStop sleep longer than
    kube-proxy's minSyncPeriod no request fails; at the end only new pods answer."""
    from helpers.objects import deployment

    dep = deployment("web", replicas=3, port=8080)
    spec = dep["spec"]["template"]["spec"]
    if pre_stop:
        spec["containers"][0]["lifecycle"] = {"preStop": {"sleep": {"seconds": pre_stop}}}
    world.store.create("deployments.apps", dep, namespace=NS)
    world.store.create("services", WEB_SERVICE, namespace=NS)
    world.sync(8)
    old = {p["metadata"]["name"] for p in world.store.list("pods", NS, label_selector="app=web")[0]}
    assert {r["pod"] for r in world.requests(count=60)} == old
    current = world.store.get("deployments.apps", "web", NS)
    current["spec"]["template"]["metadata"]["annotations"] = {"rollout": "2"}
    world.store.update("deployments.apps", current)
    rows = world.requests(count=300, interval=0.05)  # 15 s across the rollout
    failed = [r for r in rows if r["outcome"] != "ok"]
    if pre_stop:
        assert failed == []
    answered_last = {r["pod"] for r in rows[-40:]}
    assert answered_last and not answered_last & old
