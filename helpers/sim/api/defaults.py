"""Defaulting on create (and update), as upstream's ``SetDefaults_*`` functions and admission do.

Each function takes a freshly decoded object (already a private copy) and fills in what the real API
server would, so ``kubectl get -o yaml`` reads like a real cluster. Allocation of cluster IPs and node
ports needs the store's state and lives in ``allocators``.
"""

from helpers.kube import TAINT_NOT_READY, TAINT_UNREACHABLE

_PROBE_FIELDS = ("livenessProbe", "readinessProbe", "startupProbe")


def _container(c: dict) -> None:
    image = c.get("image", "")
    tag = image.rsplit("/", 1)[-1]
    latest = "@" not in image and (":" not in tag or tag.endswith(":latest"))
    c.setdefault("imagePullPolicy", "Always" if latest else "IfNotPresent")
    c.setdefault("terminationMessagePath", "/dev/termination-log")
    c.setdefault("terminationMessagePolicy", "File")
    c.setdefault("resources", {})
    for port in c.get("ports") or []:
        port.setdefault("protocol", "TCP")
    for name in _PROBE_FIELDS:
        probe = c.get(name)
        if probe:
            for key, value in (("timeoutSeconds", 1), ("periodSeconds", 10), ("successThreshold", 1),
                               ("failureThreshold", 3)):
                probe.setdefault(key, value)
            if "httpGet" in probe:
                probe["httpGet"].setdefault("path", "/")
                probe["httpGet"].setdefault("scheme", "HTTP")


def pod_spec(spec: dict) -> None:
    """``SetDefaults_PodSpec`` and friends (shared by pods and pod templates)."""
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("securityContext", {})
    spec.setdefault("schedulerName", "default-scheduler")
    for c in (spec.get("initContainers") or []) + (spec.get("containers") or []):
        _container(c)


def _template(obj: dict) -> None:
    template = obj.setdefault("spec", {}).setdefault("template", {})
    template.setdefault("metadata", {})
    pod_spec(template.setdefault("spec", {}))


def qos_class(spec: dict) -> str:
    """Upstream's QoS class from container requests and limits (``GetPodQOS``, simplified)."""
    containers = spec.get("containers") or []
    requests = [c.get("resources", {}).get("requests") or {} for c in containers]
    limits = [c.get("resources", {}).get("limits") or {} for c in containers]
    if not any(requests) and not any(limits):
        return "BestEffort"
    guaranteed = all(
        lim.get("cpu") and lim.get("memory") and req.get("cpu", lim["cpu"]) == lim["cpu"]
        and req.get("memory", lim["memory"]) == lim["memory"]
        for req, lim in zip(requests, limits))
    return "Guaranteed" if guaranteed else "Burstable"


def pod(obj: dict, *, not_ready_seconds: int = 300, unreachable_seconds: int = 300) -> None:
    """Pod defaults, plus what admission adds: service account and the DefaultTolerationSeconds
    tolerations that the node lifecycle controller's taint-based eviction relies on."""
    spec = obj.setdefault("spec", {})
    pod_spec(spec)
    spec.setdefault("enableServiceLinks", True)  # SetDefaults_Pod, not _PodSpec: templates keep it unset
    spec.setdefault("serviceAccountName", "default")
    spec.setdefault("serviceAccount", spec["serviceAccountName"])
    spec.setdefault("priority", 0)
    spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
    tolerations = spec.setdefault("tolerations", [])
    for key, seconds in ((TAINT_NOT_READY, not_ready_seconds),
                         (TAINT_UNREACHABLE, unreachable_seconds)):
        if not any(t.get("key") == key and t.get("effect") in (None, "", "NoExecute") for t in tolerations):
            tolerations.append({"key": key, "operator": "Exists", "effect": "NoExecute",
                                "tolerationSeconds": seconds})


def pod_status(obj: dict) -> dict:
    """The status a new pod starts with (``PrepareForCreate``)."""
    return {"phase": "Pending", "qosClass": qos_class(obj.get("spec") or {})}


def service(obj: dict) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    for port in spec.get("ports") or []:
        port.setdefault("protocol", "TCP")
        if spec["type"] != "ExternalName":
            port.setdefault("targetPort", port.get("port"))
    if spec["type"] != "ExternalName":
        spec.setdefault("internalTrafficPolicy", "Cluster")
    if spec["type"] in ("NodePort", "LoadBalancer"):
        spec.setdefault("externalTrafficPolicy", "Cluster")
    if spec["type"] == "LoadBalancer":
        spec.setdefault("allocateLoadBalancerNodePorts", True)
    if spec.get("sessionAffinity") == "ClientIP":
        spec.setdefault("sessionAffinityConfig", {"clientIP": {"timeoutSeconds": 10800}})


def deployment(obj: dict) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    strategy = spec.setdefault("strategy", {})
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        rolling = strategy.setdefault("rollingUpdate", {})
        rolling.setdefault("maxUnavailable", "25%")
        rolling.setdefault("maxSurge", "25%")
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)
    _template(obj)


def replicaset(obj: dict) -> None:
    obj.setdefault("spec", {}).setdefault("replicas", 1)
    _template(obj)


