"""Deployment, ReplicaSet and DaemonSet controllers (pkg/controller/{deployment,replicaset,daemon}).

Decisions are pure functions (`template_hash`, `resolve_fenceposts`, `rolling_update_plan`,
`pods_to_delete`, ...); the controller classes only read the informer cache and write through
the store. Like upstream, the ReplicaSet and DaemonSet controllers keep *expectations*: pods they
created or deleted but have not yet seen in the cache, so a second sync in between does not
create or delete them twice.
"""

from __future__ import annotations

import copy
import json
import math

from helpers.controlplane import daemon
from helpers.controlplane.podutil import is_available, untolerated_taints
from helpers.kube import format_time, is_active, is_ready, is_terminal, is_terminating, obj_key
from helpers.sim.api.errors import ApiError
from helpers.sim.controllers.controller import Controller
from helpers.sim.controllers.informer import controller_of

HASH_LABEL = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"
DESIRED = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # apimachinery rand.SafeEncodeString
# A pod (or ReplicaSet) change queues its owner's sync this much later (virtual seconds), so a burst
# of changes (1,000 pods turning Ready) costs one recount instead of one per change.
POD_SYNC_BATCH_S = 0.05
# pkg/controller/replicaset/replica_set.go: BurstReplicas, the most pods one sync creates or deletes;
# pkg/controller/controller_utils.go: SlowStartInitialBatchSize
BURST_REPLICAS = 500
SLOW_START_INITIAL_BATCH_SIZE = 1


# -- pure decisions -----------------------------------------------------------------------------
def template_hash(template: dict, collision_count: int = 0) -> str:
    """A stable short hash of a pod template, spelled like upstream's (fnv32a + SafeEncodeString).

    The bytes hashed differ from Go's spew dump, so values differ from a real cluster's, but the
    shape ("5d4f8c9b76") and the property (same template -> same name) are the same.
    """
    data = json.dumps(template, sort_keys=True, separators=(",", ":")).encode() + str(collision_count).encode()
    value = 0x811C9DC5
    for byte in data:
        value = ((value ^ byte) * 0x01000193) & 0xFFFFFFFF
    return "".join(SAFE_ALPHABET[ord(ch) % len(SAFE_ALPHABET)] for ch in str(value))


def strip_hash(template: dict, label: str = HASH_LABEL) -> dict:
    """The template without the controller's hash label (to compare with the owner's template)."""
    clean = copy.deepcopy(template)
    clean.get("metadata", {}).get("labels", {}).pop(label, None)
    return clean


def scaled_value(value, total: int, round_up: bool) -> int:
    """An IntOrString (3 or "25%") against `total` (upstream GetScaledValueFromIntOrPercent)."""
    if isinstance(value, str) and value.endswith("%"):
        exact = int(value[:-1]) * total / 100
        return math.ceil(exact) if round_up else math.floor(exact)
    return int(value)


