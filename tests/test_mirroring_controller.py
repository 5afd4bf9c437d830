"""The mirroring controller shell on a real Store and Clock: selectorless Services only (#105987)."""

from __future__ import annotations

import pytest
from builders import ControllerHarness

from helpers.kube import ENDPOINT_SLICES
from helpers.sim.controllers.mirroring import EndpointSliceMirroringController


@pytest.fixture
def h():
    harness = ControllerHarness()
    harness.store.create(
        "services",
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "ext"},
            "spec": {"ports": [{"port": 80}]},
        },
        namespace="ns",
    )
    harness.store.create(
        "endpoints",
        {
            "apiVersion": "v1",
            "kind": "Endpoints",
            "metadata": {"name": "ext"},
            "subsets": [{"addresses": [{"ip": "192.0.2.1"}], "ports": [{"port": 80}]}],
        },
        namespace="ns",
    )
    EndpointSliceMirroringController(harness).start()
    harness.clock.advance(1)
    yield harness
    harness.stop()


def mirrored(h):
    return h.store.list(ENDPOINT_SLICES, "ns")[0]


def test_custom_endpoints_follow_edits(h):
    (s,) = mirrored(h)
    assert s["endpoints"][0]["addresses"] == ["192.0.2.1"]
    endpoints = h.store.get("endpoints", "ext", "ns")
    endpoints["subsets"][0]["addresses"].append({"ip": "192.0.2.2"})
    h.store.update("endpoints", endpoints)
    h.clock.advance(1)
    (updated,) = mirrored(h)
    assert updated["metadata"]["name"] == s["metadata"]["name"]
    assert sorted(ep["addresses"][0] for ep in updated["endpoints"]) == ["192.0.2.1", "192.0.2.2"]


def test_adding_a_selector_removes_the_mirrored_slices(h):
    service = h.store.get("services", "ext", "ns")
    service["spec"]["selector"] = {"app": "x"}
    h.store.update("services", service)
    h.clock.advance(1)
    assert mirrored(h) == []


def test_deleting_the_endpoints_removes_the_mirrored_slices(h):
    h.store.delete("endpoints", "ext", "ns")
    h.clock.advance(2)
    assert mirrored(h) == []
