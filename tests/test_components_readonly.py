"""Store subscribers share one copy of each event: no component may edit what it receives.

The store hands every subscriber of a commit the same private copy (as an informer hands its
handlers one object). A component that edited it in place would silently change what the others
see; the informer cache would then disagree with the store at the same resourceVersion. This runs a
busy scenario through every component (workloads, readiness gates, both endpoint controllers,
mirroring, node failure and recovery, namespace deletion) and compares the two.
"""

from conftest import deployment, pods_of, ready, wait_until

from helpers.sim.api.errors import ApiError

NS = "readonly"


def cache_drift(cluster) -> list[str]:
    """Cached objects whose content differs from the store's object of the same resourceVersion."""
    drift = []
    for resource, cache in cluster.informer.cache.items():
        for key, cached in list(cache.items()):
            namespace, name = key
            try:
                stored = cluster.store.get(resource, name, namespace or None)
            except ApiError as err:  # deleted since it was cached: nothing to compare
                assert err.code == 404
                continue
            if stored["metadata"]["resourceVersion"] == cached["metadata"]["resourceVersion"] and stored != cached:
                drift.append(f"{resource} {namespace}/{name}")
    return drift


def test_no_component_edits_the_objects_it_receives(private_sim):
    cluster, store = private_sim.cluster, private_sim.cluster.store
    store.create("namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
    gated = deployment("web", 6, readinessGates=[{"conditionType": "example.com/ready"}])
    store.create("deployments.apps", gated, namespace=NS)
    store.create("services", {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
                              "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}}, namespace=NS)
    store.create("services", {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "manual"},
                              "spec": {"ports": [{"port": 80}]}}, namespace=NS)
    store.create("endpoints", {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "manual"},
                               "subsets": [{"addresses": [{"ip": "10.9.0.1"}], "ports": [{"port": 80}]}]},
                 namespace=NS)
    wait_until(private_sim, lambda: len([p for p in pods_of(private_sim, NS, "web")
                                         if p["status"].get("podIP")]) == 6, what="6 pods with IPs")
    for pod in pods_of(private_sim, NS, "web")[:4]:  # open the readiness gate of four pods
        pod["status"]["conditions"].append({"type": "example.com/ready", "status": "True"})
        store.update("pods", pod, subresource="status")
    wait_until(private_sim, lambda: sum(map(ready, pods_of(private_sim, NS, "web"))) == 4, what="4 Ready")
    cluster.stop_node("endpoints-worker")
    cluster.clock.advance(400)  # NotReady, taints, eviction, replacement pods
    cluster.start_node("endpoints-worker")
    scaled = store.get("deployments.apps", "web", NS)
    scaled["spec"]["replicas"] = 2
    store.update("deployments.apps", scaled)
    cluster.clock.advance(60)
    assert cluster.clock.settle(10)
    assert cache_drift(cluster) == []
    store.delete("namespaces", NS)
    cluster.clock.advance(60)
    assert cluster.clock.settle(10)
    assert cache_drift(cluster) == []
    assert NS not in {ns["metadata"]["name"] for ns in store.list("namespaces")[0]}
