"""JSON type checks on decoded bodies, standing in for upstream's decoding into Go structs.

A body whose fields have the wrong JSON type (``"ports": {}``, ``"replicas": "3"``, ``"labels": []``)
fails there with 400 BadRequest before any defaulting or validation; here the same check keeps the
pure functions downstream free of type guards. The schema covers the fields this package reads.
"""

from .errors import bad_request

STR, INT, INT64, BOOL, INT_OR_STR, QUANTITY = "string", "int32", "int64", "boolean", "int-or-string", "quantity"
# Go's integer widths: a number outside them fails decoding (``cannot unmarshal number 1e+30 into Go struct
# field DeploymentSpec.spec.replicas of type int32``); IntOrString holds an int32
_RANGES = {INT: (-(2 ** 31), 2 ** 31 - 1), INT64: (-(2 ** 63), 2 ** 63 - 1), INT_OR_STR: (-(2 ** 31), 2 ** 31 - 1)}


def arr(item):
    return ("array", item)


def mapping(value):
    return ("map", value)


STRINGS = mapping(STR)
LABEL_SELECTOR = {"matchLabels": STRINGS,
                  "matchExpressions": arr({"key": STR, "operator": STR, "values": arr(STR)})}
OBJECT_META = {"name": STR, "generateName": STR, "namespace": STR, "uid": STR, "resourceVersion": STR,
               "labels": STRINGS, "annotations": STRINGS, "finalizers": arr(STR),
               "ownerReferences": arr({"apiVersion": STR, "kind": STR, "name": STR, "uid": STR,
                                       "controller": BOOL, "blockOwnerDeletion": BOOL}),
               "deletionGracePeriodSeconds": INT64, "generation": INT64}
PORT_FIELDS = {"name": STR, "protocol": STR, "port": INT, "targetPort": INT_OR_STR, "nodePort": INT,
               "containerPort": INT, "hostPort": INT, "appProtocol": STR}
CONTAINER = {"name": STR, "image": STR, "ports": arr(PORT_FIELDS), "env": arr({"name": STR}),
             "resources": {"requests": mapping(QUANTITY), "limits": mapping(QUANTITY)}}
CONDITIONS = arr({"type": STR, "status": STR, "reason": STR, "message": STR})
POD_SPEC = {"containers": arr(CONTAINER), "initContainers": arr(CONTAINER), "nodeName": STR,
            "nodeSelector": STRINGS, "restartPolicy": STR, "terminationGracePeriodSeconds": INT64,
            "tolerations": arr({"key": STR, "operator": STR, "value": STR, "effect": STR,
                                "tolerationSeconds": INT64}),
            "readinessGates": arr({"conditionType": STR}), "hostNetwork": BOOL, "schedulerName": STR,
            "serviceAccountName": STR, "volumes": arr({"name": STR, "persistentVolumeClaim": {"claimName": STR}})}
POD_STATUS = {"phase": STR, "podIP": STR, "hostIP": STR, "reason": STR, "conditions": CONDITIONS,
              "podIPs": arr({"ip": STR}),
              "containerStatuses": arr({"name": STR, "ready": BOOL, "restartCount": INT, "image": STR,
                                        "state": {}, "lastState": {}}),
              "initContainerStatuses": arr({"name": STR, "ready": BOOL, "restartCount": INT})}
TEMPLATE = {"metadata": OBJECT_META, "spec": POD_SPEC}
WORKLOAD_SPEC = {"replicas": INT, "selector": LABEL_SELECTOR, "template": TEMPLATE,
                 "strategy": {"type": STR, "rollingUpdate": {"maxSurge": INT_OR_STR, "maxUnavailable": INT_OR_STR}},
                 "updateStrategy": {"type": STR, "rollingUpdate": {"maxSurge": INT_OR_STR,
                                                                   "maxUnavailable": INT_OR_STR}},
                 "minReadySeconds": INT, "revisionHistoryLimit": INT, "paused": BOOL,
                 "progressDeadlineSeconds": INT}
NETWORK_PEERS = arr({"podSelector": LABEL_SELECTOR, "namespaceSelector": LABEL_SELECTOR})
NETPOL_RULE = {"ports": arr({"protocol": STR, "port": INT_OR_STR, "endPort": INT}),
               "from": NETWORK_PEERS, "to": NETWORK_PEERS}
RBAC_RULE = {"verbs": arr(STR), "apiGroups": arr(STR), "resources": arr(STR), "resourceNames": arr(STR),
             "nonResourceURLs": arr(STR)}