def daemonset(obj: dict) -> None:
    spec = obj.setdefault("spec", {})
    strategy = spec.setdefault("updateStrategy", {})
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        rolling = strategy.setdefault("rollingUpdate", {})
        rolling.setdefault("maxUnavailable", 1)
        rolling.setdefault("maxSurge", 0)
    spec.setdefault("revisionHistoryLimit", 10)
    _template(obj)


def endpoints(obj: dict) -> None:
    for subset in obj.get("subsets") or []:
        for port in subset.get("ports") or []:
            port.setdefault("protocol", "TCP")


def endpointslice(obj: dict) -> None:
    for port in obj.get("ports") or []:
        port.setdefault("protocol", "TCP")


def networkpolicy(obj: dict) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("podSelector", {})
    if "policyTypes" not in spec:
        spec["policyTypes"] = ["Ingress"] + (["Egress"] if spec.get("egress") else [])
    for rule in (spec.get("ingress") or []) + (spec.get("egress") or []):
        for port in rule.get("ports") or []:
            port.setdefault("protocol", "TCP")


def namespace(obj: dict) -> None:
    name = obj["metadata"].get("name")
    if name:  # SetDefaults_Namespace labels only a named namespace (a nameless one then fails validation)
        obj["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = name
    obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])


def node(obj: dict) -> None:
    obj.setdefault("spec", {})


def secret(obj: dict) -> None:
    obj.setdefault("type", "Opaque")  # SetDefaults_Secret


def job(obj: dict) -> None:
    """``SetDefaults_Job`` (pkg/apis/batch/v1/defaults.go) and the pod template's defaults."""
    spec = obj.setdefault("spec", {})
    if spec.get("completions") is None and spec.get("parallelism") is None:
        spec["completions"] = 1
        spec["parallelism"] = 1
    spec.setdefault("parallelism", 1)
    spec.setdefault("backoffLimit", 2147483647 if spec.get("backoffLimitPerIndex") is not None else 6)
    spec.setdefault("completionMode", "NonIndexed")
    spec.setdefault("suspend", False)
    spec.setdefault("podReplacementPolicy", "Failed" if spec.get("podFailurePolicy") else "TerminatingOrFailed")
    spec.setdefault("manualSelector", False)
    _template(obj)


def statefulset(obj: dict) -> None:
    """``SetDefaults_StatefulSet`` (pkg/apis/apps/v1/defaults.go) and the pod template's defaults."""
    spec = obj.setdefault("spec", {})
    spec.setdefault("podManagementPolicy", "OrderedReady")
    strategy = spec.setdefault("updateStrategy", {})
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        strategy.setdefault("rollingUpdate", {}).setdefault("partition", 0)
    spec.setdefault("replicas", 1)
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("persistentVolumeClaimRetentionPolicy", {"whenDeleted": "Retain", "whenScaled": "Retain"})
    _template(obj)


def cronjob(obj: dict) -> None:
    """``SetDefaults_CronJob`` and the job template's pod template defaults."""
    spec = obj.setdefault("spec", {})
    spec.setdefault("concurrencyPolicy", "Allow")
    spec.setdefault("suspend", False)
    spec.setdefault("successfulJobsHistoryLimit", 3)
    spec.setdefault("failedJobsHistoryLimit", 1)
    _template(spec.setdefault("jobTemplate", {}))


JOB_NAME_LABELS = ("job-name", "batch.kubernetes.io/job-name")
CONTROLLER_UID_LABELS = ("controller-uid", "batch.kubernetes.io/controller-uid")


def job_selector(obj: dict) -> None:
    """The job strategy's ``generateSelector`` (once the uid exists), then ``SetDefaults_Job``'s copy of the
    template labels to an unlabelled Job, which the defaulting on reading back from etcd applies."""
    spec = obj["spec"]
    if spec.get("manualSelector"):
        return
    labels = spec["template"]["metadata"].setdefault("labels", {})
    for key in JOB_NAME_LABELS:
        labels.setdefault(key, obj["metadata"]["name"])
    for key in CONTROLLER_UID_LABELS:
        labels.setdefault(key, obj["metadata"]["uid"])
    selector = spec.get("selector") or {}
    spec["selector"] = selector
    selector.setdefault("matchLabels", {}).setdefault(CONTROLLER_UID_LABELS[1], obj["metadata"]["uid"])
    if not obj["metadata"].get("labels"):
        obj["metadata"]["labels"] = dict(labels)


def persistentvolume(obj: dict) -> None:
    """SetDefaults_PersistentVolume (pkg/apis/core/v1/defaults.go): Retain, Filesystem, phase Pending."""
    obj.setdefault("spec", {}).setdefault("persistentVolumeReclaimPolicy", "Retain")
    obj["spec"].setdefault("volumeMode", "Filesystem")
    obj.setdefault("status", {}).setdefault("phase", "Pending")


def persistentvolumeclaim(obj: dict) -> None:
    """SetDefaults_PersistentVolumeClaim(Spec): Filesystem, phase Pending."""
    obj.setdefault("spec", {}).setdefault("volumeMode", "Filesystem")
    obj.setdefault("status", {}).setdefault("phase", "Pending")


