"""Benchmark simulated traffic: requests per second through kube-proxy's rules and the agnhost model.

A Service with N ready agnhost netexec pods (N = 3, 30, 300), a client pod on a worker; each request
is one new connection: the client node's rules (the tracer's walk, cached per sync and destination),
a seeded draw, conntrack bookkeeping, the answering process. Measured in-process
(`Cluster.requests`) and over HTTP (`h.requests`'s `POST /sim/traffic/requests`, JSON both ways), and
with the walk through the rules redone for every request (the rules stay parsed; normally a walk is
cached per sync and destination, so this bounds the first request to a Service after each sync).
Run: .venv/bin/python benchmarks/bench_traffic.py
"""

from __future__ import annotations

import json
import tempfile
import time
import urllib.request
from pathlib import Path

from helpers.sim import images, start_in_process

NS = "bench"


def pod(name: str, args: list[str], labels: dict) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": NS, "labels": labels},
            "spec": {"containers": [{"name": "app", "image": images.AGNHOST_IMAGE, "args": args}]}}


def setup(cluster, replicas: int, service: str) -> None:
    workers = [n for n in cluster.node_names() if "worker" in n]
    for i in range(replicas):
        cluster.create_running_pod(pod(f"{service}-{i}", ["netexec"], {"app": service}), workers[i % len(workers)])
    cluster.store.create("services", {"apiVersion": "v1", "kind": "Service", "metadata": {"name": service},
                                      "spec": {"selector": {"app": service},
                                               "ports": [{"port": 80, "targetPort": 8080}]}}, namespace=NS)
    cluster.clock.advance(3.0)
    cluster.clock.settle()


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        handle = start_in_process(speed=1.0, kubeconfig_path=Path(tmp) / "kubeconfig")
        cluster = handle.cluster
        try:
            cluster.store.create("namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
            worker = next(n for n in cluster.node_names() if "worker" in n)
            cluster.create_running_pod(pod("client", ["pause"], {"role": "client"}), worker)
            print(f"{'endpoints':>9} {'in-process req/s':>17} {'HTTP req/s':>11} {'uncached req/s':>15} ok")
            for replicas in (3, 30, 300):
                service = f"web{replicas}"
                setup(cluster, replicas, service)
                count = 5000
                start = time.perf_counter()
                rows = cluster.requests(NS, service, count=count, client="client")
                in_process = count / (time.perf_counter() - start)
                body = json.dumps({"namespace": NS, "service": service, "client": "client", "count": count}).encode()
                req = urllib.request.Request(f"{handle.url}/sim/traffic/requests", data=body, method="POST",
                                             headers={"Content-Type": "application/json"})
                start = time.perf_counter()
                with urllib.request.urlopen(req, timeout=600) as answer:
                    json.load(answer)
                over_http = count / (time.perf_counter() - start)
                traffic, uncached = cluster.traffic, 200
                start = time.perf_counter()
                for _ in range(uncached):
                    traffic._traces.clear()
                    cluster.requests(NS, service, count=1, client="client")
                cold = uncached / (time.perf_counter() - start)
                ok = sum(r["outcome"] == "ok" for r in rows) / count
                print(f"{replicas:>9} {in_process:>17,.0f} {over_http:>11,.0f} {cold:>15,.0f} {ok:.0%}")
        finally:
            handle.stop()


if __name__ == "__main__":
    main()
