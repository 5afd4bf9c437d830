"""What a fresh kind cluster contains, as plain objects built from the ClusterConfig (pure).

Names, labels, images and ports are those of a kind v0.33 cluster (node image v1.37.0): the
kubeadm static pods on the control plane, CoreDNS and local-path-provisioner Deployments,
kube-proxy and kindnet DaemonSets, the `default/kubernetes` Service whose Endpoints and
EndpointSlice the API server itself maintains (labelled like upstream's
pkg/controlplane/reconcilers: the slice has only `kubernetes.io/service-name`, the Endpoints carry
`endpointslice.kubernetes.io/skip-mirror`), and `kube-system/kube-dns` at the service subnet's
10th address. `cluster.Cluster` writes these through the store at startup.
"""

from __future__ import annotations

import ipaddress
import re

from helpers.config import KUBERNETES_VERSION
from helpers.kube import (
    LABEL_ARCH,
    LABEL_HOSTNAME,
    LABEL_NODE_ROLE_CONTROL_PLANE,
    LABEL_OS,
    LABEL_SERVICE_NAME,
    LABEL_SKIP_MIRROR,
    TAINT_NOT_READY,
)
from helpers.sim.api.allocators import family_of
from helpers.sim.controllers.kubelet import kubelet_conditions

DEFAULT_VERSION = KUBERNETES_VERSION  # when a config names no node image
NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease", "local-path-storage")
NODE_NETWORK = "172.18.0.0/16"  # kind's docker network; nodes get .2, .3, ... in creation order
APISERVER_PORT = 6443
CONTROL_PLANE_TAINT = {"key": LABEL_NODE_ROLE_CONTROL_PLANE, "effect": "NoSchedule"}
NOT_READY_TAINT = {"key": TAINT_NOT_READY, "effect": "NoSchedule"}
# The node image's add-on images: kubeadm's for its version (cmd/kubeadm/app/constants CoreDNSVersion,
# DefaultEtcdVersion at v1.37.0) and kind's (pkg/build/nodeimage const_cni.go, const_storage.go at v0.33.0).
COREDNS_IMAGE = "registry.k8s.io/coredns/coredns:v1.14.6"
ETCD_IMAGE = "registry.k8s.io/etcd:3.7.0-0"
KINDNET_IMAGE = "docker.io/kindest/kindnetd:v20260820-69b56db7"
LOCAL_PATH_IMAGE = "docker.io/kindest/local-path-provisioner:v20260820-69b56db7"
CRITICAL_ADDON_TOLERATIONS = [{"key": "CriticalAddonsOnly", "operator": "Exists"},
                              {"key": LABEL_NODE_ROLE_CONTROL_PLANE, "operator": "Exists",
                               "effect": "NoSchedule"}]


def kubernetes_version(config) -> str:
    """The simulated Kubernetes version: the node image's tag (kindest/node:v1.x.y@sha256:...)."""
    match = re.search(r":(v\d+\.\d+\.\d+)", config.node_image or "")
    return match.group(1) if match else DEFAULT_VERSION


def node_ips(config) -> dict[str, str]:
    network = ipaddress.ip_network(NODE_NETWORK)
    return {node.name: str(network.network_address + 2 + i) for i, node in enumerate(config.nodes)}


def pod_cidrs_by_family(config) -> dict[str, list[str]]:
    """Each node's spec.podCIDRs: one /node-cidr-mask-size-ipv4 (/-ipv6) of each cluster CIDR, in node order
    (pkg/controller/nodeipam/ipam/range_allocator.go allocates one per --cluster-cidr, primary first)."""
    per_family = []
    for cidr in config.pod_cidrs:
        network = ipaddress.ip_network(cidr)
        mask = config.node_cidr_mask_size if network.version == 4 else config.node_cidr_mask_size_ipv6
        per_family.append(network.subnets(new_prefix=mask))
    return {node.name: [str(next(subnets)) for subnets in per_family] for node in config.nodes}


def service_ip(config, index: int) -> str:
    """The `index`-th address of the service subnet (1: kubernetes, 10: kube-dns)."""
    return str(ipaddress.ip_network(config.service_cidrs[0]).network_address + index)


def control_plane(config) -> str:
    return next(n.name for n in config.nodes if n.role == "control-plane")


# The ServiceAccounts the add-ons' pods below run as (kubeadm's coredns and kube-proxy, kind's kindnet and
# local-path-provisioner manifests create them); each namespace's "default" is the serviceaccount controller's.
ADDON_SERVICE_ACCOUNTS = (("kube-system", "coredns"), ("kube-system", "kube-proxy"), ("kube-system", "kindnet"),
                          ("local-path-storage", "local-path-provisioner-service-account"))


