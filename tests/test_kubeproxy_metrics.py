"""The simulated kube-proxy's /metrics page (helpers.sim.proxymetrics) and h.proxy_metrics."""

from __future__ import annotations

import pytest

import helpers as h
from helpers.connect import SIM_CONTEXT, load_backend
from helpers.nodes import docker_command, parse_metrics
from helpers.sim.proxymetrics import _number

LATENCY = "kubeproxy_network_programming_duration_seconds"


@pytest.mark.parametrize(("value", "text"), [
    (0.25, "0.25"), (1.0, "1"), (300.0, "300"), (0.0, "0"), (float("inf"), "+Inf"), (123456.0, "123456"),
    (1e6, "1e+06"), (1764700000.123456, "1.764700000123456e+09"), (1.234e-05, "1.234e-05"), (0.0001, "0.0001"),
])
def test_numbers_print_as_go_formats_them(value, text):
    assert _number(value) == text


def test_parse_metrics_reads_labels_and_values():
    page = ('# HELP x [ALPHA] help\n# TYPE x histogram\nx_bucket{ip_family="IPv4",le="+Inf"} 3\n'
            'x_sum{ip_family="IPv4"} 1.5\ny 1e+06\nz{a="q\\"uote"} 2\n')
    assert parse_metrics(page) == [
        {"metric": "x_bucket", "labels": {"ip_family": "IPv4", "le": "+Inf"}, "value": 3.0},
        {"metric": "x_sum", "labels": {"ip_family": "IPv4"}, "value": 1.5},
        {"metric": "y", "labels": {}, "value": 1e6},
        {"metric": "z", "labels": {"a": 'q\\"uote'}, "value": 2.0},
    ]


def test_kind_reads_the_page_inside_the_node():
    assert docker_command("metrics", "endpoints-worker") == [
        "docker", "exec", "endpoints-worker", "curl", "-sS", "--max-time", "10", "http://127.0.0.1:10249/metrics"]


def test_a_scale_up_is_observed_as_network_programming_latency(private_sim):
    backend = load_backend("sim", SIM_CONTEXT, private_sim.kubeconfig)
    node = "endpoints-worker"
    before = h.proxy_metrics(node, backend=backend)
    started = h.cluster_time(backend=backend).timestamp()
    # Nothing was programmed from a trigger time after this kube-proxy started: no sample yet.
    assert LATENCY + "_count" not in set(before["metric"])
    with h.sandbox("hx-metrics", backend=backend) as box:
        h.apply(h.deployment("web", replicas=2), h.service("web"), namespace=box.name, backend=backend)
        h.wait_for_slices(box.name, "web", endpoints=2, ready=2, backend=backend)
        h.wait_for_rules(node, f"{box.name}/web", backend=backend)
        h.advance(2, backend=backend)  # past minSyncPeriod: the sync with the ready endpoints has run
        after = h.proxy_metrics(node, backend=backend)
    buckets = after[after["metric"] == f"{LATENCY}_bucket"]
    counts = list(buckets["value"])
    assert counts == sorted(counts), "histogram buckets are cumulative"
    assert buckets["labels"].iloc[-1] == {"ip_family": "IPv4", "le": "+Inf"}
    total = after.query("metric == @LATENCY + '_count'")["value"].item()
    assert total >= 1 and counts[-1] == total
    stamp = after.query("metric == 'kubeproxy_sync_proxy_rules_last_timestamp_seconds'")["value"].item()
    assert started <= stamp <= h.cluster_time(backend=backend).timestamp()


def test_metrics_of_an_unknown_node_say_which_nodes_exist(private_sim):
    backend = load_backend("sim", SIM_CONTEXT, private_sim.kubeconfig)
    with pytest.raises(h.NodeActionError, match="no node"):
        h.proxy_metrics("endpoints-worker42", backend=backend)
