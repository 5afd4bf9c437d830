"""The simulated kubelet through the API: startup events, readiness gates, graceful deletion, logs."""

import json
import re

from conftest import api_client, kubectl, ready, wait_until


def pod_manifest(name, **spec):
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": name}},
            "spec": {"containers": [{"name": name, "image": "registry.k8s.io/pause:3.10"}], **spec}}


def get_pod(handle, ns, name):
    return handle.cluster.store.get("pods", name, ns)


def test_pod_walks_pending_to_running_with_upstream_events_in_order(sim, ns):
    kubectl(sim, "apply", "-n", ns, "-f", "-", input=json.dumps(pod_manifest("solo")))
    wait_until(sim, lambda: ready(get_pod(sim, ns, "solo")), what="pod ready")
    events = sorted((e for e in sim.cluster.store.list("events", ns)[0] if e["involvedObject"]["name"] == "solo"),
                    key=lambda e: e["metadata"]["name"])
    reasons = [e["reason"] for e in events]
    assert reasons[0] == "Scheduled" and reasons[-2:] == ["Created", "Started"]
    assert "Pulled" in reasons
    assert all(e["involvedObject"]["uid"] == get_pod(sim, ns, "solo")["metadata"]["uid"] for e in events)
    assert {e["reportingComponent"] for e in events} == {"default-scheduler", "kubelet"}
    # the scheduler writes events.k8s.io/v1 (no source, an action); the kubelet core/v1 with its node as host
    scheduled = events[0]
    assert scheduled["source"] == {} and scheduled["action"] == "Binding" and scheduled["eventTime"]
    assert scheduled["reportingInstance"] == "default-scheduler-endpoints-control-plane"
    assert {e["source"]["component"] for e in events[1:]} == {"kubelet"}
    described = kubectl(sim, "describe", "pod", "solo", "-n", ns).stdout
    assert "Started container solo" in described
    assert re.search(r"Normal\s+Scheduled\s+\S+\s+default-scheduler\s+Successfully assigned", described), described
    assert "simulated container solo started" in kubectl(sim, "logs", "solo", "-n", ns).stdout


def test_readiness_gate_holds_ready_until_its_condition_is_true(sim, ns):
    from kubernetes import client

    gated = pod_manifest("gated", readinessGates=[{"conditionType": "example.com/ready"}])
    core = client.CoreV1Api(api_client(sim))
    core.create_namespaced_pod(ns, gated)
    pod = wait_until(sim, lambda: (p := get_pod(sim, ns, "gated"))["status"].get("phase") == "Running" and p,
                     what="running")
    conditions = {c["type"]: c for c in pod["status"]["conditions"]}
    assert conditions["ContainersReady"]["status"] == "True"
    assert conditions["Ready"]["status"] == "False"
    assert conditions["Ready"]["reason"] == "ReadinessGatesNotReady"
    core.patch_namespaced_pod_status("gated", ns, {"status": {"conditions": [
        {"type": "example.com/ready", "status": "True"}]}})
    wait_until(sim, lambda: ready(get_pod(sim, ns, "gated")), what="Ready after the gate flips")
    core.patch_namespaced_pod_status("gated", ns, {"status": {"conditions": [
        {"type": "example.com/ready", "status": "False"}]}})
    wait_until(sim, lambda: not ready(get_pod(sim, ns, "gated")), what="not Ready after the gate flips back")


def test_readiness_probe_initial_delay_is_honoured(private_sim):
    handle, store = private_sim, private_sim.cluster.store
    probed = pod_manifest("probed", nodeName="endpoints-worker")
    probed["spec"]["containers"][0]["image"] = "nginx:1.27"  # listens on :80 (helpers.sim.images)
    probed["spec"]["containers"][0]["readinessProbe"] = {"httpGet": {"path": "/", "port": 80},
                                                         "initialDelaySeconds": 120}
    store.create("pods", probed, namespace="default")
    wait_until(handle, lambda: get_pod(handle, "default", "probed")["status"].get("phase") == "Running",
               what="running")
    handle.cluster.clock.advance(60)
    assert not ready(get_pod(handle, "default", "probed"))  # still inside initialDelaySeconds
    handle.cluster.clock.advance(61)
    wait_until(handle, lambda: ready(get_pod(handle, "default", "probed")), what="ready after the delay")


