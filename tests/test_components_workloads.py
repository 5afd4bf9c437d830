"""Deployments, ReplicaSets and DaemonSets end to end through the API (kubectl and the Python client)."""

import ipaddress
import json

from conftest import api_client, deployment, kubectl, pods_of, ready, wait_until

from helpers.config import AGNHOST_IMAGE
from helpers.sim.controllers.workloads import HASH_LABEL, REVISION


def apply(handle, namespace, obj):
    kubectl(handle, "apply", "-n", namespace, "-f", "-", input=json.dumps(obj))


def ready_pods(handle, namespace, app, count):
    pods = [p for p in pods_of(handle, namespace, app) if not p["metadata"].get("deletionTimestamp")]
    return pods if len(pods) == count and all(ready(p) for p in pods) else None


def test_deployment_scales_to_ready_pods_with_ips_from_their_nodes_pod_cidrs(sim, ns):
    apply(sim, ns, deployment("web", 4))
    pods = wait_until(sim, lambda: ready_pods(sim, ns, "web", 4), what="4 ready pods")
    from kubernetes import client

    nodes = {n.metadata.name: n for n in client.CoreV1Api(api_client(sim)).list_node().items}
    for pod in pods:
        node = nodes[pod["spec"]["nodeName"]]
        assert ipaddress.ip_address(pod["status"]["podIP"]) in ipaddress.ip_network(node.spec.pod_cidr)
        assert pod["status"]["hostIP"] == node.status.addresses[0].address
        assert pod["metadata"]["name"].startswith(f"web-{pod['metadata']['labels'][HASH_LABEL]}-")
    # The control plane is tainted NoSchedule: replicas spread over the two workers.
    assert sorted(p["spec"]["nodeName"] for p in pods) == ["endpoints-worker"] * 2 + ["endpoints-worker2"] * 2
    out = kubectl(sim, "get", "deployment", "web", "-n", ns).stdout
    assert out.split("\n")[1].split()[:4] == ["web", "4/4", "4", "4"]


def test_scale_down_keeps_the_requested_number_and_reports_it(sim, ns):
    apply(sim, ns, deployment("api", 3))
    wait_until(sim, lambda: ready_pods(sim, ns, "api", 3), what="3 ready pods")
    kubectl(sim, "scale", "deployment/api", "-n", ns, "--replicas=1")
    wait_until(sim, lambda: len(pods_of(sim, ns, "api")) == 1, what="scale down to 1 pod")
    status = sim.cluster.store.get("deployments.apps", "api", ns)["status"]
    assert status["replicas"] == status["readyReplicas"] == status["availableReplicas"] == 1
    reasons = [e["message"] for e in sim.cluster.store.list("events", ns)[0]
               if e["involvedObject"]["kind"] == "ReplicaSet" and e["reason"] == "SuccessfulDelete"]
    assert len(reasons) == 2


