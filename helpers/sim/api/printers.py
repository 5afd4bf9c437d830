"""Server-side ``Table`` output, ported from upstream ``pkg/printers/internalversion/printers.go``.

kubectl asks for ``application/json;as=Table;v=v1;g=meta.k8s.io`` and prints these columns as they
come; ``priority: 1`` columns only show with ``-o wide`` (the server always fills them in, as upstream's
TableConvertor does). Cells follow upstream's formats: ``<none>``, ``<unset>``, ``" + N more..."``,
pod STATUS ``Terminating``, AGE as ``HumanDuration``.
"""

import datetime as dt

from helpers.kube import get_condition, parse_time

from .admission_storageclass import default_class
from .selectors import format_requirements, label_requirements_from

TABLE_CONTENT_TYPE = "application/json;as=Table;v=v1;g=meta.k8s.io"

_NAME_DOC = ("Name must be unique within a namespace. Is required when creating resources, although some "
             "resources may allow a client to request the generation of an appropriate name automatically. "
             "Name is primarily intended for creation idempotence and configuration definition. Cannot be "
             "updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names")
_AGE_DOC = ("CreationTimestamp is a timestamp representing the server time when this object was created. "
            "It is not guaranteed to be set in happens-before order across separate operations. Clients "
            "may not set this value. It is represented in RFC3339 form and is in UTC.")


def _col(name: str, description: str = "", *, type_: str = "string", priority: int = 0, fmt: str = "") -> dict:
    return {"name": name, "type": type_, "format": fmt, "description": description, "priority": priority}


NAME = _col("Name", _NAME_DOC, fmt="name")
AGE = _col("Age", _AGE_DOC)
_WORKLOAD_WIDE = [_col("Containers", "Names of each container in the template.", priority=1),
                  _col("Images", "Images referenced by each container in the template.", priority=1),
                  _col("Selector", "Label selector of the pods this object manages.", priority=1)]


# ------------------------------------------------------------------ shared cell formats

