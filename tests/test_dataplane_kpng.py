"""KPNG model: node-local states, the OpItem stream (full state and diffs), sinks, backends, costs."""

import re
from functools import partial

import pytest
from builders import endpoint, node, proxied_service
from builders import endpoint_slice as eps_slice

from helpers.dataplane import iptables_save, kpng
from helpers.dataplane.kpng import ENDPOINTS_SET, SERVICES_SET, Brain, Op

service = partial(proxied_service, target_port="http")  # the slice port is named, as upstream resolves it
NODES = [node(name, "172.18.0.9", zone=zone)
         for name, zone in (("kind-control-plane", "zone-a"), ("kind-worker", "zone-a"), ("kind-worker2", "zone-b"))]


THREE = [endpoint("10.244.0.5", "kind-control-plane", "zone-a"),
         endpoint("10.244.1.5", "kind-worker", "zone-a"),
         endpoint("10.244.2.5", "kind-worker2", "zone-b")]


def endpoints_of(state):
    return {v["IPs"]["V4"][0]: v for (s, _), v in state.items() if s == ENDPOINTS_SET}


def test_local_state_has_the_service_and_its_endpoints_with_local_flags():
    state = Brain([service()], [eps_slice(THREE)], NODES).local_state("kind-worker")
    assert state[(SERVICES_SET, "demo/web")] == {
        "Namespace": "demo", "Name": "web", "Type": "ClusterIP",
        "IPs": {"ClusterIPs": {"V4": ["10.96.0.20"]}},
        "Ports": [{"Name": "http", "Protocol": "TCP", "Port": 80, "TargetPortName": "http"}],
    }
    eps = endpoints_of(state)
    assert sorted(eps) == ["10.244.0.5", "10.244.1.5", "10.244.2.5"]
    assert eps["10.244.1.5"] == {"IPs": {"V4": ["10.244.1.5"]}, "Local": True,
                                 "PortOverrides": {"http": 8080}, "Scopes": {"Internal": True}}
    assert "Local" not in eps["10.244.2.5"]
    paths = {v["IPs"]["V4"][0]: p for (s, p), v in state.items() if s == ENDPOINTS_SET}
    # KPNG keys an endpoint by its service and a 64-bit hash of its value: one distinct key each,
    # the same in another node's view of the same endpoint, another key once the endpoint changes
    assert len(set(paths.values())) == 3
    assert all(re.fullmatch(r"demo/web/[0-9a-f]{1,16}", p) for p in paths.values()), paths
    other = Brain([service()], [eps_slice(THREE)], NODES).local_state("kind-worker2")
    assert {v["IPs"]["V4"][0]: p for (s, p), v in other.items() if s == ENDPOINTS_SET}["10.244.0.5"] == \
        paths["10.244.0.5"]
    changed = [*THREE[:2], endpoint("10.244.2.5", "kind-worker", "zone-a")]  # now local to kind-worker
    after = Brain([service()], [eps_slice(changed)], NODES).local_state("kind-worker")
    assert {v["IPs"]["V4"][0]: p for (s, p), v in after.items() if s == ENDPOINTS_SET}["10.244.2.5"] != \
        paths["10.244.2.5"]


def test_internal_traffic_policy_local_sends_only_local_endpoints():
    brain = Brain([service(itp="Local")], [eps_slice(THREE)], NODES)
    assert list(endpoints_of(brain.local_state("kind-worker"))) == ["10.244.1.5"]
    no_local = Brain([service(itp="Local")], [eps_slice(THREE[:1])], NODES).local_state("kind-worker2")
    assert list(no_local) == [(SERVICES_SET, "demo/web")]  # the service alone: the backend DROPs


def test_topology_hints_narrow_per_zone_and_are_all_or_nothing():
    hinted = [endpoint("10.244.0.5", "kind-control-plane", "zone-a", hint="zone-a"),
              endpoint("10.244.1.5", "kind-worker", "zone-a", hint="zone-a"),
              endpoint("10.244.2.5", "kind-worker2", "zone-b", hint="zone-b")]
    brain = Brain([service()], [eps_slice(hinted)], NODES)
    assert sorted(endpoints_of(brain.local_state("kind-control-plane"))) == ["10.244.0.5", "10.244.1.5"]
    assert sorted(endpoints_of(brain.local_state("kind-worker2"))) == ["10.244.2.5"]
    one_unhinted = [*hinted[:2], endpoint("10.244.2.5", "kind-worker2", "zone-b")]
    brain = Brain([service()], [eps_slice(one_unhinted)], NODES)
    assert len(endpoints_of(brain.local_state("kind-worker2"))) == 3


