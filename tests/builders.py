"""Builders shared by the tests: a controller harness and the objects the controller shells read.

`ControllerHarness` is the part of a `Cluster` a controller runs on (store, clock, config, shared
informer, Event recorder), built from the same classes the simulator uses, so a shell under test
reads through a real informer cache and writes real Events.
"""

from __future__ import annotations

from dataclasses import replace

from helpers.config import load_cluster_config
from helpers.sim import clock as clock_module
from helpers.sim.clock import Clock
from helpers.sim.cluster import INFORMED
from helpers.sim.controllers.informer import SharedInformer
from helpers.sim.controllers.recorder import EventRecorder
from helpers.sim.store import Store


class HandWall:
    """A wall clock the test moves by hand, in place of the `time` module inside helpers.sim.clock
    (`HandWall.install(monkeypatch)`): a reactor then only wakes when work is submitted, and a test can
    make it late by a chosen amount (`wall.seconds += 2`), as a CPU hog would."""

    def __init__(self):
        self.seconds = 0.0

    @classmethod
    def install(cls, monkeypatch) -> HandWall:
        wall = cls()
        monkeypatch.setattr(clock_module, "_time", wall)
        return wall

    def monotonic(self) -> float:
        return self.seconds

    def time(self) -> float:
        return 1_800_000_000.0


class ControllerHarness:
    """Store, clock, config, informer and recorder for one controller, in a namespace "ns".

    The clock hardly moves on its own (speed 1e-6): tests move it with `advance`. Call `stop()`.
    """

    def __init__(self, **config):
        self.clock = Clock(speed=1e-6)
        self.store = Store(self.clock)
        self.config = replace(load_cluster_config(), **config)
        self.recorder = EventRecorder(self.store, self.clock)
        self.informer = SharedInformer(self.store, self.clock, INFORMED)
        self.informer.start()
        self.store.create("namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ns"}})

    def events(self, reason: str | None = None) -> list[dict]:
        """The Events written so far (optionally of one reason), oldest first."""
        items = self.store.list("events")[0]
        return [e for e in items if reason is None or e["reason"] == reason]

    def stop(self) -> None:
        self.informer.stop()
        self.clock.stop()


def service(name: str = "svc", selector: dict | None = None, ports=({"port": 80},), **spec) -> dict:
    """A Service in "ns"; `selector=None` makes it selectorless."""
    body = {"ports": [dict(p) for p in ports], **spec}
    if selector is not None:
        body["selector"] = selector
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": "ns"}, "spec": body}


def pod_with_ip(ip: str, name: str = "p", node: str = "ghost", labels=None, ready: bool = True) -> dict:
    """A Running pod with one IP and the given Ready condition, as the kubelet would have reported it."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "ns", "labels": dict(labels or {"app": "a"})},
        "spec": {"nodeName": node, "containers": [{"name": "c", "image": "img"}]},
        "status": {
            "phase": "Running",
            "podIP": ip,
            "podIPs": [{"ip": ip}],
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }


def create_running_pod(store, pod: dict) -> dict:
    """Create `pod`, then write its status through the status subresource (as create drops it)."""
    created = store.create("pods", pod, namespace=pod["metadata"]["namespace"])
    created["status"] = pod["status"]
    return store.update("pods", created, subresource="status")
