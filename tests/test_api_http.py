"""The simulated API server on the wire: discovery, OpenAPI, content negotiation, errors and watches,
checked with raw HTTP so the exact status codes, headers and framing are visible."""

import json
import threading
import time

import pytest
from apiharness import Harness, request, stream
from builders import pod

from helpers.config import KUBERNETES_VERSION
from helpers.sim.server import serve
from helpers.sim.store import Store

TABLE_ACCEPT = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
AGGREGATED_ACCEPT = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"


@pytest.fixture(scope="module")
def h():
    harness = Harness()
    yield harness
    harness.stop()


def events(resp, count=None):
    out = []
    while count is None or len(out) < count:
        line = resp.readline()
        if not line:
            break
        assert line.endswith(b"\n")
        out.append(json.loads(line))
    return out


# ----------------------------------------------------------------------------- discovery and documents


def test_aggregated_discovery_has_exact_content_type(h):
    status, resp, body = request(h.server.url, "GET", "/apis", headers={"Accept": AGGREGATED_ACCEPT})
    assert status == 200
    assert resp.getheader("Content-Type") == "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
    groups = {item["metadata"]["name"]: item for item in body["items"]}
    assert set(groups) == {"apps", "discovery.k8s.io", "networking.k8s.io", "coordination.k8s.io",
                           "authentication.k8s.io", "authorization.k8s.io", "batch", "policy",
                           "rbac.authorization.k8s.io", "storage.k8s.io", "autoscaling"}
    deploy = next(r for r in groups["apps"]["versions"][0]["resources"] if r["resource"] == "deployments")
    scale = next(s for s in deploy["subresources"] if s["subresource"] == "scale")
    assert scale["responseKind"] == {"group": "autoscaling", "version": "v1", "kind": "Scale"}
    assert deploy["categories"] == ["all"] and deploy["shortNames"] == ["deploy"]
    _, _, core = request(h.server.url, "GET", "/api", headers={"Accept": AGGREGATED_ACCEPT})
    assert "name" not in core["items"][0]["metadata"]


def test_legacy_discovery(h):
    _, _, versions = request(h.server.url, "GET", "/api")
    assert versions["kind"] == "APIVersions" and versions["versions"] == ["v1"]
    _, _, groups = request(h.server.url, "GET", "/apis")
    assert groups["kind"] == "APIGroupList"
    _, _, core = request(h.server.url, "GET", "/api/v1")
    by_name = {r["name"]: r for r in core["resources"]}
    assert by_name["pods"]["shortNames"] == ["po"] and "shortNames" not in by_name["pods/status"]
    assert by_name["pods/log"]["verbs"] == ["get"]
    _, _, apps = request(h.server.url, "GET", "/apis/apps/v1")
    scale = next(r for r in apps["resources"] if r["name"] == "deployments/scale")
    assert (scale["group"], scale["version"], scale["kind"]) == ("autoscaling", "v1", "Scale")
    status, _, group = request(h.server.url, "GET", "/apis/discovery.k8s.io")
    assert status == 200 and group["preferredVersion"]["groupVersion"] == "discovery.k8s.io/v1"


def test_version_and_openapi(h):
    _, _, version = request(h.server.url, "GET", "/version")
    major, minor, _ = KUBERNETES_VERSION.lstrip("v").split(".")
    assert version["gitVersion"] == f"{KUBERNETES_VERSION}-sim" and (version["major"], version["minor"]) == (major, minor)
    _, _, index = request(h.server.url, "GET", "/openapi/v3")
    url = index["paths"]["apis/discovery.k8s.io/v1"]["serverRelativeURL"]
    _, _, doc = request(h.server.url, "GET", url)
    ops = [p["patch"] for p in doc["paths"].values()]
    gvks = {op["x-kubernetes-group-version-kind"]["kind"] for op in ops}
    assert gvks == {"EndpointSlice"}
    assert "fieldValidation" in {p["name"] for p in ops[0]["parameters"]}
    status, _, body = request(h.server.url, "GET", "/openapi/v2")
    assert status == 404 and body["kind"] == "Status"


# ----------------------------------------------------------------------------- errors as Status objects


