"""Pure decisions of the simulated components: rollout steps, pod deletion order, scheduling, kubelet status."""

import pytest
from builders import node
from builders import scheduled_pod as pod

from helpers.config import KUBERNETES_VERSION, REPO_ROOT, load_cluster_config
from helpers.controlplane.podutil import tolerates
from helpers.kube import get_condition
from helpers.sim import boot
from helpers.sim.controllers.kubelet import gate_problems, pending_status, running_status, update_readiness
from helpers.sim.controllers.scheduler import schedule
from helpers.sim.controllers.workloads import (
    REVISION,
    history_to_clean,
    pods_to_delete,
    resolve_fenceposts,
    rolling_update_plan,
    scaled_value,
    template_hash,
)

STAMP = "2026-01-01T00:00:00Z"


def rs(name, replicas, available, created="2026-01-01T00:00:00Z"):
    return {"metadata": {"name": name, "creationTimestamp": created}, "spec": {"replicas": replicas},
            "status": {"availableReplicas": available}}


def test_template_hash_is_stable_and_upstream_shaped():
    template = {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": "a"}]}}
    changed = {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": "b"}]}}
    reordered = {"spec": {"containers": [{"image": "a", "name": "web"}]}, "metadata": {"labels": {"app": "web"}}}
    assert list(reordered) != list(template) and template_hash(template) == template_hash(reordered)
    # a collision bumps status.collisionCount, which must give the ReplicaSet another name (ComputeHash)
    assert template_hash(template, collision_count=1) != template_hash(template)
    assert template_hash(template) != template_hash(changed)
    assert set(template_hash(template)) <= set("bcdfghjklmnpqrstvwxz2456789")


def test_fenceposts_round_surge_up_and_unavailable_down():
    assert scaled_value("25%", 10, round_up=True) == 3
    assert scaled_value("25%", 10, round_up=False) == 2
    dep = {"spec": {"replicas": 4, "strategy": {"rollingUpdate": {"maxSurge": 0, "maxUnavailable": 0}}}}
    assert resolve_fenceposts(dep) == (0, 1)  # both zero: upstream forces maxUnavailable 1


def test_rolling_update_first_step_surges_then_old_scales_down_as_new_becomes_available():
    # 4 replicas, maxSurge 1, maxUnavailable 0: one new pod first, nothing old goes yet.
    plan = rolling_update_plan(4, 1, 0, rs("new", 0, 0), [rs("old", 4, 4)])
    assert plan == {"new": 1}
    # The new pod became available: one old pod may go, and the new RS may not grow past the surge.
    plan = rolling_update_plan(4, 1, 0, rs("new", 1, 1), [rs("old", 4, 4)])
    assert plan == {"old": 3}
    plan = rolling_update_plan(4, 1, 0, rs("new", 1, 1), [rs("old", 3, 3)])
    assert plan == {"new": 2}


def test_rolling_update_removes_unavailable_old_pods_first():
    # maxUnavailable 2 of 4: the unhealthy ReplicaSet loses its pods before the healthy older one.
    olds = [rs("healthy", 2, 2, "2026-01-01T00:00:01Z"), rs("unhealthy", 2, 0, "2026-01-01T00:00:02Z")]
    assert rolling_update_plan(4, 0, 2, rs("new", 0, 0), olds) == {"unhealthy": 0}
    # No more than maxUnavailable below the desired count: 3 replicas, 1 may be missing.
    assert rolling_update_plan(3, 0, 1, rs("new", 0, 0), [rs("old", 3, 1)]) == {"old": 2}


def test_revision_history_keeps_the_newest_idle_replicasets():
    def old(number, replicas):
        rs_ = rs(f"r{number}", replicas, replicas)
        rs_["metadata"]["annotations"] = {REVISION: str(number)}
        rs_["status"]["replicas"] = replicas
        return rs_

    olds = [old(3, 0), old(1, 0), old(2, 0), old(4, 2)]
    assert [r["metadata"]["name"] for r in history_to_clean(olds, 1)] == ["r1", "r2"]
    assert history_to_clean(olds, 10) == []


def test_replicaset_deletes_unscheduled_then_unready_then_newest():
    pods = [pod("old-ready", created="2026-01-01T00:00:01Z"),
            pod("new-ready", created="2026-01-01T00:00:09Z"),
            pod("unready", ready=False),
            pod("pending", node=None, ready=False, phase="Pending")]
    order = [p["metadata"]["name"] for p in pods_to_delete(pods, 4)]
    assert order == ["pending", "unready", "new-ready", "old-ready"]
    assert pods_to_delete(pods, 0) == []


def test_scheduler_spreads_by_fewest_pods_and_honours_selectors_and_taints():
    cp_taint = {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}
    nodes = [node("cp", labels={"zone": "a"}, taints=[cp_taint]), node("w1", labels={"zone": "a"}), node("w2", labels={"zone": "b"})]
    assert schedule(pod("p", node=None), nodes, {"w1": 2, "w2": 1}) == ("w2", "")
    assert schedule(pod("p", node=None, nodeSelector={"zone": "a"}), nodes, {"w1": 5})[0] == "w1"
    tolerant = pod("p", node=None, tolerations=[{"key": cp_taint["key"], "operator": "Exists"}])
    assert schedule(tolerant, nodes, {"w1": 1, "w2": 1})[0] == "cp"
    node_name, message = schedule(pod("p", node=None, nodeSelector={"zone": "c"}), nodes, {})
    assert node_name is None
    assert message.startswith("0/3 nodes are available: 1 node(s) had untolerated taint "
                              "{node-role.kubernetes.io/control-plane: }, "
                              "2 node(s) didn't match Pod's node affinity/selector")


def test_a_full_node_takes_no_more_pods():
    small = node("w1")
    small["status"] = {"allocatable": {"pods": "3"}}
    nodes = [small, node("w2")]  # w2: no allocatable in status, so the kubelet default of 110
    assert schedule(pod("p", node=None), nodes, {"w1": 2, "w2": 109})[0] == "w1"  # room for one more
    assert schedule(pod("p", node=None), nodes, {"w1": 3, "w2": 109})[0] == "w2"
    node_name, message = schedule(pod("p", node=None), nodes, {"w1": 3, "w2": 110})
    assert node_name is None
    assert message == ("0/2 nodes are available: 2 Too many pods. preemption: 0/2 nodes are available: "
                       "2 No preemption victims found for incoming pod.")
    cordoned = node("w3", unschedulable=True)
    message = schedule(pod("p", node=None), [*nodes, cordoned], {"w1": 3, "w2": 110})[1]
    assert message == ("0/3 nodes are available: 1 node(s) were unschedulable, 2 Too many pods. preemption: "
                       "0/3 nodes are available: 1 Preemption is not helpful for scheduling, 2 No preemption "
                       "victims found for incoming pod.")


def test_cordoned_node_is_skipped():
    nodes = [node("w1", unschedulable=True), node("w2")]
    assert schedule(pod("p", node=None), nodes, {"w2": 10})[0] == "w2"
    assert "unschedulable" in schedule(pod("p", node=None), nodes[:1], {})[1]


def test_tolerations_match_like_upstream():
    taint = {"key": "k", "value": "v", "effect": "NoSchedule"}
    assert tolerates([{"key": "k", "operator": "Equal", "value": "v"}], taint)
    assert not tolerates([{"key": "k", "operator": "Equal", "value": "x"}], taint)
    assert tolerates([{"operator": "Exists"}], taint)
    assert not tolerates([{"key": "k", "operator": "Exists", "effect": "NoExecute"}], taint)


def test_kubelet_status_walks_pending_to_ready_and_honours_readiness_gates():
    p = pod("p", readinessGates=[{"conditionType": "example.com/gate"}])
    p["status"] = {}
    pending = pending_status(p, "172.18.0.3", STAMP)
    assert pending["phase"] == "Pending" and "podIP" not in pending  # no sandbox yet: no IP in the first write
    assert pending["containerStatuses"][0]["state"] == {"waiting": {"reason": "ContainerCreating"}}
    assert get_condition({"status": pending}, "PodReadyToStartContainers")["status"] == "False"
    assert pending_status(dict(p, spec=dict(p["spec"], hostNetwork=True)), "172.18.0.3", STAMP)["podIP"] == "172.18.0.3"
    p["status"] = pending
    running = running_status(p, ["10.244.1.5"], {"c": STAMP}, STAMP)
    p["status"] = running
    conditions = {c["type"]: c for c in running["conditions"]}
    assert running["phase"] == "Running" and running["podIPs"] == [{"ip": "10.244.1.5"}]
    assert conditions["PodReadyToStartContainers"]["status"] == "True"
    assert conditions["ContainersReady"]["status"] == "True"
    assert conditions["Ready"]["status"] == "False"
    assert conditions["Ready"]["reason"] == "ReadinessGatesNotReady"
    assert gate_problems(p) == ['corresponding condition of pod readiness gate "example.com/gate" does not exist.']
    p["status"]["conditions"].append({"type": "example.com/gate", "status": "True"})
    assert update_readiness(p, "2026-01-01T00:00:05Z")
    ready = get_condition(p, "Ready")
    assert ready["status"] == "True" and "reason" not in ready
    assert ready["lastTransitionTime"] == "2026-01-01T00:00:05Z"
    assert not update_readiness(p, "2026-01-01T00:00:06Z")  # nothing changed, no write


def test_boot_data_follows_the_kind_config():
    config = load_cluster_config()
    assert boot.kubernetes_version(config) == KUBERNETES_VERSION
    assert boot.pod_cidrs_by_family(config) == {"endpoints-control-plane": ["10.244.0.0/24"],
                                                "endpoints-worker": ["10.244.1.0/24"],
                                                "endpoints-worker2": ["10.244.2.0/24"]}
    assert boot.service_ip(config, 1) == "10.96.0.1" and boot.service_ip(config, 10) == "10.96.0.10"
    dual = load_cluster_config(REPO_ROOT / "kind" / "dual-stack.yaml")
    assert boot.pod_cidrs_by_family(dual)["endpoints-worker2"] == ["10.244.2.0/24", "fd00:10:244:2::/64"]
    assert boot.default_service_cidr(dual, "t")["spec"]["cidrs"] == ["10.96.0.0/16", "fd00:10:96::/112"]
    cm = next(p for p in boot.static_pods(config, "cp", "uid", "172.18.0.2", "v1.36.1")
              if p["metadata"]["name"] == "kube-controller-manager-cp")
    assert "--max-endpoints-per-slice=100" in cm["spec"]["containers"][0]["command"]
    assert "--node-monitor-grace-period=20s" in cm["spec"]["containers"][0]["command"]


@pytest.mark.parametrize("mode", ["iptables", "nftables"])
def test_kube_proxy_daemonset_carries_the_proxy_mode(mode):
    ds = boot.kube_proxy_daemonset("v1.36.1", mode)
    assert f"--proxy-mode={mode}" in ds["spec"]["template"]["spec"]["containers"][0]["command"]
