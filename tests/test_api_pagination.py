"""List pagination: ``limit``/``continue``, ``remainingItemCount``, one snapshot across pages, 410 for a
compacted token, driven through the Python client, raw HTTP and kubectl's chunked ``get``."""

import base64
import json

import pytest
from apiharness import Harness, request, rows
from builders import pod
from kubernetes import client
from kubernetes.client.rest import ApiException

from helpers.sim.api import pagination


@pytest.fixture(scope="module")
def h():
    harness = Harness()
    for i in range(600):
        harness.store.create("pods", pod(f"web-{i:03d}", labels={"app": "web", "half": str(i % 2)}),
                             namespace="default")
    yield harness
    harness.stop()


def test_the_python_client_pages_600_pods_from_one_snapshot(h):
    api = client.CoreV1Api(h.api)
    first = api.list_namespaced_pod("default", limit=250)
    assert len(first.items) == 250 and first.metadata.remaining_item_count == 350
    snapshot = first.metadata.resource_version
    # writes between pages do not show: later pages read the first page's revision
    h.store.create("pods", pod("web-late"), namespace="default")
    h.store.delete("pods", "web-599", "default", grace_period_seconds=0)
    names, pages, token = [p.metadata.name for p in first.items], [first], first.metadata._continue
    while token:
        page = api.list_namespaced_pod("default", limit=250, _continue=token)
        names += [p.metadata.name for p in page.items]
        pages.append(page)
        token = page.metadata._continue
    assert [len(p.items) for p in pages] == [250, 250, 100]
    assert [p.metadata.remaining_item_count for p in pages] == [350, 100, None]
    assert {p.metadata.resource_version for p in pages} == {snapshot}
    assert names == [f"web-{i:03d}" for i in range(600)]
    now = api.list_namespaced_pod("default")
    assert len(now.items) == 600 and now.metadata._continue is None
    assert "web-late" in {p.metadata.name for p in now.items} and "web-599" not in {p.metadata.name for p in now.items}
    h.store.delete("pods", "web-late", "default", grace_period_seconds=0)
    h.store.create("pods", pod("web-599", labels={"app": "web", "half": "1"}), namespace="default")


def test_a_token_is_upstreams_shape(h):
    _, _, body = request(h.server.url, "GET", "/api/v1/namespaces/default/pods?limit=2")
    token = body["metadata"]["continue"]
    data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    assert data == {"v": "meta.k8s.io/v1", "rv": int(body["metadata"]["resourceVersion"]), "start": "web-001\x00"}
    assert list(body["metadata"]) == ["resourceVersion", "continue", "remainingItemCount"]
    _, _, across = request(h.server.url, "GET", "/api/v1/pods?limit=1")
    token = across["metadata"]["continue"]
    assert json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))["start"] == "default/web-000\x00"
    _, _, second = request(h.server.url, "GET", f"/api/v1/pods?limit=1&continue={token}")
    assert [p["metadata"]["name"] for p in second["items"]] == ["web-001"]


def test_selectors_page_without_a_remaining_count(h):
    _, _, body = request(h.server.url, "GET", "/api/v1/namespaces/default/pods?limit=100&labelSelector=half%3D0")
    assert len(body["items"]) == 100 and body["metadata"]["continue"]
    assert "remainingItemCount" not in body["metadata"]
    assert all(p["metadata"]["labels"]["half"] == "0" for p in body["items"])


def test_table_pages_carry_the_list_meta(h):
    accept = {"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"}
    _, _, table = request(h.server.url, "GET", "/api/v1/namespaces/default/pods?limit=7", headers=accept)
    assert table["kind"] == "Table" and len(table["rows"]) == 7
    assert table["metadata"]["remainingItemCount"] == 593 and table["metadata"]["continue"]


@pytest.mark.parametrize("query,message", [
    ("continue=bm90LWpzb24", "invalid continue token"),
    ("continue=" + base64.urlsafe_b64encode(b'{"v":"x","rv":5,"start":"a"}').decode().rstrip("="), "encoded version"),
    ("continue=" + base64.urlsafe_b64encode(b'{"v":"meta.k8s.io/v1","rv":0,"start":"a"}').decode().rstrip("="),
     "incorrect encoded start resourceVersion"),
    ("limit=2&continue=eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6MSwic3RhcnQiOiJhIn0&resourceVersion=5",
     "specifying resource version is not allowed when using continue"),
    ("limit=ten", 'strconv.ParseInt: parsing "ten": invalid syntax'),
    # Go's base64.RawURLEncoding and encoding/json texts, as kube-apiserver answers (tests/test_oracle_api.py)
    ("continue=not-a-token", "continue key is not valid: invalid character '\\u009e' looking for beginning of value"),
    ("continue=abc%3D", "continue key is not valid: illegal base64 data at input byte 3"),
])
def test_bad_pagination_parameters_are_400(h, query, message):
    status, _, body = request(h.server.url, "GET", f"/api/v1/namespaces/default/pods?{query}")
    assert status == 400 and body["reason"] == "BadRequest" and message in body["message"], body


def test_kubectl_chunked_get_pages_through_the_table_path(h):
    out = h.kubectl("get", "pods", "--chunk-size=100", "-v=6")
    table = rows(out.stdout)
    assert table[0][:3] == ["NAME", "READY", "STATUS"] and len(table) == 601
    lists = [line for line in out.stderr.splitlines() if 'verb="GET"' in line and "/namespaces/default/pods?" in line]
    assert len(lists) == 6 and sum("continue=" in line for line in lists) == 5
    names = h.kubectl("get", "pods", "-o", "name").stdout.split()  # the default chunk size, 500
    assert len(names) == 600 and names[0] == "pod/web-000"


def test_a_compacted_token_is_410_with_a_token_for_the_rest():
    harness = Harness(history_size=20)
    try:
        for i in range(5):
            harness.store.create("pods", pod(f"p{i}"), namespace="default")
        api = client.CoreV1Api(harness.api)
        first = api.list_namespaced_pod("default", limit=2)
        for i in range(30):  # more writes than the history keeps
            harness.store.create("namespaces", {"metadata": {"name": f"ns-{i}"}})
        harness.store.create("pods", pod("p9"), namespace="default")
        with pytest.raises(ApiException) as caught:
            api.list_namespaced_pod("default", limit=2, _continue=first.metadata._continue)
        status = json.loads(caught.value.body)
        assert caught.value.status == 410 and status["reason"] == "Expired"
        assert status["message"] == pagination.EXPIRED_MESSAGE
        rest = api.list_namespaced_pod("default", _continue=status["metadata"]["continue"])
        assert [p.metadata.name for p in rest.items] == ["p2", "p3", "p4", "p9"]  # the current state
        kubectl = harness.kubectl("get", "pods", "--chunk-size=2", "-o", "name")
        assert kubectl.stdout.split() == ["pod/p0", "pod/p1", "pod/p2", "pod/p3", "pod/p4", "pod/p9"]
    finally:
        harness.stop()
