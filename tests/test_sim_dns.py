"""SRV and endpoint records of the simulator's cluster DNS (CoreDNS v1.14.6 ``kubernetes`` plugin) and how
busybox's and BIND's nslookup print them."""

from __future__ import annotations

import pytest
from builders import pod_with_ip, service

from helpers.controlplane.endpointslice.endpointset import pod_to_endpoint
from helpers.sim import dns
from helpers.sim.store import Store

SUFFIX = "ns.svc.cluster.local"


def _store(svc: dict, pods: list[dict], ports: list[dict]) -> Store:
    """A store with ``svc`` and one EndpointSlice of ``pods`` built by the EndpointSlice controller's
    ``pod_to_endpoint`` (so readiness and hostnames are as the controller writes them)."""
    store = Store()
    store.create("namespaces", {"metadata": {"name": "ns"}})
    store.create("services", svc, namespace="ns")
    name = svc["metadata"]["name"]
    store.create("endpointslices.discovery.k8s.io", {
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
        "metadata": {"name": f"{name}-abc", "labels": {"kubernetes.io/service-name": name}},
        "endpoints": [pod_to_endpoint(p, None, svc, "IPv4") for p in pods], "ports": ports}, namespace="ns")
    return store


HTTP = [{"name": "http", "port": 8080, "protocol": "TCP"}]


def test_a_clusterip_service_has_one_srv_per_named_port():
    svc = service("web", {"app": "a"}, ports=({"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"},
                                              {"name": "dns", "port": 53, "protocol": "UDP"}), clusterIP="10.96.0.50")
    store = _store(svc, [pod_with_ip("10.244.1.5", "p1")], HTTP)
    answer = dns.resolve(store, "_http._tcp.web", "ns", "SRV")
    assert answer.name == f"_http._tcp.web.{SUFFIX}"
    assert answer.srv == ((0, 100, 80, f"web.{SUFFIX}."),)  # the Service's port, not the endpoint's
    assert dns.resolve(store, "_dns._udp.web", "ns", "SRV").srv == ((0, 100, 53, f"web.{SUFFIX}."),)
    assert dns.lookup(store, f"_dns._tcp.web.{SUFFIX}", "SRV").rcode == dns.NXDOMAIN  # the protocol must match
    # no port named: every port, weights shared; the A query of the SRV name answers the ClusterIP
    assert dns.resolve(store, "web", "ns", "SRV").srv == ((0, 50, 80, f"web.{SUFFIX}."), (0, 50, 53, f"web.{SUFFIX}."))
    assert dns.resolve(store, "_http._tcp.web", "ns").addresses == ("10.96.0.50",)


def test_a_headless_service_has_one_srv_per_ready_endpoint_named_by_hostname_or_dashed_ip():
    svc = service("db", {"app": "a"}, ports=({"name": "http", "port": 80},), clusterIP="None")
    pods = [pod_with_ip("10.244.1.5", "db-0", hostname="db-0", subdomain="db"),
            pod_with_ip("10.244.2.6", "db-1", hostname="db-1", subdomain="db"),
            pod_with_ip("10.244.3.7", "loose")]  # no hostname: named by its address
    store = _store(svc, pods, HTTP)
    srv = dns.resolve(store, "_http._tcp.db", "ns", "SRV").srv
    assert srv == ((0, 33, 8080, f"db-0.db.{SUFFIX}."), (0, 33, 8080, f"db-1.db.{SUFFIX}."),
                   (0, 33, 8080, f"10-244-3-7.db.{SUFFIX}."))  # floor(100/3), the endpoint's port
    assert dns.resolve(store, "db-1.db", "ns").addresses == ("10.244.2.6",)
    assert dns.resolve(store, "10-244-3-7.db", "ns").addresses == ("10.244.3.7",)
    assert dns.lookup(store, f"10-244-1-5.db.{SUFFIX}").rcode == dns.NXDOMAIN  # db-0 goes by its hostname
    assert dns.resolve(store, "_http._tcp.db", "ns").addresses == ("10.244.1.5", "10.244.2.6", "10.244.3.7")


@pytest.mark.parametrize("publish", [False, True])
def test_not_ready_endpoints_answer_only_with_publish_not_ready_addresses(publish):
    svc = service("db", {"app": "a"}, ports=({"name": "http", "port": 80},), clusterIP="None",
                  publishNotReadyAddresses=publish)
    store = _store(svc, [pod_with_ip("10.244.1.5", "db-0", hostname="db-0", subdomain="db"),
                         pod_with_ip("10.244.2.6", "db-1", ready=False, hostname="db-1", subdomain="db")], HTTP)
    targets = [target for _, _, _, target in dns.resolve(store, "_http._tcp.db", "ns", "SRV").srv]
    assert targets == [f"db-0.db.{SUFFIX}.", f"db-1.db.{SUFFIX}."][: 2 if publish else 1]
    weights = {weight for _, weight, _, _ in dns.resolve(store, "_http._tcp.db", "ns", "SRV").srv}
    assert weights == {50 if publish else 100}
    assert (dns.lookup(store, f"db-1.db.{SUFFIX}").rcode == dns.NXDOMAIN) is not publish


def test_unnamed_ports_have_no_srv_and_an_empty_headless_service_is_nxdomain():
    svc = service("web", {"app": "a"}, ports=({"port": 80},), clusterIP="10.96.0.50")
    store = _store(svc, [], [{"port": 8080, "protocol": "TCP"}])
    assert dns.lookup(store, f"_http._tcp.web.{SUFFIX}", "SRV").rcode == dns.NXDOMAIN  # findServices: errNoItems
    assert dns.resolve(store, "web", "ns", "SRV").srv == ((0, 100, 80, f"web.{SUFFIX}."),)
    headless = service("db", {"app": "a"}, ports=(), clusterIP="None")
    store = _store(headless, [pod_with_ip("10.244.1.5", "p1")], [])
    assert dns.resolve(store, "db", "ns").addresses == ("10.244.1.5",)  # the port -1 sentinel still has an A
    assert dns.lookup(store, f"db.{SUFFIX}", "SRV") == dns.Answer(f"db.{SUFFIX}")  # NOERROR, no SRV
    store = _store(service("db", {"app": "a"}, clusterIP="None"), [pod_with_ip("10.244.1.5", "p", ready=False)], HTTP)
    assert dns.lookup(store, f"db.{SUFFIX}").rcode == dns.NXDOMAIN
    assert dns.lookup(store, "ns.svc.cluster.local") == dns.Answer("ns.svc.cluster.local")  # NODATA
    assert dns.lookup(store, "nope.svc.cluster.local").rcode == dns.NXDOMAIN  # no such namespace


def test_an_external_name_service_is_a_cname_and_an_srv_to_its_external_name():
    store = _store(service("ext", type="ExternalName", externalName="example.com", ports=()), [], [])
    assert dns.resolve(store, "ext", "ns").cname == "example.com"
    assert dns.resolve(store, "ext", "ns", "SRV").srv == ((0, 100, 0, "example.com."),)  # Port 0: not skipped
    assert dns.lookup(store, f"_http._tcp.ext.{SUFFIX}", "SRV").rcode == dns.NXDOMAIN  # no pseudo-subdomains
