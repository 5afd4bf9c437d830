"""Which pods are endpoints, and which pod changes concern which Services.

Follows kubernetes/kubernetes v1.36 `staging/src/k8s.io/endpointslice/util/controller_utils.go`
(ShouldPodBeInEndpoints, ShouldSetHostname, podEndpointsChanged, GetServicesToUpdate,
NewPortMapKey, EndpointsEqualBeyondHash), which the EndpointSlice and Endpoints controllers
share. This is the event routing of both controllers: a pod event is turned into the set of
Services to sync. Pure functions over plain dicts.
"""

from __future__ import annotations

from helpers.controlplane.endpointslice.utils import pod_ips
from helpers.kube import is_ready, is_terminal, is_terminating, selector_matches


def should_pod_be_in_endpoints(pod: dict, include_terminating: bool) -> bool:
    """Upstream ShouldPodBeInEndpoints: not terminal, has an IP, terminating only if asked."""
    status = pod.get("status") or {}
    if is_terminal(pod):
        return False
    if not status.get("podIP") and not status.get("podIPs"):
        return False
    return include_terminating or not is_terminating(pod)


def should_set_hostname(pod: dict, service: dict) -> bool:
    """Hostname is published only for pods whose subdomain names this Service (StatefulSet pattern)."""
    spec = pod.get("spec") or {}
    return (
        bool(spec.get("hostname"))
        and spec.get("subdomain") == service["metadata"]["name"]
        and pod["metadata"].get("namespace") == service["metadata"].get("namespace")
    )


def port_map_key(ports: list[dict] | None) -> tuple:
    """Order-insensitive identity of a port list (upstream NewPortMapKey)."""
    return tuple(
        sorted(
            (p.get("name") or "", p.get("port") or 0, p.get("protocol") or "TCP", p.get("appProtocol") or "")
            for p in ports or ()
        )
    )


def pod_endpoints_changed(old: dict, new: dict) -> tuple[bool, bool]:
    """(pod changed in an endpoint-relevant way, labels/hostname changed) (upstream podEndpointsChanged)."""
    ospec, nspec = old.get("spec") or {}, new.get("spec") or {}
    labels_changed = (old["metadata"].get("labels") or {}) != (new["metadata"].get("labels") or {}) or (
        ospec.get("hostname"),
        ospec.get("subdomain"),
    ) != (nspec.get("hostname"), nspec.get("subdomain"))
    if old["metadata"].get("deletionTimestamp") != new["metadata"].get("deletionTimestamp"):
        return True, labels_changed
    if is_ready(old) != is_ready(new):
        return True, labels_changed
    return pod_ips(old) != pod_ips(new), labels_changed


def services_to_update(services: list[dict], old_pod: dict | None, new_pod: dict | None) -> set[str]:
    """Names of Services a pod event concerns (upstream GetPodUpdateProjectionKey + GetServicesToUpdate)."""

    def matching(pod):
        labels = pod["metadata"].get("labels")
        return {
            s["metadata"]["name"] for s in services if selector_matches(s["spec"].get("selector"), labels)
        }

    if old_pod is None or new_pod is None:
        return matching(new_pod or old_pod)
    if old_pod["metadata"].get("resourceVersion") == new_pod["metadata"].get("resourceVersion"):
        return set()
    pod_changed, labels_changed = pod_endpoints_changed(old_pod, new_pod)
    if not labels_changed:
        return matching(new_pod) if pod_changed else set()
    before, after = matching(old_pod), matching(new_pod)
    return before | after if pod_changed else before ^ after


def pod_event_states(event_type: str, obj: dict, old: dict | None) -> tuple[dict | None, dict | None]:
    """(old pod, new pod) of a store event; None stands for "did not exist"."""
    if event_type == "ADDED":
        return None, obj
    if event_type == "DELETED":
        return obj, None
    return old, obj


def _ref_without_rv(ref):
    return {k: v for k, v in ref.items() if k != "resourceVersion"} if ref else ref


def endpoints_equal_beyond_hash(a: dict, b: dict) -> bool:
    """Compare what the identity does not cover (upstream EndpointsEqualBeyondHash)."""
    if a == b:
        return True
    return (
        a.get("nodeName") == b.get("nodeName")
        and a.get("zone") == b.get("zone")
        and (a.get("conditions") or {}) == (b.get("conditions") or {})
        and (
            a.get("targetRef") == b.get("targetRef")
            or _ref_without_rv(a.get("targetRef")) == _ref_without_rv(b.get("targetRef"))
        )
    )
