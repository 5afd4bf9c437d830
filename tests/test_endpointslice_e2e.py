"""End-to-end: the endpoint controllers in a running simulator, seen through kubectl and the Python client.

Covers the issue's "done when" list: a Deployment scaled 0 -> 250 -> 120 -> 0, readiness flipped
through readiness gates, graceful pod deletion (terminating endpoints), the Endpoints (v1) object
and mirroring of a custom Endpoints object.
"""

from __future__ import annotations

import json
from datetime import datetime

from builders import applied_service as service
from conftest import api_client, apply, deployment, endpoints_of, kubectl, store_slices, wait_until

GATE = "example.com/ready"


def slices(handle, ns, svc):
    """What `kubectl get endpointslices -l kubernetes.io/service-name=<svc> -o json` returns."""
    out = kubectl(
        handle, "get", "endpointslices", "-n", ns, "-l", f"kubernetes.io/service-name={svc}", "-o", "json"
    )
    return json.loads(out.stdout)["items"]


def all_ready(handle, ns, svc, n):
    eps = endpoints_of(store_slices(handle, ns, svc))
    return len(eps) == n and all(ep["conditions"]["ready"] for ep in eps)


def test_scale_0_250_120_0(sim, ns):
    # 250 pods do not fit two workers of 110 pods each: like chapter 02, also use the control plane.
    control_plane = {"key": "node-role.kubernetes.io/control-plane", "operator": "Exists", "effect": "NoSchedule"}
    apply(sim, ns, deployment("web", 0, tolerations=[control_plane]), service("web", {"app": "web"}))
    wait_until(sim, lambda: len(store_slices(sim, ns, "web")) == 1, what="placeholder slice")
    (placeholder,) = slices(sim, ns, "web")
    assert placeholder["ports"] is None or placeholder["ports"] == []
    assert not placeholder.get("endpoints")
    created = sim.cluster.store.get("services", "web", ns)["metadata"]["creationTimestamp"]
    trigger = placeholder["metadata"]["annotations"]["endpoints.kubernetes.io/last-change-trigger-time"]
    assert datetime.fromisoformat(trigger) == datetime.fromisoformat(created)  # first sync: the Service's creation

    kubectl(sim, "scale", "deployment/web", "-n", ns, "--replicas=250")
    wait_until(sim, lambda: all_ready(sim, ns, "web", 250), timeout=90, what="250 ready endpoints")
    items = slices(sim, ns, "web")
    sizes = sorted(len(s["endpoints"]) for s in items)
    assert sum(sizes) == 250 and max(sizes) <= 100 and len(items) >= 3  # packing depends on event timing
    for s in items:
        labels = s["metadata"]["labels"]
        assert labels["endpointslice.kubernetes.io/managed-by"] == "endpointslice-controller.k8s.io"
        assert s["metadata"]["name"].startswith("web-") and s["addressType"] == "IPv4"
        assert s["metadata"]["ownerReferences"][0]["kind"] == "Service"
    # Only a write that follows a newer pod Ready transition carries the trigger time. Transition
    # times have second precision, so a pod that turned Ready in the same second it was seen unready
    # triggers nothing and the write clears the annotation, as upstream: whether the last write to a
    # slice kept one depends on timing, but any stamp there is must be a valid time.
    stamps = [
        s["metadata"].get("annotations", {}).get("endpoints.kubernetes.io/last-change-trigger-time")
        for s in items
    ]
    assert all(datetime.fromisoformat(t) for t in stamps if t)
    table = kubectl(sim, "get", "endpointslices", "-n", ns, "-l", "kubernetes.io/service-name=web").stdout
    assert table.split("\n")[0].split() == ["NAME", "ADDRESSTYPE", "PORTS", "ENDPOINTS", "AGE"]

    kubectl(sim, "scale", "deployment/web", "-n", ns, "--replicas=120")
    wait_until(sim, lambda: all_ready(sim, ns, "web", 120), timeout=90, what="120 ready endpoints")
    assert all(len(s["endpoints"]) <= 100 for s in slices(sim, ns, "web"))

    kubectl(sim, "scale", "deployment/web", "-n", ns, "--replicas=0")
    wait_until(
        sim,
        lambda: not endpoints_of(store_slices(sim, ns, "web")) and len(store_slices(sim, ns, "web")) == 1,
        timeout=90,
        what="back to one empty slice",
    )
    (last,) = slices(sim, ns, "web")
    assert not last.get("ports") and not last.get("endpoints")
    history = sim.cluster.endpointslice_decisions(ns, "web")
    assert history and all(set(d["writes"]) == {"create", "update", "delete"} for d in history)
    assert len(history) <= 50  # a bounded history of the latest syncs
    assert any("placeholder" in e for d in history for e in d["explanations"])  # why one empty slice stays


