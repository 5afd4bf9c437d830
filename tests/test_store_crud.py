"""Store semantics without HTTP: create/update/patch/delete, defaults, validation, allocation, events."""

import datetime as dt

import pytest
from builders import pod

from helpers.sim.store import ApiError, Store


class FakeClock:
    """A settable clock, so timestamps in tests are exact."""

    def __init__(self):
        self.t = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)

    def now(self):
        return self.t


@pytest.fixture
def store():
    s = Store(FakeClock())
    s.create("namespaces", {"metadata": {"name": "default"}})
    return s


def expect_error(code, reason, fn, *args, **kwargs):
    with pytest.raises(ApiError) as info:
        fn(*args, **kwargs)
    assert (info.value.code, info.value.reason) == (code, reason), info.value.message
    status = info.value.status()
    assert status["kind"] == "Status" and status["code"] == code
    return info.value


def test_create_stamps_metadata_and_defaults(store):
    p = store.create("pods", pod(labels={"app": "web"}), namespace="default")
    meta = p["metadata"]
    assert meta["name"].startswith("web-") and len(meta["name"]) == len("web-") + 5
    assert set(meta["name"][4:]) <= set("bcdfghjklmnpqrstvwxz2456789")
    assert meta["uid"] and meta["creationTimestamp"] == "2026-01-01T00:00:00Z"
    assert int(meta["resourceVersion"]) > 0 and meta["generation"] == 1
    assert p["spec"]["restartPolicy"] == "Always" and p["spec"]["terminationGracePeriodSeconds"] == 30
    assert p["spec"]["dnsPolicy"] == "ClusterFirst" and p["spec"]["schedulerName"] == "default-scheduler"
    assert p["status"] == {"phase": "Pending", "qosClass": "BestEffort"}
    assert {t["key"] for t in p["spec"]["tolerations"]} == {"node.kubernetes.io/not-ready",
                                                            "node.kubernetes.io/unreachable"}
    assert p["spec"]["containers"][0]["imagePullPolicy"] == "IfNotPresent"
    assert store.get("pods", meta["name"], "default") == p


def test_resource_versions_are_one_global_counter(store):
    a = store.create("pods", pod("a"), namespace="default")
    b = store.create("services", {"metadata": {"name": "s"}, "spec": {"ports": [{"port": 80}]}},
                     namespace="default")
    assert int(b["metadata"]["resourceVersion"]) == int(a["metadata"]["resourceVersion"]) + 1
    items, rv = store.list("pods", "default")
    assert rv == b["metadata"]["resourceVersion"] and [i["metadata"]["name"] for i in items] == ["a"]


def test_create_errors(store):
    store.create("pods", pod("a"), namespace="default")
    expect_error(409, "AlreadyExists", store.create, "pods", pod("a"), namespace="default")
    expect_error(404, "NotFound", store.create, "pods", pod("a"), namespace="nope")
    e = expect_error(422, "Invalid", store.create, "pods", pod("Bad_Name"), namespace="default")
    assert e.details["causes"][0]["field"] == "metadata.name"
    e = expect_error(422, "Invalid", store.create, "services",
                     {"metadata": {"name": "1svc"}, "spec": {}}, namespace="default")
    assert {c["field"] for c in e.details["causes"]} == {"metadata.name", "spec.ports"}
    expect_error(400, "BadRequest", store.create, "pods", {**pod("b"), "kind": "Service"}, namespace="default")


def test_dry_run_stores_nothing(store):
    rv = store.resource_version
    p = store.create("pods", pod("dry"), namespace="default", dry_run=True)
    assert p["metadata"]["name"] == "dry" and store.resource_version == rv
    expect_error(404, "NotFound", store.get, "pods", "dry", "default")


def test_terminating_namespace_refuses_new_content(store):
    store.create("namespaces", {"metadata": {"name": "gone"}})
    ns = store.delete("namespaces", "gone")
    assert ns["status"]["phase"] == "Terminating" and ns["metadata"]["deletionTimestamp"]
    e = expect_error(403, "Forbidden", store.create, "pods", pod("x"), namespace="gone")
    assert "is being terminated" in e.message
    finalized = store.get("namespaces", "gone")
    finalized["spec"]["finalizers"] = []
    store.update("namespaces", finalized, subresource="finalize")
    expect_error(404, "NotFound", store.get, "namespaces", "gone")


