"""Patch semantics (merge, JSON, strategic merge), selectors, and server-side apply field ownership."""

import pytest
from conftest import deployment, pods_of, ready, wait_until

from helpers.sim.api import managed, patch, selectors
from helpers.sim.api.errors import ApiError
from helpers.sim.api.resources import BY_KEY

POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "labels": {"a": "1", "b": "2"},
                                                       "finalizers": ["x"]},
       "spec": {"containers": [{"name": "web", "image": "nginx", "ports": [{"containerPort": 80}],
                                "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]},
                               {"name": "side", "image": "busybox"}],
                "tolerations": [{"key": "t1"}]}}


def test_merge_patch():
    out = patch.merge_patch(POD, {"metadata": {"labels": {"a": None, "c": "3"}}, "spec": {"tolerations": []}})
    assert out["metadata"]["labels"] == {"b": "2", "c": "3"} and out["spec"]["tolerations"] == []
    assert POD["metadata"]["labels"] == {"a": "1", "b": "2"}  # the input is untouched


def test_json_patch_operations_and_errors():
    out = patch.json_patch(POD, [
        {"op": "add", "path": "/metadata/labels/x~1y", "value": "z"},
        {"op": "replace", "path": "/spec/containers/0/image", "value": "nginx:2"},
        {"op": "remove", "path": "/spec/containers/1"},
        {"op": "copy", "from": "/metadata/labels/a", "path": "/metadata/labels/copy"},
        {"op": "move", "from": "/metadata/labels/b", "path": "/metadata/labels/moved"},
        {"op": "add", "path": "/spec/tolerations/-", "value": {"key": "t2"}},
        {"op": "test", "path": "/metadata/name", "value": "p"},
    ])
    assert out["metadata"]["labels"] == {"a": "1", "x/y": "z", "copy": "1", "moved": "2"}
    assert [c["name"] for c in out["spec"]["containers"]] == ["web"]
    assert out["spec"]["containers"][0]["image"] == "nginx:2"
    assert out["spec"]["tolerations"] == [{"key": "t1"}, {"key": "t2"}]
    for bad in ([{"op": "test", "path": "/metadata/name", "value": "q"}],
                [{"op": "remove", "path": "/spec/nothing"}],
                [{"op": "replace", "path": "/spec/containers/9", "value": 1}],
                [{"op": "frobnicate", "path": "/x"}]):
        with pytest.raises(ApiError) as info:
            patch.json_patch(POD, bad)
        assert info.value.code == 422


def test_strategic_merge_keys_and_directives():
    out = patch.strategic_merge_patch(POD, {
        "metadata": {"finalizers": ["y", "x"]},
        "spec": {
            "containers": [
                {"name": "web", "env": [{"name": "B", "$patch": "delete"}, {"name": "C", "value": "3"}],
                 "ports": [{"containerPort": 8080}]},
                {"name": "side", "$patch": "delete"}],
            "tolerations": [{"key": "t9"}],  # no merge key upstream: replaced whole
        }}, "Pod")
    web = out["spec"]["containers"]
    assert [c["name"] for c in web] == ["web"]
    assert web[0]["env"] == [{"name": "A", "value": "1"}, {"name": "C", "value": "3"}]
    assert [p["containerPort"] for p in web[0]["ports"]] == [80, 8080]
    assert out["spec"]["tolerations"] == [{"key": "t9"}]
    assert out["metadata"]["finalizers"] == ["x", "y"]


def test_strategic_merge_service_ports_as_kubectl_apply_sends_them():
    svc = {"spec": {"ports": [{"name": "http", "port": 80, "targetPort": 80}], "selector": {"app": "web"}}}
    out = patch.strategic_merge_patch(svc, {"spec": {
        "$setElementOrder/ports": [{"port": 8080}],
        "ports": [{"name": "http", "port": 8080, "targetPort": 80}, {"$patch": "delete", "port": 80}]}}, "Service")
    assert out["spec"]["ports"] == [{"name": "http", "port": 8080, "targetPort": 80}]


