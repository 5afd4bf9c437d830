"""What a trace row says: change summaries, inferred actors, kube-proxy syncs from klog lines (pure)."""

from datetime import UTC, datetime

from helpers.trace import actor_of, parse_klog, proxy_sync_rows, summarize


def pod(node=None, ip=None, ready=None, phase="Pending", owner="ReplicaSet", deleting=False):
    meta = {"name": "web-1", "ownerReferences": [{"kind": owner, "name": "web"}] if owner else []}
    if deleting:
        meta["deletionTimestamp"] = "2026-11-26T06:00:00Z"
    status = {"phase": phase, "podIP": ip}
    if ready is not None:
        status["conditions"] = [{"type": "Ready", "status": ready}]
    return {"kind": "Pod", "metadata": meta, "spec": {"nodeName": node}, "status": status}


def test_pod_changes_and_who_made_them():
    created = pod()
    bound = pod(node="endpoints-worker")
    started = pod(node="endpoints-worker", ip="10.244.1.5", ready="False")
    ready = pod(node="endpoints-worker", ip="10.244.1.5", ready="True", phase="Running")
    steps = [("ADDED", None, created), ("MODIFIED", created, bound), ("MODIFIED", bound, started),
             ("MODIFIED", started, ready), ("MODIFIED", ready, pod("endpoints-worker", "10.244.1.5", "True",
                                                                 "Running", deleting=True))]
    seen = []
    for etype, old, new in steps:
        summary = summarize("Pod", etype, old, new)
        seen.append((summary, actor_of("Pod", etype, old, new, summary)))
    assert seen == [("created", "ReplicaSet controller"),
                    ("nodeName=endpoints-worker", "scheduler"),
                    ("podIP=10.244.1.5, ready None→False", "kubelet"),
                    ("phase Pending→Running, ready False→True", "kubelet"),
                    ("terminating", "ReplicaSet controller")]
    assert actor_of("Pod", "ADDED", None, pod(owner=None), "created") == "user/kubectl"


def test_slice_endpoints_deployment_node_and_event_summaries():
    def eps(*ready):
        return {"endpoints": [{"addresses": [f"10.0.0.{i}"], "conditions": {"ready": r}} for i, r in enumerate(ready)],
                "metadata": {"labels": {"endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"}}}

    assert summarize("EndpointSlice", "ADDED", None, eps()) == "created (0 endpoints, 0 ready)"
    assert summarize("EndpointSlice", "MODIFIED", eps(True), eps(True, False)) == "endpoints 1→2"
    assert actor_of("EndpointSlice", "MODIFIED", None, eps(), "") == "EndpointSlice controller"
    v1 = {"subsets": [{"addresses": [{"ip": "a"}], "notReadyAddresses": [{"ip": "b"}]}]}
    assert summarize("Endpoints", "MODIFIED", {"subsets": []}, v1) == "ready 0→1, notReady 0→1"
    deploy = {"spec": {"replicas": 3}, "status": {"readyReplicas": 3}}
    scaled = {"spec": {"replicas": 5}, "status": {"readyReplicas": 3}}
    summary = summarize("Deployment", "MODIFIED", deploy, scaled)
    assert (summary, actor_of("Deployment", "MODIFIED", deploy, scaled, summary)) == ("replicas 3→5", "user/kubectl")
    node = {"status": {"conditions": [{"type": "Ready", "status": "True"}]}, "spec": {}}
    lost = {"status": {"conditions": [{"type": "Ready", "status": "Unknown"}]},
            "spec": {"taints": [{"key": "node.kubernetes.io/unreachable"}]}}
    summary = summarize("Node", "MODIFIED", node, lost)
    assert summary == "Ready True→Unknown, taints []→['node.kubernetes.io/unreachable']"
    assert actor_of("Node", "MODIFIED", node, lost, summary) == "node lifecycle controller"
    assert summarize("Node", "MODIFIED", node, node) == ""  # a heartbeat: nothing a reader would notice
    event = {"reason": "Scheduled", "message": "Successfully assigned", "source": {"component": "default-scheduler"}}
    assert actor_of("Event", "ADDED", None, event, "") == "scheduler"


LOG = """I1126 05:58:51.230681       1 server_linux.go] "Using iptables Proxier"
I1126 05:58:51.234355       1 proxier.go] "SyncProxyRules complete" elapsed="0.259ms"
I1126 05:58:53.264463       1 proxier.go] "SyncProxyRules complete" elapsed="0.338ms"
not a klog line
"""


def test_kube_proxy_syncs_from_klog_lines():
    start = datetime(2026, 11, 26, 5, 58, 52, tzinfo=UTC).timestamp()
    assert parse_klog('I1126 05:58:51.230681       1 server_linux.go] "Using iptables Proxier"', 2026) == \
        (start - 1 + 0.230681, "Using iptables Proxier", "")
    rows = proxy_sync_rows({"endpoints-worker": LOG}, start, start + 10)
    assert [(r["t"], r["name"], r["summary"], r["actor"]) for r in rows] == [
        (1.264, "endpoints-worker", 'rules synced elapsed="0.338ms"', "kube-proxy (endpoints-worker)")]