# Who writes each boot object, as its managedFields manager: the user agent's program name. The API server
# makes the system namespaces and the `kubernetes` Service (pkg/controlplane/controller); kubeadm the
# CoreDNS and kube-proxy add-ons; kind applies its CNI with `kubectl create` and its storage with
# `kubectl apply` (kind v0.33.0 installcni/cni.go, installstorage/storage.go), which record as
# kubectl-create and kubectl-client-side-apply.
WRITERS = {"kube-system/coredns": "kubeadm", "kube-system/kube-proxy": "kubeadm",
           "kube-system/kindnet": "kubectl-create", "local-path-storage": "kubectl-client-side-apply"}
API_SERVER = "kube-apiserver"


def writer(namespace: str, name: str) -> str:
    """The manager of a boot object: an add-on's Deployment, DaemonSet or ServiceAccount, or a Namespace
    (namespace "")."""
    return WRITERS.get(f"{namespace}/{name}") or WRITERS.get(namespace or name, API_SERVER)


def namespace(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def node(spec, ip: str, pod_cidrs: list[str], version: str, config, stamp: str) -> dict:
    """A registered kind node: Ready, or NotReady until a CNI is installed when the config disables kindnet."""
    labels = {"beta.kubernetes.io/arch": "amd64", "beta.kubernetes.io/os": "linux",
              LABEL_ARCH: "amd64", LABEL_HOSTNAME: spec.name, LABEL_OS: "linux"}
    if spec.role == "control-plane":
        labels[LABEL_NODE_ROLE_CONTROL_PLANE] = ""
    labels.update(spec.labels)
    conditions = [
        {"type": t, "status": s, "reason": r, "message": m, "lastHeartbeatTime": stamp, "lastTransitionTime": stamp}
        for t, s, r, m in kubelet_conditions(network_ready=not config.disable_default_cni)]
    # Until a CNI is installed the node controller keeps new pods off a NotReady node (TaintNodesByCondition).
    taints = ([dict(CONTROL_PLANE_TAINT)] if spec.role == "control-plane" else []) + (
        [dict(NOT_READY_TAINT)] if config.disable_default_cni else [])
    resources = {"cpu": "8", "ephemeral-storage": "102626232Ki", "hugepages-1Gi": "0",
                 "hugepages-2Mi": "0", "memory": "16311468Ki", "pods": "110"}
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": spec.name, "labels": labels, "annotations": {
            "node.alpha.kubernetes.io/ttl": "0",
            "volumes.kubernetes.io/controller-managed-attach-detach": "true"}},
        "spec": {"podCIDR": pod_cidrs[0], "podCIDRs": list(pod_cidrs),
                 "providerID": f"kind://docker/{config.name}/{spec.name}",
                 **({"taints": taints} if taints else {})},
        "status": {
            "addresses": [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": spec.name}],
            "allocatable": dict(resources), "capacity": dict(resources), "conditions": conditions,
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {"architecture": "amd64", "bootID": "", "containerRuntimeVersion": "containerd://2.1.1",
                         "kernelVersion": "6.8.0-sim", "kubeProxyVersion": "", "kubeletVersion": version,
                         "machineID": "", "operatingSystem": "linux",
                         "osImage": "Debian GNU/Linux 12 (bookworm)", "systemUUID": ""},
        },
    }


def node_lease(node_name: str, node_uid: str | None, renew_time: str) -> dict:
    """The node's heartbeat Lease in kube-node-lease (owned by the Node, as the kubelet creates it)."""
    meta = {"name": node_name, "namespace": "kube-node-lease"}
    if node_uid:
        meta["ownerReferences"] = [{"apiVersion": "v1", "kind": "Node", "name": node_name, "uid": node_uid}]
    return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": meta,
            "spec": {"holderIdentity": node_name, "leaseDurationSeconds": 40, "renewTime": renew_time}}


def kubernetes_service(config) -> dict:
    ip = service_ip(config, 1)
    return {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "kubernetes", "namespace": "default",
                     "labels": {"component": "apiserver", "provider": "kubernetes"}},
        "spec": {"clusterIP": ip, "clusterIPs": [ip], "ipFamilies": [family_of(ip)], "ipFamilyPolicy": "SingleStack",
                 "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": APISERVER_PORT}],
                 "type": "ClusterIP", "sessionAffinity": "None"},
    }


