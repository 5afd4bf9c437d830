"""A controller failing on one key with a non-API error (a Python exception, as a poison object can
cause) retries that key with the work queue's rate-limited back-off (client-go handleErr), logs one
line per retry without a traceback, and keeps working on every other key."""

import logging

from helpers.config import load_cluster_config
from helpers.sim.cluster import Cluster
from helpers.sim.controllers.controller import Controller

POISON = "poison-key"


def test_every_controller_retries_a_failing_key_and_serves_the_others(caplog):
    cluster = Cluster(load_cluster_config())
    try:
        controllers = [c for c in cluster.components if isinstance(c, Controller)]
        assert {"Scheduler", "Kubelet", "ReplicaSetController", "DeploymentController"} <= {
            type(c).__name__ for c in controllers}
        for controller in controllers:
            process = controller.queue._process

            def poisoned(key, process=process):
                if key == POISON:
                    raise TypeError("'NoneType' object is not subscriptable")
                return process(key)
            controller.queue._process = poisoned
        caplog.set_level(logging.INFO, logger="helpers.sim.controllers.workqueue")
        cluster.on_reactor(lambda: [c.enqueue(POISON) for c in controllers])
        store = cluster.store
        store.create("namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "pz"}})
        store.create("deployments.apps", {
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "pz"},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}})
        cluster.clock.advance(60.0)
        assert cluster.clock.settle()
        pods, _ = store.list("pods", "pz")
        running = [p["metadata"]["name"] for p in pods if p.get("status", {}).get("phase") == "Running"]
        assert len(running) == 2, f"other keys stopped: {[(p['metadata']['name'], p.get('status')) for p in pods]}"
        for controller in controllers:
            retries = controller.queue.num_requeues(POISON)
            assert retries >= 5, f"{type(controller).__name__} retried the failing key {retries} times"
            lines = [r for r in caplog.records if r.getMessage().startswith(f"{controller.component}: sync {POISON}")]
            assert lines and all(r.exc_info is None for r in lines), type(controller).__name__
        # one log line per retry, at the back-off's pace: 5 ms doubling, so ~14 in a virtual minute
        scheduler = next(c for c in controllers if type(c).__name__ == "Scheduler")
        assert scheduler.queue.num_requeues(POISON) <= 20
    finally:
        cluster.shutdown()