def test_graceful_deletion_shows_terminating_then_the_pod_disappears(private_sim):
    handle, store = private_sim, private_sim.cluster.store
    bye = pod_manifest("bye", terminationGracePeriodSeconds=60)
    bye["spec"]["containers"][0]["lifecycle"] = {"preStop": {"sleep": {"seconds": 20}}}
    kubectl(handle, "apply", "-f", "-", input=json.dumps(bye))
    wait_until(handle, lambda: ready(get_pod(handle, "default", "bye")), what="pod ready")
    kubectl(handle, "delete", "pod", "bye", "--wait=false")
    pod = get_pod(handle, "default", "bye")
    assert pod["metadata"]["deletionTimestamp"] and pod["metadata"]["deletionGracePeriodSeconds"] == 60
    row = kubectl(handle, "get", "pod", "bye", "--no-headers").stdout.split()
    assert row[2] == "Terminating"
    assert ready(get_pod(handle, "default", "bye"))  # still serving while the preStop hook sleeps
    handle.cluster.clock.advance(22)
    kubectl(handle, "wait", "--for=delete", "pod/bye", "--timeout=30s")
    killing = [e for e in store.list("events", "default")[0] if e["reason"] == "Killing"]
    assert [e["message"] for e in killing] == ["Stopping container bye"]


def test_second_pod_on_a_node_finds_the_image_cached(private_sim):
    handle, store = private_sim, private_sim.cluster.store
    for name in ("first", "second"):
        store.create("pods", pod_manifest(name, nodeName="endpoints-worker2"), namespace="default")
        wait_until(handle, lambda n=name: ready(get_pod(handle, "default", n)), what=f"{name} ready")
    messages = {e["involvedObject"]["name"]: e["message"] for e in store.list("events", "default")[0]
                if e["reason"] == "Pulled"}
    assert messages["first"].startswith('Successfully pulled image "registry.k8s.io/pause:3.10" in ')
    assert messages["second"] == 'Container image "registry.k8s.io/pause:3.10" already present on machine'


def test_ip_and_ready_arrive_in_one_status_write_after_the_containers_start(sim, ns):
    """Upstream (v1.36.1) writes the Pending status before the runtime creates the sandbox, then podIP, Running
    and Ready together at the PLEG relist (1 s period) after the containers started; so the slice gets one
    ready endpoint and never a not-ready one first."""
    writes, slices, started = [], [], []

    def record(_type, resource, obj, _old):
        if obj["metadata"].get("namespace") != ns:
            return
        now = sim.cluster.clock.time()
        if resource == "pods" and obj["metadata"]["name"] == "pair":
            if obj["status"].get("containerStatuses"):  # the kubelet's writes
                writes.append((now, obj["status"].get("podIP") is not None, ready(obj), obj["status"]["phase"]))
        elif resource == "endpointslices.discovery.k8s.io":
            slices.append([e["conditions"].get("ready") for e in obj.get("endpoints") or []])
        elif resource == "events" and obj["reason"] == "Started":
            started.append(now)

    unsubscribe = sim.cluster.store.subscribe(record)
    try:
        service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "pair"},
                   "spec": {"selector": {"app": "pair"}, "ports": [{"port": 80}]}}
        kubectl(sim, "apply", "-n", ns, "-f", "-", input=json.dumps(service))
        wait_until(sim, lambda: slices, what="the placeholder slice")
        kubectl(sim, "apply", "-n", ns, "-f", "-", input=json.dumps(pod_manifest("pair")))
        wait_until(sim, lambda: slices[-1] == [True], what="a ready endpoint")
    finally:
        unsubscribe()
    kubelet = [w[1:] for w in writes]
    assert kubelet == [(False, False, "Pending"), (True, True, "Running")], kubelet
    assert [s for s in slices if s] == [[True]], slices
    assert 0 < writes[-1][0] - started[-1] <= 1.0 + 0.05, (writes[-1][0], started)


# -- kubectl logs --previous and -f (kubelet_pods.go validateContainerLogStatus, kuberuntime ReadLogs) ---------
def _stamp(log: str) -> str:
    return log.split(" ", 1)[0]