RBAC_BINDING = {"subjects": arr({"kind": STR, "apiGroup": STR, "name": STR, "namespace": STR}),
                "roleRef": {"apiGroup": STR, "kind": STR, "name": STR}}

QUANTITIES = mapping(INT_OR_STR)  # resource.Quantity: a string, or a number
REFERENCE = {"kind": STR, "namespace": STR, "name": STR, "uid": STR, "apiVersion": STR, "resourceVersion": STR}
METRIC_TARGET = {"type": STR, "averageUtilization": INT, "averageValue": INT_OR_STR, "value": INT_OR_STR}
METRIC_SOURCE = {"name": STR, "container": STR, "target": METRIC_TARGET}
KINDS = {
    "Pod": {"spec": POD_SPEC, "status": POD_STATUS},
    "Service": {"spec": {"ports": arr(PORT_FIELDS), "selector": STRINGS, "clusterIP": STR, "clusterIPs": arr(STR),
                         "type": STR, "externalIPs": arr(STR), "externalName": STR, "sessionAffinity": STR,
                         "ipFamilies": arr(STR), "ipFamilyPolicy": STR, "internalTrafficPolicy": STR,
                         "externalTrafficPolicy": STR, "publishNotReadyAddresses": BOOL},
                "status": {"loadBalancer": {"ingress": arr({"ip": STR, "hostname": STR})}}},
    "Endpoints": {"subsets": arr({"addresses": arr({"ip": STR, "nodeName": STR}),
                                  "notReadyAddresses": arr({"ip": STR, "nodeName": STR}),
                                  "ports": arr(PORT_FIELDS)})},
    "EndpointSlice": {"addressType": STR, "ports": arr(PORT_FIELDS),
                      "endpoints": arr({"addresses": arr(STR), "nodeName": STR, "zone": STR, "hostname": STR,
                                        "conditions": {"ready": BOOL, "serving": BOOL, "terminating": BOOL}})},
    "Event": {"involvedObject": {"kind": STR, "name": STR, "namespace": STR, "uid": STR},
              "reason": STR, "message": STR, "type": STR, "count": INT, "source": {"component": STR, "host": STR},
              "series": {"count": INT}},
    "Node": {"spec": {"unschedulable": BOOL, "podCIDR": STR, "podCIDRs": arr(STR),
                      "taints": arr({"key": STR, "value": STR, "effect": STR})},
             "status": {"conditions": CONDITIONS, "addresses": arr({"type": STR, "address": STR}),
                        "nodeInfo": {}}},
    "Namespace": {"spec": {"finalizers": arr(STR)}, "status": {"phase": STR}},
    "Deployment": {"spec": WORKLOAD_SPEC, "status": {"conditions": CONDITIONS}},
    "ReplicaSet": {"spec": WORKLOAD_SPEC, "status": {"conditions": CONDITIONS}},
    "DaemonSet": {"spec": WORKLOAD_SPEC, "status": {"conditions": CONDITIONS}},
    "StatefulSet": {"spec": {**WORKLOAD_SPEC, "serviceName": STR, "podManagementPolicy": STR},
                    "status": {"conditions": CONDITIONS}},
    "NetworkPolicy": {"spec": {"podSelector": LABEL_SELECTOR, "policyTypes": arr(STR),
                               "ingress": arr(NETPOL_RULE), "egress": arr(NETPOL_RULE)}},
    "Lease": {"spec": {"holderIdentity": STR, "leaseDurationSeconds": INT}},
    "ConfigMap": {"data": STRINGS, "binaryData": STRINGS, "immutable": BOOL},
    "Secret": {"data": STRINGS, "stringData": STRINGS, "type": STR, "immutable": BOOL},
    "ServiceAccount": {"secrets": arr({"name": STR}), "imagePullSecrets": arr({"name": STR}),
                       "automountServiceAccountToken": BOOL},
    "Job": {"spec": {"parallelism": INT, "completions": INT, "backoffLimit": INT, "activeDeadlineSeconds": INT,
                     "selector": LABEL_SELECTOR, "manualSelector": BOOL, "template": TEMPLATE, "suspend": BOOL,
                     "completionMode": STR, "ttlSecondsAfterFinished": INT},
            "status": {"conditions": CONDITIONS, "active": INT, "succeeded": INT, "failed": INT,
                       "startTime": STR, "completionTime": STR}},
    "Ingress": {"spec": {"ingressClassName": STR, "rules": arr({"host": STR}), "tls": arr({"hosts": arr(STR)})}},
    "Role": {"rules": arr(RBAC_RULE)},
    "ClusterRole": {"rules": arr(RBAC_RULE)},
    "RoleBinding": RBAC_BINDING,
    "ClusterRoleBinding": RBAC_BINDING,
    "CronJob": {"spec": {"schedule": STR, "timeZone": STR, "concurrencyPolicy": STR, "suspend": BOOL,
                         "successfulJobsHistoryLimit": INT, "failedJobsHistoryLimit": INT,
                         "startingDeadlineSeconds": INT, "jobTemplate": {"metadata": OBJECT_META}}},
    "PodDisruptionBudget": {"spec": {"minAvailable": INT_OR_STR, "maxUnavailable": INT_OR_STR,
                                     "selector": LABEL_SELECTOR, "unhealthyPodEvictionPolicy": STR},
                            "status": {"conditions": CONDITIONS, "disruptionsAllowed": INT, "currentHealthy": INT,
                                       "desiredHealthy": INT, "expectedPods": INT, "observedGeneration": INT,
                                       "disruptedPods": STRINGS}},
    "ServiceCIDR": {"spec": {"cidrs": arr(STR)}, "status": {"conditions": CONDITIONS}},
    "PersistentVolume": {"spec": {"capacity": QUANTITIES, "accessModes": arr(STR), "persistentVolumeReclaimPolicy": STR,
                                  "storageClassName": STR, "volumeMode": STR, "volumeAttributesClassName": STR,
                                  "claimRef": REFERENCE, "hostPath": {"path": STR, "type": STR},
                                  "nodeAffinity": {"required": {"nodeSelectorTerms": arr({"matchExpressions": arr(
                                      {"key": STR, "operator": STR, "values": arr(STR)})})}}},
                         "status": {"phase": STR, "reason": STR, "message": STR}},
    "PersistentVolumeClaim": {"spec": {"accessModes": arr(STR), "resources": {"requests": QUANTITIES,
                                                                               "limits": QUANTITIES},
                                       "storageClassName": STR, "volumeName": STR, "volumeMode": STR,
                                       "volumeAttributesClassName": STR},
                              "status": {"phase": STR, "accessModes": arr(STR), "capacity": QUANTITIES,
                                         "conditions": CONDITIONS}},
    "StorageClass": {"provisioner": STR, "reclaimPolicy": STR, "volumeBindingMode": STR, "allowVolumeExpansion": BOOL,
                     "parameters": STRINGS, "mountOptions": arr(STR)},
    "HorizontalPodAutoscaler": {"spec": {"scaleTargetRef": REFERENCE, "minReplicas": INT, "maxReplicas": INT,
                                         "metrics": arr({"type": STR, "resource": METRIC_SOURCE,
                                                         "containerResource": METRIC_SOURCE,
                                                         "pods": METRIC_SOURCE, "object": METRIC_SOURCE,
                                                         "external": METRIC_SOURCE})},
                                "status": {"currentReplicas": INT, "desiredReplicas": INT, "conditions": CONDITIONS,
                                           "currentMetrics": arr({"type": STR}), "observedGeneration": INT64}},
    "DeleteOptions": {"gracePeriodSeconds": INT64, "propagationPolicy": STR, "orphanDependents": BOOL,
                      "dryRun": arr(STR), "preconditions": {"uid": STR, "resourceVersion": STR}},
}


