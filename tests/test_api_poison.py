"""Issue 20 #2, #4: bodies that would store a poison object or grow memory without bound are refused."""

import json
import time

import pytest
from apiharness import Harness, request
from builders import deployment, node

from helpers.sim import store as store_module
from helpers.sim.store import Store

NODES = "/api/v1/nodes"
DEPLOYMENTS = "/apis/apps/v1/namespaces/default/deployments"
YAML = {"Content-Type": "application/yaml"}


@pytest.fixture(scope="module")
def h():
    harness = Harness()
    yield harness
    harness.stop()


def assert_400(status, payload, *fragments):
    assert status == 400 and payload["kind"] == "Status" and payload["reason"] == "BadRequest", payload
    for fragment in fragments:
        assert fragment in payload["message"], payload["message"]


def readers_still_work(h):
    for path in (NODES, "/api/v1/pods", DEPLOYMENTS, "/apis/networking.k8s.io/v1/networkpolicies"):
        status, _, payload = request(h.server.url, "GET", path, headers={
            "Accept": "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"})
        assert status == 200, payload


@pytest.mark.parametrize("path,body,field", [
    (NODES, {"metadata": {"name": "n1"}, "spec": {"taints": [None]}}, "spec.taints[0]"),
    (NODES, {"metadata": {"name": "n2"}, "status": {"conditions": [None]}}, "status.conditions[0]"),
    ("/api/v1/namespaces/default/pods", {"metadata": {"name": "p", "ownerReferences": [None]},
                                         "spec": {"containers": [{"name": "c", "image": "i"}]}},
     "metadata.ownerReferences[0]"),
    ("/apis/networking.k8s.io/v1/namespaces/default/networkpolicies",
     {"metadata": {"name": "np"}, "spec": {"podSelector": {}, "policyTypes": [None]}}, "spec.policyTypes[0]"),
])
def test_null_list_items_are_refused(h, path, body, field):
    status, _, payload = request(h.server.url, "POST", path, body)
    assert_400(status, payload, f"null is not a valid item of the list {field}")
    readers_still_work(h)


def test_null_fields_are_unset_as_go_decodes_them(h):
    body = deployment("nulls")
    body["metadata"]["annotations"] = {"a": None, "b": "1"}
    body["spec"]["replicas"] = None  # unset: defaulted to 1
    body["spec"]["selector"]["matchExpressions"] = [{"key": None, "operator": "Exists"}]
    status, _, payload = request(h.server.url, "POST", DEPLOYMENTS, body)
    assert status == 422, payload  # the expression has no key: upstream's validation refuses it
    del body["spec"]["selector"]["matchExpressions"]
    status, _, payload = request(h.server.url, "POST", DEPLOYMENTS, body)
    assert status == 201, payload
    assert payload["metadata"]["annotations"] == {"b": "1"} and payload["spec"]["replicas"] == 1
    readers_still_work(h)
    h.store.delete("deployments.apps", "nulls", "default")


@pytest.mark.parametrize("value,literal", [(10 ** 30, "1000000000000000000000000000000"), (2 ** 31, "2147483648"),
                                           (-(2 ** 31) - 1, "-2147483649")])
def test_int32_fields_refuse_what_overflows_them(h, value, literal):
    body = deployment("huge")
    body["spec"]["replicas"] = value
    status, _, payload = request(h.server.url, "POST", DEPLOYMENTS, body)
    assert_400(status, payload, f"cannot unmarshal number {literal} into Go struct field spec.replicas of type int32")


