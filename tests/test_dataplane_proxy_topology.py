"""CategorizeEndpoints cases ported from upstream's pkg/proxy/topology_test.go (TestCategorizeEndpoints).

Each case: the service's traffic policies, the node, the endpoints (local? ready? serving?
terminating? zone and node hints) and the expected cluster / local / all-reachable sets.
None means "this service never uses that kind of endpoints"; an empty set means "uses them,
has none".
"""

import pytest
from proxyfixtures import make_service

from helpers.dataplane.proxy import Endpoint, categorize_endpoints, service_ports


def ep(ip, local=False, ready=True, serving=True, terminating=False, zones=(), nodes=()):
    host, port = ip.rsplit(":", 1)
    return Endpoint(host, int(port), ready, serving, terminating, local, zone_hints=frozenset(zones),
                    node_hints=frozenset(nodes))


def svc(node_port=0, etp_local=False, itp_local=False):
    extra = {"externalTrafficPolicy": "Local" if etp_local else "Cluster",
             "internalTrafficPolicy": "Local" if itp_local else "Cluster"}
    ports = (("", 80, node_port),) if node_port else (("", 80),)
    (sp,) = service_ports(make_service("ns", "svc", "10.96.0.1", ports=ports,
                                       svc_type="NodePort" if node_port else "ClusterIP", **extra))
    return sp


A, B, C = "10.1.2.3:80", "10.1.2.4:80", "10.1.2.5:80"
D = "10.1.2.6:80"
E0, E1, E2, E3 = "10.0.0.0:80", "10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80"
ZONED = [ep(A, zones=["zone-a"]), ep(B, zones=["zone-b"]), ep(C, zones=["zone-c"]), ep(D, zones=["zone-a"])]
NODED = [ep(A, zones=["zone-a"], nodes=["node-1"]), ep(B, zones=["zone-b"], nodes=["node-2"]),
         ep(C, zones=["zone-c"], nodes=["node-3"]), ep(D, zones=["zone-a"], nodes=["node-4"])]

