"""The simulated kube-proxy on a real Store and Clock (the cluster object is a thin stand-in)."""

import threading
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from builders import HandWall, endpoint, endpoint_slice, service

from helpers.dataplane.changetracker import trigger_time
from helpers.nodes import parse_metrics
from helpers.sim.clock import Clock
from helpers.sim.controllers.kubeproxy import KubeProxy, klog_line
from helpers.sim.proxymetrics import metrics_text
from helpers.sim.store import Store

SLICES = "endpointslices.discovery.k8s.io"
# demo/web selecting app=web, port http 80 -> 8080 (the store allocates its ClusterIP).
WEB = service("web", {"app": "web"}, ({"name": "http", "port": 80, "targetPort": 8080},), namespace="demo")


class FakeCluster(SimpleNamespace):
    """Only the boundaries KubeProxy uses: store, clock, config and node_running."""

    def node_running(self, name):
        return name not in self.stopped


@pytest.fixture
def cluster():
    clock = Clock(speed=1.0)
    store = Store(clock, service_cidr="10.96.0.0/16")
    store.create("namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "demo"}})
    store.create("nodes", {"apiVersion": "v1", "kind": "Node",
                           "metadata": {"name": "w1", "labels": {"topology.kubernetes.io/zone": "a"}},
                           "status": {"addresses": [{"type": "InternalIP", "address": "172.18.0.3"}]}})
    store.create("servicecidrs.networking.k8s.io", _service_cidr("kubernetes", "10.96.0.0/16"))
    config = SimpleNamespace(kube_proxy_mode="iptables", pod_subnet="10.244.0.0/16", service_subnet="10.96.0.0/16")
    yield FakeCluster(store=store, clock=clock, config=config, stopped=set())
    clock.stop()


def _service_cidr(name: str, *cidrs: str) -> dict:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "ServiceCIDR", "metadata": {"name": name},
            "spec": {"cidrs": list(cidrs)}}


