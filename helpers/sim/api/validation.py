"""Validation like the real API for the fields our chapters touch.

``validate(resource, obj)`` and ``validate_update(resource, new, old)`` return a list of causes
(``{"reason", "message", "field"}``), which the store turns into one 422 ``Invalid`` Status, with
upstream's wording so that error output matches a real cluster.
"""

import functools
import ipaddress
import json
import re

from .selectors import label_requirements_from, labels_match

_SUBDOMAIN = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
_LABEL_1123 = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_LABEL_1035 = r"[a-z]([-a-z0-9]*[a-z0-9])?"
_LABEL_VALUE = r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?"
_QUALIFIED = r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"

SUBDOMAIN_MSG = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' "
                 "or '.', and must start and end with an alphanumeric character (e.g. 'example.com', "
                 f"regex used for validation is '{_SUBDOMAIN}')")
LABEL_1123_MSG = ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
                  "and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', "
                  f"regex used for validation is '{_LABEL_1123}')")
LABEL_1035_MSG = ("a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with "
                  "an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or "
                  f"'abc-123', regex used for validation is '{_LABEL_1035}')")
LABEL_VALUE_MSG = ("a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "
                   "'.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or "
                   f"'my_value',  or '12345', regex used for validation is '{_LABEL_VALUE}')")
QUALIFIED_MSG = ("name part must consist of alphanumeric characters, '-', '_' or '.', and must start and "
                 "end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex "
                 f"used for validation is '{_QUALIFIED}')")

MAX_SLICE_ENDPOINTS = 1000
MAX_SLICE_PORTS = 100
MAX_ENDPOINT_ADDRESSES = 100


def _fmt(value) -> str:
    """A bad value as field.Error.ErrorBody prints it: strings quoted, the rest as Go's compact json.Marshal."""
    return json.dumps(value, separators=(",", ":")) if not isinstance(value, str) else f'"{value}"'


def required(field: str, detail: str = "") -> dict:
    return {"reason": "FieldValueRequired", "message": "Required value" + (f": {detail}" if detail else ""),
            "field": field}


def invalid_value(field: str, value, detail: str) -> dict:
    return {"reason": "FieldValueInvalid", "message": f"Invalid value: {_fmt(value)}: {detail}",
            "field": field}


def unsupported(field: str, value, supported: list[str]) -> dict:
    values = ", ".join(f'"{s}"' for s in supported)
    return {"reason": "FieldValueNotSupported",
            "message": f"Unsupported value: {_fmt(value)}: supported values: {values}", "field": field}


def too_many(field: str, count: int, limit: int) -> dict:
    return {"reason": "FieldValueTooMany", "message": f"Too many: {count}: must have at most {limit} items",
            "field": field}


def forbidden(field: str, detail: str) -> dict:
    return {"reason": "FieldValueForbidden", "message": f"Forbidden: {detail}", "field": field}


def duplicate(field: str, value) -> dict:
    return {"reason": "FieldValueDuplicate", "message": f"Duplicate value: {_fmt(value)}", "field": field}


def immutable(field: str, value) -> dict:
    return invalid_value(field, value, "field is immutable")


def _name_check(name: str, pattern: str, message: str, limit: int) -> str | None:
    if len(name) > limit:
        return f"must be no more than {limit} characters"
    if not re.fullmatch(pattern, name):
        return message
    return None


def dns_subdomain_error(name: str) -> str | None:
    return _name_check(name, _SUBDOMAIN, SUBDOMAIN_MSG, 253)


def dns_label_error(name: str) -> str | None:
    return _name_check(name, _LABEL_1123, LABEL_1123_MSG, 63)


def dns_1035_error(name: str) -> str | None:
    return _name_check(name, _LABEL_1035, LABEL_1035_MSG, 63)


_NAME_RULES = {"services": dns_1035_error, "namespaces": dns_label_error}