def human_duration(seconds: float) -> str:
    """apimachinery ``duration.HumanDuration``: 5s, 2m30s, 9h, 3d2h, 2y100d."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 60 * 2:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        return f"{minutes}m" if s % 60 == 0 else f"{minutes}m{s % 60}s"
    if minutes < 60 * 3:
        return f"{minutes}m"
    hours = s // 3600
    if hours < 8:
        return f"{hours}h" if minutes % 60 == 0 else f"{hours}h{minutes % 60}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{hours // 24}d" if hours % 24 == 0 else f"{hours // 24}d{hours % 24}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = (hours // 24) % 365
        return f"{hours // 24 // 365}y" if days == 0 else f"{hours // 24 // 365}y{days}d"
    return f"{hours // 24 // 365}y"


def since(value: str | None, now: dt.datetime) -> str:
    """upstream ``translateTimestampSince``: ``<unknown>`` for a missing timestamp."""
    moment = parse_time(value)
    return "<unknown>" if moment is None else human_duration((now - moment).total_seconds())


def _age(obj: dict, now: dt.datetime) -> str:
    return since(obj["metadata"].get("creationTimestamp"), now)


def format_labels(labels: dict | None) -> str:
    """labels.FormatLabels: ``a=b,c=d`` sorted by key, ``<none>`` when empty."""
    return ",".join(f"{k}={v}" for k, v in sorted((labels or {}).items())) or "<none>"


def _selector(selector: dict | None) -> str:
    text = format_requirements(label_requirements_from(selector))
    return "" if text == "<none>" else text


def _list_with_more(items: list[str], count: int, limit: int = 3) -> str:
    text = ",".join(items[:limit])
    if count > limit:
        return f"{text} + {count - limit} more..."
    return text or "<unset>"


def _containers_and_images(template_spec: dict) -> list[str]:
    containers = template_spec.get("containers") or []
    return [",".join(c.get("name", "") for c in containers), ",".join(c.get("image", "") for c in containers)]


# ------------------------------------------------------------------ per-kind rows

POD_COLUMNS = [
    NAME, _col("Ready", "The aggregate readiness state of this pod for accepting traffic."),
    _col("Status", "The aggregate status of the containers in this pod."),
    _col("Restarts", "The number of times the containers in this pod have been restarted and when the "
         "last container in this pod has restarted."), AGE,
    _col("IP", "IP address allocated to the pod. Routable at least within the cluster.", priority=1),
    _col("Node", "NodeName indicates in which node this pod is scheduled.", priority=1),
    _col("Nominated Node", "nominatedNodeName is set only when this pod preempts other pods on the node.",
         priority=1),
    _col("Readiness Gates", "If specified, all readiness gates will be evaluated for pod readiness.",
         priority=1),
]


def _terminated_reason(terminated: dict, prefix: str = "") -> str:
    if terminated.get("reason"):
        return prefix + terminated["reason"]
    if terminated.get("signal"):
        return f"{prefix}Signal:{terminated['signal']}"
    return f"{prefix}ExitCode:{terminated.get('exitCode', 0)}"


def _later(current, candidate):
    return candidate if candidate and (current is None or candidate > current) else current


def _finished_at(container_status: dict):
    return parse_time(((container_status.get("lastState") or {}).get("terminated") or {}).get("finishedAt"))


def _has_condition(conditions: list, kind: str) -> bool:
    return any(c.get("type") == kind and c.get("status") == "True" for c in conditions)


def pod_state(pod: dict, now: dt.datetime) -> tuple[str, str, str]:
    """The READY, STATUS and RESTARTS cells, following upstream ``printPod`` step by step
    (init containers and sidecars first, then the app containers, then deletion)."""
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    conditions = status.get("conditions") or []
    inits = spec.get("initContainers") or []
    sidecars = {c.get("name") for c in inits if c.get("restartPolicy") == "Always"}
    total = len(spec.get("containers") or []) + len(sidecars)
    phase = status.get("phase", "")
    reason = status.get("reason") or phase
    if any(c.get("type") == "PodScheduled" and c.get("reason") == "SchedulingGated" for c in conditions):
        reason = "SchedulingGated"
    ready = restarts = sidecar_restarts = 0
    last = sidecar_last = None
    initializing = False
    for i, s in enumerate(status.get("initContainerStatuses") or []):
        restarts += s.get("restartCount", 0)
        last = _later(last, _finished_at(s))
        if s.get("name") in sidecars:
            sidecar_restarts += s.get("restartCount", 0)
            sidecar_last = _later(sidecar_last, _finished_at(s))
        state = s.get("state") or {}
        terminated, waiting = state.get("terminated"), state.get("waiting") or {}
        if terminated and terminated.get("exitCode", 0) == 0:
            continue
        if s.get("name") in sidecars and s.get("started"):
            ready += 1 if s.get("ready") else 0
            continue
        if terminated:
            reason = _terminated_reason(terminated, "Init:")
        elif waiting.get("reason") and waiting["reason"] != "PodInitializing":
            reason = "Init:" + waiting["reason"]
        else:
            reason = f"Init:{i}/{len(inits)}"
        initializing = True
        break
    if not initializing or _has_condition(conditions, "Initialized"):
        restarts, last = sidecar_restarts, sidecar_last
        has_running = False
        for s in reversed(status.get("containerStatuses") or []):
            restarts += s.get("restartCount", 0)
            last = _later(last, _finished_at(s))
            state = s.get("state") or {}
            waiting, terminated = state.get("waiting") or {}, state.get("terminated")
            if waiting.get("reason"):
                reason = waiting["reason"]
            elif terminated is not None:
                reason = _terminated_reason(terminated)
            elif s.get("ready") and "running" in state:
                has_running = True
                ready += 1
        if reason == "Completed" and has_running:
            reason = "Running" if _has_condition(conditions, "Ready") else "NotReady"
    deleting = bool(pod["metadata"].get("deletionTimestamp"))
    if deleting and status.get("reason") == "NodeLost":
        reason = "Unknown"
    elif deleting and phase not in ("Succeeded", "Failed"):
        reason = "Terminating"
    restart_cell = str(restarts) if last is None else f"{restarts} ({human_duration((now - last).total_seconds())} ago)"
    return f"{ready}/{total}", reason, restart_cell


def pod_row(pod: dict, now: dt.datetime) -> list:
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    gates = spec.get("readinessGates") or []
    if gates:
        true_types = {c.get("type") for c in status.get("conditions") or [] if c.get("status") == "True"}
        gates_cell = f"{sum(1 for g in gates if g.get('conditionType') in true_types)}/{len(gates)}"
    else:
        gates_cell = "<none>"
    pod_ips = status.get("podIPs") or [{"ip": status.get("podIP")}]  # upstream prints podIPs[0]
    return [pod["metadata"]["name"], *pod_state(pod, now), _age(pod, now), pod_ips[0].get("ip") or "<none>",
            spec.get("nodeName") or "<none>", status.get("nominatedNodeName") or "<none>", gates_cell]


SERVICE_COLUMNS = [
    NAME, _col("Type", "type determines how the Service is exposed."),
    _col("Cluster-IP", "clusterIP is the IP address of the service."),
    _col("External-IP", "externalIPs is a list of IP addresses for which nodes in the cluster will also "
         "accept traffic for this service."),
    _col("Port(s)", "The list of ports that are exposed by this service."), AGE,
    _col("Selector", "Route service traffic to pods with label keys and values matching this selector.",
         priority=1),
]


def _external_ip(spec: dict, status: dict) -> str:
    kind, external = spec.get("type", "ClusterIP"), spec.get("externalIPs") or []
    if kind in ("ClusterIP", "NodePort"):
        return ",".join(external) or "<none>"
    if kind == "LoadBalancer":
        ingress = [i.get("ip") or i.get("hostname") or "" for i in
                   ((status.get("loadBalancer") or {}).get("ingress") or [])]
        return ",".join([i for i in ingress if i] + external) or "<pending>"
    if kind == "ExternalName":
        return spec.get("externalName", "")
    return "<unknown>"


def service_row(svc: dict, now: dt.datetime) -> list:
    spec = svc.get("spec") or {}
    ports = ",".join(f"{p.get('port')}:{p['nodePort']}/{p.get('protocol', 'TCP')}" if p.get("nodePort")
                     else f"{p.get('port')}/{p.get('protocol', 'TCP')}" for p in spec.get("ports") or [])
    cluster_ips = spec.get("clusterIPs") or []
    return [svc["metadata"]["name"], spec.get("type", ""), cluster_ips[0] if cluster_ips else "<none>",
            _external_ip(spec, svc.get("status") or {}), ports or "<none>", _age(svc, now),
            format_labels(spec.get("selector"))]


ENDPOINTS_COLUMNS = [NAME, _col("Endpoints", "The set of all endpoints is the union of all subsets."), AGE]


def format_endpoints(subsets: list | None) -> str:
    """``ip:port`` for every ready address and port, at most 3, then ``" + N more..."``."""
    if not subsets:
        return "<none>"
    shown, count = [], 0
    for subset in subsets:
        addresses = [a.get("ip", "") for a in subset.get("addresses") or []]
        ports = subset.get("ports") or []
        if not ports:
            count += len(addresses)
            shown += addresses
            continue
        for port in ports:
            count += len(addresses)
            shown += [f"[{ip}]:{port.get('port')}" if ":" in ip else f"{ip}:{port.get('port')}"
                      for ip in addresses]
    text = ",".join(shown[:3])
    return f"{text} + {count - 3} more..." if count > 3 else text


def endpoints_row(ep: dict, now: dt.datetime) -> list:
    return [ep["metadata"]["name"], format_endpoints(ep.get("subsets")), _age(ep, now)]


ENDPOINTSLICE_COLUMNS = [
    NAME, _col("AddressType", "addressType specifies the type of address carried by this EndpointSlice."),
    _col("Ports", "ports specifies the list of network ports exposed by each endpoint in this slice."),
    _col("Endpoints", "endpoints is a list of unique endpoints in this slice."), AGE,
]


def endpointslice_row(s: dict, now: dt.datetime) -> list:
    ports = s.get("ports") or []
    port_cells = [str(p["port"]) if p.get("port") is not None else p["name"] if p.get("name") is not None else "*"
                  for p in ports]
    addresses = [a for ep in s.get("endpoints") or [] for a in ep.get("addresses") or []]
    return [s["metadata"]["name"], s.get("addressType", ""), _list_with_more(port_cells, len(port_cells)),
            _list_with_more(addresses, len(addresses)), _age(s, now)]


NODE_COLUMNS = [
    NAME, _col("Status", "The status of the node"), _col("Roles", "The roles of the node"), AGE,
    _col("Version", "Kubelet Version reported by the node."),
    _col("Internal-IP", "List of addresses reachable to the node.", priority=1),
    _col("External-IP", "List of addresses reachable to the node.", priority=1),
    _col("OS-Image", "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).",
         priority=1),
    _col("Kernel-Version", "Kernel Version reported by the node from 'uname -r'.", priority=1),
    _col("Container-Runtime", "ContainerRuntime Version reported by the node through runtime remote API.",
         priority=1),
]


def _node_roles(labels: dict) -> str:
    roles = set()
    for key, value in (labels or {}).items():
        if key.startswith("node-role.kubernetes.io/") and key[len("node-role.kubernetes.io/"):]:
            roles.add(key[len("node-role.kubernetes.io/"):])
        elif key == "kubernetes.io/role" and value:
            roles.add(value)
    return ",".join(sorted(roles)) or "<none>"


def node_row(node: dict, now: dt.datetime) -> list:
    status, info = node.get("status") or {}, (node.get("status") or {}).get("nodeInfo") or {}
    ready = get_condition(node, "Ready")
    states = ["Ready" if ready.get("status") == "True" else "NotReady"] if ready else ["Unknown"]
    if (node.get("spec") or {}).get("unschedulable"):
        states.append("SchedulingDisabled")

    def address(kind):
        return next((a["address"] for a in status.get("addresses") or [] if a.get("type") == kind), "<none>")
    return [node["metadata"]["name"], ",".join(states), _node_roles(node["metadata"].get("labels")),
            _age(node, now), info.get("kubeletVersion", ""), address("InternalIP"), address("ExternalIP"),
            info.get("osImage") or "<unknown>", info.get("kernelVersion") or "<unknown>",
            info.get("containerRuntimeVersion") or "<unknown>"]


NAMESPACE_COLUMNS = [NAME, _col("Status", "The status of the namespace"), AGE]


def namespace_row(ns: dict, now: dt.datetime) -> list:
    return [ns["metadata"]["name"], (ns.get("status") or {}).get("phase", ""), _age(ns, now)]


DEPLOYMENT_COLUMNS = [
    NAME, _col("Ready", "Number of the pod with ready state"),
    _col("Up-to-date", "Total number of non-terminated pods targeted by this deployment that have the "
         "desired template spec.", type_="integer"),
    _col("Available", "Total number of available pods (ready for at least minReadySeconds) targeted by this "
         "deployment.", type_="integer"), AGE, *_WORKLOAD_WIDE,
]


def deployment_row(d: dict, now: dt.datetime) -> list:
    spec, status = d.get("spec") or {}, d.get("status") or {}
    return [d["metadata"]["name"], f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 0)}",
            status.get("updatedReplicas", 0), status.get("availableReplicas", 0), _age(d, now),
            *_containers_and_images((spec.get("template") or {}).get("spec") or {}),
            _selector(spec.get("selector"))]


REPLICASET_COLUMNS = [
    NAME, _col("Desired", "Replicas is the number of desired pods.", type_="integer"),
    _col("Current", "Replicas is the most recently observed number of non-terminating pods.",
         type_="integer"),
    _col("Ready", "The number of non-terminating pods targeted by this ReplicaSet with a Ready Condition.",
         type_="integer"), AGE, *_WORKLOAD_WIDE,
]


def replicaset_row(rs: dict, now: dt.datetime) -> list:
    spec, status = rs.get("spec") or {}, rs.get("status") or {}
    return [rs["metadata"]["name"], spec.get("replicas", 0), status.get("replicas", 0),
            status.get("readyReplicas", 0), _age(rs, now),
            *_containers_and_images((spec.get("template") or {}).get("spec") or {}),
            _selector(spec.get("selector"))]


DAEMONSET_COLUMNS = [
    NAME, _col("Desired", "The total number of nodes that should be running the daemon pod.", type_="integer"),
    _col("Current", "The number of nodes that are running at least 1 daemon pod.", type_="integer"),
    _col("Ready", "The number of nodes that should be running the daemon pod and have one or more of the "
         "daemon pod running with a Ready Condition.", type_="integer"),
    _col("Up-to-date", "The total number of nodes that are running updated daemon pod", type_="integer"),
    _col("Available", "The number of nodes that should be running the daemon pod and have one or more of "
         "the daemon pod running and available.", type_="integer"),
    _col("Node Selector", "NodeSelector is a selector which must be true for the pod to fit on a node."),
    AGE, *_WORKLOAD_WIDE,
]


def daemonset_row(ds: dict, now: dt.datetime) -> list:
    spec, status = ds.get("spec") or {}, ds.get("status") or {}
    template_spec = (spec.get("template") or {}).get("spec") or {}
    return [ds["metadata"]["name"], status.get("desiredNumberScheduled", 0),
            status.get("currentNumberScheduled", 0), status.get("numberReady", 0),
            status.get("updatedNumberScheduled", 0), status.get("numberAvailable", 0),
            format_labels(template_spec.get("nodeSelector")), _age(ds, now),
            *_containers_and_images(template_spec), _selector(spec.get("selector"))]


EVENT_COLUMNS = [
    _col("Last Seen", "The time at which the most recent occurrence of this event was recorded."),
    _col("Type", "Type of this event (Normal, Warning), new types could be added in the future"),
    _col("Reason", "This should be a short, machine understandable string that gives the reason for the "
         "transition into the object's current status."),
    _col("Object", "The object that this event is about."),
    _col("Subobject", "The field path of the part of the object this event is about.", priority=1),
    _col("Source", "The component reporting this event.", priority=1),
    _col("Message", "A human-readable description of the status of this operation."),
    _col("First Seen", "The time at which the event was first recorded.", priority=1),
    _col("Count", "The number of times this event has occurred.", priority=1),
    _col("Name", _NAME_DOC, priority=1, fmt="name"),
]


def event_row(ev: dict, now: dt.datetime) -> list:
    first = since(ev.get("firstTimestamp") or ev.get("eventTime"), now)
    last = since(ev["lastTimestamp"], now) if ev.get("lastTimestamp") else first
    count = ev.get("count") or 1
    if ev.get("series"):
        last = since(ev["series"].get("lastObservedTime"), now)
        count = ev["series"].get("count", count)
    involved = ev.get("involvedObject") or {}
    kind = (involved.get("kind") or "").lower()
    target = f"{kind}/{involved['name']}" if involved.get("name") else kind
    source = ev.get("source") or {}
    component = source.get("component") or ev.get("reportingComponent") or ""
    host = source.get("host") or ev.get("reportingInstance") or ""
    return [last, ev.get("type", ""), ev.get("reason", ""), target, involved.get("fieldPath", ""),
            f"{component}, {host}" if host else component, (ev.get("message") or "").strip(), first,
            count, ev["metadata"]["name"]]


NETWORKPOLICY_COLUMNS = [NAME, _col("Pod-Selector", "Selects the pods to which this NetworkPolicy object "
                                    "applies."), AGE]


def networkpolicy_row(np: dict, now: dt.datetime) -> list:
    selector = format_requirements(label_requirements_from((np.get("spec") or {}).get("podSelector") or {}))
    return [np["metadata"]["name"], selector, _age(np, now)]


SERVICECIDR_COLUMNS = [NAME, _col("CIDRs", "CIDRs defines the IP blocks in CIDR notation (e.g. \"192.168.0.0/24\" "
                                   "or \"2001:db8::/64\") from which to assign service cluster IPs. Max of two CIDRs "
                                   "is allowed, one of each IP family. This field is immutable."), AGE]


def servicecidr_row(cidr: dict, now: dt.datetime) -> list:
    """printServiceCIDR (pkg/printers/internalversion/printers.go): the CIDRs joined with commas."""
    return [cidr["metadata"]["name"], ",".join((cidr.get("spec") or {}).get("cidrs") or []), _age(cidr, now)]


LEASE_COLUMNS = [NAME, _col("Holder", "HolderIdentity contains the identity of the holder of a current "
                            "lease."), AGE]


def lease_row(lease: dict, now: dt.datetime) -> list:
    return [lease["metadata"]["name"], (lease.get("spec") or {}).get("holderIdentity", ""), _age(lease, now)]


PRINTERS = {
    "pods": (POD_COLUMNS, pod_row), "services": (SERVICE_COLUMNS, service_row),
    "endpoints": (ENDPOINTS_COLUMNS, endpoints_row),
    "endpointslices.discovery.k8s.io": (ENDPOINTSLICE_COLUMNS, endpointslice_row),
    "nodes": (NODE_COLUMNS, node_row), "namespaces": (NAMESPACE_COLUMNS, namespace_row),
    "deployments.apps": (DEPLOYMENT_COLUMNS, deployment_row),
    "replicasets.apps": (REPLICASET_COLUMNS, replicaset_row),
    "daemonsets.apps": (DAEMONSET_COLUMNS, daemonset_row), "events": (EVENT_COLUMNS, event_row),
    "networkpolicies.networking.k8s.io": (NETWORKPOLICY_COLUMNS, networkpolicy_row),
    "servicecidrs.networking.k8s.io": (SERVICECIDR_COLUMNS, servicecidr_row),
    "leases.coordination.k8s.io": (LEASE_COLUMNS, lease_row),
}


# ConfigMap, Secret, ServiceAccount, Job and PodDisruptionBudget, as upstream's printers.go prints them
CONFIGMAP_COLUMNS = [NAME, _col("Data", "The number of keys in data and binaryData."), AGE]
SECRET_COLUMNS = [NAME, _col("Type", "Used to facilitate programmatic handling of secret data."),
                  _col("Data", "The number of keys in data."), AGE]
SERVICEACCOUNT_COLUMNS = [NAME, AGE]
JOB_COLUMNS = [
    NAME, _col("Status", "Status of the job."),
    _col("Completions", "The number of pods which reached phase Succeeded."),
    _col("Duration", "Time required to complete the job."), AGE, *_WORKLOAD_WIDE,
]
PDB_COLUMNS = [
    NAME, _col("Min Available", "The minimum number of pods that must be available."),
    _col("Max Unavailable", "The maximum number of pods that may be unavailable."),
    _col("Allowed Disruptions", "Calculated number of pods that may be disrupted at this time.", type_="integer"),
    AGE,
]


def configmap_row(cm: dict, now: dt.datetime) -> list:
    return [cm["metadata"]["name"], len(cm.get("data") or {}) + len(cm.get("binaryData") or {}), _age(cm, now)]


def secret_row(secret: dict, now: dt.datetime) -> list:
    return [secret["metadata"]["name"], secret.get("type", ""), len(secret.get("data") or {}), _age(secret, now)]


def serviceaccount_row(sa: dict, now: dt.datetime) -> list:
    return [sa["metadata"]["name"], _age(sa, now)]


def job_status_word(job: dict) -> str:
    """The STATUS cell: the first of upstream printJob's checks that holds."""
    conditions = {c.get("type") for c in (job.get("status") or {}).get("conditions") or []
                  if c.get("status") == "True"}
    for kind in ("Complete", "Failed"):
        if kind in conditions:
            return kind
    if job["metadata"].get("deletionTimestamp"):
        return "Terminating"
    for kind in ("Suspended", "FailureTarget", "SuccessCriteriaMet"):
        if kind in conditions:
            return kind
    return "Running"