def _stamp(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "123Z"


def _write_slice(cluster, ips, trigger=None):
    """Create or replace slice web-abc of demo/web: `ips` ready on w1, stamped with `trigger` (epoch
    seconds) if given."""
    store = cluster.store
    body = endpoint_slice([endpoint(ip, "w1") for ip in ips], trigger_time=_stamp(trigger) if trigger else None)
    try:
        current = store.get(SLICES, "web-abc", "demo")
    except Exception:  # noqa: BLE001 - first write
        return store.create(SLICES, body, namespace="demo")
    body["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
    return store.update(SLICES, body)


def _start(cluster, **config):
    proxy = KubeProxy(cluster, "w1", config or None)
    cluster.clock.call_soon(proxy.start)
    assert cluster.clock.settle()
    return proxy


def test_first_sync_is_full_then_changes_sync_partially_with_latency(cluster):
    proxy = _start(cluster)
    assert [s.full for s in proxy.syncs] == [True]
    svc = cluster.store.create("services", WEB)
    cluster.clock.advance(1.0)
    trigger = cluster.clock.time() - 0.25  # after kube-proxy started, so it counts
    _write_slice(cluster, ["10.244.1.5", "10.244.1.6"], trigger)
    cluster.clock.advance(1.0)  # let the rate limiter admit the change
    assert cluster.clock.settle()
    last = proxy.syncs[-1]
    assert not last.full and last.services_changed == 1 and last.endpoint_slices_changed >= 1
    ((service, seconds),) = last.latencies
    assert service == "demo/web" and 0.25 <= seconds < 5
    text = proxy.rules()  # as the node's iptables-save prints it back
    assert f"-A KUBE-SERVICES -d {svc['spec']['clusterIP']}/32 -p tcp -m comment --comment " in text
    assert "--probability 0.50000000000" in text and "-A PREROUTING" in text
    written = proxy.rules("iptables-restore")  # what kube-proxy wrote
    assert f"-d {svc['spec']['clusterIP']} --dport 80 -j KUBE-SVC-" in written
    assert "--probability 0.5000000000 " in written and "-A PREROUTING" not in written
    log = proxy.log_text()
    assert '"Using iptables Proxier"' in log and '"SyncProxyRules complete"' in log
    assert 'endpoint="demo/web"' in log


def test_min_sync_period_batches_bursts(cluster):
    proxy = _start(cluster)  # the start-up sync
    cluster.store.create("services", WEB)
    assert cluster.clock.settle()
    for n in range(2, 6):
        _write_slice(cluster, [f"10.244.1.{i}" for i in range(n)])
    assert cluster.clock.settle()
    # v1.34+ runner: no burst; the Service and the four slice writes wait for one sync, 1 s after
    # the start-up sync finished.
    assert len(proxy.syncs) == 1
    cluster.clock.advance(1.0)
    assert cluster.clock.settle()
    assert len(proxy.syncs) == 2 and proxy.syncs[-1].services_changed == 1
    assert proxy.syncs[-1].time - proxy.syncs[0].time == pytest.approx(1.0, abs=0.01)
    cluster.clock.advance(5.0)  # long after the last sync, a change syncs at once
    _write_slice(cluster, ["10.244.1.9"])
    assert cluster.clock.settle()
    assert len(proxy.syncs) == 3


def test_identical_update_is_a_no_op(cluster):
    proxy = _start(cluster)
    cluster.store.create("services", WEB)
    _write_slice(cluster, ["10.244.1.5"])
    cluster.clock.advance(2.0)
    assert cluster.clock.settle()
    count = len(proxy.syncs)
    _write_slice(cluster, ["10.244.1.5"], trigger=cluster.clock.time())  # only the annotation differs
    cluster.clock.advance(2.0)
    assert cluster.clock.settle()
    assert len(proxy.syncs) == count


def test_stopped_node_does_not_sync_then_resyncs_fully(cluster):
    proxy = _start(cluster)
    cluster.stopped.add("w1")
    cluster.store.create("services", WEB)
    cluster.clock.advance(5.0)
    assert cluster.clock.settle()
    assert len(proxy.syncs) == 1
    cluster.stopped.clear()
    cluster.clock.advance(proxy.sync_period)
    assert cluster.clock.settle()
    assert len(proxy.syncs) == 2 and proxy.syncs[-1].full and proxy.syncs[-1].services_changed == 1


def test_nftables_mode_syncs_periodically_once_an_hour(cluster):
    """v1.36.1 gives both proxiers' runners maxInterval = proxyutil.FullSyncPeriod (1 h), not syncPeriod."""
    proxy = _start(cluster, mode="nftables")
    cluster.store.create("services", WEB)
    cluster.clock.advance(1.0)
    assert cluster.clock.settle()
    count = len(proxy.syncs)
    cluster.clock.advance(proxy.sync_period)
    assert cluster.clock.settle()
    assert len(proxy.syncs) == count  # syncPeriod is only the retry interval
    cluster.clock.advance(3600.0)
    assert cluster.clock.settle()
    assert len(proxy.syncs) == count + 1 and proxy.syncs[-1].services_changed == 0 and proxy.syncs[-1].full
    assert proxy.rules().startswith("table ip kube-proxy {")
    assert "ip daddr { 10.96.0.0/16 } drop" not in proxy.rules()  # list form drops one-element braces
    assert "ip daddr 10.96.0.0/16 drop" in proxy.rules()
    assert proxy.rules("nft-input").startswith('add table ip kube-proxy { comment "rules for kube-proxy" ; }\n')
    with pytest.raises(ValueError, match="programs nftables rules, not iptables"):
        proxy.rules("iptables")


def test_rules_are_what_the_last_sync_programmed(cluster):
    proxy = _start(cluster)
    cluster.store.create("services", WEB)
    cluster.clock.advance(1.0)
    assert cluster.clock.settle()
    programmed = proxy.rules("iptables-restore")
    assert "demo/web:http" in programmed
    cluster.stopped.add("w1")  # a stopped node keeps what it programmed, whatever changes meanwhile
    cluster.store.delete("services", "web", "demo")
    cluster.clock.advance(5.0)
    assert cluster.clock.settle()
    assert proxy.rules("iptables-restore") == programmed
    with pytest.raises(ValueError, match="read them as iptables or iptables-restore"):
        proxy.rules("nft-input")


def test_service_cidrs_reach_the_drop_rule_at_the_next_full_sync(cluster):
    """kube-proxy watches ServiceCIDRs, but only setupNFTables (a full sync) writes them into the
    "Drop traffic to unallocated ClusterIPs" rule; OnServiceCIDRsChanged does not sync."""
    proxy = _start(cluster, mode="nftables")
    cluster.store.create("servicecidrs.networking.k8s.io", _service_cidr("extra", "10.100.0.0/24"))
    cluster.store.create("services", WEB)
    cluster.clock.advance(2.0)
    assert cluster.clock.settle()
    assert not proxy.syncs[-1].full and "ip daddr 10.96.0.0/16 drop" in proxy.rules()
    node = cluster.store.get("nodes", "w1")
    node["metadata"]["labels"]["topology.kubernetes.io/zone"] = "b"  # a topology change forces a full sync
    cluster.store.update("nodes", node)
    cluster.clock.advance(2.0)
    assert cluster.clock.settle()
    assert proxy.syncs[-1].full
    assert "ip daddr { 10.96.0.0/16, 10.100.0.0/24 } drop" in proxy.rules()
    cluster.store.delete("servicecidrs.networking.k8s.io", "extra")
    cluster.store.delete("servicecidrs.networking.k8s.io", "kubernetes")
    node = cluster.store.get("nodes", "w1")
    node["metadata"]["labels"]["topology.kubernetes.io/zone"] = "a"
    cluster.store.update("nodes", node)
    cluster.clock.advance(2.0)
    assert cluster.clock.settle()
    assert "Drop traffic to unallocated ClusterIPs" not in proxy.rules()


def test_bad_format_and_helpers(cluster):
    proxy = _start(cluster)
    with pytest.raises(ValueError, match="format must be"):
        proxy.rules("ipvs")
    def annotated(value):
        return {"metadata": {"annotations": {"endpoints.kubernetes.io/last-change-trigger-time": value}}}

    assert trigger_time(annotated("2026-11-26T05:54:01.123456789Z")) == pytest.approx(
        datetime(2026, 11, 26, 5, 54, 1, 123456, tzinfo=UTC).timestamp())
    assert trigger_time(annotated("garbage")) is None and trigger_time({"metadata": {}}) is None
    line = klog_line(0.0, "Syncing iptables rules", fullSync=True)
    assert line == 'I0101 00:00:00.000000       1 proxier.go] "Syncing iptables rules" fullSync=true'
    assert proxy.sync_history()[0]["full"] is True


def test_latency_histogram_uses_upstream_buckets(cluster):
    proxy = _start(cluster)
    cluster.store.create("services", WEB)
    cluster.clock.advance(3.0)
    _write_slice(cluster, ["10.244.1.5"], trigger=cluster.clock.time() - 1.5)
    cluster.clock.advance(1.0)
    assert cluster.clock.settle()
    buckets = {float(s["labels"]["le"]): s["value"] for s in parse_metrics(metrics_text(proxy))
               if s["metric"] == "kubeproxy_network_programming_duration_seconds_bucket"}
    assert buckets[1.0] == 0 and buckets[2.0] == 1 and buckets[float("inf")] == 1
    assert list(buckets)[:5] == [0.0, 0.25, 0.5, 1.0, 2.0] and 300.0 in buckets


def test_a_bad_object_fails_the_sync_and_is_retried(cluster):
    proxy = _start(cluster)
    count = len(proxy.syncs)
    bad = endpoint_slice([endpoint("10.244.1.5", "w1")])
    bad["ports"][0]["port"] = 70000  # the store accepts it here; kube-proxy must not crash on it
    cluster.clock.call_soon(proxy._on_event, "ADDED", SLICES, bad)
    cluster.clock.advance(1.0)
    assert cluster.clock.settle()
    last = proxy.log_text().splitlines()[-1]
    assert len(proxy.syncs) == count and last.startswith("E") and '"Sync failed"' in last and "70000" in last
    cluster.clock.call_soon(proxy._on_event, "DELETED", SLICES, bad)
    cluster.clock.advance(proxy.sync_period)
    assert cluster.clock.settle()
    assert len(proxy.syncs) == count + 1 and proxy.syncs[-1].full


def test_ipvs_mode_is_reported_not_silently_replaced(cluster):
    cluster.config.kube_proxy_mode = "ipvs"
    proxy = _start(cluster)
    assert proxy.mode == "iptables" and proxy.rules("iptables-restore").startswith("*filter")
    assert proxy.log_text().splitlines()[0].startswith("W")
    assert "ipvs mode is not modelled" in proxy.log_text()


def test_a_malformed_service_does_not_stop_kube_proxy(cluster):
    proxy = _start(cluster)
    bad = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "odd", "namespace": "demo"},
           "spec": {"clusterIP": "10.96.7.7", "ports": [{"name": "x", "port": "eighty"}]}}
    cluster.clock.call_soon(proxy._on_event, "ADDED", "services", bad)
    cluster.clock.advance(1.0)
    assert cluster.clock.settle()
    assert "spec.ports[0].port" in proxy.log_text().splitlines()[-1]
    cluster.clock.call_soon(proxy._on_event, "DELETED", "services", bad)
    cluster.store.create("services", WEB)
    cluster.clock.advance(proxy.sync_period)
    assert cluster.clock.settle()
    assert "demo/web:http has no endpoints" in proxy.rules() and "odd" not in proxy.rules()


