"""NetworkPolicy evaluation: isolation, peers, ports, egress, and policy after kube-proxy's DNAT."""

from functools import partial

import pandas as pd
import pytest
from builders import pod_with_ip

from helpers.dataplane.netpol import (
    allowed,
    connectivity_matrix,
    policy_types,
    selector_matches,
    service_backends_allowed,
)

# The pods of these tests run on kind-worker unless they say otherwise.
pod = partial(pod_with_ip, node="kind-worker")


def namespace(name, labels=None):
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels or {}}}


def policy(ns, name, pod_selector=None, **spec):
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"namespace": ns, "name": name},
            "spec": {"podSelector": pod_selector or {}, **spec}}


NAMESPACES = [namespace("shop", {"team": "shop"}), namespace("monitoring", {"team": "ops"}),
              namespace("other")]
WEB = pod("10.244.1.5", "web-1", labels={"app": "web"}, namespace="shop", ports=[{"name": "http", "containerPort": 8080}])
CLIENT = pod("10.244.2.7", "client", labels={"app": "client"}, namespace="shop")
PROM = pod("10.244.2.9", "prom", labels={"app": "prom"}, namespace="monitoring")
STRANGER = pod("10.244.1.9", "x", labels={"app": "client"}, namespace="other")
DENY_ALL = policy("shop", "default-deny")


def check(src, dst, port, policies, protocol="TCP"):
    return allowed(src, dst, port, protocol, namespaces=NAMESPACES, policies=policies)


def test_no_policy_means_not_isolated_and_allowed():
    verdict = check(CLIENT, WEB, 8080, [])
    assert verdict.allowed
    assert not verdict.ingress.isolated and not verdict.egress.isolated
    assert verdict.reasons[1] == "ingress of shop/web-1: not isolated (no Ingress policy selects it), allowed"


def test_default_deny_ingress_blocks_everything_but_not_egress():
    verdict = check(CLIENT, WEB, 8080, [DENY_ALL])
    assert not verdict.allowed
    assert verdict.ingress.selected_by == ("shop/default-deny",) and verdict.ingress.allowed_by == ()
    assert verdict.egress.allowed and not verdict.egress.isolated
    assert verdict.reasons[1] == "ingress of shop/web-1: selected by shop/default-deny; no rule matches, denied"
    assert str(verdict) == (
        "denied\n"
        "  egress of shop/client: not isolated (no Egress policy selects it), allowed\n"
        "  ingress of shop/web-1: selected by shop/default-deny; no rule matches, denied")


def test_policy_types_default_as_the_api_server():
    assert policy_types(DENY_ALL) == ["Ingress"]
    assert policy_types(policy("shop", "e", egress=[{}])) == ["Ingress", "Egress"]
    assert policy_types(policy("shop", "e", egress=[])) == ["Ingress"]
    assert policy_types(policy("shop", "e", policyTypes=["Egress"])) == ["Egress"]


def test_allow_from_namespace_selector():
    allow_ops = policy("shop", "allow-ops", {"matchLabels": {"app": "web"}},
                       ingress=[{"from": [{"namespaceSelector": {"matchLabels": {"team": "ops"}}}]}])
    policies = [DENY_ALL, allow_ops]
    verdict = check(PROM, WEB, 8080, policies)
    assert verdict.allowed
    assert verdict.ingress.selected_by == ("shop/default-deny", "shop/allow-ops")
    assert verdict.ingress.allowed_by == ("shop/allow-ops ingress[0]",)
    assert not check(CLIENT, WEB, 8080, policies).allowed
    assert not check(STRANGER, WEB, 8080, policies).allowed


def test_automatic_namespace_name_label_is_matched():
    by_name = policy("shop", "by-name", ingress=[{"from": [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "other"}}}]}])
    assert check(STRANGER, WEB, 8080, [by_name]).allowed
    assert not check(PROM, WEB, 8080, [by_name]).allowed


def test_pod_selector_alone_means_same_namespace_only():
    from_clients = policy("shop", "clients", ingress=[{"from": [
        {"podSelector": {"matchLabels": {"app": "client"}}}]}])
    assert check(CLIENT, WEB, 8080, [from_clients]).allowed
    assert not check(STRANGER, WEB, 8080, [from_clients]).allowed  # same labels, other namespace


