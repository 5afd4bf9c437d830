"""Issue 20 #1: work one request can cause is bounded (ReplicaSet slow start and burst, clock jumps)."""

import json
from types import SimpleNamespace

import pytest

from helpers.sim.api.errors import ApiError, forbidden
from helpers.sim.control import MAX_SECONDS, ControlHandler
from helpers.sim.controllers import workloads
from helpers.sim.controllers.workloads import BURST_REPLICAS, ReplicaSetController, slow_start_batch


def test_slow_start_batches_double_and_stop_after_a_failing_batch():
    calls = []

    def fn():
        calls.append(1)
        if len(calls) == 6:
            raise forbidden("pods", "x", "exceeded quota")
    # batches 1, 2, 4: the failing batch is still made in full, as upstream's concurrent batch is
    assert slow_start_batch(100, 1, fn)[0] == 6 and len(calls) == 7
    calls.clear()
    assert slow_start_batch(5, 1, lambda: calls.append(1)) == (5, None) and len(calls) == 5
    assert slow_start_batch(0, 1, fn) == (0, None)


class _Recording(ReplicaSetController):
    def __init__(self, rs, fail_at=None):  # no cluster: only sync's own decisions are exercised
        self.rs, self.created, self.fail_at, self.calls = rs, [], fail_at, 0
        self.informer = SimpleNamespace(get=lambda *_: rs)
        self.clock = SimpleNamespace(time=lambda: 0.0)
        self._creating, self._deleting = {}, {}

    def claimed_pods(self, owner):
        return []

    def create_pod(self, owner, pod):
        self.calls += 1
        if self.calls == self.fail_at:
            raise forbidden("pods", "x", "exceeded quota")
        self.created.append(pod)

    def write_status(self, obj, status):
        pass


def replicaset(replicas):
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "rs", "namespace": "default", "uid": "u"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"a": "b"}},
                     "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": []}}}}


def test_one_replicaset_sync_creates_at_most_burst_replicas():
    assert BURST_REPLICAS == 500 and workloads.SLOW_START_INITIAL_BATCH_SIZE == 1
    controller = _Recording(replicaset(2 ** 31 - 1))
    controller.sync(("default", "rs"))
    assert len(controller.created) == BURST_REPLICAS


def test_a_failing_create_stops_the_slow_start_and_fails_the_sync():
    controller = _Recording(replicaset(300), fail_at=4)
    with pytest.raises(ApiError):
        controller.sync(("default", "rs"))
    assert controller.calls == 7 and len(controller.created) == 6  # batches 1, 2, then 4 with one failure


@pytest.mark.parametrize("seconds", [1e9, MAX_SECONDS + 1, -1, float("nan"), "5", True])
def test_clock_jumps_are_bounded(seconds):
    def never(*_):
        raise AssertionError("the clock must not be asked")
    handler = ControlHandler(SimpleNamespace(clock=SimpleNamespace(advance=never, fast_forward=never)))
    status, _, body = handler("POST", "/sim/clock/advance", {}, json.dumps({"seconds": seconds}).encode())
    assert status == 400 and json.loads(body)["reason"] == "BadRequest"
    status, _, body = handler("POST", "/sim/clock/fast-forward", {}, json.dumps({"seconds": seconds}).encode())
    assert status == 400
