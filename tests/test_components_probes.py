"""The simulated kubelet's probes, exits and restarts against upstream v1.36.1 (pkg/kubelet/prober,
pkg/kubelet/kuberuntime, client-go flowcontrol backoff), checked through the API and real kubectl output."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
from conftest import advance_until, kubectl, ready, wait_until

from helpers.sim import images
from helpers.sim.controllers import prober
from helpers.sim.controllers.flowcontrol import Backoff, go_duration

AGNHOST = images.AGNHOST_IMAGE
NODE = "endpoints-worker"


def pod(name, image=AGNHOST, args=None, command=None, restart="Always", **probes):
    container = {"name": name, "image": image, **({"args": args} if args else {}),
                 **({"command": command} if command else {}), **probes}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": name}},
            "spec": {"nodeName": NODE, "restartPolicy": restart, "containers": [container]}}


class Recorder:
    """The virtual time of every Event occurrence (an aggregated Event counts again) and pod status write."""

    def __init__(self, handle, name):
        self.handle, self.name, self.events, self.statuses = handle, name, [], []
        self.unsubscribe = handle.cluster.store.subscribe(self._record)

    def _record(self, type_, resource, obj, old):
        now = self.handle.cluster.clock.time()
        if resource == "events" and obj["involvedObject"]["name"] == self.name:
            if old is None or obj.get("count", 1) != old.get("count", 1):
                self.events.append((now, obj["reason"], obj["message"]))
        elif resource == "pods" and obj["metadata"]["name"] == self.name and type_ == "MODIFIED":
            self.statuses.append((now, obj["status"]))

    def reasons(self, reason):
        return [(t, m) for t, r, m in self.events if r == reason]


def get(handle, name):
    return handle.cluster.store.get("pods", name, "default")


def started(handle, name):
    return wait_until(handle, lambda: (p := get(handle, name))["status"].get("phase") == "Running" and p,
                      what=f"{name} running")


def container_status(handle, name):
    return get(handle, name)["status"]["containerStatuses"][0]


# -- pure parts ------------------------------------------------------------------------------------
def test_backoff_doubles_to_five_minutes_and_resets_after_ten_minutes_of_running():
    """client-go flowcontrol.Backoff as NewBackOff(10s, 300s) without jitter; stale after 2 x max."""
    b, key, t = Backoff(), "c", 0.0
    assert not b.in_backoff_since(key, t, t)  # the first restart does not wait
    waits = []
    for _ in range(7):
        b.next(key, t, t)
        waits.append(b.get(key))
        assert b.in_backoff_since(key, t, t + waits[-1] - 0.1) and not b.in_backoff_since(key, t, t + waits[-1])
        t += waits[-1]
    assert waits == [10, 20, 40, 80, 160, 300, 300]
    assert [go_duration(w) for w in waits[:6]] == ["10s", "20s", "40s", "1m20s", "2m40s", "5m0s"]
    assert not b.in_backoff_since(key, t + 601, t + 601)  # it ran for more than 2 x 300 s
    b.next(key, t + 601, t + 601)
    assert b.get(key) == 10


def test_worker_thresholds_and_gates_follow_worker_go():
    w = prober.Worker("liveness", {"httpGet": {"port": 80}, "initialDelaySeconds": 5, "failureThreshold": 2})
    assert w.result == "success" and not w.due(4.9, True) and w.due(5.0, True) and not w.due(9, False)
    fail = prober.Outcome("failure", "x")
    assert w.observe(fail) is None and w.observe(fail) == "failure" and w.on_hold
    assert not w.due(60, True)  # on hold until a new container
    w.new_container("containerd://new")
    assert w.due(60, True) and w.observe(prober.Outcome("error", "gone")) is None  # an error is thrown away
    r = prober.Worker("readiness", {"exec": {"command": ["true"]}, "successThreshold": 2})
    ok = prober.Outcome("success")
    assert r.result == "failure" and r.observe(ok) is None and r.observe(ok) == "success"
    s = prober.Worker("startup", {"tcpSocket": {"port": 80}})
    assert s.due(0, False) and not s.due(0, True)


@pytest.mark.parametrize(("spec", "program", "result", "output"), [
    ({"httpGet": {"path": "/healthz", "port": 8080}}, images.program({"image": AGNHOST, "args": ["liveness"]}),
     "failure", "HTTP probe failed with statuscode: 500"),
    ({"httpGet": {"path": "/", "port": 81}}, images.program({"image": "nginx"}), "failure",
     'Get "http://10.244.1.7:81/": dial tcp 10.244.1.7:81: connect: connection refused'),
    ({"tcpSocket": {"port": 80}}, images.program({"image": "nginx"}), "success", ""),
    ({"tcpSocket": {"port": "web"}}, images.program({"image": "nginx"}), "success", ""),
    ({"grpc": {"port": 5000}}, images.program({"image": AGNHOST, "args": ["grpc-health-checking",
                                                                         "--delay-unhealthy-sec=5"]}),
     "failure", 'service unhealthy (responded with "NOT_SERVING")'),
    ({"grpc": {"port": 80}}, images.program({"image": "nginx"}), "failure",
     ("error: this server does not implement the grpc health protocol (grpc.health.v1.Health): unknown service "
     "grpc.health.v1.Health")),
    ({"grpc": {"port": 2379}}, None, "failure",
     'timeout: failed to connect service "10.244.1.7:2379" within 1s: context deadline exceeded'),
])
def test_probe_outputs_are_upstreams(spec, program, result, output):
    container = {"name": "c", "ports": [{"name": "web", "containerPort": 80}]}

    def listening(port):
        return (program, 30.0, False) if program is not None and program.listens(port) else None

    outcome = prober.run_probe(spec, container, "10.244.1.7", listening, lambda argv: (0, ""))
    assert (outcome.result, outcome.output) == (result, output)


# -- probes in a cluster ---------------------------------------------------------------------------
def test_http_liveness_tutorial_restarts_the_container_with_upstream_events(still_sim):
    """The probes tutorial's http-liveness pod (agnhost liveness: /healthz 500 after 10 s), initialDelay 3,
    period 3, failureThreshold 3: three failures, then Killing and a restart. On a still clock: 25 s
    take it past the restart (about 19 s) and not to the restarted container's own failures (from
    about 29 s), which a loaded machine's pauses would reach at SPEED."""
    handle = still_sim
    probe = {"httpGet": {"path": "/healthz", "port": 8080}, "initialDelaySeconds": 3, "periodSeconds": 3}
    rec = Recorder(handle, "liveness-http")
    handle.cluster.store.create("pods", pod("liveness-http", args=["liveness"], livenessProbe=probe),
                                namespace="default")
    handle.cluster.clock.advance(25)
    assert handle.cluster.clock.settle()
    assert container_status(handle, "liveness-http")["restartCount"] == 1
    rec.unsubscribe()
    unhealthy = rec.reasons("Unhealthy")
    assert [m for _, m in unhealthy] == ["Liveness probe failed: HTTP probe failed with statuscode: 500"] * 3
    start = rec.reasons("Started")[0][0]
    assert all(t - start > 10 for t, _ in unhealthy)  # healthy for its first 10 s
    assert [b - a for (a, _), (b, _) in itertools.pairwise(unhealthy)] == pytest.approx([3, 3], abs=0.01)
    killing = rec.reasons("Killing")
    assert [m for _, m in killing] == ["Container liveness-http failed liveness probe, will be restarted"]
    assert killing[0][0] == pytest.approx(unhealthy[-1][0], abs=0.01)
    cs = container_status(handle, "liveness-http")
    assert cs["lastState"]["terminated"]["exitCode"] == 143 and cs["lastState"]["terminated"]["reason"] == "Error"
    described = kubectl(handle, "describe", "pod", "liveness-http").stdout
    assert "Liveness probe failed: HTTP probe failed with statuscode: 500" in described
    assert "Container liveness-http failed liveness probe, will be restarted" in described
    row = kubectl(handle, "get", "pod", "liveness-http", "--no-headers").stdout.split()
    assert row[2] == "Running" and row[3] == "1" and row[4].startswith("(") and row[5] == "ago)", row