def test_namespace_and_pod_selector_in_one_peer_are_anded_in_two_peers_ored():
    anded = policy("shop", "and", ingress=[{"from": [{
        "namespaceSelector": {"matchLabels": {"team": "ops"}},
        "podSelector": {"matchLabels": {"app": "client"}}}]}])
    ored = policy("shop", "or", ingress=[{"from": [
        {"namespaceSelector": {"matchLabels": {"team": "ops"}}},
        {"podSelector": {"matchLabels": {"app": "client"}}}]}])
    assert not check(PROM, WEB, 8080, [anded]).allowed  # ops namespace, but app=prom
    assert check(PROM, WEB, 8080, [ored]).allowed
    assert check(CLIENT, WEB, 8080, [ored]).allowed


def test_ip_block_with_except():
    block = policy("shop", "lan", ingress=[{"from": [
        {"ipBlock": {"cidr": "192.168.0.0/16", "except": ["192.168.1.0/24"]}}]}])
    assert check("192.168.7.10", WEB, 8080, [block]).allowed
    assert not check("192.168.1.10", WEB, 8080, [block]).allowed
    assert not check("172.18.0.1", WEB, 8080, [block]).allowed
    assert check("192.168.7.10", WEB, 8080, [block]).egress is None  # an IP enforces nothing


def test_named_numeric_range_and_protocol_ports():
    def only(ports):
        return [policy("shop", "p", ingress=[{"ports": ports}])]

    assert check(CLIENT, WEB, 8080, only([{"port": "http"}])).allowed
    assert not check(CLIENT, WEB, 8081, only([{"port": "http"}])).allowed
    assert not check(CLIENT, WEB, 8080, only([{"port": "http", "protocol": "UDP"}])).allowed
    assert check(CLIENT, WEB, 8085, only([{"port": 8080, "endPort": 8090}])).allowed
    assert not check(CLIENT, WEB, 8091, only([{"port": 8080, "endPort": 8090}])).allowed
    assert check(CLIENT, WEB, 53, only([{"protocol": "UDP"}]), protocol="UDP").allowed
    assert not check(CLIENT, WEB, 53, only([{"protocol": "UDP"}])).allowed


def test_egress_policy_limits_the_source():
    dns_only = policy("shop", "dns-only", {"matchLabels": {"app": "client"}}, policyTypes=["Egress"],
                      egress=[{"ports": [{"port": 53, "protocol": "UDP"}]}])
    verdict = check(CLIENT, WEB, 8080, [dns_only])
    assert not verdict.allowed
    assert verdict.egress.selected_by == ("shop/dns-only",) and not verdict.egress.allowed
    assert verdict.ingress.allowed
    assert check(CLIENT, "10.96.0.10", 53, [dns_only], protocol="UDP").allowed
    to_web = policy("shop", "to-web", {"matchLabels": {"app": "client"}},
                    egress=[{"to": [{"podSelector": {"matchLabels": {"app": "web"}}}]}])
    assert check(CLIENT, WEB, 8080, [dns_only, to_web]).egress.allowed_by == ("shop/to-web egress[0]",)


def test_both_directions_must_allow():
    egress_ok = policy("shop", "egress-ok", {"matchLabels": {"app": "client"}}, egress=[{}])
    verdict = check(CLIENT, WEB, 8080, [egress_ok, DENY_ALL])
    assert verdict.egress.allowed and not verdict.ingress.allowed and not verdict.allowed


def test_match_expressions():
    labels = {"app": "web", "tier": "front"}
    assert selector_matches({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["front"]}]}, labels)
    assert not selector_matches({"matchExpressions": [{"key": "tier", "operator": "NotIn",
                                                       "values": ["front"]}]}, labels)
    assert selector_matches({"matchExpressions": [{"key": "env", "operator": "NotIn", "values": ["x"]}]}, labels)
    assert selector_matches({"matchExpressions": [{"key": "env", "operator": "DoesNotExist"}]}, labels)
    assert not selector_matches({"matchLabels": {"app": "web"},
                                 "matchExpressions": [{"key": "env", "operator": "Exists"}]}, labels)
    assert selector_matches({}, labels)


