"""The kubelet of one simulated node: pod lifecycle, readiness, graceful termination, heartbeats.

A pod bound to this node walks the real kubelet's path (v1.36.1) with modelled latencies (seeded RNG, so
a run is reproducible). Its status is written as upstream's pod worker and status manager write it:

1. the first ``SyncPod`` (pkg/kubelet/kubelet.go) calls ``generateAPIPodStatus`` and
   ``statusManager.SetPodStatus`` *before* the runtime does anything: Pending, hostIP, startTime,
   containers waiting in ContainerCreating, PodReadyToStartContainers False, and no podIP (there is no
   sandbox yet; a hostNetwork pod gets the node's IP here);
2. the runtime's ``SyncPod`` (pkg/kubelet/kuberuntime/kuberuntime_manager.go) creates the sandbox (its IP
   from the node's podCIDR, host-local IPAM as kindnet configures it), then per container pulls the image
   (about a second the first time an image is used on the node, then cached), creates and starts it
   (300-800 ms); the IP it got stays in the runtime until the next status;
3. the pod worker's next sync waits for the pod cache to be newer than the end of that sync
   (pod_workers.go ``GetNewerThan(lastSyncTime)``), i.e. for the next PLEG relist (every 1 s,
   ``genericPlegRelistPeriod``), and writes podIP, phase Running and the containers' readiness in ONE
   status: a container with no readiness probe is ready at once (prober_manager.go ``UpdatePodStatus``).

So a pod without probes or readiness gates reaches the API with its IP and Ready together; Ready also
requires every `spec.readinessGates` condition to be True. On deletion it stops the containers after
min(grace period, preStop sleep + a modelled ~1 s shutdown) and removes the pod with grace 0, as the real
kubelet does. It renews its Lease in kube-node-lease every 10 s and re-reports node status.

What the kubelet decides next is read from the pod's status (pure functions below), so a kubelet
that was stopped (`docker stop`) picks every pod up where it left off when it starts again.
"""

from __future__ import annotations

import copy
import hashlib
import random

from helpers.controlplane.podutil import internal_ip
from helpers.dataplane.ipam import HostLocalIPAM, IPAMExhausted
from helpers.kube import (
    format_micro_time,
    format_time,
    get_condition,
    is_terminating,
    obj_key,
    set_condition,
)
from helpers.sim import images, shell
from helpers.sim.api.errors import ApiError
from helpers.sim.controllers.commands import QUICK_S, Run, finite_run
from helpers.sim.controllers.controller import Controller

