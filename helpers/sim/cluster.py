"""Cluster: the store, the clock, the components, and a fresh kind-like state to start from.

`Cluster(config)` boots the objects of a fresh kind cluster (see `boot`) directly in their final
state, so startup takes milliseconds, then starts the simulated components: one kubelet and one
kube-proxy per node, the scheduler, the workload controllers, the garbage collector, the
namespace controller and the endpoint/node-lifecycle controllers. `stop_node`/`start_node` are the
simulator's `docker stop/start <node>`.
"""

from __future__ import annotations

import random
import threading
import time

from helpers.config import sim_dataplane
from helpers.controlplane.endpointslice.reconciler import MISSING_NODE_BEHAVIORS
from helpers.controlplane.podutil import internal_ip
from helpers.kube import format_micro_time, format_time
from helpers.sim import boot, netconn, shell, terminal
from helpers.sim.api.errors import ApiError
from helpers.sim.clock import Clock
from helpers.sim.controllers.cronjob import CronJobController
from helpers.sim.controllers.disruption import DisruptionController
from helpers.sim.controllers.endpoints import EndpointsController
from helpers.sim.controllers.endpointslice import EndpointSliceController
from helpers.sim.controllers.garbagecollector import GarbageCollector
from helpers.sim.controllers.informer import SharedInformer
from helpers.sim.controllers.job import JobController
from helpers.sim.controllers.kubelet import Kubelet, container_id, log_container_id
from helpers.sim.controllers.kubeproxy import KubeProxy
from helpers.sim.controllers.mirroring import EndpointSliceMirroringController
from helpers.sim.controllers.namespace import NamespaceController
from helpers.sim.controllers.nodelifecycle import NodeLifecycleController
from helpers.sim.controllers.persistentvolume import LocalPathProvisioner, PersistentVolumeController
from helpers.sim.controllers.podautoscaler import HorizontalPodAutoscalerController
from helpers.sim.controllers.podgc import PodGCController
from helpers.sim.controllers.recorder import EventRecorder
from helpers.sim.controllers.rootcacert import RootCACertPublisher
from helpers.sim.controllers.scheduler import Scheduler
from helpers.sim.controllers.serviceaccount import ServiceAccountsController
from helpers.sim.controllers.statefulset import StatefulSetController
from helpers.sim.controllers.workloads import (
    REVISION,
    DaemonSetController,
    DeploymentController,
    ReplicaSetController,
    daemon_pod_spec,
    new_replicaset,
    pod_from_template,
    template_hash,
)
from helpers.sim.kernel.dataplane import open_dataplane
from helpers.sim.proxymetrics import metrics_text
from helpers.sim.store import Store
from helpers.sim.traffic import Traffic

INFORMED = ("namespaces", "nodes", "pods", "services", "endpoints", "deployments.apps", "replicasets.apps",
            "daemonsets.apps", "endpointslices.discovery.k8s.io", "leases.coordination.k8s.io",
            "serviceaccounts", "jobs.batch", "poddisruptionbudgets.policy", "configmaps",
            "cronjobs.batch", "statefulsets.apps", "persistentvolumes", "persistentvolumeclaims",
            "storageclasses.storage.k8s.io", "horizontalpodautoscalers.autoscaling")
START_TIMEOUT_S = 60.0  # a bound on starting every component (milliseconds when the machine is idle)


