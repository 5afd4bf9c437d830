"""The Endpoints (v1) controller shell on a real Store and Clock: recreate, delete, leader records."""

from __future__ import annotations

import pytest
from builders import ControllerHarness, pod_with_ip

from helpers.sim.controllers.endpoints import EndpointsController


@pytest.fixture
def h():
    harness = ControllerHarness()
    harness.store.create(
        "services",
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "svc"},
            "spec": {"selector": {"app": "a"}, "ports": [{"port": 80}]},
        },
        namespace="ns",
    )
    pod = harness.store.create("pods", pod_with_ip("10.0.0.1"), namespace="ns")
    pod["status"] = pod_with_ip("10.0.0.1")["status"]
    harness.store.update("pods", pod, subresource="status")
    yield harness
    harness.stop()


def endpoints_names(h):
    return sorted(e["metadata"]["name"] for e in h.store.list("endpoints", "ns")[0])


def test_deleted_endpoints_are_recreated_and_follow_the_service(h):
    EndpointsController(h).start()
    h.clock.advance(1)
    assert endpoints_names(h) == ["svc"]
    h.store.delete("endpoints", "svc", "ns")
    h.clock.advance(1)
    assert h.store.get("endpoints", "svc", "ns")["subsets"][0]["addresses"][0]["ip"] == "10.0.0.1"
    h.store.delete("services", "svc", "ns")
    h.clock.advance(1)
    assert endpoints_names(h) == []


def test_orphans_are_deleted_at_start_but_leader_records_survive(h):
    for name, notes in (("orphan", {}), ("lock", {"control-plane.alpha.kubernetes.io/leader": "{}"})):
        h.store.create(
            "endpoints",
            {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": name, "annotations": notes}},
            namespace="ns",
        )
    EndpointsController(h).start()
    h.clock.advance(1)
    assert endpoints_names(h) == ["lock", "svc"]