LEASE_NAMESPACE = "kube-node-lease"
SANDBOX_RETRY_S = 10.0  # the pod worker's backoff before it tries a failed sandbox again
STATUS_RECONCILE_S = 10.0  # the status manager's periodic check of the API against what it reported
LEASE_RENEW_S = 10.0  # kubelet renews its lease every 10 s (leaseDurationSeconds 40 / 4)
LEASE_DURATION_S = 40
PLEG_RELIST_S = 1.0  # genericPlegRelistPeriod (pkg/kubelet/kubelet.go): the pod cache refreshes this often
EXIT_RECHECK_S = 0.05  # a container that exits before its pod is Running retries this much later
CRASH_BACKOFF_S = 10.0  # the kubelet's initial crash back-off (pkg/kubelet/kubelet.go backOffPeriod)
NODE_STATUS_CHECK_S = 10.0  # nodeStatusUpdateFrequency
NODE_STATUS_REPORT_S = 300.0  # nodeStatusReportFrequency: heartbeat even when nothing changed
# Pod conditions in the order the kubelet writes them (pkg/kubelet/kubelet_pods.go generateAPIPodStatus).
KUBELET_CONDITIONS = ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled")
PRESSURE_CONDITIONS = (
    ("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
    ("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
    ("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
)
# What containerd tells the kubelet while /etc/cni/net.d is empty (kind with disableDefaultCNI).
CNI_NOT_INITIALIZED = "cni plugin not initialized"
NETWORK_NOT_READY = ("container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady "
                     f"message:Network plugin returns error: {CNI_NOT_INITIALIZED}")


def kubelet_conditions(network_ready: bool = True) -> tuple:
    """The node conditions the kubelet reports, as (type, status, reason, message). Ready stays False
    while the container runtime has no CNI network (kind's `disableDefaultCNI` before a CNI is installed)."""
    ready = (("Ready", "True", "KubeletReady", "kubelet is posting ready status") if network_ready
             else ("Ready", "False", "KubeletNotReady", NETWORK_NOT_READY))
    return (*PRESSURE_CONDITIONS, ready)


# -- pure status transitions ----------------------------------------------------------------------
def container_id(pod_uid: str, name: str) -> str:
    return "containerd://" + hashlib.sha256(f"{pod_uid}/{name}".encode()).hexdigest()


def image_id(image: str) -> str:
    repo = image.split("@")[0].rsplit(":", 1)[0] if ":" in image.split("/")[-1] else image.split("@")[0]
    return f"{repo}@sha256:{hashlib.sha256(image.encode()).hexdigest()}"


def pending_status(pod: dict, host_ip: str, stamp: str) -> dict:
    """The first SyncPod's status, written before the runtime creates the sandbox: Pending, containers
    waiting in ContainerCreating, PodReadyToStartContainers False, no podIP (a hostNetwork pod has the
    node's: generateAPIPodStatus in pkg/kubelet/kubelet_pods.go)."""
    status = copy.deepcopy(pod.get("status") or {})
    status.update({
        "phase": "Pending", "hostIP": host_ip, "hostIPs": [{"ip": host_ip}],
        "startTime": status.get("startTime", stamp),
        "containerStatuses": [{
            "name": c["name"], "image": c.get("image", ""), "imageID": "", "ready": False,
            "restartCount": 0, "started": False, "state": {"waiting": {"reason": "ContainerCreating"}},
        } for c in pod["spec"].get("containers") or []],
    })
    if pod["spec"].get("hostNetwork"):
        status.update(podIP=host_ip, podIPs=[{"ip": host_ip}])
    shell = {"status": status}
    set_condition(shell, {"type": "PodReadyToStartContainers", "status": "False"}, stamp)
    for type_ in ("Initialized", "PodScheduled"):
        set_condition(shell, {"type": type_, "status": "True"}, stamp)
    update_readiness(shell | {"spec": pod["spec"]}, stamp)
    return shell["status"]


def running_status(pod: dict, pod_ip: str, started: dict[str, str], stamp: str) -> dict:
    """The status after the runtime's sync, at the next PLEG relist: the sandbox's IP, phase Running, every
    container running; one without a readiness probe is ready at once."""
    status = dict(pod.get("status") or {})
    probes = {c["name"]: bool(c.get("readinessProbe")) for c in pod["spec"].get("containers") or []}
    status.update(phase="Running", podIP=pod_ip, podIPs=[{"ip": pod_ip}])
    status["containerStatuses"] = [{
        "name": c["name"], "image": c.get("image", ""), "imageID": image_id(c.get("image", "")),
        "containerID": container_id(pod["metadata"]["uid"], c["name"]), "ready": not probes[c["name"]],
        "restartCount": 0, "started": True, "state": {"running": {"startedAt": started[c["name"]]}},
    } for c in pod["spec"].get("containers") or []]
    shell = {"status": status, "spec": pod["spec"]}
    set_condition(shell, {"type": "PodReadyToStartContainers", "status": "True"}, stamp)
    update_readiness(shell, stamp)
    return shell["status"]


def update_readiness(pod: dict, stamp: str) -> bool:
    """Recompute ContainersReady and Ready (containers ready AND readiness gates True); True if changed.

    Messages follow upstream's status generation (pkg/kubelet/status/generate.go).
    """
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    unready = [cs["name"] for cs in statuses if not cs.get("ready")]
    containers_ok = bool(statuses) and not unready
    changed = set_condition(pod, {
        "type": "ContainersReady", "status": "True" if containers_ok else "False",
        **({} if containers_ok else {"reason": "ContainersNotReady",
                                     "message": f"containers with unready status: [{' '.join(unready)}]"}),
    }, stamp)
    ready = {"type": "Ready", "status": "True"}
    if not containers_ok:
        ready = {"type": "Ready", "status": "False", "reason": "ContainersNotReady",
                 "message": f"containers with unready status: [{' '.join(unready)}]"}
    else:
        blocked = gate_problems(pod)
        if blocked:
            ready = {"type": "Ready", "status": "False", "reason": "ReadinessGatesNotReady",
                     "message": blocked[0]}
    changed = set_condition(pod, ready, stamp) or changed
    pod["status"]["conditions"] = ordered_conditions(pod["status"]["conditions"])
    return changed


def ordered_conditions(conditions: list[dict]) -> list[dict]:
    """The kubelet's order: conditions it does not own (readiness gates) first, then its own."""
    rank = {t: i for i, t in enumerate(KUBELET_CONDITIONS)}
    others = [c for c in conditions if c["type"] not in rank]
    return others + sorted((c for c in conditions if c["type"] in rank), key=lambda c: rank[c["type"]])


def gate_problems(pod: dict) -> list[str]:
    """Messages for readiness gates whose condition is missing or not True."""
    problems = []
    for gate in pod["spec"].get("readinessGates") or []:
        cond = get_condition(pod, gate["conditionType"])
        if cond is None:
            problems.append(f'corresponding condition of pod readiness gate "{gate["conditionType"]}" '
                            "does not exist.")
        elif cond.get("status") != "True":
            problems.append(f'the status of pod readiness gate "{gate["conditionType"]}" is not "True", '
                            f'but {cond.get("status")}')
    return problems


def terminated_status(pod: dict, stamp: str) -> dict:
    """Status after the containers stopped on deletion (exit 0, not ready, phase Succeeded)."""
    status = dict(pod.get("status") or {})
    status["containerStatuses"] = [dict(cs, ready=False, started=False, state={"terminated": {
        "exitCode": 0, "reason": "Completed", "startedAt": (cs.get("state") or {}).get("running", {})
        .get("startedAt", stamp), "finishedAt": stamp, "containerID": cs.get("containerID", "")}})
        for cs in status.get("containerStatuses") or []]
    status["phase"] = "Succeeded"
    shell = {"status": status, "spec": pod["spec"]}
    update_readiness(shell, stamp)
    return shell["status"]


def exited_status(pod: dict, name: str, exit_code: int, stamp: str) -> dict:
    """Status after container ``name`` exited: terminated (Completed/Error); once every container has, the
    phase is Succeeded (all exited 0) or Failed, unless restartPolicy OnFailure restarts a failed one, which
    waits in CrashLoopBackOff meanwhile. Ready turns False (reason PodCompleted on success, as
    pkg/kubelet/status/generate.go words it)."""
    status = dict(pod.get("status") or {})
    on_failure = pod["spec"].get("restartPolicy") == "OnFailure"
    statuses = []
    for cs in status.get("containerStatuses") or []:
        if cs["name"] == name:
            terminated = {"exitCode": exit_code, "reason": "Completed" if exit_code == 0 else "Error",
                          "startedAt": (cs.get("state") or {}).get("running", {}).get("startedAt", stamp),
                          "finishedAt": stamp, "containerID": cs.get("containerID", "")}
            cs = dict(cs, ready=False, started=False, state={"terminated": terminated})
            if exit_code and on_failure:
                cs = dict(cs, lastState={"terminated": terminated}, state={"waiting": {
                    "reason": "CrashLoopBackOff",
                    "message": f"back-off {CRASH_BACKOFF_S:.0f}s restarting failed container={name} "
                               f"pod={pod['metadata']['name']}_{pod['metadata'].get('namespace', '')}"
                               f"({pod['metadata'].get('uid', '')})"}})
        statuses.append(cs)
    status["containerStatuses"] = statuses
    ended = [cs["state"]["terminated"] for cs in statuses if "terminated" in (cs.get("state") or {})]
    if len(ended) == len(statuses):
        status["phase"] = "Succeeded" if all(t["exitCode"] == 0 for t in ended) else "Failed"
    shell = {"status": status, "spec": pod["spec"]}
    update_readiness(shell, stamp)
    if status["phase"] == "Succeeded":
        for type_ in ("ContainersReady", "Ready"):
            set_condition(shell, {"type": type_, "status": "False", "reason": "PodCompleted"}, stamp)
    return shell["status"]


def pre_stop_seconds(pod: dict) -> float:
    """How long the containers' preStop hooks keep them running: a `sleep` action, or `exec` of `sleep N`.

    Chapters use a preStop sleep to hold pods in Terminating (serving, not ready) for a while.
    """
    longest = 0.0
    for container in pod["spec"].get("containers") or []:
        hook = (container.get("lifecycle") or {}).get("preStop") or {}
        seconds = (hook.get("sleep") or {}).get("seconds")
        command = (hook.get("exec") or {}).get("command") or []
        if seconds is None and len(command) >= 2 and command[-2].endswith("sleep"):
            seconds = command[-1]
        try:
            longest = max(longest, float(seconds or 0))
        except ValueError:
            continue  # not a plain number of seconds: the hook ends at once
    return longest


def node_conditions(node: dict, stamp: str, force_heartbeat: bool, network_ready: bool = True) -> dict | None:
    """The node with the kubelet's conditions, or None when nothing needs reporting."""
    status = node.setdefault("status", {})
    current = {c["type"]: c for c in status.get("conditions") or []}
    wanted = []
    changed = force_heartbeat
    for type_, value, reason, message in kubelet_conditions(network_ready):
        old = current.get(type_, {})
        changed = changed or old.get("status") != value
        wanted.append({"type": type_, "status": value, "reason": reason, "message": message,
                       "lastHeartbeatTime": stamp,
                       "lastTransitionTime": old.get("lastTransitionTime", stamp)
                       if old.get("status") == value else stamp})
    if not changed:
        return None
    status["conditions"] = wanted
    return node


# -- the kubelet ---------------------------------------------------------------------------------
class Kubelet(Controller):
    """One node's kubelet. `stop()`/`resume()` model `docker stop/start` of the node container."""

    component = "kubelet"
    max_retries = None  # pod_workers.go retries a failed pod sync for as long as the pod exists

    def __init__(self, cluster, node_name: str, pod_cidr: str):
        super().__init__(cluster)
        self.node_name = node_name
        self.ipam = HostLocalIPAM(pod_cidr)
        self.rng = random.Random(f"{cluster.seed}-kubelet-{node_name}")
        self.images: set[str] = set()
        self.running = False
        # No CNI config on the node (the simulator cannot install a CNI plugin): pod networks fail.
        self.network_ready = not cluster.config.disable_default_cni
        self.logs: dict[tuple[str, str], dict[str, list[str]]] = {}
        self.outputs: dict[tuple[str, str], dict[str, str]] = {}  # what attach streams (see output)
        # pod key -> container name -> its modelled process (helpers.sim.images), while it runs
        self.processes: dict[tuple[str, str], dict[str, images.Program | None]] = {}
        self._busy: set = set()  # pod keys with a lifecycle step in flight
        self._terminating: set = set()  # pod keys whose containers are being stopped
        self._generation = 0  # bumped by stop(): steps scheduled before a stop never run
        self._reported: dict = {}  # pod key -> the Ready status this kubelet last wrote (its status cache)
        self._reconciling: set = set()  # pod keys whose status is put back at the next reconcile
        self._last_report = 0.0
        self._relist_phase = self.rng.uniform(0.0, PLEG_RELIST_S)

    # lifecycle of the kubelet itself
    def start(self) -> None:
        self.informer.on("pods", self._pod_changed)
        self.resume()

    def resume(self) -> None:
        """Start (again): renew the lease, re-report node status, pick every pod up where it was."""
        if self.running:
            return
        self.running = True
        self._reported.clear()  # a fresh status manager writes every pod's status at once
        if self._last_report:  # a restart, not the first start at boot
            node = self.informer.get("nodes", self.node_name)
            if node is not None:
                self.event(node, "Normal", "Starting", "Starting kubelet.")
        self._heartbeat()  # renews the lease and re-reports node status (Unknown -> Ready)
        for pod in self.informer.items("pods"):
            if pod["spec"].get("nodeName") == self.node_name:
                self.enqueue(obj_key(pod))

    def stop(self) -> None:
        """Stop working: no heartbeats, no status updates, no pod changes until `resume()`."""
        self.running = False
        self.processes.clear()  # `docker stop` of the node kills every container in it
        self._generation += 1  # every step already scheduled becomes a no-op
        self._busy.clear()
        self._terminating.clear()
        self._reconciling.clear()

    def _later(self, delay: float, fn, *args) -> None:
        """Schedule a lifecycle step; it is dropped if the node stops before it is due."""
        self.clock.call_later(delay, self._guarded, self._generation, fn, args)

    def _guarded(self, generation: int, fn, args) -> None:
        if generation == self._generation:
            fn(*args)

    # heartbeats
    def _heartbeat(self) -> None:
        if not self.running:
            return
        now = self.clock.now()
        try:
            lease = self.store.get("leases.coordination.k8s.io", self.node_name, LEASE_NAMESPACE)
            lease["spec"]["renewTime"] = format_micro_time(now)
            self.store.update("leases.coordination.k8s.io", lease)
        except ApiError as err:
            if err.code != 404:
                raise
            self.store.create("leases.coordination.k8s.io", self.cluster.node_lease(self.node_name, now))
        finally:
            self._later(LEASE_RENEW_S, self._heartbeat)
        self._check_node_status()

    def _check_node_status(self) -> None:
        """Post node status when a condition differs from the kubelet's view, or every 5 minutes."""
        now = self.clock.time()
        node = self.store.get("nodes", self.node_name)
        was_ready = (get_condition(node, "Ready") or {}).get("status") == "True"
        due = now - self._last_report >= NODE_STATUS_REPORT_S
        updated = node_conditions(node, format_time(self.clock.now()), due, self.network_ready)
        if updated is not None:
            written = self.store.update("nodes", updated, subresource="status")
            self._last_report = now
            if not was_ready and self.network_ready:
                self.event(written, "Normal", "NodeReady", f"Node {self.node_name} status is now: NodeReady")

    # pods
    def _pod_changed(self, type_, pod, _old) -> None:
        if pod["spec"].get("nodeName") != self.node_name:
            return
        if type_ == "DELETED":
            self.ipam.release(pod["metadata"]["uid"])
            self.logs.pop(obj_key(pod), None)
            self.outputs.pop(obj_key(pod), None)
            self.processes.pop(obj_key(pod), None)
            self._reported.pop(obj_key(pod), None)
            self._busy.discard(obj_key(pod))
            self._terminating.discard(obj_key(pod))
        elif self.running:
            self.enqueue(obj_key(pod))

    def sync(self, key) -> None:
        pod = self.informer.get("pods", key[1], key[0])
        if not self.running or pod is None:
            return
        if is_terminating(pod):  # takes over from any step in flight
            if key not in self._terminating:
                self._terminating.add(key)
                self._terminate(key, pod)
            return
        if key in self._busy:
            return
        if (pod.get("status") or {}).get("phase", "Pending") == "Pending":
            self._busy.add(key)
            self._later(self.rng.uniform(0.005, 0.02), self._sync_pod, key)
        elif pod["status"]["phase"] == "Running":
            self._probe_readiness(key, pod)

    def _fresh(self, key) -> dict | None:
        try:
            pod = self.store.get("pods", key[1], key[0])
        except ApiError:
            return None
        return pod if pod["spec"].get("nodeName") == self.node_name else None

    def _write_status(self, key, status: dict) -> None:
        pod = self._fresh(key)
        if pod is not None:
            self._report(key, self.store.update("pods", dict(pod, status=status), subresource="status"))

    def _report(self, key, written: dict) -> None:
        self._reported[key] = (get_condition(written, "Ready") or {}).get("status")

    def _active(self, key) -> bool:
        """A lifecycle step may go on: the node runs and the pod is not being torn down."""
        return self.running and key not in self._terminating

    def event(self, obj: dict, type_: str, reason: str, message: str) -> None:
        self.recorder.event(obj, type_, reason, message, self.component, host=self.node_name)

    def _done(self, key) -> None:
        """A step finished: let the next pod event (or this re-sync) decide what comes next."""
        self._busy.discard(key)
        self.enqueue(key)

    def _sync_pod(self, key) -> None:
        """The first SyncPod: write the Pending status (kubelet.go, before the runtime's SyncPod), then
        have the runtime create the sandbox. A status equal to the API's is not written again."""
        pod = self._fresh(key)
        if not self._active(key) or pod is None or is_terminating(pod):
            self._done(key)
            return
        host_ip = internal_ip(self.informer.get("nodes", self.node_name) or {}) or ""
        pending = pending_status(pod, host_ip, format_time(self.clock.now()))
        if pending != pod.get("status"):
            self._write_status(key, pending)
        if not pod["spec"].get("hostNetwork") and not self.network_ready:
            sandbox = container_id(pod["metadata"]["uid"], "sandbox").removeprefix("containerd://")
            self.event(pod, "Warning", "FailedCreatePodSandBox",
                       "Failed to create pod sandbox: rpc error: code = Unknown desc = failed to setup network "
                       f'for sandbox "{sandbox}": {CNI_NOT_INITIALIZED}')
            self._busy.discard(key)
            self.enqueue(key, SANDBOX_RETRY_S)
            return
        self._later(self.rng.uniform(0.1, 0.3), self._sandbox_created, key, host_ip)

    def _sandbox_created(self, key, host_ip: str) -> None:
        """RunPodSandbox returned: CNI ADD gave the sandbox its IP, which the runtime keeps until the next
        status; the containers start next (kuberuntime SyncPod: sandbox -> IP -> pull -> create -> start)."""
        pod = self._fresh(key)
        if not self._active(key) or pod is None or is_terminating(pod):
            self._done(key)
            return
        try:
            pod_ip = host_ip if pod["spec"].get("hostNetwork") else self.ipam.allocate(pod["metadata"]["uid"])
        except IPAMExhausted as err:
            self.event(pod, "Warning", "FailedCreatePodSandBox", f"Failed to create pod sandbox: {err}")
            self._busy.discard(key)
            return
        self._start_containers(key, pod, 0, {}, pod_ip)

    def _next_relist(self) -> float:
        """Seconds to this node's next PLEG relist (a 1 s tick with a per-node phase)."""
        return PLEG_RELIST_S - (self.clock.time() - self._relist_phase) % PLEG_RELIST_S

    def _start_containers(self, key, pod: dict, index: int, started: dict, pod_ip: str) -> None:
        """Pull, create and start container `index`, then the next one (sequential, like the kubelet);
        after the last one, the next PLEG relist brings the status with the IP."""
        containers = pod["spec"].get("containers") or []
        if not self._active(key):
            return
        if index == len(containers):
            self._later(self._next_relist(), self._relisted, key, started, pod_ip)
            return
        container = containers[index]
        image = container.get("image", "")
        pull = 0.0
        if image in self.images and container.get("imagePullPolicy") != "Always":
            self.event(pod, "Normal", "Pulled", f'Container image "{image}" already present on machine')
        else:
            pull = self.rng.uniform(0.1, 0.3) if image in self.images else self.rng.uniform(0.7, 1.5)
            self.event(pod, "Normal", "Pulling", f'Pulling image "{image}"')
        self._later(pull, self._create_container, key, pod, index, started, pull, pod_ip)

    def _relisted(self, key, started: dict, pod_ip: str) -> None:
        fresh = self._fresh(key)
        if self._active(key) and fresh is not None and not is_terminating(fresh):
            self._write_status(key, running_status(fresh, pod_ip, started, format_time(self.clock.now())))
        self._done(key)

    def _create_container(self, key, pod, index, started, pull, pod_ip) -> None:
        if not self._active(key):
            return
        container = pod["spec"]["containers"][index]
        image, name = container.get("image", ""), container["name"]
        if pull:
            self.images.add(image)
            size = int.from_bytes(hashlib.sha256(image.encode()).digest()[:3], "big") * 8
            self.event(pod, "Normal", "Pulled", f'Successfully pulled image "{image}" in {pull * 1000:.0f}ms '
                       f"({pull * 1000:.0f}ms including waiting). Image size: {size} bytes.")
        self.event(pod, "Normal", "Created", f"Created container: {name}")
        self._later(self.rng.uniform(0.3, 0.8), self._container_started, key, pod, index, started, pod_ip)

    def _container_started(self, key, pod, index, started, pod_ip) -> None:
        if not self._active(key):
            return
        container = pod["spec"]["containers"][index]
        stamp = format_time(self.clock.now())
        started = dict(started, **{container["name"]: stamp})
        self.event(pod, "Normal", "Started", f"Started container {container['name']}")
        self._log_start(key, container, stamp, pod["spec"].get("restartPolicy", "Always"))
        self._schedule_exit(key, pod, container)
        self._start_containers(key, pod, index + 1, started, pod_ip)

    def _schedule_exit(self, key, pod: dict, container: dict) -> None:
        """A finite command (commands.finite_run) ends on its own under restartPolicy Never/OnFailure.

        restartPolicy Always (Deployments) would restart it with back-off; that is not modelled yet, so
        such a container keeps running."""
        if pod["spec"].get("restartPolicy", "Always") == "Always":
            return
        if shell.main_argv(container) is not None:  # a client command: it runs once the pod is running
            self._later(QUICK_S, self._run_client, key, container)
            return
        run = finite_run(container)
        if run is None:
            return
        self.logs.setdefault(key, {}).setdefault(container["name"], []).extend(run.output)
        self.outputs.setdefault(key, {})[container["name"]] = "".join(line + "\n" for line in run.output)
        self._later(run.seconds, self._container_exited, key, container["name"], run)

    def _run_client(self, key, container: dict) -> None:
        """Run a client command (helpers.sim.shell) as the container's process: its output goes to the log."""
        if not self._active(key) or self._fresh(key) is None:
            return
        try:
            result = shell.run(self.cluster.shell_context(*key, container), shell.main_argv(container))
            output, code = result.stdout + result.stderr, result.exit_code
        except shell.ExecFailed as err:
            output, code = f"{err}\n", 128
        self.logs.setdefault(key, {}).setdefault(container["name"], []).extend(output.splitlines())
        self.outputs.setdefault(key, {})[container["name"]] = output
        self._container_exited(key, container["name"], Run(0.0, code))

    def _container_exited(self, key, name: str, run) -> None:
        pod = self._fresh(key)
        if not self._active(key) or pod is None or is_terminating(pod):
            return
        if pod["status"].get("phase") == "Pending":  # the later containers are still starting
            self._later(EXIT_RECHECK_S, self._container_exited, key, name, run)
            return
        if pod["status"].get("phase") != "Running":
            return
        status = exited_status(pod, name, run.exit_code, format_time(self.clock.now()))
        self._write_status(key, status)
        if status["phase"] == "Running" and run.exit_code and pod["spec"].get("restartPolicy") == "OnFailure":
            self._later(CRASH_BACKOFF_S, self._restart_container, key, name)

    def _restart_container(self, key, name: str) -> None:
        pod = self._fresh(key)
        if not self._active(key) or pod is None or is_terminating(pod) or pod["status"].get("phase") != "Running":
            return
        stamp = format_time(self.clock.now())
        container = next(c for c in pod["spec"]["containers"] if c["name"] == name)
        for cs in pod["status"].get("containerStatuses") or []:
            if cs["name"] == name:
                cs.update(lastState=cs.get("state") or {}, state={"running": {"startedAt": stamp}},
                          restartCount=cs.get("restartCount", 0) + 1, started=True,
                          ready=not container.get("readinessProbe"))
        update_readiness(pod, stamp)
        self._report(key, self.store.update("pods", pod, subresource="status"))
        self.event(pod, "Normal", "Started", f"Started container {name}")
        self._schedule_exit(key, pod, container)

    def _log_start(self, key, container: dict, stamp: str, restart_policy: str = "Always") -> None:
        """The container's process starts: what it logs first, and its listeners (helpers.sim.images)."""
        proc = images.program(container)
        self.processes.setdefault(key, {})[container["name"]] = proc
        client = shell.main_argv(container) if restart_policy != "Always" else None
        if client is not None:
            model = f"modelled as the client command {' '.join(client)!r}: it runs once (helpers.sim.shell)"
        elif proc is None:
            model = images.unmodelled(container)
        else:
            ports = ", ".join(f"{lis.port}/{lis.protocol}" for lis in proc.listeners) or "no port"
            model = f"modelled as agnhost {proc.subcommand}, listening on {ports}"
        self.logs.setdefault(key, {})[container["name"]] = [
            f"{stamp} simulated container {container['name']} started (image {container.get('image', '')})",
            f"{stamp} {model}"]

    def listener(self, namespace: str, name: str, port: int, protocol: str = "TCP") -> images.Program | None:
        """The running process of pod namespace/name that listens on port/protocol, if any."""
        if not self.running:
            return None
        for proc in self.processes.get((namespace, name), {}).values():
            if proc is not None and proc.listens(port, protocol):
                return proc
        return None

    def _sigterm(self, key) -> None:
        """preStop hooks are done: the runtime sends SIGTERM; each process reacts as modelled."""
        stamp = format_time(self.clock.now())
        for name, proc in list(self.processes.get(key, {}).items()):
            if proc is None:
                continue
            lines = self.logs.setdefault(key, {}).setdefault(name, [])
            lines.extend(f"{stamp} {line}" for line in proc.sigterm_log)
            self._later(proc.sigterm_exit_s, self._process_exit, key, name)

    def _process_exit(self, key, name: str) -> None:
        self.processes.get(key, {}).pop(name, None)

    def create_running(self, pod: dict) -> dict:
        """Create `pod` on this node already Running and Ready (boot, benchmarks): no startup walk.

        It gets its IP from this node's IPAM (or the node's IP with hostNetwork), its images count
        as pulled, and its readiness probes as passed long ago.
        """
        pod["spec"]["nodeName"] = self.node_name
        created = self.store.create("pods", pod)
        key, stamp = obj_key(created), format_time(self.clock.now())
        host_ip = internal_ip(self.informer.get("nodes", self.node_name) or self.store.get("nodes", self.node_name))
        pod_ip = host_ip if created["spec"].get("hostNetwork") else self.ipam.allocate(created["metadata"]["uid"])
        for container in created["spec"]["containers"]:
            self.images.add(container.get("image", ""))
            self._log_start(key, container, stamp)
        created["status"] = pending_status(created, host_ip, stamp)
        created["status"] = running_status(created, pod_ip, {c["name"]: stamp for c in created["spec"]["containers"]},
                                           stamp)
        for cs in created["status"]["containerStatuses"]:
            cs["ready"] = True
        update_readiness(created, stamp)
        return self.store.update("pods", created, subresource="status")

    def _probe_readiness(self, key, pod: dict) -> None:
        """Schedule the first successful readiness probe of each unready container; recompute Ready."""
        probes = {c["name"]: c.get("readinessProbe") for c in pod["spec"].get("containers") or []}
        waiting = [cs for cs in pod["status"].get("containerStatuses") or []
                   if not cs.get("ready") and probes.get(cs["name"]) and "running" in (cs.get("state") or {})]
        if waiting:
            delay = max(float(probes[cs["name"]].get("initialDelaySeconds", 0)) for cs in waiting)
            self._busy.add(key)
            self._later(delay + self.rng.uniform(0.0, 0.1), self._probe_succeeded, key)
            return
        shell = {"spec": pod["spec"], "status": dict(pod["status"])}
        shell["status"]["conditions"] = [dict(c) for c in pod["status"].get("conditions") or []]
        if not update_readiness(shell, format_time(self.clock.now())):
            return
        if self._reported.get(key) == (get_condition(shell, "Ready") or {}).get("status"):
            # Someone else overwrote what we reported (the node lifecycle controller marks the pods of a
            # NotReady node not ready): the status manager puts it back at its next reconcile, not at once.
            if key not in self._reconciling:
                self._reconciling.add(key)
                self._later(STATUS_RECONCILE_S, self._reconcile, key)
            return
        self._write_status(key, shell["status"])

    def _reconcile(self, key) -> None:
        self._reconciling.discard(key)
        self._reported.pop(key, None)
        pod = self._fresh(key)
        if self._active(key) and pod is not None and pod["status"].get("phase") == "Running":
            self._probe_readiness(key, pod)

    def _probe_succeeded(self, key) -> None:
        pod = self._fresh(key)
        if self._active(key) and pod is not None and pod["status"].get("phase") == "Running":
            for cs in pod["status"].get("containerStatuses") or []:
                cs["ready"] = "running" in (cs.get("state") or {})
            update_readiness(pod, format_time(self.clock.now()))
            self._report(key, self.store.update("pods", pod, subresource="status"))
        self._done(key)

    def _terminate(self, key, pod: dict) -> None:
        running = [cs["name"] for cs in (pod.get("status") or {}).get("containerStatuses") or []
                   if "running" in (cs.get("state") or {})]
        for name in running:
            self.event(pod, "Normal", "Killing", f"Stopping container {name}")
        grace = pod["metadata"].get("deletionGracePeriodSeconds")
        grace = 30 if grace is None else grace
        # After preStop, SIGTERM; the process lives on for its modelled time (serve-hostname: 60 s),
        # then the runtime needs ~1 s to stop the container. SIGKILL at the end of the grace period.
        pre_stop = pre_stop_seconds(pod)
        linger = max((p.sigterm_exit_s for p in self.processes.get(key, {}).values() if p is not None), default=0.0)
        shutdown = pre_stop + linger + self.rng.uniform(0.5, 1.5)
        delay = min(float(grace), shutdown) if running else 0.0
        if running and pre_stop < delay:
            self._later(pre_stop, self._sigterm, key)
        self._later(delay, self._finish_termination, key)

    def _finish_termination(self, key) -> None:
        pod = self._fresh(key)
        self.processes.pop(key, None)  # SIGKILL: whatever still runs is gone
        if self.running and pod is not None:
            if (pod.get("status") or {}).get("containerStatuses"):
                self._write_status(key, terminated_status(pod, format_time(self.clock.now())))
            try:
                self.store.delete("pods", key[1], key[0], grace_period_seconds=0)
            except ApiError as err:
                if err.code != 404:
                    raise
        self._busy.discard(key)
        self._terminating.discard(key)

    def output(self, namespace: str, name: str, container: str) -> str:
        """What the container's process wrote (what attach streams), without the simulator's own log lines."""
        return self.outputs.get((namespace, name), {}).get(container, "")

    def log(self, namespace: str, name: str, container: str | None) -> str:
        """Text for pods/log: the simulated container's output."""
        per_container = self.logs.get((namespace, name), {})
        lines = per_container.get(container) if container else next(iter(per_container.values()), [])
        return "".join(line + "\n" for line in lines or [])
