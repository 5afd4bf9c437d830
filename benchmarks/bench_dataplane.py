"""Benchmark: kube-proxy model rendering time and output size as Services grow.

For 1,000 and 10,000 ClusterIP Services with 10 endpoints each (one node's view), prints the
CPU time to build the per-node model (EndpointSliceCache merge + CategorizeEndpoints), to render
the iptables restore payload and the nftables transaction, their sizes, and the size of the
partial sync that follows a change to one Service's endpoints.

Run: ``.venv/bin/python benchmarks/bench_dataplane.py [N ...]``
"""

from __future__ import annotations

import sys
import time

from helpers.dataplane import iptables, nftables
from helpers.dataplane.proxy import build_proxy_state
from helpers.dataplane.stats import sync_payload, synthetic_cluster

CONFIG = {"clusterCIDR": "10.244.0.0/16"}
ENDPOINTS_PER_SERVICE = 10


def _timed(fn, *args, **kwargs):
    """Result and CPU seconds (process time: steadier than wall time on a shared machine)."""
    started = time.process_time()
    result = fn(*args, **kwargs)
    return result, time.process_time() - started


def bench(n_services: int) -> list[dict]:
    services, slices = synthetic_cluster(n_services, ENDPOINTS_PER_SERVICE)
    state, t_model = _timed(build_proxy_state, services, slices, "node-0", CONFIG)
    changed = [dict(slices[0], endpoints=slices[0]["endpoints"][1:])] + slices[1:]
    after = build_proxy_state(services, changed, "node-0", CONFIG)
    rows = []
    for mode, render, text in (
        ("iptables", iptables.render, lambda r: r.restore_payload()),
        ("nftables", lambda s: nftables.render(s, service_cidrs=["10.96.0.0/12"]),
         lambda r: "\n".join(r.transaction_lines()) + "\n"),
    ):
        ruleset, t_render = _timed(render, state)
        payload, t_text = _timed(text, ruleset)
        partial = sync_payload(ruleset, render(after), {("bench", "svc-0")})
        rows.append({"services": n_services, "endpoints": n_services * ENDPOINTS_PER_SERVICE, "mode": mode,
                     "model_s": t_model, "render_s": t_render + t_text, "bytes": len(payload),
                     "lines": payload.count("\n"), "partial_bytes": len(partial)})
    return rows


def main(argv: list[str]) -> None:
    sizes = [int(a) for a in argv] or [1000, 10000]
    header = f"{'services':>8} {'endpoints':>9} {'mode':>8} {'model cpu s':>11} {'render cpu s':>12} " \
             f"{'full MB':>8} {'lines':>8} {'partial KB':>10}"
    print(header)
    for n in sizes:
        for r in bench(n):
            print(f"{r['services']:>8} {r['endpoints']:>9} {r['mode']:>8} {r['model_s']:>11.3f} {r['render_s']:>12.3f} "
                  f"{r['bytes'] / 1e6:>8.2f} {r['lines']:>8} {r['partial_bytes'] / 1e3:>10.1f}")


if __name__ == "__main__":
    main(sys.argv[1:])