class Cluster:
    """A running simulated cluster shaped by a `ClusterConfig` (from kind-cluster.yaml)."""

    def __init__(self, config, *, speed: float = 1.0, missing_node_behavior: str = "current", seed: int = 0,
                 dataplane: str | None = None):
        if missing_node_behavior not in MISSING_NODE_BEHAVIORS:
            raise ValueError(f"missing_node_behavior must be one of {MISSING_NODE_BEHAVIORS}, "
                             f"got {missing_node_behavior!r}")
        self.config, self.seed = config, seed
        self.version = boot.kubernetes_version(config)
        self.clock = Clock(speed)
        self.store = Store(self.clock, service_cidr=config.service_subnet)
        self.store.log_source = self.pod_log
        self.store.exec_source = self.exec_process
        self.store.attach_source = self.attach_process
        self.store.portforward_source = self.port_forwarder
        self.store.rng = random.Random(f"{seed}-store")  # generated names and ClusterIPs are reproducible
        self.store.default_not_ready_toleration_seconds = config.default_not_ready_toleration_seconds
        self.store.default_unreachable_toleration_seconds = config.default_unreachable_toleration_seconds
        self.recorder = EventRecorder(self.store, self.clock)
        self.informer = SharedInformer(self.store, self.clock, INFORMED)
        self.node_ips = boot.node_ips(config)
        self.kubelets = {name: Kubelet(self, name, cidrs) for name, cidrs in boot.pod_cidrs_by_family(config).items()}
        self._boot()
        self.traffic = Traffic(self)
        # The data plane: the packet model, or the real kernel in namespaces (helpers/sim/kernel), which
        # must be up before the first kube-proxy sync is loaded into it.
        self.kernel, self.dataplane = open_dataplane(self, dataplane or sim_dataplane())
        self.endpointslice_controller = EndpointSliceController(self)
        self.endpointslice_controller.set_missing_node_behavior(missing_node_behavior)
        self.kube_proxies = ({name: self._kube_proxy(name) for name in self.kubelets}
                             if config.kube_proxy_mode != "none" else {})
        self.components = [*self.kubelets.values(), *self.kube_proxies.values(), Scheduler(self),
                           ReplicaSetController(self), DeploymentController(self), DaemonSetController(self),
                           GarbageCollector(self), NamespaceController(self), self.endpointslice_controller,
                           EndpointsController(self), EndpointSliceMirroringController(self),
                           NodeLifecycleController(self), PodGCController(self), ServiceAccountsController(self),
                           JobController(self), DisruptionController(self), RootCACertPublisher(self),
                           CronJobController(self), StatefulSetController(self), PersistentVolumeController(self),
                           LocalPathProvisioner(self), HorizontalPodAutoscalerController(self)]
        # On the reactor, like all component work: a component subscribes, then lists; an event it is
        # sent meanwhile must wait until it has started, not run beside its start() on the reactor.
        self.on_reactor(self._start_components, timeout=START_TIMEOUT_S)
        if self.kernel is not None:  # the boot pods' namespaces and listeners, from the informer's view
            self.on_reactor(self.kernel.reconcile, timeout=START_TIMEOUT_S)

    def _kube_proxy(self, node: str) -> KubeProxy:
        """A node's kube-proxy; with the kernel data plane it writes -m nfacct rules only where that
        kernel has nfacct, as kube-proxy's probe decides (pkg/proxy/iptables/proxier.go, nfacct.Ensure)."""
        return KubeProxy(self, node, nfacct=self.kernel.nfacct if self.kernel is not None else True)

    def _start_components(self) -> None:
        self.informer.start()
        for component in self.components:
            component.start()

    # -- work handed in from other threads (HTTP control requests) ----------------------------------
    def on_reactor(self, fn, *args, timeout: float = 10.0):
        """Run `fn(*args)` on the clock's reactor thread and return its result (or raise its error).

        Component state is only touched on the reactor; HTTP threads go through here.
        """
        if self.clock.in_reactor():
            return fn(*args)
        done, outcome = threading.Event(), {}

        def run():
            try:
                outcome["value"] = fn(*args)
            except Exception as err:  # noqa: BLE001 - re-raised on the caller's thread below
                outcome["error"] = err
            finally:
                done.set()

        self.clock.call_soon(run)
        if not done.wait(timeout):
            raise TimeoutError(f"the simulation did not run {fn.__name__} within {timeout}s")
        if "error" in outcome:
            raise outcome["error"]
        return outcome["value"]

    @property
    def missing_node_behavior(self) -> str:
        return self.endpointslice_controller.missing_node_behavior

    def set_missing_node_behavior(self, value: str) -> None:
        """Switch the EndpointSlice controller between today's and the pre-1.25 (#107927) behaviour.

        ValueError (from the controller) names the accepted values."""
        self.on_reactor(self.endpointslice_controller.set_missing_node_behavior, value)

    def set_slice_informer(self, lag: float | None = None, stale_check: bool | None = None) -> None:
        """Lag the EndpointSlice controller's slice informer; switch its StaleSlices check (ValueError if bad)."""
        self.on_reactor(self.endpointslice_controller.set_slice_informer, lag, stale_check)

    def slice_informer(self) -> dict:
        controller = self.endpointslice_controller
        return {"sliceInformerLagSeconds": controller.slice_informer_lag, "staleSliceCheck": controller.stale_slice_check}

    def endpointslice_decisions(self, namespace: str, service: str) -> list[dict]:
        return self.on_reactor(self.endpointslice_controller.decisions, namespace, service)

    def proxy_rules(self, node: str, fmt: str) -> str:
        """The node's kube-proxy rules (iptables-save or nft list ruleset text)."""
        self._kubelet(node)
        if node not in self.kube_proxies:
            raise ValueError(f"kube-proxy does not run in this cluster (kubeProxyMode: {self.config.kube_proxy_mode})")
        text = self.on_reactor(self.kube_proxies[node].rules, fmt)  # refuses the other mode's formats
        if self.kernel is not None and fmt in ("iptables", "nftables"):
            return self.on_reactor(self.kernel.rules, node, fmt)
        return text

    def proxy_metrics(self, node: str) -> str:
        """The node's kube-proxy /metrics page (Prometheus text; helpers.sim.proxymetrics)."""
        self._kubelet(node)
        if node not in self.kube_proxies:
            raise ValueError(f"kube-proxy does not run in this cluster (kubeProxyMode: {self.config.kube_proxy_mode})")
        return self.on_reactor(metrics_text, self.kube_proxies[node])

    # -- nodes ------------------------------------------------------------------------------------
    def requests(self, namespace: str, service: str, *, count: int, port=None, client: str, interval: float = 0.0,
                 timeout: float = 1.0, path: str = "/hostname") -> list[dict]:
        """``count`` requests, each on a new connection, ``interval`` virtual seconds apart (the clock is
        advanced between them, so everything due in between, rolling updates included, happens)."""
        rows = []
        for i in range(count):
            if i and interval > 0:
                self.clock.advance(interval)
            # the kernel data plane waits up to `timeout` wall seconds for an answer, on the reactor
            rows.append(self.on_reactor(lambda: self.traffic.request(namespace, service, port=port, client=client,
                                                                     timeout=timeout, path=path),
                                        timeout=timeout + 10.0))
        return rows

    def node_names(self) -> list[str]:
        return list(self.kubelets)

    def stop_node(self, name: str) -> None:
        """Like `docker stop <node>`: its kubelet and kube-proxy stop; the rules they programmed stay."""
        self.on_reactor(self._stop_node, self._kubelet(name))

    def start_node(self, name: str) -> None:
        """Like `docker start <node>`: the kubelet resumes, renews its lease and reports Ready; a new
        kube-proxy process starts with a full sync."""
        self.on_reactor(self._start_node, self._kubelet(name))

    def shutdown_node(self, name: str, grace_period: float, critical_grace_period: float = 0.0) -> None:
        """A graceful shutdown (`systemctl poweroff` with the kubelet's shutdownGracePeriod set): the
        kubelet stops its pods, then the node powers off (see `Kubelet.shutdown`)."""
        self.on_reactor(self._kubelet(name).shutdown, grace_period, critical_grace_period)

    def power_off(self, name: str) -> None:
        """The end of a graceful shutdown: as `stop_node`, on the reactor."""
        self._stop_node(self._kubelet(name))

    def _stop_node(self, kubelet: Kubelet) -> None:
        if kubelet.running:
            kubelet.stop()
            if self.kernel is not None:
                self.kernel.reconcile()
            if kubelet.node_name in self.kube_proxies:
                self.kube_proxies[kubelet.node_name].stop()

    def _start_node(self, kubelet: Kubelet) -> None:
        if not kubelet.running:
            kubelet.resume()
            if self.kernel is not None:
                self.kernel.reconcile()
            if kubelet.node_name in self.kube_proxies:
                self.kube_proxies[kubelet.node_name] = self._kube_proxy(kubelet.node_name)
                self.kube_proxies[kubelet.node_name].start()

    def node_running(self, name: str) -> bool:
        return self._kubelet(name).running

    def _kubelet(self, name: str) -> Kubelet:
        if name not in self.kubelets:
            raise KeyError(f"no node {name!r}; nodes: {', '.join(self.kubelets)}")
        return self.kubelets[name]

    def node_lease(self, name: str, when) -> dict:
        node = self.store.get("nodes", name)
        return boot.node_lease(name, node["metadata"]["uid"], format_micro_time(when))

    def pod_log(self, namespace: str, name: str, container: str | None = None, previous: bool = False) -> str:
        """pods/log content: what the pod's kubelet recorded for the container (default: the first one; its last
        run with ``previous``)."""
        pod = self.store.get("pods", name, namespace)
        container = container or pod["spec"]["containers"][0]["name"]
        node = pod["spec"].get("nodeName") or ""
        if pod["metadata"].get("labels", {}).get("k8s-app") == "kube-proxy" and node in self.kube_proxies:
            log_container_id(pod.get("status") or {}, container, name, previous)  # it never restarts
            return self.on_reactor(self.kube_proxies[node].log_text)
        kubelet = self.kubelets.get(node)
        return self.on_reactor(kubelet.log, namespace, name, container, previous) if kubelet else ""

    def _stream_kubelet(self, pod: dict) -> Kubelet:
        """The kubelet a stream goes to, once the API server has a host for the pod and can dial it."""
        node = pod["spec"].get("nodeName") or ""
        kubelet = self.kubelets.get(node)
        if kubelet is None:  # pkg/registry/core/pod/strategy.go streamLocation
            raise ApiError(400, "BadRequest", f"pod {pod['metadata']['name']} does not have a host assigned")
        if not kubelet.running:
            # a stopped kind node's address has no owner on the docker network: the API server's dial to
            # the kubelet fails (apimachinery pkg/util/proxy/upgradeaware.go dial: "error dialing backend"),
            # a non-Status error it answers with a 500 Status (responsewriters ErrorToAPIStatus)
            ip = internal_ip(self.store.get("nodes", node)) or node
            raise ApiError(500, "", f"error dialing backend: dial tcp {ip}:10250: connect: no route to host")
        return kubelet

    def _running_container(self, namespace: str, name: str, container: str, subresource: str = "exec"):
        """What the API server and the kubelet check before an exec or attach opens: (kubelet, spec). The
        kubelet answers a container with no running instance with a plain 500 (GetExec / GetAttach in
        pkg/kubelet/kubelet_pods.go, streaming.WriteError), which kubectl shows as "unable to upgrade
        connection: <text>"."""
        pod = self.store.get("pods", name, namespace)
        kubelet = self._stream_kubelet(pod)
        spec = next(c for c in pod["spec"]["containers"] if c["name"] == container)
        state = next((cs.get("state") or {} for cs in (pod.get("status") or {}).get("containerStatuses") or []
                      if cs["name"] == container), {})
        if "running" not in state:
            raise ApiError(500, "", f'container not found ("{container}")' if subresource == "exec"
                           else f"container {container} not found in pod {name}_{namespace}")
        return kubelet, spec

    def exec_process(self, namespace: str, name: str, container: str):
        """pods/exec: after the checks, ``run(argv, stdin) -> shell.Result`` in that container (raises
        ``shell.ExecFailed`` when the runtime cannot start it), and ``interactive(argv)``: a
        :class:`terminal.Terminal` for a shell that reads a TTY (raises as ``run`` when it cannot start)."""
        _, spec = self._running_container(namespace, name, container)

        def run(argv: list[str], stdin: str) -> shell.Result:
            return self.on_reactor(lambda: shell.run(self.shell_context(namespace, name, spec), argv, stdin))

        def interactive(argv: list[str]) -> terminal.Terminal:
            program = argv[0].rsplit("/", 1)[-1]
            run([argv[0], "-c", "true"], "")  # the shell must be there to start
            ctx = self.on_reactor(self.shell_context, namespace, name, spec)
            return terminal.Terminal(lambda line: run([argv[0], "-c", line], ""),
                                     terminal.prompt(program, shell.image_kind(spec.get("image", "")), ctx.hostname),
                                     program)
        return run, interactive

    def attach_process(self, namespace: str, name: str, container: str):
        """pods/attach: after the checks, ``wait(timeout) -> str | None``: the main process's output once it
        has exited, or None while it still runs when ``timeout`` passes."""
        kubelet, _ = self._running_container(namespace, name, container, "attach")

        def exited(pod: dict) -> bool:
            return any(cs["name"] == container and "terminated" in (cs.get("state") or {})
                       for cs in (pod.get("status") or {}).get("containerStatuses") or [])

        def wait(timeout: float) -> str | None:
            watch = self.store.watch("pods", namespace, field_selector=f"metadata.name={name}")
            try:
                deadline = time.monotonic() + timeout  # a bound on the connection, in real seconds
                done = exited(self.store.get("pods", name, namespace))
                while not done:
                    event = watch.get(timeout=max(0.0, deadline - time.monotonic()))
                    if event is None:
                        return None
                    done = event["type"] == "DELETED" or exited(event["object"])
            finally:
                watch.stop()
            return self.on_reactor(kubelet.output, namespace, name, container)
        return wait

    def port_forwarder(self, namespace: str, name: str):
        """pods/portforward: after the API server's and kubelet's checks, (sandbox ID, network namespace path,
        ``dial(port)``), containerd's view of the pod. ``dial`` gives a :class:`netconn.Conn` to the process
        listening on the port, None when nothing listens, or containerd's error once the sandbox is gone."""
        pod = self.store.get("pods", name, namespace)
        kubelet = self._stream_kubelet(pod)
        uid = pod["metadata"]["uid"]

        def sandbox_ready() -> bool:
            current = self.informer.get("pods", name, namespace)
            return (kubelet.running and current is not None and current["metadata"]["uid"] == uid
                    and bool((current.get("status") or {}).get("podIP")))

        if not self.on_reactor(sandbox_ready):  # kubelet_pods.go GetPortForward
            raise ApiError(404, "NotFound", f'pod not found ("{name}_{namespace}")')
        sandbox = container_id(uid, "sandbox").removeprefix("containerd://")
        digest = container_id(uid, "netns").removeprefix("containerd://")
        netns = "host" if pod["spec"].get("hostNetwork") else (
            f"/var/run/netns/cni-{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}")
        hostname = pod["spec"].get("hostname") or name

        def dial(port: int):
            def process():
                return self.on_reactor(kubelet.listener, namespace, name, port, "TCP")
            if not self.on_reactor(sandbox_ready):  # containerd: sandboxStore.Get fails
                return f'failed to find sandbox "{sandbox}" in store: not found'
            if process() is None:
                return None
            return netconn.Conn(process, port, hostname=hostname, peer="127.0.0.1", now=self.clock.now)
        return sandbox, netns, dial

    def shell_context(self, namespace: str, name: str, spec: dict) -> shell.Context:
        """What a process in container ``spec`` of pod namespace/name sees (on the reactor): its pod, its
        environment, cluster DNS, and the data path from its node."""
        def dial(ip, port, protocol, path):
            return self.traffic.dial(namespace, name, ip, port, protocol=protocol, path=path)

        services = [s for s in self.informer.items("services") if s["metadata"]["namespace"] in (namespace, "default")]
        pod = self.store.get("pods", name, namespace)
        kubelet = self.kubelets.get(pod["spec"].get("nodeName") or "")
        ctx = shell.Context(pod, spec, self.store, dial, boot.service_ip(self.config, 10),
                            fs=kubelet.filesystem((namespace, name), spec) if kubelet else None)
        ctx.env = shell.environment(pod, spec, services)
        return ctx

    def shutdown(self) -> None:
        self.informer.stop()
        for proxy in self.kube_proxies.values():
            proxy.stop()
        self.clock.stop()
        if self.kernel is not None:
            self.kernel.stop()

    # -- boot ---------------------------------------------------------------------------------------
    def _boot(self) -> None:
        """Write a fresh kind cluster's objects in their final state (no simulated startup)."""
        config, store = self.config, self.store
        stamp = format_time(self.clock.now())
        for name in boot.NAMESPACES:
            store.create("namespaces", boot.namespace(name), field_manager=boot.writer("", name))
        for namespace, name in boot.ADDON_SERVICE_ACCOUNTS:
            store.create("serviceaccounts", {"metadata": {"name": name}}, namespace=namespace,
                         field_manager=boot.writer(namespace, name))
        cidrs = boot.pod_cidrs_by_family(config)
        node_uids = {}
        for spec in config.nodes:
            node = store.create("nodes", boot.node(spec, self.node_ips[spec.name], cidrs[spec.name],
                                                   self.version, config, stamp), field_manager="kubelet")
            node_uids[spec.name] = node["metadata"]["uid"]
            store.create("leases.coordination.k8s.io", self.node_lease(spec.name, self.clock.now()),
                         field_manager="kubelet")
        cp = boot.control_plane(config)
        cp_ip = self.node_ips[cp]
        apiserver = boot.API_SERVER
        store.create("servicecidrs.networking.k8s.io", boot.default_service_cidr(config, stamp), field_manager=apiserver)
        store.create("services", boot.kubernetes_service(config), field_manager=apiserver)
        store.create("endpoints", boot.kubernetes_endpoints(cp_ip), field_manager=apiserver)
        store.create("endpointslices.discovery.k8s.io", boot.kubernetes_endpointslice(cp_ip), field_manager=apiserver)
        store.create("services", boot.kube_dns_service(config), field_manager="kubeadm")
        for pod in boot.static_pods(config, cp, node_uids[cp], cp_ip, self.version):
            self.create_running_pod(pod, cp, creator="kubelet")
        for deployment in (boot.coredns_deployment(), boot.local_path_deployment()):
            self._boot_deployment(deployment, cp)
        store.create("storageclasses.storage.k8s.io", boot.standard_storage_class(),
                     field_manager=boot.writer("local-path-storage", ""))
        daemonsets = []
        if config.kube_proxy_mode != "none":
            daemonsets.append(boot.kube_proxy_daemonset(self.version, config.kube_proxy_mode))
        if not config.disable_default_cni:
            daemonsets.append(boot.kindnet_daemonset(config.pod_subnet))
        for ds in daemonsets:
            self._boot_daemonset(ds)

    def _boot_deployment(self, deployment: dict, node: str) -> None:
        deployment["metadata"]["annotations"] = {REVISION: "1"}
        created = self.store.create("deployments.apps", deployment,
                                    field_manager=boot.writer(deployment["metadata"]["namespace"],
                                                                    deployment["metadata"]["name"]))
        rs = self.store.create("replicasets.apps", new_replicaset(created, 1, created["spec"]["replicas"]),
                               field_manager="kube-controller-manager")
        for _ in range(rs["spec"]["replicas"]):
            pod = pod_from_template(rs["spec"]["template"], rs, f"{rs['metadata']['name']}-")
            if self.config.disable_default_cni:  # no pod network yet: left to the scheduler (they stay Pending)
                self.store.create("pods", pod, field_manager="kube-controller-manager")
            else:
                self.create_running_pod(pod, node)

    def _boot_daemonset(self, ds: dict) -> None:
        created = self.store.create("daemonsets.apps", ds, field_manager=boot.writer(
            ds["metadata"]["namespace"], ds["metadata"]["name"]))
        revision = template_hash(created["spec"]["template"])
        for name in self.kubelets:
            template = daemon_pod_spec(created, name, revision)
            self.create_running_pod(pod_from_template(template, created, f"{created['metadata']['name']}-"), name)

    def create_running_pod(self, pod: dict, node: str, creator: str = "kube-controller-manager") -> dict:
        """Create a pod already bound and Running (Ready) on `node`, with its IP from the node's IPAM.

        Boot uses it; so can benchmarks and chapters that need a large state without watching every
        pod walk through its startup. Runs on the reactor (the node's IPAM belongs to its kubelet).
        """
        return self.on_reactor(self._kubelet(node).create_running, pod, creator)