def test_not_ready_dropped_terminating_used_only_as_fallback():
    mixed = [endpoint("10.244.0.5", "kind-control-plane", "zone-a"),
             endpoint("10.244.1.5", "kind-worker", "zone-a", ready=False),
             endpoint("10.244.2.5", "kind-worker2", "zone-b", ready=False, terminating=True)]
    assert list(endpoints_of(Brain([service()], [eps_slice(mixed)], NODES).local_state("kind-worker"))) \
        == ["10.244.0.5"]
    only_terminating = mixed[1:]
    assert list(endpoints_of(Brain([service()], [eps_slice(only_terminating)], NODES)
                             .local_state("kind-worker"))) == ["10.244.2.5"]


def test_services_kube_proxy_skips_are_not_in_the_local_model():
    skipped = [service("other", labels={"service.kubernetes.io/service-proxy-name": "cilium"}),
               {**service("headless"), "spec": {**service()["spec"], "clusterIP": "None"}}]
    state = Brain([service(), *skipped], [eps_slice(THREE)], NODES).local_state("kind-worker")
    assert [p for (s, p) in state if s == SERVICES_SET] == ["demo/web"]


def test_unknown_node_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown node 'ghost'"):
        Brain([service()], [eps_slice(THREE)], NODES).local_state("ghost")


def test_full_ops_stream_and_round_trip():
    state = Brain([service(affinity=True)], [eps_slice(THREE)], NODES).local_state("kind-worker")
    ops = kpng.full_ops(state)
    assert [op.op for op in ops] == ["Reset", "Set", "Set", "Set", "Set", "Sync"]
    assert (ops[1].set, ops[1].path) == (SERVICES_SET, "demo/web")
    assert ops[1].value["ClientIP"] == {"TimeoutSeconds": 10800}
    assert kpng.apply_ops({"stale": 1}, ops) == state


def test_diff_when_an_endpoint_turns_not_ready():
    before = Brain([service()], [eps_slice(THREE)], NODES)
    gone = [THREE[0], endpoint("10.244.1.5", "kind-worker", "zone-a", ready=False), THREE[2]]
    after = Brain([service()], [eps_slice(gone)], NODES)
    for name in ("kind-control-plane", "kind-worker", "kind-worker2"):
        old, new = before.local_state(name), after.local_state(name)
        ops = kpng.diff_ops(old, new)
        removed = next(p for (s, p), v in old.items() if s == ENDPOINTS_SET and v["IPs"]["V4"] == ["10.244.1.5"])
        assert ops == [Op("Delete", ENDPOINTS_SET, removed), Op("Sync")]
        assert kpng.apply_ops(old, ops) == new


def test_diff_with_local_policy_reaches_only_the_hosting_node():
    before = Brain([service(itp="Local")], [eps_slice(THREE)], NODES)
    gone = [THREE[0], endpoint("10.244.1.5", "kind-worker", "zone-a", ready=False), THREE[2]]
    after = Brain([service(itp="Local")], [eps_slice(gone)], NODES)
    sizes = {name: len(kpng.diff_ops(before.local_state(name), after.local_state(name))) for name in before.nodes}
    assert sizes == {"kind-control-plane": 1, "kind-worker": 2, "kind-worker2": 1}  # Sync alone = nothing


def test_diff_of_a_target_port_change_sets_service_and_replaces_endpoints():
    before = Brain([service()], [eps_slice(THREE)], NODES).local_state("kind-worker")
    after = Brain([service(target_port=9090)], [eps_slice(THREE, ports=(("http", 9090),))], NODES).local_state("kind-worker")
    ops = kpng.diff_ops(before, after)
    assert [(op.op, op.set) for op in ops] == [
        ("Set", SERVICES_SET), *[("Set", ENDPOINTS_SET)] * 3, *[("Delete", ENDPOINTS_SET)] * 3, ("Sync", "")]
    assert ops[0].value["Ports"][0]["TargetPort"] == 9090
    assert kpng.apply_ops(before, ops) == after