def _path_segment_errors(name: str) -> list[str]:
    if name in (".", ".."):
        return [f"may not be '{name}'"]
    return [f"may not contain '{c}'" for c in ("/", "%") if c in name]


def _metadata(resource: str, meta: dict) -> list[dict]:
    causes = []
    name = meta.get("name")
    if not name:
        return [required("metadata.name", "name or generateName is required")]
    if resource == "events":
        # core/v1 Events have no name rule of their own (v1.36.1 pkg/apis/core/validation/events.go), only
        # the registry's: rest.BeforeCreate's content.IsPathSegmentName (apimachinery api/validate/content)
        causes += [invalid_value("metadata.name", name, msg) for msg in _path_segment_errors(name)]
    elif error := _NAME_RULES.get(resource, dns_subdomain_error)(name):
        causes.append(invalid_value("metadata.name", name, error))
    for key, value in (meta.get("labels") or {}).items():
        causes += _label_key("metadata.labels", key)
        if not isinstance(value, str) or len(value) > 63 or not re.fullmatch(_LABEL_VALUE, value):
            causes.append(invalid_value("metadata.labels", value, LABEL_VALUE_MSG))
    for key in meta.get("annotations") or {}:
        causes += _label_key("metadata.annotations", key)
    return causes


def _label_key(field: str, key: str) -> list[dict]:
    prefix, _, name = key.rpartition("/")
    if prefix and dns_subdomain_error(prefix):
        return [invalid_value(field, key, "prefix part " + SUBDOMAIN_MSG)]
    if not name or len(name) > 63 or not re.fullmatch(_QUALIFIED, name):
        return [invalid_value(field, key, QUALIFIED_MSG)]
    return []


def _port_number(field: str, value, allow_zero=False) -> list[dict]:
    lo = 0 if allow_zero else 1
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= 65535:
        return [invalid_value(field, value, f"must be between {lo} and 65535, inclusive")]
    return []


def _protocol(field: str, value) -> list[dict]:
    return [] if value in ("TCP", "UDP", "SCTP") else [unsupported(field, value, ["SCTP", "TCP", "UDP"])]


def _containers(field: str, containers) -> list[dict]:
    if not containers:
        return [required(field)]
    causes, names = [], set()
    for i, c in enumerate(containers):
        path = f"{field}[{i}]"
        name = c.get("name") or ""
        if not name:
            causes.append(required(f"{path}.name"))
        elif dns_label_error(name):
            causes.append(invalid_value(f"{path}.name", name, LABEL_1123_MSG))
        elif name in names:
            causes.append(duplicate(f"{path}.name", name))
        names.add(name)
        if not c.get("image"):
            causes.append(required(f"{path}.image"))
        for j, port in enumerate(c.get("ports") or []):
            causes += _port_number(f"{path}.ports[{j}].containerPort", port.get("containerPort"))
            causes += _protocol(f"{path}.ports[{j}].protocol", port.get("protocol", "TCP"))
    return causes


def _pod_spec(field: str, spec: dict) -> list[dict]:
    return _containers(f"{field}.containers", spec.get("containers"))


def pod(obj: dict) -> list[dict]:
    return _pod_spec("spec", obj.get("spec") or {})


_OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")


def label_selector(field: str, selector: dict | None) -> list[dict]:
    """Upstream ValidateLabelSelector: known operators, values only (and always) for In/NotIn."""
    causes = []
    for key, value in ((selector or {}).get("matchLabels") or {}).items():
        causes += _label_key(f"{field}.matchLabels", key)
        if len(value) > 63 or not re.fullmatch(_LABEL_VALUE, value):
            causes.append(invalid_value(f"{field}.matchLabels", value, LABEL_VALUE_MSG))
    for i, expr in enumerate((selector or {}).get("matchExpressions") or []):
        path, operator = f"{field}.matchExpressions[{i}]", expr.get("operator")
        causes += _label_key(f"{path}.key", expr.get("key", ""))  # ValidateLabelSelectorRequirement
        if operator not in _OPERATORS:
            causes.append(invalid_value(f"{path}.operator", operator, "not a valid selector operator"))
        elif operator in ("In", "NotIn") and not expr.get("values"):
            causes.append(required(f"{path}.values", "must be specified when `operator` is 'In' or 'NotIn'"))
        elif operator in ("Exists", "DoesNotExist") and expr.get("values"):
            causes.append(forbidden(f"{path}.values",
                                    "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"))
    return causes


