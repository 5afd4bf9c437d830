"""Shared endpoint-controller helpers: trigger times, pod event routing, ports, names, times."""

from __future__ import annotations

from datetime import UTC, datetime

from helpers.controlplane.endpointslice.controller_utils import services_to_update
from helpers.controlplane.endpointslice.trigger_time_tracker import TriggerTimeTracker
from helpers.controlplane.endpointslice.utils import address_types_for_service, find_port, slice_prefix
from helpers.kube import format_rfc3339nano


def svc(name, selector, created="2026-01-01T00:00:00Z"):
    return {
        "metadata": {"name": name, "namespace": "ns", "creationTimestamp": created},
        "spec": {"selector": selector},
    }


def pod(labels, rv="1", ready_at=None, ready=True, ips=("10.0.0.1",)):
    conditions = (
        [{"type": "Ready", "status": "True" if ready else "False", "lastTransitionTime": ready_at}]
        if ready_at
        else []
    )
    return {
        "metadata": {"name": "p", "namespace": "ns", "labels": labels, "resourceVersion": rv},
        "spec": {},
        "status": {"podIPs": [{"ip": ip} for ip in ips], "conditions": conditions},
    }


def test_trigger_time_first_sync_then_earliest_change_then_none():
    tracker = TriggerTimeTracker()
    service = svc("a", {"app": "a"})
    p1 = pod({"app": "a"}, ready_at="2026-01-01T00:01:00Z")
    assert tracker.compute(service, [p1]) == datetime(2026, 1, 1, tzinfo=UTC)
    assert tracker.compute(service, [p1]) is None
    p2 = dict(pod({"app": "a"}, ready_at="2026-01-01T00:03:00Z"), metadata={"name": "q", "labels": {}})
    p1b = pod({"app": "a"}, ready_at="2026-01-01T00:02:00Z")
    assert tracker.compute(service, [p1b, p2]) == datetime(2026, 1, 1, 0, 2, tzinfo=UTC)
    tracker.forget("ns", "a")
    assert tracker.compute(service, [p1b, p2]) == datetime(2026, 1, 1, tzinfo=UTC)


def test_pod_events_reach_the_right_services():
    services = [svc("a", {"app": "a"}), svc("b", {"tier": "web"}), svc("none", None)]
    old = pod({"app": "a"}, rv="1")
    assert services_to_update(services, None, old) == {"a"}
    assert services_to_update(services, old, old) == set()  # resync: same resourceVersion
    annotated = pod({"app": "a"}, rv="2")
    assert services_to_update(services, old, annotated) == set()  # nothing endpoint-relevant
    relabelled = pod({"app": "a", "tier": "web"}, rv="2")
    assert services_to_update(services, old, relabelled) == {"b"}  # symmetric difference
    moved = pod({"tier": "web"}, rv="2", ips=("10.0.0.9",))
    assert services_to_update(services, old, moved) == {"a", "b"}  # union when the pod changed too


def test_named_ports_resolve_by_name_and_protocol_including_sidecars():
    p = {
        "spec": {
            "containers": [{"name": "c", "ports": [{"name": "dns", "containerPort": 53, "protocol": "UDP"}]}],
            "initContainers": [
                {
                    "name": "s",
                    "restartPolicy": "Always",
                    "ports": [{"name": "metrics", "containerPort": 9090}],
                }
            ],
        }
    }
    assert find_port(p, {"port": 53, "targetPort": "dns", "protocol": "UDP"}) == 53
    assert find_port(p, {"port": 53, "targetPort": "dns", "protocol": "TCP"}) is None
    assert find_port(p, {"port": 80, "targetPort": "metrics"}) == 9090
    assert find_port(p, {"port": 80}) == 80


def test_names_times_and_families():
    assert slice_prefix("web") == "web-"
    assert format_rfc3339nano("2026-01-01T00:00:05.120000Z") == "2026-01-01T00:00:05.12Z"
    assert format_rfc3339nano(datetime(2026, 1, 1, tzinfo=UTC)) == "2026-01-01T00:00:00Z"
    assert address_types_for_service({"spec": {"clusterIP": "fd00::1"}}) == ["IPv6"]
    assert address_types_for_service({"spec": {"clusterIP": "None"}}) == ["IPv4", "IPv6"]
    assert address_types_for_service({"spec": {"ipFamilies": ["IPv6", "IPv4"]}}) == ["IPv6", "IPv4"]