def test_sinks_full_state_and_diff():
    brain = Brain([service()], [eps_slice(THREE)], NODES)
    first = brain.local_state("kind-worker")
    second = Brain([service()], [eps_slice(THREE[:2])], NODES).local_state("kind-worker")
    full_calls, diff_calls = [], []
    full, diff = kpng.FullStateSink(full_calls.append), kpng.DiffSink(diff_calls.append)
    for sink in (full, diff):
        sink.send(kpng.full_ops(first))
        sink.send(kpng.diff_ops(first, second))
    assert [len(call[0]["Endpoints"]) for call in full_calls] == [3, 2]
    assert [[op.op for op in batch] for batch in diff_calls] == [["Reset", "Set", "Set", "Set", "Set"], ["Delete"]]
    assert full.state == diff.state == second


def test_backends_render_the_local_model():
    entries = kpng.service_endpoints(Brain([service(affinity=True)], [eps_slice(THREE)], NODES)
                                     .local_state("kind-worker"))
    rows = kpng.table_backend(entries)
    assert rows == [{"service": "demo/web", "port": "http", "frontend": "10.96.0.20:80/TCP",
                     "endpoints": ["10.244.0.5:8080", "10.244.1.5:8080", "10.244.2.5:8080"],
                     "local endpoints": 1, "policy": "Cluster"}]
    assert kpng.ipvs_backend(entries) == (
        "Prot LocalAddress:Port Scheduler Flags\n"
        "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n"
        "TCP  10.96.0.20:80 rr persistent 10800\n"
        "  -> 10.244.0.5:8080              Masq    1      0          0\n"
        "  -> 10.244.1.5:8080              Masq    1      0          0\n"
        "  -> 10.244.2.5:8080              Masq    1      0          0\n"
    )


# --- measurements ---------------------------------------------------------------------------


def test_scale_cluster_shape():
    cluster = kpng.scale_cluster(3, 250, 4, zones=2)
    assert len(cluster["services"]) == 3 and len(cluster["nodes"]) == 4
    per_service = [len(s["endpoints"]) for s in cluster["endpoint_slices"]]
    assert per_service == [100, 100, 50] * 3
    ips = [ep["addresses"][0] for s in cluster["endpoint_slices"] for ep in s["endpoints"]]
    assert len(set(ips)) == 750
    assert {n["metadata"]["labels"]["topology.kubernetes.io/zone"] for n in cluster["nodes"]} == {"zone-0", "zone-1"}


def test_initial_sync_cost_counts_every_object_for_kube_proxy_and_the_local_model_for_kpng():
    cluster = kpng.scale_cluster(5, 4, 3)
    kube_proxy, kpng_row = kpng.initial_sync_cost(cluster)
    expected = sum(kpng.wire_bytes(o) for o in cluster["services"] + cluster["endpoint_slices"])
    assert kube_proxy["objects per node (max)"] == 10
    assert kube_proxy["bytes per node (max)"] == expected and kube_proxy["bytes in total"] == 3 * expected
    assert kpng_row["objects per node (max)"] == 5 + 20
    assert kpng_row["bytes per node (max)"] < kube_proxy["bytes per node (max)"]


def test_change_cost_one_endpoint_not_ready():
    cluster = kpng.scale_cluster(5, 4, 3, internal_traffic_policy="Local")
    changed_slice = cluster["endpoint_slices"][2]
    ip = changed_slice["endpoints"][1]["addresses"][0]
    after = kpng.with_endpoint_ready(cluster, ip, False)
    kube_proxy, kpng_row = kpng.change_cost(cluster, after)
    assert kube_proxy["nodes reached"] == 3 and kube_proxy["objects per node (max)"] == 1
    new_slice = after["endpoint_slices"][2]
    assert new_slice["metadata"]["resourceVersion"] == "1001"
    assert kube_proxy["bytes per node (max)"] == kpng.wire_bytes(new_slice)
    assert kpng_row["nodes reached"] == 1 and kpng_row["objects per node (max)"] == 1
    path_bytes = len("bench/svc-00002/") + 16  # at most 16 hex digits
    assert 0 < kpng_row["bytes in total"] <= path_bytes


def test_with_endpoint_ready_unknown_ip():
    with pytest.raises(ValueError, match="no EndpointSlice has an endpoint with address 1.2.3.4"):
        kpng.with_endpoint_ready(kpng.scale_cluster(1, 1, 1), "1.2.3.4", False)