def test_rolling_update_creates_a_second_replicaset_and_rollout_status_completes(sim, ns):
    apply(sim, ns, deployment("roll", 3, image="nginx:1.27"))
    wait_until(sim, lambda: ready_pods(sim, ns, "roll", 3), what="first rollout")
    kubectl(sim, "set", "image", "deployment/roll", "-n", ns, "roll=nginx:1.28")
    out = kubectl(sim, "rollout", "status", "deployment/roll", "-n", ns, "--timeout=60s").stdout
    assert 'deployment "roll" successfully rolled out' in out
    replicasets = sorted(sim.cluster.store.list("replicasets.apps", ns)[0],
                         key=lambda rs: int(rs["metadata"]["annotations"][REVISION]))
    assert [rs["spec"]["replicas"] for rs in replicasets] == [0, 3]
    assert replicasets[1]["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.28"
    pods = wait_until(sim, lambda: ready_pods(sim, ns, "roll", 3), what="3 new pods")
    assert {p["spec"]["containers"][0]["image"] for p in pods} == {"nginx:1.28"}
    scaling = [e["message"] for e in sim.cluster.store.list("events", ns)[0] if e["reason"] == "ScalingReplicaSet"]
    new_rs = replicasets[1]["metadata"]["name"]
    assert f"Scaled up replica set {new_rs} from 0 to 1" in scaling  # maxSurge 25% of 3 rounds up to 1
    assert any(m.startswith(f"Scaled down replica set {replicasets[0]['metadata']['name']}") for m in scaling)
    history = kubectl(sim, "rollout", "history", "deployment/roll", "-n", ns).stdout
    assert [line.split()[0] for line in history.strip().split("\n")[2:]] == ["1", "2"]


def test_rollout_undo_reuses_the_old_replicaset_under_a_new_revision_and_history_is_capped(sim, ns):
    capped = deployment("undo", 1, image="nginx:1.27")
    capped["spec"]["revisionHistoryLimit"] = 1
    apply(sim, ns, capped)
    wait_until(sim, lambda: ready_pods(sim, ns, "undo", 1), what="first rollout")
    for image in ("nginx:1.28", "nginx:1.29"):
        kubectl(sim, "set", "image", "deployment/undo", "-n", ns, f"undo={image}")
        kubectl(sim, "rollout", "status", "deployment/undo", "-n", ns, "--timeout=60s")
    kubectl(sim, "rollout", "undo", "deployment/undo", "-n", ns)
    kubectl(sim, "rollout", "status", "deployment/undo", "-n", ns, "--timeout=60s")

    def history():
        sets = sim.cluster.store.list("replicasets.apps", ns)[0]
        return sorted((int(rs["metadata"]["annotations"][REVISION]),
                       rs["spec"]["template"]["spec"]["containers"][0]["image"]) for rs in sets)

    # 1.27 (revision 1) was cleaned up past the limit; undo brought 1.28 back as revision 4.
    assert wait_until(sim, lambda: history() == [(3, "nginx:1.29"), (4, "nginx:1.28")] and history(),
                      what="revisions after undo")
    annotations = sim.cluster.store.get("deployments.apps", "undo", ns)["metadata"]["annotations"]
    assert annotations[REVISION] == "4"


def test_daemonset_runs_one_pod_per_schedulable_node(sim, ns):
    ds = {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent"},
          "spec": {"selector": {"matchLabels": {"app": "agent"}},
                   "template": {"metadata": {"labels": {"app": "agent"}},
                                "spec": {"containers": [{"name": "agent", "image": "busybox:1.37"}]}}}}
    apply(sim, ns, ds)
    # Without a toleration for the control-plane taint, the agent runs on the two workers only.
    pods = wait_until(sim, lambda: ready_pods(sim, ns, "agent", 2), what="2 daemon pods")
    assert sorted(p["spec"]["nodeName"] for p in pods) == ["endpoints-worker", "endpoints-worker2"]
    status = wait_until(sim, lambda: (s := sim.cluster.store.get("daemonsets.apps", "agent", ns)["status"])
                        .get("numberReady") == 2 and s, what="DaemonSet status")
    assert status["desiredNumberScheduled"] == status["currentNumberScheduled"] == 2


def test_daemonset_rolling_update_deletes_the_old_pod_and_waits_until_it_is_gone(sim, ns):
    """maxUnavailable 1, maxSurge 0 (pkg/controller/daemon/update.go rollingUpdate, v1.36.1): per node the
    old pod is deleted, its busybox `sleep` ignores SIGTERM for the grace period, and only once it is gone
    does the new pod appear there; one node at a time."""
    ds = {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "roll"},
          "spec": {"selector": {"matchLabels": {"app": "roll"}},
                   "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}},
                   "template": {"metadata": {"labels": {"app": "roll"}},
                                "spec": {"terminationGracePeriodSeconds": 5, "containers": [
                                    {"name": "sleep", "image": "busybox:1.37", "command": ["sleep", "3600"]}]}}}}
    apply(sim, ns, ds)
    old = {p["metadata"]["name"]: p["spec"]["nodeName"] for p in wait_until(sim, lambda: ready_pods(sim, ns, "roll", 2),
                                                                          what="2 daemon pods")}
    log = []  # (event, pod, node) in commit order

    def record(event_type, _resource, pod, before):
        if pod["metadata"].get("namespace") == ns:
            started = pod["metadata"].get("deletionTimestamp") and not (before or {}).get("metadata", {}).get(
                "deletionTimestamp")
            kind = "terminating" if event_type == "MODIFIED" and started else event_type
            log.append((kind, pod["metadata"]["name"], pod["spec"].get("nodeName") or ""))

    unsubscribe = sim.cluster.store.subscribe(record, resources=("pods",))
    try:
        ds["spec"]["template"]["spec"]["containers"][0]["command"] = ["sleep", "7200"]
        apply(sim, ns, ds)
        new = wait_until(sim, lambda: (pods := ready_pods(sim, ns, "roll", 2)) and not {
            p["metadata"]["name"] for p in pods} & set(old) and pods, timeout=60, what="2 updated daemon pods")
    finally:
        unsubscribe()
    for name, node in old.items():
        marks = [i for i, (kind, pod, _) in enumerate(log) if pod == name and kind in ("terminating", "DELETED")]
        created = next(i for i, (kind, pod, n) in enumerate(log) if kind == "ADDED" and pod not in old
                       and (n == node or any(p["metadata"]["name"] == pod and p["spec"]["nodeName"] == node
                                             for p in new)))
        assert len(marks) == 2 and marks[0] < marks[1] < created, (node, log)
    # one node at a time: the second old pod is deleted only after the first node has its new pod
    first_new = min(i for i, (kind, pod, _) in enumerate(log) if kind == "ADDED")
    terminations = [i for i, (kind, _, _) in enumerate(log) if kind == "terminating"]
    assert terminations[0] < first_new < terminations[1], log