def test_bad_input_is_a_clear_error():
    with pytest.raises(ValueError, match="operator 'Has' for key 'a' is not one of"):
        selector_matches({"matchExpressions": [{"key": "a", "operator": "Has"}]}, {})
    with pytest.raises(ValueError, match="neither a pod object nor an IP address"):
        check("web-1", WEB, 80, [])
    bad_block = policy("shop", "b", ingress=[{"from": [{"ipBlock": {"cidr": "nope"}}]}])
    with pytest.raises(ValueError, match="ipBlock .* is invalid"):
        check("10.0.0.1", WEB, 8080, [bad_block])


# --- after DNAT ------------------------------------------------------------------------------

SERVICE = {"apiVersion": "v1", "kind": "Service", "metadata": {"namespace": "shop", "name": "web"},
           "spec": {"clusterIP": "10.96.12.34",
                    "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": "http"}]}}
WEB2 = pod("10.244.2.5", "web-2", node="kind-worker2", labels={"app": "web", "canary": "true"}, namespace="shop",
           ports=[{"name": "http", "containerPort": 8080}])


def endpoint(p, ready=True):
    return {"addresses": [p["status"]["podIP"]], "conditions": {"ready": ready},
            "nodeName": p["spec"]["nodeName"],
            "targetRef": {"kind": "Pod", "namespace": "shop", "name": p["metadata"]["name"]}}


SLICES = [
    {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
     "metadata": {"namespace": "shop", "name": "web-abc", "labels": {"kubernetes.io/service-name": "web"}},
     "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
     "endpoints": [endpoint(WEB), endpoint(WEB2, ready=False)]},
    {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
     "metadata": {"namespace": "shop", "name": "web-def", "labels": {"kubernetes.io/service-name": "web"}},
     "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
     "endpoints": [endpoint(WEB)]},  # duplicate of web-1, reported once
    {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
     "metadata": {"namespace": "shop", "name": "api-xyz", "labels": {"kubernetes.io/service-name": "api"}},
     "ports": [{"name": "http", "port": 9090, "protocol": "TCP"}],
     "endpoints": [{"addresses": ["10.244.1.77"]}]},
]


def backends(policies):
    return service_backends_allowed(CLIENT, SERVICE, SLICES, [WEB, WEB2, CLIENT], NAMESPACES, policies)


def test_policy_on_service_port_does_not_open_the_target_port():
    service_port_only = [DENY_ALL, policy("shop", "port-80", ingress=[{"ports": [{"port": 80}]}])]
    rows = backends(service_port_only)
    assert [(r["backend"], r["pod"], r["allowed"]) for r in rows] == [
        ("10.244.1.5:8080", "shop/web-1", False), ("10.244.2.5:8080", "shop/web-2", False)]
    assert rows[0]["clusterIP"] == "10.96.12.34:80"


def test_backends_allowed_per_pod_after_dnat():
    not_canary = [DENY_ALL, policy("shop", "stable", {"matchExpressions": [
        {"key": "canary", "operator": "DoesNotExist"}]}, ingress=[{"ports": [{"port": "http"}]}])]
    rows = backends(not_canary)
    assert [(r["pod"], r["node"], r["ready"], r["allowed"]) for r in rows] == [
        ("shop/web-1", "kind-worker", True, True), ("shop/web-2", "kind-worker2", False, False)]
    assert "allowed by shop/stable ingress[0]" in rows[0]["reasons"]


def test_connectivity_matrix_pivots_into_a_grid():
    rows = connectivity_matrix([WEB, CLIENT, PROM], NAMESPACES, [DENY_ALL, policy(
        "shop", "from-ops", {"matchLabels": {"app": "web"}},
        ingress=[{"from": [{"namespaceSelector": {"matchLabels": {"team": "ops"}}}]}])], 8080)
    grid = pd.DataFrame(rows).pivot(index="from", columns="to", values="allowed")
    assert grid.loc["monitoring/prom", "shop/web-1"] and not grid.loc["shop/client", "shop/web-1"]
    assert not grid.loc["monitoring/prom", "shop/client"]  # default-deny covers every shop pod
    assert grid.loc["shop/client", "monitoring/prom"]  # monitoring has no policy
    assert len(rows) == 6