def test_failing_readiness_keeps_the_endpoint_not_ready_until_the_port_answers(private_sim):
    """A readiness probe on a port nothing listens on: Ready stays False, the slice's endpoint not ready, and
    kubectl shows 0/1 with Unhealthy events; a probe on the port netexec serves turns it ready."""
    handle = private_sim
    store = handle.cluster.store
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "probed"},
           "spec": {"selector": {"app": "probed"}, "ports": [{"port": 80, "targetPort": 8080}]}}
    kubectl(handle, "apply", "-f", "-", input=json.dumps(svc))
    bad = {"httpGet": {"path": "/readyz", "port": 9999}, "periodSeconds": 2}
    store.create("pods", pod("probed", args=["netexec"], readinessProbe=bad), namespace="default")
    p = started(handle, "probed")
    handle.cluster.clock.advance(10)
    assert not ready(get(handle, "probed"))
    endpoints = [e for s in store.list("endpointslices.discovery.k8s.io", "default")[0]
                 if s["metadata"]["labels"].get("kubernetes.io/service-name") == "probed" for e in s["endpoints"] or []]
    assert [e["conditions"]["ready"] for e in endpoints] == [False]
    row = kubectl(handle, "get", "pod", "probed", "--no-headers").stdout.split()
    assert row[1:3] == ["0/1", "Running"]
    ip = p["status"]["podIP"]
    events = kubectl(handle, "get", "events", "--field-selector", "reason=Unhealthy", "-o", "json").stdout
    messages = {e["message"] for e in json.loads(events)["items"] if e["involvedObject"]["name"] == "probed"}
    assert messages == {(f'Readiness probe failed: Get "http://{ip}:9999/readyz": dial tcp {ip}:9999: connect: '
                        "connection refused")}
    assert container_status(handle, "probed")["restartCount"] == 0  # readiness never restarts

    good = {"httpGet": {"path": "/readyz", "port": 8080}, "initialDelaySeconds": 4, "periodSeconds": 2}
    store.create("pods", pod("probed2", args=["netexec"], readinessProbe=good), namespace="default")
    started(handle, "probed2")
    assert not ready(get(handle, "probed2"))  # a readiness worker starts at Failure
    handle.cluster.clock.advance(7)
    wait_until(handle, lambda: ready(get(handle, "probed2")), what="ready after initialDelaySeconds")


