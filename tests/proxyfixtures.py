"""Builders for Services, EndpointSlices and Nodes shaped like the API serves them.

They follow the conventions of upstream's pkg/proxy/{iptables,nftables}/proxier_test.go
(node "test-node" at 192.168.0.2, pod CIDR 10.0.0.0/8, slices "<svc>-<n>"), so upstream's
expected outputs (upstream_rules.py) can be rebuilt from the same inputs. Imported by the
dataplane and kube-proxy tests; holds no tests itself.
"""

from __future__ import annotations

TEST_NODE = "test-node"
UPSTREAM_CONFIG = {"clusterCIDR": "10.0.0.0/8"}


def make_node(name: str = TEST_NODE, ip: str = "192.168.0.2", zone: str = "", pod_cidr: str = "") -> dict:
    labels = {"kubernetes.io/hostname": name}
    if zone:
        labels["topology.kubernetes.io/zone"] = zone
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": labels},
        "spec": {"podCIDR": pod_cidr} if pod_cidr else {},
        "status": {"addresses": [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": name}]},
    }


def make_service(ns: str, name: str, cluster_ip: str, ports=(("p80", 80),), svc_type: str = "ClusterIP",
                 lb_ips=(), **spec) -> dict:
    """ports: tuples (name, port[, nodePort[, protocol]])."""
    port_dicts = []
    for p in ports:
        d = {"name": p[0], "port": p[1], "protocol": p[3] if len(p) > 3 else "TCP", "targetPort": p[1]}
        if len(p) > 2 and p[2]:
            d["nodePort"] = p[2]
        port_dicts.append(d)
    body = {"type": svc_type, "clusterIP": cluster_ip, "clusterIPs": [cluster_ip], "ports": port_dicts}
    body.update(spec)
    status = {"loadBalancer": {"ingress": [{"ip": ip} for ip in lb_ips]}} if lb_ips else {}
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"namespace": ns, "name": name},
            "spec": body, "status": status}


def make_endpoint(ip: str, node: str | None = None, ready=None, serving=None, terminating=None,
                  zone: str | None = None, for_zones=(), for_nodes=()) -> dict:
    cond = {k: v for k, v in (("ready", ready), ("serving", serving), ("terminating", terminating))
            if v is not None}
    ep = {"addresses": [ip], "conditions": cond}
    if node:
        ep["nodeName"] = node
    if zone:
        ep["zone"] = zone
    if for_zones or for_nodes:
        ep["hints"] = {"forZones": [{"name": z} for z in for_zones]}
        if for_nodes:
            ep["hints"]["forNodes"] = [{"name": n} for n in for_nodes]
    return ep


def make_slice(ns: str, svc: str, name: str, endpoints, ports=(("p80", 80),), address_type="IPv4") -> dict:
    """ports: tuples (name, port[, protocol]); endpoints: dicts from make_endpoint or bare IPs."""
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"namespace": ns, "name": name, "labels": {"kubernetes.io/service-name": svc}},
        "addressType": address_type,
        "endpoints": [make_endpoint(e) if isinstance(e, str) else e for e in endpoints],
        "ports": [{"name": p[0], "port": p[1], "protocol": p[2] if len(p) > 2 else "TCP"} for p in ports],
    }


def overall_rules_inputs() -> tuple[list[dict], list[dict]]:
    """The six services of upstream TestOverallIPTablesRules / TestOverallNFTablesRules (v1.37.0 proxier_test.go)."""
    services = [
        make_service("ns1", "svc1", "172.30.0.41"),
        make_service("ns2", "svc2", "172.30.0.42", ports=(("p80", 80, 3001),), svc_type="LoadBalancer",
                     lb_ips=("1.2.3.4",), externalIPs=["192.168.99.22"], externalTrafficPolicy="Local",
                     healthCheckNodePort=30000),
        make_service("ns3", "svc3", "172.30.0.43", ports=(("p80", 80, 3003),), svc_type="NodePort"),
        make_service("ns4", "svc4", "172.30.0.44", svc_type="NodePort", externalIPs=["192.168.99.33"]),
        make_service("ns5", "svc5", "172.30.0.45", ports=(("p80", 80, 3002),), svc_type="LoadBalancer",
                     lb_ips=("5.6.7.8",), externalTrafficPolicy="Cluster",
                     loadBalancerSourceRanges=[" 203.0.113.0/25"], sessionAffinity="ClientIP",
                     sessionAffinityConfig={"clientIP": {"timeoutSeconds": 10800}}),
        make_service("ns6", "svc6", "172.30.0.46"),
    ]
    # Each endpoint's nodeName as upstream's slices give it (nftables' hairpin-connections set holds
    # the local ones; svc2's is on "other-node", so its eTP=Local has no local endpoint).
    slices = [
        make_slice("ns1", "svc1", "svc1-1", [make_endpoint("10.180.0.1", node=TEST_NODE)]),
        make_slice("ns2", "svc2", "svc2-1", [make_endpoint("10.180.0.2", node="other-node")]),
        make_slice("ns3", "svc3", "svc3-1", [make_endpoint("10.180.0.3", node=TEST_NODE)]),
        make_slice("ns4", "svc4", "svc4-1", [make_endpoint("10.180.0.4", node="other-node"),
                                             make_endpoint("10.180.0.5", node=TEST_NODE)]),
        make_slice("ns5", "svc5", "svc5-1", [make_endpoint("10.180.0.3", node=TEST_NODE)]),
    ]
    return services, slices