def test_strategic_merge_replace_retain_and_delete_from_primitive_list():
    obj = {"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}},
                    "template": {"spec": {"containers": [{"name": "a", "image": "x", "args": ["1", "2", "3"]}]}}},
           "metadata": {"finalizers": ["a", "b"]}}
    out = patch.strategic_merge_patch(obj, {
        "metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]},
        "spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"},
                 "template": {"spec": {"containers": [{"name": "b", "image": "y"}, {"$patch": "replace"}]}}}},
        "Deployment")
    assert out["metadata"]["finalizers"] == ["b"]
    assert out["spec"]["strategy"] == {"type": "Recreate"}
    assert out["spec"]["template"]["spec"]["containers"] == [{"name": "b", "image": "y"}]
    whole = patch.strategic_merge_patch(obj, {"spec": {"$patch": "replace", "replicas": 2}}, "Deployment")
    assert whole["spec"] == {"replicas": 2}


def test_strategic_merge_conditions_by_type():
    status = {"status": {"conditions": [{"type": "Ready", "status": "False"}, {"type": "PodScheduled",
                                                                               "status": "True"}]}}
    out = patch.strategic_merge_patch(status, {"status": {"conditions": [{"type": "Ready", "status": "True"}]}},
                                      "Pod")
    assert out["status"]["conditions"] == [{"type": "Ready", "status": "True"},
                                           {"type": "PodScheduled", "status": "True"}]


@pytest.mark.parametrize("text,labels,expected", [
    ("app=web", {"app": "web"}, True), ("app==web", {"app": "db"}, False), ("app!=web", {}, True),
    ("app in (web, db),tier", {"app": "db", "tier": ""}, True), ("app notin (web)", {"app": "web"}, False),
    ("!tier", {"tier": "x"}, False), ("tier", {}, False), ("x>5", {"x": "7"}, True), ("x<5", {"x": "7"}, False),
    ("example.com/role=edge", {"example.com/role": "edge"}, True), ("", {"a": "b"}, True),
    ("app=", {"app": ""}, True), ("app=", {"app": "x"}, False),
])
def test_label_selectors(text, labels, expected):
    assert selectors.labels_match(selectors.parse_label_selector(text), labels) is expected


@pytest.mark.parametrize("text", ["app in (web", "=web", "app=web,", "app in web", "a b", "x>y",
                                  "Bad Key=1", "app=bad value"])
def test_bad_label_selectors_are_400(text):
    """Syntax errors read as apimachinery's labels.Parser words them ("found 'x', expected: ..."); bad keys
    and values as its requirement validation does."""
    with pytest.raises(ApiError) as info:
        selectors.parse_label_selector(text)
    message = info.value.message
    assert info.value.code == 400 and (message.startswith("found '") or "unable to parse requirement" in message)


def test_field_selectors():
    pods = BY_KEY["pods"]
    reqs = selectors.parse_field_selector("spec.nodeName=n1,status.phase!=Failed", pods)
    assert selectors.fields_match(reqs, {"spec": {"nodeName": "n1"}, "status": {"phase": "Running"}})
    assert not selectors.fields_match(reqs, {"spec": {"nodeName": "n1"}, "status": {"phase": "Failed"}})
    events = BY_KEY["events"]
    reqs = selectors.parse_field_selector("involvedObject.kind=Pod,involvedObject.uid=u1,source=kubelet", events)
    assert selectors.fields_match(reqs, {"involvedObject": {"kind": "Pod", "uid": "u1"},
                                         "source": {"component": "kubelet"}})
    with pytest.raises(ApiError) as info:
        selectors.parse_field_selector("spec.nodeName=n1", BY_KEY["services"])
    assert info.value.code == 400


def test_managed_fields_round_trip_through_fields_v1():
    paths = set(managed.field_paths(POD, "Pod"))
    assert managed.from_fields_v1(managed.to_fields_v1(paths)) == paths
    v1 = managed.to_fields_v1(paths)
    assert set(v1["f:spec"]["f:containers"]) == {'k:{"name":"web"}', 'k:{"name":"side"}'}
    assert "v:\"x\"" in v1["f:metadata"]["f:finalizers"]