def test_update_conflict_and_generation(store):
    d = store.create("deployments.apps", {
        "metadata": {"name": "web"},
        "spec": {"selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}},
        namespace="default")
    assert d["spec"]["replicas"] == 1 and d["spec"]["strategy"]["rollingUpdate"] == {
        "maxUnavailable": "25%", "maxSurge": "25%"}
    assert d["spec"]["revisionHistoryLimit"] == 10 and d["spec"]["progressDeadlineSeconds"] == 600
    d["metadata"]["labels"] = {"team": "a"}
    d2 = store.update("deployments.apps", d)
    assert d2["metadata"]["generation"] == 1  # metadata only: no generation bump
    expect_error(409, "Conflict", store.update, "deployments.apps", d)  # stale resourceVersion
    d2["spec"]["replicas"] = 3
    d3 = store.update("deployments.apps", d2)
    assert d3["metadata"]["generation"] == 2
    d3["status"] = {"replicas": 3}
    assert "replicas" not in store.update("deployments.apps", d3)["status"]  # main resource ignores status
    d4 = store.get("deployments.apps", "web", "default")
    d4["status"] = {"replicas": 3}
    d5 = store.update("deployments.apps", d4, subresource="status")
    assert d5["status"] == {"replicas": 3} and d5["metadata"]["generation"] == 2
    d5["spec"]["selector"] = {"matchLabels": {"app": "other"}}
    d5["spec"]["template"]["metadata"]["labels"] = {"app": "other"}
    e = expect_error(422, "Invalid", store.update, "deployments.apps", d5)
    assert "field is immutable" in e.message


def test_noop_update_keeps_resource_version(store):
    p = store.create("pods", pod("a"), namespace="default")
    assert store.update("pods", p)["metadata"]["resourceVersion"] == p["metadata"]["resourceVersion"]


def test_pod_spec_is_mostly_immutable_but_can_be_bound(store):
    p = store.create("pods", pod("a"), namespace="default")
    p["spec"]["nodeName"] = "worker"
    p = store.update("pods", p)
    assert p["spec"]["nodeName"] == "worker"
    p["spec"]["containers"][0]["image"] = "nginx:1.28"
    p = store.update("pods", p)
    p["spec"]["restartPolicy"] = "Never"
    expect_error(422, "Invalid", store.update, "pods", p)


def test_graceful_pod_deletion(store):
    store.create("pods", pod("unscheduled"), namespace="default")
    store.delete("pods", "unscheduled", "default")
    expect_error(404, "NotFound", store.get, "pods", "unscheduled", "default")

    store.create("pods", pod("bound", node="worker"), namespace="default")
    p = store.delete("pods", "bound", "default")
    assert p["metadata"]["deletionGracePeriodSeconds"] == 30
    assert p["metadata"]["deletionTimestamp"] == "2026-01-01T00:00:30Z"
    assert store.get("pods", "bound", "default")["metadata"]["deletionTimestamp"]
    store.delete("pods", "bound", "default", grace_period_seconds=0)  # what the kubelet does
    expect_error(404, "NotFound", store.get, "pods", "bound", "default")


def test_finalizers_and_propagation_policy(store):
    store.create("replicasets.apps", {
        "metadata": {"name": "rs", "finalizers": ["example.com/keep"]},
        "spec": {"selector": {"matchLabels": {"a": "b"}},
                 "template": {"metadata": {"labels": {"a": "b"}},
                              "spec": {"containers": [{"name": "c", "image": "i"}]}}}},
        namespace="default")
    rs = store.delete("replicasets.apps", "rs", "default", propagation_policy="Foreground")
    assert rs["metadata"]["finalizers"] == ["example.com/keep", "foregroundDeletion"]
    assert rs["metadata"]["deletionTimestamp"]
    rs["metadata"]["finalizers"] = ["foregroundDeletion"]
    store.update("replicasets.apps", rs)
    rs = store.get("replicasets.apps", "rs", "default")
    rs["metadata"]["finalizers"] = []
    store.update("replicasets.apps", rs)
    expect_error(404, "NotFound", store.get, "replicasets.apps", "rs", "default")


def test_service_allocation(store):
    def svc(name, **spec):
        return {"metadata": {"name": name}, "spec": {"ports": [{"port": 80}], **spec}}

    a = store.create("services", svc("a", clusterIP="10.96.0.10"), namespace="default")
    assert a["spec"]["clusterIPs"] == ["10.96.0.10"] and a["spec"]["ports"][0]["targetPort"] == 80
    assert a["spec"]["ipFamilies"] == ["IPv4"] and a["spec"]["internalTrafficPolicy"] == "Cluster"
    e = expect_error(422, "Invalid", store.create, "services", svc("b", clusterIP="10.96.0.10"),
                     namespace="default")
    assert "already allocated" in e.message
    expect_error(422, "Invalid", store.create, "services", svc("c", clusterIP="10.1.0.1"), namespace="default")
    h = store.create("services", svc("h", clusterIP="None"), namespace="default")
    assert h["spec"]["clusterIPs"] == ["None"]
    n = store.create("services", svc("n", type="NodePort"), namespace="default")
    assert 30000 <= n["spec"]["ports"][0]["nodePort"] <= 32767
    assert n["spec"]["externalTrafficPolicy"] == "Cluster" and "healthCheckNodePort" not in n["spec"]
    lb = store.create("services", svc("lb", type="LoadBalancer", externalTrafficPolicy="Local"), namespace="default")
    hc = lb["spec"]["healthCheckNodePort"]  # upstream alloc.go: LoadBalancer + eTP Local needs a health check
    assert 30000 <= hc <= 32767 and hc != lb["spec"]["ports"][0]["nodePort"]
    e = expect_error(422, "Invalid", store.create, "services",
                     svc("lb2", type="NodePort", ports=[{"port": 80, "nodePort": hc}]), namespace="default")
    assert "provided port is already allocated" in e.message
    lb["spec"]["externalTrafficPolicy"] = "Cluster"
    assert "healthCheckNodePort" not in store.update("services", lb)["spec"]
    ips = {store.create("services", svc(f"s{i}"), namespace="default")["spec"]["clusterIP"] for i in range(50)}
    assert len(ips) == 50 and "10.96.0.10" not in ips
    n["spec"]["clusterIP"] = ""
    n["spec"]["clusterIPs"] = []
    n["spec"]["ports"][0].pop("nodePort")
    kept = store.update("services", n)  # omitted allocations are carried over, as upstream does
    assert kept["spec"]["clusterIP"] == store.get("services", "n", "default")["spec"]["clusterIP"]
    assert kept["spec"]["ports"][0]["nodePort"]
    kept["spec"]["clusterIP"] = "10.96.0.99"
    kept["spec"]["clusterIPs"] = ["10.96.0.99"]
    e = expect_error(422, "Invalid", store.update, "services", kept)
    assert "may not change once set" in e.message


@pytest.mark.parametrize(("policy", "families", "ips"), [
    (None, None, ["10.96."]), ("SingleStack", None, ["10.96."]), ("PreferDualStack", None, ["10.96.", "fd00:10:96::"]),
    ("RequireDualStack", None, ["10.96.", "fd00:10:96::"]), (None, ["IPv6"], ["fd00:10:96::"]),
    ("PreferDualStack", ["IPv6"], ["fd00:10:96::", "10.96."])])
def test_service_ip_families_on_a_dual_stack_cluster(policy, families, ips):
    """kube-apiserver with two --service-cluster-ip-range CIDRs (alloc.go initIPFamilyFields, allocClusterIPs)."""
    store = Store(FakeClock(), service_cidr="10.96.0.0/16,fd00:10:96::/112")
    store.create("namespaces", {"metadata": {"name": "default"}})
    spec = {"ports": [{"port": 80}], **({"ipFamilyPolicy": policy} if policy else {}),
            **({"ipFamilies": families} if families else {})}
    created = store.create("services", {"metadata": {"name": "s"}, "spec": spec}, namespace="default")["spec"]
    assert created["ipFamilyPolicy"] == (policy or "SingleStack")
    assert [ip.startswith(prefix) for ip, prefix in zip(created["clusterIPs"], ips, strict=True)] == [True] * len(ips)
    assert created["ipFamilies"] == ["IPv6" if ":" in ip else "IPv4" for ip in created["clusterIPs"]]
    assert created["clusterIP"] == created["clusterIPs"][0]
    if len(ips) == 2:  # downgrade: SingleStack releases the secondary IP and family
        updated = store.update("services", {**store.get("services", "s", "default"),
                                            "spec": {**created, "ipFamilyPolicy": "SingleStack"}})["spec"]
        assert updated["clusterIPs"] == created["clusterIPs"][:1] and updated["ipFamilies"] == created["ipFamilies"][:1]


def test_service_ip_family_policy_refusals(store):
    def svc(name, **spec):
        return {"metadata": {"name": name}, "spec": {"ports": [{"port": 80}], **spec}}

    e = expect_error(422, "Invalid", store.create, "services", svc("r", ipFamilyPolicy="RequireDualStack"),
                     namespace="default")
    assert e.message == ('Service "r" is invalid: spec.ipFamilyPolicy: Invalid value: "RequireDualStack": '
                         "this cluster is not configured for dual-stack services")
    e = expect_error(422, "Invalid", store.create, "services", svc("v6", ipFamilies=["IPv6"]), namespace="default")
    assert 'spec.ipFamilies[0]: Invalid value: "IPv6": not configured on this cluster' in e.message
    e = expect_error(422, "Invalid", store.create, "services", svc("x", ipFamilyPolicy="Both"), namespace="default")
    assert 'supported values: "PreferDualStack", "RequireDualStack", "SingleStack"' in e.message
    prefer = store.create("services", svc("p", ipFamilyPolicy="PreferDualStack"), namespace="default")["spec"]
    assert prefer["ipFamilies"] == ["IPv4"] and len(prefer["clusterIPs"]) == 1
    headless = store.create("services", svc("h", clusterIP="None"), namespace="default")["spec"]
    assert (headless["ipFamilyPolicy"], headless["ipFamilies"]) == ("RequireDualStack", ["IPv4", "IPv6"])


def test_endpointslice_validation(store):
    def eps(**fields):
        return {"metadata": {"name": "s"}, "addressType": "IPv4", "endpoints": [], "ports": [], **fields}

    e = expect_error(422, "Invalid", store.create, "endpointslices.discovery.k8s.io",
                     eps(addressType="IPv5"), namespace="default")
    assert 'supported values: "FQDN", "IPv4", "IPv6"' in e.message
    many = [{"addresses": [f"10.0.{i // 250}.{i % 250 + 1}"]} for i in range(1001)]
    e = expect_error(422, "Invalid", store.create, "endpointslices.discovery.k8s.io", eps(endpoints=many),
                     namespace="default")
    assert "Too many: 1001: must have at most 1000 items" in e.message
    e = expect_error(422, "Invalid", store.create, "endpointslices.discovery.k8s.io",
                     eps(ports=[{"port": 1000 + i, "name": f"p{i}"} for i in range(101)]), namespace="default")
    assert "must have at most 100 items" in e.message
    expect_error(422, "Invalid", store.create, "endpointslices.discovery.k8s.io",
                 eps(endpoints=[{"addresses": ["fd00::1"]}]), namespace="default")
    s = store.create("endpointslices.discovery.k8s.io", eps(endpoints=many[:1000]), namespace="default")
    assert s["metadata"]["generation"] == 1 and len(s["endpoints"]) == 1000
    s["addressType"] = "IPv6"
    s["endpoints"] = []
    e = expect_error(422, "Invalid", store.update, "endpointslices.discovery.k8s.io", s)
    assert "field is immutable" in e.message


def test_subscribers_see_commits_in_order(store):
    seen = []
    unsubscribe = store.subscribe(lambda t, r, o, old: seen.append((t, r, o["metadata"]["name"], old)))
    store.create("pods", pod("a", node="n1"), namespace="default")
    store.delete("pods", "a", "default")
    store.delete("pods", "a", "default", grace_period_seconds=0)
    unsubscribe()
    store.create("pods", pod("b"), namespace="default")
    assert [(t, r, n) for t, r, n, _ in seen] == [("ADDED", "pods", "a"), ("MODIFIED", "pods", "a"),
                                                  ("MODIFIED", "pods", "a"), ("DELETED", "pods", "a")]
    assert seen[0][3] is None and seen[1][3]["metadata"].get("deletionTimestamp") is None


def test_subscribers_share_one_copy_and_may_go_without_the_old_version(store):
    full, lean = [], []
    store.subscribe(lambda t, r, o, old: full.append((o, old)))
    store.subscribe(lambda t, r, o, old: lean.append((o, old)), wants_old=False)
    store.create("pods", pod("a", node="n1"), namespace="default")
    store.delete("pods", "a", "default")
    (_, _), (new, old) = full
    assert old["metadata"].get("deletionTimestamp") is None and new["metadata"]["deletionTimestamp"]
    assert [old for _, old in lean] == [None, None]
    assert lean[1][0] is new  # the same private copy for every subscriber of an event
    assert new is not store._objects["pods"][("default", "a")]  # never the stored object itself


def test_subscribers_can_limit_themselves_to_some_resources(store):
    seen = []
    store.subscribe(lambda t, r, o, old: seen.append((t, r, o["metadata"]["name"])), resources=["services"])
    store.create("pods", pod("a"), namespace="default")
    store.create("services", {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
                              "spec": {"ports": [{"port": 80}]}}, namespace="default")
    assert seen == [("ADDED", "services", "web")]


def test_no_new_finalizers_while_deleting(store):
    store.create("pods", {**pod("f", node="n1"), "metadata": {"name": "f", "finalizers": ["a/b"]}},
                 namespace="default")
    p = store.delete("pods", "f", "default")
    p["metadata"]["finalizers"] = ["a/b", "c/d"]
    e = expect_error(422, "Invalid", store.update, "pods", p)
    assert "no new finalizers can be added" in e.message


def test_delete_preconditions(store):
    p = store.create("pods", pod("pre"), namespace="default")
    e = expect_error(409, "Conflict", store.delete, "pods", "pre", "default", preconditions={"uid": "other"})
    assert "Precondition failed: UID in precondition: other" in e.message
    store.delete("pods", "pre", "default", preconditions={"uid": p["metadata"]["uid"]})
    expect_error(404, "NotFound", store.get, "pods", "pre", "default")


def test_unknown_subresources_are_404(store):
    store.create("endpoints", {"metadata": {"name": "e"}}, namespace="default")
    e = store.get("endpoints", "e", "default")
    expect_error(404, "NotFound", store.update, "endpoints", e, subresource="status")
    expect_error(404, "NotFound", store.patch, "endpoints", "e", "default", subresource="scale",
                 patch_type="application/merge-patch+json", body={})


def test_a_failing_subscriber_does_not_fail_writes(store, caplog):
    seen = []

    def broken(*event):
        raise RuntimeError("subscriber bug")

    store.subscribe(broken)
    store.subscribe(lambda t, r, o, old: seen.append(o["metadata"]["name"]))
    store.create("pods", pod("ok"), namespace="default")
    assert seen == ["ok"] and "subscriber bug" in caplog.text


def test_type_errors_name_the_full_field_path(store):
    bad_port = pod("p1")
    bad_port["spec"]["containers"][0]["ports"] = [{"containerPort": 80}, {"containerPort": "80"}]
    err = expect_error(400, "BadRequest", store.create, "pods", bad_port, namespace="default")
    assert err.message.endswith("Go struct field spec.containers.ports.containerPort of type int32")
    bad_label = pod("p2", labels={"app": "web", "tier": 3})
    err = expect_error(400, "BadRequest", store.create, "pods", bad_label, namespace="default")
    assert "cannot unmarshal number into Go struct field metadata.labels.tier of type string" in err.message


def test_updates_reuse_unchanged_parts_of_the_stored_version(store):
    body = {"metadata": {"name": "a"}, "spec": {"ports": [{"port": 80}], "selector": {"app": "a"}, "x": {"y": 1}}}
    store.create("services", body, namespace="default")
    before = store.list_shared("services", "default")[0][0]
    updated = store.get("services", "a", "default")
    updated["metadata"]["labels"] = {"tier": "front"}
    updated["spec"]["x"] = {"y": True}  # equal to {"y": 1} under ==, yet a different JSON value
    store.update("services", updated)
    after = store.list_shared("services", "default")[0][0]
    assert after["spec"]["ports"] is before["spec"]["ports"]
    assert after["spec"]["x"]["y"] is True
    assert after["metadata"]["labels"] == {"tier": "front"}
    assert store.get("services", "a", "default") == after


def test_what_a_write_returns_is_the_callers_to_change(store):
    """Writes return a private object: editing it (as controllers do before the next write) must not
    reach the stored version, the history that watches replay, or other subscribers."""
    created = store.create("pods", pod("own", node="n1"), namespace="default")
    created["metadata"]["labels"] = {"edited": "yes"}
    created["spec"]["containers"][0]["image"] = "edited"
    stored = store.get("pods", "own", "default")
    assert "edited" not in str(stored)
    stored["metadata"]["labels"] = {"v": "2"}
    updated = store.update("pods", stored)
    updated["metadata"]["labels"]["v"] = "edited"
    updated["spec"]["containers"][0]["image"] = "edited"
    assert store.get("pods", "own", "default")["metadata"]["labels"] == {"v": "2"}
    with store.watch("pods", "default", resource_version="1") as watch:
        replayed = [event for event in iter(lambda: watch.get(timeout=0.2), None)]
    assert len(replayed) == 2 and "edited" not in str(replayed)
