"""The real kube-proxy's /metrics page as the judge of the simulator's (helpers.sim.proxymetrics).

One simulator and a real kube-proxy per node (tests/kubeproxy_oracle.py). After one EndpointSlice
change with a trigger time, for every series the simulator serves, the real page must have the same
HELP and TYPE lines, label names and buckets (IPv4 only: the model proxies no IPv6).
"""

from __future__ import annotations

import re
import time
import urllib.request
from datetime import UTC, datetime

import kubeproxy_oracle as oracle
import netns
import pytest

from helpers.kube import ANNOTATION_TRIGGER_TIME, format_rfc3339nano
from helpers.nodes import METRICS_PORT, backoff_pauses, parse_metrics

UNAVAILABLE = netns.kube_proxy_unavailable()

pytestmark = pytest.mark.skipif(bool(UNAVAILABLE), reason=UNAVAILABLE)
NODE = "endpoints-worker"
LATENCY_COUNT = "kubeproxy_network_programming_duration_seconds_count"
WAIT_S = 30


def _read(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read().decode()


@pytest.fixture(scope="module")
def pages():
    lab = oracle.Lab("iptables")
    try:
        ns = "metrics"
        lab.store.create("namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
        lab.store.create("services", oracle.service("lat", [oracle.port("", 80, 8080)]), namespace=ns)
        piece = oracle.endpoint_slice("lat", [oracle.slice_port("", 8080)], [oracle.endpoint(NODE, 7)])
        # The trigger time is now on both clocks: the real kube-proxy measures with the wall clock,
        # the simulated one with the virtual clock, which runs at wall speed here.
        piece["metadata"]["annotations"] = {ANNOTATION_TRIGGER_TIME: format_rfc3339nano(datetime.now(UTC))}
        lab.store.create(oracle.SLICES, piece, namespace=ns)
        node = lab.kernel.nodes[NODE]
        deadline = time.monotonic() + WAIT_S
        for pause in backoff_pauses(0.05, 0.5):
            real = node.ns.run_inside(lambda: _read(f"http://127.0.0.1:{METRICS_PORT}/metrics"))
            model = _read(f"{lab.sim.url}/sim/nodes/{NODE}/proxy-metrics")
            if LATENCY_COUNT in real and LATENCY_COUNT in model:
                break
            assert time.monotonic() < deadline, f"no network-programming sample within {WAIT_S} s"
            time.sleep(pause)  # bounded re-read: both kube-proxies sync within their 1 s minSyncPeriod
        yield real, model
    finally:
        lab.stop()


def _headers(page: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in page.splitlines():
        match = re.match(r"# (?:HELP|TYPE) (\S+) ", line)
        if match:
            found.setdefault(match.group(1), []).append(line)
    return found


def test_every_modelled_series_is_described_as_upstream_describes_it(pages):
    real, model = pages
    real_headers = _headers(real)
    for name, lines in _headers(model).items():
        assert real_headers.get(name) == lines, f"{name}: real {real_headers.get(name)}, model {lines}"


def test_label_names_and_buckets_match(pages):
    real, model = pages

    def shape(page: str, names: set[str]) -> dict[str, list[tuple[str, ...]]]:
        out: dict[str, list[tuple[str, ...]]] = {}
        for sample in parse_metrics(page):
            base = re.sub(r"_(bucket|sum|count)$", "", sample["metric"])
            if base in names and sample["labels"].get("ip_family", "IPv4") == "IPv4":
                labels = sample["labels"]
                out.setdefault(sample["metric"], []).append(
                    (*sorted(labels), labels.get("le", "")))
        return out

    names = set(_headers(model))
    real_shape = shape(real, names)
    for metric, rows in shape(model, names).items():
        assert real_shape.get(metric) == rows, metric