def test_scaling_rows_long_format():
    rows = kpng.scaling_rows((5,), (3,), endpoints_per_service=4, internal_traffic_policy="Local")
    kube_proxy, kpng_row = rows
    assert (kube_proxy["design"], kpng_row["design"]) == ("kube-proxy", "KPNG")
    assert kube_proxy["start-up objects per node"] == 10
    # node-000 hosts pods 0, 3, ..., 18 of the 20: the 5 services plus its 7 local endpoints
    assert kpng_row["start-up objects per node"] == 5 + 7
    assert kube_proxy["nodes reached by a change"] == 3 and kpng_row["nodes reached by a change"] == 1
    assert kpng_row["change bytes, all nodes"] < kube_proxy["change bytes, all nodes"] / 3


def test_external_traffic_policy_local_scopes_only_local_endpoints_for_external_traffic():
    svc = service()
    svc["spec"].update({"type": "NodePort", "externalTrafficPolicy": "Local"})
    svc["spec"]["ports"][0]["nodePort"] = 30080
    state = Brain([svc], [eps_slice(THREE)], NODES).local_state("kind-worker")
    assert state[(SERVICES_SET, "demo/web")]["ExternalTrafficToLocal"] is True
    assert state[(SERVICES_SET, "demo/web")]["Ports"][0]["NodePort"] == 30080
    scopes = {ip: v["Scopes"] for ip, v in endpoints_of(state).items()}
    assert scopes == {"10.244.0.5": {"Internal": True}, "10.244.1.5": {"Internal": True, "External": True},
                      "10.244.2.5": {"Internal": True}}


def _node_port_local():
    svc = service()
    svc["spec"].update({"type": "NodePort", "externalTrafficPolicy": "Local"})
    svc["spec"]["ports"][0]["nodePort"] = 30080
    return svc


HINTED = [endpoint("10.244.0.5", "kind-control-plane", "zone-a", hint="zone-a"),
          endpoint("10.244.1.5", "kind-worker", "zone-a", hint="zone-a"),
          endpoint("10.244.2.5", "kind-worker2", "zone-b", hint="zone-b")]
TERMINATING = [endpoint("10.244.0.5", "kind-control-plane", "zone-a", ready=False, terminating=True),
               endpoint("10.244.1.5", "kind-worker", "zone-a", ready=False, terminating=True)]
LOCAL_TERMINATING = [endpoint("10.244.0.5", "kind-control-plane", "zone-a"),
                     endpoint("10.244.1.5", "kind-worker", "zone-a", ready=False, terminating=True)]
CASES = {
    "cluster": ([service()], [eps_slice(THREE)]),
    "affinity": ([service(affinity=True)], [eps_slice(THREE)]),
    "iTP Local": ([service(itp="Local")], [eps_slice(THREE)]),
    "eTP Local NodePort": ([_node_port_local()], [eps_slice(THREE)]),
    "eTP Local, local endpoint terminating": ([_node_port_local()], [eps_slice(LOCAL_TERMINATING)]),
    "zone hints": ([service()], [eps_slice(HINTED)]),
    "terminating fallback": ([service()], [eps_slice(TERMINATING)]),
    "no endpoints": ([service()], [eps_slice([])]),
}


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("node_name", ["kind-worker", "kind-worker2"])
def test_iptables_backend_on_the_local_model_equals_kube_proxy_on_everything(case, node_name):
    services, slices = CASES[case]
    node_obj = next(n for n in NODES if n["metadata"]["name"] == node_name)
    config = {"clusterCIDR": "10.244.0.0/16"}
    entries = kpng.service_endpoints(Brain(services, slices, NODES).local_state(node_name))
    assert kpng.iptables_backend(entries, node_obj, config) == iptables_save(
        services=services, endpoint_slices=slices, node=node_obj, config=config)


def test_iptables_backend_at_scale_with_policies():
    cluster = kpng.scale_cluster(20, 5, 4, internal_traffic_policy="Local", traffic_distribution="PreferSameZone")
    cluster = kpng.with_endpoint_ready(cluster, cluster["endpoint_slices"][3]["endpoints"][0]["addresses"][0], False)
    brain = Brain(cluster["services"], cluster["endpoint_slices"], cluster["nodes"])
    for node_obj in cluster["nodes"]:
        entries = kpng.service_endpoints(brain.local_state(node_obj["metadata"]["name"]))
        assert kpng.iptables_backend(entries, node_obj) == iptables_save(
            services=cluster["services"], endpoint_slices=cluster["endpoint_slices"], node=node_obj)


def test_unknown_op_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown op 'Patch'"):
        kpng.apply_ops({}, [Op("Patch")])