def default_service_cidr(config, created: str) -> dict:
    """The ServiceCIDR the API server creates from --service-cluster-ip-range (kind: the serviceSubnet)
    and marks Ready (pkg/controlplane/controller/defaultservicecidr, v1.37)."""
    return {"apiVersion": "networking.k8s.io/v1", "kind": "ServiceCIDR", "metadata": {"name": "kubernetes"},
            "spec": {"cidrs": list(config.service_cidrs)},
            "status": {"conditions": [{"type": "Ready", "status": "True", "reason": "", "lastTransitionTime": created,
                                       "message": "Kubernetes default Service CIDR is ready"}]}}


def kubernetes_endpoints(apiserver_ip: str) -> dict:
    return {"apiVersion": "v1", "kind": "Endpoints",
            "metadata": {"name": "kubernetes", "namespace": "default",
                         "labels": {LABEL_SKIP_MIRROR: "true"}},
            "subsets": [{"addresses": [{"ip": apiserver_ip}],
                         "ports": [{"name": "https", "port": APISERVER_PORT, "protocol": "TCP"}]}]}


def kubernetes_endpointslice(apiserver_ip: str) -> dict:
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": "kubernetes", "namespace": "default",
                         "labels": {LABEL_SERVICE_NAME: "kubernetes"}},
            "addressType": "IPv4",
            "endpoints": [{"addresses": [apiserver_ip], "conditions": {"ready": True}}],
            "ports": [{"name": "https", "port": APISERVER_PORT, "protocol": "TCP"}]}


def kube_dns_service(config) -> dict:
    ip = service_ip(config, 10)
    return {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "kube-dns", "namespace": "kube-system",
                     "labels": {"k8s-app": "kube-dns", "kubernetes.io/cluster-service": "true",
                                "kubernetes.io/name": "CoreDNS"},
                     "annotations": {"prometheus.io/port": "9153", "prometheus.io/scrape": "true"}},
        "spec": {"clusterIP": ip, "clusterIPs": [ip], "ipFamilies": [family_of(ip)], "ipFamilyPolicy": "SingleStack",
                 "selector": {"k8s-app": "kube-dns"}, "type": "ClusterIP", "sessionAffinity": "None",
                 "ports": [{"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
                           {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53},
                           {"name": "metrics", "port": 9153, "protocol": "TCP", "targetPort": 9153}]},
    }


def _deployment(name: str, namespace: str, labels: dict, replicas: int, pod_spec: dict) -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": namespace, "labels": dict(labels)},
            "spec": {"replicas": replicas, "selector": {"matchLabels": dict(labels)},
                     "strategy": {"type": "RollingUpdate",
                                  "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 1}},
                     "template": {"metadata": {"labels": dict(labels)}, "spec": pod_spec}}}


def coredns_deployment() -> dict:
    """CoreDNS as kubeadm deploys it: 2 replicas that tolerate the control-plane taint."""
    ports = [{"containerPort": 53, "name": "dns", "protocol": "UDP"},
             {"containerPort": 53, "name": "dns-tcp", "protocol": "TCP"},
             {"containerPort": 9153, "name": "metrics", "protocol": "TCP"},
             {"containerPort": 8080, "name": "liveness-probe", "protocol": "TCP"},
             {"containerPort": 8181, "name": "readiness-probe", "protocol": "TCP"}]
    spec = {"containers": [{"name": "coredns", "image": COREDNS_IMAGE, "args": ["-conf", "/etc/coredns/Corefile"],
                            "ports": ports,
                            "readinessProbe": {"httpGet": {"path": "/ready", "port": "readiness-probe"}}}],
            "nodeSelector": {LABEL_OS: "linux"}, "priorityClassName": "system-cluster-critical",
            "serviceAccountName": "coredns", "dnsPolicy": "Default",
            "tolerations": [dict(t) for t in CRITICAL_ADDON_TOLERATIONS]}
    return _deployment("coredns", "kube-system", {"k8s-app": "kube-dns"}, 2, spec)


def local_path_deployment() -> dict:
    spec = {"containers": [{"name": "local-path-provisioner", "image": LOCAL_PATH_IMAGE,
                            "command": ["local-path-provisioner", "--debug", "start", "--helper-image",
                                        "docker.io/kindest/local-path-helper:v20241212-8ac705d0"]}],
            "nodeSelector": {LABEL_OS: "linux"}, "serviceAccountName": "local-path-provisioner-service-account",
            "tolerations": [{"key": LABEL_NODE_ROLE_CONTROL_PLANE, "operator": "Equal",
                             "effect": "NoSchedule"}]}
    return _deployment("local-path-provisioner", "local-path-storage", {"app": "local-path-provisioner"}, 1, spec)


