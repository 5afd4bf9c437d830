"""Benchmark: what every node receives, kube-proxy's watches versus KPNG's node-local model.

For clusters of 100 / 1,000 / 5,000 ClusterIP Services with 10 endpoints each on 3 / 10 / 100
nodes, prints per node:
* at start-up: kube-proxy lists every Service and EndpointSlice; a KPNG backend receives its
  node's local state (full-state sink);
* per change (one endpoint turns not ready): kube-proxy receives the whole updated slice on
  every node; a KPNG backend receives its diff (diff sink), or nothing.
Then, at 1,000 Services on 100 nodes, internalTrafficPolicy: Local and trafficDistribution:
PreferSameZone, which make the local models smaller, and 20 Services with 10 / 100 / 1,000
endpoints each (slices hold at most 100). Sizes are compact JSON bytes for both
designs; the bracketed time is the model's compute time for that cluster.

Run: ``.venv/bin/python benchmarks/bench_kpng.py [SERVICES ...]`` (default 100 1000 5000)
"""

from __future__ import annotations

import sys
import time

from helpers.dataplane.kpng import scaling_rows

NODE_COUNTS = (3, 10, 100)


def _kib(n: float) -> str:
    return f"{n / 1024:,.1f} KiB"


def report(label: str, services: int, nodes: int, endpoints: int = 10, **policy) -> None:
    """Measure one cluster and print two lines: start-up per node, one change over all nodes."""
    started = time.perf_counter()
    kube_proxy, kpng = scaling_rows((services,), (nodes,), endpoints, **policy)
    seconds = time.perf_counter() - started
    start_kp, start_kpng = kube_proxy["start-up bytes per node"], kpng["start-up bytes per node"]
    change_kp, change_kpng = kube_proxy["change bytes, all nodes"], kpng["change bytes, all nodes"]
    print(f"{label:<40} start-up per node: kube-proxy {kube_proxy['start-up objects per node']:>6} objects "
          f"{_kib(start_kp):>13} | KPNG {kpng['start-up objects per node']:>6} objects {_kib(start_kpng):>13} "
          f"({start_kp / max(start_kpng, 1):.1f}x less)")
    print(f"{'':<40} one change, all nodes: kube-proxy {kube_proxy['nodes reached by a change']:>3} nodes "
          f"{_kib(change_kp):>11} | KPNG {kpng['nodes reached by a change']:>3} nodes {change_kpng:>7,} B "
          f"({change_kp / max(change_kpng, 1):,.0f}x less)   [{seconds:.1f} s]")


def main(service_counts: list[int]) -> None:
    print("Services with 10 endpoints each, internalTrafficPolicy Cluster, no topology")
    for services in service_counts:
        for nodes in NODE_COUNTS:
            report(f"{services:,} Services, {nodes} nodes", services, nodes)
    print("\nPolicies that shrink the node-local model (1,000 Services, 100 nodes; compare the row above)")
    report("internalTrafficPolicy: Local", 1000, 100, internal_traffic_policy="Local")
    report("trafficDistribution: PreferSameZone", 1000, 100, traffic_distribution="PreferSameZone")
    print("\nBigger Services: a change re-sends a whole slice (up to 100 endpoints) to every node")
    for endpoints in (10, 100, 1000):
        report(f"20 Services x {endpoints} endpoints, 10 nodes", 20, 10, endpoints)


if __name__ == "__main__":
    main([int(arg) for arg in sys.argv[1:]] or [100, 1000, 5000])
