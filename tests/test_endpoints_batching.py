"""Upstream E9 (TestPodUpdatesBatching): the batch period collapses pod events into one Endpoints write.

Runs the real EndpointsController shell on a real Store and a nearly frozen Clock that the test
moves with `advance`, so event timing is exact.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from helpers.config import load_cluster_config
from helpers.sim.clock import Clock
from helpers.sim.controllers.endpoints import EndpointsController
from helpers.sim.store import Store


class Harness:
    """The parts of a Cluster a controller uses: store, clock, config (no informer, no recorder).

    The clock hardly moves on its own (speed 1e-6): tests move it with `advance`.
    """

    def __init__(self, **config):
        self.clock = Clock(speed=1e-6)
        self.store = Store(self.clock)
        self.config = replace(load_cluster_config(), **config)
        self.store.create("namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ns"}})


def pod_with_ip(ip):
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": "ns", "labels": {"app": "a"}},
        "spec": {"nodeName": "ghost", "containers": [{"name": "c", "image": "img"}]},
        "status": {
            "phase": "Running",
            "podIP": ip,
            "podIPs": [{"ip": ip}],
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    }


@pytest.mark.parametrize(
    ("batch", "gaps", "writes"),
    [(0.0, [0.2, 0.1, 0.1], 3), (1.0, [0.2, 0.1, 0.1], 1), (1.0, [0.2, 0.1, 1.0], 2)],
    ids=["no-batching", "one-batch", "third-event-after-the-batch"],
)
def test_e9_pod_updates_batching(batch, gaps, writes):
    h = Harness(endpoint_updates_batch_period=batch)
    try:
        store = h.store
        store.create(
            "services",
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": "svc"},
                "spec": {"selector": {"app": "a"}, "ports": [{"port": 80}]},
            },
            namespace="ns",
        )
        pod = store.create("pods", pod_with_ip("10.0.0.1"), namespace="ns")
        pod["status"] = pod_with_ip("10.0.0.1")["status"]
        store.update("pods", pod, subresource="status")
        EndpointsController(h).start()
        h.clock.advance(5)
        assert store.get("endpoints", "svc", "ns")["subsets"][0]["addresses"][0]["ip"] == "10.0.0.1"
        seen = []
        store.subscribe(lambda t, r, obj, old: r == "endpoints" and t == "MODIFIED" and seen.append(obj))
        for i, gap in enumerate(gaps):
            h.clock.advance(gap)
            pod = store.get("pods", "p", "ns")
            ip = f"10.0.0.{i + 2}"
            pod["status"]["podIP"], pod["status"]["podIPs"] = ip, [{"ip": ip}]
            store.update("pods", pod, subresource="status")
        h.clock.advance(5)
        assert len(seen) == writes
        assert seen[-1]["subsets"][0]["addresses"][0]["ip"] == "10.0.0.4"
    finally:
        h.clock.stop()
