"""Objects too large for etcd: the simulator answers as kube-apiserver v1.36.1 on etcd does (issue 20).

etcd refuses a request over --max-request-bytes (1.5 MiB) with "etcdserver: request is too large", the
API server's etcd client refuses to send one over 2 MiB (gRPC ResourceExhausted); either way the
client gets a 500 Status without a reason. The real control plane (tests/controlplane_oracle.py) judges.
"""

import re

import pytest
from apiharness import Harness
from controlplane_oracle import Api, ControlPlane, missing_binaries

SIZES = (1_400_000, 1_600_000, 2_900_000)  # fits; over etcd's limit; over the client's send limit
LEASES = "/apis/coordination.k8s.io/v1/namespaces/default/leases"


def _lease(size: int) -> dict:
    return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": f"big-{size}"},
            "spec": {"holderIdentity": "x" * size}}


def _answers(api: Api) -> list[tuple]:
    out = []
    for size in SIZES:
        status, body = api.call("POST", LEASES, _lease(size))
        if status >= 300:
            # the gRPC message size in the text is etcd's request encoding, which the simulator estimates
            out.append((status, {k: v for k, v in body.items() if k != "message"},
                        re.sub(r"\(\d+ vs\.", "(N vs.", body["message"])))
        else:
            out.append((status, body["kind"], len(body["spec"]["holderIdentity"])))
    return out


@pytest.mark.skipif(bool(missing_binaries()), reason=missing_binaries() or "")
def test_too_large_writes_get_the_real_api_servers_answer():
    real = ControlPlane().start()
    try:
        expected = _answers(real.api)
    finally:
        real.stop()
    sim = Harness()
    try:
        got = _answers(Api(f"http://127.0.0.1:{sim.server.port}"))
    finally:
        sim.stop()
    assert got == expected
    assert [a[0] for a in got] == [201, 500, 500]