# (name, service, node name, zone, PreferSameTrafficDistribution, endpoints, cluster, local, all)
CASES = [
    ("topology used: all hinted, zone has endpoints", svc(), "", "zone-a", True, ZONED, {A, D}, None, None),
    ("eTP Local: topology ignored for local endpoints", svc(8080, etp_local=True), "", "zone-a", True,
     [ep(A, True, zones=["zone-a"]), ep(B, True, zones=["zone-b"]), ep(C, zones=["zone-c"]), ep(D, zones=["zone-a"])],
     {A, D}, {A, B}, {A, B, D}),
    ("iTP Local: topology ignored for local endpoints", svc(8080, itp_local=True), "", "zone-a", True,
     [ep(A, True, zones=["zone-a"]), ep(B, True, zones=["zone-b"]), ep(C, zones=["zone-c"]), ep(D, zones=["zone-a"])],
     {A, D}, {A, B}, {A, B, D}),
    ("empty node labels", svc(), "", "", True, [ep(A, zones=["zone-a"])], {A}, None, None),
    ("node in a different zone: no filtering", svc(), "", "zone-b", True,
     [ep(A, zones=["zone-a"]), ep(C, zones=["zone-c"])], {A, C}, None, None),
    ("unready endpoint", svc(), "", "zone-a", True,
     ZONED[:3] + [ep(D, ready=False, zones=["zone-a"])], {A}, None, None),
    ("only unready endpoints in the node's zone: no filtering", svc(), "", "zone-a", True,
     [ep(A, ready=False, zones=["zone-a"]), ZONED[1], ZONED[2], ep(D, ready=False, zones=["zone-a"])],
     {B, C}, None, None),
    ("a missing hint disables filtering", svc(), "", "zone-a", True,
     [ZONED[0], ZONED[1], ep(C), ZONED[3]], {A, B, C, D}, None, None),
    ("several hints per endpoint", svc(), "", "zone-c", True,
     [ep(A, zones=["zone-a", "zone-b", "zone-c"]), ep(B, zones=["zone-b", "zone-c"]),
      ep(C, zones=["zone-b", "zone-d"]), ep(D, zones=["zone-c"])], {A, B, D}, None, None),
    ("PreferSameNode falls back to zone when the gate is off", svc(), "node-1", "zone-a", False, NODED,
     {A, D}, None, None),
    ("PreferSameNode", svc(), "node-1", "zone-a", True, NODED, {A}, None, None),
    ("PreferSameNode ignored if some endpoints unhinted", svc(), "node-1", "zone-a", True,
     [NODED[0], ep(B), NODED[2], NODED[3]], {A, B, C, D}, None, None),
    ("PreferSameNode falls back to zone if no endpoint for the node", svc(), "node-0", "zone-a", True, NODED,
     {A, D}, None, None),
    ("conflicting topology and localness merge allEndpoints", svc(8080, itp_local=True), "", "zone-a", True,
     [ep(E0, True, zones=["zone-a"]), ep(E1, True, zones=["zone-b"]), ep(E2, zones=["zone-a"]),
      ep(E3, zones=["zone-b"])], {E0, E2}, {E0, E1}, {E0, E1, E2}),
    ("iTP Local with no endpoints", svc(itp_local=True), "", "", True, [], None, set(), None),
    ("iTP Local, all endpoints remote", svc(itp_local=True), "", "", True, [ep(E0), ep(E1)], None, set(), None),
    ("iTP Local, all endpoints local", svc(itp_local=True), "", "", True,
     [ep(E0, True), ep(E1, True)], None, {E0, E1}, None),
    ("iTP Local, some endpoints local", svc(itp_local=True), "", "", True, [ep(E0, True), ep(E1)], None, {E0}, None),
    ("Cluster policy, endpoints not ready", svc(), "", "", True,
     [ep(E0, ready=False), ep(E1, ready=False)], set(), None, None),
    ("Cluster policy, some endpoints ready", svc(), "", "", True, [ep(E0, ready=False), ep(E1)], {E1}, None, None),
    ("Cluster policy, all endpoints terminating", svc(), "", "", True,
     [ep(E0, ready=False, terminating=True), ep(E1, ready=False, terminating=True)], {E0, E1}, None, None),
    ("iTP Local, eTP Cluster, some local", svc(8080, itp_local=True), "", "", True, [ep(E0, True), ep(E1)],
     {E0, E1}, {E0}, {E0, E1}),
    ("iTP Cluster, eTP Local, some local", svc(8080, etp_local=True), "", "", True, [ep(E0, True), ep(E1)],
     {E0, E1}, {E0}, {E0, E1}),
    ("iTP Local, eTP Local, some local", svc(8080, True, True), "", "", True, [ep(E0, True), ep(E1)],
     {E0, E1}, {E0}, {E0, E1}),
    ("iTP Local, eTP Local, all remote", svc(8080, True, True), "", "", True, [ep(E0), ep(E1)],
     {E0, E1}, set(), {E0, E1}),
    ("iTP Local, eTP Local, all remote and terminating", svc(8080, True, True), "", "", True,
     [ep(E0, ready=False, terminating=True), ep(E1, ready=False, terminating=True)], {E0, E1}, set(), {E0, E1}),
    ("iTP Cluster, eTP Local, terminating endpoints", svc(8080, etp_local=True), "", "", True,
     [ep(E0), ep(E1, True, ready=False, serving=False), ep(E2, True, ready=False, terminating=True),
      ep(E3, ready=False, terminating=True)], {E0}, {E2}, {E0, E2}),
    ("eTP ignored if not externally accessible", svc(etp_local=True), "", "", True, [ep(E0), ep(E1, True)],
     {E0, E1}, None, None),
    ("no cluster endpoints for an iTP Local internal-only service", svc(itp_local=True), "", "", True,
     [ep(E0), ep(E1, True)], None, {E1}, None),
    ("eTP Local, externally accessible, no endpoints", svc(8080, etp_local=True), "", "", True, [], set(), set(),
     set()),
    ("eTP Local, externally accessible, all remote", svc(8080, etp_local=True), "", "", True, [ep(E0), ep(E1)],
     {E0, E1}, set(), {E0, E1}),
    ("eTP Local, externally accessible, all local", svc(8080, etp_local=True), "", "", True,
     [ep(E0, True), ep(E1, True)], {E0, E1}, {E0, E1}, {E0, E1}),
]


def _strs(endpoints):
    return None if endpoints is None else {str(e) for e in endpoints}


@pytest.mark.parametrize("name, sp, node, zone, gate, endpoints, cluster, local, all_", CASES, ids=[c[0] for c in CASES])
def test_categorize_endpoints(name, sp, node, zone, gate, endpoints, cluster, local, all_):
    cat = categorize_endpoints(sorted(endpoints, key=str), sp, node, zone, {"PreferSameTrafficDistribution": gate})
    # upstream: expected None means "must be nil"; an empty expected set accepts nil or empty.
    if cluster is None:
        assert cat.cluster is None
    else:
        assert (_strs(cat.cluster) or set()) == cluster
    if local is None:
        assert cat.local is None
    else:
        assert (_strs(cat.local) or set()) == local
    expected_all = all_ if all_ is not None else (cluster if local is None else local)
    assert _strs(cat.all_reachable) == expected_all
    assert list(cat.all_reachable) == sorted(cat.all_reachable, key=str)  # kube-proxy's string order