def job_row(job: dict, now: dt.datetime) -> list:
    spec, status = job.get("spec") or {}, job.get("status") or {}
    succeeded = status.get("succeeded", 0)
    if spec.get("completions") is not None:
        completions = f"{succeeded}/{spec['completions']}"
    elif (spec.get("parallelism") or 0) > 1:
        completions = f"{succeeded}/1 of {spec['parallelism']}"
    else:
        completions = f"{succeeded}/1"
    start, end = parse_time(status.get("startTime")), parse_time(status.get("completionTime"))
    took = "" if start is None else human_duration(((end or now) - start).total_seconds())
    return [job["metadata"]["name"], job_status_word(job), completions, took, _age(job, now),
            *_containers_and_images((spec.get("template") or {}).get("spec") or {}),
            _selector(spec.get("selector"))]


def pdb_row(pdb: dict, now: dt.datetime) -> list:
    spec = pdb.get("spec") or {}
    cell = {f: "N/A" if spec.get(f) is None else str(spec[f]) for f in ("minAvailable", "maxUnavailable")}
    return [pdb["metadata"]["name"], cell["minAvailable"], cell["maxUnavailable"],
            (pdb.get("status") or {}).get("disruptionsAllowed", 0), _age(pdb, now)]


INGRESS_COLUMNS = [
    NAME, _col("Class", "The name of the IngressClass resource that should be used for additional configuration"),
    _col("Hosts", "Hosts that incoming requests are matched against before the ingress rule"),
    _col("Address", "Address is a list containing ingress points for the load-balancer"),
    _col("Ports", "Ports of TLS configurations that open"), AGE,
]


