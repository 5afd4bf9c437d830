"""The table of resources the simulator serves, shared by the store, discovery, OpenAPI and routing.

Keys are kubectl-style plural names qualified by group (``deployments.apps``), as in docs/DESIGN.md.
"""

from dataclasses import dataclass, field

ALL_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]


@dataclass(frozen=True)
class Resource:
    """One served resource: where it lives in the API and how it behaves."""

    plural: str
    kind: str
    group: str
    version: str
    namespaced: bool
    short_names: tuple = ()
    categories: tuple = ()
    subresources: tuple = ()  # e.g. ("status", "scale", "log")
    tracks_generation: bool = False  # metadata.generation bumps on spec changes
    has_status: bool = False  # the main resource ignores .status writes (status subresource)
    field_selectors: tuple = ()  # beyond metadata.name / metadata.namespace
    singular: str = field(default="")
    verbs: tuple = tuple(ALL_VERBS)  # ("create",): a review, answered and never stored

    @property
    def key(self) -> str:
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def singular_name(self) -> str:
        return self.singular or self.kind.lower()

    @property
    def path_prefix(self) -> str:
        """The URL prefix of the resource's group-version (``/api/v1``, ``/apis/apps/v1``)."""
        return f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"


_POD_FIELDS = ("spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
               "spec.hostNetwork", "status.phase", "status.podIP", "status.nominatedNodeName")
_EVENT_FIELDS = ("involvedObject.kind", "involvedObject.namespace", "involvedObject.name",
                 "involvedObject.uid", "involvedObject.apiVersion", "involvedObject.resourceVersion",
                 "involvedObject.fieldPath", "reason", "reportingComponent", "source", "type")

RESOURCES = [
    Resource("namespaces", "Namespace", "", "v1", False, ("ns",), (), ("status", "finalize"),
             has_status=True, field_selectors=("status.phase",)),
    Resource("nodes", "Node", "", "v1", False, ("no",), (), ("status",), has_status=True,
             field_selectors=("spec.unschedulable",)),
    Resource("pods", "Pod", "", "v1", True, ("po",), ("all",), ("status", "log", "binding", "eviction", "exec", "attach", "portforward"),
             tracks_generation=True, has_status=True, field_selectors=_POD_FIELDS),
    Resource("services", "Service", "", "v1", True, ("svc",), ("all",), ("status",), has_status=True,
             field_selectors=("spec.clusterIP", "spec.type")),
    Resource("endpoints", "Endpoints", "", "v1", True, ("ep",), (), singular="endpoints"),
    Resource("events", "Event", "", "v1", True, ("ev",), (), field_selectors=_EVENT_FIELDS),
    Resource("configmaps", "ConfigMap", "", "v1", True, ("cm",), ()),
    Resource("secrets", "Secret", "", "v1", True, (), (), field_selectors=("type",)),
    Resource("serviceaccounts", "ServiceAccount", "", "v1", True, ("sa",), (), ("token",)),
    Resource("deployments", "Deployment", "apps", "v1", True, ("deploy",), ("all",), ("status", "scale"),
             tracks_generation=True, has_status=True),
    Resource("replicasets", "ReplicaSet", "apps", "v1", True, ("rs",), ("all",), ("status", "scale"),
             tracks_generation=True, has_status=True, field_selectors=("status.replicas",)),
    Resource("daemonsets", "DaemonSet", "apps", "v1", True, ("ds",), ("all",), ("status",),
             tracks_generation=True, has_status=True),
    Resource("statefulsets", "StatefulSet", "apps", "v1", True, ("sts",), ("all",), ("status", "scale"),
             tracks_generation=True, has_status=True),
    Resource("jobs", "Job", "batch", "v1", True, (), ("all",), ("status",), tracks_generation=True,
             has_status=True),
    Resource("cronjobs", "CronJob", "batch", "v1", True, ("cj",), ("all",), ("status",), tracks_generation=True,
             has_status=True),
    Resource("poddisruptionbudgets", "PodDisruptionBudget", "policy", "v1", True, ("pdb",), (), ("status",),
             tracks_generation=True, has_status=True),
    Resource("endpointslices", "EndpointSlice", "discovery.k8s.io", "v1", True, (), (),
             tracks_generation=True),
    Resource("networkpolicies", "NetworkPolicy", "networking.k8s.io", "v1", True, ("netpol",), (),
             tracks_generation=True),
    # The API server's default ServiceCIDR (KEP-1880, GA 1.33), which kube-proxy watches.
    Resource("servicecidrs", "ServiceCIDR", "networking.k8s.io", "v1", False, (), (), ("status",),
             has_status=True),
    Resource("leases", "Lease", "coordination.k8s.io", "v1", True, (), ()),
    Resource("ingresses", "Ingress", "networking.k8s.io", "v1", True, ("ing",), (), ("status",), tracks_generation=True,
             has_status=True),
    # Storage as kind ships it (the `standard` StorageClass of local-path-provisioner) and the HPA, which
    # kind serves without metrics-server
    Resource("persistentvolumes", "PersistentVolume", "", "v1", False, ("pv",), (), ("status",), has_status=True),
    Resource("persistentvolumeclaims", "PersistentVolumeClaim", "", "v1", True, ("pvc",), (), ("status",),
             has_status=True),
    Resource("storageclasses", "StorageClass", "storage.k8s.io", "v1", False, ("sc",), ()),
    Resource("horizontalpodautoscalers", "HorizontalPodAutoscaler", "autoscaling", "v2", True, ("hpa",), ("all",),
             ("status",), has_status=True, tracks_generation=True),  # HPAGeneration, beta and on in 1.37
    Resource("roles", "Role", "rbac.authorization.k8s.io", "v1", True, (), ()),
    Resource("rolebindings", "RoleBinding", "rbac.authorization.k8s.io", "v1", True, (), ()),
    Resource("clusterroles", "ClusterRole", "rbac.authorization.k8s.io", "v1", False, (), ()),
    Resource("clusterrolebindings", "ClusterRoleBinding", "rbac.authorization.k8s.io", "v1", False, (), ()),
    Resource("selfsubjectaccessreviews", "SelfSubjectAccessReview", "authorization.k8s.io", "v1", False,
             verbs=("create",)),
    Resource("selfsubjectrulesreviews", "SelfSubjectRulesReview", "authorization.k8s.io", "v1", False,
             verbs=("create",)),
    Resource("selfsubjectreviews", "SelfSubjectReview", "authentication.k8s.io", "v1", False, verbs=("create",)),
]

BY_KEY = {r.key: r for r in RESOURCES}
BY_GROUP_VERSION_PLURAL = {(r.group, r.version, r.plural): r for r in RESOURCES}


def group_versions() -> list[tuple[str, str]]:
    """Served (group, version) pairs in a stable order, core first."""
    seen = []
    for r in RESOURCES:
        if (r.group, r.version) not in seen:
            seen.append((r.group, r.version))
    return seen


def resources_in(group: str, version: str) -> list[Resource]:
    return [r for r in RESOURCES if r.group == group and r.version == version]
