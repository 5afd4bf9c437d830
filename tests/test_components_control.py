"""The /sim/ control interface over HTTP: info, clock, node stop/start, proxy rules, slice decisions."""

import json
import urllib.error
import urllib.request
from datetime import datetime

from conftest import advance_until, deployment, kubectl, ready, wait_until

from helpers.config import KUBERNETES_VERSION
from helpers.kube import get_condition


def call(handle, method, path, body=None):
    """(status, parsed JSON or text) for one /sim/ request."""
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    # urllib would label a body as a form (a browser's media type, which the simulator refuses)
    request = urllib.request.Request(handle.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            status, content_type, payload = response.status, response.headers["Content-Type"], response.read()
    except urllib.error.HTTPError as err:
        status, content_type, payload = err.code, err.headers["Content-Type"], err.read()
    return status, json.loads(payload) if content_type.startswith("application/json") else payload.decode()


def node_condition(handle, node, type_="Ready"):
    obj = handle.cluster.store.get("nodes", node)
    return get_condition(obj, type_)


def lease_time(handle, node):
    return handle.cluster.store.get("leases.coordination.k8s.io", node, "kube-node-lease")["spec"]["renewTime"]


def test_info_describes_the_simulator_and_its_config(sim):
    status, info = call(sim, "GET", "/sim/info")
    assert status == 200 and info["simulator"] is True
    assert info["kubernetesVersion"] == KUBERNETES_VERSION and info["speed"] == sim.cluster.clock.speed
    assert [n["name"] for n in info["config"]["nodes"]] == ["endpoints-control-plane", "endpoints-worker",
                                                             "endpoints-worker2"]
    assert info["config"]["podSubnet"] == "10.244.0.0/16" and info["config"]["maxEndpointsPerSlice"] == 100


def test_bad_requests_get_status_errors(sim):
    assert call(sim, "POST", "/sim/clock/advance", b"{not json")[0] == 400
    status, body = call(sim, "POST", "/sim/clock/advance", {"seconds": -5})
    assert status == 400 and body["kind"] == "Status" and "a number from 0 to 3600" in body["message"]
    assert call(sim, "POST", "/sim/nodes/nope/stop", {})[0] == 404
    assert call(sim, "GET", "/sim/nodes/endpoints-worker/proxy?format=ipvs")[0] == 400
    assert call(sim, "GET", "/sim/clock/advance")[0] == 405
    assert call(sim, "GET", "/sim/controllers/endpointslice/decisions")[0] == 400
    status, body = call(sim, "POST", "/sim/controllers/endpointslice/config", {"missingNodeBehavior": "x"})
    assert status == 400 and "missingNodeBehavior" in body["message"]
    assert call(sim, "GET", "/sim/unknown")[0] == 404


def test_stopped_node_stops_heartbeats_goes_unknown_and_recovers_on_start(still_sim):
    """On a still clock: the pod is evicted 30 s (default-unreachable-toleration-seconds) after the node's
    unreachable taint, which at SPEED a loaded machine's pauses between these steps reach."""
    handle, worker = still_sim, "endpoints-worker2"
    store = handle.cluster.store
    store.create("pods", {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "resident"},
                          "spec": {"nodeName": worker, "containers": [{"name": "c", "image": "busybox"}]}},
                 namespace="default")
    advance_until(handle, lambda: ready(store.get("pods", "resident", "default")), what="resident pod Ready")
    before = lease_time(handle, worker)
    call(handle, "POST", "/sim/clock/advance", {"seconds": 15})
    assert lease_time(handle, worker) > before  # renewed every 10 s
    status, body = call(handle, "POST", f"/sim/nodes/{worker}/stop")
    assert status == 200 and body == {"node": worker, "running": False}
    frozen = lease_time(handle, worker)
    call(handle, "POST", "/sim/clock/advance", {"seconds": 40})  # past the 20 s node-monitor-grace-period
    assert lease_time(handle, worker) == frozen
    assert lease_time(handle, "endpoints-worker") > frozen  # the other nodes keep renewing
    advance_until(handle, lambda: node_condition(handle, worker)["status"] == "Unknown", limit=5,
                  what="Ready=Unknown")
    assert "NotReady" in kubectl(handle, "get", "node", worker, "--no-headers").stdout
    advance_until(handle, lambda: not ready(store.get("pods", "resident", "default")), limit=5,
                  what="pod marked not Ready")
    call(handle, "POST", f"/sim/nodes/{worker}/start")
    assert lease_time(handle, worker) > frozen
    advance_until(handle, lambda: node_condition(handle, worker)["status"] == "True", limit=10, what="Ready again")
    advance_until(handle, lambda: ready(store.get("pods", "resident", "default")), limit=10,
                  what="the kubelet reports it Ready")
    reasons = [e["reason"] for e in handle.cluster.store.list("events", "default")[0]
               if e["involvedObject"]["name"] == worker and e["source"]["component"] == "kubelet"]
    assert reasons == ["Starting", "NodeReady"]


