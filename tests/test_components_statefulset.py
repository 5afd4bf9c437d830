"""StatefulSets as kubernetes.io's StatefulSet Basics tutorial drives them: the real kubectl, a whole cluster."""

import json

from conftest import kubectl, wait_until

from helpers.sim.controllers.statefulset import plan

MANIFEST = """apiVersion: v1
kind: Service
metadata: {name: nginx, labels: {app: nginx}}
spec:
  ports: [{port: 80, name: web}]
  clusterIP: None
  selector: {app: nginx}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: web}
spec:
  serviceName: nginx
  replicas: 2
  selector: {matchLabels: {app: nginx}}
  template:
    metadata: {labels: {app: nginx}}
    spec:
      containers: [{name: nginx, image: registry.k8s.io/nginx-slim:0.24, ports: [{containerPort: 80, name: web}]}]
"""


def pods(handle, ns):
    items = json.loads(kubectl(handle, "get", "pods", "-n", ns, "-l", "app=nginx", "-o", "json").stdout)["items"]
    return {p["metadata"]["name"]: p for p in items if not p["metadata"].get("deletionTimestamp")}


def test_statefulset_pods_come_up_in_order_with_stable_names_and_hostnames(sim, ns):
    out = kubectl(sim, "apply", "-n", ns, "-f", "-", input=MANIFEST).stdout
    assert "statefulset.apps/web created" in out
    rolled = kubectl(sim, "rollout", "status", "statefulset/web", "-n", ns, "--timeout=60s").stdout
    assert "partitioned roll out complete: 2 new pods have been updated..." in rolled
    running = pods(sim, ns)
    assert sorted(running) == ["web-0", "web-1"]
    web0, web1 = running["web-0"], running["web-1"]
    ready0 = next(c for c in web0["status"]["conditions"] if c["type"] == "Ready")["lastTransitionTime"]
    assert web1["metadata"]["creationTimestamp"] >= ready0  # OrderedReady: web-1 waited for web-0
    assert (web0["spec"]["hostname"], web0["spec"]["subdomain"]) == ("web-0", "nginx")
    assert web1["metadata"]["labels"]["apps.kubernetes.io/pod-index"] == "1"
    assert kubectl(sim, "get", "sts", "web", "-n", ns).stdout.splitlines()[1].split()[:2] == ["web", "2/2"]

    def hostnames():
        items = json.loads(kubectl(sim, "get", "endpointslices", "-n", ns, "-l", "kubernetes.io/service-name=nginx",
                                   "-o", "json").stdout)["items"]
        names = sorted(e.get("hostname", "") for s in items for e in s.get("endpoints") or [])
        return names if names == ["web-0", "web-1"] else None

    assert wait_until(sim, hostnames, what="hostnames in the headless Service's slice")
    assert kubectl(sim, "scale", "sts", "web", "-n", ns, "--replicas=1").stdout.strip() == \
        "statefulset.apps/web scaled"
    assert wait_until(sim, lambda: sorted(pods(sim, ns)) == ["web-0"], what="web-1 gone")


def test_ordered_ready_plan_makes_one_move_at_a_time():
    sts = {"metadata": {"name": "web"}, "spec": {"replicas": 3, "template": {"spec": {}}}}

    def pod(i, ready):
        return {"metadata": {"name": f"web-{i}", "labels": {}},
                "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": str(ready)}]}}

    assert plan(sts, {}) == ([0], [])
    assert plan(sts, {0: pod(0, False)}) == ([], [])  # waits for web-0
    assert plan(sts, {0: pod(0, True)}) == ([1], [])
    sts["spec"]["replicas"] = 1
    assert plan(sts, {0: pod(0, True), 1: pod(1, True), 2: pod(2, True)}) == ([], ["web-2"])