def resolve_fenceposts(deployment: dict) -> tuple[int, int]:
    """(maxSurge, maxUnavailable) for a RollingUpdate Deployment; both 0 becomes unavailable 1."""
    replicas = deployment["spec"].get("replicas", 1)
    rolling = (deployment["spec"].get("strategy") or {}).get("rollingUpdate") or {}
    surge = scaled_value(rolling.get("maxSurge", "25%"), replicas, round_up=True)
    unavailable = scaled_value(rolling.get("maxUnavailable", "25%"), replicas, round_up=False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, min(unavailable, replicas)


def rolling_update_plan(replicas: int, surge: int, unavailable: int, new: dict, olds: list[dict]) -> dict:
    """New spec.replicas per ReplicaSet name for one rolling-update step.

    Upstream rolloutRolling: scale the new ReplicaSet up within replicas + maxSurge, then scale
    old ReplicaSets (oldest first, unhealthy replicas first) down while keeping
    replicas - maxUnavailable pods available. `new`/`olds` are ReplicaSet dicts with status.
    """
    def spec(rs):
        return rs["spec"].get("replicas", 0)

    def available(rs):
        return (rs.get("status") or {}).get("availableReplicas", 0)

    plan = {}
    total = spec(new) + sum(spec(rs) for rs in olds)
    new_target = min(replicas, spec(new) + max(0, replicas + surge - total))
    if spec(new) > replicas:
        new_target = replicas
    if new_target != spec(new):
        plan[new["metadata"]["name"]] = new_target
    total += new_target - spec(new)
    min_available = replicas - unavailable
    new_unavailable = new_target - available(new)
    budget = total - min_available - new_unavailable
    ordered = sorted(olds, key=lambda rs: rs["metadata"].get("creationTimestamp", ""))
    for rs in ordered:  # cleanupUnhealthyReplicas: unavailable old pods go first
        if budget <= 0:
            break
        cut = min(budget, spec(rs) - available(rs))
        if cut > 0:
            plan[rs["metadata"]["name"]] = spec(rs) - cut
            budget -= cut
    available_total = available(new) + sum(min(available(rs), plan.get(rs["metadata"]["name"], spec(rs)))
                                           for rs in olds)
    budget = min(budget, available_total - min_available)
    for rs in ordered:
        if budget <= 0:
            break
        current = plan.get(rs["metadata"]["name"], spec(rs))
        cut = min(budget, current)
        if cut > 0:
            plan[rs["metadata"]["name"]] = current - cut
            budget -= cut
    return plan


def new_replicaset(deployment: dict, number: int, replicas: int) -> dict:
    """The ReplicaSet for the Deployment's current template: `<name>-<pod-template-hash>`, revision `number`."""
    pod_hash = template_hash(deployment["spec"]["template"])
    template = copy.deepcopy(deployment["spec"]["template"])
    template.setdefault("metadata", {}).setdefault("labels", {})[HASH_LABEL] = pod_hash
    selector = copy.deepcopy(deployment["spec"]["selector"])
    selector.setdefault("matchLabels", {})[HASH_LABEL] = pod_hash
    desired = deployment["spec"].get("replicas", 1)
    surge, _ = resolve_fenceposts(deployment)
    return {
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {
            "name": f"{deployment['metadata']['name']}-{pod_hash}", "namespace": deployment["metadata"]["namespace"],
            "labels": dict(template["metadata"]["labels"]),
            "annotations": {DESIRED: str(desired), MAX_REPLICAS: str(desired + surge), REVISION: str(number)},
            "ownerReferences": [owner_reference(deployment)],
        },
        "spec": {"replicas": replicas, "minReadySeconds": deployment["spec"].get("minReadySeconds", 0),
                 "selector": selector, "template": template},
    }


def revision(rs: dict) -> int:
    """A ReplicaSet's rollout revision (its deployment.kubernetes.io/revision annotation)."""
    return int((rs["metadata"].get("annotations") or {}).get(REVISION, 0))


def history_to_clean(olds: list[dict], limit: int) -> list[dict]:
    """Old ReplicaSets past revisionHistoryLimit: only idle ones (no pods), oldest revision first."""
    idle = sorted((rs for rs in olds if not rs["spec"].get("replicas") and not (rs.get("status") or {}).get("replicas")),
                  key=revision)
    return idle[:max(0, len(idle) - limit)]


def pods_to_delete(pods: list[dict], count: int) -> list[dict]:
    """Which pods a ReplicaSet deletes first: unscheduled, then not ready, then the newest."""
    if count <= 0:
        return []

    def rank(pod):
        return (bool(pod["spec"].get("nodeName")), is_ready(pod),
                [-ord(c) for c in pod["metadata"].get("creationTimestamp", "")])
    return sorted(pods, key=rank)[:max(0, count)]


def slow_start_batch(count: int, initial_batch_size: int, fn) -> tuple[int, Exception | None]:
    """replica_set.go slowStartBatch: call ``fn`` ``count`` times in batches of 1, 2, 4, ..., stopping
    after the first batch with a failure; returns (successes, the first error). Upstream runs a batch's
    calls concurrently, so every call of the failing batch is still made; here they run in turn."""
    remaining, successes, batch = count, 0, min(count, initial_batch_size)
    while batch > 0:
        errors = []
        for _ in range(batch):
            try:
                fn()
            except ApiError as err:
                errors.append(err)
        successes += batch - len(errors)
        if errors:
            return successes, errors[0]
        remaining -= batch
        batch = min(2 * batch, remaining)
    return successes, None


def pod_from_template(template: dict, owner: dict, generate_name: str) -> dict:
    """A Pod for `owner` (ReplicaSet or DaemonSet) from its template (upstream GetPodFromTemplate)."""
    meta = template.get("metadata") or {}
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "generateName": generate_name,
            "namespace": owner["metadata"]["namespace"],
            "labels": dict(meta.get("labels") or {}),
            "annotations": dict(meta.get("annotations") or {}),
            "ownerReferences": [owner_reference(owner)],
        },
        "spec": copy.deepcopy(template.get("spec") or {}),
    }


