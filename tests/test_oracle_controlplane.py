"""The real kube-apiserver and kube-controller-manager as the simulator's judges (issue 19).

Controller scenarios (tests/controlplane_diff.py) run on both and must leave the same EndpointSlices and
Endpoints after the same number of writes; malformed requests must get the same Status from both; kubectl
must print the same `-o wide` columns. Skipped, with the reason, where `make upstream` has not built the
binaries (tests/controlplane_oracle.py says where it looks).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from controlplane_diff import (
    API_XFAIL,
    DELETIONS,
    RANDOM_SEEDS,
    REQUESTS,
    SCENARIOS,
    SERVICE_FAMILY_CASES,
    WIDE,
    Lab,
    api_answers,
    api_namespace_for,
    deletion_events,
    deletions_namespace_for,
    random_scenario,
    service_family_answers,
    wide_headers,
    wide_namespace_for,
    with_known,
)
from controlplane_oracle import ControlPlane, missing_binaries

from helpers.sim.boot import kubernetes_version

needs_binaries = pytest.mark.skipif(bool(missing_binaries()), reason=missing_binaries() or "")


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    if missing_binaries():
        pytest.skip(missing_binaries())
    lab = Lab(tmp_path_factory.mktemp("cp-oracle"))
    print(f"\ncontrol plane started in {lab.real.timings}")
    yield lab
    lab.close()


@needs_binaries
def test_control_plane_starts_and_leaves_nothing_behind():
    began = time.monotonic()
    plane = ControlPlane().start()
    started = time.monotonic() - began
    pids, root = plane.pids(), plane.root
    try:
        assert len(pids) == 3 and root.is_dir()
        assert plane.api.ok("GET", "/version")["gitVersion"] == kubernetes_version(plane.config)
    finally:
        began = time.monotonic()
        plane.stop()
        stopped = time.monotonic() - began
    print(f"\nstart {started:.1f}s ({plane.timings}), stop {stopped:.1f}s")
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists(), f"process {pid} outlived stop()"
    assert not root.exists(), f"{root} outlived stop()"


@pytest.mark.parametrize("scenario", SCENARIOS, ids=str)
def test_controllers_agree(lab, scenario, request):
    if scenario.xfail:
        request.applymarker(pytest.mark.xfail(strict=True, reason=scenario.xfail))
    outcome = lab.run(scenario)
    print(f"\nwrites per step (step, real, sim): {outcome.writes}")
    assert not outcome.differences, "\n\n".join(outcome.differences)


@pytest.mark.parametrize("seed", RANDOM_SEEDS)
def test_random_scenarios_agree(lab, seed):
    scenario = random_scenario(seed)
    outcome = lab.run(scenario)
    print(f"\nseed {seed}, writes per step (step, real, sim): {outcome.writes}")
    steps = "\n".join(f"  {step.name}" for step in scenario.steps)
    assert not outcome.differences, f"seed {seed}, steps:\n{steps}\n\n" + "\n\n".join(outcome.differences)


# -- the API: the same malformed requests, the same answers --------------------------------------------
@pytest.fixture(scope="module")
def api_namespace(lab):
    return api_namespace_for(lab)


@pytest.mark.parametrize("case", with_known(REQUESTS, API_XFAIL))
def test_malformed_requests_get_the_same_status(lab, api_namespace, case):
    answers = api_answers(lab, api_namespace, case)
    assert answers["sim"] == answers["real"]


# -- Services' IP families on a single-stack cluster (tests/test_oracle_dualstack.py: on a dual-stack one) --
@pytest.mark.parametrize("case", sorted(SERVICE_FAMILY_CASES))
def test_service_ip_families_match(lab, families_namespace, case):
    answers = service_family_answers(lab, families_namespace, case)
    assert answers["sim"] == answers["real"]


# -- pod deletions as a watch sees them -------------------------------------------------------------------
@pytest.fixture(scope="module")
def deletions_namespace(lab):
    return deletions_namespace_for(lab)


@pytest.mark.parametrize("case", sorted(DELETIONS))
def test_pod_deletions_send_the_same_watch_events(lab, deletions_namespace, case):
    """Every pod deletion writes deletionTimestamp first (a MODIFIED, even at grace 0), then DELETED."""
    events = {label: deletion_events(api, deletions_namespace, case) for label, api in lab.apis.items()}
    assert events["sim"] == events["real"]
    assert events["real"][-1][0] == "DELETED"


# -- kubectl -o wide columns ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def wide_namespace(lab):
    return wide_namespace_for(lab)


@pytest.mark.parametrize("resource", WIDE)
def test_kubectl_wide_columns_match(lab, wide_namespace, resource):
    headers = wide_headers(lab, wide_namespace, resource)
    assert headers["sim"] == headers["real"]


def test_binaries_dir_is_reported_when_missing(monkeypatch, tmp_path):
    monkeypatch.setitem(os.environ, "ENDPOINTS_UPSTREAM_BIN", str(tmp_path))
    assert str(tmp_path) in missing_binaries()