def _workload(obj: dict) -> list[dict]:
    spec = obj.get("spec") or {}
    causes = []
    replicas = spec.get("replicas", 0)
    if not isinstance(replicas, int) or replicas < 0:
        causes.append(invalid_value("spec.replicas", replicas, "must be greater than or equal to 0"))
    selector = spec.get("selector")
    template = spec.get("template") or {}
    labels = (template.get("metadata") or {}).get("labels") or {}
    selector_causes = label_selector("spec.selector", selector)
    if not selector:
        causes.append(required("spec.selector"))
    elif selector_causes:
        causes += selector_causes
    elif not (selector.get("matchLabels") or selector.get("matchExpressions")):
        causes.append(invalid_value("spec.selector", selector,
                                    "empty selector is invalid for deployment"))
    elif not labels_match(label_requirements_from(selector), labels):
        causes.append(invalid_value("spec.template.metadata.labels", labels,
                                    "`selector` does not match template `labels`"))
    tspec = template.get("spec") or {}
    causes += _pod_spec("spec.template.spec", tspec)
    if tspec.get("restartPolicy", "Always") != "Always":
        causes.append(unsupported("spec.template.spec.restartPolicy", tspec["restartPolicy"], ["Always"]))
    return causes


def _target_port(field: str, value) -> list[dict]:
    if isinstance(value, str):
        if not re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", value) or len(value) > 15 \
                or not re.search(r"[a-z]", value):
            return [invalid_value(field, value, "must contain at least one letter (a-z)")]
        return []
    return _port_number(field, value)


