"""default-scheduler: binds pending pods to nodes.

Filters follow the upstream plugins that matter for the chapters: NodeName, NodeUnschedulable
(cordon), NodeAffinity (nodeSelector plus required node affinity, incl. the `metadata.name`
matchFields the DaemonSet controller uses), TaintToleration, and NodeResourcesFit for the pod
count only (a node holds at most `status.allocatable.pods`, 110 on kind; containers request no CPU
or memory here). The count is of active pods, so terminating pods free their slot at once, where
upstream's scheduler cache keeps counting them until they are gone. Scoring is reduced to "fewest pods",
which spreads replicas over the workers the way the default spreading scores usually do.
`schedule` is pure; `Scheduler` binds through the store and records Scheduled/FailedScheduling.
"""

from __future__ import annotations

import random

from helpers.controlplane.podutil import tolerates, untolerated_taints
from helpers.kube import LABEL_HOSTNAME, format_time, get_condition, is_active, obj_key
from helpers.sim.boot import control_plane
from helpers.sim.controllers.controller import Controller
from helpers.sim.controllers.persistentvolume import SELECTED_NODE, class_of

SCHEDULER_NAME = "default-scheduler"
RETRY_UNSCHEDULABLE_S = 5.0  # upstream retries unschedulable pods on cluster changes or after a backoff


def match_expression(expr: dict, value: str | None) -> bool:
    op, values = expr.get("operator"), expr.get("values") or []
    if op == "In":
        return value in values
    if op == "NotIn":
        return value not in values
    if op == "Exists":
        return value is not None
    if op == "DoesNotExist":
        return value is None
    return False  # Gt/Lt are not used by the chapters


def node_affinity_matches(pod: dict, node: dict) -> bool:
    """nodeSelector and requiredDuringSchedulingIgnoredDuringExecution (terms are ORed)."""
    labels = node["metadata"].get("labels") or {}
    selector = pod["spec"].get("nodeSelector") or {}
    if any(labels.get(k) != v for k, v in selector.items()):
        return False
    required = (((pod["spec"].get("affinity") or {}).get("nodeAffinity") or {})
                .get("requiredDuringSchedulingIgnoredDuringExecution") or {})
    terms = required.get("nodeSelectorTerms") or []
    if not terms:
        return True
    fields = {"metadata.name": node["metadata"]["name"]}
    return any(
        all(match_expression(e, labels.get(e["key"])) for e in term.get("matchExpressions") or [])
        and all(match_expression(e, fields.get(e["key"])) for e in term.get("matchFields") or [])
        for term in terms)


TOO_MANY_PODS = "Too many pods"


def allowed_pods(node: dict) -> int:
    """How many pods the node's kubelet accepts (status.allocatable.pods; the kubelet's default 110)."""
    try:
        return int(((node.get("status") or {}).get("allocatable") or {}).get("pods", 110))
    except ValueError:
        return 110


def filter_reasons(pod: dict, node: dict, pods_on_node: int = 0) -> list[str]:
    """Why `pod` cannot go to `node` (empty: it fits), in the scheduler's own wording.

    Checked in the default profile's filter order (NodeUnschedulable, TaintToleration, NodeAffinity,
    NodeResourcesFit); like upstream, only the first failing filter is reported for a node.
    """
    tolerations = pod["spec"].get("tolerations") or []
    if node["spec"].get("unschedulable") and not tolerates(
            tolerations, {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}):
        return ["node(s) were unschedulable"]
    taints = untolerated_taints(node, tolerations)
    if taints:
        taint = taints[0]
        value = f"={taint['value']}" if taint.get("value") else ""
        return [f"node(s) had untolerated taint {{{taint['key']}{value}: }}"]
    if not node_affinity_matches(pod, node):
        return ["node(s) didn't match Pod's node affinity/selector"]
    if pods_on_node + 1 > allowed_pods(node):
        return [TOO_MANY_PODS]
    return []


def _histogram(reasons: list[str]) -> str:
    """"2 reason-a, 1 reason-b": counts per reason, sorted as upstream's FitError sorts them."""
    return ", ".join(sorted(f"{reasons.count(r)} {r}" for r in set(reasons)))