@pytest.mark.parametrize("method,path,body,headers,code,reason", [
    ("POST", "/api/v1/namespaces/default/pods", b'{"metadata": ', {"Content-Type": "application/json"},
     400, "BadRequest"),
    ("POST", "/api/v1/namespaces/default/pods", b"k8s\x00\n\x0f", {
        "Content-Type": "application/vnd.kubernetes.protobuf"}, 400, "BadRequest"),
    ("GET", "/api/v1/widgets", None, {}, 404, "NotFound"),
    ("GET", "/apis/batch/v1/widgets", None, {}, 404, "NotFound"),
    ("GET", "/api/v1/pods/x", None, {}, 404, "NotFound"),
    ("PUT", "/api/v1/namespaces/default/pods", b"{}", {}, 405, "MethodNotAllowed"),
    ("GET", "/api/v1/pods?labelSelector=a%20in%20(b", None, {}, 400, "BadRequest"),
    ("GET", "/api/v1/pods?fieldSelector=spec.foo%3Dbar", None, {}, 400, "BadRequest"),
    ("PATCH", "/api/v1/namespaces/default/pods/x", b"{}", {"Content-Type": "text/plain"}, 415,
     "UnsupportedMediaType"),
    ("GET", "/sim/info", None, {}, 404, "NotFound"),
    ("PUT", "/api/v1/namespaces/default/pods/p", b'{"metadata": {"name": "p", "namespace": "kube-system"}}', {},
     400, "BadRequest"),
    ("POST", "/api/v1/namespaces/default/pods", b"{}", {"Content-Length": "abc"}, 400, "BadRequest"),
])
def test_bad_requests_get_status_objects(h, method, path, body, headers, code, reason):
    status, _, payload = request(h.server.url, method, path, body, headers)
    assert status == code
    assert payload["kind"] == "Status" and payload["reason"] == reason and payload["code"] == code


def test_yaml_bodies_and_missing_content_type_are_accepted(h):
    status, _, created = request(h.server.url, "POST", "/api/v1/namespaces/default/pods",
                                 b"metadata: {name: from-yaml}\nspec: {containers: [{name: c, image: nginx}]}\n",
                                 {"Content-Type": "application/yaml"})
    assert status == 201 and created["metadata"]["name"] == "from-yaml"
    status, _, created = request(h.server.url, "POST", "/api/v1/namespaces/default/pods", pod("no-ctype"))
    assert status == 201 and created["kind"] == "Pod"


def test_handler_crash_is_a_500_status_and_control_is_routed():
    def control(method, path, query, body):
        if path == "/sim/boom":
            raise RuntimeError("kaboom")
        return 200, "application/json", json.dumps({"path": path, "query": query}).encode()

    server = serve(Store(), control=control)
    try:
        status, _, payload = request(server.url, "GET", "/sim/info?x=1")
        assert status == 200 and payload == {"path": "/sim/info", "query": {"x": "1"}}
        status, _, payload = request(server.url, "POST", "/sim/boom", b"{}")
        # a 500 Status, without the exception's text (that goes to the log only)
        assert status == 500 and payload["reason"] == "InternalError" and "kaboom" not in json.dumps(payload)
        status, _, _ = request(server.url, "GET", "/version")  # the server keeps serving
        assert status == 200
    finally:
        server.shutdown()


def test_refuses_non_loopback_hosts():
    with pytest.raises(ValueError, match="loopback"):
        serve(Store(), host="0.0.0.0")


def test_endpoints_requests_carry_the_deprecation_warning(h):
    _, resp, _ = request(h.server.url, "GET", "/api/v1/endpoints")
    assert resp.getheader("Warning") == \
        '299 - "v1 Endpoints is deprecated in v1.33+; use discovery.k8s.io/v1 EndpointSlice"'
    _, resp, _ = request(h.server.url, "GET", "/api/v1/pods")
    assert resp.getheader("Warning") is None


# ----------------------------------------------------------------------------- lists and Tables


