"""Table cell formats ported from upstream printers.go, checked on hand-built objects."""

import datetime as dt

import pytest

from helpers.kube import format_time
from helpers.sim.api import printers

NOW = dt.datetime(2026, 1, 10, 12, 0, 0, tzinfo=dt.UTC)


def ago(seconds: int) -> str:
    return format_time(NOW - dt.timedelta(seconds=seconds))


@pytest.mark.parametrize("seconds,text", [
    (-5, "<invalid>"), (-1, "0s"), (0, "0s"), (5, "5s"), (119, "119s"), (150, "2m30s"), (180, "3m"),
    (599, "9m59s"), (600, "10m"), (179 * 60, "179m"), (3 * 3600, "3h"), (3 * 3600 + 120, "3h2m"),
    (9 * 3600, "9h"), (47 * 3600, "47h"), (50 * 3600, "2d2h"), (72 * 3600, "3d"), (10 * 86400, "10d"),
    (800 * 86400, "2y70d"), (3 * 365 * 86400, "3y"), (9 * 365 * 86400, "9y"),
])
def test_human_duration(seconds, text):
    assert printers.human_duration(seconds) == text


def make_pod(**status):
    return {"metadata": {"name": "p", "creationTimestamp": ago(90)},
            "spec": {"containers": [{"name": "a"}, {"name": "b"}]}, "status": status}


def test_pod_status_column_variants():
    running = {"running": {}}
    ok = {"name": "a", "ready": True, "state": running, "restartCount": 0}
    assert printers.pod_row(make_pod(phase="Running", containerStatuses=[ok, {**ok, "name": "b"}]), NOW)[1:5] == \
        ["2/2", "Running", "0", "90s"]
    crash = {"name": "b", "ready": False, "restartCount": 4, "state": {"waiting": {"reason": "CrashLoopBackOff"}},
             "lastState": {"terminated": {"finishedAt": ago(300), "exitCode": 1}}}
    assert printers.pod_row(make_pod(phase="Running", containerStatuses=[ok, crash]), NOW)[1:4] == \
        ["1/2", "CrashLoopBackOff", "4 (5m ago)"]
    exited = {"name": "b", "ready": False, "restartCount": 0, "state": {"terminated": {"exitCode": 137}}}
    assert printers.pod_row(make_pod(phase="Running", containerStatuses=[exited]), NOW)[2] == "ExitCode:137"
    evicted = make_pod(phase="Failed", reason="Evicted")
    assert printers.pod_row(evicted, NOW)[2] == "Evicted"
    terminating = make_pod(phase="Running")
    terminating["metadata"]["deletionTimestamp"] = ago(0)
    assert printers.pod_row(terminating, NOW)[2] == "Terminating"
    lost = make_pod(phase="Running", reason="NodeLost")
    lost["metadata"]["deletionTimestamp"] = ago(0)
    assert printers.pod_row(lost, NOW)[2] == "Unknown"
    init = make_pod(phase="Pending", initContainerStatuses=[{"name": "i", "state": {"waiting": {
        "reason": "PodInitializing"}}}])
    init["spec"]["initContainers"] = [{"name": "i"}]
    assert printers.pod_row(init, NOW)[2] == "Init:0/1"


def test_pod_readiness_gates_cell():
    pod = make_pod(phase="Running", conditions=[{"type": "a", "status": "True"}, {"type": "b", "status": "False"}])
    pod["spec"]["readinessGates"] = [{"conditionType": "a"}, {"conditionType": "b"}]
    assert printers.pod_row(pod, NOW)[-1] == "1/2"


def test_endpoints_cell():
    assert printers.format_endpoints(None) == "<none>"
    subsets = [{"addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}],
                "ports": [{"port": 80}, {"port": 443}]}]
    assert printers.format_endpoints(subsets) == "10.0.0.1:80,10.0.0.2:80,10.0.0.1:443 + 1 more..."
    assert printers.format_endpoints([{"addresses": [{"ip": "fd00::1"}], "ports": [{"port": 80}]}]) == \
        "[fd00::1]:80"
    assert printers.format_endpoints([{"notReadyAddresses": [{"ip": "10.0.0.1"}], "ports": [{"port": 80}]}]) == ""


def test_endpointslice_cells():
    s = {"metadata": {"name": "s", "creationTimestamp": ago(5)}, "addressType": "IPv4",
         "ports": [{"port": 80}, {"name": "named"}, {}, {"port": 9}],
         "endpoints": [{"addresses": ["10.0.0.1"]}, {"addresses": ["10.0.0.2"]}]}
    assert printers.endpointslice_row(s, NOW) == ["s", "IPv4", "80,named,* + 1 more...", "10.0.0.1,10.0.0.2", "5s"]


