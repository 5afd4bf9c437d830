"""Unknown-field detection for ``fieldValidation`` (Strict / Warn / Ignore), as upstream decodes.

Only the stable outer layers are checked: each kind's top-level fields, ``metadata``, and the first
level of Service and workload specs. That catches the typos readers make (``metdata``, ``spec.replica``,
``spec.selctor``) without risking a refusal of a valid but newer field deeper down.
"""

_COMMON = {"apiVersion", "kind", "metadata"}
_OBJECT_META = {"name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation",
                "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "labels", "annotations",
                "ownerReferences", "finalizers", "managedFields"}
_TOP_LEVEL = {
    "Endpoints": {"subsets"},
    "EndpointSlice": {"addressType", "endpoints", "ports"},
    "Event": {"involvedObject", "reason", "message", "source", "firstTimestamp", "lastTimestamp", "count", "type",
              "eventTime", "series", "action", "related", "reportingComponent", "reportingInstance"},
    "NetworkPolicy": {"spec"},
    "Lease": {"spec"},
    "ConfigMap": {"data", "binaryData", "immutable"},
    "Secret": {"data", "stringData", "type", "immutable"},
    "ServiceAccount": {"secrets", "imagePullSecrets", "automountServiceAccountToken"},
    "Role": {"rules"},
    "ClusterRole": {"rules", "aggregationRule"},
    "RoleBinding": {"subjects", "roleRef"},
    "ClusterRoleBinding": {"subjects", "roleRef"},
}
_SPEC = {
    "Service": {"ports", "selector", "clusterIP", "clusterIPs", "type", "externalIPs", "sessionAffinity",
                "loadBalancerIP", "loadBalancerSourceRanges", "externalName", "externalTrafficPolicy",
                "healthCheckNodePort", "publishNotReadyAddresses", "sessionAffinityConfig", "ipFamilies",
                "ipFamilyPolicy", "allocateLoadBalancerNodePorts", "loadBalancerClass", "internalTrafficPolicy",
                "trafficDistribution"},
    "Deployment": {"replicas", "selector", "template", "strategy", "minReadySeconds", "revisionHistoryLimit",
                   "paused", "progressDeadlineSeconds"},
    "ReplicaSet": {"replicas", "minReadySeconds", "selector", "template"},
    "DaemonSet": {"selector", "template", "updateStrategy", "minReadySeconds", "revisionHistoryLimit"},
    "StatefulSet": {"replicas", "selector", "template", "volumeClaimTemplates", "serviceName", "podManagementPolicy",
                    "updateStrategy", "revisionHistoryLimit", "minReadySeconds", "persistentVolumeClaimRetentionPolicy",
                    "ordinals"},
    "Job": {"parallelism", "completions", "activeDeadlineSeconds", "podFailurePolicy", "successPolicy",
            "backoffLimit", "backoffLimitPerIndex", "maxFailedIndexes", "selector", "manualSelector", "template",
            "ttlSecondsAfterFinished", "completionMode", "suspend", "podReplacementPolicy", "managedBy"},
    "CronJob": {"schedule", "timeZone", "startingDeadlineSeconds", "concurrencyPolicy", "suspend", "jobTemplate",
                "successfulJobsHistoryLimit", "failedJobsHistoryLimit"},
    "PodDisruptionBudget": {"minAvailable", "selector", "maxUnavailable", "unhealthyPodEvictionPolicy"},
}


def unknown_fields(kind: str, obj: dict) -> list[str]:
    """Dotted paths of fields ``kind`` does not have (patch directives, ``$...``, are not fields)."""
    allowed = _COMMON | _TOP_LEVEL.get(kind, {"spec", "status"})
    found = [key for key in obj if key not in allowed and not key.startswith("$")]
    meta = obj.get("metadata")
    if isinstance(meta, dict):
        found += [f"metadata.{key}" for key in meta if key not in _OBJECT_META and not key.startswith("$")]
    spec = obj.get("spec")
    if kind in _SPEC and isinstance(spec, dict):
        found += [f"spec.{key}" for key in spec if key not in _SPEC[kind] and not key.startswith("$")]
    return found


def drop_unknown(obj: dict, paths: list[str]) -> None:
    """Remove the fields ``unknown_fields`` reported (what Warn and Ignore do)."""
    for path in paths:
        node, parts = obj, path.split(".")
        for part in parts[:-1]:
            node = node[part]
        node.pop(parts[-1], None)


def strict_error_message(kind: str, api_version: str, paths: list[str]) -> str:
    version = api_version.rsplit("/", 1)[-1]
    fields = ", ".join(f'unknown field "{p}"' for p in paths)
    return f'{kind} in version "{version}" cannot be handled as a {kind}: strict decoding error: {fields}'
