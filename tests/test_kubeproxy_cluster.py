"""kube-proxy inside a whole simulated cluster: every node programs the same Services."""

from datetime import UTC, datetime

from helpers.dataplane import diff_node_rules
from helpers.kube import format_micro_time

SLICES = "endpointslices.discovery.k8s.io"


def _objects(ns: str, trigger: float):
    stamp = format_micro_time(datetime.fromtimestamp(trigger, UTC))
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "manual", "namespace": ns},
               "spec": {"ports": [{"name": "http", "port": 80, "targetPort": 8080}]}}
    slice_ = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
              "metadata": {"name": "manual-1", "namespace": ns,
                           "labels": {"kubernetes.io/service-name": "manual"},
                           "annotations": {"endpoints.kubernetes.io/last-change-trigger-time": stamp}},
              "endpoints": [{"addresses": ["10.244.9.9"], "conditions": {"ready": True}}],
              "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]}
    return service, slice_


def _stores_view(cluster):
    services, _ = cluster.store.list("services")
    slices, _ = cluster.store.list(SLICES)
    return services, slices


def test_every_node_programs_a_new_service_and_reports_latency(private_sim):
    cluster = private_sim.cluster
    clock, store = cluster.clock, cluster.store
    store.create("namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kp"}})
    clock.advance(2.0)
    service, slice_ = _objects("kp", clock.time() - 0.5)
    store.create("services", service, namespace="kp")
    store.create(SLICES, slice_, namespace="kp")
    clock.advance(2.0)
    assert clock.settle()
    for name in cluster.node_names():
        proxy = cluster.kube_proxies[name]
        latencies = [lat for sync in proxy.syncs for lat in sync.latencies]
        assert any(svc == "kp/manual" and 0.5 <= s < 10 for svc, s in latencies), (name, latencies)
        text = cluster.proxy_rules(name, "iptables")
        assert "--to-destination 10.244.9.9:8080" in text
        assert '"default/kubernetes:https cluster IP"' in text
        # The simulator's rules are the model's rules for what the store holds.
        services, slices = _stores_view(cluster)
        node = store.get("nodes", name)
        config = {"clusterCIDR": cluster.config.pod_subnet}
        assert diff_node_rules(text, services=services, endpoint_slices=slices, node=node, config=config).identical


def test_stopped_node_keeps_old_rules_until_it_restarts(private_sim):
    cluster = private_sim.cluster
    clock, store = cluster.clock, cluster.store
    worker = next(n for n in cluster.node_names() if "worker" in n)
    cluster.stop_node(worker)
    store.create("namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kp2"}})
    service, slice_ = _objects("kp2", clock.time())
    store.create("services", service, namespace="kp2")
    store.create(SLICES, slice_, namespace="kp2")
    clock.advance(2.0)
    assert clock.settle()
    assert "kp2/manual" not in cluster.proxy_rules(worker, "iptables")
    cluster.start_node(worker)
    clock.advance(1.0)
    assert clock.settle()
    assert "kp2/manual:http cluster IP" in cluster.proxy_rules(worker, "iptables")
    assert cluster.kube_proxies[worker].syncs[0].full
    pods, _ = store.list("pods", "kube-system", field_selector=f"spec.nodeName={worker}")
    proxy_pod = next(p for p in pods if p["metadata"]["name"].startswith("kube-proxy"))
    assert '"SyncProxyRules complete"' in cluster.pod_log("kube-system", proxy_pod["metadata"]["name"])
