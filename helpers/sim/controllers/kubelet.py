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

Graceful node shutdown (`shutdown`) follows v1.36.1 `pkg/kubelet/nodeshutdown` (KEP-2000): the node
reports Ready=False "node is shutting down", every pod is stopped with its grace period capped at
shutdownGracePeriod - shutdownGracePeriodCriticalPods and left in phase Failed (reason `Terminated`,
condition `DisruptionTarget`/`TerminationByKubelet`), new pods are rejected at admission, and the node
powers off when shutdownGracePeriod ends. Not modelled: the system-critical group (kube-proxy, the
CNI pods) is killed last upstream and recreated by its DaemonSets after boot; here those pods keep
running until the power-off, as the simulator's kube-proxy and CNI are not restartable pods.
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
from helpers.sim.api.errors import ApiError, bad_request
from helpers.sim.controllers import prober
from helpers.sim.controllers.commands import QUICK_S, finite_run
from helpers.sim.controllers.controller import Controller
from helpers.sim.controllers.flowcontrol import Backoff, go_duration
from helpers.sim.rootfs import FileSystem

LEASE_NAMESPACE = "kube-node-lease"
SANDBOX_RETRY_S = 10.0  # the pod worker's backoff before it tries a failed sandbox again
STATUS_RECONCILE_S = 10.0  # the status manager's periodic check of the API against what it reported
LEASE_RENEW_S = 10.0  # kubelet renews its lease every 10 s (leaseDurationSeconds 40 / 4)
LEASE_DURATION_S = 40
PLEG_RELIST_S = 1.0  # genericPlegRelistPeriod (pkg/kubelet/kubelet.go): the pod cache refreshes this often
EXIT_RECHECK_S = 0.05  # a container that exits before its pod is Running retries this much later
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
# pkg/kubelet/nodeshutdown/nodeshutdown_manager.go
NODE_SHUTTING_DOWN = "node is shutting down"  # ShutdownStatus(), the Ready condition's message
NODE_SHUTDOWN_REASON = "Terminated"
NODE_SHUTDOWN_MESSAGE = "Pod was terminated in response to imminent node shutdown."
NODE_SHUTDOWN_NOT_ADMITTED_REASON = "NodeShutdown"
NODE_SHUTDOWN_NOT_ADMITTED_MESSAGE = "Pod was rejected as the node is shutting down."
CRITICAL_PRIORITY_CLASSES = ("system-node-critical", "system-cluster-critical")
NETWORK_NOT_READY = ("container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady "
                     f"message:Network plugin returns error: {CNI_NOT_INITIALIZED}")


def kubelet_conditions(network_ready: bool = True, shutting_down: bool = False) -> tuple:
    """The node conditions the kubelet reports, as (type, status, reason, message). Ready is False
    while the container runtime has no CNI network (kind's `disableDefaultCNI` before a CNI is installed)
    or the node is shutting down (nodestatus ReadyCondition joins those errors into the message)."""
    errors = [m for m, bad in ((NETWORK_NOT_READY, not network_ready), (NODE_SHUTTING_DOWN, shutting_down)) if bad]
    ready = (("Ready", "False", "KubeletNotReady", ",".join(errors)) if errors
             else ("Ready", "True", "KubeletReady", "kubelet is posting ready status"))
    return (*PRESSURE_CONDITIONS, ready)


# -- pure status transitions ----------------------------------------------------------------------
def container_id(pod_uid: str, name: str) -> str:
    return "containerd://" + hashlib.sha256(f"{pod_uid}/{name}".encode()).hexdigest()


def run_container_id(pod_uid: str, name: str, restarts: int) -> str:
    """The container ID of the run after ``restarts`` restarts of container ``name``."""
    return container_id(pod_uid, name if restarts == 0 else f"{name}/{restarts}")


def log_container_id(status: dict, name: str, pod_name: str, previous: bool) -> str:
    """Which container's log pods/log reads (kubelet_pods.go validateContainerLogStatus, v1.37.0): the running
    one, else the last terminated one; with ``previous`` the last terminated one. Otherwise the kubelet's error
    text, which kube-apiserver passes on as a 400 BadRequest (GenericHttpResponseChecker)."""
    cs = next((c for c in status.get("containerStatuses") or [] if c["name"] == name), None)
    if cs is None:
        raise bad_request(f'container "{name}" in pod "{pod_name}" is not available')
    state, last = cs.get("state") or {}, (cs.get("lastState") or {}).get("terminated")
    if previous:
        if not last or not last.get("containerID"):
            raise bad_request(f'previous terminated container "{name}" in pod "{pod_name}" not found')
        return last["containerID"]
    if "running" in state:
        return cs.get("containerID", "")
    if "terminated" in state and state["terminated"].get("containerID"):
        return state["terminated"]["containerID"]
    if "terminated" in state or last is not None:
        if last and last.get("containerID"):
            return last["containerID"]
        raise bad_request(f'container "{name}" in pod "{pod_name}" is terminated')
    if "waiting" in state:
        reason = state["waiting"].get("reason", "")
        why = {"ErrImagePull": "image can't be pulled",
               "ImagePullBackOff": "trying and failing to pull image"}.get(reason, reason)
        raise bad_request(f'container "{name}" in pod "{pod_name}" is waiting to start: {why}')
    raise bad_request(f'container "{name}" in pod "{pod_name}" is waiting to start - no logs yet')


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