def _type_of(value) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object" if isinstance(value, dict) else "null"


def _in_range(value: int, shape: str) -> bool:
    low, high = _RANGES[shape]
    return low <= value <= high


def _mismatch(value, shape) -> str | None:
    """The expected type name when ``value`` does not fit ``shape`` (None when it does)."""
    if value is None:
        return None  # null is "unset" for every field, as Go decodes it
    if shape == STR:
        return None if isinstance(value, str) else "string"
    if shape in (INT, INT64):
        return None if isinstance(value, int) and not isinstance(value, bool) and _in_range(value, shape) \
            else shape
    if shape == BOOL:
        return None if isinstance(value, bool) else "boolean"
    if shape == INT_OR_STR:
        return None if isinstance(value, str) or isinstance(value, int) and not isinstance(value, bool) \
            and _in_range(value, shape) else "int-or-string"
    if shape == QUANTITY:
        return None if isinstance(value, str | int | float) and not isinstance(value, bool) else "quantity"
    if isinstance(shape, tuple):
        expected = "array" if shape[0] == "array" else "object"
        return None if isinstance(value, list if shape[0] == "array" else dict) else expected
    return None if isinstance(value, dict) else "object"


def _first_error(value, shape):
    """``(path segments innermost first, value, expected type)`` of the first misfit, or None.

    Paths are assembled only on the way back from a misfit: most writes are well-typed, and
    formatting a path for every field visited used to dominate the cost of this check.
    """
    wrong = _mismatch(value, shape)
    if wrong:
        return [], value, wrong, shape
    if value is None or type(shape) is str:
        return None
    if isinstance(shape, tuple):
        if shape[0] == "array":
            for item in value:
                if (found := _first_error(item, shape[1])) is not None:
                    return found
            return None
        children = ((key, item, shape[1]) for key, item in value.items())
    else:
        children = ((key, value[key], sub) for key, sub in shape.items() if key in value)
    for key, child, sub in children:
        if sub is STR and type(child) is str:  # the commonest field, checked without a call
            continue
        if (found := _first_error(child, sub)) is not None:
            found[0].append(key)
            return found
    return None