def test_apply_takes_removes_and_conflicts():
    live = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}, "spec": {"type": "ClusterIP"}}
    mine = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s", "labels": {"a": "1"}},
            "spec": {"ports": [{"port": 80, "targetPort": 8080}]}}
    first = managed.apply(live, mine, "me", "Service", "t", force=False)
    assert first["metadata"]["labels"] == {"a": "1"} and first["spec"]["type"] == "ClusterIP"
    theirs = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
              "spec": {"ports": [{"port": 80, "targetPort": 9090}]}}
    with pytest.raises(ApiError) as info:
        managed.apply(first, theirs, "them", "Service", "t", force=False)
    assert info.value.code == 409
    assert info.value.details["causes"][0]["field"] == ".spec.ports[port=80].targetPort"
    same_value = {**theirs, "spec": {"ports": [{"port": 80, "targetPort": 8080}]}}
    shared = managed.apply(first, same_value, "them", "Service", "t", force=False)  # agreeing is no conflict
    dropped = managed.apply(shared, {**mine, "metadata": {"name": "s"}}, "me", "Service", "t", force=False)
    assert "labels" not in dropped["metadata"]  # I stopped applying my label: it goes
    assert dropped["spec"]["ports"][0]["targetPort"] == 8080  # still owned by both


def _whole_walk_update(old, new, manager, kind, time, subresource=None):
    """What ``managed.record_update`` must equal: every field of both objects compared, entries pruned
    to the fields the new object has."""
    new_fields, old_fields = managed.field_paths(new, kind), managed.field_paths(old, kind) if old else {}
    changed = {p for p, v in new_fields.items() if p not in old_fields or old_fields[p] != v}
    owner = (manager, "Update", subresource)
    entries = (old or {}).get("metadata", {}).get("managedFields") or []
    owned = changed.union(*(managed.from_fields_v1(e["fieldsV1"]) for e in entries
                            if (e["manager"], e["operation"], e.get("subresource")) == owner))
    return managed._rewrite(entries, new_fields, changed, owner, owned, new.get("apiVersion"), time)


def _ownership(entries):
    return sorted((e["manager"], e["operation"], e.get("subresource") or "", e["time"],
                   tuple(sorted(managed.from_fields_v1(e["fieldsV1"])))) for e in entries)