def test_service_external_ip_cells():
    def row(spec, status=None):
        return printers.service_row({"metadata": {"name": "s"}, "spec": spec, "status": status or {}}, NOW)
    assert row({"type": "LoadBalancer", "clusterIPs": ["10.96.0.5"], "ports": [{"port": 80, "nodePort": 31000}]},
               {"loadBalancer": {"ingress": [{"ip": "172.18.255.200"}]}})[2:5] == \
        ["10.96.0.5", "172.18.255.200", "80:31000/TCP"]
    assert row({"type": "ExternalName", "externalName": "example.com"})[2:5] == ["<none>", "example.com", "<none>"]
    assert row({"type": "ClusterIP", "externalIPs": ["1.2.3.4"], "ports": []})[3] == "1.2.3.4"


def test_event_cells():
    ev = {"metadata": {"name": "web.1"}, "type": "Normal", "reason": "ScalingReplicaSet",
          "message": " Scaled up replica set web-abc to 3 ", "count": 3, "firstTimestamp": ago(600),
          "lastTimestamp": ago(30), "source": {"component": "deployment-controller"},
          "involvedObject": {"kind": "Deployment", "name": "web", "fieldPath": ""}}
    assert printers.event_row(ev, NOW) == ["30s", "Normal", "ScalingReplicaSet", "deployment/web", "",
                                           "deployment-controller", "Scaled up replica set web-abc to 3", "10m",
                                           3, "web.1"]
    micro = {"metadata": {"name": "e"}, "eventTime": "2026-01-10T11:59:50.000000Z", "involvedObject": {"kind": "Node"},
             "reportingComponent": "kubelet", "reportingInstance": "worker"}
    assert printers.event_row(micro, NOW)[0] == "10s" and printers.event_row(micro, NOW)[3:6] == \
        ["node", "", "kubelet, worker"]


def test_node_and_workload_cells():
    node = {"metadata": {"name": "n", "labels": {"node-role.kubernetes.io/control-plane": "",
                                                 "kubernetes.io/role": "infra"}},
            "spec": {}, "status": {"conditions": [{"type": "Ready", "status": "Unknown"}]}}
    assert printers.node_row(node, NOW)[1:3] == ["NotReady", "control-plane,infra"]
    ds = {"metadata": {"name": "kube-proxy"}, "spec": {
        "selector": {"matchLabels": {"k8s-app": "kube-proxy"}},
        "template": {"spec": {"nodeSelector": {"kubernetes.io/os": "linux"},
                              "containers": [{"name": "kube-proxy", "image": "registry.k8s.io/kube-proxy:v1.37.0"}]}}},
          "status": {"desiredNumberScheduled": 3, "currentNumberScheduled": 3, "numberReady": 3,
                     "updatedNumberScheduled": 3, "numberAvailable": 3}}
    assert printers.daemonset_row(ds, NOW) == ["kube-proxy", 3, 3, 3, 3, 3, "kubernetes.io/os=linux", "<unknown>",
                                               "kube-proxy", "registry.k8s.io/kube-proxy:v1.37.0",
                                               "k8s-app=kube-proxy"]
    policy = {"metadata": {"name": "np"}, "spec": {"podSelector": {"matchExpressions": [
        {"key": "tier", "operator": "In", "values": ["b", "a"]}]}}}
    assert printers.networkpolicy_row(policy, NOW)[1] == "tier in (a,b)"
    assert printers.networkpolicy_row({"metadata": {"name": "all"}, "spec": {"podSelector": {}}}, NOW)[1] == \
        "<none>"


def test_sidecar_init_containers_count_towards_ready():
    pod = make_pod(phase="Running", conditions=[{"type": "Initialized", "status": "True"}],
                   initContainerStatuses=[{"name": "proxy", "started": True, "ready": True, "restartCount": 1,
                                           "state": {"running": {}}}],
                   containerStatuses=[{"name": "a", "ready": True, "restartCount": 2, "state": {"running": {}}},
                                      {"name": "b", "ready": False, "restartCount": 0, "state": {"running": {}}}])
    pod["spec"]["initContainers"] = [{"name": "proxy", "restartPolicy": "Always"}]
    assert printers.pod_row(pod, NOW)[1:4] == ["2/3", "Running", "3"]
    failing = make_pod(phase="Pending", initContainerStatuses=[
        {"name": "setup", "restartCount": 3, "state": {"terminated": {"exitCode": 1}}}])
    failing["spec"]["initContainers"] = [{"name": "setup"}]
    assert printers.pod_row(failing, NOW)[1:4] == ["0/2", "Init:ExitCode:1", "3"]