def test_readiness_gate_flips_one_endpoint_in_place(sim, ns):
    apply(
        sim,
        ns,
        deployment("gated", 3, readinessGates=[{"conditionType": GATE}]),
        service("gated", {"app": "gated"}),
    )
    core = __import__("kubernetes").client.CoreV1Api(api_client(sim))
    wait_until(sim, lambda: len(endpoints_of(store_slices(sim, ns, "gated"))) == 3, what="3 endpoints")
    assert not any(ep["conditions"]["ready"] for ep in endpoints_of(store_slices(sim, ns, "gated")))
    pods = core.list_namespaced_pod(ns, label_selector="app=gated").items
    target = pods[0].metadata.name
    core.patch_namespaced_pod_status(
        target, ns, {"status": {"conditions": [{"type": GATE, "status": "True"}]}}
    )
    wait_until(
        sim,
        lambda: (
            [
                ep["targetRef"]["name"]
                for ep in endpoints_of(store_slices(sim, ns, "gated"))
                if ep["conditions"]["ready"]
            ]
            == [target]
        ),
        what="gated pod ready",
    )
    api = __import__("kubernetes").client.DiscoveryV1Api(api_client(sim))
    (item,) = api.list_namespaced_endpoint_slice(ns, label_selector="kubernetes.io/service-name=gated").items
    ready = {ep.target_ref.name: ep.conditions.ready for ep in item.endpoints}
    assert ready == {p.metadata.name: p.metadata.name == target for p in pods}
    last = sim.cluster.endpointslice_decisions(ns, "gated")[-1]
    assert last["writes"] == {"create": 0, "update": 1, "delete": 0}
    assert any("1 endpoint became ready" in e for e in last["explanations"])
    endpoints = core.read_namespaced_endpoints("gated", ns)
    assert [a.target_ref.name for a in endpoints.subsets[0].addresses] == [target]
    assert len(endpoints.subsets[0].not_ready_addresses) == 2


def test_graceful_delete_shows_terminating_endpoint(sim, ns):
    pod_spec = {"terminationGracePeriodSeconds": 300}
    apply(sim, ns, deployment("drain", 2, **pod_spec), service("drain", {"app": "drain"}))
    wait_until(sim, lambda: all_ready(sim, ns, "drain", 2), what="2 ready")
    victim = endpoints_of(store_slices(sim, ns, "drain"))[0]["targetRef"]["name"]
    kubectl(sim, "delete", "pod", victim, "-n", ns, "--wait=false")

    def terminating():
        eps = {
            ep["targetRef"]["name"]: ep["conditions"] for ep in endpoints_of(store_slices(sim, ns, "drain"))
        }
        return eps.get(victim, {}).get("terminating") and eps

    conditions = wait_until(sim, terminating, what="terminating endpoint")
    assert conditions[victim] == {"ready": False, "serving": True, "terminating": True}
    endpoints = json.loads(kubectl(sim, "get", "endpoints", "drain", "-n", ns, "-o", "json").stdout)
    names = [a["targetRef"]["name"] for s in endpoints["subsets"] for a in s.get("addresses", [])]
    assert victim not in names
    assert endpoints["metadata"]["labels"]["endpoints.kubernetes.io/managed-by"] == "endpoint-controller"


def test_custom_endpoints_are_mirrored(sim, ns):
    custom = {
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": {"name": "external", "labels": {"team": "a"}},
        "subsets": [
            {
                "addresses": [{"ip": "192.0.2.10"}, {"ip": "192.0.2.11"}],
                "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
            }
        ],
    }
    apply(sim, ns, service("external"), custom)
    wait_until(sim, lambda: store_slices(sim, ns, "external"), what="mirrored slice")
    (s,) = slices(sim, ns, "external")
    assert (
        s["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"]
        == "endpointslicemirroring-controller.k8s.io"
    )
    assert s["metadata"]["labels"]["team"] == "a"
    assert s["metadata"]["ownerReferences"][0]["kind"] == "Endpoints"
    assert sorted(ep["addresses"][0] for ep in s["endpoints"]) == ["192.0.2.10", "192.0.2.11"]
    assert s["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
    kubectl(sim, "label", "endpoints", "external", "-n", ns, "endpointslice.kubernetes.io/skip-mirror=true")
    wait_until(sim, lambda: not store_slices(sim, ns, "external"), what="mirrored slice removed")


def test_topology_mode_auto_balances_hints_across_zones(sim, ns):
    annotated = service("zonal", {"app": "zonal"})
    annotated["metadata"]["annotations"] = {"service.kubernetes.io/topology-mode": "Auto"}
    apply(sim, ns, deployment("zonal", 6), annotated)
    wait_until(sim, lambda: all_ready(sim, ns, "zonal", 6), what="6 ready endpoints")
    zones = {
        n["metadata"]["name"]: n["metadata"]["labels"]["topology.kubernetes.io/zone"]
        for n in json.loads(kubectl(sim, "get", "nodes", "-o", "json").stdout)["items"]
        if "node-role.kubernetes.io/control-plane" not in n["metadata"]["labels"]
    }

    def hints():
        eps = endpoints_of(slices(sim, ns, "zonal"))
        return all("hints" in ep for ep in eps) and sorted(ep["hints"]["forZones"][0]["name"] for ep in eps)

    # equal CPU per zone: each zone gets half of the hints, whatever the pods' placement
    per_zone = 6 // len(set(zones.values()))
    assert wait_until(sim, hints, what="hints on every endpoint") == sorted(
        z for z in set(zones.values()) for _ in range(per_zone)
    )
    events = json.loads(kubectl(sim, "get", "events", "-n", ns, "-o", "json").stdout)["items"]
    assert "TopologyAwareHintsEnabled" in {e["reason"] for e in events}