LOCAL_PATH_PROVISIONER = "rancher.io/local-path"


def standard_storage_class() -> dict:
    """kind's default StorageClass (its node image's /kind/manifests/default-storage.yaml, applied by
    installstorage): local-path-provisioner's, binding when the first pod uses the claim."""
    return {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
            "metadata": {"name": "standard", "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
            "provisioner": LOCAL_PATH_PROVISIONER, "reclaimPolicy": "Delete", "volumeBindingMode": "WaitForFirstConsumer"}


def _daemonset(name: str, labels: dict, selector: dict, pod_spec: dict) -> dict:
    return {"apiVersion": "apps/v1", "kind": "DaemonSet",
            "metadata": {"name": name, "namespace": "kube-system", "labels": dict(labels)},
            "spec": {"selector": {"matchLabels": dict(selector)},
                     "template": {"metadata": {"labels": dict(selector)}, "spec": pod_spec}}}


def kube_proxy_daemonset(version: str, mode: str) -> dict:
    spec = {"containers": [{"name": "kube-proxy", "image": f"registry.k8s.io/kube-proxy:{version}",
                            "command": ["/usr/local/bin/kube-proxy", "--config=/var/lib/kube-proxy/config.conf",
                                        "--hostname-override=$(NODE_NAME)", f"--proxy-mode={mode}"],
                            "securityContext": {"privileged": True}}],
            "hostNetwork": True, "nodeSelector": {LABEL_OS: "linux"},
            "priorityClassName": "system-node-critical", "serviceAccountName": "kube-proxy",
            "tolerations": [{"operator": "Exists"}]}
    return _daemonset("kube-proxy", {"k8s-app": "kube-proxy"}, {"k8s-app": "kube-proxy"}, spec)


def kindnet_daemonset(pod_subnet: str) -> dict:
    spec = {"containers": [{"name": "kindnet-cni", "image": KINDNET_IMAGE,
                            "env": [{"name": "POD_SUBNET", "value": pod_subnet}],
                            "securityContext": {"capabilities": {"add": ["NET_RAW", "NET_ADMIN"]}}}],
            "hostNetwork": True, "serviceAccountName": "kindnet",
            "tolerations": [{"operator": "Exists"}]}
    labels = {"app": "kindnet", "k8s-app": "kindnet", "tier": "node"}
    return _daemonset("kindnet", labels, {"app": "kindnet"}, spec)


def static_pods(config, node_name: str, node_uid: str, node_ip: str, version: str) -> list[dict]:
    """The kubeadm control-plane mirror pods, with the flags chapters grep for in their commands."""
    cm_flags = {"allocate-node-cidrs": "true", "cluster-cidr": config.pod_subnet,
                "service-cluster-ip-range": config.service_subnet, **config.controller_manager_args}
    api_flags = {"advertise-address": node_ip, "secure-port": str(APISERVER_PORT),
                 "service-cluster-ip-range": config.service_subnet, **config.apiserver_args}
    components = (
        ("etcd", ETCD_IMAGE, ["etcd", f"--advertise-client-urls=https://{node_ip}:2379"]),
        ("kube-apiserver", f"registry.k8s.io/kube-apiserver:{version}",
         ["kube-apiserver", *(f"--{k}={v}" for k, v in sorted(api_flags.items()))]),
        ("kube-controller-manager", f"registry.k8s.io/kube-controller-manager:{version}",
         ["kube-controller-manager", *(f"--{k}={v}" for k, v in sorted(cm_flags.items()))]),
        ("kube-scheduler", f"registry.k8s.io/kube-scheduler:{version}",
         ["kube-scheduler", "--bind-address=127.0.0.1"]),
    )
    return [{
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": f"{name}-{node_name}", "namespace": "kube-system",
                     "labels": {"component": name, "tier": "control-plane"},
                     "annotations": {"kubernetes.io/config.source": "file",
                                     "kubernetes.io/config.mirror": "simulated"},
                     "ownerReferences": [{"apiVersion": "v1", "kind": "Node", "name": node_name,
                                          "uid": node_uid, "controller": True}]},
        "spec": {"containers": [{"name": name, "image": image, "command": command}], "hostNetwork": True,
                 "nodeName": node_name, "priorityClassName": "system-node-critical",
                 "tolerations": [{"operator": "Exists", "effect": "NoExecute"}]},
    } for name, image, command in components]