def test_record_update_equals_walking_both_objects_whole(private_sim, monkeypatch):
    """Every write of a busy scenario (kubelets, scheduler, controllers, Events, client updates of
    labels, containers and ports) gets the managedFields the whole-object definition gives, and every
    stored entry names only fields its object has (what lets record_update prune by removed paths)."""
    compared = []
    fast = managed.record_update

    def both(old, new, manager, kind, time, subresource=None):
        result = fast(old, new, manager, kind, time, subresource)
        assert _ownership(result) == _ownership(_whole_walk_update(old, new, manager, kind, time, subresource)), \
            f"{kind} {new['metadata'].get('name')} written by {manager}"
        compared.append(kind)
        return result

    monkeypatch.setattr(managed, "record_update", both)
    cluster, store = private_sim.cluster, private_sim.cluster.store
    store.create("namespaces", {"metadata": {"name": "fields"}})
    store.create("deployments.apps", deployment("web", 3), namespace="fields")
    store.create("services", {"metadata": {"name": "web", "labels": {}},
                              "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "name": "http"}]}},
                 namespace="fields")
    wait_until(private_sim, lambda: sum(map(ready, pods_of(private_sim, "fields", "web"))) == 3, what="3 Ready")
    svc = store.get("services", "web", "fields")
    svc["metadata"]["labels"] = {"tier": "front"}
    svc["spec"]["ports"].append({"port": 443, "name": "https"})
    store.update("services", svc, field_manager="kubectl-edit")
    svc = store.get("services", "web", "fields")
    svc["spec"]["ports"] = svc["spec"]["ports"][1:]
    del svc["metadata"]["labels"]
    store.update("services", svc, field_manager="kubectl-edit")
    web = store.get("deployments.apps", "web", "fields")
    web["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:1.28"
    web["spec"]["replicas"] = 2
    store.update("deployments.apps", web, field_manager="kubectl-edit")
    cluster.clock.advance(60)
    assert cluster.clock.settle(10)
    kinds = set(compared)
    assert {"Pod", "Service", "Deployment", "ReplicaSet", "EndpointSlice", "Event"} <= kinds, kinds
    for resource in ("pods", "services", "deployments.apps", "replicasets.apps", "endpointslices.discovery.k8s.io"):
        for obj in store.list(resource, "fields")[0]:
            fields = set(managed.field_paths(obj, BY_KEY[resource].kind))
            for entry in obj["metadata"].get("managedFields") or []:
                stale = managed.from_fields_v1(entry["fieldsV1"]) - fields
                assert not stale, f"{resource} {obj['metadata']['name']}: {entry['manager']} owns {stale}"


def test_patch_answers_as_kube_apiserver_words_them():
    """The texts tests/test_oracle_api.py found kube-apiserver v1.37.0 to answer (apiserver endpoints/handlers/
    patch.go, apimachinery ValidatePatchOptions, runtime/converter.go, managedfields conflict.go)."""
    from helpers.sim.api import patch_options, strategy

    with pytest.raises(ApiError) as info:
        patch_options.validate({}, "application/apply-patch+yaml")
    assert (info.value.code, info.value.message) == (
        422, 'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch')
    with pytest.raises(ApiError) as info:
        patch_options.validate({"force": "true"}, "application/merge-patch+json")
    assert info.value.message.endswith("force: Forbidden: may not be specified for non-apply patch")
    with pytest.raises(ApiError) as info:
        patch.json_patch(POD, {"op": "add"})
    assert info.value.message == ("error decoding patch: json: cannot unmarshal object into Go value of type "
                                  "[]handlers.jsonPatchOp")
    with pytest.raises(ApiError) as info:  # the reason stays a note: the answer is generic
        patch.json_patch(POD, [{"op": "remove", "path": "/spec/nothing"}])
    assert info.value.message == "the server rejected our request due to an error in our request"
    configmap = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1"}}
    with pytest.raises(ApiError) as info:
        strategy.patched(configmap, "application/strategic-merge-patch+json", {"data": ["a"]}, "ConfigMap")
    assert (info.value.code, info.value.message) == (
        422, ' "" is invalid: patch: Invalid value: "map[data:[a]]": cannot restore map from slice')


def test_conflicts_name_apply_managers_alone_and_update_managers_with_version_and_time():
    live = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "managedFields": [
        {"manager": "alice", "operation": "Apply", "apiVersion": "v1", "fieldsType": "FieldsV1",
         "fieldsV1": {"f:data": {"f:a": {}}}},
        {"manager": "edit", "operation": "Update", "apiVersion": "v1", "time": "2026-01-01T00:00:00Z",
         "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {"f:b": {}}}}]}, "data": {"a": "1", "b": "1"}}
    applied = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "2", "b": "2"}}
    with pytest.raises(ApiError) as info:
        managed.apply(live, applied, "bob", "ConfigMap", "2026-01-01T00:00:01Z", force=False)
    assert [c["message"] for c in info.value.details["causes"]] == [
        'conflict with "alice"', 'conflict with "edit" using v1 at 2026-01-01T00:00:00Z']


def test_atomic_selectors_are_one_field():
    paths = managed.field_paths({"spec": {"selector": {"matchLabels": {"app": "a"}},
                                          "template": {"spec": {"nodeSelector": {"x": "y"}}}}}, "Deployment")
    assert set(paths) == {("f:spec", "f:selector"), ("f:spec", "f:template", "f:spec", "f:nodeSelector")}
