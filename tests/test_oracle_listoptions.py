"""resourceVersion and resourceVersionMatch on lists and watches: the real kube-apiserver as the judge.

The same Leases (a kind no controller writes in a namespace) are written to both servers; each query then gets the same Status (code, reason,
message with the revisions written as R, details), or, for a list, the same items and the same choice of
revision (the one asked for, or the current one). Upstream: apimachinery ValidateListOptions, apiserver
pkg/storage/cacher (delegator ShouldDelegateList, watch_cache.go waitUntilFreshAndBlock, 3 s) and the etcd3
store, v1.36.1. Skipped where `make upstream` has not built the binaries.

Not compared: an exact list of a compacted revision. The real watch cache answers one from its snapshots
for as long as it keeps that revision's events (at least 75 s), even after etcd compacted it, so a young
oracle never shows etcd's 410; the simulator keeps one history for both and answers the 410 once its
compaction passed the revision (tests/test_api_watch_edges.py).
"""

from __future__ import annotations

import re
import time

import pytest
from controlplane_oracle import Api, ControlPlane, missing_binaries

from helpers.sim import start_in_process

NS = "rv-oracle"
LEASES = f"/apis/coordination.k8s.io/v1/namespaces/{NS}/leases"

# {first}: the revision of Lease `a`; {future}: 1000 past the current one
CASES = {
    "match-without-rv": "resourceVersionMatch=Exact",
    "not-older-than-without-rv": "resourceVersionMatch=NotOlderThan",
    "exact-of-zero": "resourceVersionMatch=Exact&resourceVersion=0",
    "unsupported-match": "resourceVersionMatch=Bogus&resourceVersion={first}",
    "lower-case-match": "resourceVersionMatch=exact&resourceVersion={first}",
    "match-with-continue": "resourceVersionMatch=Exact&continue=abc",
    "exact": "resourceVersionMatch=Exact&resourceVersion={first}",
    "exact-page": "resourceVersionMatch=Exact&resourceVersion={first}&limit=1",
    "legacy-exact-page": "resourceVersion={first}&limit=1",
    "not-older-than": "resourceVersionMatch=NotOlderThan&resourceVersion={first}",
    "not-older-than-zero": "resourceVersionMatch=NotOlderThan&resourceVersion=0",
    "bare-rv": "resourceVersion={first}",
    "exact-future": "resourceVersionMatch=Exact&resourceVersion={future}",
    "bare-future-page": "resourceVersion={future}&limit=1",
    "rv-not-a-number": "resourceVersion=abc",
    "exact-negative": "resourceVersionMatch=Exact&resourceVersion=-5",
    "rv-out-of-range": "resourceVersion=99999999999999999999",
    "send-initial-events-on-list": "sendInitialEvents=false",
    "watch-exact": "watch=1&resourceVersionMatch=Exact&resourceVersion={first}",
    "watch-match-without-initial-events": "watch=1&resourceVersionMatch=NotOlderThan&resourceVersion={first}",
    "watch-initial-events-without-match": "watch=1&sendInitialEvents=true",
    "watch-initial-events-exact": "watch=1&sendInitialEvents=true&resourceVersionMatch=Exact",
}


def lease(name: str) -> dict:
    return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": name},
            "spec": {"holderIdentity": "oracle"}}


class Sides:
    """The real control plane and an in-process simulator holding the same two Leases."""

    def __init__(self, tmp):
        self.real = ControlPlane().start()
        try:
            self.sim = start_in_process(speed=1.0, kubeconfig_path=f"{tmp}/sim-kubeconfig")
        except BaseException:
            self.real.stop()
            raise
        self.apis = {"real": self.real.api, "sim": Api(self.sim.url)}
        self.first = {}
        for label, api in self.apis.items():
            api.ok("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
            self.first[label] = api.ok("POST", LEASES, lease("a"))["metadata"]["resourceVersion"]
            api.ok("POST", LEASES, lease("b"))

    def close(self):
        try:
            self.sim.stop()
        finally:
            self.real.stop()

    def current(self, label: str) -> int:
        return int(self.apis[label].ok("GET", LEASES)["metadata"]["resourceVersion"])


@pytest.fixture(scope="module")
def sides(tmp_path_factory):
    if missing_binaries():
        pytest.skip(missing_binaries())
    sides = Sides(tmp_path_factory.mktemp("rv-oracle"))
    yield sides
    sides.close()


def answer(sides: Sides, label: str, query: str) -> dict:
    """What one server answers, with its own revisions replaced by names (first, asked, current)."""
    first, current = int(sides.first[label]), sides.current(label)
    future = current + 1000
    began = time.monotonic()
    status, body = sides.apis[label].call("GET", f"{LEASES}?{query.format(first=first, future=future)}", timeout=20)
    waited = time.monotonic() - began
    if isinstance(body, dict) and body.get("kind") == "LeaseList":
        rv = int(body["metadata"]["resourceVersion"])
        return {"code": status, "items": [i["metadata"]["name"] for i in body["items"]],
                "revision": "first" if rv == first else "current" if rv >= current else rv,
                "continue": "continue" in body["metadata"], "waited": waited >= 2.5}
    if not isinstance(body, dict):
        return {"code": status, "body": body}
    message = re.sub(r"\b\d{2,}\b", "R", body.get("message", "")) if status == 504 else body.get("message")
    return {"code": status, "reason": body.get("reason"), "message": message, "details": body.get("details"),
            "waited": waited >= 2.5}


@pytest.mark.parametrize("case", sorted(CASES))
def test_list_options_answer_as_upstream(sides, case):
    answers = {label: answer(sides, label, CASES[case]) for label in sides.apis}
    assert answers["sim"] == answers["real"]