def owner_reference(owner: dict) -> dict:
    return {"apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": owner["metadata"]["name"],
            "uid": owner["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}


def replicaset_status(rs: dict, pods: list[dict], now: float, terminating: int = 0) -> dict:
    """ReplicaSet status from its active pods and the number of its terminating ones (upstream
    calculateStatus; terminatingReplicas with DeploymentReplicaSetTerminatingReplicas, beta and on since 1.35)."""
    min_ready = rs["spec"].get("minReadySeconds", 0)
    status = {
        "replicas": len(pods),
        "fullyLabeledReplicas": len(pods),
        "readyReplicas": sum(is_ready(p) for p in pods),
        "availableReplicas": sum(is_available(p, min_ready, now) for p in pods),
        "observedGeneration": rs["metadata"].get("generation", 1),
        "terminatingReplicas": terminating,
    }
    return {k: v for k, v in status.items() if v or k in ("replicas", "observedGeneration", "terminatingReplicas")}


def terminating_replicas(replica_sets: list[dict]) -> int | None:
    """deployment_util.go GetTerminatingReplicaCountForReplicaSets: the sum, skipping ReplicaSets the controller
    never synced; None (left out) when a synced one does not report it."""
    count = 0
    for rs in replica_sets:
        status = rs.get("status") or {}
        if "terminatingReplicas" in status:
            count += status["terminatingReplicas"]
        elif status.get("observedGeneration"):
            return None
    return count


def deployment_status(deployment: dict, new: dict | None, all_rs: list[dict], stamp: str) -> dict:
    """Deployment status: counts summed over its ReplicaSets plus Available/Progressing conditions."""
    def total(field, sets):
        return sum((rs.get("status") or {}).get(field, 0) for rs in sets)

    replicas = deployment["spec"].get("replicas", 1)
    _, unavailable = resolve_fenceposts(deployment)
    available = total("availableReplicas", all_rs)
    updated = total("replicas", [new] if new else [])
    status = {
        "observedGeneration": deployment["metadata"].get("generation", 1),
        "replicas": total("replicas", all_rs),
        "updatedReplicas": updated,
        "readyReplicas": total("readyReplicas", all_rs),
        "availableReplicas": available,
        "unavailableReplicas": max(0, replicas - available),
    }
    status = {k: v for k, v in status.items() if v or k == "observedGeneration"}
    terminating = terminating_replicas(all_rs)
    if terminating is not None:
        status["terminatingReplicas"] = terminating
    old_conditions = {c["type"]: c for c in (deployment.get("status") or {}).get("conditions") or []}
    has_min = available >= replicas - unavailable
    conditions = {"Available": ("True" if has_min else "False",
                                "MinimumReplicasAvailable" if has_min else "MinimumReplicasUnavailable",
                                "Deployment has minimum availability." if has_min
                                else "Deployment does not have minimum availability.")}
    if deployment["spec"].get("paused"):  # sync.go checkPausedConditions, before calculateStatus
        conditions = {"Progressing": ("Unknown", "DeploymentPaused", "Deployment is paused"), **conditions}
    elif new is not None:
        name = new["metadata"]["name"]
        done = updated == replicas and status.get("replicas", 0) == replicas and available >= replicas
        conditions["Progressing"] = ("True", "NewReplicaSetAvailable" if done else "ReplicaSetUpdated",
                                     f'ReplicaSet "{name}" has successfully progressed.' if done
                                     else f'ReplicaSet "{name}" is progressing.')
    # SetDeploymentCondition: a condition keeps its place, a new one comes last
    order = [t for t in old_conditions if t in conditions] + [t for t in conditions if t not in old_conditions]
    status["conditions"] = []
    for type_ in order:
        value, reason, message = conditions[type_]
        old = old_conditions.get(type_, {})
        same = old.get("status") == value and old.get("reason") == reason and old.get("message") == message
        status["conditions"].append({
            "type": type_, "status": value, "reason": reason, "message": message,
            "lastUpdateTime": old["lastUpdateTime"] if same else stamp,
            "lastTransitionTime": old["lastTransitionTime"] if old.get("status") == value else stamp,
        })
    return status


def daemon_nodes(ds: dict, nodes: list[dict]) -> list[dict]:
    """Nodes a DaemonSet pod should run on: nodeSelector matches and NoSchedule/NoExecute tolerated."""
    spec = ds["spec"]["template"].get("spec") or {}
    selector = spec.get("nodeSelector") or {}
    tolerations = daemon_tolerations(spec)
    return [n for n in nodes
            if all(n["metadata"].get("labels", {}).get(k) == v for k, v in selector.items())
            and not untolerated_taints(n, tolerations)]


def daemon_tolerations(pod_spec: dict) -> list[dict]:
    """The template's tolerations plus those the DaemonSet controller adds (AddOrUpdateDaemonPodTolerations)."""
    added = [{"key": f"node.kubernetes.io/{k}", "operator": "Exists", "effect": e} for k, e in (
        ("not-ready", "NoExecute"), ("unreachable", "NoExecute"), ("disk-pressure", "NoSchedule"),
        ("memory-pressure", "NoSchedule"), ("pid-pressure", "NoSchedule"), ("unschedulable", "NoSchedule"))]
    if pod_spec.get("hostNetwork"):
        added.append({"key": "node.kubernetes.io/network-unavailable", "operator": "Exists",
                      "effect": "NoSchedule"})
    existing = pod_spec.get("tolerations") or []
    return existing + [t for t in added if t not in existing]


def daemon_pod_spec(ds: dict, node_name: str, revision_hash: str) -> dict:
    """A DaemonSet pod template pinned to `node_name` through required node affinity, as upstream does."""
    template = copy.deepcopy(ds["spec"]["template"])
    template.setdefault("metadata", {}).setdefault("labels", {})[daemon.HASH_LABEL] = revision_hash
    template["metadata"]["labels"][daemon.GENERATION_LABEL] = str(ds["metadata"].get("generation", 1))
    spec = template.setdefault("spec", {})
    spec["tolerations"] = daemon_tolerations(spec)
    spec["affinity"] = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchFields": [
            {"key": "metadata.name", "operator": "In", "values": [node_name]}]}]}}}
    return template


