"""Conformance: the official kubernetes Python client 37 against a bare simulated API server."""

import pytest
from apiharness import Harness
from builders import deployment, node, pod
from kubernetes import client, dynamic, watch
from kubernetes.client.rest import ApiException


@pytest.fixture(scope="module")
def h():
    harness = Harness()
    harness.store.create("nodes", node("endpoints-worker", "172.18.0.3"))
    yield harness
    harness.stop()


@pytest.fixture
def ns(h, request):
    name = request.node.name.replace("_", "-")[:50].strip("-")
    h.store.create("namespaces", {"metadata": {"name": name}})
    return name


def test_create_read_list_with_selectors(h, ns):
    core = client.CoreV1Api(h.api)
    created = core.create_namespaced_pod(ns, pod("a", labels={"app": "web"}, node="endpoints-worker"))
    core.create_namespaced_pod(ns, pod("b", labels={"app": "db"}))
    assert created.metadata.uid and created.status.phase == "Pending"
    assert created.spec.termination_grace_period_seconds == 30
    assert core.read_namespaced_pod("a", ns).metadata.resource_version == created.metadata.resource_version
    assert [p.metadata.name for p in core.list_namespaced_pod(ns, label_selector="app!=db").items] == ["a"]
    assert [p.metadata.name for p in core.list_namespaced_pod(ns, label_selector="app in (web,db)").items] == \
        ["a", "b"]
    on_node = core.list_pod_for_all_namespaces(field_selector="spec.nodeName=endpoints-worker").items
    assert [p.metadata.name for p in on_node] == ["a"]
    with pytest.raises(ApiException) as info:
        core.list_namespaced_pod(ns, field_selector="spec.image=nginx")
    assert info.value.status == 400 and "field label not supported" in info.value.body


def test_replace_conflict_and_patch_types(h, ns):
    apps = client.AppsV1Api(h.api)
    d = apps.create_namespaced_deployment(ns, deployment("web", replicas=1))
    d.spec.replicas = 2
    apps.replace_namespaced_deployment("web", ns, d)
    with pytest.raises(ApiException) as info:
        apps.replace_namespaced_deployment("web", ns, d)  # d now carries a stale resourceVersion
    assert info.value.status == 409 and '"reason":"Conflict"' in info.value.body
    # strategic merge: containers merge by name
    apps.patch_namespaced_deployment("web", ns, {"spec": {"template": {"spec": {"containers": [
        {"name": "sidecar", "image": "busybox"}]}}}})
    containers = apps.read_namespaced_deployment("web", ns).spec.template.spec.containers
    assert [c.name for c in containers] == ["web", "sidecar"]
    # JSON patch (a list body)
    apps.patch_namespaced_deployment("web", ns, [{"op": "replace", "path": "/spec/replicas", "value": 4}])
    # JSON merge patch replaces lists whole
    apps.patch_namespaced_deployment("web", ns, {"spec": {"template": {"spec": {"containers": [
        {"name": "only", "image": "nginx"}]}}}}, _content_type="application/merge-patch+json")
    final = apps.read_namespaced_deployment("web", ns)
    assert final.spec.replicas == 4 and [c.name for c in final.spec.template.spec.containers] == ["only"]
    assert final.metadata.generation == 5


def test_scale_subresource(h, ns):
    apps = client.AppsV1Api(h.api)
    apps.create_namespaced_deployment(ns, deployment("web", replicas=1))
    scale = apps.read_namespaced_deployment_scale("web", ns)
    assert scale.kind == "Scale" and scale.spec.replicas == 1 and scale.status.selector == "app=web"
    patched = apps.patch_namespaced_deployment_scale("web", ns, {"spec": {"replicas": 3}})
    assert patched.spec.replicas == 3
    assert apps.read_namespaced_deployment("web", ns).spec.replicas == 3