def test_tcp_exec_and_grpc_probes_read_what_the_process_does(private_sim):
    handle, store = private_sim, private_sim.cluster.store
    store.create("pods", pod("tcp-nginx", image="nginx:1.27", readinessProbe={"tcpSocket": {"port": 80}}),
                 namespace="default")
    store.create("pods", pod("tcp-pause", image="registry.k8s.io/pause:3.10",
                             readinessProbe={"tcpSocket": {"port": 80}, "periodSeconds": 1}), namespace="default")
    store.create("pods", pod("exec-ok", image="busybox:1.36", command=["sleep", "3600"],
                             readinessProbe={"exec": {"command": ["cat", "/etc/hostname"]}}), namespace="default")
    store.create("pods", pod("grpc", args=["grpc-health-checking", "--delay-unhealthy-sec=20"],
                             livenessProbe={"grpc": {"port": 5000}, "periodSeconds": 5, "failureThreshold": 1}),
                 namespace="default")
    for name in ("tcp-nginx", "tcp-pause", "exec-ok", "grpc"):
        started(handle, name)
    handle.cluster.clock.advance(12)
    assert ready(get(handle, "tcp-nginx")) and ready(get(handle, "exec-ok")) and not ready(get(handle, "tcp-pause"))
    handle.cluster.clock.advance(15)
    wait_until(handle, lambda: container_status(handle, "grpc")["restartCount"] >= 1, what="grpc restart")
    messages = [e["message"] for e in store.list("events", "default")[0] if e["involvedObject"]["name"] == "grpc"
                and e["reason"] == "Unhealthy"]
    assert messages == ['Liveness probe failed: service unhealthy (responded with "NOT_SERVING")']


def test_startup_probe_holds_liveness_and_readiness_until_it_passes(still_sim):
    """On a still clock: at SPEED the 2 s startup period passes during a loaded machine's pause, before the
    test reads the status it holds back."""
    handle, store = still_sim, still_sim.cluster.store
    rec = Recorder(handle, "slow")
    startup = {"httpGet": {"path": "/", "port": 80}, "periodSeconds": 2}
    store.create("pods", pod("slow", image="nginx:1.27", startupProbe=startup,
                             livenessProbe={"httpGet": {"path": "/", "port": 80}}), namespace="default")
    advance_until(handle, lambda: get(handle, "slow")["status"].get("phase") == "Running", what="slow running")
    advance_until(handle, lambda: container_status(handle, "slow")["started"] and ready(get(handle, "slow")),
                  limit=3, what="started, then ready")
    rec.unsubscribe()
    # every status write it made: running before the startup probe passed, and never ready before it
    written = [(s.get("phase"), c.get("started"), c.get("ready")) for _, s in rec.statuses
               for c in s.get("containerStatuses") or []]
    assert ("Running", False, False) in written, written
    assert not [w for w in written if w[2] and not w[1]], written
    # a startup probe that never passes kills the container after failureThreshold x periodSeconds
    never = {"tcpSocket": {"port": 81}, "periodSeconds": 2, "failureThreshold": 3}
    store.create("pods", pod("never", image="nginx:1.27", startupProbe=never), namespace="default")
    advance_until(handle, lambda: get(handle, "never")["status"].get("phase") == "Running", what="never running")
    advance_until(handle, lambda: container_status(handle, "never")["restartCount"] == 1, limit=8, what="restart")
    kills = [e["message"] for e in store.list("events", "default")[0] if e["reason"] == "Killing"
             and e["involvedObject"]["name"] == "never"]
    assert kills == ["Container never failed startup probe, will be restarted"]