def test_advance_moves_virtual_time(private_sim):
    _, before = call(private_sim, "GET", "/sim/info")
    status, body = call(private_sim, "POST", "/sim/clock/advance", {"seconds": 300})
    assert status == 200 and body["advancedSeconds"] == 300
    assert body["virtualTime"] >= before["virtualTime"]
    _, after = call(private_sim, "GET", "/sim/info")
    assert after["virtualTime"][:16] > before["virtualTime"][:16]  # at least 5 minutes later


def test_fast_forward_is_leased_switched_off_and_validated(private_sim):
    status, body = call(private_sim, "POST", "/sim/clock/fast-forward", {"seconds": 30})
    assert status == 200 and body["fastForwarding"] is True and isinstance(body["lease"], int)
    other = call(private_sim, "POST", "/sim/clock/fast-forward", {"seconds": 30})[1]["lease"]
    assert call(private_sim, "GET", "/sim/clock")[1]["fastForwarding"] is True
    status, body = call(private_sim, "POST", "/sim/clock/fast-forward", {"seconds": 0, "lease": body["lease"]})
    assert status == 200 and body["fastForwarding"] is True  # the other lease is still held
    status, body = call(private_sim, "POST", "/sim/clock/fast-forward", {"seconds": 0, "lease": other})
    assert status == 200 and body["fastForwarding"] is False
    for bad in ({"seconds": -1}, {"seconds": "5"}, {"seconds": True}, {}):
        status, body = call(private_sim, "POST", "/sim/clock/fast-forward", bad)
        assert status == 400 and body["kind"] == "Status" and "a number from 0 to 3600" in body["message"]
    status, body = call(private_sim, "POST", "/sim/clock/fast-forward", {"seconds": 1, "lease": "x"})
    assert status == 400 and "lease" in body["message"]
    assert call(private_sim, "GET", "/sim/clock/fast-forward")[0] == 405
    assert call(private_sim, "POST", "/sim/clock", {})[0] == 405


def test_commit_times_of_resource_versions(private_sim):
    store = private_sim.cluster.store
    before = private_sim.cluster.clock.time()
    created = store.create("namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ct"}})
    rv = created["metadata"]["resourceVersion"]
    status, body = call(private_sim, "POST", "/sim/store/commit-times", {"resourceVersions": [rv, "999999", "x"]})
    assert status == 200 and list(body["commitTimes"]) == [rv]  # unknown and malformed versions are left out
    when = datetime.fromisoformat(body["commitTimes"][rv]).timestamp()
    # stamped to the nearest microsecond, at a virtual time that may not have moved since `before` or after the
    # commit (virtual time is held at a due timer while the reactor catches up)
    assert before - 1e-6 <= when <= private_sim.cluster.clock.time() + 1e-6
    for bad in ({}, {"resourceVersions": "1"}, {"resourceVersions": [1]}):
        status, body = call(private_sim, "POST", "/sim/store/commit-times", bad)
        assert status == 400 and body["kind"] == "Status"


def test_proxy_rules_and_slice_decisions_for_a_service(sim, ns):
    store = sim.cluster.store
    kubectl(sim, "apply", "-n", ns, "-f", "-", input=json.dumps(deployment("web", 2)))
    kubectl(sim, "expose", "deployment", "web", "-n", ns, "--port=80")
    svc = store.get("services", "web", ns)
    wait_until(sim, lambda: len([e for s in store.list("endpointslices.discovery.k8s.io", ns)[0]
                                 for e in s.get("endpoints") or [] if e["conditions"].get("ready")]) == 2,
               what="2 ready endpoints")
    def rules_with_cluster_ip():
        text = call(sim, "GET", "/sim/nodes/endpoints-worker/proxy")[1]
        return text if svc["spec"]["clusterIP"] in text else None

    rules = wait_until(sim, rules_with_cluster_ip, what="rules for the ClusterIP")
    assert "KUBE-SERVICES" in rules
    status, body = call(sim, "GET", "/sim/nodes/endpoints-worker/proxy?format=nftables")
    assert status == 409 and "programs iptables rules, not nftables" in body["message"]  # not what it synced
    status, decisions = call(sim, "GET", f"/sim/controllers/endpointslice/decisions?namespace={ns}&service=web")
    assert status == 200 and decisions["service"] == "web" and decisions["decisions"]


def test_missing_node_behavior_can_be_switched(private_sim):
    status, body = call(private_sim, "POST", "/sim/controllers/endpointslice/config",
                        {"missingNodeBehavior": "pre-1.25"})
    assert status == 200 and body == {"missingNodeBehavior": "pre-1.25", "sliceInformerLagSeconds": 0.0,
                                      "staleSliceCheck": True}
    assert call(private_sim, "GET", "/sim/info")[1]["config"]["missingNodeBehavior"] == "pre-1.25"
    status, body = call(private_sim, "POST", "/sim/controllers/endpointslice/config",
                        {"sliceInformerLagSeconds": 2, "staleSliceCheck": False})
    assert status == 200 and body["sliceInformerLagSeconds"] == 2.0 and body["staleSliceCheck"] is False
    for bad in ({"sliceInformerLagSeconds": 61}, {"sliceInformerLagSeconds": "1"}, {"staleSliceCheck": "no"},
                {}, {"lag": 1}):
        status, body = call(private_sim, "POST", "/sim/controllers/endpointslice/config", bad)
        assert status == 400 and body["kind"] == "Status", bad


