"""Dual-stack: the real kube-apiserver and kube-controller-manager started as kind/dual-stack.yaml gives them
(two --service-cluster-ip-range CIDRs, IPv4 first) judge the simulator booted from the same file (issue 19).

The lab's nodes get a podCIDR per family and its pods an IP per family (tests/controlplane_diff.py). Services
with each IP family policy must get the same families and cluster IPs (or the same 422), and leave the same
EndpointSlices per address type and the same primary-family Endpoints after the same number of writes.
Skipped, with the reason, where `make upstream` has not built the binaries.
"""

from __future__ import annotations

import pytest
from controlplane_diff import (
    DUAL_STACK_CONFIG,
    DUAL_STACK_SCENARIOS,
    SERVICE_FAMILY_CASES,
    Lab,
    service_family_answers,
)
from controlplane_oracle import missing_binaries


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    if missing_binaries():
        pytest.skip(missing_binaries())
    lab = Lab(tmp_path_factory.mktemp("cp-dual"), DUAL_STACK_CONFIG)
    print(f"\ndual-stack control plane started in {lab.real.timings}")
    yield lab
    lab.close()


# the same Service family cases as on the single-stack cluster (test_oracle_controlplane.py), on this lab
@pytest.mark.parametrize("case", sorted(SERVICE_FAMILY_CASES))
def test_service_ip_families_match(lab, families_namespace, case):
    answers = service_family_answers(lab, families_namespace, case)
    assert answers["sim"] == answers["real"]


@pytest.mark.parametrize("scenario", DUAL_STACK_SCENARIOS, ids=str)
def test_dual_stack_controllers_agree(lab, scenario):
    outcome = lab.run(scenario)
    print(f"\nwrites per step (step, real, sim): {outcome.writes}")
    assert not outcome.differences, "\n\n".join(outcome.differences)