def ingress_row(ing: dict, now: dt.datetime) -> list:
    spec, status = ing.get("spec") or {}, ing.get("status") or {}
    rules = spec.get("rules") or []
    hosts = [r["host"] for r in rules if r.get("host")][:3]  # formatHosts: at most 3, then "+ N more..."
    hosts_cell = ",".join(hosts) or "*"
    if len(rules) > 3 and hosts:
        hosts_cell += f" + {len(rules) - 3} more..."
    addresses = sorted({i.get("ip") or i.get("hostname") for i in (status.get("loadBalancer") or {}).get("ingress")
                        or [] if i.get("ip") or i.get("hostname")})
    return [ing["metadata"]["name"], spec.get("ingressClassName") or "<none>", hosts_cell, ",".join(addresses),
            "80, 443" if spec.get("tls") else "80", _age(ing, now)]


# Roles have no printer upstream: the API server's default table (Name, Created At) prints them
CREATED_AT = _col("Created At", _AGE_DOC, type_="date")
ROLE_COLUMNS = [NAME, CREATED_AT]


def role_row(role: dict, now: dt.datetime) -> list:
    return [role["metadata"]["name"], role["metadata"].get("creationTimestamp", "")]


BINDING_COLUMNS = [
    NAME, _col("Role", "RoleRef can only reference the current namespace's Roles or a ClusterRole."), AGE,
    _col("Users", "Users in the binding", priority=1), _col("Groups", "Groups in the binding", priority=1),
    _col("ServiceAccounts", "ServiceAccounts in the binding", priority=1),
]