def test_int64_fields_take_int64_and_no_number_exceeds_it(h):
    lease = {"metadata": {"name": "wide"}, "spec": {"leaseDurationSeconds": 2 ** 31 - 1}}
    status, _, payload = request(h.server.url, "POST", "/apis/coordination.k8s.io/v1/namespaces/default/leases", lease)
    assert status == 201, payload
    body = deployment("grace")
    body["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = 2 ** 63
    status, _, payload = request(h.server.url, "POST", DEPLOYMENTS, body)
    assert_400(status, payload, "json: cannot unmarshal number")
    status, _, payload = request(h.server.url, "POST", DEPLOYMENTS,
                                 json.dumps(deployment("x")).replace('"replicas": 2', '"replicas": 1e400').encode())
    assert status == 400, payload


@pytest.mark.parametrize("text", [b'{"metadata": {"name": "nan"}, "spec": {"replicas": NaN}}',
                                  b'{"metadata": {"name": "inf", "labels": {"a": Infinity}}}'])
def test_json_nan_and_infinity_are_refused(h, text):
    status, _, payload = request(h.server.url, "POST", DEPLOYMENTS, text)
    assert_400(status, payload)


def test_yaml_bodies_decode_to_json_values_only(h):
    status, _, payload = request(h.server.url, "POST", NODES, b"metadata: {name: when, annotations: {at: 2020-01-01}}\n"
                                 b"spec: {podCIDR: 2020-01-01T00:00:00Z}\n", YAML)
    assert status == 201, payload  # timestamps stay strings, as sigs.k8s.io/yaml converts them
    assert payload["metadata"]["annotations"] == {"at": "2020-01-01"}
    assert payload["spec"]["podCIDR"] == "2020-01-01T00:00:00Z"
    status, _, payload = request(h.server.url, "POST", DEPLOYMENTS,
                                 b"metadata: {name: dated}\nspec: {replicas: 2020-01-01}\n", YAML)
    assert_400(status, payload, "of type int32")
    status, _, payload = request(h.server.url, "POST", NODES, b"metadata: {name: nan}\nspec: {x: .nan}\n", YAML)
    assert_400(status, payload)
    readers_still_work(h)


def test_yaml_alias_bombs_are_refused_quickly(h):
    bomb = b"a: &a [x, x, x, x, x, x, x, x, x]\n" + b"".join(
        b"%s: &%s [*%s, *%s, *%s, *%s, *%s, *%s, *%s, *%s, *%s]\n" % ((chr(98 + i).encode(),) * 2 + (chr(97 + i).encode(),) * 9)
        for i in range(8)) + b"metadata: {name: bomb}\n"
    started = time.monotonic()
    status, _, payload = request(h.server.url, "POST", NODES, bomb, YAML)
    assert_400(status, payload, "aliases")
    assert time.monotonic() - started < 5


def test_deep_nesting_is_a_400(h):
    deep = b'{"metadata": {"name": "deep", "annotations": ' + b"[" * 1000 + b"]" * 1000 + b"}}"
    status, _, payload = request(h.server.url, "POST", NODES, deep)
    assert_400(status, payload, "nested")
    deep = b'{"metadata": {"name": "deep"}, "spec": ' + b'{"a": ' * 150 + b"1" + b"}" * 150 + b"}"
    status, _, payload = request(h.server.url, "POST", NODES, deep)
    assert_400(status, payload, "nested")


def test_history_is_bounded_in_bytes():
    store = Store(history_bytes=1024 * 1024)
    store.create("namespaces", {"metadata": {"name": "default"}})
    for i in range(20):
        store.create("leases.coordination.k8s.io", {"metadata": {"name": f"l{i}", "annotations": {"a": "x" * 200_000}}},
                     namespace="default")
    assert store._history_bytes <= 1024 * 1024 and len(store._history) < 10
    assert store._compacted_rv > 0


def test_a_watcher_that_never_reads_is_dropped(monkeypatch):
    monkeypatch.setattr(store_module, "MAX_WATCH_QUEUE", 50)
    store = Store()
    store.create("namespaces", {"metadata": {"name": "default"}})
    slow = store.watch("nodes")
    fast = store.watch("nodes")
    for i in range(60):
        store.create("nodes", node(f"n{i}", f"10.0.0.{i}"))
        assert fast.get(1) is not None
    assert slow.dropped and slow.stopped and slow.get(0) is None
    assert not fast.dropped