def running_status(pod: dict, pod_ips: list[str], started: dict[str, str], stamp: str,
                   waiting: dict[str, tuple[str, str]] | None = None) -> dict:
    """The status after the runtime's sync, at the next PLEG relist: the sandbox's IPs (one per family of the
    node's podCIDRs, the primary first, as podIP), every container in ``started`` running (one without a
    readiness probe is ready at once), the others waiting with the reason and message of their failed start
    (``waiting``: the kubelet's reasonCache). Phase Running, or Pending while a container waits
    (kubelet_pods.go getPhase)."""
    waiting = waiting or {}
    status = dict(pod.get("status") or {})
    status.update(phase="Pending" if waiting else "Running", podIP=pod_ips[0], podIPs=[{"ip": ip} for ip in pod_ips])
    status["containerStatuses"] = [{
        "name": c["name"], "image": c.get("image", ""), "imageID": image_id(c.get("image", "")),
        "containerID": run_container_id(pod["metadata"]["uid"], c["name"], 0), "restartCount": 0,
        **at_start(c), "state": {"running": {"startedAt": started[c["name"]]}},
    } if c["name"] in started else {
        "name": c["name"], "image": c.get("image", ""), "imageID": "", "ready": False, "restartCount": 0,
        "started": False, "state": {"waiting": dict(zip(("reason", "message"), waiting[c["name"]], strict=True))},
    } for c in pod["spec"].get("containers") or []]
    shell = {"status": status, "spec": pod["spec"]}
    set_condition(shell, {"type": "PodReadyToStartContainers", "status": "True"}, stamp)
    update_readiness(shell, stamp)
    return shell["status"]


def at_start(container: dict) -> dict:
    """A new container's started/ready (prober_manager.go UpdatePodStatus): started at once without a startup
    probe; ready once started when it has no readiness probe (a readiness worker starts at Failure)."""
    started = not container.get("startupProbe")
    return {"ready": started and not container.get("readinessProbe"), "started": started}


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


def terminated_status(pod: dict, exit_codes: dict, stamp: str) -> dict:
    """Status after the containers stopped on deletion: each with its exit code (0 Completed; 137 after
    SIGKILL, 143 killed by SIGTERM: Error), not ready; phase Succeeded when all exited 0, else Failed."""
    status = dict(pod.get("status") or {})
    statuses = []
    for cs in status.get("containerStatuses") or []:
        state = cs.get("state") or {}
        if "terminated" not in state:
            code = exit_codes.get(cs["name"], 0)
            state = {"terminated": {"exitCode": code, "reason": "Completed" if code == 0 else "Error",
                                    "startedAt": state.get("running", {}).get("startedAt", stamp),
                                    "finishedAt": stamp, "containerID": cs.get("containerID", "")}}
        statuses.append(dict(cs, ready=False, started=False, state=state))
    status["containerStatuses"] = statuses
    status["phase"] = "Succeeded" if all(cs["state"]["terminated"]["exitCode"] == 0 for cs in statuses) else "Failed"
    shell = {"status": status, "spec": pod["spec"]}
    update_readiness(shell, stamp)
    return shell["status"]


def shutdown_status(pod: dict, exit_codes: dict, stamp: str) -> dict:
    """Status of a pod the shutdown manager stopped: containers terminated, phase Failed (unless it had
    Succeeded), reason/message and a DisruptionTarget condition (nodeshutdown killPods' status func)."""
    status = terminated_status(pod, exit_codes, stamp) if (pod.get("status") or {}).get("containerStatuses") else dict(pod["status"])
    if (pod.get("status") or {}).get("phase") != "Succeeded":
        status["phase"] = "Failed"
    status.update(reason=NODE_SHUTDOWN_REASON, message=NODE_SHUTDOWN_MESSAGE)
    shell = {"status": status}
    set_condition(shell, {"type": "DisruptionTarget", "status": "True", "reason": "TerminationByKubelet",
                          "message": NODE_SHUTDOWN_MESSAGE}, stamp)
    return shell["status"]


def rejected_status(pod: dict, stamp: str) -> dict:
    """A pod the shutting-down node does not admit (nodeshutdown Admit): phase Failed, reason NodeShutdown."""
    return {**(pod.get("status") or {}), "phase": "Failed", "reason": NODE_SHUTDOWN_NOT_ADMITTED_REASON,
            "message": NODE_SHUTDOWN_NOT_ADMITTED_MESSAGE}


def is_critical(pod: dict) -> bool:
    spec = pod.get("spec") or {}
    return spec.get("priorityClassName") in CRITICAL_PRIORITY_CLASSES or (spec.get("priority") or 0) >= 2000000000


def restarts(restart_policy: str, exit_code: int) -> bool:
    """Whether the kubelet starts an exited container again (pkg/api/v1/pod ContainerShouldRestart)."""
    return restart_policy == "Always" or (restart_policy == "OnFailure" and exit_code != 0)


def exited_status(pod: dict, name: str, exit_code: int, stamp: str, reason: str | None = None) -> dict:
    """Status after container ``name`` exited: terminated (Completed, or Error for a non-zero code); once
    every container has and none will be restarted, the phase is Succeeded (all exited 0) or Failed. Ready
    turns False (reason PodCompleted on success, as pkg/kubelet/status/generate.go words it)."""
    status = dict(pod.get("status") or {})
    policy = pod["spec"].get("restartPolicy", "Always")
    statuses = []
    for cs in status.get("containerStatuses") or []:
        if cs["name"] == name:
            terminated = {"exitCode": exit_code, "reason": reason or ("Completed" if exit_code == 0 else "Error"),
                          "startedAt": (cs.get("state") or {}).get("running", {}).get("startedAt", stamp),
                          "finishedAt": stamp, "containerID": cs.get("containerID", "")}
            cs = dict(cs, ready=False, started=False, state={"terminated": terminated})
        statuses.append(cs)
    status["containerStatuses"] = statuses
    ended = [cs["state"]["terminated"] for cs in statuses if "terminated" in (cs.get("state") or {})]
    if len(ended) == len(statuses) and not any(restarts(policy, t["exitCode"]) for t in ended):
        status["phase"] = "Succeeded" if all(t["exitCode"] == 0 for t in ended) else "Failed"
    shell = {"status": status, "spec": pod["spec"]}
    update_readiness(shell, stamp)
    if status["phase"] == "Succeeded":
        for type_ in ("ContainersReady", "Ready"):
            set_condition(shell, {"type": type_, "status": "False", "reason": "PodCompleted"}, stamp)
    return shell["status"]


