"""kube-proxy's change trackers and BoundedFrequencyRunner (helpers.dataplane.changetracker, .runner).

Cases follow pkg/proxy/servicechangetracker_test.go, endpointschangetracker_test.go and
runner/bounded_frequency_runner_test.go: an undone change drops out, deletions forget trigger
times, runs are at least minInterval apart and retried after retryInterval.
"""

from __future__ import annotations

import copy
from functools import partial

import pytest
from builders import endpoint, endpoint_slice
from builders import proxied_service as service

from helpers.dataplane.changetracker import EndpointsChangeTracker, ServiceChangeTracker, ServiceMap
from helpers.dataplane.runner import BoundedFrequencyRunner

TRIGGER = "endpoints.kubernetes.io/last-change-trigger-time"
web_slice = partial(endpoint_slice, [endpoint("10.244.1.5")])


def test_an_undone_service_change_drops_out():
    tracker, services = ServiceChangeTracker(), ServiceMap()
    assert tracker.update(None, service())
    assert services.update(tracker) == {("demo", "web")} and len(services.services()) == 1
    assert tracker.update(service(), service(port=81))
    assert not tracker.update(service(port=81), service())  # back to what was synced: nothing pending
    assert services.update(tracker) == set()


def test_label_only_updates_and_skipped_services():
    tracker, services = ServiceChangeTracker(), ServiceMap()
    tracker.update(None, service())
    services.update(tracker)
    assert not tracker.update(service(), service(labels={"team": "a"}))  # the ports did not change
    assert tracker.update(service(), service(labels={"service.kubernetes.io/service-proxy-name": "other"}))
    assert services.update(tracker) == {("demo", "web")} and services.services() == []


def test_deleting_a_slice_forgets_its_trigger_times():
    tracker = EndpointsChangeTracker(start_time=0.0)
    assert tracker.endpoint_slice_update(web_slice(trigger_time="2026-01-01T00:00:01Z"), remove=False)
    assert tracker.endpoint_slice_update(web_slice(), remove=True)
    changed, times, count = tracker.checkout()
    assert changed == {("demo", "web")} and times == {} and count == 2


def test_identical_slice_updates_and_old_trigger_times_do_not_count():
    late = EndpointsChangeTracker(start_time=1e12)  # started after every trigger time
    first = web_slice(trigger_time="2026-01-01T00:00:01Z")
    assert late.endpoint_slice_update(first, remove=False)
    assert not late.endpoint_slice_update(copy.deepcopy(first), remove=False)
    assert late.checkout() == ({("demo", "web")}, {}, 1)


def test_runner_bounds_the_frequency_and_retries(clock):
    runs, outcomes = [], iter([None, "boom", None, None])

    def fn():
        runs.append(round(clock.time() - start, 3))
        return next(outcomes)

    runner = BoundedFrequencyRunner(clock, fn, min_interval=1.0, retry_interval=5.0, max_interval=30.0)
    start = clock.time()
    runner.start()
    clock.advance(0.1)
    runner.run()
    runner.run()  # coalesces with the one before
    clock.advance(10)
    assert runs == [0.0, 1.0, 6.0]  # at once; minInterval later; retryInterval after the failure
    clock.advance(30)
    assert runs[-1] == 36.0  # maxInterval after the last run


def test_runner_refuses_max_below_min(clock):
    with pytest.raises(ValueError, match="maxInterval"):
        BoundedFrequencyRunner(clock, lambda: None, 2.0, 1.0, 1.0)