def binding_row(binding: dict, now: dt.datetime) -> list:
    ref, subjects = binding.get("roleRef") or {}, binding.get("subjects") or []

    def names(kind):
        return ", ".join(f"{s.get('namespace', '')}/{s['name']}" if kind == "ServiceAccount" else s["name"]
                         for s in subjects if s.get("kind") == kind)
    return [binding["metadata"]["name"], f"{ref.get('kind', '')}/{ref.get('name', '')}", _age(binding, now),
            names("User"), names("Group"), names("ServiceAccount")]


CRONJOB_COLUMNS = [
    NAME, _col("Schedule", "The schedule in Cron format."), _col("Timezone", "The time zone name for the schedule."),
    _col("Suspend", "Whether the controller suspends subsequent executions.", type_="boolean"),
    _col("Active", "Pointers to currently running jobs.", type_="integer"),
    _col("Last Schedule", "When the job was last successfully scheduled."), AGE, *_WORKLOAD_WIDE,
]


def cronjob_row(cj: dict, now: dt.datetime) -> list:
    spec, status = cj.get("spec") or {}, cj.get("status") or {}
    job_spec = (spec.get("jobTemplate") or {}).get("spec") or {}
    last = status.get("lastScheduleTime")
    return [cj["metadata"]["name"], spec.get("schedule", ""), spec.get("timeZone") or "<none>",
            "True" if spec.get("suspend") else "False", len(status.get("active") or []),
            since(last, now) if last else "<none>", _age(cj, now),
            *_containers_and_images((job_spec.get("template") or {}).get("spec") or {}),
            _selector(job_spec.get("selector"))]


