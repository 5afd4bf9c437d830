"""Benchmark the pure EndpointSlice reconciler: initial sync, one readiness flip, scaling.

Prints the best CPU time of a few runs (so other load on the machine does not count) for
1,000 / 10,000 / 50,000 ready pods of one Service (100 endpoints per slice): the time
to reconcile from nothing (target for 10,000: < 1 s on one core) and the time for one pod
readiness flip against the resulting slices (one slice update). Issue 16's targets: a flip at 10,000
pods <= 20 ms CPU, and linear scaling kept (a flip at 50,000 <= 5x the flip at 10,000).
Run: .venv/bin/python benchmarks/bench_endpointslice.py [sizes...]
"""

from __future__ import annotations

import sys
import time

from targets import report

from helpers.controlplane.endpointslice.endpointset import EndpointCache
from helpers.controlplane.endpointslice.reconciler import reconcile


def service():
    return {
        "metadata": {"name": "web", "namespace": "bench", "uid": "svc-uid", "labels": {"app": "web"}},
        "spec": {
            "selector": {"app": "web"},
            "clusterIP": "10.96.0.10",
            "ipFamilies": ["IPv4"],
            "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}],
        },
    }


def pods(n):
    return [
        {
            "metadata": {
                "name": f"web-{i}",
                "namespace": "bench",
                "uid": f"uid-{i}",
                "labels": {"app": "web"},
                "resourceVersion": "1",
            },
            "spec": {"nodeName": f"node-{i % 50}", "containers": [{"name": "c"}]},
            "status": {
                "phase": "Running",
                "podIP": f"10.{i >> 16}.{(i >> 8) & 255}.{i & 255}",
                "podIPs": [{"ip": f"10.{i >> 16}.{(i >> 8) & 255}.{i & 255}"}],
                "conditions": [
                    {"type": "Ready", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"}
                ],
            },
        }
        for i in range(n)
    ]


def nodes():
    return [
        {"metadata": {"name": f"node-{i}", "labels": {"topology.kubernetes.io/zone": f"zone-{i % 3}"}}}
        for i in range(50)
    ]


def timed(fn, repeat):
    """Best CPU time of `repeat` runs (process time: other processes on the machine do not count)."""
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        result = fn()
        best = min(best, time.process_time() - start)
    return best, result


def bench(n):
    svc, ps, ns = service(), pods(n), nodes()
    initial_s, result = timed(lambda: reconcile(service=svc, pods=ps, nodes=ns, existing_slices=[]), 3)
    existing = []
    for i, s in enumerate(result.creates):
        s["metadata"]["name"] = f"web-{i:05d}"
        s["metadata"]["resourceVersion"] = "1"
        existing.append(s)
    # The controller keeps an EndpointCache per Service; a flip changes one pod's resourceVersion.
    cache = EndpointCache()
    reconcile(service=svc, pods=ps, nodes=ns, existing_slices=existing, endpoint_cache=cache)
    flipped = ps[n // 2]
    flipped["status"]["conditions"][0]["status"] = "False"
    flipped["metadata"]["resourceVersion"] = "2"

    def flip_once():
        # a new resourceVersion each run, as each real status update would have
        flipped["metadata"]["resourceVersion"] = str(int(flipped["metadata"]["resourceVersion"]) + 1)
        return reconcile(service=svc, pods=ps, nodes=ns, existing_slices=existing, endpoint_cache=cache)

    flip_s, flip = timed(flip_once, 15)  # best of 15: the machine may be shared
    cold_s, _ = timed(lambda: reconcile(service=svc, pods=ps, nodes=ns, existing_slices=existing), 3)
    print(
        f"{n:>7} pods: initial sync {initial_s * 1000:8.1f} ms CPU ({len(result.creates)} creates) | "
        f"readiness flip {flip_s * 1000:7.1f} ms CPU (writes {flip.writes}; "
        f"{cold_s * 1000:.1f} ms without cache)"
    )
    return flip_s


if __name__ == "__main__":
    flips = {size: bench(size) for size in [int(a) for a in sys.argv[1:]] or [1000, 10000, 50000]}
    if 10000 in flips:
        print("issue 16 targets (figure / target / met?):")
        report("one readiness flip, 10,000 pods (best CPU)", flips[10000] * 1000, 20, "ms")
        if 50000 in flips:
            report("flip at 50,000 pods / flip at 10,000 (linear: 5x)", flips[50000] / flips[10000], 5, "x")
