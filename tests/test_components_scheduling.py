"""The simulated scheduler through the API: taints, nodeSelector, cordon, unschedulable pods."""

import yaml
from conftest import kubectl, pods_of, wait_until

from helpers.kube import get_condition


def pods_manifest(name, count, **spec):
    return [{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"{name}-{i}", "labels": {"app": name}},
             "spec": {"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10"}], **spec}}
            for i in range(count)]


def create_all(handle, pods):
    kubectl(handle, "apply", "-f", "-", input=yaml.safe_dump_all(pods))


def scheduled(handle, app, count):
    pods = pods_of(handle, "default", app)
    return pods if len(pods) == count and all(p["spec"].get("nodeName") for p in pods) else None


def test_node_selector_and_zone_labels_pin_pods(private_sim):
    create_all(private_sim, pods_manifest("zb", 3, nodeSelector={"topology.kubernetes.io/zone": "zone-b"}))
    pods = wait_until(private_sim, lambda: scheduled(private_sim, "zb", 3), what="scheduled")
    assert {p["spec"]["nodeName"] for p in pods} == {"endpoints-worker2"}


def test_cordon_and_taints_steer_new_pods_away(private_sim):
    kubectl(private_sim, "cordon", "endpoints-worker")
    create_all(private_sim, pods_manifest("cordoned", 2))
    pods = wait_until(private_sim, lambda: scheduled(private_sim, "cordoned", 2), what="scheduled")
    assert {p["spec"]["nodeName"] for p in pods} == {"endpoints-worker2"}
    kubectl(private_sim, "uncordon", "endpoints-worker")
    kubectl(private_sim, "taint", "nodes", "endpoints-worker2", "dedicated=db:NoSchedule")
    create_all(private_sim, pods_manifest("tainted", 2))
    pods = wait_until(private_sim, lambda: scheduled(private_sim, "tainted", 2), what="scheduled")
    assert {p["spec"]["nodeName"] for p in pods} == {"endpoints-worker"}
    tolerant = pods_manifest("tolerant", 1, nodeSelector={"kubernetes.io/hostname": "endpoints-worker2"},
                             tolerations=[{"key": "dedicated", "operator": "Equal", "value": "db",
                                           "effect": "NoSchedule"}])
    create_all(private_sim, tolerant)
    pods = wait_until(private_sim, lambda: scheduled(private_sim, "tolerant", 1), what="scheduled")
    assert pods[0]["spec"]["nodeName"] == "endpoints-worker2"


def test_unschedulable_pod_reports_why_and_is_placed_once_a_node_fits(private_sim):
    store = private_sim.cluster.store
    create_all(private_sim, pods_manifest("gpu", 1, nodeSelector={"gpu": "true"}))
    pod = wait_until(private_sim, lambda: get_condition(store.get("pods", "gpu-0", "default"), "PodScheduled"),
                     what="PodScheduled condition")
    assert pod["status"] == "False" and pod["reason"] == "Unschedulable"
    assert pod["message"].startswith("0/3 nodes are available: 1 node(s) had untolerated taint "
                                     "{node-role.kubernetes.io/control-plane: }, 2 node(s) didn't match "
                                     "Pod's node affinity/selector.")
    events = [e for e in store.list("events", "default")[0] if e["reason"] == "FailedScheduling"]
    assert events and events[0]["type"] == "Warning"
    kubectl(private_sim, "label", "node", "endpoints-worker", "gpu=true")
    placed = wait_until(private_sim, lambda: scheduled(private_sim, "gpu", 1), what="scheduled after labelling")
    assert placed[0]["spec"]["nodeName"] == "endpoints-worker"


def test_explicit_node_name_bypasses_the_scheduler(private_sim):
    create_all(private_sim, pods_manifest("pinned", 1, nodeName="endpoints-control-plane"))
    pods = wait_until(private_sim, lambda: scheduled(private_sim, "pinned", 1), what="bound")
    assert pods[0]["spec"]["nodeName"] == "endpoints-control-plane"  # taints do not apply to nodeName
    assert not [e for e in private_sim.cluster.store.list("events", "default")[0]
                if e["involvedObject"]["name"] == "pinned-0" and e["reason"] == "Scheduled"]


def test_the_scheduler_binds_in_one_write(private_sim):
    """default-scheduler's bind is the pods/binding write alone: nodeName and PodScheduled arrive together,
    with no status write before it (tests/test_oracle_binding.py checks that write against kube-apiserver)."""
    store, writes = private_sim.cluster.store, []
    unsubscribe = store.subscribe(lambda type_, resource, obj, old: resource == "pods" and obj["metadata"][
        "name"] == "once" and writes.append((type_, obj["spec"].get("nodeName"), get_condition(obj, "PodScheduled"))))
    try:
        store.create("pods", {"metadata": {"name": "once"}, "spec": {"containers": [
            {"name": "c", "image": "registry.k8s.io/pause:3.10"}]}}, namespace="default")
        wait_until(private_sim, lambda: any(node for _, node, _ in writes), what="the binding")
    finally:
        unsubscribe()
    first_bound = next(i for i, (_, node, _) in enumerate(writes) if node)
    assert [t for t, _, _ in writes[:first_bound]] == ["ADDED"]
    assert writes[first_bound][2]["status"] == "True"