# -- exits and restarts ----------------------------------------------------------------------------
def test_exiting_container_crash_loops_with_doubling_back_off(private_sim):
    """restartPolicy Always, a command that exits 1: an immediate first restart, then 10 s, 20 s, 40 s back-off
    (BackOff Events, waiting CrashLoopBackOff), and kubectl's STATUS and RESTARTS columns as upstream prints."""
    handle = private_sim
    rec = Recorder(handle, "crash")
    handle.cluster.store.create("pods", pod("crash", image="busybox:1.36", command=["sh", "-c", "exit 1"]),
                                namespace="default")
    handle.cluster.clock.advance(100)
    wait_until(handle, lambda: container_status(handle, "crash")["restartCount"] >= 4, what="4 restarts")
    rec.unsubscribe()
    starts = [t for t, _ in rec.reasons("Started")]
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    # each wait is the back-off (0, 10, 20, 40 s) plus a relist and a container start (< 2.5 s)
    assert all(0 <= gap - wait < 2.5 for gap, wait in zip(gaps, [0, 10, 20, 40], strict=False)), gaps
    backoffs = {m for _, m in rec.reasons("BackOff")}
    uid = get(handle, "crash")["metadata"]["uid"]
    assert backoffs == {f"Back-off restarting failed container crash in pod crash_default({uid})"}
    waiting = [s["containerStatuses"][0]["state"].get("waiting", {}) for _, s in rec.statuses]
    assert [w["message"].split()[1] for w in waiting if w.get("reason") == "CrashLoopBackOff"][:3] == [
        "10s", "20s", "40s"]
    cs = container_status(handle, "crash")
    assert cs["lastState"]["terminated"]["exitCode"] == 1 and cs["lastState"]["terminated"]["reason"] == "Error"
    row = kubectl(handle, "get", "pod", "crash", "--no-headers").stdout.split()
    assert row[2] in ("CrashLoopBackOff", "Error") and row[3] == str(cs["restartCount"]) and row[5] == "ago)", row


@pytest.mark.parametrize(("restart", "code", "status", "phase", "restarts"), [
    ("Never", 0, "Completed", "Succeeded", 0),
    ("Never", 3, "Error", "Failed", 0),
    ("OnFailure", 0, "Completed", "Succeeded", 0),
])
def test_exit_codes_and_restart_policies(private_sim, restart, code, status, phase, restarts):
    handle = private_sim
    name = f"exit-{restart.lower()}-{code}"
    handle.cluster.store.create("pods", pod(name, image="busybox:1.36", command=["sh", "-c", f"exit {code}"],
                                            restart=restart), namespace="default")
    wait_until(handle, lambda: get(handle, name)["status"].get("phase") == phase, what=phase)
    cs = container_status(handle, name)
    assert cs["state"]["terminated"]["exitCode"] == code and cs["restartCount"] == restarts
    row = kubectl(handle, "get", "pod", name, "--no-headers").stdout.split()
    assert row[1:4] == ["0/1", status, "0"], row


def test_on_failure_restarts_a_failing_container(private_sim):
    handle = private_sim
    handle.cluster.store.create("pods", pod("retry", image="busybox:1.36", command=["sh", "-c", "exit 2"],
                                            restart="OnFailure"), namespace="default")
    handle.cluster.clock.advance(15)
    wait_until(handle, lambda: container_status(handle, "retry")["restartCount"] >= 2, what="2 restarts")
    assert get(handle, "retry")["status"]["phase"] == "Running"


