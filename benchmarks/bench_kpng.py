"""Benchmark: what every node receives, kube-proxy's watches versus KPNG's node-local model.

For clusters of 100 / 1,000 / 5,000 ClusterIP Services with 10 endpoints each on 3 / 10 / 100
nodes, prints per node:
* at start-up: kube-proxy lists every Service and EndpointSlice; a KPNG backend receives its
  node's local state (full-state sink);
* per change (one endpoint turns not ready): kube-proxy receives the whole updated slice on
  every node; a KPNG backend receives its diff (diff sink), or nothing.
Then, at 1,000 Services on 100 nodes, the same for internalTrafficPolicy: Local and
trafficDistribution: PreferSameZone, which make the local models smaller. Sizes are compact
JSON bytes for both designs; times are the model's own compute time.

Run: ``.venv/bin/python benchmarks/bench_kpng.py [SERVICES ...]`` (default 100 1000 5000)
"""

from __future__ import annotations

import sys
import time

from helpers.dataplane.kpng import change_cost, initial_sync_cost, scale_cluster, with_endpoint_ready

NODE_COUNTS = (3, 10, 100)
ENDPOINTS_PER_SERVICE = 10


def _kib(n: float) -> str:
    return f"{n / 1024:,.1f} KiB"


def measure(services: int, nodes: int, **policy) -> tuple[list[dict], list[dict], float]:
    """Start-up and one-change rows for one cluster, plus the seconds the model took."""
    started = time.perf_counter()
    cluster = scale_cluster(services, ENDPOINTS_PER_SERVICE, nodes, **policy)
    victim = cluster["endpoint_slices"][0]["endpoints"][3]["addresses"][0]
    initial = initial_sync_cost(cluster)
    change = change_cost(cluster, with_endpoint_ready(cluster, victim, False))
    return initial, change, time.perf_counter() - started


def report(label: str, initial: list[dict], change: list[dict], seconds: float) -> None:
    kp0, kpng0 = initial
    kp1, kpng1 = change
    print(f"{label:<36} start-up per node: kube-proxy {kp0['objects per node (max)']:>6} objects "
          f"{_kib(kp0['bytes per node (mean)']):>13} | KPNG {kpng0['objects per node (max)']:>6} objects "
          f"{_kib(kpng0['bytes per node (mean)']):>13} ({kp0['bytes per node (mean)'] / max(kpng0['bytes per node (mean)'], 1):.1f}x less)")
    print(f"{'':<36} one change, all nodes: kube-proxy {kp1['nodes reached']:>3} nodes {_kib(kp1['bytes in total']):>11}"
          f" | KPNG {kpng1['nodes reached']:>3} nodes {kpng1['bytes in total']:>7,} B"
          f" ({kp1['bytes in total'] / max(kpng1['bytes in total'], 1):,.0f}x less)   [{seconds:.1f} s]")


def main(service_counts: list[int]) -> None:
    print(f"Services with {ENDPOINTS_PER_SERVICE} endpoints each, internalTrafficPolicy Cluster, no topology")
    for services in service_counts:
        for nodes in NODE_COUNTS:
            report(f"{services:,} Services, {nodes} nodes", *measure(services, nodes))
    print("\nPolicies that shrink the node-local model (1,000 Services, 100 nodes)")
    for label, policy in (("internalTrafficPolicy: Cluster", {}),
                          ("internalTrafficPolicy: Local", {"internal_traffic_policy": "Local"}),
                          ("trafficDistribution: PreferSameZone", {"traffic_distribution": "PreferSameZone"})):
        report(label, *measure(1000, 100, **policy))


if __name__ == "__main__":
    main([int(arg) for arg in sys.argv[1:]] or [100, 1000, 5000])
