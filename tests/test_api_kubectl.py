"""Conformance: the real kubectl 1.37 against a bare simulated API server (no controllers).

Each test asserts on kubectl's own output and exit code for the verbs kube-api-wire.md §6 marks feasible.
"""

import json
import subprocess
import threading
import time

import pytest
from apiharness import Harness, rows
from builders import deployment, node, pod, running

from helpers.config import KUBERNETES_VERSION

SERVICE_YAML = """apiVersion: v1
kind: Service
metadata: {name: %(name)s}
spec:
  selector: {app: web}
  ports: [{name: http, port: %(port)d, targetPort: 80}]
"""


@pytest.fixture(scope="module")
def h():
    harness = Harness()
    store = harness.store
    store.create("nodes", node("endpoints-control-plane", "172.18.0.2", roles=("control-plane",)))
    store.create("nodes", node("endpoints-worker", "172.18.0.3"))
    store.create("nodes", node("endpoints-worker2", "172.18.0.4", ready=False, unschedulable=True))
    yield harness
    harness.stop()


def wait_until(predicate, timeout=10.0):
    """Poll ``predicate`` until true (for conditions no store event announces, like an open watch)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.01)


def test_version_and_discovery(h):
    out = h.kubectl("version").stdout
    assert f"Server Version: {KUBERNETES_VERSION}-sim" in out
    table = rows(h.kubectl("api-resources").stdout)
    by_name = {r[0]: r for r in table[1:]}
    assert by_name["endpointslices"][-3:] == ["discovery.k8s.io/v1", "true", "EndpointSlice"]
    assert by_name["services"][1] == "svc" and by_name["nodes"][-2:] == ["false", "Node"]
    assert "leases" in by_name and "networkpolicies" in by_name


def test_get_nodes_wide(h):
    table = rows(h.kubectl("get", "nodes", "-o", "wide").stdout)
    assert table[0] == ["NAME", "STATUS", "ROLES", "AGE", "VERSION", "INTERNAL-IP", "EXTERNAL-IP", "OS-IMAGE",
                        "KERNEL-VERSION", "CONTAINER-RUNTIME"]
    by_name = {r[0]: r for r in table[1:]}
    assert by_name["endpoints-control-plane"][1:3] == ["Ready", "control-plane"]
    assert by_name["endpoints-worker2"][1:3] == ["NotReady,SchedulingDisabled", "<none>"]
    assert by_name["endpoints-worker"][4:] == ["v1.37.0", "172.18.0.3", "<none>", "Debian GNU/Linux 12 (bookworm)",
                                               "6.8.0", "containerd://2.1.0"]


def test_get_pods_wide_shows_status_ip_node_and_gates(h):
    store = h.store
    store.create("namespaces", {"metadata": {"name": "pods-wide"}})
    store.create("pods", pod("pending"), namespace="pods-wide")
    store.create("pods", pod("ready", node="endpoints-worker", gates=("example.com/lb", "example.com/x")),
                 namespace="pods-wide")
    running(store, "ready", "pods-wide", "10.244.1.5",
            conditions=[{"type": "example.com/lb", "status": "True"}])
    store.create("pods", pod("leaving", node="endpoints-worker"), namespace="pods-wide")
    running(store, "leaving", "pods-wide", "10.244.1.6")
    store.delete("pods", "leaving", "pods-wide")
    table = rows(h.kubectl("get", "pods", "-n", "pods-wide", "-o", "wide").stdout)
    assert table[0] == ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE", "NOMINATED NODE",
                        "READINESS GATES"]
    by_name = {r[0]: r for r in table[1:]}
    assert by_name["pending"][1:4] == ["0/1", "Pending", "0"] and by_name["pending"][5:] == [
        "<none>", "<none>", "<none>", "<none>"]
    assert by_name["ready"][1:3] == ["1/1", "Running"]
    assert by_name["ready"][5:] == ["10.244.1.5", "endpoints-worker", "<none>", "1/2"]
    assert by_name["leaving"][2] == "Terminating"


def test_services_endpoints_and_slices_tables(h):
    store = h.store
    store.create("namespaces", {"metadata": {"name": "svc"}})
    store.create("services", {"metadata": {"name": "web"}, "spec": {
        "selector": {"app": "web", "tier": "fe"}, "type": "NodePort",
        "ports": [{"name": "http", "port": 80, "nodePort": 30080}, {"name": "dns", "port": 53, "protocol": "UDP"}]}},
        namespace="svc")
    store.create("services", {"metadata": {"name": "lb"}, "spec": {"type": "LoadBalancer", "ports": [{"port": 443}]}},
                 namespace="svc")
    store.create("services", {"metadata": {"name": "headless"}, "spec": {"clusterIP": "None", "ports": [
        {"port": 80}]}}, namespace="svc")
    ips = [f"10.244.1.{i}" for i in range(1, 6)]
    store.create("endpoints", {"metadata": {"name": "web"}, "subsets": [
        {"addresses": [{"ip": ip} for ip in ips], "ports": [{"name": "http", "port": 80}]}]}, namespace="svc")
    store.create("endpointslices.discovery.k8s.io", {
        "metadata": {"name": "web-abcde", "labels": {"kubernetes.io/service-name": "web"}},
        "addressType": "IPv4", "ports": [{"name": "http", "port": 80}],
        "endpoints": [{"addresses": [ip], "conditions": {"ready": True}} for ip in ips]}, namespace="svc")
    store.create("endpointslices.discovery.k8s.io", {
        "metadata": {"name": "empty-xyz"}, "addressType": "IPv4", "ports": [], "endpoints": []}, namespace="svc")

    svc = rows(h.kubectl("get", "svc", "-n", "svc", "-o", "wide").stdout)
    assert svc[0] == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE", "SELECTOR"]
    by_name = {r[0]: r for r in svc[1:]}
    web = store.get("services", "web", "svc")["spec"]
    udp_node_port = web["ports"][1]["nodePort"]
    assert by_name["web"][1:5] == ["NodePort", web["clusterIP"], "<none>", f"80:30080/TCP,53:{udp_node_port}/UDP"]
    assert by_name["web"][6] == "app=web,tier=fe"
    assert by_name["lb"][1] == "LoadBalancer" and by_name["lb"][3] == "<pending>"
    assert by_name["headless"][2] == "None" and by_name["headless"][6] == "<none>"

    ep = h.kubectl("get", "endpoints", "-n", "svc")
    assert "Warning: v1 Endpoints is deprecated in v1.33+; use discovery.k8s.io/v1 EndpointSlice" in ep.stderr
    assert rows(ep.stdout)[1][:2] == ["web", "10.244.1.1:80,10.244.1.2:80,10.244.1.3:80 + 2 more..."]

    slices = rows(h.kubectl("get", "endpointslices", "-n", "svc").stdout)
    assert slices[0] == ["NAME", "ADDRESSTYPE", "PORTS", "ENDPOINTS", "AGE"]
    by_name = {r[0]: r for r in slices[1:]}
    assert by_name["web-abcde"][1:4] == ["IPv4", "80", "10.244.1.1,10.244.1.2,10.244.1.3 + 2 more..."]
    assert by_name["empty-xyz"][1:4] == ["IPv4", "<unset>", "<unset>"]


def test_get_all_namespaces_and_show_labels(h):
    h.store.create("pods", pod("labelled", labels={"app": "web", "tier": "fe"}), namespace="kube-system")
    table = rows(h.kubectl("get", "pods", "-A", "-l", "tier=fe", "--show-labels").stdout)
    assert table[0][0] == "NAMESPACE" and table[0][-1] == "LABELS"
    assert table[1][:2] == ["kube-system", "labelled"] and table[1][-1] == "app=web,tier=fe"
    empty = h.kubectl("get", "pods", "-l", "app=nothing")
    assert empty.stdout == "" and "No resources found in default namespace." in empty.stderr


def test_create_apply_and_server_side_apply(h):
    h.store.create("namespaces", {"metadata": {"name": "apply"}})
    out = h.kubectl("create", "-n", "apply", "-f", "-", input=json.dumps(deployment("web", replicas=2))).stdout
    assert out.strip() == "deployment.apps/web created"
    assert h.kubectl("apply", "-n", "apply", "-f", "-", input=SERVICE_YAML % {"name": "web", "port": 80}
                     ).stdout.strip() == "service/web created"
    assert h.kubectl("apply", "-n", "apply", "-f", "-", input=SERVICE_YAML % {"name": "web", "port": 80}
                     ).stdout.strip() == "service/web unchanged"
    assert h.kubectl("apply", "-n", "apply", "-f", "-", input=SERVICE_YAML % {"name": "web", "port": 8080}
                     ).stdout.strip() == "service/web configured"
    ports = h.store.get("services", "web", "apply")["spec"]["ports"]
    assert [(p["port"], p["targetPort"]) for p in ports] == [(8080, 80)]  # the strategic patch deleted port 80
    ssa = h.kubectl("apply", "--server-side", "-n", "apply", "-f", "-",
                    input=SERVICE_YAML % {"name": "ssa", "port": 81})
    assert ssa.stdout.strip() == "service/ssa serverside-applied"
    managers = {m["manager"]: m["operation"] for m in h.store.get("services", "ssa", "apply")["metadata"][
        "managedFields"]}
    assert managers == {"kubectl": "Apply"}
    dry = h.kubectl("apply", "--dry-run=server", "-n", "apply", "-f", "-",
                    input=SERVICE_YAML % {"name": "dry", "port": 80})
    assert "service/dry created (server dry run)" in dry.stdout
    assert h.kubectl("get", "svc", "dry", "-n", "apply", check=False).returncode == 1


def test_diff_uses_server_dry_run(h):
    h.store.create("namespaces", {"metadata": {"name": "diff"}})
    h.kubectl("apply", "-n", "diff", "-f", "-", input=SERVICE_YAML % {"name": "web", "port": 80})
    rv = h.store.get("services", "web", "diff")["metadata"]["resourceVersion"]
    result = h.kubectl("diff", "-n", "diff", "-f", "-", input=SERVICE_YAML % {"name": "web", "port": 90},
                       check=False)
    assert result.returncode == 1, result.stderr  # 1 = differences found
    assert "-    port: 80\n+    port: 90\n" in result.stdout
    assert h.store.get("services", "web", "diff")["metadata"]["resourceVersion"] == rv


def test_scale_label_set_image_and_rollout_restart(h):
    h.store.create("namespaces", {"metadata": {"name": "verbs"}})
    h.store.create("deployments.apps", deployment("web", replicas=1), namespace="verbs")
    assert h.kubectl("scale", "-n", "verbs", "deploy/web", "--replicas=5").stdout.strip() == \
        "deployment.apps/web scaled"
    assert h.store.get("deployments.apps", "web", "verbs")["spec"]["replicas"] == 5
    h.kubectl("label", "-n", "verbs", "deploy/web", "team=blue")
    assert h.store.get("deployments.apps", "web", "verbs")["metadata"]["labels"] == {"team": "blue"}
    h.kubectl("set", "image", "-n", "verbs", "deploy/web", "web=nginx:1.28")
    d = h.store.get("deployments.apps", "web", "verbs")
    assert d["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.28"
    assert d["metadata"]["generation"] == 3  # scale and set image changed the spec; the label did not
    h.kubectl("rollout", "restart", "-n", "verbs", "deploy/web")
    annotations = h.store.get("deployments.apps", "web", "verbs")["spec"]["template"]["metadata"]["annotations"]
    assert "kubectl.kubernetes.io/restartedAt" in annotations


def test_expose_run_and_logs(h):
    h.store.create("namespaces", {"metadata": {"name": "run"}})
    h.store.create("deployments.apps", deployment("web"), namespace="run")
    assert h.kubectl("expose", "-n", "run", "deployment", "web", "--port=80", "--target-port=8080"
                     ).stdout.strip() == "service/web exposed"
    svc = h.store.get("services", "web", "run")
    assert svc["spec"]["selector"] == {"app": "web"} and svc["spec"]["ports"][0]["targetPort"] == 8080
    assert h.kubectl("run", "-n", "run", "solo", "--image=busybox").stdout.strip() == "pod/solo created"
    h.store.log_source = lambda namespace, name, container, previous=False: f"hello from {namespace}/{name}/{container}\n"
    assert h.kubectl("logs", "-n", "run", "solo").stdout == "hello from run/solo/solo\n"
    h.store.log_source = lambda namespace, name, container, previous=False: "".join(f"line {i}\n" for i in range(10))
    assert h.kubectl("logs", "-n", "run", "solo", "--tail=2").stdout == "line 8\nline 9\n"


def test_delete_waits_for_graceful_pod_removal(h):
    store = h.store
    store.create("namespaces", {"metadata": {"name": "del"}})
    store.create("pods", pod("unbound"), namespace="del")
    assert h.kubectl("delete", "-n", "del", "pod", "unbound").returncode == 0
    store.create("pods", pod("bound", node="endpoints-worker"), namespace="del")
    with store.watch("pods", "del", field_selector="metadata.name=bound",
                     resource_version=store.resource_version) as w:
        def kubelet():  # finish the graceful deletion once it starts, as the kubelet would
            for event in w:
                if event["object"]["metadata"].get("deletionTimestamp"):
                    store.delete("pods", "bound", "del", grace_period_seconds=0)
                    return
        t = threading.Thread(target=kubelet)
        t.start()
        out = h.kubectl("delete", "-n", "del", "pod", "bound", "--timeout=20s").stdout
        t.join(10)
    assert out.strip() == 'pod "bound" deleted from del namespace'
    assert store.list("pods", "del")[0] == []


def test_wait_for_condition_uses_streaming_list(h):
    store = h.store
    store.create("namespaces", {"metadata": {"name": "wait"}})
    store.create("pods", pod("p", node="endpoints-worker"), namespace="wait")
    before = h.server.watches
    proc = subprocess.Popen([*h.kubectl_command(), "wait", "-n", "wait", "--for=condition=Ready", "pod/p",
                             "--timeout=20s"], env=h.kubectl_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    wait_until(lambda: h.server.watches - before)
    running(store, "p", "wait", "10.244.1.9")
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert out.strip() == "pod/p condition met"


def test_rollout_status_reads_deployment_status(h):
    store = h.store
    store.create("namespaces", {"metadata": {"name": "rollout"}})
    d = store.create("deployments.apps", deployment("web", replicas=2), namespace="rollout")
    d["status"] = {"observedGeneration": d["metadata"]["generation"], "replicas": 2, "updatedReplicas": 2,
                   "readyReplicas": 2, "availableReplicas": 2,
                   "conditions": [{"type": "Available", "status": "True"},
                                  {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}]}
    store.update("deployments.apps", d, subresource="status")
    out = h.kubectl("rollout", "status", "-n", "rollout", "deploy/web", "--timeout=20s").stdout
    assert 'deployment "web" successfully rolled out' in out
    table = rows(h.kubectl("get", "deploy", "-n", "rollout", "-o", "wide").stdout)
    assert table[0] == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE", "CONTAINERS", "IMAGES", "SELECTOR"]
    assert table[1][:4] == ["web", "2/2", "2", "2"] and table[1][5:] == ["web", "nginx:1.27", "app=web"]


def test_describe_and_events_show_events_for_the_object(h):
    store = h.store
    store.create("namespaces", {"metadata": {"name": "ev"}})
    s = store.create("endpointslices.discovery.k8s.io", {
        "metadata": {"name": "web-1"}, "addressType": "IPv4", "endpoints": [], "ports": []}, namespace="ev")
    now = "2026-01-01T00:00:00Z"
    store.create("events", {
        "metadata": {"name": "web-1.abc"}, "type": "Warning", "reason": "FailedToUpdateEndpointSlices",
        "message": "Error updating Endpoint Slices for Service ev/web", "count": 1,
        "firstTimestamp": now, "lastTimestamp": now, "source": {"component": "endpoint-slice-controller"},
        "involvedObject": {"kind": "EndpointSlice", "namespace": "ev", "name": "web-1",
                           "uid": s["metadata"]["uid"], "apiVersion": "discovery.k8s.io/v1"}}, namespace="ev")
    store.create("events", {
        "metadata": {"name": "other.def"}, "type": "Normal", "reason": "Other", "message": "unrelated",
        "involvedObject": {"kind": "Pod", "namespace": "ev", "name": "web-1", "uid": "x"}}, namespace="ev")
    out = h.kubectl("describe", "-n", "ev", "endpointslice", "web-1").stdout
    assert "FailedToUpdateEndpointSlices" in out and "endpoint-slice-controller" in out and "unrelated" not in out
    events = rows(h.kubectl("events", "-n", "ev").stdout)
    assert events[0] == ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    assert {r[2] for r in events[1:]} == {"FailedToUpdateEndpointSlices", "Other"}
    table = rows(h.kubectl("get", "events", "-n", "ev").stdout)
    assert table[0] == ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    assert ["Warning", "FailedToUpdateEndpointSlices", "endpointslice/web-1"] in [r[1:4] for r in table[1:]]


def test_get_watch_streams_table_rows(h):
    store = h.store
    store.create("namespaces", {"metadata": {"name": "watch"}})
    store.create("pods", pod("first"), namespace="watch")
    before = h.server.watches
    proc = subprocess.Popen([*h.kubectl_command(), "get", "pods", "-n", "watch", "-w", "--request-timeout=2s"],
                            env=h.kubectl_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_until(lambda: h.server.watches - before)
    store.create("pods", pod("second"), namespace="watch")
    store.delete("pods", "second", "watch")
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    table = rows(out)
    assert table[0] == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    # ADDED, then the unbound pod's grace-0 delete: MODIFIED (deletionTimestamp) and DELETED, as kube-apiserver
    assert [r[0] for r in table[1:]] == ["first", "second", "second", "second"]


def test_errors_kubectl_reports(h):
    unknown = h.kubectl("get", "widgets", check=False)
    assert unknown.returncode == 1 and 'the server doesn\'t have a resource type "widgets"' in unknown.stderr
    selector = h.kubectl("get", "pods", "-l", "app in (a", check=False)
    assert selector.returncode == 1 and "unable to parse requirement" in selector.stderr
    missing = h.kubectl("get", "pod", "nope", check=False)
    assert missing.returncode == 1 and 'pods "nope" not found' in missing.stderr
    invalid = h.kubectl("apply", "-f", "-", input=SERVICE_YAML % {"name": "Bad_Name", "port": 80}, check=False)
    assert invalid.returncode == 1 and 'Service "Bad_Name" is invalid' in invalid.stderr


def test_cordon_get_all_cluster_info_and_json_output(h):
    store = h.store
    assert h.kubectl("cordon", "endpoints-worker").stdout.strip() == "node/endpoints-worker cordoned"
    assert store.get("nodes", "endpoints-worker")["spec"]["unschedulable"] is True
    h.kubectl("uncordon", "endpoints-worker")
    assert not store.get("nodes", "endpoints-worker")["spec"].get("unschedulable")

    store.create("namespaces", {"metadata": {"name": "all"}})
    store.create("pods", pod("p"), namespace="all")
    store.create("services", {"metadata": {"name": "s"}, "spec": {"ports": [{"port": 80}]}}, namespace="all")
    store.create("deployments.apps", deployment("d"), namespace="all")
    store.create("endpointslices.discovery.k8s.io", {"metadata": {"name": "e"}, "addressType": "IPv4",
                                                     "endpoints": [], "ports": []}, namespace="all")
    names = [r[0] for r in rows(h.kubectl("get", "all", "-n", "all").stdout) if r[0] not in ("NAME", "")]
    assert names == ["pod/p", "service/s", "deployment.apps/d"]  # category "all"; no EndpointSlices

    listed = json.loads(h.kubectl("get", "pods", "-n", "all", "-o", "json").stdout)
    assert listed["kind"] == "List" and [i["metadata"]["name"] for i in listed["items"]] == ["p"]

    store.create("services", {"metadata": {"name": "kube-dns", "labels": {
        "kubernetes.io/cluster-service": "true", "kubernetes.io/name": "CoreDNS"}},
        "spec": {"clusterIP": "10.96.0.10", "ports": [{"name": "dns", "port": 53, "protocol": "UDP"}]}},
        namespace="kube-system")
    info = h.kubectl("cluster-info").stdout
    assert f"Kubernetes control plane is running at {h.server.url}" in info
    assert "CoreDNS is running at" in info


def test_patch_annotate_replace_and_delete_by_label(h):
    store = h.store
    store.create("namespaces", {"metadata": {"name": "edit"}})
    store.create("deployments.apps", deployment("web", replicas=1), namespace="edit")
    h.kubectl("patch", "-n", "edit", "deploy", "web", "--type=json",
              "-p", '[{"op": "replace", "path": "/spec/replicas", "value": 3}]')
    h.kubectl("patch", "-n", "edit", "deploy", "web", "--type=merge", "-p", '{"spec": {"paused": true}}')
    h.kubectl("annotate", "-n", "edit", "deploy", "web", "owner=team-a")
    d = store.get("deployments.apps", "web", "edit")
    assert d["spec"]["replicas"] == 3 and d["spec"]["paused"] is True
    assert d["metadata"]["annotations"] == {"owner": "team-a"}
    replaced = h.kubectl("replace", "-n", "edit", "-f", "-", input=json.dumps(deployment("web", replicas=7)))
    assert replaced.stdout.strip() == "deployment.apps/web replaced"
    assert store.get("deployments.apps", "web", "edit")["spec"]["replicas"] == 7
    bad = h.kubectl("patch", "-n", "edit", "deploy", "web", "--type=json",
                    "-p", '[{"op": "remove", "path": "/spec/nothing"}]', check=False)
    # kube-apiserver's generic 422 text, without the reason (tests/test_oracle_api.py checks it against it)
    assert bad.returncode == 1 and bad.stderr.strip() == ("The request is invalid: the server rejected our request "
                                                          "due to an error in our request")
    for name in ("a", "b"):
        store.create("pods", pod(name, labels={"app": "web"}), namespace="edit")
    out = h.kubectl("delete", "-n", "edit", "pods", "-l", "app=web").stdout
    assert out.splitlines() == ['pod "a" deleted from edit namespace', 'pod "b" deleted from edit namespace']


def test_namespace_deletion_marks_it_terminating(h):
    h.store.create("namespaces", {"metadata": {"name": "doomed"}})
    h.kubectl("delete", "namespace", "doomed", "--wait=false")
    table = {r[0]: r for r in rows(h.kubectl("get", "namespaces").stdout)[1:]}
    assert table["doomed"][1] == "Terminating"
    refused = h.kubectl("run", "late", "-n", "doomed", "--image=nginx", check=False)
    assert refused.returncode == 1 and "because it is being terminated" in refused.stderr


def test_unknown_fields_are_refused_by_strict_validation(h):
    typo = SERVICE_YAML.replace("selector:", "selctor:") % {"name": "typo", "port": 80}
    result = h.kubectl("apply", "-f", "-", input=typo, check=False)
    assert result.returncode == 1
    assert 'strict decoding error: unknown field "spec.selctor"' in result.stderr
    warned = h.kubectl("apply", "--validate=warn", "-f", "-", input=typo)
    assert 'Warning: unknown field "spec.selctor"' in warned.stderr
    assert "selctor" not in h.store.get("services", "typo", "default")["spec"]