# -- images the simulated registry lacks (pkg/kubelet/images/image_manager.go, v1.37.0) -----------------------
def test_pull_errors_are_containerds_and_name_the_known_images():
    assert images.pull_error("nginx:1.27") is None and images.pull_error(AGNHOST) is None
    assert images.reference("nginxx") == ("docker.io/library/nginxx", "docker.io/library/nginxx:latest")
    assert images.pull_error("nginxx").startswith(
        'failed to pull and unpack image "docker.io/library/nginxx:latest": failed to resolve reference '
        '"docker.io/library/nginxx:latest": pull access denied, repository does not exist or may require '
        "authorization: server message: insufficient_scope: authorization failed (the simulator pulls only")
    assert images.pull_error("registry.k8s.io/nope:1").startswith(
        'rpc error: code = NotFound desc = failed to pull and unpack image "registry.k8s.io/nope:1": failed to '
        'resolve reference "registry.k8s.io/nope:1": registry.k8s.io/nope:1: not found (')
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    line = next(x for x in readme.splitlines() if x.startswith("Images it knows"))
    missing = {r for r in images.KNOWN if r.rsplit("/", 1)[-1] not in line}
    assert not missing, f"README's image line does not name {missing}"


def test_a_missing_image_goes_err_image_pull_then_image_pull_back_off_on_upstreams_back_off(private_sim):
    """kubectl run with an image no registry has: the pull fails (Failed Events with containerd's text),
    the status shows ErrImagePull, the next sync in the back-off ImagePullBackOff wrapping that error; pulls
    are retried when the pod worker's 10-15 s retry finds the image back-off (10 s doubling to 300 s) over."""
    handle = private_sim
    rec = Recorder(handle, "typo")
    kubectl(handle, "run", "typo", "--image=nginxx", "--overrides",
            json.dumps({"spec": {"nodeName": NODE}}))
    wait_until(handle, lambda: container_status(handle, "typo")["state"].get("waiting", {}).get("reason")
               == "ErrImagePull", what="ErrImagePull")
    row = kubectl(handle, "get", "pod", "typo", "--no-headers").stdout.split()
    assert row[1:4] == ["0/1", "ErrImagePull", "0"], row
    handle.cluster.clock.advance(20)
    wait_until(handle, lambda: container_status(handle, "typo")["state"].get("waiting", {}).get("reason")
               == "ImagePullBackOff", what="ImagePullBackOff")
    assert kubectl(handle, "get", "pod", "typo", "--no-headers").stdout.split()[2] == "ImagePullBackOff"
    handle.cluster.clock.advance(1200)
    rec.unsubscribe()
    error = images.pull_error("nginxx")
    reasons = [(r, m) for _, r, m in rec.events if r != "Scheduled"]
    assert reasons[:5] == [("Pulling", 'Pulling image "nginxx"'),
                           ("Failed", f'Failed to pull image "nginxx": {error}'), ("Failed", "Error: ErrImagePull"),
                           ("BackOff", 'Back-off pulling image "nginxx"'), ("Failed", "Error: ImagePullBackOff")]
    pulls = [t for t, _ in rec.reasons("Pulling")]
    gaps = [b - a for a, b in itertools.pairwise(pulls)]
    # a pull comes at the first retry (every 10-15 s, plus the ~1 s registry answer) after its back-off ended
    backoffs = [10, 20, 40, 80, 160, 300, 300]
    assert len(gaps) >= 6 and all(b <= gap <= b + 16.5 for gap, b in zip(gaps, backoffs, strict=False)), gaps
    waiting = [s["containerStatuses"][0]["state"]["waiting"] for _, s in rec.statuses
               if "waiting" in s["containerStatuses"][0]["state"]]
    assert {"reason": "ErrImagePull", "message": error} in waiting
    assert {"reason": "ImagePullBackOff", "message": f'Back-off pulling image "nginxx": ErrImagePull: {error}'} in waiting
    pod_ = get(handle, "typo")
    assert pod_["status"]["phase"] == "Pending" and pod_["status"]["podIP"]  # the sandbox has its IP
    described = kubectl(handle, "describe", "pod", "typo").stdout
    assert "Failed to pull image \"nginxx\": failed to pull and unpack image" in described
    assert "Back-off pulling image \"nginxx\"" in described


def test_fixing_the_image_of_a_pod_in_image_pull_back_off_starts_it(private_sim):
    handle = private_sim
    handle.cluster.store.create("pods", pod("fixed", image="ngnix:1.27"),
                                namespace="default")
    wait_until(handle, lambda: get(handle, "fixed")["status"].get("podIP"), what="ErrImagePull")
    assert container_status(handle, "fixed")["state"]["waiting"]["reason"] == "ErrImagePull"
    kubectl(handle, "set", "image", "pod/fixed", "fixed=nginx:1.27")
    handle.cluster.clock.advance(20)
    wait_until(handle, lambda: ready(get(handle, "fixed")), what="running after the image was fixed")


