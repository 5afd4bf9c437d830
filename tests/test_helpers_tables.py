"""Tables from plain API-shaped dicts (pure functions; no cluster needed)."""

from functools import partial

from builders import endpoint_slice
from builders import scheduled_pod as pod

from helpers.tables import (
    diff_slices,
    endpoints_frame,
    nodes_frame,
    pod_ready,
    pods_frame,
    services_frame,
    slices_frame,
)

# Slices of ch01's Service web, one unnamed port 80 unless a test says otherwise.
ch01_slice = partial(endpoint_slice, namespace="ch01", ports=((None, 80),))


def _ep(ip, ready=True, node="endpoints-worker", zone="zone-a", pod=None, terminating=False):
    return {"addresses": [ip], "conditions": {"ready": ready, "serving": ready, "terminating": terminating},
            "nodeName": node, "zone": zone, "targetRef": {"kind": "Pod", "name": pod or f"web-{ip.split('.')[-1]}"}}


def test_slices_frame_has_one_row_per_endpoint_and_one_for_an_empty_slice():
    frame = slices_frame([ch01_slice(name="web-b", endpoints=[_ep("10.244.1.5"), _ep("10.244.2.7", ready=False, node="endpoints-worker2")]),
                          ch01_slice(name="web-a", endpoints=[], ports=None)])
    assert list(frame["slice"]) == ["web-a", "web-b", "web-b"]
    empty = frame.iloc[0]
    assert empty["address"] is None and empty["ports"] is None
    assert list(frame["address"][1:]) == ["10.244.1.5", "10.244.2.7"]
    assert list(frame["ready"][1:]) == [True, False]
    assert frame.iloc[2]["node"] == "endpoints-worker2"
    assert frame.iloc[1]["targetRef"] == "Pod/web-5"
    assert frame.iloc[1]["ports"] == "80/TCP"
    assert frame.iloc[1]["service"] == "web"


def test_slices_frame_formats_named_ports_and_hints():
    ep = _ep("10.244.1.5")
    ep["hints"] = {"forZones": [{"name": "zone-a"}], "forNodes": [{"name": "endpoints-worker"}]}
    frame = slices_frame([ch01_slice(name="s", endpoints=[ep], ports=(("http", 80), ("metrics", 9090)))])
    assert frame.iloc[0]["ports"] == "http:80/TCP,metrics:9090/TCP"
    assert frame.iloc[0]["hints"] == "Nodes: endpoints-worker; Zones: zone-a"


def test_endpoints_frame_splits_ready_and_not_ready_addresses_sorted_by_ip():
    eps = {"metadata": {"name": "web", "namespace": "ch01"}, "subsets": [{
        "addresses": [{"ip": "10.244.1.10", "nodeName": "n1", "targetRef": {"kind": "Pod", "name": "a"}},
                      {"ip": "10.244.1.9", "nodeName": "n1"}],
        "notReadyAddresses": [{"ip": "10.244.2.3", "nodeName": "n2"}],
        "ports": [{"port": 80, "protocol": "TCP"}]}]}
    frame = endpoints_frame([eps])
    assert list(frame["ip"]) == ["10.244.1.9", "10.244.1.10", "10.244.2.3"]  # numeric, not string, order
    assert list(frame["ready"]) == [True, True, False]
    assert frame.iloc[1]["targetRef"] == "Pod/a"
    assert set(frame["ports"]) == {"80/TCP"}


def test_pods_frame_reports_readiness_and_graceful_deletion():
    frame = pods_frame([pod("b", None, ready=False, deleting=True), pod("a", "n1", ip="10.0.0.1")])
    assert list(frame["name"]) == ["a", "b"]
    assert list(frame["ready"]) == [True, False]
    assert list(frame["deleting"]) == [False, True]
    assert frame.iloc[0]["node"] == "n1"
    assert pod_ready(pod("x")) and not pod_ready({"status": {}})


def test_services_and_nodes_frames():
    svc = {"metadata": {"name": "web", "namespace": "ch01"},
           "spec": {"type": "ClusterIP", "clusterIP": "10.96.0.20", "selector": {"app": "web", "tier": "fe"},
                    "ports": [{"port": 80, "protocol": "TCP", "targetPort": 8080}]}}
    frame = services_frame([svc])
    assert frame.iloc[0]["ports"] == "80/TCP→8080"
    assert frame.iloc[0]["selector"] == "app=web,tier=fe"
    node = {"metadata": {"name": "endpoints-control-plane",
                         "labels": {"node-role.kubernetes.io/control-plane": "", "topology.kubernetes.io/zone": "z1"}},
            "spec": {"podCIDR": "10.244.0.0/24"},
            "status": {"addresses": [{"type": "InternalIP", "address": "172.18.0.2"}],
                       "conditions": [{"type": "Ready", "status": "Unknown"}]}}
    row = nodes_frame([node]).iloc[0]
    assert (row["roles"], row["ready"], row["internalIP"], row["zone"]) == ("control-plane", "Unknown", "172.18.0.2", "z1")


def test_diff_slices_names_added_removed_changed_and_moved_endpoints():
    before = [ch01_slice(name="web-a", endpoints=[_ep("10.244.1.5"), _ep("10.244.1.6"), _ep("10.244.1.7")])]
    after = [ch01_slice(name="web-a", endpoints=[_ep("10.244.1.5", ready=False), _ep("10.244.1.8")]),
             ch01_slice(name="web-b", endpoints=[_ep("10.244.1.7")])]
    diff = diff_slices(before, slices_frame(after))
    rows = {r["address"]: r for r in diff.to_dict("records")}
    assert rows["10.244.1.5"]["change"] == "changed"
    assert "ready True→False" in rows["10.244.1.5"]["detail"]
    assert rows["10.244.1.6"]["change"] == "removed" and rows["10.244.1.6"]["slice_before"] == "web-a"
    assert rows["10.244.1.7"]["change"] == "moved"
    assert (rows["10.244.1.7"]["slice_before"], rows["10.244.1.7"]["slice_after"]) == ("web-a", "web-b")
    assert rows["10.244.1.8"]["change"] == "added" and rows["10.244.1.8"]["slice_after"] == "web-a"
    assert diff_slices(before, before).empty
