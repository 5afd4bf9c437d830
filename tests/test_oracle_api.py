"""The API as kubectl and HTTP clients see it, the real kube-apiserver as the judge (issue 19).

The cases of tests/apiserver_diff.py (client-side and server-side apply and its conflicts, the three patch
types, pagination, watch semantics, `kubectl explain` structure, Table output and `kubectl describe`) run
the same commands on both servers and must get the same normalised answers. Skipped, with the reason,
where `make upstream` has not built the binaries.
"""

from __future__ import annotations

import pytest
from apiserver_diff import CASES, XFAIL, answers, table_namespace_for
from controlplane_diff import Lab, with_known
from controlplane_oracle import missing_binaries


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    if missing_binaries():
        pytest.skip(missing_binaries())
    lab = Lab(tmp_path_factory.mktemp("cp-api"))
    try:
        table_namespace_for(lab)
        yield lab
    finally:
        lab.close()


@pytest.mark.parametrize("case", with_known(CASES, XFAIL))
def test_api_answers_match(lab, case, tmp_path):
    got = answers(lab, case, tmp_path)
    assert got["sim"] == got["real"]