def service(obj: dict) -> list[dict]:
    spec = obj.get("spec") or {}
    causes = []
    kind = spec.get("type", "ClusterIP")
    if kind not in ("ClusterIP", "NodePort", "LoadBalancer", "ExternalName"):
        causes.append(unsupported("spec.type", kind, ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"]))
    ports = spec.get("ports") or []
    if not ports and kind != "ExternalName" and spec.get("clusterIP") != "None":
        causes.append(required("spec.ports"))
    if kind == "ExternalName" and not spec.get("externalName"):
        causes.append(required("spec.externalName"))
    seen, names = set(), set()
    for i, port in enumerate(ports):
        path = f"spec.ports[{i}]"
        name = port.get("name", "")
        if len(ports) > 1 and not name:
            causes.append(required(f"{path}.name"))
        elif name and dns_label_error(name):
            causes.append(invalid_value(f"{path}.name", name, LABEL_1123_MSG))
        elif name in names:
            causes.append(duplicate(f"{path}.name", name))
        names.add(name)
        causes += _port_number(f"{path}.port", port.get("port"))
        causes += _protocol(f"{path}.protocol", port.get("protocol", "TCP"))
        if "targetPort" in port:
            causes += _target_port(f"{path}.targetPort", port["targetPort"])
        key = (port.get("port"), port.get("protocol", "TCP"))
        if key in seen:
            causes.append(duplicate(path, {"port": key[0], "protocol": key[1]}))
        seen.add(key)
        if "nodePort" in port and kind not in ("NodePort", "LoadBalancer"):
            causes.append(forbidden(f"{path}.nodePort", "may not be used when `type` is 'ClusterIP'"))
    return causes


@functools.lru_cache(maxsize=65536)  # slices re-validate the same pod IPs on every write
def _ip_error(address: str, family: int) -> bool:
    try:
        return ipaddress.ip_address(address).version != family
    except ValueError:
        return True


def endpointslice(obj: dict) -> list[dict]:
    causes = []
    address_type = obj.get("addressType")
    if not address_type:
        causes.append(required("addressType"))
    elif address_type not in ("IPv4", "IPv6", "FQDN"):
        causes.append(unsupported("addressType", address_type, ["FQDN", "IPv4", "IPv6"]))
    endpoints = obj.get("endpoints") or []
    if len(endpoints) > MAX_SLICE_ENDPOINTS:
        causes.append(too_many("endpoints", len(endpoints), MAX_SLICE_ENDPOINTS))
    for i, ep in enumerate(endpoints[:MAX_SLICE_ENDPOINTS]):
        addresses = ep.get("addresses") or []
        if not addresses:
            causes.append(required(f"endpoints[{i}].addresses", "must contain at least 1 address"))
        elif len(addresses) > MAX_ENDPOINT_ADDRESSES:
            causes.append(too_many(f"endpoints[{i}].addresses", len(addresses), MAX_ENDPOINT_ADDRESSES))
        for j, address in enumerate(addresses[:MAX_ENDPOINT_ADDRESSES]):
            causes += _slice_address(f"endpoints[{i}].addresses[{j}]", address, address_type)
        if ep.get("nodeName") and dns_subdomain_error(ep["nodeName"]):
            causes.append(invalid_value(f"endpoints[{i}].nodeName", ep["nodeName"], SUBDOMAIN_MSG))
    ports = obj.get("ports") or []
    if len(ports) > MAX_SLICE_PORTS:
        causes.append(too_many("ports", len(ports), MAX_SLICE_PORTS))
    names = set()
    for i, port in enumerate(ports[:MAX_SLICE_PORTS]):
        name = port.get("name") or ""
        if name and dns_label_error(name):
            causes.append(invalid_value(f"ports[{i}].name", name, LABEL_1123_MSG))
        if name in names:
            causes.append(duplicate(f"ports[{i}].name", name))
        names.add(name)
        if port.get("port") is not None:
            causes += _port_number(f"ports[{i}].port", port["port"], allow_zero=True)
        causes += _protocol(f"ports[{i}].protocol", port.get("protocol", "TCP"))
    return causes


def _slice_address(field: str, address: str, address_type: str) -> list[dict]:
    if address_type in ("IPv4", "IPv6") and _ip_error(address, 4 if address_type == "IPv4" else 6):
        return [invalid_value(field, address, f"must be a valid {address_type} address")]
    if address_type == "FQDN" and dns_subdomain_error(address):
        return [invalid_value(field, address, SUBDOMAIN_MSG)]
    return []


def endpoints(obj: dict) -> list[dict]:
    causes = []
    for i, subset in enumerate(obj.get("subsets") or []):
        for kind in ("addresses", "notReadyAddresses"):
            for j, addr in enumerate(subset.get(kind) or []):
                if _ip_error(addr.get("ip", ""), 4) and _ip_error(addr.get("ip", ""), 6):
                    causes.append(invalid_value(f"subsets[{i}].{kind}[{j}].ip", addr.get("ip", ""),
                                                "must be a valid IP address"))
        for j, port in enumerate(subset.get("ports") or []):
            causes += _port_number(f"subsets[{i}].ports[{j}].port", port.get("port"))
            causes += _protocol(f"subsets[{i}].ports[{j}].protocol", port.get("protocol", "TCP"))
    return causes


def event(obj: dict) -> list[dict]:
    involved = obj.get("involvedObject") or {}
    namespace = (obj.get("metadata") or {}).get("namespace")
    if involved.get("namespace") and namespace and involved["namespace"] != namespace:
        return [invalid_value("involvedObject.namespace", involved["namespace"],
                              "does not match event.namespace")]
    return []


def networkpolicy(obj: dict) -> list[dict]:
    spec = obj.get("spec") or {}
    causes = label_selector("spec.podSelector", spec.get("podSelector"))
    for direction, peers in (("ingress", "from"), ("egress", "to")):
        for i, rule in enumerate(spec.get(direction) or []):
            for j, peer in enumerate(rule.get(peers) or []):
                for name in ("podSelector", "namespaceSelector"):
                    causes += label_selector(f"spec.{direction}[{i}].{peers}[{j}].{name}", peer.get(name))
    return causes


_RULES = {
    "pods": pod, "services": service, "endpoints": endpoints, "events": event,
    "deployments.apps": _workload, "replicasets.apps": _workload,
    "daemonsets.apps": _workload,
    "endpointslices.discovery.k8s.io": endpointslice, "networkpolicies.networking.k8s.io": networkpolicy,
}


def validate(resource: str, obj: dict) -> list[dict]:
    """Causes why ``obj`` (already defaulted) is invalid; empty when it is valid."""
    causes = _metadata(resource, obj.get("metadata") or {})
    rule = _RULES.get(resource)
    return causes + (rule(obj) if rule else [])


# Pod spec fields an update may change (upstream ValidatePodUpdate), plus nodeName from unset: the
# simulated scheduler binds by update, standing in for the pods/binding subresource.
_MUTABLE_POD_FIELDS = ("activeDeadlineSeconds", "tolerations", "terminationGracePeriodSeconds",
                       "schedulingGates")

POD_UPDATE_MSG = ("pod updates may not change fields other than `spec.containers[*].image`,"
                  "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only "
                  "additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to "
                  "be set to 1 if it was previously negative)")


def _pod_spec_for_compare(spec: dict, old_node: str | None) -> dict:
    spec = {k: v for k, v in spec.items() if k not in _MUTABLE_POD_FIELDS}
    spec["containers"] = [{k: v for k, v in c.items() if k != "image"} for c in spec.get("containers") or []]
    spec["initContainers"] = [{k: v for k, v in c.items() if k != "image"}
                              for c in spec.get("initContainers") or []]
    if not old_node:
        spec.pop("nodeName", None)
    return spec


def _finalizers_while_deleting(new: dict, old: dict) -> list[dict]:
    """Once an object is being deleted, finalizers may only be removed (upstream ValidateObjectMetaUpdate)."""
    if not old["metadata"].get("deletionTimestamp"):
        return []
    added = [f for f in new["metadata"].get("finalizers") or [] if f not in (old["metadata"].get("finalizers") or [])]
    if not added:
        return []
    return [forbidden("metadata.finalizers", "no new finalizers can be added if the object is being deleted, "
                      f"found new finalizers {json.dumps(added)}")]


def validate_update(resource: str, new: dict, old: dict) -> list[dict]:
    """``validate`` plus the immutability rules of an update from ``old`` to ``new``."""
    causes = validate(resource, new)
    causes += _finalizers_while_deleting(new, old)
    spec, old_spec = new.get("spec") or {}, old.get("spec") or {}
    if resource == "services":
        old_ip, new_ip = old_spec.get("clusterIP"), spec.get("clusterIP")
        if old_ip and new_ip != old_ip and spec.get("type") != "ExternalName" \
                and old_spec.get("type") != "ExternalName":
            causes.append(invalid_value("spec.clusterIPs[0]", spec.get("clusterIPs") or [new_ip],
                                        "may not change once set"))
    elif resource in ("deployments.apps", "replicasets.apps", "daemonsets.apps"):
        if spec.get("selector") != old_spec.get("selector"):
            causes.append(immutable("spec.selector", spec.get("selector")))
    elif resource == "endpointslices.discovery.k8s.io":
        if new.get("addressType") != old.get("addressType"):
            causes.append(immutable("addressType", new.get("addressType")))
    elif resource == "pods":
        old_node = old_spec.get("nodeName")
        if _pod_spec_for_compare(spec, old_node) != _pod_spec_for_compare(old_spec, old_node):
            causes.append(forbidden("spec", POD_UPDATE_MSG))
    return causes