STATEFULSET_COLUMNS = [NAME, _col("Ready", "Number of the pod with ready state"), AGE,
                       *_WORKLOAD_WIDE[:2]]


def statefulset_row(sts: dict, now: dt.datetime) -> list:
    spec, status = sts.get("spec") or {}, sts.get("status") or {}
    return [sts["metadata"]["name"], f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 0)}", _age(sts, now),
            *_containers_and_images((spec.get("template") or {}).get("spec") or {})]


PRINTERS.update({
    "statefulsets.apps": (STATEFULSET_COLUMNS, statefulset_row),
    "cronjobs.batch": (CRONJOB_COLUMNS, cronjob_row),
    "ingresses.networking.k8s.io": (INGRESS_COLUMNS, ingress_row),
    "roles.rbac.authorization.k8s.io": (ROLE_COLUMNS, role_row),
    "clusterroles.rbac.authorization.k8s.io": (ROLE_COLUMNS, role_row),
    "rolebindings.rbac.authorization.k8s.io": (BINDING_COLUMNS, binding_row),
    "clusterrolebindings.rbac.authorization.k8s.io": (BINDING_COLUMNS, binding_row),
})
PRINTERS.update({
    "configmaps": (CONFIGMAP_COLUMNS, configmap_row), "secrets": (SECRET_COLUMNS, secret_row),
    "serviceaccounts": (SERVICEACCOUNT_COLUMNS, serviceaccount_row), "jobs.batch": (JOB_COLUMNS, job_row),
    "poddisruptionbudgets.policy": (PDB_COLUMNS, pdb_row),
})


