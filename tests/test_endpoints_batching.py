"""Upstream E9 (TestPodUpdatesBatching): the batch period collapses pod events into one Endpoints write.

Runs the real EndpointsController shell on a real Store, informer and a nearly frozen Clock that the test
moves with `advance`, so event timing is exact.
"""

from __future__ import annotations

import pytest
from builders import ControllerHarness, pod_with_ip

from helpers.sim.controllers.endpoints import EndpointsController


@pytest.mark.parametrize(
    ("batch", "gaps", "writes"),
    [(0.0, [0.2, 0.1, 0.1], 3), (1.0, [0.2, 0.1, 0.1], 1), (1.0, [0.2, 0.1, 1.0], 2)],
    ids=["no-batching", "one-batch", "third-event-after-the-batch"],
)
def test_e9_pod_updates_batching(batch, gaps, writes):
    h = ControllerHarness(endpoint_updates_batch_period=batch)
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
        h.stop()
