"""A fresh simulated cluster reads like a fresh kind cluster (kind-cluster.yaml) through kubectl."""

import pytest
from conftest import SPEED, kubectl, wait_until

from helpers.config import KUBERNETES_VERSION
from helpers.kube import get_condition
from helpers.sim import start_in_process


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    """A cluster no other test has touched (the shared one accumulates test namespaces)."""
    handle = start_in_process(speed=SPEED, kubeconfig_path=tmp_path_factory.mktemp("fresh") / "kubeconfig")
    yield handle
    handle.stop()


def rows(output: str) -> list[list[str]]:
    """Table rows (header dropped) as lists of cells, one per non-empty line."""
    return [line.split() for line in output.strip().split("\n")[1:] if line.strip()]


def test_services_endpoints_and_slices_read_like_kind(fresh):
    result = kubectl(fresh, "get", "services,endpoints,endpointslices", "-A")
    blocks = result.stdout.strip().split("\n\n")
    services, endpoints, slices = (rows(block) for block in blocks)
    assert [row[:6] for row in services] == [
        ["default", "service/kubernetes", "ClusterIP", "10.96.0.1", "<none>", "443/TCP"],
        ["kube-system", "service/kube-dns", "ClusterIP", "10.96.0.10", "<none>", "53/UDP,53/TCP,9153/TCP"]]
    assert endpoints[0][:3] == ["default", "endpoints/kubernetes", "172.18.0.2:6443"]
    assert endpoints[1][:2] == ["kube-system", "endpoints/kube-dns"]
    assert endpoints[1][3:6] == ["+", "3", "more..."]  # 2 pods x 3 ports, as on kind
    assert slices[0][:5] == ["default", "endpointslice.discovery.k8s.io/kubernetes", "IPv4", "6443", "172.18.0.2"]
    assert slices[1][1].startswith("endpointslice.discovery.k8s.io/kube-dns-")
    assert slices[1][2:4] == ["IPv4", "53,53,9153"]
    assert sorted(slices[1][4].split(",")) == ["10.244.0.2", "10.244.0.3"]
    assert "v1 Endpoints is deprecated in v1.33+" in result.stderr


def test_the_default_service_cidr_is_served_ready(fresh):
    """A v1.36 API server creates the "kubernetes" ServiceCIDR from --service-cluster-ip-range (kind's
    serviceSubnet) and marks it Ready (pkg/controlplane/controller/defaultservicecidr); kube-proxy's
    nftables mode writes its CIDRs into the "Drop traffic to unallocated ClusterIPs" rule."""
    assert [row[:2] for row in rows(kubectl(fresh, "get", "servicecidrs").stdout)] == [["kubernetes", "10.96.0.0/16"]]
    cidr = fresh.cluster.store.get("servicecidrs.networking.k8s.io", "kubernetes")
    assert [(c["type"], c["status"], c["message"]) for c in cidr["status"]["conditions"]] == [
        ("Ready", "True", "Kubernetes default Service CIDR is ready")]


def test_nodes_have_kind_names_roles_ips_zones_and_pod_cidrs(fresh):
    nodes = rows(kubectl(fresh, "get", "nodes", "-o", "wide", "-L", "topology.kubernetes.io/zone").stdout)
    assert [(n[0], n[1], n[2], n[4], n[5]) for n in nodes] == [
        ("endpoints-control-plane", "Ready", "control-plane", KUBERNETES_VERSION, "172.18.0.2"),
        ("endpoints-worker", "Ready", "<none>", KUBERNETES_VERSION, "172.18.0.3"),
        ("endpoints-worker2", "Ready", "<none>", KUBERNETES_VERSION, "172.18.0.4")]
    assert [n[-1] for n in nodes] == ["zone-a", "zone-a", "zone-b"]
    cidrs = kubectl(fresh, "get", "nodes", "-o", "jsonpath={range .items[*]}{.spec.podCIDR} {end}").stdout.split()
    assert cidrs == ["10.244.0.0/24", "10.244.1.0/24", "10.244.2.0/24"]
    taints = kubectl(fresh, "get", "node", "endpoints-control-plane", "-o", "jsonpath={.spec.taints[0].key}").stdout
    assert taints == "node-role.kubernetes.io/control-plane"


def test_system_pods_run_where_kind_puts_them(fresh):
    pods = rows(kubectl(fresh, "get", "pods", "-n", "kube-system", "-o", "wide").stdout)
    by_prefix: dict[str, list[str]] = {}
    for row in pods:
        assert row[1:3] == ["1/1", "Running"], row
        prefix = row[0].rsplit("-", 1)[0] if row[0].startswith(("kindnet-", "kube-proxy-")) else row[0]
        by_prefix.setdefault(prefix, []).append(row[6])
    all_nodes = ["endpoints-control-plane", "endpoints-worker", "endpoints-worker2"]
    assert sorted(by_prefix["kindnet"]) == sorted(by_prefix["kube-proxy"]) == all_nodes
    coredns = [row for row in pods if row[0].startswith("coredns-")]
    assert [row[6] for row in coredns] == ["endpoints-control-plane"] * 2
    assert sorted(row[5] for row in coredns) == ["10.244.0.2", "10.244.0.3"]
    for component in ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"):
        assert by_prefix[f"{component}-endpoints-control-plane"] == ["endpoints-control-plane"]
    hostnet = [row for row in pods if row[0].startswith(("kindnet-", "kube-proxy-"))]
    assert all(row[5].startswith("172.18.0.") for row in hostnet)  # hostNetwork: the node's IP
    assert "simulated container coredns started" in kubectl(fresh, "logs", "-n", "kube-system", coredns[0][0]).stdout
    proxy_pod = next(row[0] for row in pods if row[0].startswith("kube-proxy-"))
    assert "Using iptables Proxier" in kubectl(fresh, "logs", "-n", "kube-system", proxy_pod).stdout