def storageclass(obj: dict) -> None:
    """SetDefaults_StorageClass (pkg/apis/storage/v1/defaults.go): Delete, Immediate."""
    obj.setdefault("reclaimPolicy", "Delete")
    obj.setdefault("volumeBindingMode", "Immediate")


DEFAULT_CPU_UTILIZATION = 80  # pkg/apis/autoscaling/annotations.go DefaultCPUUtilization


def horizontalpodautoscaler(obj: dict) -> None:
    """SetDefaults_HorizontalPodAutoscaler (pkg/apis/autoscaling/v2/defaults.go, v1.37.0): minReplicas 1, and
    with no metrics the CPU utilization target of 80%. (Behavior defaults apply only to a behavior that is set;
    not modelled.)"""
    spec = obj.setdefault("spec", {})
    spec.setdefault("minReplicas", 1)
    if not spec.get("metrics"):
        spec["metrics"] = [{"type": "Resource", "resource": {"name": "cpu", "target": {
            "type": "Utilization", "averageUtilization": DEFAULT_CPU_UTILIZATION}}}]


BY_RESOURCE = {
    "pods": pod, "services": service, "endpoints": endpoints, "deployments.apps": deployment,
    "replicasets.apps": replicaset, "daemonsets.apps": daemonset,
    "endpointslices.discovery.k8s.io": endpointslice, "networkpolicies.networking.k8s.io": networkpolicy,
    "namespaces": namespace, "nodes": node, "secrets": secret, "jobs.batch": job, "cronjobs.batch": cronjob, "statefulsets.apps": statefulset,
    "persistentvolumes": persistentvolume, "persistentvolumeclaims": persistentvolumeclaim,
    "storageclasses.storage.k8s.io": storageclass,
    "horizontalpodautoscalers.autoscaling": horizontalpodautoscaler,
}


def storage_form(resource: str, obj: dict) -> None:
    """What a stored object looks like when read back, as etcd's protobuf round trip and Go's JSON
    encoding leave it: empty ``omitempty`` maps and lists vanish (metadata labels and annotations,
    Endpoints subsets), and an EndpointSlice's empty ``endpoints``/``ports`` (no omitempty) read back
    as null, as a placeholder slice does on a real cluster."""
    meta = obj.get("metadata") or {}
    for field in ("labels", "annotations"):
        if field in meta and not meta[field]:
            del meta[field]
    if resource == "endpoints" and "subsets" in obj and not obj["subsets"]:
        del obj["subsets"]
    if resource == "endpointslices.discovery.k8s.io":
        for field in ("endpoints", "ports"):
            if obj.get(field) == []:
                obj[field] = None


def initial_status(resource: str, obj: dict) -> dict | None:
    """What ``PrepareForCreate`` leaves in ``.status`` (None: keep what the client sent).

    Workload and service status is owned by controllers, so a create starts it empty, as upstream does.
    Nodes keep theirs (the kubelet registers a node with its status).
    """
    if resource == "pods":
        return pod_status(obj)
    if resource == "namespaces":
        return {"phase": "Active"}
    if resource in ("services", "ingresses.networking.k8s.io"):
        return {"loadBalancer": {}}
    if resource == "replicasets.apps":
        return {"replicas": 0}
    if resource == "daemonsets.apps":
        return {"currentNumberScheduled": 0, "numberMisscheduled": 0, "desiredNumberScheduled": 0,
                "numberReady": 0}
    if resource in ("deployments.apps", "jobs.batch", "cronjobs.batch"):
        return {}
    if resource == "statefulsets.apps":
        return {"replicas": 0, "availableReplicas": 0}
    if resource in ("persistentvolumes", "persistentvolumeclaims"):  # PrepareForCreate, then the defaults
        return {"phase": "Pending"}
    if resource == "horizontalpodautoscalers.autoscaling":  # the HPA controller fills it in
        return {"desiredReplicas": 0}
    if resource == "poddisruptionbudgets.policy":  # the disruption controller fills it in
        return {"disruptionsAllowed": 0, "currentHealthy": 0, "desiredHealthy": 0, "expectedPods": 0}
    return None


_CONTAINER_STATUS_FIELDS = (("name", ""), ("ready", False), ("restartCount", 0), ("image", ""), ("imageID", ""))
_DAEMONSET_STATUS_FIELDS = ("currentNumberScheduled", "numberMisscheduled", "desiredNumberScheduled",
                            "numberReady")


def always_serialized_status(resource: str, status: dict) -> None:
    """Fill status fields Go always serialises (no ``omitempty``): the Python client's models require
    them and fail to deserialise an object without them."""
    if resource == "pods":
        for key in ("containerStatuses", "initContainerStatuses"):
            for entry in status.get(key) or []:
                for field, value in _CONTAINER_STATUS_FIELDS:
                    entry.setdefault(field, value)
    elif resource == "replicasets.apps":
        status.setdefault("replicas", 0)
    elif resource == "daemonsets.apps":
        for field in _DAEMONSET_STATUS_FIELDS:
            status.setdefault(field, 0)