def schedule(pod: dict, nodes: list[dict], pod_counts: dict[str, int]) -> tuple[str | None, str]:
    """(node name, "") for the best fitting node, or (None, FailedScheduling message)."""
    fits, reasons = [], []
    for node in nodes:
        why = filter_reasons(pod, node, pod_counts.get(node["metadata"]["name"], 0))
        if why:
            reasons.append(why[0])
        else:
            fits.append(node["metadata"]["name"])
    if fits:
        return min(fits, key=lambda n: (pod_counts.get(n, 0), n)), ""
    if not nodes:
        return None, "no nodes available to schedule pods"
    # Preemption could only help on a node that is merely full; with one priority there is no victim.
    preemption = ["No preemption victims found for incoming pod" if r == TOO_MANY_PODS
                  else "Preemption is not helpful for scheduling" for r in reasons]
    n = len(nodes)
    return None, (f"0/{n} nodes are available: {_histogram(reasons)}. preemption: 0/{n} nodes are available: "
                  f"{_histogram(preemption)}.")


class Scheduler(Controller):
    """Watches unbound pods with schedulerName default-scheduler and binds them after a short delay."""

    component = SCHEDULER_NAME
    field_manager = "kube-scheduler"
    max_retries = None  # the scheduling queue never gives up on a pod

    def __init__(self, cluster):
        super().__init__(cluster)
        self.rng = random.Random(f"{cluster.seed}-scheduler")
        self._waiting: set = set()  # unschedulable pods, retried when nodes change
        self._assumed: dict = {}  # pod key -> node, bound but not yet seen bound in the cache (upstream "assume")
        self._node_of: dict = {}  # pod key -> node it counts on
        self._counts: dict[str, int] = {}  # node -> active pods
        self._volume_waits: dict = {}  # pod key -> node, bound once its claims are (VolumeBinding PreBind)

    def start(self) -> None:
        self.informer.on("pods", self._pod_changed)
        self.informer.on("nodes", lambda *_: [self.enqueue(k) for k in list(self._waiting)])
        self.informer.on("persistentvolumeclaims", lambda *_: [self.enqueue(k) for k in list(self._volume_waits)])
        for pod in self.informer.items("pods"):
            self._pod_changed("ADDED", pod, None)

    def _pod_changed(self, type_, pod, _old) -> None:
        key = obj_key(pod)
        node = pod["spec"].get("nodeName") if type_ != "DELETED" and is_active(pod) else None
        self._count(key, node or (self._assumed.get(key) if type_ != "DELETED" and is_active(pod) else None))
        if node or type_ == "DELETED":
            self._assumed.pop(key, None)
        if type_ != "DELETED" and self._wants(pod):
            self.enqueue(obj_key(pod), self.rng.uniform(0.01, 0.05))  # scheduling latency ~10-50 ms

    @staticmethod
    def _wants(pod: dict) -> bool:
        spec = pod["spec"]
        return (not spec.get("nodeName") and spec.get("schedulerName", SCHEDULER_NAME) == SCHEDULER_NAME
                and is_active(pod))

    def sync(self, key) -> None:
        pod = self.informer.get("pods", key[1], key[0])
        self._waiting.discard(key)
        if pod is None or not self._wants(pod):
            self._volume_waits.pop(key, None)
            return
        claims, missing = self._claims(pod)
        if missing:
            self._unschedulable(key, pod, f'persistentvolumeclaim "{missing}" not found')
            return
        node = self._volume_waits.get(key)
        if node is None:
            nodes = sorted((n for n in self.informer.items("nodes") if self._volumes_fit(claims, n)),
                           key=lambda n: n["metadata"]["name"])
            node, message = schedule(pod, nodes, self._counts)
            if node is None:
                self._unschedulable(key, pod, message)
                return
        if self._claims_pending(key, claims, node):
            return
        self._volume_waits.pop(key, None)
        self._bind(pod, node)
        self._assumed[key] = node  # counted on this node before the cache shows the binding
        self._count(key, node)
        self.event(pod, "Normal", "Scheduled", f"Successfully assigned {key[0]}/{key[1]} to {node}",
                   action="Binding")

    # -- volumes (pkg/scheduler/framework/plugins/volumebinding, v1.37.0) -----------------------------
    def _claims(self, pod: dict) -> tuple[list[dict], str]:
        """The pod's claims, and the name of the first that does not exist ("" when all do)."""
        claims = []
        for volume in pod["spec"].get("volumes") or []:
            name = (volume.get("persistentVolumeClaim") or {}).get("claimName")
            if name:
                claim = self.informer.get("persistentvolumeclaims", name, pod["metadata"]["namespace"])
                if claim is None:
                    return [], name
                claims.append(claim)
        return claims, ""

    def _volumes_fit(self, claims: list[dict], node: dict) -> bool:
        """Filter: a bound claim's volume may pin the pod to nodes (its nodeAffinity on kubernetes.io/hostname)."""
        for claim in claims:
            volume = self.informer.get("persistentvolumes", claim["spec"].get("volumeName") or "")
            terms = ((((volume or {}).get("spec") or {}).get("nodeAffinity") or {}).get("required") or {}).get(
                "nodeSelectorTerms") or []
            hosts = {v for t in terms for e in t.get("matchExpressions") or []
                     if e.get("key") == LABEL_HOSTNAME and e.get("operator") == "In" for v in e.get("values") or []}
            if hosts and node["metadata"]["name"] not in hosts:
                return False
        return True

    def _claims_pending(self, key, claims: list[dict], node: str) -> bool:
        """PreBind: an unbound claim of a WaitForFirstConsumer class gets the chosen node
        (volume.kubernetes.io/selected-node) for its provisioning; the pod is bound once every claim is.
        (Upstream refuses a pod with unbound Immediate claims at PreFilter; here it waits for the binder.)"""
        unbound = [c for c in claims if not c["spec"].get("volumeName")]
        for claim in unbound:
            annotations = claim["metadata"].get("annotations") or {}
            storage_class = self.informer.get("storageclasses.storage.k8s.io", class_of(claim)) or {}
            delayed = storage_class.get("volumeBindingMode") == "WaitForFirstConsumer"
            if delayed and annotations.get(SELECTED_NODE) != node:
                self.update("persistentvolumeclaims", dict(claim, metadata=dict(
                    claim["metadata"], annotations={**annotations, SELECTED_NODE: node})))
        if unbound:
            self._volume_waits[key] = node
        return bool(unbound)

    def event(self, obj: dict, type_: str, reason: str, message: str, action: str) -> None:
        """Through events.k8s.io/v1 (schedule_one.go: actions Binding, Scheduling); the reporting instance is
        `default-scheduler-<hostname>`, the control-plane node's container."""
        instance = f"{SCHEDULER_NAME}-{control_plane(self.config)}"
        self.recorder.event(obj, type_, reason, message, self.component, host=instance,
                            field_manager=self.field_manager, action=action)

    def _count(self, key, node: str | None) -> None:
        """Keep active-pods-per-node counts incrementally (the scheduler cache's NodeInfo)."""
        old = self._node_of.pop(key, None)
        if old:
            self._counts[old] -= 1
        if node:
            self._node_of[key] = node
            self._counts[node] = self._counts.get(node, 0) + 1

    def _bind(self, pod: dict, node: str) -> None:
        """POST pods/binding: spec.nodeName and PodScheduled=True in one write (Store.bind)."""
        self.store.bind(pod["metadata"]["name"], pod["metadata"]["namespace"], node)

    def _unschedulable(self, key, pod: dict, message: str) -> None:
        current = self.store.get("pods", key[1], key[0])
        cond = {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": message}
        conditions = [c for c in current["status"].get("conditions") or [] if c["type"] != "PodScheduled"]
        old = get_condition(current, "PodScheduled") or {}
        if {k: old.get(k) for k in cond} != cond:
            cond["lastTransitionTime"] = format_time(self.clock.now())
            cond["lastProbeTime"] = None
            current["status"]["conditions"] = conditions + [cond]
            self.update("pods", current, subresource="status")
            self.event(pod, "Warning", "FailedScheduling", message, action="Scheduling")
        self._waiting.add(key)
        self.enqueue(key, RETRY_UNSCHEDULABLE_S)