EXPECTED_COLUMNS = {
    "/api/v1/pods": ["Name", "Ready", "Status", "Restarts", "Age", "IP", "Node", "Nominated Node",
                     "Readiness Gates"],
    "/api/v1/services": ["Name", "Type", "Cluster-IP", "External-IP", "Port(s)", "Age", "Selector"],
    "/api/v1/endpoints": ["Name", "Endpoints", "Age"],
    "/api/v1/nodes": ["Name", "Status", "Roles", "Age", "Version", "Internal-IP", "External-IP", "OS-Image",
                      "Kernel-Version", "Container-Runtime"],
    "/api/v1/namespaces": ["Name", "Status", "Age"],
    "/api/v1/events": ["Last Seen", "Type", "Reason", "Object", "Subobject", "Source", "Message", "First Seen",
                       "Count", "Name"],
    "/apis/apps/v1/deployments": ["Name", "Ready", "Up-to-date", "Available", "Age", "Containers", "Images",
                                  "Selector"],
    "/apis/apps/v1/replicasets": ["Name", "Desired", "Current", "Ready", "Age", "Containers", "Images", "Selector"],
    "/apis/apps/v1/daemonsets": ["Name", "Desired", "Current", "Ready", "Up-to-date", "Available",
                                 "Node Selector", "Age", "Containers", "Images", "Selector"],
    "/apis/discovery.k8s.io/v1/endpointslices": ["Name", "AddressType", "Ports", "Endpoints", "Age"],
    "/apis/networking.k8s.io/v1/networkpolicies": ["Name", "Pod-Selector", "Age"],
    "/apis/networking.k8s.io/v1/servicecidrs": ["Name", "CIDRs", "Age"],
    "/apis/coordination.k8s.io/v1/leases": ["Name", "Holder", "Age"],
}


@pytest.mark.parametrize("path", sorted(EXPECTED_COLUMNS))
def test_table_columns_per_kind(h, path):
    status, resp, table = request(h.server.url, "GET", path + "?limit=500", headers={"Accept": TABLE_ACCEPT})
    assert status == 200 and resp.getheader("Content-Type") == "application/json;as=Table;v=v1;g=meta.k8s.io"
    assert table["kind"] == "Table" and table["metadata"]["resourceVersion"] == h.store.resource_version
    assert [c["name"] for c in table["columnDefinitions"]] == EXPECTED_COLUMNS[path]


def test_table_rows_carry_metadata_or_whole_objects(h):
    h.store.create("namespaces", {"metadata": {"name": "tables"}})
    h.store.create("networkpolicies.networking.k8s.io", {"metadata": {"name": "deny"}, "spec": {
        "podSelector": {"matchLabels": {"app": "web"}}}}, namespace="tables")
    path = "/apis/networking.k8s.io/v1/namespaces/tables/networkpolicies"
    _, _, table = request(h.server.url, "GET", path, headers={"Accept": TABLE_ACCEPT})
    row = table["rows"][0]
    assert row["cells"][:2] == ["deny", "app=web"]
    assert row["object"]["kind"] == "PartialObjectMetadata" and "spec" not in row["object"]
    _, _, table = request(h.server.url, "GET", path + "?includeObject=Object", headers={"Accept": TABLE_ACCEPT})
    assert table["rows"][0]["object"]["spec"]["policyTypes"] == ["Ingress"]
    _, _, one = request(h.server.url, "GET", path + "/deny", headers={"Accept": TABLE_ACCEPT})
    assert one["kind"] == "Table" and len(one["rows"]) == 1


def test_lists_have_kind_and_resource_version(h):
    _, _, body = request(h.server.url, "GET", "/apis/discovery.k8s.io/v1/endpointslices")
    assert body["kind"] == "EndpointSliceList" and body["apiVersion"] == "discovery.k8s.io/v1"
    assert body["metadata"]["resourceVersion"] == h.store.resource_version


def test_delete_collection_by_label(h):
    h.store.create("namespaces", {"metadata": {"name": "bulk"}})
    for name, app in (("a", "x"), ("b", "x"), ("c", "y")):
        h.store.create("pods", pod(name, labels={"app": app}), namespace="bulk")
    status, _, body = request(h.server.url, "DELETE", "/api/v1/namespaces/bulk/pods?labelSelector=app%3Dx")
    assert status == 200 and [p["metadata"]["name"] for p in body["items"]] == ["a", "b"]
    assert [p["metadata"]["name"] for p in h.store.list("pods", "bulk")[0]] == ["c"]


def test_binding_subresource_assigns_a_node(h):
    h.store.create("namespaces", {"metadata": {"name": "bind"}})
    h.store.create("pods", pod("p"), namespace="bind")
    binding = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "p"}, "target": {"name": "node-a"}}
    status, _, _ = request(h.server.url, "POST", "/api/v1/namespaces/bind/pods/p/binding", binding)
    assert status == 201 and h.store.get("pods", "p", "bind")["spec"]["nodeName"] == "node-a"
    status, _, body = request(h.server.url, "POST", "/api/v1/namespaces/bind/pods/p/binding", binding)
    assert status == 409 and "already assigned" in body["message"]


# ----------------------------------------------------------------------------- watches