def affinity_node(pod: dict) -> str | None:
    """The node a DaemonSet pod is pinned to by its metadata.name matchFields affinity."""
    terms = (((pod["spec"].get("affinity") or {}).get("nodeAffinity") or {})
             .get("requiredDuringSchedulingIgnoredDuringExecution") or {}).get("nodeSelectorTerms") or []
    for term in terms:
        for field in term.get("matchFields") or []:
            if field.get("key") == "metadata.name" and field.get("operator") == "In":
                return field["values"][0]
    return None


# -- controllers --------------------------------------------------------------------------------
class _PodOwnerController(Controller):
    """Shared pod bookkeeping for ReplicaSet and DaemonSet controllers (with expectations)."""

    resource = kind = ""
    max_retries = None  # replica_set.go and daemon_controller.go re-add a failed key for ever

    def __init__(self, cluster):
        super().__init__(cluster)
        self._creating: dict[str, set] = {}
        self._deleting: dict[str, set] = {}

    def start(self) -> None:
        self.informer.on(self.resource, lambda _t, obj, _o: self.enqueue(obj_key(obj)))
        self.informer.on("pods", self._pod_changed)
        for obj in self.informer.items(self.resource):
            self.enqueue(obj_key(obj))

    def _pod_changed(self, _type, pod, old) -> None:
        for candidate in (pod, old):
            ref = candidate and controller_of(candidate)
            if ref and ref.get("kind") == self.kind:
                self.enqueue((pod["metadata"]["namespace"], ref["name"]), POD_SYNC_BATCH_S)

    def claimed_pods(self, owner: dict) -> list[dict]:
        """Every cached pod `owner` controls, terminating and terminal ones included."""
        uid = owner["metadata"]["uid"]
        return [p for p in self.informer.dependents("pods", uid) if (controller_of(p) or {}).get("uid") == uid]

    def owned_pods(self, owner: dict) -> list[dict]:
        """Active pods controlled by `owner`, and the number of expected creates still in flight."""
        uid = owner["metadata"]["uid"]
        pods = self.claimed_pods(owner)
        seen = {p["metadata"]["name"] for p in pods}
        self._creating[uid] = self._creating.get(uid, set()) - seen
        self._deleting[uid] = {n for n in self._deleting.get(uid, set())
                               if any(p["metadata"]["name"] == n and is_active(p) for p in pods)}
        return [p for p in pods if is_active(p) and p["metadata"]["name"] not in self._deleting[uid]]

    def pending_creates(self, owner: dict) -> int:
        return len(self._creating.get(owner["metadata"]["uid"], ()))

    def pending_deletes(self, owner: dict) -> int:
        """Deletes this controller made that the cache does not show yet (after `owned_pods`)."""
        return len(self._deleting.get(owner["metadata"]["uid"], ()))

    def create_pod(self, owner: dict, pod: dict) -> None:
        created = self.create("pods", pod, namespace=owner["metadata"]["namespace"])
        self._creating.setdefault(owner["metadata"]["uid"], set()).add(created["metadata"]["name"])
        self.event(owner, "Normal", "SuccessfulCreate", f"Created pod: {created['metadata']['name']}")

    def delete_pod(self, owner: dict, pod: dict) -> None:
        name = pod["metadata"]["name"]
        self.store.delete("pods", name, pod["metadata"]["namespace"])
        self._deleting.setdefault(owner["metadata"]["uid"], set()).add(name)
        self.event(owner, "Normal", "SuccessfulDelete", f"Deleted pod: {name}")

    def write_status(self, obj: dict, status: dict) -> None:
        if (obj.get("status") or {}) != status:
            self.update(self.resource, dict(obj, status=status), subresource="status")


