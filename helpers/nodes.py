"""Node actions and simulator-only controls.

On kind a node is a Docker container, so stopping a node is ``docker stop`` and its kube-proxy rules
are read with ``docker exec``. On the simulator the same actions go through its control interface
(``helpers/simapi.py``). The docker commands are built by pure functions so tests can check them exactly.
"""

from __future__ import annotations

import math
import re
import shutil
import subprocess
import time
from datetime import UTC, datetime

from helpers import simapi, trace
from helpers.config import REPO_ROOT, load_cluster_config
from helpers.connect import KIND_CLUSTER, ApiError, Backend, DockerNotAvailable, HelperError, connect, current
from helpers.connect import resource as api_resource
from helpers.kube import LABEL_SERVICE_PROXY_NAME
from helpers.objects import check_writable
from helpers.simapi import NotSimulator
from helpers.wait import Progress, WaitTimeout, cluster_now

METRICS_PORT = 10249  # kube-proxy's metricsBindAddress port (KubeProxyConfiguration default)
MIN_SYNC_PERIOD = 1.0  # kube-proxy's minSyncPeriod (kind's default): a change reaches the rules within it
RULE_FORMATS = {"iptables": ["iptables-save"], "nftables": ["nft", "list", "ruleset"]}
# What kube-proxy writes (its iptables-restore / nft -f input): only the simulator keeps it; a node
# only has what the kernel was left with, which its tools print in their own form.
WRITTEN_FORMATS = ("iptables-restore", "nft-input")
_METRIC_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')
_ENGINE_DOWN = ("Cannot connect to the Docker daemon", "error during connect", "Is the docker daemon running")


class NodeActionError(HelperError):
    """A node action failed (unknown node, docker error, unsupported backend)."""


def docker_command(action: str, node: str, fmt: str = "iptables") -> list[str]:
    """The docker argv for ``stop``, ``start``, ``rules`` (read the node's kube-proxy rules) or
    ``metrics`` (its kube-proxy's /metrics page: kind's kube-proxy serves it on the node's loopback)."""
    if action in ("stop", "start"):
        return ["docker", action, node]
    if action == "rules":
        return ["docker", "exec", node, *RULE_FORMATS[fmt]]
    if action == "metrics":
        return ["docker", "exec", node, "curl", "-sS", "--max-time", "10", f"http://127.0.0.1:{METRICS_PORT}/metrics"]
    raise ValueError(f"unknown node action {action!r}")


