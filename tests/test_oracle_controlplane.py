"""The real kube-apiserver and kube-controller-manager as the simulator's judges (issue 19).

Controller scenarios (tests/controlplane_diff.py) run on both and must leave the same EndpointSlices and
Endpoints after the same number of writes; malformed requests must get the same Status from both; kubectl
must print the same `-o wide` columns. Skipped, with the reason, where `make upstream` has not built the
binaries (tests/controlplane_oracle.py says where it looks).
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest
from conftest import KUBECTL
from controlplane_diff import SCENARIOS, Kubelet, Lab
from controlplane_oracle import ControlPlane, missing_binaries

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
    assert len(pids) == 3 and root.is_dir()
    assert plane.api.ok("GET", "/version")["gitVersion"] == "v1.36.1"
    began = time.monotonic()
    plane.stop()  # clears plane.children
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


# -- the API: the same malformed requests, the same answers --------------------------------------------
# Leases: a namespaced resource both servers serve that no controller here touches.
def _lease(name: str, **extra) -> dict:
    return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": name},
            "spec": {"holderIdentity": "oracle"}, **extra}


CM = "/apis/coordination.k8s.io/v1/namespaces/{ns}/leases"
REQUESTS = {
    "bad-json": ("POST", CM, b'{"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {'),
    "unknown-field-strict": ("POST", CM + "?fieldValidation=Strict", _lease("strict", bogus=1)),
    "wrong-kind": ("POST", CM, {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "wrong"}}),
    "not-found": ("GET", CM + "/nope", None),
    "invalid-name": ("POST", CM, _lease("Bad_Name")),
    "already-exists": ("POST", CM, _lease("existing")),
    "stale-resource-version": ("PUT", CM + "/existing", {**_lease("existing"),
                                                          "metadata": {"name": "existing", "resourceVersion": "1"}}),
    "bad-resource-version": ("PUT", CM + "/existing", {**_lease("existing"),
                                                        "metadata": {"name": "existing", "resourceVersion": "x"}}),
    "bad-label-selector": ("GET", CM + "?labelSelector=a%3D%3D%3Db", None),
    "bad-field-selector": ("GET", CM + "?fieldSelector=spec.holderIdentity%3Dx", None),
    "name-mismatch": ("PUT", CM + "/existing", _lease("other")),
    "delete-not-found": ("DELETE", CM + "/nope", None),
    "unknown-resource": ("GET", "/api/v1/namespaces/{ns}/widgets", None),
}


def _status_shape(status: int, body) -> dict:
    if not isinstance(body, dict):
        return {"code": status, "body": body}
    details = dict(body.get("details") or {})
    details.pop("uid", None)
    return {"code": status, **{k: body.get(k) for k in ("kind", "apiVersion", "status", "reason", "message", "code")},
            "details": details, "metadata": body.get("metadata")}


@pytest.fixture(scope="module")
def api_namespace(lab):
    name = "cp-api"
    for api in lab.apis.values():
        api.ok("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
        api.ok("POST", CM.format(ns=name), _lease("existing"))
    return name


@pytest.mark.parametrize("case", sorted(REQUESTS))
def test_malformed_requests_get_the_same_status(lab, api_namespace, case):
    method, path, body = REQUESTS[case]
    answers = {}
    for label, api in lab.apis.items():
        status, answer = api.call(method, path.format(ns=api_namespace), body)
        answers[label] = _status_shape(status, answer)
    assert answers["sim"] == answers["real"]


# -- kubectl -o wide columns ----------------------------------------------------------------------------
def _kubectl(kubeconfig: str, *args) -> str:
    result = subprocess.run([KUBECTL, f"--kubeconfig={kubeconfig}", f"--cache-dir={kubeconfig}.cache", *args],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def wide_namespace(lab):
    name = "cp-wide"
    for api in lab.apis.values():
        api.ok("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    from controlplane_diff import wait_for

    wait_for(lab.apis["real"], f"/api/v1/namespaces/{name}/serviceaccounts",
             lambda items: any(i["metadata"]["name"] == "default" for i in items), 30, "the default ServiceAccount")
    for api in lab.apis.values():
        kubelet = Kubelet(api, name)
        kubelet.service("wide", [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}],
                        {"app": "wide"})
        kubelet.pod("wide-0", {"app": "wide"}, 0)
    return name


@pytest.mark.parametrize("resource", ["pods", "services", "endpointslices", "endpoints", "nodes"])
def test_kubectl_wide_columns_match(lab, wide_namespace, resource):
    kubeconfigs = {"real": lab.real.kubeconfig, "sim": lab.sim.kubeconfig}
    headers = {label: _kubectl(path, "-n", wide_namespace, "get", resource, "-o", "wide").splitlines()[0].split()
               for label, path in kubeconfigs.items()}
    assert headers["sim"] == headers["real"]


def test_binaries_dir_is_reported_when_missing(monkeypatch, tmp_path):
    monkeypatch.setitem(os.environ, "ENDPOINTS_UPSTREAM_BIN", str(tmp_path))
    assert str(tmp_path) in missing_binaries()
