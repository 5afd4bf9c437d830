"""Component start-up is race-free: every component starts on the reactor thread, so no event handler
runs while a component is still subscribing and listing (the simulated kube-proxy once stalled in
whole-suite runs: its start() ran on the building thread while the reactor delivered its events)."""

import threading

from helpers.config import load_cluster_config
from helpers.sim.cluster import Cluster
from helpers.sim.controllers.kubeproxy import KubeProxy

HANDLER_WAIT_S = 0.5  # how long start() gives a concurrently running reactor to deliver the event


def test_no_event_is_handled_while_a_kube_proxy_starts(monkeypatch):
    """During its initial list, the kube-proxy writes a Service (as any client may at that moment) and
    gives the reactor time to deliver it: the handler must only run after start() returns."""
    starting, handled_during_start, threads = set(), [], []
    record, on_event, start = KubeProxy._record, KubeProxy._on_event, KubeProxy.start
    delivered, handled = threading.Event(), threading.Event()

    def tracked_start(self):
        threads.append(self.cluster.clock.in_reactor())
        starting.add(self.node_name)
        try:
            start(self)
        finally:
            starting.discard(self.node_name)

    def racing_record(self, event_type, resource, obj):
        if self.node_name in starting and resource == "services" and not delivered.is_set():
            delivered.set()
            self.cluster.store.create("services", {"apiVersion": "v1", "kind": "Service",
                                                   "metadata": {"name": f"during-{self.node_name}"},
                                                   "spec": {"ports": [{"port": 80}]}}, namespace="default")
            handled.wait(HANDLER_WAIT_S)  # before the fix the reactor handles it here, concurrently
        return record(self, event_type, resource, obj)

    def tracked_on_event(self, event_type, resource, obj):
        if self.node_name in starting:
            handled_during_start.append((self.node_name, event_type, obj["metadata"]["name"]))
        handled.set()
        return on_event(self, event_type, resource, obj)

    monkeypatch.setattr(KubeProxy, "start", tracked_start)
    monkeypatch.setattr(KubeProxy, "_record", racing_record)
    monkeypatch.setattr(KubeProxy, "_on_event", tracked_on_event)
    cluster = Cluster(load_cluster_config())
    try:
        assert not handled_during_start, f"events handled while a kube-proxy was starting: {handled_during_start}"
        assert threads and all(threads), "a kube-proxy started on a thread other than the reactor"
        assert cluster.clock.settle()
        assert handled.is_set()
        for name, proxy in cluster.kube_proxies.items():
            assert proxy.syncs, f"{name}'s kube-proxy never synced"
    finally:
        cluster.shutdown()


def test_every_component_starts_on_the_reactor(monkeypatch):
    seen = {}

    def spy(component_cls):
        original = component_cls.start

        def start(self):
            seen.setdefault(type(self).__name__, set()).add(threading.current_thread().name == "sim-clock")
            return original(self)
        return start

    import helpers.sim.cluster as cluster_module

    classes = {obj for obj in vars(cluster_module).values()
               if isinstance(obj, type) and callable(getattr(obj, "start", None)) and obj.__module__.startswith(
                   "helpers.sim.controllers")}
    for cls in classes:
        monkeypatch.setattr(cls, "start", spy(cls))
    cluster = Cluster(load_cluster_config())
    try:
        assert {"Kubelet", "KubeProxy", "Scheduler", "SharedInformer"} <= set(seen)
        off_reactor = sorted(name for name, where in seen.items() if where != {True})
        assert not off_reactor, f"started off the reactor thread: {off_reactor}"
    finally:
        cluster.shutdown()