def test_logs_previous_reads_the_last_terminated_run_and_says_when_there_is_none(private_sim):
    handle = private_sim
    crash = pod_manifest("crash", nodeName="endpoints-worker")
    # 30 s: no run may end before the first check, however slow kubectl is on a loaded machine
    crash["spec"]["containers"][0].update(image="busybox:1.36", command=["sh", "-c", "echo run; sleep 30; exit 1"])
    handle.cluster.store.create("pods", crash, namespace="default")
    wait_until(handle, lambda: ready(get_pod(handle, "default", "crash")), what="crash running")
    none = kubectl(handle, "logs", "crash", "--previous", check=False)
    assert none.returncode == 1
    assert none.stderr == 'Error from server (BadRequest): previous terminated container "crash" in pod "crash" not found\n'
    handle.cluster.clock.advance(31)
    wait_until(handle, lambda: "running" not in get_pod(handle, "default", "crash")["status"]["containerStatuses"][0][
        "state"], what="the first run ended")
    handle.cluster.clock.advance(12)  # past the first crash-loop back-off, 10 s
    pod = wait_until(handle, lambda: (p := get_pod(handle, "default", "crash"))["status"]["containerStatuses"][0][
        "restartCount"] >= 1 and p, what="one restart")
    cs = pod["status"]["containerStatuses"][0]
    previous = kubectl(handle, "logs", "crash", "-p").stdout
    assert "run\n" in previous and _stamp(previous) == cs["lastState"]["terminated"]["startedAt"]
    current = kubectl(handle, "logs", "crash").stdout
    if "running" in cs["state"]:
        assert _stamp(current) == cs["state"]["running"]["startedAt"] != _stamp(previous)
    typo = pod_manifest("typo", nodeName="endpoints-worker")
    typo["spec"]["containers"][0]["image"] = "nginxx"
    handle.cluster.store.create("pods", typo, namespace="default")
    wait_until(handle, lambda: "waiting" in ((get_pod(handle, "default", "typo")["status"].get("containerStatuses")
                                              or [{}])[0].get("state") or {"running": 1}), what="typo waiting")
    handle.cluster.clock.advance(3)
    waiting = kubectl(handle, "logs", "typo", check=False)
    assert waiting.returncode == 1 and waiting.stderr.startswith(
        'Error from server (BadRequest): container "typo" in pod "typo" is waiting to start: '), waiting.stderr


def test_logs_follow_streams_until_the_container_ends_or_the_client_stops(private_sim):
    import subprocess

    from conftest import KUBECTL

    handle = private_sim
    once = pod_manifest("once", nodeName="endpoints-worker", restartPolicy="Never")
    once["spec"]["containers"][0].update(image="busybox:1.36", command=["sh", "-c", "echo begin; sleep 30"])
    handle.cluster.store.create("pods", once, namespace="default")
    wait_until(handle, lambda: ready(get_pod(handle, "default", "once")), what="once running")
    args = [KUBECTL, f"--kubeconfig={handle.kubeconfig}", "logs", "-f", "once"]
    follower = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = follower.stdout.readline()  # streamed while the container runs
        assert "simulated container once started" in first
        assert follower.poll() is None
        handle.cluster.clock.advance(31)  # the container exits: the stream ends, kubectl exits 0
        follower.wait(timeout=20)
        out, err = follower.stdout.read(), follower.stderr.read()
    finally:
        follower.kill()
    assert follower.returncode == 0, err
    assert "begin\n" in first + out
    # a client that stops following: the server's watch of the pod ends with it
    server = kubectl(handle, "run", "web", "--image=nginx:1.27")
    assert server.returncode == 0
    wait_until(handle, lambda: ready(get_pod(handle, "default", "web")), what="web running")
    watches = sum(len(w) for w in handle.cluster.store._watches.values())
    follower = subprocess.Popen(args[:-1] + ["web"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert "simulated container web started" in follower.stdout.readline()
        assert sum(len(w) for w in handle.cluster.store._watches.values()) == watches + 1
    finally:
        follower.kill()
        follower.wait(timeout=10)
    wait_until(handle, lambda: sum(len(w) for w in handle.cluster.store._watches.values()) == watches,
               timeout=10, what="the follow's watch to end after the client went")