def test_watch_framing_resume_and_timeout(h):
    h.store.create("namespaces", {"metadata": {"name": "wire"}})
    rv = h.store.resource_version
    h.store.create("pods", pod("one"), namespace="wire")
    conn, resp = stream(h.server.url, f"/api/v1/namespaces/wire/pods?watch=true&resourceVersion={rv}"
                                      "&timeoutSeconds=1")
    assert resp.status == 200 and resp.getheader("Transfer-Encoding") == "chunked"
    got = events(resp)  # ends when the server closes the stream after timeoutSeconds
    conn.close()
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in got] == [("ADDED", "one")]


def test_watch_from_compacted_version_is_an_expired_error_event():
    small = Harness(history_size=2)
    try:
        old = small.store.resource_version
        for name in "abc":
            small.store.create("pods", pod(name), namespace="default")
        conn, resp = stream(small.server.url, f"/api/v1/pods?watch=1&resourceVersion={old}")
        got = events(resp)
        conn.close()
        assert resp.status == 200 and len(got) == 1 and got[0]["type"] == "ERROR"
        assert got[0]["object"]["code"] == 410 and got[0]["object"]["reason"] == "Expired"
    finally:
        small.stop()


def test_streaming_list_and_periodic_bookmarks():
    store = Store()
    store.create("namespaces", {"metadata": {"name": "default"}})
    store.create("pods", pod("p"), namespace="default")
    server = serve(store, bookmark_interval=0.2)
    try:
        status, _, body = request(server.url, "GET", "/api/v1/pods?watch=true&sendInitialEvents=true")
        assert status == 422 and body["reason"] == "Invalid"
        conn, resp = stream(server.url, "/api/v1/namespaces/default/pods?watch=true&sendInitialEvents=true"
                                        "&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true"
                                        "&fieldSelector=metadata.name%3Dp")
        first = events(resp, 3)
        conn.close()
        assert [e["type"] for e in first] == ["ADDED", "BOOKMARK", "BOOKMARK"]
        assert first[1]["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}
        assert "annotations" not in first[2]["object"]["metadata"]  # a periodic bookmark
        assert first[2]["object"]["metadata"]["resourceVersion"] == store.resource_version
    finally:
        server.shutdown()


def test_table_watch_sends_rows(h):
    h.store.create("namespaces", {"metadata": {"name": "tw"}})
    rv = h.store.resource_version
    h.store.create("pods", pod("a"), namespace="tw")
    h.store.create("pods", pod("b"), namespace="tw")
    conn, resp = stream(h.server.url, f"/api/v1/namespaces/tw/pods?watch=true&resourceVersion={rv}"
                                      "&timeoutSeconds=1", headers={"Accept": TABLE_ACCEPT})
    got = events(resp)
    conn.close()
    assert [e["object"]["kind"] for e in got] == ["Table", "Table"]
    assert "columnDefinitions" in got[0]["object"] and "columnDefinitions" not in got[1]["object"]
    assert [e["object"]["rows"][0]["cells"][0] for e in got] == ["a", "b"]


def test_shutdown_ends_open_watches_and_concurrent_watchers_all_see_events():
    store = Store()
    store.create("namespaces", {"metadata": {"name": "default"}})
    server = serve(store)
    rv = store.resource_version
    streams = [stream(server.url, f"/api/v1/pods?watch=true&resourceVersion={rv}") for _ in range(5)]
    results = [[] for _ in streams]
    readers = [threading.Thread(target=lambda r=resp, out=out: out.extend(events(r)))
               for (_, resp), out in zip(streams, results)]
    for t in readers:
        t.start()
    for i in range(20):
        store.create("pods", pod(f"p{i}"), namespace="default")
    server.shutdown()
    for t in readers:
        t.join(10)
        assert not t.is_alive()
    for out in results:
        assert [e["object"]["metadata"]["name"] for e in out] == [f"p{i}" for i in range(20)]
    for conn, _ in streams:
        conn.close()


def test_delete_answers_like_upstream_registries(h):
    h.store.create("namespaces", {"metadata": {"name": "answers"}})
    h.store.create("endpoints", {"metadata": {"name": "gone"}}, namespace="answers")
    h.store.create("endpoints", {"metadata": {"name": "kept", "finalizers": ["example.com/hold"]}},
                   namespace="answers")
    h.store.create("pods", pod("p"), namespace="answers")
    status, _, body = request(h.server.url, "DELETE", "/api/v1/namespaces/answers/endpoints/gone")
    assert status == 200 and body["kind"] == "Status" and body["status"] == "Success"
    assert body["details"]["name"] == "gone" and body["details"]["kind"] == "endpoints"
    status, _, body = request(h.server.url, "DELETE", "/api/v1/namespaces/answers/endpoints/kept")
    assert body["kind"] == "Endpoints" and body["metadata"]["deletionTimestamp"]  # still there: the object
    status, _, body = request(h.server.url, "DELETE", "/api/v1/namespaces/answers/pods/p",
                              {"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 0})
    assert status == 200 and body["kind"] == "Pod"  # pods always answer with the object


def test_field_validation_modes(h):
    h.store.create("namespaces", {"metadata": {"name": "fv"}})
    body = {"apiVersion": "v1", "kind": "Service", "metdata": {}, "metadata": {"name": "a", "lables": {}},
            "spec": {"ports": [{"port": 80}], "replica": 1}}
    status, _, payload = request(h.server.url, "POST", "/api/v1/namespaces/fv/services?fieldValidation=Strict", body)
    assert status == 400 and payload["message"] == (
        'Service in version "v1" cannot be handled as a Service: strict decoding error: unknown field "metdata", '
        'unknown field "metadata.lables", unknown field "spec.replica"')
    status, resp, created = request(h.server.url, "POST", "/api/v1/namespaces/fv/services", body)
    assert status == 201 and "replica" not in created["spec"] and "metdata" not in created
    assert resp.getheader("Warning").startswith('299 - "unknown field \\"metdata\\""')
    body["metadata"]["name"] = "b"
    status, resp, _ = request(h.server.url, "POST", "/api/v1/namespaces/fv/services?fieldValidation=Ignore", body)
    assert status == 201 and resp.getheader("Warning") is None


def test_namespace_finalize_and_scale_put(h):
    h.store.create("namespaces", {"metadata": {"name": "fin"}})
    status, _, ns = request(h.server.url, "DELETE", "/api/v1/namespaces/fin")
    assert status == 200 and ns["status"]["phase"] == "Terminating" and ns["spec"]["finalizers"] == ["kubernetes"]
    ns["spec"]["finalizers"] = []
    status, _, _ = request(h.server.url, "PUT", "/api/v1/namespaces/fin/finalize", ns)
    assert status == 200
    status, _, _ = request(h.server.url, "GET", "/api/v1/namespaces/fin")
    assert status == 404  # finalized: the namespace is gone

    h.store.create("namespaces", {"metadata": {"name": "scale"}})
    h.store.create("replicasets.apps", {"metadata": {"name": "rs"}, "spec": {
        "selector": {"matchLabels": {"a": "b"}}, "template": {"metadata": {"labels": {"a": "b"}},
                                                             "spec": {"containers": [{"name": "c", "image": "i"}]}}}},
        namespace="scale")
    path = "/apis/apps/v1/namespaces/scale/replicasets/rs/scale"
    _, _, scale = request(h.server.url, "GET", path)
    scale["spec"]["replicas"] = 4
    status, _, updated = request(h.server.url, "PUT", path, scale)
    assert status == 200 and updated["spec"]["replicas"] == 4 and updated["kind"] == "Scale"
    status, _, body = request(h.server.url, "PUT", path, scale)  # stale resourceVersion
    assert status == 409 and body["reason"] == "Conflict"


def test_concurrent_clients_all_succeed_with_unique_resource_versions(h):
    h.store.create("namespaces", {"metadata": {"name": "busy"}})
    results = []

    def client(n):
        for i in range(10):
            status, _, body = request(h.server.url, "POST", "/api/v1/namespaces/busy/pods", pod(f"c{n}-{i}"))
            results.append((status, body["metadata"]["resourceVersion"]))

    threads = [threading.Thread(target=client, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(results) == 160 and {status for status, _ in results} == {201}
    assert len({rv for _, rv in results}) == 160
    _, _, listed = request(h.server.url, "GET", "/api/v1/namespaces/busy/pods")
    assert len(listed["items"]) == 160


def test_server_notices_a_client_that_went_away(h):
    before = h.server.watches
    conn, resp = stream(h.server.url, "/api/v1/pods?watch=true")
    (ours,) = h.server.watches - before
    conn.close()
    resp.close()
    deadline = time.monotonic() + 10  # the server checks idle watch connections every 2 s
    while ours in h.server.watches:
        assert time.monotonic() < deadline, "the watch of a closed connection is still served"
        time.sleep(0.05)
    assert ours.stopped