def test_a_new_paused_deployment_gets_no_replicaset_and_its_template_no_pod_defaults(sim, ns):
    """deployment_controller.go syncDeployment: paused -> sync(), which creates no new ReplicaSet; pod-only
    defaults (enableServiceLinks, SetDefaults_Pod) stay off templates (tests/test_oracle_api.py saw both)."""
    paused = deployment("held", 1)
    paused["spec"]["paused"] = True
    apply(sim, ns, paused)
    status = wait_until(sim, lambda: (json.loads(kubectl(sim, "get", "deployment", "held", "-n", ns, "-o", "json")
                                                 .stdout).get("status") or {}).get("observedGeneration"),
                        what="the controller's status write")
    assert status == 1
    held = json.loads(kubectl(sim, "get", "deployment", "held", "-n", ns, "-o", "json").stdout)
    assert "deployment.kubernetes.io/revision" not in held["metadata"].get("annotations", {})
    assert "enableServiceLinks" not in held["spec"]["template"]["spec"]
    assert kubectl(sim, "get", "replicasets", "-n", ns, "-o", "name").stdout.strip() == ""


def test_replicasets_and_deployments_report_terminating_replicas(sim, ns):
    """DeploymentReplicaSetTerminatingReplicas (beta, on since 1.35): a pod being deleted counts in the
    ReplicaSet's and the Deployment's status.terminatingReplicas until it is gone."""
    slow = deployment("term", 2, AGNHOST_IMAGE)  # serve-hostname lingers after SIGTERM: the pod stays terminating
    slow["spec"]["template"]["spec"]["containers"][0]["args"] = ["serve-hostname"]
    apply(sim, ns, slow)
    pods = wait_until(sim, lambda: ready_pods(sim, ns, "term", 2), what="2 ready pods")
    get = lambda kind: json.loads(kubectl(sim, "get", kind, "-n", ns, "-o", "json").stdout)["items"]
    assert [d["status"]["terminatingReplicas"] for d in get("deployments")] == [0]
    kubectl(sim, "scale", "deployment/term", "-n", ns, "--replicas=1")
    counts = wait_until(sim, lambda: [r["status"].get("terminatingReplicas") for r in get("replicasets")] == [1]
                        and [d["status"].get("terminatingReplicas") for d in get("deployments")] == [1],
                        what="one terminating replica in both statuses")
    assert counts and pods