# -- storage and autoscaling (printPersistentVolume, printPersistentVolumeClaim, printStorageClass,
# printHorizontalPodAutoscaler in pkg/printers/internalversion/printers.go, v1.37.0) ------------------------
PV_COLUMNS = [
    NAME, _col("Capacity", "capacity is the description of the persistent volume's resources and capacity."),
    _col("Access Modes", "accessModes contains all ways the volume can be mounted."),
    _col("Reclaim Policy", "persistentVolumeReclaimPolicy defines what happens to a persistent volume when "
                           "released from its claim."),
    _col("Status", "phase indicates if a volume is available, bound to a claim, or released by a claim."),
    _col("Claim", "claimRef is part of a bi-directional binding between PersistentVolume and "
                  "PersistentVolumeClaim."),
    _col("StorageClass", "StorageClass of the pv"), _col("VolumeAttributesClass", "VolumeAttributesClass of the pv"),
    _col("Reason", "reason is a brief CamelCase string that describes any failure."), AGE,
    _col("VolumeMode", "volumeMode defines if a volume is intended to be used with a formatted filesystem or to "
                       "remain in raw block state.", priority=1),
]
PVC_COLUMNS = [
    NAME, _col("Status", "phase represents the current phase of PersistentVolumeClaim."),
    _col("Volume", "volumeName is the binding reference to the PersistentVolume backing this claim."),
    _col("Capacity", "capacity represents the actual resources of the underlying volume."),
    _col("Access Modes", "accessModes contains the actual access modes the volume backing the PVC has."),
    _col("StorageClass", "StorageClass of the pvc"), _col("VolumeAttributesClass", "VolumeAttributesClass of the pvc"),
    AGE, _col("VolumeMode", "volumeMode defines what type of volume is required by the claim.", priority=1),
]
STORAGECLASS_COLUMNS = [
    NAME, _col("Provisioner", "provisioner indicates the type of the provisioner."),
    _col("ReclaimPolicy", "reclaimPolicy controls the reclaimPolicy for dynamically provisioned "
                          "PersistentVolumes of this storage class."),
    _col("VolumeBindingMode", "volumeBindingMode indicates how PersistentVolumeClaims should be provisioned and "
                              "bound."),
    _col("AllowVolumeExpansion", "allowVolumeExpansion shows whether the storage class allow volume expand."), AGE,
]
HPA_COLUMNS = [
    NAME, _col("Reference", "scaleTargetRef points to the target resource to scale."),
    _col("Targets", "metrics contains the specifications for which to use to calculate the desired replica "
                    "count."),
    _col("MinPods", "minReplicas is the lower limit for the number of replicas to which the autoscaler can "
                    "scale down."),
    _col("MaxPods", "maxReplicas is the upper limit for the number of replicas to which the autoscaler can "
                    "scale up."),
    _col("Replicas", "currentReplicas is current number of replicas of pods managed by this autoscaler, as last "
                     "seen by the autoscaler."), AGE,
]
_ACCESS_MODES = (("ReadWriteOnce", "RWO"), ("ReadOnlyMany", "ROX"), ("ReadWriteMany", "RWX"),
                 ("ReadWriteOncePod", "RWOP"))


def _access_modes(modes) -> str:
    """helper.GetAccessModesAsString: the short forms in a fixed order."""
    return ",".join(short for mode, short in _ACCESS_MODES if mode in (modes or []))


def _terminating(obj: dict, phase: str) -> str:
    return "Terminating" if obj["metadata"].get("deletionTimestamp") else phase


def pv_row(pv: dict, now: dt.datetime) -> list:
    spec, status = pv.get("spec") or {}, pv.get("status") or {}
    claim = spec.get("claimRef")
    return [pv["metadata"]["name"], str((spec.get("capacity") or {}).get("storage", "0")),
            _access_modes(spec.get("accessModes")), spec.get("persistentVolumeReclaimPolicy", ""),
            _terminating(pv, status.get("phase", "")),
            f"{claim.get('namespace', '')}/{claim.get('name', '')}" if claim else "",
            spec.get("storageClassName", ""), spec.get("volumeAttributesClassName") or "<unset>",
            status.get("reason", ""), _age(pv, now), spec.get("volumeMode") or "<unset>"]