def _last_terminated(cs: dict) -> dict:
    state = cs.get("state") or {}
    return {"terminated": state["terminated"]} if "terminated" in state else cs.get("lastState") or {}


def back_off_status(pod: dict, name: str, message: str, stamp: str) -> dict:
    """Container ``name`` waits in CrashLoopBackOff; its last run moves to lastState."""
    status = dict(pod.get("status") or {})
    status["containerStatuses"] = [dict(cs, lastState=_last_terminated(cs), ready=False, started=False,
                                        state={"waiting": {"reason": "CrashLoopBackOff", "message": message}})
                                   if cs["name"] == name else cs for cs in status.get("containerStatuses") or []]
    shell = {"status": status, "spec": pod["spec"]}
    update_readiness(shell, stamp)
    return shell["status"]


def restarted_status(pod: dict, container: dict, started_at: str, stamp: str) -> dict:
    """Container ``name`` runs again: a new container ID, restartCount + 1, the previous run in lastState."""
    status = dict(pod.get("status") or {})
    statuses = []
    for cs in status.get("containerStatuses") or []:
        if cs["name"] == container["name"]:
            count = cs.get("restartCount", 0) + 1
            cs = dict(cs, lastState=_last_terminated(cs), restartCount=count, **at_start(container),
                      containerID=run_container_id(pod["metadata"]["uid"], container["name"], count),
                      state={"running": {"startedAt": started_at}})
        statuses.append(cs)
    status["containerStatuses"] = statuses
    shell = {"status": status, "spec": pod["spec"]}
    update_readiness(shell, stamp)
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