# -- exec probes and commands against the container's files (helpers.sim.rootfs) ----------------------------------
LIVENESS_EXEC = """apiVersion: v1
kind: Pod
metadata:
  labels: {test: liveness}
  name: liveness-exec
spec:
  nodeName: endpoints-worker
  containers:
  - name: liveness
    image: registry.k8s.io/busybox:1.27.2
    args: [/bin/sh, -c, touch /tmp/healthy; sleep 30; rm -f /tmp/healthy; sleep 600]
    livenessProbe:
      exec: {command: [cat, /tmp/healthy]}
      initialDelaySeconds: 5
      periodSeconds: 5
"""


def test_exec_liveness_tutorial_restarts_the_container_once_the_file_is_gone(private_sim):
    """kubernetes.io's "Define a liveness command": the probe passes while /tmp/healthy exists (30 s), then
    fails three times 5 s apart, the kubelet kills the container and starts a new one, whose script creates
    the file again in its fresh file system."""
    handle = private_sim
    rec = Recorder(handle, "liveness-exec")
    kubectl(handle, "apply", "-f", "-", input=LIVENESS_EXEC)
    started(handle, "liveness-exec")
    assert kubectl(handle, "exec", "liveness-exec", "--", "cat", "/tmp/healthy").returncode == 0
    handle.cluster.clock.advance(75)
    wait_until(handle, lambda: container_status(handle, "liveness-exec")["restartCount"] == 1, what="one restart")
    rec.unsubscribe()
    unhealthy = rec.reasons("Unhealthy")
    assert [m for _, m in unhealthy][:3] == [
        "Liveness probe failed: cat: can't open '/tmp/healthy': No such file or directory\n"] * 3
    start = rec.reasons("Started")[0][0]
    assert 30 < unhealthy[0][0] - start <= 36  # the first probe after the rm at 30 s
    assert [b - a for (a, _), (b, _) in itertools.pairwise(unhealthy[:3])] == pytest.approx([5, 5], abs=0.01)
    assert [m for _, m in rec.reasons("Killing")] == ["Container liveness failed liveness probe, will be restarted"]
    described = kubectl(handle, "describe", "pod", "liveness-exec").stdout
    assert "Liveness probe failed: cat: can't open '/tmp/healthy': No such file or directory" in described
    cs = container_status(handle, "liveness-exec")
    assert cs["lastState"]["terminated"]["exitCode"] == 137  # sh ignores SIGTERM: killed after the grace period
    wait_until(handle, lambda: "running" in container_status(handle, "liveness-exec")["state"], what="running again")
    assert kubectl(handle, "exec", "liveness-exec", "--", "ls", "/tmp").stdout == "healthy\n"


def test_exec_sees_the_nginx_images_pages_and_what_earlier_execs_wrote(private_sim):
    handle = private_sim
    kubectl(handle, "run", "web", "--image=nginx:1.27", "--overrides", json.dumps({"spec": {"nodeName": NODE}}))
    started(handle, "web")
    listing = kubectl(handle, "exec", "web", "--", "ls", "/usr/share/nginx/html")
    assert listing.stdout == "50x.html\nindex.html\n"
    assert "<title>Welcome to nginx!</title>" in kubectl(handle, "exec", "web", "--", "cat",
                                                         "/usr/share/nginx/html/index.html").stdout
    kubectl(handle, "exec", "web", "--", "sh", "-c", "echo hello > /usr/share/nginx/html/hi.txt; touch /tmp/x")
    assert kubectl(handle, "exec", "web", "--", "cat", "/usr/share/nginx/html/hi.txt").stdout == "hello\n"
    assert kubectl(handle, "exec", "web", "--", "ls", "/tmp").stdout == "x\n"
    gone = kubectl(handle, "exec", "web", "--", "ls", "/tmp/nope", check=False)
    assert gone.returncode == 2 and "ls: cannot access '/tmp/nope': No such file or directory" in gone.stderr
    unknown = kubectl(handle, "exec", "web", "--", "ls", "/etc/nginx", check=False)
    assert unknown.returncode == 2 and "the simulator does not model what /etc/nginx holds in nginx:1.27" in (
        unknown.stderr)