class ReplicaSetController(_PodOwnerController):
    """Keeps spec.replicas active pods per ReplicaSet."""

    component, resource, kind = "replicaset-controller", "replicasets.apps", "ReplicaSet"

    def sync(self, key) -> None:
        rs = self.informer.get(self.resource, key[1], key[0])
        if rs is None or rs["metadata"].get("deletionTimestamp"):
            return
        pods = self.owned_pods(rs)
        diff = rs["spec"].get("replicas", 1) - len(pods) - self.pending_creates(rs)
        # at most BURST_REPLICAS per sync: the creates' watch events bring the next sync
        _created, error = slow_start_batch(min(max(0, diff), BURST_REPLICAS), SLOW_START_INITIAL_BATCH_SIZE,
                                           lambda: self.create_pod(rs, pod_from_template(
                                               rs["spec"]["template"], rs, f"{rs['metadata']['name']}-")))
        for pod in pods_to_delete(pods, min(-diff, BURST_REPLICAS)):
            self.delete_pod(rs, pod)
        terminating = sum(is_terminating(p) and not is_terminal(p) for p in self.claimed_pods(rs))
        self.write_status(rs, replicaset_status(rs, pods, self.clock.time(), terminating))
        if error is not None:
            raise error


class DaemonSetController(_PodOwnerController):
    """One pod per eligible node, replaced one at a time when the template changes."""

    component, resource, kind = "daemonset-controller", "daemonsets.apps", "DaemonSet"

    def start(self) -> None:
        super().start()
        self.informer.on("nodes", lambda *_: [self.enqueue(obj_key(ds)) for ds in self.informer.items(self.resource)])

    def sync(self, key) -> None:
        """manage, then rollingUpdate (helpers.controlplane.daemon): a node whose old pod is still terminating
        gets its new pod only once the old one is gone."""
        ds = self.informer.get(self.resource, key[1], key[0])
        if ds is None or ds["metadata"].get("deletionTimestamp"):
            return
        revision = template_hash(ds["spec"]["template"])
        pods = self.owned_pods(ds)
        by_node = daemon.node_to_daemon_pods(self.claimed_pods(ds),
                                             lambda p: p["spec"].get("nodeName") or affinity_node(p))
        wanted = {n["metadata"]["name"] for n in daemon_nodes(ds, self.informer.items("nodes"))}
        if self.pending_creates(ds) or self.pending_deletes(ds):  # syncDaemonSet: expectations not yet met
            return self.write_status(ds, self._status(ds, pods, wanted, revision))
        for node in sorted(wanted - by_node.keys()):
            template = daemon_pod_spec(ds, node, revision)
            self.create_pod(ds, pod_from_template(template, ds, f"{ds['metadata']['name']}-"))
        active = {p["metadata"]["name"] for p in pods}
        for node, node_pods in by_node.items():
            running = [p for p in node_pods if p["metadata"]["name"] in active]
            for pod in running[1:] if node in wanted else running:
                self.delete_pod(ds, pod)
        for pod in daemon.rolling_update_deletions(ds, by_node, wanted, revision, self.clock.time()):
            if pod["metadata"]["name"] in active:
                self.delete_pod(ds, pod)
        self.write_status(ds, self._status(ds, pods, wanted, revision))

    def _status(self, ds: dict, pods: list[dict], wanted: set, revision: str) -> dict:
        scheduled = [p for p in pods if p["spec"].get("nodeName") in wanted]
        ready = sum(is_ready(p) for p in scheduled)
        return {
            "currentNumberScheduled": len(scheduled),
            "desiredNumberScheduled": len(wanted),
            "numberMisscheduled": len([p for p in pods if p["spec"].get("nodeName") not in wanted
                                       and p["spec"].get("nodeName")]),
            "numberReady": ready,
            "numberAvailable": ready,
            "numberUnavailable": max(0, len(wanted) - ready),
            "updatedNumberScheduled": len([p for p in scheduled
                                           if p["metadata"]["labels"].get(daemon.HASH_LABEL) == revision]),
            "observedGeneration": ds["metadata"].get("generation", 1),
        }


