"""Malformed bodies of every shape, for every resource: always a 4xx Status, never a 500 or a traceback."""

import json

import pytest
from apiharness import Harness, request
from builders import deployment

from helpers.sim.api.resources import RESOURCES

NAMED = {"name": "x"}
BODIES = [
    [], "x", 5, {"metadata": []}, {"metadata": {"name": 5}}, {"metadata": {"name": "x", "labels": []}},
    {"metadata": {"name": "x", "labels": {"a": 5}}}, {"metadata": {"name": "x", "finalizers": "a"}},
    {"metadata": NAMED, "spec": []}, {"metadata": NAMED, "spec": {"ports": {}}},
    {"metadata": NAMED, "spec": {"ports": [5]}}, {"metadata": NAMED, "spec": {"ports": [{"port": "80"}]}},
    {"metadata": NAMED, "spec": {"containers": "x"}},
    {"metadata": NAMED, "spec": {"containers": [{"name": 5, "image": []}]}},
    {"metadata": NAMED, "spec": {"selector": "app=web", "template": []}},
    {"metadata": NAMED, "spec": {"selector": {"matchExpressions": [{"key": "a", "operator": "Bogus"}]}}},
    {"metadata": NAMED, "endpoints": "e", "ports": 5, "addressType": 4},
    {"metadata": NAMED, "endpoints": [{"addresses": "1.2.3.4"}], "addressType": "IPv4"},
    {"metadata": NAMED, "subsets": [{"addresses": [{"ip": 5}], "ports": [{"port": "x"}]}]},
    {"metadata": NAMED, "spec": {"type": "NodePort", "ports": [{"port": 80, "nodePort": "x"}]}},
    {"metadata": NAMED, "spec": {"clusterIP": "not-an-ip", "ports": [{"port": 80}]}},
    {"metadata": NAMED, "spec": {"podSelector": {"matchLabels": {"a": 1}}, "ingress": "x"}},
    {"metadata": NAMED, "involvedObject": "x"},
    {"metadata": NAMED, "spec": {"replicas": "3"}},
]


@pytest.fixture(scope="module")
def h():
    harness = Harness()
    yield harness
    harness.stop()


def collection(resource) -> str:
    if resource.namespaced:
        return f"{resource.path_prefix}/namespaces/default/{resource.plural}"
    return f"{resource.path_prefix}/{resource.plural}"


@pytest.mark.parametrize("resource", RESOURCES, ids=lambda r: r.key)
def test_malformed_creates_are_client_errors(h, resource):
    for body in BODIES:
        status, _, payload = request(h.server.url, "POST", collection(resource), json.dumps(body).encode())
        if status < 300:  # harmless for this kind (the fields it does not have are dropped): clean up
            request(h.server.url, "DELETE", f"{collection(resource)}/x?gracePeriodSeconds=0")
            continue
        assert 400 <= status < 500, (body, payload)
        assert payload["kind"] == "Status" and payload["code"] == status


def test_wrong_types_in_patches_and_updates(h):
    h.store.create("deployments.apps", deployment("typed"), namespace="default")
    path = "/apis/apps/v1/namespaces/default/deployments/typed"
    status, _, payload = request(h.server.url, "PATCH", path, {"spec": {"replicas": "three"}},
                                 {"Content-Type": "application/merge-patch+json"})
    assert status == 400 and payload["message"] == (
        'Deployment in version "v1" cannot be handled as a Deployment: json: cannot unmarshal string into Go '
        "struct field spec.replicas of type int32")
    status, _, payload = request(h.server.url, "PUT", path, {**deployment("typed"), "spec": {"template": 5}})
    assert status == 400 and "spec.template" in payload["message"]
    status, _, payload = request(h.server.url, "PATCH", path, [{"op": "replace", "path": "/spec/selector",
                                                                "value": "app=typed"}],
                                 {"Content-Type": "application/json-patch+json"})
    assert status == 400 and "spec.selector" in payload["message"]
    status, _, payload = request(h.server.url, "PUT", path + "/scale", {"spec": {"replicas": "x"}})
    assert status == 422 and payload["reason"] == "Invalid"