def test_a_bug_on_one_object_is_retried_as_a_failed_full_sync(cluster, monkeypatch):
    """A non-ObjectError (the model's own bug on some object) is one failed sync: logged once, retried
    fully after syncPeriod, and later syncs go on (it must not end the runner's schedule)."""
    from helpers.sim.controllers import kubeproxy

    proxy = _start(cluster)
    count, build = len(proxy.syncs), kubeproxy.build_proxy_state
    calls = []

    def poisoned(*args):
        calls.append(cluster.clock.time())
        if len(calls) == 1:
            raise TypeError("unhashable type: 'dict'")
        return build(*args)

    monkeypatch.setattr(kubeproxy, "build_proxy_state", poisoned)
    cluster.store.create("services", WEB)
    cluster.clock.advance(1.0)
    assert cluster.clock.settle()
    failed = [line for line in proxy.log_text().splitlines() if '"Sync failed"' in line]
    assert len(proxy.syncs) == count and len(failed) == 1 and "TypeError: unhashable type" in failed[0]
    cluster.clock.advance(proxy.sync_period)
    assert cluster.clock.settle()
    assert len(proxy.syncs) == count + 1 and proxy.syncs[-1].full and calls[1] - calls[0] == proxy.sync_period


def test_a_late_reactor_delivers_a_services_events_in_order(monkeypatch):
    """Issue 20 bug 1: under CPU load the simulated kube-proxy handled a Service's ADDED after its
    MODIFIED (the clock gave the later event an earlier slot), so it kept the old port, saw no pending
    change and never synced again: the kube-proxy oracle's fence never showed up. Here the reactor is
    made late by hand between the two writes."""
    wall = HandWall.install(monkeypatch)
    clock = Clock(speed=1.0)
    try:
        store = Store(clock, service_cidr="10.96.0.0/16")
        store.create("namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "demo"}})
        config = SimpleNamespace(kube_proxy_mode="iptables", pod_subnet="10.244.0.0/16", service_subnet="10.96.0.0/16")
        cluster = FakeCluster(store=store, clock=clock, config=config, stopped=set())
        proxy = _start(cluster)
        running, release = threading.Event(), threading.Event()

        def late_work():
            running.set()
            assert release.wait(5)

        clock.call_later(1000, late_work)  # the reactor sleeps until work is submitted
        wall.seconds += 2000  # and is late by then
        svc = cluster.store.create("services", WEB)  # ADDED, submitted while the reactor is not running anything
        assert running.wait(5)
        svc["spec"]["ports"][0]["port"] = 81
        store.update("services", svc)  # MODIFIED, submitted while the late work runs
        release.set()
        assert clock.settle(5)
        clock.advance(2.0)  # past minSyncPeriod
        assert clock.settle(5)
        assert proxy._service_cache[("demo", "web")]["spec"]["ports"][0]["port"] == 81
        assert f"-d {svc['spec']['clusterIP']}/32 -p tcp" in proxy.rules() and "--dport 81 " in proxy.rules()
    finally:
        clock.stop()