def test_server_side_apply_conflicts_and_force(h, ns):
    core = client.CoreV1Api(h.api)
    body = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]}}
    created = core.patch_namespaced_service("web", ns, body, field_manager="nb",
                                            _content_type="application/apply-patch+yaml")
    assert created.spec.ports[0].target_port == 8080
    other = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
             "spec": {"ports": [{"port": 80, "targetPort": 9090}]}}
    with pytest.raises(ApiException) as info:
        core.patch_namespaced_service("web", ns, other, field_manager="intruder",
                                      _content_type="application/apply-patch+yaml")
    assert info.value.status == 409 and 'conflict with \\"nb\\"' in info.value.body
    forced = core.patch_namespaced_service("web", ns, other, field_manager="intruder", force=True,
                                           _content_type="application/apply-patch+yaml")
    assert forced.spec.ports[0].target_port == 9090
    # nb stops applying the selector: the field it alone owned goes away
    core.patch_namespaced_service("web", ns, {**body, "spec": {"ports": [{"port": 80}]}}, field_manager="nb",
                                  _content_type="application/apply-patch+yaml")
    assert core.read_namespaced_service("web", ns).spec.selector is None


def test_delete_and_event_field_selectors(h, ns):
    core = client.CoreV1Api(h.api)
    p = core.create_namespaced_pod(ns, pod("gone"))
    core.create_namespaced_event(ns, {"metadata": {"name": "gone.1"}, "reason": "Scheduled", "type": "Normal",
                                      "message": "m", "involvedObject": {"kind": "Pod", "name": "gone",
                                                                         "namespace": ns, "uid": p.metadata.uid}})
    events = core.list_namespaced_event(ns, field_selector=f"involvedObject.uid={p.metadata.uid}").items
    assert [e.reason for e in events] == ["Scheduled"]
    core.delete_namespaced_pod("gone", ns)
    with pytest.raises(ApiException) as info:
        core.read_namespaced_pod("gone", ns)
    assert info.value.status == 404


def test_watch_resume_and_expired(h, ns):
    core = client.CoreV1Api(h.api)
    start = core.list_namespaced_pod(ns).metadata.resource_version
    core.create_namespaced_pod(ns, pod("w1"))
    core.create_namespaced_pod(ns, pod("w2"))
    stream = watch.Watch().stream(core.list_namespaced_pod, ns, resource_version=start, timeout_seconds=1)
    assert [(e["type"], e["object"].metadata.name) for e in stream] == [("ADDED", "w1"), ("ADDED", "w2")]

    small = Harness(history_size=2)
    try:
        small_core = client.CoreV1Api(small.api)
        old = small_core.list_namespaced_pod("default").metadata.resource_version
        for name in ("a", "b", "c"):
            small_core.create_namespaced_pod("default", pod(name))
        with pytest.raises(ApiException) as info:
            list(watch.Watch().stream(small_core.list_namespaced_pod, "default", resource_version=old,
                                      timeout_seconds=2))
        assert info.value.status == 410
    finally:
        small.stop()


def test_watch_bookmarks_are_yielded(h, ns):
    core = client.CoreV1Api(h.api)
    core.create_namespaced_pod(ns, pod("b1"))
    events = list(watch.Watch().stream(core.list_namespaced_pod, ns, allow_watch_bookmarks=True,
                                       send_initial_events=True, resource_version_match="NotOlderThan",
                                       timeout_seconds=1))
    assert events[0]["type"] == "ADDED" and events[1]["type"] == "BOOKMARK"
    assert events[1]["raw_object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}


def test_dynamic_client_discovers_resources(h, ns):
    dyn = dynamic.DynamicClient(h.api)
    slices = dyn.resources.get(api_version="discovery.k8s.io/v1", kind="EndpointSlice")
    slices.create(namespace=ns, body={"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                                      "metadata": {"name": "s"}, "addressType": "IPv4",
                                      "endpoints": [{"addresses": ["10.0.0.1"]}], "ports": [{"port": 80}]})
    assert [i.metadata.name for i in slices.get(namespace=ns).items] == ["s"]
    applied = slices.server_side_apply(namespace=ns, field_manager="nb", body={
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "metadata": {"name": "s2"},
        "addressType": "IPv4", "endpoints": [], "ports": []})
    assert applied.metadata.name == "s2"


def test_pod_log_and_status_subresource(h, ns):
    core = client.CoreV1Api(h.api)
    core.create_namespaced_pod(ns, pod("logger"))
    h.store.log_source = lambda namespace, name, container, previous=False: f"{name}:{container}\n"
    assert core.read_namespaced_pod_log("logger", ns) == "logger:web\n"
    status = core.patch_namespaced_pod_status("logger", ns, {"status": {"phase": "Running", "podIP": "10.1.1.1"},
                                                             "spec": {"nodeName": "ignored"}})
    assert status.status.pod_ip == "10.1.1.1" and status.spec.node_name is None