def test_an_update_of_an_object_the_informer_never_held_reaches_handlers_as_an_add():
    """client-go's HandleDeltas turns it into OnAdd; handlers that read `old` on updates must not see None."""
    from helpers.sim.clock import Clock
    from helpers.sim.controllers.informer import SharedInformer
    from helpers.sim.store import Store

    clock = Clock()
    store = Store(clock)
    informer = SharedInformer(store, clock, ("services",))
    seen = []
    informer.on("services", lambda event_type, obj, old: seen.append((event_type, old)))
    obj = {"metadata": {"name": "svc", "namespace": "default", "resourceVersion": "5"}, "spec": {}}
    informer._apply("MODIFIED", "services", obj)
    informer._apply("MODIFIED", "services", dict(obj, metadata=dict(obj["metadata"], resourceVersion="6")))
    assert [(t, o is None) for t, o in seen] == [("ADDED", True), ("MODIFIED", False)]


def test_graceful_shutdown_stops_pods_failed_rejects_new_ones_then_powers_off(private_sim):
    """pkg/kubelet/nodeshutdown (v1.36.1): Ready=False "node is shutting down", pods Failed/Terminated with a
    DisruptionTarget condition (not deleted), new pods rejected, then the node is off until started."""
    handle, worker = private_sim, "endpoints-worker2"
    store = handle.cluster.store
    for name, grace in (("quick", 2), ("slow", 60)):
        store.create("pods", {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
                              "spec": {"nodeName": worker, "terminationGracePeriodSeconds": grace, "containers": [
                                  {"name": "c", "image": "busybox", "command": ["sleep", "3600"]}]}},
                     namespace="default")
    for name in ("quick", "slow"):
        wait_until(handle, lambda n=name: ready(store.get("pods", n, "default")), what=f"{name} Ready")
    for bad in ({}, {"shutdownGracePeriod": 0}, {"shutdownGracePeriod": 5, "shutdownGracePeriodCriticalPods": 9},
                {"shutdownGracePeriod": "30"}):
        assert call(handle, "POST", f"/sim/nodes/{worker}/shutdown", bad)[0] == 400, bad
    status, body = call(handle, "POST", f"/sim/nodes/{worker}/shutdown",
                        {"shutdownGracePeriod": 20, "shutdownGracePeriodCriticalPods": 10})
    assert status == 200 and body["shutdownGracePeriod"] == 20.0
    ready_condition = node_condition(handle, worker)
    assert (ready_condition["status"], ready_condition["reason"], ready_condition["message"]) == (
        "False", "KubeletNotReady", "node is shutting down")
    store.create("pods", {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "late"},
                          "spec": {"nodeName": worker, "containers": [{"name": "c", "image": "busybox"}]}},
                 namespace="default")
    wait_until(handle, lambda: store.get("pods", "late", "default")["status"].get("phase") == "Failed",
               what="the late pod rejected")
    assert store.get("pods", "late", "default")["status"]["reason"] == "NodeShutdown"
    call(handle, "POST", "/sim/clock/advance", {"seconds": 3})
    quick = store.get("pods", "quick", "default")  # its own 2 s grace period is shorter than 20 - 10 s
    assert quick["status"]["phase"] == "Failed" and quick["status"]["reason"] == "Terminated"
    assert quick["status"]["message"] == "Pod was terminated in response to imminent node shutdown."
    assert get_condition(quick, "DisruptionTarget")["reason"] == "TerminationByKubelet"
    assert not quick["metadata"].get("deletionTimestamp")
    call(handle, "POST", "/sim/clock/advance", {"seconds": 10})  # slow: stopped within 20 - 10 = 10 s
    assert store.get("pods", "slow", "default")["status"]["phase"] == "Failed"
    assert not handle.cluster.node_running(worker)  # every pod stopped: the inhibitor lock is released, power off
    reasons = [e["reason"] for e in store.list("events", "default")[0] if e["involvedObject"]["name"] == worker]
    assert "NodeShutdown" in reasons
    call(handle, "POST", f"/sim/nodes/{worker}/start")
    wait_until(handle, lambda: node_condition(handle, worker)["status"] == "True", what="Ready after boot")
    assert store.get("pods", "slow", "default")["status"]["phase"] == "Failed"  # a terminal pod stays terminal
    for name in ("quick", "slow", "late"):
        store.delete("pods", name, "default", grace_period_seconds=0)