def node_conditions(node: dict, stamp: str, force_heartbeat: bool, network_ready: bool = True,
                    shutting_down: bool = False) -> dict | None:
    """The node with the kubelet's conditions, or None when nothing needs reporting."""
    status = node.setdefault("status", {})
    current = {c["type"]: c for c in status.get("conditions") or []}
    wanted = []
    changed = force_heartbeat
    for type_, value, reason, message in kubelet_conditions(network_ready, shutting_down):
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

    component = field_manager = "kubelet"
    max_retries = None  # pod_workers.go retries a failed pod sync for as long as the pod exists

    def __init__(self, cluster, node_name: str, pod_cidrs: list[str]):
        super().__init__(cluster)
        self.node_name = node_name
        # kindnet's host-local config has a range per podCIDR (dual-stack: one per family)
        self.ipams = [HostLocalIPAM(cidr) for cidr in pod_cidrs]
        self.rng = random.Random(f"{cluster.seed}-kubelet-{node_name}")
        self.images: set[str] = set()
        self.running = False
        # No CNI config on the node (the simulator cannot install a CNI plugin): pod networks fail.
        self.network_ready = not cluster.config.disable_default_cni
        self.logs: dict[tuple[str, str], dict[str, list[str]]] = {}  # the current run's lines
        self._log_ids: dict = {}  # pod key -> container -> the container ID those lines belong to
        self._previous_logs: dict = {}  # pod key -> container -> (container ID, lines) of the run before
        self.outputs: dict[tuple[str, str], dict[str, str]] = {}  # what attach streams (see output)
        # pod key -> container name -> the files of its current run (helpers.sim.rootfs)
        self.filesystems: dict[tuple[str, str], dict[str, FileSystem]] = {}
        # pod key -> container name -> its modelled process (helpers.sim.images), while it runs
        self.processes: dict[tuple[str, str], dict[str, images.Program | None]] = {}
        self._busy: set = set()  # pod keys with a lifecycle step in flight
        self._terminating: set = set()  # pod keys whose containers are being stopped
        self._generation = 0  # bumped by stop(): steps scheduled before a stop never run
        self._reported: dict = {}  # pod key -> the Ready status this kubelet last wrote (its status cache)
        self._reconciling: set = set()  # pod keys whose status is put back at the next reconcile
        self._last_report = 0.0
        self.shutting_down = False
        self._shutdown_pending: set = set()  # pods the shutdown manager is still stopping
        self._relist_phase = self.rng.uniform(0.0, PLEG_RELIST_S)
        self.crash_backoff = Backoff()  # kubelet.go: initialCrashLoopBackOff 10 s, MaxContainerBackOff 300 s
        self.image_backoff = Backoff()  # kubelet.go: imageBackOffPeriod 10 s, MaxImageBackOff 300 s
        self._pull_errors: dict = {}  # image back-off key -> the last pull's error (image_manager prevPullErrMsg)
        self._start_failures: dict = {}  # pod key -> container -> (reason, message): the reasonCache
        self._instances: dict = {}  # (pod key, container) -> how many times it started (its run number)
        self._started_at: dict = {}  # pod key -> container -> virtual time its current run started
        self._signalled: set = set()  # (pod key, container) that got SIGTERM
        self._unreported: set = set()  # (pod key, container) restarted, its new run not yet in the status
        self._probers: dict = {}  # pod key -> (container, probe kind) -> prober.Worker

    # lifecycle of the kubelet itself
    def start(self) -> None:
        self.informer.on("pods", self._pod_changed)
        self.resume()

    def resume(self) -> None:
        """Start (again): renew the lease, re-report node status, pick every pod up where it was."""
        if self.running:
            return
        self.running = True
        self.shutting_down = False  # a fresh boot
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
        self._probers.clear()  # the probe workers die with the kubelet; resume() starts new ones
        self._unreported.clear()
        self._started_at.clear()
        self._start_failures.clear()

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
            self.update("leases.coordination.k8s.io", lease)
        except ApiError as err:
            if err.code != 404:
                raise
            self.create("leases.coordination.k8s.io", self.cluster.node_lease(self.node_name, now))
        finally:
            self._later(LEASE_RENEW_S, self._heartbeat)
        self._check_node_status()

    def _check_node_status(self) -> None:
        """Post node status when a condition differs from the kubelet's view, or every 5 minutes."""
        now = self.clock.time()
        node = self.store.get("nodes", self.node_name)
        was_ready = (get_condition(node, "Ready") or {}).get("status") == "True"
        due = now - self._last_report >= NODE_STATUS_REPORT_S
        updated = node_conditions(node, format_time(self.clock.now()), due, self.network_ready, self.shutting_down)
        if updated is not None:
            written = self.update("nodes", updated, subresource="status")
            self._last_report = now
            if not was_ready and self.network_ready:
                self.event(written, "Normal", "NodeReady", f"Node {self.node_name} status is now: NodeReady")

    # pods
    def _pod_changed(self, type_, pod, _old) -> None:
        if pod["spec"].get("nodeName") != self.node_name:
            return
        if type_ == "DELETED":
            for ipam in self.ipams:
                ipam.release(pod["metadata"]["uid"])
            self.logs.pop(obj_key(pod), None)
            self._log_ids.pop(obj_key(pod), None)
            self._previous_logs.pop(obj_key(pod), None)
            self.outputs.pop(obj_key(pod), None)
            self.processes.pop(obj_key(pod), None)
            self.filesystems.pop(obj_key(pod), None)
            self._reported.pop(obj_key(pod), None)
            self._probers.pop(obj_key(pod), None)
            self._started_at.pop(obj_key(pod), None)
            self._start_failures.pop(obj_key(pod), None)
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
        status = pod.get("status") or {}
        if self.shutting_down and status.get("phase", "Pending") == "Pending" and not status.get("podIP"):
            self._busy.add(key)  # admission runs in the pod worker, a moment after the pod arrives
            self._later(self.rng.uniform(0.05, 0.15), self._reject, key)
            return
        if status.get("phase", "Pending") == "Pending":
            self._busy.add(key)
            self._later(self.rng.uniform(0.005, 0.02), self._sync_pod, key)
        elif pod["status"]["phase"] == "Running":
            self._sync_running(key, pod)

    def _reject(self, key) -> None:
        pod = self._fresh(key)
        if pod is not None and not is_terminating(pod):
            self._write_status(key, rejected_status(pod, format_time(self.clock.now())))
        self._busy.discard(key)

    def _fresh(self, key) -> dict | None:
        try:
            pod = self.store.get("pods", key[1], key[0])
        except ApiError:
            return None
        return pod if pod["spec"].get("nodeName") == self.node_name else None

    def _write_status(self, key, status: dict) -> None:
        pod = self._fresh(key)
        if pod is not None:
            self._report(key, self.update("pods", dict(pod, status=status), subresource="status"))

    def _report(self, key, written: dict) -> None:
        self._reported[key] = (get_condition(written, "Ready") or {}).get("status")

    def _active(self, key) -> bool:
        """A lifecycle step may go on: the node runs and the pod is not being torn down."""
        return self.running and key not in self._terminating

    def event(self, obj: dict, type_: str, reason: str, message: str) -> None:
        self.recorder.event(obj, type_, reason, message, self.component, host=self.node_name,
                            field_manager=self.field_manager)

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
        self._add_probers(key, pod, spread=False)
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
            pod_ips = [host_ip] if pod["spec"].get("hostNetwork") else self._allocate(pod["metadata"]["uid"])
        except IPAMExhausted as err:
            self.event(pod, "Warning", "FailedCreatePodSandBox", f"Failed to create pod sandbox: {err}")
            self._busy.discard(key)
            return
        self._start_containers(key, pod, list(range(len(pod["spec"].get("containers") or []))), {}, pod_ips)

    def _allocate(self, uid: str) -> list[str]:
        """CNI ADD's IPs, one from each range, or none: host-local releases what it took when a range is full."""
        ips = []
        try:
            for ipam in self.ipams:
                ips.append(ipam.allocate(uid))
        except IPAMExhausted:
            for ipam in self.ipams:
                ipam.release(uid)
            raise
        return ips

    def _next_relist(self, after: float = 0.0) -> float:
        """Seconds from ``after`` seconds from now to this node's next PLEG relist (a 1 s tick, per-node phase)."""
        return PLEG_RELIST_S - (self.clock.time() + after - self._relist_phase) % PLEG_RELIST_S

    def _start_containers(self, key, pod: dict, todo: list[int], started: dict, pod_ips: list[str]) -> None:
        """Pull, create and start the containers at the indexes ``todo``, one after the other (like the
        kubelet); after the last one, the next PLEG relist brings the status with the IP. A container whose
        image the simulated registry lacks fails its pull (``_pull_missing``) and the next one starts."""
        if not self._active(key):
            return
        if not todo:
            self._later(self._next_relist(), self._relisted, key, started, pod_ips)
            return
        index, rest = todo[0], todo[1:]
        container = pod["spec"]["containers"][index]
        image = container.get("image", "")
        if images.pull_error(image) is not None:
            self._later(self._pull_missing(key, pod, container), self._start_containers, key, pod, rest, started,
                        pod_ips)
            return
        self._start_failures.get(key, {}).pop(container["name"], None)
        pull = 0.0
        if image in self.images and container.get("imagePullPolicy") != "Always":
            self.event(pod, "Normal", "Pulled", f'Container image "{image}" already present on machine')
        else:
            pull = self.rng.uniform(0.1, 0.3) if image in self.images else self.rng.uniform(0.7, 1.5)
            self.event(pod, "Normal", "Pulling", f'Pulling image "{image}"')
        self._later(pull, self._create_container, key, pod, todo, started, pull, pod_ips)

    def _relisted(self, key, started: dict, pod_ips: list[str]) -> None:
        """The sync after the runtime's: the status it brings, then the runtime's part of this sync for every
        container whose start failed (an image pull in back-off: kuberuntime SyncPod -> EnsureImageExists)."""
        fresh = self._fresh(key)
        failed = self._start_failures.get(key) or {}
        if self._active(key) and fresh is not None and not is_terminating(fresh):
            self._write_status(key, running_status(fresh, pod_ips, started, format_time(self.clock.now()),
                                                   failed))
            if failed:
                self._retry_start(key, fresh, started, pod_ips)
                return
        self._done(key)

    def _retry_start(self, key, pod: dict, started: dict, pod_ips: list[str]) -> None:
        """The runtime's part of a sync for the containers that failed to start, then the pod worker's retry
        after its sync error: backOffPeriod 10 s with jitter 0.5 (pod_workers.go completeWork), where the
        status shows the reasons this sync left. The pod stays busy (Pending) while this goes on."""
        failed = [i for i, c in enumerate(pod["spec"]["containers"]) if c["name"] not in started]
        missing = [i for i in failed if images.pull_error(pod["spec"]["containers"][i].get("image", ""))]
        if len(missing) < len(failed):  # an image was changed to one the registry has: start it
            self._start_containers(key, pod, failed, started, pod_ips)
            return
        delay = max(self._pull_missing(key, pod, pod["spec"]["containers"][i]) for i in missing)
        # the retried sync is the same as the first: its status, then the runtime's part again
        self._later(delay + self.rng.uniform(10.0, 15.0), self._relisted, key, started, pod_ips)

    def _pull_missing(self, key, pod: dict, container: dict) -> float:
        """EnsureImageExists for an image the simulated registry lacks (pkg/kubelet/images/image_manager.go
        pullImage, v1.37.0): within the image back-off (10 s doubling to 300 s, keyed by pod UID and image) a
        BackOff Event and ImagePullBackOff, its message wrapping the last pull's error; otherwise Pulling, and
        once the registry answered, Failed, the back-off's next step and ErrImagePull. Each failure also gets
        kuberuntime startContainer's "Error: <reason>" Event. The result goes into the reasonCache, which the
        next status shows. Returns the seconds until the result is known."""
        name, image = container["name"], container.get("image", "")
        backoff_key, now = f"{pod['metadata']['uid']}_{image}", self.clock.time()
        failures = self._start_failures.setdefault(key, {})
        if self.image_backoff.in_backoff_since_update(backoff_key, now):
            message = f'Back-off pulling image "{image}"'
            self.event(pod, "Normal", "BackOff", message)
            self.event(pod, "Warning", "Failed", "Error: ImagePullBackOff")
            previous = self._pull_errors.get(backoff_key)
            failures[name] = ("ImagePullBackOff", f"{message}: {previous}" if previous else message)
            return 0.0
        self._pull_errors.pop(backoff_key, None)
        self.event(pod, "Normal", "Pulling", f'Pulling image "{image}"')
        answer = self.rng.uniform(0.3, 1.0)  # the registry's round trips until it refuses

        def failed() -> None:
            error = images.pull_error(image)
            self.event(pod, "Warning", "Failed", f'Failed to pull image "{image}": {error}')
            self.image_backoff.next(backoff_key, self.clock.time(), self.clock.time())
            self._pull_errors[backoff_key] = f"ErrImagePull: {error}"
            self.event(pod, "Warning", "Failed", "Error: ErrImagePull")
            failures[name] = ("ErrImagePull", error)
        self._later(answer, failed)
        return answer

    def _create_container(self, key, pod, todo, started, pull, pod_ips) -> None:
        if not self._active(key):
            return
        container = pod["spec"]["containers"][todo[0]]
        image, name = container.get("image", ""), container["name"]
        if pull:
            self.images.add(image)
            size = int.from_bytes(hashlib.sha256(image.encode()).digest()[:3], "big") * 8
            self.event(pod, "Normal", "Pulled", f'Successfully pulled image "{image}" in {pull * 1000:.0f}ms '
                       f"({pull * 1000:.0f}ms including waiting). Image size: {size} bytes.")
        self.event(pod, "Normal", "Created", f"Created container: {name}")
        self._later(self.rng.uniform(0.3, 0.8), self._container_started, key, pod, todo, started, pod_ips)

    def _container_started(self, key, pod, todo, started, pod_ips) -> None:
        if not self._active(key):
            return
        container = pod["spec"]["containers"][todo[0]]
        stamp = format_time(self.clock.now())
        started = dict(started, **{container["name"]: stamp})
        self._run(key, pod, container, stamp)
        self._start_containers(key, pod, todo[1:], started, pod_ips)

    def _run(self, key, pod: dict, container: dict, stamp: str, restarts: int = 0) -> None:
        """A new instance of the container runs (after ``restarts`` restarts): Started, its process and log, and
        how it ends on its own."""
        name = container["name"]
        self._instances[(key, name)] = self._instances.get((key, name), 0) + 1
        self._started_at.setdefault(key, {})[name] = self.clock.time()
        self._signalled.discard((key, name))
        self.event(pod, "Normal", "Started", f"Started container {name}")
        self._log_start(key, container, stamp, run_container_id(pod["metadata"]["uid"], name, restarts),
                        pod["spec"].get("restartPolicy", "Always"))
        self._schedule_exit(key, pod, container)

    def _schedule_exit(self, key, pod: dict, container: dict) -> None:
        """A finite command (commands.finite_run) ends on its own, under every restartPolicy; a client
        command (helpers.sim.shell) runs as the main process under Never/OnFailure."""
        instance = self._instances.get((key, container["name"]))
        if pod["spec"].get("restartPolicy", "Always") != "Always" and shell.main_argv(container) is not None:
            self._later(QUICK_S, self._run_client, key, container, instance)
            return
        run = finite_run(container)
        if run is None:
            return
        for offset, text in run.steps:
            self._later(offset, self._script_step, key, container, instance, text)
        self.logs.setdefault(key, {}).setdefault(container["name"], []).extend(run.output)
        self.outputs.setdefault(key, {})[container["name"]] = "".join(line + "\n" for line in run.output)
        self._later(run.seconds, self._container_exited, key, container["name"], run.exit_code, instance)

    def _script_step(self, key, container: dict, instance: int, text: str) -> None:
        """A step of the container's script that changes its files (``touch``, ``rm``, ``> file``) runs now."""
        if self._active(key) and self._instances.get((key, container["name"])) == instance and self._fresh(key):
            try:
                shell.run(self.cluster.shell_context(*key, container), ["sh", "-c", text])
            except shell.ExecFailed:
                pass  # an image whose shell the simulator does not model: its files are not modelled either

    def filesystem(self, key, container: dict) -> FileSystem:
        """The files of the container's current run (a new run starts from its image's: ``_log_start``)."""
        return self.filesystems.setdefault(key, {}).setdefault(container["name"], FileSystem(container.get("image", "")))

    def _run_client(self, key, container: dict, instance: int) -> None:
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
        self._container_exited(key, container["name"], code, instance)

    def _container_exited(self, key, name: str, exit_code: int, instance: int) -> None:
        """Container ``name`` (its run number ``instance``) ended: the status says how; if the restartPolicy
        restarts it, the next PLEG relist's sync tries to, through the crash-loop back-off."""
        pod = self._fresh(key)
        if not self._active(key) or pod is None or is_terminating(pod) or self._instances.get((key, name)) != instance:
            return
        if self._start_failures.get(key):
            return  # not modelled: an exit beside a container whose image pull fails (the pod stays Pending)
        if pod["status"].get("phase") == "Pending" or (key, name) in self._unreported:
            # the later containers are still starting, or this run's start is not in the status yet
            self._later(EXIT_RECHECK_S, self._container_exited, key, name, exit_code, instance)
            return
        if pod["status"].get("phase") != "Running":
            return
        self.processes.get(key, {}).pop(name, None)
        status = exited_status(pod, name, exit_code, format_time(self.clock.now()))
        self._write_status(key, status)
        if status["phase"] == "Running" and restarts(pod["spec"].get("restartPolicy", "Always"), exit_code):
            self._later(self._next_relist(), self._restart_container, key, name, self.clock.time())

    def _restart_container(self, key, name: str, finished: float) -> None:
        """SyncPod for an exited container (kuberuntime_manager.go doBackOff): within the back-off since it
        finished, it waits in CrashLoopBackOff (a BackOff Event) and the pod worker retries when the back-off
        ends; otherwise the back-off doubles (10 s .. 300 s) and the container starts again."""
        pod = self._fresh(key)
        if not self._active(key) or pod is None or is_terminating(pod) or pod["status"].get("phase") != "Running":
            return
        cs = next((c for c in pod["status"].get("containerStatuses") or [] if c["name"] == name), None)
        if cs is None or "running" in (cs.get("state") or {}):
            return
        backoff_key, now = (key, name, pod["metadata"]["uid"]), self.clock.time()
        if self.crash_backoff.in_backoff_since(backoff_key, finished, now):
            wait = self.crash_backoff.get(backoff_key)
            ref = f"{key[1]}_{key[0]}({pod['metadata']['uid']})"
            self.event(pod, "Warning", "BackOff", f"Back-off restarting failed container {name} in pod {ref}")
            message = f"back-off {go_duration(wait)} restarting failed container={name} pod={ref}"
            if (cs.get("state") or {}).get("waiting", {}).get("message") != message:
                self._write_status(key, back_off_status(pod, name, message, format_time(self.clock.now())))
            self._later(finished + wait - now, self._restart_container, key, name, finished)
            return
        self.crash_backoff.next(backoff_key, finished, now)
        container = next(c for c in pod["spec"]["containers"] if c["name"] == name)
        self.event(pod, "Normal", "Pulled", f'Container image "{container.get("image", "")}" already present on machine')
        self.event(pod, "Normal", "Created", f"Created container: {name}")
        self._later(self.rng.uniform(0.3, 0.8), self._restarted, key, container)

    def _restarted(self, key, container: dict) -> None:
        pod = self._fresh(key)
        if not self._active(key) or pod is None or is_terminating(pod):
            return
        stamp = format_time(self.clock.now())
        restarts = next(cs["restartCount"] for cs in pod["status"]["containerStatuses"]
                        if cs["name"] == container["name"]) + 1
        self._run(key, pod, container, stamp, restarts)
        self._unreported.add((key, container["name"]))
        self._later(self._next_relist(), self._write_restarted, key, container, stamp,
                    self._instances[(key, container["name"])])

    def _write_restarted(self, key, container: dict, started_at: str, instance: int) -> None:
        pod = self._fresh(key)
        self._unreported.discard((key, container["name"]))
        if self._active(key) and pod is not None and self._instances.get((key, container["name"])) == instance:
            self._write_status(key, restarted_status(pod, container, started_at, format_time(self.clock.now())))

    # probes (pkg/kubelet/prober): one worker per container and probe, ticking every periodSeconds
    def _add_probers(self, key, pod: dict, spread: bool) -> None:
        """prober_manager.go AddPod. After a kubelet restart each worker first waits a random part of its
        period (worker.go run), so restarted probes do not all fire at once."""
        if key in self._probers:
            return
        self._probers[key] = {}
        for container in pod["spec"].get("containers") or []:
            for kind in prober.KINDS:
                spec = container.get(prober.FIELD[kind])
                if spec:
                    self._probers[key][(container["name"], kind)] = prober.Worker(kind, spec)
                    period = prober.setting(spec, "periodSeconds")
                    self._later(self.rng.uniform(0, period) if spread else 0.0, self._probe_tick, key,
                                container["name"], kind)

    def _probe_tick(self, key, name: str, kind: str) -> None:
        worker = self._probers.get(key, {}).get((name, kind))
        pod = self._fresh(key)
        if worker is None or pod is None or (is_terminating(pod) and kind != "readiness"):
            return  # liveness and startup workers stop once the pod is being deleted (worker.go)
        cs = next((c for c in (pod.get("status") or {}).get("containerStatuses") or [] if c["name"] == name), {})
        state = cs.get("state") or {}
        started_at = self._started_at.get(key, {}).get(name)
        if "running" in state and started_at is not None:
            worker.new_container(cs.get("containerID", ""))
            if worker.due(self.clock.time() - started_at, bool(cs.get("started"))):
                container = next(c for c in pod["spec"]["containers"] if c["name"] == name)
                outcome = self._probe(key, pod, container, worker.spec)
                label = kind.capitalize()
                if outcome.result == "failure":
                    self.event(pod, "Warning", "Unhealthy", f"{label} probe failed: {outcome.output}")
                elif outcome.result == "error":
                    self.event(pod, "Warning", "Unhealthy",
                               f"{label} probe errored and resulted in unknown state: {outcome.output}")
                verdict = worker.observe(outcome)
                if verdict is not None:
                    self._probe_verdict(key, pod, container, kind, verdict)
        elif "terminated" in state and not restarts(pod["spec"].get("restartPolicy", "Always"),
                                                    state["terminated"].get("exitCode", 0)):
            return  # the container will not run again
        self._later(prober.setting(worker.spec, "periodSeconds"), self._probe_tick, key, name, kind)

    def _probe(self, key, pod: dict, container: dict, spec: dict) -> prober.Outcome:
        """One probe against the pod's modelled processes; a container whose image the simulator does not
        model (neither helpers.sim.images nor helpers.sim.shell) is taken to pass."""
        if images.program(container) is None and shell.image_kind(container.get("image", "")) is None:
            return prober.Outcome("success")
        now = self.clock.time()

        def listening(port: int):
            for cname, proc in self.processes.get(key, {}).items():
                if proc is not None and proc.listens(port, "TCP"):
                    return proc, now - self._started_at[key][cname], (key, cname) in self._signalled
            return None

        def run_exec(argv):
            try:
                result = shell.run(self.cluster.shell_context(*key, container), argv)
            except shell.ExecFailed as err:
                return None, str(err)
            return result.exit_code, result.stdout + result.stderr

        return prober.run_probe(spec, container, pod["status"].get("podIP", ""), listening, run_exec)

    def _probe_verdict(self, key, pod: dict, container: dict, kind: str, verdict: str) -> None:
        """A worker's result changed (results_manager.go Set): readiness and startup go into the status at once
        (status_manager.go SetContainerReadiness / SetContainerStartup); a failed liveness or startup probe
        kills the container, which restarts unless restartPolicy is Never (computePodActions)."""
        name, stamp = container["name"], format_time(self.clock.now())
        cs = next(c for c in pod["status"]["containerStatuses"] if c["name"] == name)
        if kind == "readiness":
            ready = verdict == "success" and bool(cs.get("started"))
            if cs.get("ready") != ready:
                cs["ready"] = ready
                update_readiness(pod, stamp)
                self._report(key, self.store.update("pods", pod, subresource="status"))
        elif kind == "startup" and verdict == "success":
            readiness = self._probers[key].get((name, "readiness"))
            cs.update(started=True, ready=readiness is None or readiness.result == "success")
            update_readiness(pod, stamp)
            self._report(key, self.store.update("pods", pod, subresource="status"))
        elif verdict == "failure":
            message = f"Container {name} failed {kind} probe"
            if pod["spec"].get("restartPolicy", "Always") != "Never":
                message += ", will be restarted"
            self.event(pod, "Normal", "Killing", message)
            grace = (container.get(prober.FIELD[kind]) or {}).get("terminationGracePeriodSeconds")
            grace = pod["spec"].get("terminationGracePeriodSeconds", 30) if grace is None else grace
            delay, code = self._stop(key, container, float(grace))
            self._later(delay, self._container_exited, key, name, code, self._instances.get((key, name)))

    def _stop(self, key, container: dict, grace: float) -> tuple[float, int]:
        """StopContainer (kuberuntime_container.go killContainer): the preStop hook, then SIGTERM, to which the
        process reacts as modelled (helpers.sim.images.sigterm_reaction); SIGKILL (exit 137) when the grace
        period ends first. Returns (seconds until it is gone, exit code)."""
        name = container["name"]
        pre_stop = pre_stop_seconds({"spec": {"containers": [container]}})
        proc = self.processes.get(key, {}).get(name)
        reaction = images.sigterm_reaction(proc, shell.image_kind(container.get("image", "")) is not None)
        if pre_stop < grace:
            self._later(pre_stop, self._sigterm, key, name)
        if reaction is not None and pre_stop + reaction[0] < grace:
            delay, code = pre_stop + reaction[0] + self.rng.uniform(0.05, 0.2), reaction[1]
        else:
            delay, code = grace, 137
        self._later(delay, self._process_exit, key, name)
        return delay, code

    def _process_exit(self, key, name: str) -> None:
        self.processes.get(key, {}).pop(name, None)

    def _log_start(self, key, container: dict, stamp: str, run_id: str, restart_policy: str = "Always") -> None:
        """The container's process starts: what it logs first, its listeners (helpers.sim.images) and a fresh
        copy of its image's files (helpers.sim.rootfs). The
        last run's log is kept for ``kubectl logs --previous`` (containerd keeps one terminated container)."""
        name = container["name"]
        if name in self.logs.get(key, {}):
            self._previous_logs.setdefault(key, {})[name] = (self._log_ids[key][name], self.logs[key][name])
        self._log_ids.setdefault(key, {})[name] = run_id
        self.filesystems.setdefault(key, {})[name] = FileSystem(container.get("image", ""))
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

    def _sigterm(self, key, name: str) -> None:
        """The preStop hook is done: the runtime sends SIGTERM; the process logs what it does (images)."""
        proc = self.processes.get(key, {}).get(name)
        self._signalled.add((key, name))
        if proc is not None:
            stamp = format_time(self.clock.now())
            self.logs.setdefault(key, {}).setdefault(name, []).extend(f"{stamp} {line}" for line in proc.sigterm_log)

    def create_running(self, pod: dict, creator: str = "kube-controller-manager") -> dict:
        """Create `pod` on this node already Running and Ready (boot, benchmarks): no startup walk.

        It gets its IP from this node's IPAM (or the node's IP with hostNetwork), its images count
        as pulled, and its readiness probes as passed long ago. `creator` is the program that wrote it
        (a workload controller's; the kubelet's own for a static pod's mirror).
        """
        pod["spec"]["nodeName"] = self.node_name
        created = self.store.create("pods", pod, field_manager=creator)
        key, stamp = obj_key(created), format_time(self.clock.now())
        host_ip = internal_ip(self.informer.get("nodes", self.node_name) or self.store.get("nodes", self.node_name))
        pod_ips = [host_ip] if created["spec"].get("hostNetwork") else self._allocate(created["metadata"]["uid"])
        for container in created["spec"]["containers"]:
            self.images.add(container.get("image", ""))
            self._log_start(key, container, stamp, run_container_id(created["metadata"]["uid"], container["name"], 0))
        created["status"] = pending_status(created, host_ip, stamp)
        created["status"] = running_status(created, pod_ips, {c["name"]: stamp for c in created["spec"]["containers"]},
                                           stamp)
        for cs in created["status"]["containerStatuses"]:
            cs["ready"] = True
        update_readiness(created, stamp)
        return self.update("pods", created, subresource="status")

    def _sync_running(self, key, pod: dict) -> None:
        """A Running pod's sync: its probe workers exist; Ready follows the readiness gates' conditions."""
        self._add_probers(key, pod, spread=True)
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
            self._sync_running(key, pod)


    def shutdown(self, grace_period: float, critical_grace_period: float = 0.0) -> None:
        """systemd announces a shutdown (PrepareForShutdown): stop the pods, then power off after `grace_period`."""
        if not self.running or self.shutting_down:
            return
        self.shutting_down = True
        node = self.informer.get("nodes", self.node_name)
        if node is not None:
            self.event(node, "Normal", "NodeShutdown", "Shutdown manager detected shutdown event")
        self._check_node_status()
        cap = max(0.0, grace_period - critical_grace_period)
        self._shutdown_pending = set()
        for pod in self.informer.items("pods"):
            key = obj_key(pod)
            if (pod["spec"].get("nodeName") != self.node_name or is_critical(pod) or key in self._terminating
                    or (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")):
                continue
            own = pod["spec"].get("terminationGracePeriodSeconds")
            self._terminating.add(key)
            self._shutdown_pending.add(key)
            self._terminate(key, pod, grace=cap if own is None or own > cap else own, deleting=False)
        # killPods returns once every pod stopped (or its group's period ran out); then the inhibitor
        # lock is released and systemd powers the node off.
        if not self._shutdown_pending:
            self._later(0.0, self.cluster.power_off, self.node_name)
        self._later(grace_period, self.cluster.power_off, self.node_name)

    def _terminate(self, key, pod: dict, grace: float | None = None, deleting: bool = True) -> None:
        """Graceful deletion (or a node shutdown's kill, ``deleting=False``: the pod object stays, Failed):
        every running container is stopped as ``_stop`` models it (preStop, SIGTERM, SIGKILL at the end of
        the grace period); then the final status and, on deletion, the removal with grace 0."""
        running = [cs["name"] for cs in (pod.get("status") or {}).get("containerStatuses") or []
                   if "running" in (cs.get("state") or {})]
        for name in running:
            self.event(pod, "Normal", "Killing", f"Stopping container {name}")
        if grace is None:
            grace = pod["metadata"].get("deletionGracePeriodSeconds")
        grace = 30.0 if grace is None else float(grace)
        specs = {c["name"]: c for c in pod["spec"].get("containers") or []}
        stops = {name: self._stop(key, specs[name], grace) for name in running if name in specs}
        # the containers are gone; the next PLEG relist brings the terminal status, then the status manager
        # deletes the pod (status_manager.go canBeDeleted)
        delay = max((d for d, _ in stops.values()), default=0.0) + self.rng.uniform(0.1, 0.3)  # task teardown
        delay += self._next_relist(delay)
        self._later(delay, self._finish_termination, key,
                    {name: code for name, (_, code) in stops.items()}, deleting)

    def _finish_termination(self, key, exit_codes: dict, deleting: bool = True) -> None:
        pod = self._fresh(key)
        self.processes.pop(key, None)  # SIGKILL: whatever still runs is gone
        if self.running and not deleting:  # node shutdown: the pod object stays, Failed
            if pod is not None:
                self._write_status(key, shutdown_status(pod, exit_codes, format_time(self.clock.now())))
            self._shutdown_pending.discard(key)
            if not self._shutdown_pending:
                self._later(0.0, self.cluster.power_off, self.node_name)
        elif self.running and pod is not None:
            if (pod.get("status") or {}).get("containerStatuses"):
                self._write_status(key, terminated_status(pod, exit_codes, format_time(self.clock.now())))
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

    def log(self, namespace: str, name: str, container: str, previous: bool = False) -> str:
        """Text for pods/log: the output of the container run ``log_container_id`` picks (a 400 ApiError with
        the kubelet's text when there is none)."""
        key = (namespace, name)
        pod = self._fresh(key)
        if pod is None:
            return ""
        run_id = log_container_id(pod.get("status") or {}, container, name, previous)
        if self._log_ids.get(key, {}).get(container) == run_id:
            lines = self.logs[key][container]
        else:
            old_id, lines = self._previous_logs.get(key, {}).get(container, ("", []))
            lines = lines if old_id == run_id else []
        return "".join(line + "\n" for line in lines)