def check(kind: str, api_version: str, obj: dict) -> None:
    """Raise 400 BadRequest, worded like upstream's decoder, when a field has the wrong JSON type."""
    shape = {"metadata": OBJECT_META, **KINDS.get(kind, {})}
    found = _first_error(obj, shape)
    if found:
        segments, value, expected, _ = found
        path = ".".join(reversed(segments))
        version = api_version.rsplit("/", 1)[-1]
        found = _type_of(value)
        if isinstance(value, int) and not isinstance(value, bool) and expected in _RANGES:
            found = f"number {value}"  # Go names the literal that overflows the field's width
        raise bad_request(f'{kind} in version "{version}" cannot be handled as a {kind}: json: cannot unmarshal '
                          f"{found} into Go struct field {path} of type {expected}")


_GO_KINDS = {bool: "bool", int: "int64", float: "float64", str: "string", list: "slice", dict: "map"}
_GO_TYPES = {STR: "string", INT: "int32", INT64: "int64", BOOL: "bool"}


def converter_error(kind: str, obj: dict) -> str | None:
    """What runtime.DefaultUnstructuredConverter.FromUnstructured says of the first field of the wrong type
    (apimachinery v0.37.0 pkg/runtime/converter.go: "cannot restore map from slice", "cannot restore struct
    from: string", "cannot convert int64 to string"), or None when every field fits. A strategic merge patch's
    result is converted this way, not decoded from JSON."""
    found = _first_error(obj, {"metadata": OBJECT_META, **KINDS.get(kind, {})})
    if not found:
        return None
    _, value, _, shape = found
    source = _GO_KINDS[type(value)]
    if isinstance(shape, tuple):
        return f"cannot restore {'slice' if shape[0] == 'array' else 'map'} from {source}"
    if isinstance(shape, dict):
        return f"cannot restore struct from: {source}"
    named = {"map": "map[string]interface {}", "slice": "[]interface {}"}.get(source, source)
    return f"cannot convert {named} to {_GO_TYPES.get(shape, 'string')}"


def without_nulls(kind: str, api_version: str, obj: dict) -> dict:
    """``obj`` with null fields removed (Go decodes them as unset), or 400 for a null list item or a
    number no Go integer holds (fields ``check`` does not know included).

    Go would decode ``taints: [null]`` to a zero Taint and rely on validation to refuse it; a null
    item is refused here outright, as no served list holds pointers, so that no reader or controller
    ever meets a None where the API has an object or a string.
    """
    found = _strip_nulls(obj)
    if found is not None:
        segments, value = found
        version = api_version.rsplit("/", 1)[-1]
        if value is None:
            raise bad_request(f'{kind} in version "{version}" cannot be handled as a {kind}: null is not a valid '
                              f'item of the list {".".join(reversed(segments[1:]))}[{segments[0]}]')
        raise bad_request(f'{kind} in version "{version}" cannot be handled as a {kind}: json: cannot '
                          f'unmarshal number {value} into Go struct field {".".join(reversed(segments))} '
                          "of type int64")
    return obj


def _strip_nulls(node):
    """Drop null map values under ``node`` (in place); ``(path segments innermost first, value)`` of the
    first null list item or out-of-range integer, else None. Paths are built only for a misfit, as in
    ``_first_error``: this runs on every write."""
    if isinstance(node, dict):
        if None in node.values():
            for key in [k for k, v in node.items() if v is None]:
                del node[key]
        items = node.items()
    else:
        items = enumerate(node)
    for key, child in items:
        if isinstance(child, dict | list):
            if (found := _strip_nulls(child)) is not None:
                found[0].append(str(key))
                return found
        elif child is None or type(child) is int and not _in_range(child, INT64):
            return [str(key)], child
    return None