class DeploymentController(Controller):
    """Rolls a Deployment out through ReplicaSets named `<deployment>-<pod-template-hash>`."""

    component = "deployment-controller"

    def start(self) -> None:
        self.informer.on("deployments.apps", lambda _t, obj, _o: self.enqueue(obj_key(obj)))
        self.informer.on("replicasets.apps", self._rs_changed)
        for obj in self.informer.items("deployments.apps"):
            self.enqueue(obj_key(obj))

    def _rs_changed(self, _type, rs, _old) -> None:
        ref = controller_of(rs)
        if ref and ref.get("kind") == "Deployment":
            self.enqueue((rs["metadata"]["namespace"], ref["name"]), POD_SYNC_BATCH_S)

    def sync(self, key) -> None:
        deployment = self.informer.get("deployments.apps", key[1], key[0])
        if deployment is None or deployment["metadata"].get("deletionTimestamp"):
            return
        uid = deployment["metadata"]["uid"]
        owned = [rs for rs in self.informer.dependents("replicasets.apps", uid)
                 if (controller_of(rs) or {}).get("uid") == uid]
        template = deployment["spec"]["template"]
        new = next((rs for rs in owned if strip_hash(rs["spec"]["template"]) == template), None)
        olds = [rs for rs in owned if rs is not new]
        latest = max([revision(rs) for rs in olds] or [0])
        paused = deployment["spec"].get("paused")
        if new is None and not paused:  # paused: no new ReplicaSet (sync.go sync, createIfNotExisted false)
            new = self._create_rs(deployment, latest + 1)
        elif new is not None and revision(new) <= latest:  # `rollout undo`: an old template is current again
            new = self._set_revision(deployment, new, latest + 1)
        if not paused:
            self._rollout(deployment, new, olds)
            for rs in history_to_clean(olds, deployment["spec"].get("revisionHistoryLimit", 10)):
                self.store.delete("replicasets.apps", rs["metadata"]["name"], rs["metadata"]["namespace"])
        status = deployment_status(deployment, new, owned if new is None or new in owned else owned + [new],
                                   format_time(self.clock.now()))
        if (deployment.get("status") or {}) != status:
            self.update("deployments.apps", dict(deployment, status=status), subresource="status")

    def _set_revision(self, deployment: dict, rs: dict, number: int) -> dict:
        annotations = dict(rs["metadata"].get("annotations") or {}, **{REVISION: str(number)})
        updated = self.update("replicasets.apps", dict(rs, metadata=dict(rs["metadata"], annotations=annotations)))
        self._annotate_deployment(deployment, number)
        return updated

    def _annotate_deployment(self, deployment: dict, number: int) -> None:
        """The revision annotation goes through UpdateStatus, as sync.go's getNewReplicaSet writes it."""
        annotations = dict(deployment["metadata"].get("annotations") or {}, **{REVISION: str(number)})
        self.update("deployments.apps", dict(deployment, metadata=dict(deployment["metadata"],
                                                                             annotations=annotations)),
                    subresource="status")

    def _create_rs(self, deployment: dict, number: int) -> dict:
        rs = new_replicaset(deployment, number, replicas=0)
        created = self.create("replicasets.apps", rs)
        self._annotate_deployment(deployment, number)
        return created

    def _rollout(self, deployment: dict, new: dict, olds: list[dict]) -> None:
        replicas = deployment["spec"].get("replicas", 1)
        active_olds = [rs for rs in olds if rs["spec"].get("replicas", 0) > 0]
        strategy = (deployment["spec"].get("strategy") or {}).get("type", "RollingUpdate")
        if not active_olds:
            plan = {new["metadata"]["name"]: replicas}
        elif strategy == "Recreate":
            plan = {rs["metadata"]["name"]: 0 for rs in active_olds}
        else:
            surge, unavailable = resolve_fenceposts(deployment)
            plan = rolling_update_plan(replicas, surge, unavailable, new, active_olds)
        for rs in [new, *olds]:
            target = plan.get(rs["metadata"]["name"])
            if target is not None and target != rs["spec"].get("replicas", 0):
                self._scale(deployment, rs, target)

    def _scale(self, deployment: dict, rs: dict, replicas: int) -> None:
        current = rs["spec"].get("replicas", 0)
        annotations = dict(rs["metadata"].get("annotations") or {})
        annotations[DESIRED] = str(deployment["spec"].get("replicas", 1))
        updated = dict(rs, metadata=dict(rs["metadata"], annotations=annotations),
                       spec=dict(rs["spec"], replicas=replicas))
        self.update("replicasets.apps", updated)
        verb = "up" if replicas > current else "down"
        self.event(deployment, "Normal", "ScalingReplicaSet",
                   f"Scaled {verb} replica set {rs['metadata']['name']} from {current} to {replicas}")

