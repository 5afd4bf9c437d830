"""Several watchers, kubectl and the Python client at once against one simulated cluster."""

import json
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor

from conftest import KUBECTL, api_client, deployment, kubectl, ready, wait_until

WATCHERS = 4
REPLICAS = 6


def watch_until_ready(handle, ns, seen, stop):
    """A Python-client watch that records every pod it sees Ready (its own ApiClient per thread)."""
    from kubernetes import client, watch

    core = client.CoreV1Api(api_client(handle))
    w = watch.Watch()
    for event in w.stream(core.list_namespaced_pod, ns, timeout_seconds=30):
        if event["type"] == "BOOKMARK":
            continue
        pod = event["raw_object"]
        if ready(pod):
            seen.add(pod["metadata"]["name"])
        if stop.is_set():
            w.stop()


def test_watchers_kubectl_and_python_client_at_once(sim, ns):
    stop = threading.Event()
    seen = [set() for _ in range(WATCHERS)]
    with ThreadPoolExecutor(max_workers=WATCHERS + 3) as pool:
        watchers = [pool.submit(watch_until_ready, sim, ns, seen[i], stop) for i in range(WATCHERS)]
        kubectl_watch = subprocess.Popen([KUBECTL, f"--kubeconfig={sim.kubeconfig}",
                                          f"--cache-dir={sim.kubeconfig}.cache", "get", "pods", "-n", ns, "-w",
                                          "--no-headers"], stdout=subprocess.PIPE, text=True)
        streamed = []
        pool.submit(lambda: streamed.extend(kubectl_watch.stdout))
        writer = pool.submit(kubectl, sim, "apply", "-n", ns, "-f", "-",
                             input=json.dumps(deployment("crowd", REPLICAS)))

        def create_with_python():
            from kubernetes import client

            apps = client.AppsV1Api(api_client(sim))
            apps.create_namespaced_deployment(ns, deployment("py", REPLICAS))

        python_writer = pool.submit(create_with_python)
        writer.result(timeout=30)
        python_writer.result(timeout=30)
        readers = [pool.submit(kubectl, sim, "get", "pods", "-n", ns, "-o", "name") for _ in range(3)]
        for reader in readers:
            assert reader.result(timeout=30).returncode == 0
        names = wait_until(sim, lambda: (pods := sim.cluster.store.list("pods", ns)[0]) and len(pods) == 2 * REPLICAS
                           and all(ready(p) for p in pods) and {p["metadata"]["name"] for p in pods},
                           what="12 ready pods")
        wait_until(sim, lambda: all(s == names for s in seen), what="every watcher saw every pod Ready")
        stop.set()
        sim.cluster.store.create("pods", {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "nudge"},
                                          "spec": {"containers": [{"name": "c", "image": "busybox"}]}},
                                 namespace=ns)  # wakes the watchers so they notice `stop`
        for future in watchers:
            future.result(timeout=30)
        # kubectl -w streamed every pod as well, and saw each of them Running.
        wait_until(sim, lambda: names <= {line.split()[0] for line in streamed if line.split()[2] == "Running"},
                   what="kubectl -w to show every pod Running")
        kubectl_watch.terminate()  # `kubectl get -w` runs until stopped
        kubectl_watch.wait(timeout=30)