def test_namespaces_version_and_controller_manager_flags(fresh):
    namespaces = [row[0] for row in rows(kubectl(fresh, "get", "namespaces").stdout)]
    assert namespaces == ["default", "kube-node-lease", "kube-public", "kube-system", "local-path-storage"]
    assert f"Server Version: {KUBERNETES_VERSION}-sim" in kubectl(fresh, "version").stdout
    command = kubectl(fresh, "get", "pod", "-n", "kube-system", "kube-controller-manager-endpoints-control-plane",
                      "-o", "jsonpath={.spec.containers[0].command}").stdout
    assert "--max-endpoints-per-slice=100" in command and "--node-monitor-grace-period=20s" in command
    leases = rows(kubectl(fresh, "get", "leases", "-n", "kube-node-lease").stdout)
    assert [row[0] for row in leases] == ["endpoints-control-plane", "endpoints-worker", "endpoints-worker2"]


def test_without_a_cni_nodes_stay_not_ready_and_pods_pending_as_on_kind(tmp_path):
    """kind/kind-no-kube-proxy.yaml: no kindnet, no kube-proxy. Until a CNI is installed (which only
    kind can do) every node is NotReady, new pods stay Pending, and a pod that tolerates the taint
    still gets no sandbox; host-network pods (the control plane) run."""
    from helpers.config import REPO_ROOT

    handle = start_in_process(REPO_ROOT / "kind/kind-no-kube-proxy.yaml", speed=SPEED,
                              kubeconfig_path=tmp_path / "kubeconfig")
    try:
        nodes = rows(kubectl(handle, "get", "nodes").stdout)
        assert nodes and all(row[1] == "NotReady" for row in nodes)
        node = handle.cluster.store.get("nodes", nodes[0][0])
        ready = get_condition(node, "Ready")
        assert ready["status"] == "False" and "cni plugin not initialized" in ready["message"]
        pods = rows(kubectl(handle, "get", "pods", "-n", "kube-system").stdout)
        assert not [row for row in pods if row[0].startswith(("kindnet-", "kube-proxy-"))]
        assert {row[2] for row in pods if row[0].startswith("coredns-")} == {"Pending"}
        assert {row[2] for row in pods if row[0].startswith("kube-apiserver-")} == {"Running"}
        store = handle.cluster.store
        store.create("pods", {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "tolerant"},
                              "spec": {"containers": [{"name": "c", "image": "busybox"}],
                                       "tolerations": [{"operator": "Exists"}]}}, namespace="default")
        wait_until(handle, lambda: any(e["reason"] == "FailedCreatePodSandBox"
                                       and e["involvedObject"]["name"] == "tolerant"
                                       for e in store.list("events", "default")[0]), what="sandbox failure")
        assert not store.get("pods", "tolerant", "default")["status"].get("podIP")
    finally:
        handle.stop()


def test_a_dual_stack_cluster_gives_pods_and_services_an_address_per_family(tmp_path):
    """kind/dual-stack.yaml: each node a podCIDR per family, each pod an IP per family (kindnet's host-local
    ranges), and a PreferDualStack Service a cluster IP and a slice per family (tests/test_oracle_dualstack.py
    compares the Services and slices with kube-apiserver and kube-controller-manager)."""
    handle = start_in_process("kind/dual-stack.yaml", speed=SPEED, kubeconfig_path=tmp_path / "kubeconfig")
    try:
        store = handle.cluster.store
        dns = [p for p in store.list("pods", "kube-system")[0] if p["metadata"]["name"].startswith("coredns-")]
        assert [len(p["status"]["podIPs"]) for p in dns] == [2, 2]
        assert all(p["status"]["podIPs"][1]["ip"].startswith("fd00:10:244:") for p in dns)
        svc = store.create("services", {"metadata": {"name": "dns-dual", "namespace": "kube-system"},
                                        "spec": {"selector": {"k8s-app": "kube-dns"}, "ipFamilyPolicy": "PreferDualStack",
                                                 "ports": [{"name": "dns", "port": 53, "protocol": "UDP"}]}},
                           namespace="kube-system")
        assert svc["spec"]["ipFamilies"] == ["IPv4", "IPv6"] and svc["spec"]["clusterIPs"][1].startswith("fd00:10:96::")
        def served():
            found = [s for s in store.list("endpointslices.discovery.k8s.io", "kube-system")[0]
                     if s["metadata"]["labels"].get("kubernetes.io/service-name") == "dns-dual" and s.get("endpoints")]
            return found if len(found) == 2 else None

        slices = wait_until(handle, served, what="a slice per family with the DNS pods")
        assert sorted(s["addressType"] for s in slices) == ["IPv4", "IPv6"]
        v6 = next(s for s in slices if s["addressType"] == "IPv6")
        assert sorted(a for e in v6["endpoints"] for a in e["addresses"]) == sorted(
            p["status"]["podIPs"][1]["ip"] for p in dns)
    finally:
        handle.stop()