def run_docker(argv: list[str], node: str) -> str:
    """Run a docker command; turn its failures into errors that say what to do."""
    if shutil.which("docker") is None:
        raise DockerNotAvailable("docker is not installed, so kind nodes cannot be reached",
                                 "install Docker, or use the simulator (ENDPOINTS_BACKEND=sim)")
    try:
        proc = subprocess.run(argv, check=False, capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        raise NodeActionError(f"`{' '.join(argv)}` did not finish within 120 s",
                              "check `docker ps`; the Docker engine may be overloaded") from None
    if proc.returncode == 0:
        return proc.stdout
    err = proc.stderr.strip()
    if any(marker in err for marker in _ENGINE_DOWN):
        raise DockerNotAvailable(f"the Docker engine is not running: {err[:200]}",
                                 "start Docker (Docker Desktop, or `sudo systemctl start docker`)")
    if "No such container" in err:
        raise NodeActionError(f"there is no node container {node}", "list the nodes with h.nodes_table()")
    raise NodeActionError(f"`{' '.join(argv)}` failed (exit {proc.returncode}): {err[:300]}",
                          "read docker's message above")


def _check_kind_node(backend: Backend, node: str) -> None:
    if backend.kind != "kind":
        raise NodeActionError(f"node actions need the kind cluster or the simulator, not context {backend.context}",
                              "connect with h.connect('kind') or h.connect('sim')")
    if not node.startswith(f"{KIND_CLUSTER}-"):
        raise NodeActionError(f"{node!r} is not a node of the kind cluster {KIND_CLUSTER!r}",
                              "list the nodes with h.nodes_table()")


def _sim_node(backend: Backend, node: str, action: str, **query):
    try:
        return simapi.node(backend, node, action, **query)
    except ApiError as err:
        if err.code == 404:
            raise NodeActionError(f"the simulator has no node {node}", "list the nodes with h.nodes_table()") \
                from None
        raise


def _node_action(action: str, node: str, backend: Backend | None) -> None:
    backend = backend or current()
    trace.note(f"docker {action} {node}")
    if backend.is_sim:
        _sim_node(backend, node, action)
    else:
        _check_kind_node(backend, node)
        run_docker(docker_command(action, node), node)


def stop_node(node: str, *, backend: Backend | None = None) -> None:
    """Stop a node like pulling its plug (kind: ``docker stop``; simulator: its node stop route)."""
    _node_action("stop", node, backend)


def start_node(node: str, *, backend: Backend | None = None) -> None:
    """Start a stopped node again (kind: ``docker start``; simulator: its node start route)."""
    _node_action("start", node, backend)


def shutdown_node(node: str, grace_period: float = 30, critical_pods_grace_period: float = 10, *,
                  backend: Backend | None = None) -> dict:
    """Simulator only: shut a node down gracefully, as ``systemctl poweroff`` does on a node whose kubelet
    sets ``shutdownGracePeriod`` / ``shutdownGracePeriodCriticalPods`` (KEP-2000, ``pkg/kubelet/nodeshutdown``).

    The kubelet reports Ready=False ("node is shutting down"), stops every pod within
    ``grace_period - critical_pods_grace_period`` (or its own shorter grace period), leaves them in phase
    Failed and rejects new pods; then the node powers off (``start_node`` boots it again). kind's
    kubelets run with ``shutdownGracePeriod: 0``, so the feature is off there and ``stop_node`` is all a
    kind node can do.
    """
    backend = backend or current()
    _require_sim(backend, "a graceful node shutdown",
                 "kind's kubelets have shutdownGracePeriod 0 (graceful node shutdown off); h.stop_node is a "
                 "non-graceful shutdown")
    trace.note(f"systemctl poweroff on {node} (shutdownGracePeriod {grace_period:g} s)")
    return simapi.shutdown(backend, node, grace_period, critical_pods_grace_period)


def set_out_of_service(node: str, on: bool = True, *, backend: Backend | None = None) -> list[dict]:
    """Add (or remove) the taint ``node.kubernetes.io/out-of-service=nodeshutdown:NoExecute`` on one of the
    project's nodes: the operator's statement that a shut-down node is not coming back (non-graceful node
    shutdown, KEP-2268). PodGC then force-deletes the node's terminating pods while it is not Ready
    (``gcTerminating``). A read-modify-write of ``spec.taints`` (409 Conflict if the node changed meanwhile);
    returns the node's taints afterwards.
    """
    from helpers.kube import TAINT_OUT_OF_SERVICE

    backend = backend or current()
    if not backend.is_sim:
        _check_kind_node(backend, node)
    trace.note(f"kubectl taint node {node} {TAINT_OUT_OF_SERVICE}{'=nodeshutdown:NoExecute' if on else '-'}")
    current_node = backend.get("nodes", node)
    taints = [t for t in current_node["spec"].get("taints") or [] if t.get("key") != TAINT_OUT_OF_SERVICE]
    if on:
        taints.append({"key": TAINT_OUT_OF_SERVICE, "value": "nodeshutdown", "effect": "NoExecute"})
    patched = backend.request("PATCH", f"/api/v1/nodes/{node}", content_type="application/merge-patch+json",
                              body={"metadata": {"resourceVersion": current_node["metadata"]["resourceVersion"]},
                                    "spec": {"taints": taints}})
    return patched["spec"].get("taints") or []


def node_rules(node: str, fmt: str = "iptables", *, backend: Backend | None = None) -> str:
    """The node's kube-proxy rules as text.

    ``fmt`` ``"iptables"`` / ``"nftables"``: what ``iptables-save`` / ``nft list ruleset`` print on the
    node (the simulator prints what the node image's iptables 1.8.11 and nft 1.1.3 print).
    ``"iptables-restore"`` / ``"nft-input"`` (simulator only): what kube-proxy wrote for them.
    The simulator serves what the node's last kube-proxy sync programmed, so only the formats of
    that kube-proxy's mode (a 409 names them for the others).
    """
    if fmt not in (*RULE_FORMATS, *WRITTEN_FORMATS):
        raise HelperError(f"unknown rule format {fmt!r}", f"use one of {[*RULE_FORMATS, *WRITTEN_FORMATS]}")
    backend = backend or current()
    if backend.is_sim:
        return _sim_node(backend, node, "proxy", format=fmt)
    if fmt in WRITTEN_FORMATS:
        raise HelperError(f"a kind node does not keep kube-proxy's {fmt} text, only the rules the kernel holds",
                          "read them with fmt='iptables' or 'nftables' (the node's own tools print them)")
    _check_kind_node(backend, node)
    return run_docker(docker_command("rules", node, fmt), node)


def data_plane(*, backend: Backend | None = None) -> dict:
    """What carries the packets: ``{"mode", "note"}``. kind: ``"kind"`` (real nodes, real kernels).
    Simulator (its info route): ``"model"`` (requests walk the rule model) or ``"kernel"``
    (``ENDPOINTS_SIM_DATAPLANE=kernel``: network namespaces with real netfilter, sockets and conntrack);
    ``note`` is the one line its banner adds (why the kernel mode is off when it was asked for)."""
    backend = backend or current()
    if not backend.is_sim:
        return {"mode": "kind", "note": ""}
    plane = simapi.info(backend).get("dataplane") or {}
    return {"mode": plane.get("mode", "model"), "note": plane.get("note", "")}


def proxy_metrics(node: str, prefix: str = "kubeproxy_", *, backend: Backend | None = None):
    """The node's kube-proxy metrics whose names start with ``prefix``, as a DataFrame with one row per
    sample: ``metric``, ``labels`` (a dict) and ``value`` (chapter 11 introduced it).

    kind: ``curl`` of kube-proxy's /metrics on the node's loopback, inside the node container. Simulator:
    the same page, with only the series it can fill (see ``helpers.sim.proxymetrics``).
    """
    import pandas as pd

    backend = backend or current()
    if backend.is_sim:
        text = _sim_node(backend, node, "proxy-metrics")
    else:
        _check_kind_node(backend, node)
        text = run_docker(docker_command("metrics", node), node)
    rows = [sample for sample in parse_metrics(text) if sample["metric"].startswith(prefix)]
    return pd.DataFrame(rows, columns=["metric", "labels", "value"])


def parse_metrics(text: str) -> list[dict]:
    """Samples of a Prometheus text page: ``{"metric", "labels", "value"}`` (comments skipped)."""
    samples = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        head, _, value = line.rpartition(" ")
        name, _, label_text = head.partition("{")
        labels = dict(_METRIC_LABEL.findall(label_text))
        samples.append({"metric": name, "labels": labels, "value": float(value)})
    return samples


def backoff_pauses(first: float = 0.2, longest: float = 2.0):
    """Pauses between re-reads of a node's rules: ``first``, doubling up to ``longest`` (0.2, 0.4 ... 2, 2)."""
    pause = first
    while True:
        yield pause
        pause = min(2 * pause, longest)


def _rule_reads(backend: Backend, timeout: float):
    """Yield once before each read of a node's rules, until ``timeout`` is used up.

    Simulator: each read follows one minSyncPeriod of virtual time, so a sync kube-proxy has pending
    has run; ``timeout`` counts virtual seconds, so a text that never appears cannot fast-forward the
    clock (and with it node heartbeats and evictions) by more than that.
    kind: iptables and nft offer no watch, so the rules are polled: early re-reads come quickly
    (kube-proxy usually syncs within its 1 s minSyncPeriod), later ones every 2 s, so a node whose
    kube-proxy is down is not made to run iptables-save in a tight loop.
    """
    if backend.is_sim:
        for _ in range(max(1, math.ceil(timeout / MIN_SYNC_PERIOD))):
            advance(MIN_SYNC_PERIOD, backend=backend, quiet=True)  # waiting is not an action to trace
            yield
        return
    deadline = time.monotonic() + timeout
    yield
    for pause in backoff_pauses():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return
        time.sleep(min(pause, remaining))
        yield


def default_rules_format(mode: str) -> str:
    """The rule format a kube-proxy mode programs: ``nftables`` for nftables, else ``iptables``."""
    return "nftables" if mode == "nftables" else "iptables"


def wait_for_rules(node: str, contains: str, fmt: str | None = None, timeout: float = 30, *,
                   backend: Backend | None = None) -> str:
    """The node's kube-proxy rules once they contain ``contains``; ``WaitTimeout`` if they never do.

    kube-proxy syncs at most once per minSyncPeriod (1 s), so rules lag an API change by up to that.
    ``fmt`` defaults to the format of the kube-proxy mode in ``kind-cluster.yaml``.
    """
    backend = backend or current()
    fmt = fmt or default_rules_format(load_cluster_config().kube_proxy_mode)
    noun = f"{node} {fmt} rules mentioning {contains!r}"
    bar = Progress()
    for _ in _rule_reads(backend, timeout):
        text = node_rules(node, fmt, backend=backend)
        bar.update(int(contains in text), 1, noun)
        if contains in text:
            bar.finish()
            return text
    bar.finish()
    clock = " of virtual time" if backend.is_sim else ""
    raise WaitTimeout(f"timed out after {timeout:g} s{clock}: {node}'s {fmt} rules never mentioned {contains!r}",
                      "is the object in the API? compare h.slices_table(namespace) and h.services_table(namespace) "
                      "with what you expected; kube-proxy skips headless Services and ones labelled "
                      + LABEL_SERVICE_PROXY_NAME)


def rules_vs_model(node: str, fmt: str = "iptables", *, backend: Backend | None = None):
    """"The model predicts / your node has": the node's kube-proxy rules diffed against
    helpers.dataplane's model for the cluster's current Services and EndpointSlices.

    Returns a ``helpers.dataplane.parse.RuleDiff`` (``.identical``, ``.summary()``, ``.missing``,
    ``.extra``). kube-proxy syncs at most once per second, so compare after the change settled.
    """
    from helpers.dataplane import diff_node_rules

    backend = backend or current()
    text = node_rules(node, fmt, backend=backend)
    cfg = load_cluster_config()  # both backends boot from kind-cluster.yaml
    return diff_node_rules(text, services=backend.list("services")[0],
                           endpoint_slices=backend.list("endpointslices")[0], node=backend.get("nodes", node),
                           config={"mode": cfg.kube_proxy_mode, "clusterCIDR": cfg.pod_subnet}, fmt=fmt,
                           service_cidrs=list(cfg.service_cidrs) if fmt == "nftables" else ())


def _require_sim(backend: Backend, what: str, instead: str) -> None:
    if not backend.is_sim:
        raise NotSimulator(f"{what} only exists on the simulator; this is {backend.context}", instead)


def advance(seconds: float, *, backend: Backend | None = None, quiet: bool = False):
    """Fast-forward the simulator's virtual clock; returns the new virtual time. A trace notes it as
    a user action unless ``quiet`` (a helper's own wait, such as reading a node's rules)."""
    backend = backend or current()
    _require_sim(backend, "fast-forwarding time",
                 "on a real cluster real time must pass: wait for the outcome with h.wait_for(...) instead")
    if not quiet:
        trace.note(f"advance clock {seconds:g} s")
    return simapi.advance(backend, seconds)["virtualTime"]


def reconciler_decisions(namespace: str, service: str, *, backend: Backend | None = None):
    """The simulated EndpointSlice reconciler's recorded syncs of one Service (why each write happened),
    as a pandas DataFrame."""
    import pandas as pd

    backend = backend or current()
    _require_sim(backend, "the reconciler's decision log",
                 "on kind, read the controller's work from h.Trace and the EndpointSlices themselves")
    return pd.DataFrame(simapi.endpointslice_decisions(backend, namespace, service))


def set_missing_node_behavior(behavior: str, *, backend: Backend | None = None) -> str:
    """Simulator only: how the EndpointSlice controller treats pods whose Node does not exist.

    ``"current"`` (v1.25+) skips those pods and publishes the rest; ``"pre-1.25"`` aborts the whole
    Service's sync (kubernetes/kubernetes#107927). Returns the behaviour now in force; the simulator
    answers any other value with a 400 ``Status`` naming the valid ones (``ApiError``).
    """
    answer = _configure_endpointslice_controller(
        backend, "switching the EndpointSlice controller's missing-node behaviour",
        "a real kube-controller-manager runs the code of its version (v1.25+: 'current'); "
        "the pre-1.25 behaviour can only be shown on the simulator",
        f"missing-node behaviour {behavior}", {"missingNodeBehavior": behavior})
    return answer["missingNodeBehavior"]


def set_slice_informer(lag: float = 0.0, *, stale_check: bool = True, backend: Backend | None = None) -> dict:
    """Simulator only: make the EndpointSlice controller's slice informer lag by ``lag`` seconds (0-60),
    and switch its stale-cache check (``stale_check=False``: the behaviour before v1.21's PR #99345).

    A lagging watch is what the controller's ``EndpointSliceTracker`` guards against: a sync that runs
    before the cache holds the controller's own last writes fails with "EndpointSlice informer cache
    is out of date" and is retried. Returns ``{"sliceInformerLagSeconds", "staleSliceCheck", ...}`` as
    now in force; a value out of range is answered with a 400 ``Status`` (``ApiError``).
    """
    return _configure_endpointslice_controller(
        backend, "delaying the EndpointSlice controller's informer",
        "a real kube-controller-manager's watch lags only under load; its StaleSlices check is always on",
        f"slice informer lag {lag:g} s, stale check {'on' if stale_check else 'off'}",
        {"sliceInformerLagSeconds": lag, "staleSliceCheck": stale_check})


def _configure_endpointslice_controller(backend, what: str, instead: str, note: str, body: dict) -> dict:
    """The one writer of the simulated EndpointSlice controller's settings (its config route)."""
    backend = backend or current()
    _require_sim(backend, what, instead)
    trace.note(f"EndpointSlice controller: {note}")
    return simapi.configure_endpointslice(backend, body)


def restart_simulator(config_path=None, *, backend: Backend | None = None) -> Backend:
    """Simulator only: restart the background simulator from another kind config and reconnect.

    The simulator reads its kube-controller-manager flags (e.g. ``--max-endpoints-per-slice``) from the
    kind config at start-up, as kind does, so a new value means a fresh cluster: everything in the old
    one is gone. ``config_path`` is relative to the repository (``kind/kind-slices5.yaml``); None means
    ``kind-cluster.yaml``. The simulator keeps its speed. Returns the new current backend.
    """
    from helpers import sim  # the simulator's start/stop functions; not needed on import

    backend = backend or current()
    _require_sim(backend, "restarting the cluster from another config",
                 "on kind: `make cluster-down` then `make cluster KIND_CONFIG=<file>` (it deletes everything)")
    path = None if config_path is None else REPO_ROOT / config_path
    load_cluster_config(path)  # a broken config fails here, before the running simulator is stopped
    speed = simapi.info(backend).get("speed", 1.0)
    sim.stop_background()
    sim.start_background(path, speed=speed)
    fresh = connect("sim")
    limit = simapi.info(fresh)["config"]["maxEndpointsPerSlice"]
    print(f"max-endpoints-per-slice on this simulator: {limit}")
    return fresh


def patch_status(resource: str, name: str, namespace: str | None, patch: dict, *,
                 backend: Backend | None = None) -> dict:
    """Merge-patch an object's ``status`` subresource, e.g. write the status of a pod bound to a node
    no kubelet runs on. ``patch`` is the whole patch (``{"status": {...}}``); returns the object.

    Writes only inside sandbox namespaces, like the other write helpers.
    """
    backend = backend or current()
    check_writable(backend, namespace, resource)
    trace.note(f"patch {resource}/{name} status")
    return backend.request("PATCH", api_resource(resource).path(namespace, name, "status"), body=patch,
                           content_type="application/merge-patch+json")


def cluster_time(*, backend: Backend | None = None) -> datetime:
    """Now on the cluster's clock (UTC): the simulator's virtual time, or the wall clock on kind.

    Compare it with timestamps the cluster wrote (Events, conditions): on the simulator those follow the
    virtual clock, which ``advance`` moves ahead of the wall clock.
    """
    return datetime.fromtimestamp(cluster_now(backend or current()), UTC)