def pvc_row(pvc: dict, now: dt.datetime) -> list:
    spec, status = pvc.get("spec") or {}, pvc.get("status") or {}
    bound = bool(spec.get("volumeName"))
    return [pvc["metadata"]["name"], _terminating(pvc, status.get("phase", "")), spec.get("volumeName", ""),
            str((status.get("capacity") or {}).get("storage", "0")) if bound else "",
            _access_modes(status.get("accessModes")) if bound else "", spec.get("storageClassName", ""),
            spec.get("volumeAttributesClassName") or "<unset>", _age(pvc, now), spec.get("volumeMode") or "<unset>"]


def storageclass_row(sc: dict, now: dt.datetime, default: str = "") -> list:
    """A single StorageClass is printed without the "(default)" mark; a list marks its effective default
    (printStorageClassList getEffectiveDefaultStorageClass: the newest default, then the first by name)."""
    name = sc["metadata"]["name"]
    return [f"{name} (default)" if default and name == default else name, sc.get("provisioner", ""),
            sc.get("reclaimPolicy") or "Delete", sc.get("volumeBindingMode") or "Immediate",
            bool(sc.get("allowVolumeExpansion")), _age(sc, now)]


def _metric_cell(spec: dict, status: dict | None) -> str:
    """One metric of formatHPAMetrics: ``cpu: <unknown>/80%`` until the HPA controller has a reading."""
    kind = spec.get("type")
    source = {"Resource": "resource", "ContainerResource": "containerResource", "Pods": "pods",
              "Object": "object", "External": "external"}.get(kind)
    if source is None:
        return "<unknown type>"
    target = (spec.get(source) or {}).get("target") or {}
    current = ((status or {}).get(source) or {}).get("current") or {}
    if kind in ("Resource", "ContainerResource"):
        name = (spec.get(source) or {}).get("name", "")
        if target.get("averageValue") is not None:
            return f"{name}: {current.get('averageValue', '<unknown>')}/{target['averageValue']}"
        now = current.get("averageUtilization")
        goal = target.get("averageUtilization")
        return (f"{name}: {'<unknown>' if now is None else f'{now}%'}/"
                f"{'<auto>' if goal is None else f'{goal}%'}")
    if kind == "Pods":
        return f"{current.get('averageValue', '<unknown>')}/{target.get('averageValue', '')}"
    if target.get("averageValue") is not None:
        return f"{current.get('averageValue', '<unknown>')}/{target['averageValue']} (avg)"
    return f"{current.get('value', '<unknown>')}/{target.get('value', '')}"


def hpa_row(hpa: dict, now: dt.datetime) -> list:
    spec, status = hpa.get("spec") or {}, hpa.get("status") or {}
    metrics, current = spec.get("metrics") or [], status.get("currentMetrics") or []
    cells = [_metric_cell(m, current[i] if i < len(current) else None) for i, m in enumerate(metrics)]
    targets = ", ".join(cells[:2]) + (f" + {len(cells) - 2} more..." if len(cells) > 2 else "") if cells else "<none>"
    ref = spec.get("scaleTargetRef") or {}
    minimum = spec.get("minReplicas")
    return [hpa["metadata"]["name"], f"{ref.get('kind', '')}/{ref.get('name', '')}", targets,
            "<unset>" if minimum is None else str(minimum), spec.get("maxReplicas", 0),
            status.get("currentReplicas", 0), _age(hpa, now)]


PRINTERS.update({
    "persistentvolumes": (PV_COLUMNS, pv_row), "persistentvolumeclaims": (PVC_COLUMNS, pvc_row),
    "storageclasses.storage.k8s.io": (STORAGECLASS_COLUMNS, storageclass_row),
    "horizontalpodautoscalers.autoscaling": (HPA_COLUMNS, hpa_row),
})


def _effective_default_storage_class(classes: list[dict]):
    default = default_class(classes) or ""
    return lambda sc, now: storageclass_row(sc, now, default)


# printers whose rows depend on the whole list (upstream's print...List handlers)
LIST_ROWS = {"storageclasses.storage.k8s.io": _effective_default_storage_class}


def _row_object(obj: dict, include: str):
    if include == "Object":
        return obj
    if include == "None":
        return None
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj["metadata"]}


def table(resource: str, objects: list[dict], now: dt.datetime, *, resource_version: str = "",
          include_object: str = "Metadata", with_columns: bool = True, listed: bool = False) -> dict:
    """A ``meta.k8s.io/v1`` Table for ``objects`` of ``resource`` (the printer's columns and rows); ``listed``:
    they are a list's (some printers mark rows by the list they are in)."""
    columns, row = PRINTERS.get(resource, ([NAME, AGE], lambda o, n: [o["metadata"]["name"], _age(o, n)]))
    if listed and resource in LIST_ROWS:
        row = LIST_ROWS[resource](objects)
    rows = []
    for obj in objects:
        entry = {"cells": row(obj, now)}
        if include_object != "None":
            entry["object"] = _row_object(obj, include_object)
        rows.append(entry)
    result = {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {"resourceVersion": resource_version}}
    if with_columns:
        result["columnDefinitions"] = columns
    result["rows"] = rows
    return result
