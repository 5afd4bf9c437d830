"""Read `kind-cluster.yaml` into a `ClusterConfig` that both backends share.

kind creates the real cluster from the file; the simulator boots the same node names, zones,
subnets and controller flags from the `ClusterConfig` parsed here, so a chapter sees one shape of
cluster whichever backend runs it. Parsing is pure (`parse_cluster_config` over a dict); only
`load_cluster_config` touches the file system.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from helpers.kube import LABEL_ZONE

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG_PATH = REPO_ROOT / "kind-cluster.yaml"

KIND_API_VERSION = "kind.x-k8s.io/v1alpha4"

# The versions a reader installs, named once here: the kind release and the node image it defaults to
# (kind's pkg/apis/config/defaults/image.go: tag and digest), whose tag is the Kubernetes version the
# simulator models and `make upstream` builds. kind-cluster.yaml, kind/*.yaml, the README, `make doctor`
# and the simulator must agree with them (tests/test_config_versions.py).
KIND_VERSION = "v0.33.0"
NODE_IMAGE = "kindest/node:v1.37.0@sha256:a1ed56cfb0e7b93589bdf97c8cd566405a265939e3620fc4f5de89adff580ae5"
KUBERNETES_VERSION = NODE_IMAGE.split(":")[1].split("@")[0]

# Upstream defaults, used when kind-cluster.yaml does not set a flag.
# The upstream e2e image the chapters run (both backends; the Makefile's AGNHOST_IMAGE must match).
AGNHOST_REPO = "registry.k8s.io/e2e-test-images/agnhost"
AGNHOST_TAG = "2.66.1"  # test/utils/image/manifest.go at v1.37.0: configs[Agnhost]
AGNHOST_IMAGE = f"{AGNHOST_REPO}:{AGNHOST_TAG}"
DEFAULT_MAX_ENDPOINTS_PER_SLICE = 100  # kube-controller-manager --max-endpoints-per-slice
MAX_ENDPOINTS_PER_SLICE_RANGE = (1, 1000)  # its validation range
DEFAULT_NODE_MONITOR_GRACE_PERIOD = 50.0  # --node-monitor-grace-period since v1.32 (40s before)
DEFAULT_NODE_MONITOR_PERIOD = 5.0  # --node-monitor-period
DEFAULT_TOLERATION_SECONDS = 300  # kube-apiserver --default-{not-ready,unreachable}-toleration-seconds
DEFAULT_NODE_CIDR_MASK_SIZE = 24  # --node-cidr-mask-size(-ipv4)
DEFAULT_NODE_CIDR_MASK_SIZE_IPV6 = 64  # --node-cidr-mask-size-ipv6
# kind's networking defaults per ipFamily (pkg/internal/apis/config/default.go SetDefaultsCluster).
DEFAULT_POD_SUBNET = "10.244.0.0/16"
DEFAULT_SERVICE_SUBNET = "10.96.0.0/16"
KIND_SUBNETS = {"ipv4": (DEFAULT_POD_SUBNET, DEFAULT_SERVICE_SUBNET),
                "ipv6": ("fd00:10:244::/56", "fd00:10:96::/112"),
                "dual": ("10.244.0.0/16,fd00:10:244::/56", "10.96.0.0/16,fd00:10:96::/112")}
DEFAULT_KUBE_PROXY_MODE = "iptables"
KUBE_PROXY_MODES = ("iptables", "nftables", "ipvs", "none")
ROLES = ("control-plane", "worker")
SIM_DATAPLANES = ("model", "kernel")  # the simulator's data plane: the packet model, or the real kernel


class ConfigError(ValueError):
    """kind-cluster.yaml (or a variant) is missing, malformed or sets an invalid value."""


@dataclass(frozen=True)
class NodeSpec:
    """One kind node: its Kubernetes node name, role and the labels kind gives it."""

    name: str
    role: str
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def zone(self) -> str | None:
        return self.labels.get(LABEL_ZONE)


@dataclass(frozen=True)
class ClusterConfig:
    """The cluster both backends present. Durations are seconds (float), as the simulator's clock uses."""

    name: str
    nodes: list[NodeSpec]
    node_image: str | None
    pod_subnet: str  # as kind's field: one CIDR, or "<ipv4>,<ipv6>" for ipFamily dual
    service_subnet: str
    node_cidr_mask_size: int  # IPv4
    node_cidr_mask_size_ipv6: int
    kube_proxy_mode: str
    disable_default_cni: bool
    controller_manager_args: dict[str, str]
    apiserver_args: dict[str, str]
    max_endpoints_per_slice: int
    endpoint_updates_batch_period: float
    node_monitor_grace_period: float
    node_monitor_period: float
    default_not_ready_toleration_seconds: int
    default_unreachable_toleration_seconds: int
    ip_family: str = "ipv4"  # networking.ipFamily: ipv4, ipv6 or dual
    source: str | None = None

    @property
    def pod_cidrs(self) -> tuple[str, ...]:
        """The pod subnet per family, primary first (kube-controller-manager's --cluster-cidr list)."""
        return tuple(self.pod_subnet.split(","))

    @property
    def service_cidrs(self) -> tuple[str, ...]:
        """The service subnet per family, primary first (kube-apiserver's --service-cluster-ip-range list)."""
        return tuple(self.service_subnet.split(","))

    @property
    def context(self) -> str:
        """kubeconfig context kind creates for this cluster."""
        return f"kind-{self.name}"

    @property
    def node_names(self) -> list[str]:
        return [node.name for node in self.nodes]

    def node(self, name: str) -> NodeSpec:
        """The node called `name`; KeyError names the nodes that do exist."""
        for node in self.nodes:
            if node.name == name:
                return node
        raise KeyError(f"no node {name!r} in cluster {self.name!r}; nodes: {', '.join(self.node_names)}")


def sim_dataplane(env: dict | None = None) -> str:
    """The simulator's data plane from ``$ENDPOINTS_SIM_DATAPLANE``: ``model`` (default) or ``kernel``
    (network namespaces with real netfilter, where the machine allows it: helpers/sim/kernel)."""
    value = ((os.environ if env is None else env).get("ENDPOINTS_SIM_DATAPLANE") or "model").strip().lower()
    if value not in SIM_DATAPLANES:
        raise ValueError(f"ENDPOINTS_SIM_DATAPLANE must be one of {', '.join(SIM_DATAPLANES)}, not {value!r}")
    return value


def load_cluster_config(path: str | Path | None = None) -> ClusterConfig:
    """Parse a kind config file (default: the repository's kind-cluster.yaml)."""
    path = Path(path) if path is not None else DEFAULT_CONFIG_PATH
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read kind config {path}: {exc.strerror or exc}") from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from None
    return parse_cluster_config(document, source=str(path))


def parse_cluster_config(document: object, *, source: str | None = None) -> ClusterConfig:
    """Turn a kind v1alpha4 Cluster document (a dict) into a ClusterConfig."""
    where = source or "kind config"
    if not isinstance(document, dict):
        raise ConfigError(f"{where}: expected a mapping at the top level, got {type(document).__name__}")
    if document.get("kind") != "Cluster" or document.get("apiVersion") != KIND_API_VERSION:
        raise ConfigError(f"{where}: expected kind: Cluster and apiVersion: {KIND_API_VERSION}")
    name = document.get("name") or "kind"  # kind's own default cluster name
    networking = _mapping(document.get("networking"), f"{where}: networking")
    node_docs = document.get("nodes") or [{"role": "control-plane"}]  # kind's default: one node
    if not isinstance(node_docs, list):
        raise ConfigError(f"{where}: nodes must be a list")
    nodes = node_specs(name, node_docs, where)
    # Node-level patches on control-plane nodes also reach ClusterConfiguration; kind applies them last.
    patches = _patch_list(document.get("kubeadmConfigPatches"), where) + [
        patch
        for doc in node_docs
        if doc.get("role", "control-plane") == "control-plane"
        for patch in _patch_list(doc.get("kubeadmConfigPatches"), where)
    ]
    cm_args, api_args = kubeadm_component_args(patches, where)
    ip_family = networking.get("ipFamily", "ipv4")
    if ip_family not in KIND_SUBNETS:
        raise ConfigError(f"{where}: ipFamily {ip_family!r} is not one of {', '.join(KIND_SUBNETS)}")
    pod_subnet, service_subnet = KIND_SUBNETS[ip_family]
    proxy_mode = networking.get("kubeProxyMode", DEFAULT_KUBE_PROXY_MODE)
    if proxy_mode not in KUBE_PROXY_MODES:
        raise ConfigError(f"{where}: kubeProxyMode {proxy_mode!r} is not one of {', '.join(KUBE_PROXY_MODES)}")
    return ClusterConfig(
        name=name,
        nodes=nodes,
        node_image=_node_image(node_docs, where),
        pod_subnet=networking.get("podSubnet", pod_subnet),
        service_subnet=networking.get("serviceSubnet", service_subnet),
        # a dual-stack kube-controller-manager refuses --node-cidr-mask-size (core.go setNodeCIDRMaskSizes)
        node_cidr_mask_size=_int_flag(cm_args, "node-cidr-mask-size-ipv4", _int_flag(
            cm_args, "node-cidr-mask-size", DEFAULT_NODE_CIDR_MASK_SIZE, where), where),
        node_cidr_mask_size_ipv6=_int_flag(cm_args, "node-cidr-mask-size-ipv6", DEFAULT_NODE_CIDR_MASK_SIZE_IPV6,
                                           where),
        kube_proxy_mode=proxy_mode,
        disable_default_cni=bool(networking.get("disableDefaultCNI", False)),
        controller_manager_args=cm_args,
        apiserver_args=api_args,
        max_endpoints_per_slice=_max_endpoints_per_slice(cm_args, where),
        endpoint_updates_batch_period=_duration_flag(cm_args, "endpointslice-updates-batch-period", 0.0, where),
        node_monitor_grace_period=_duration_flag(
            cm_args, "node-monitor-grace-period", DEFAULT_NODE_MONITOR_GRACE_PERIOD, where
        ),
        node_monitor_period=_duration_flag(cm_args, "node-monitor-period", DEFAULT_NODE_MONITOR_PERIOD, where),
        default_not_ready_toleration_seconds=_int_flag(
            api_args, "default-not-ready-toleration-seconds", DEFAULT_TOLERATION_SECONDS, where
        ),
        default_unreachable_toleration_seconds=_int_flag(
            api_args, "default-unreachable-toleration-seconds", DEFAULT_TOLERATION_SECONDS, where
        ),
        ip_family=ip_family,
        source=source,
    )


def node_specs(cluster_name: str, node_docs: list, where: str = "kind config") -> list[NodeSpec]:
    """Name nodes as kind does: the first of a role has no suffix, later ones get 2, 3, ...

    e.g. endpoints-control-plane, endpoints-worker, endpoints-worker2.
    """
    counts: dict[str, int] = {}
    specs = []
    for index, doc in enumerate(node_docs):
        doc = _mapping(doc, f"{where}: nodes[{index}]")
        role = doc.get("role", "control-plane")
        if role not in ROLES:
            raise ConfigError(f"{where}: nodes[{index}].role {role!r} is not one of {', '.join(ROLES)}")
        counts[role] = counts.get(role, 0) + 1
        suffix = "" if counts[role] == 1 else str(counts[role])
        labels = _mapping(doc.get("labels"), f"{where}: nodes[{index}].labels")
        specs.append(NodeSpec(f"{cluster_name}-{role}{suffix}", role, {str(k): str(v) for k, v in labels.items()}))
    return specs


def kubeadm_component_args(patches: list[str], where: str = "kind config") -> tuple[dict, dict]:
    """Collect kube-controller-manager and kube-apiserver flags from ClusterConfiguration patches.

    Accepts both extraArgs shapes: the map form of kubeadm v1beta3 / unversioned kind patches and
    the v1beta4 list of {name, value}. Later patches override earlier ones, as merge patches do.
    """
    controller_manager: dict[str, str] = {}
    apiserver: dict[str, str] = {}
    for index, text in enumerate(patches):
        try:
            patch = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"{where}: kubeadmConfigPatches[{index}] is not valid YAML: {exc}") from None
        patch = _mapping(patch, f"{where}: kubeadmConfigPatches[{index}]")
        if patch.get("kind") != "ClusterConfiguration":
            continue
        for component, target in (("controllerManager", controller_manager), ("apiServer", apiserver)):
            section = _mapping(patch.get(component), f"{where}: {component}")
            target.update(extra_args(section.get("extraArgs"), f"{where}: {component}.extraArgs"))
    return controller_manager, apiserver


def extra_args(value: object, where: str) -> dict[str, str]:
    """Normalise kubeadm extraArgs (map, or v1beta4 list of {name, value}) to {flag: string value}."""
    if value is None:
        return {}
    if isinstance(value, dict):
        return {str(k): _flag_text(v) for k, v in value.items()}
    if isinstance(value, list) and all(isinstance(item, dict) and "name" in item for item in value):
        return {str(item["name"]): _flag_text(item.get("value", "")) for item in value}
    raise ConfigError(f"{where} must be a map of flag: value or a list of {{name, value}}")


_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str) -> float:
    """Parse a Go duration such as "40s", "1m30s" or "500ms" into seconds.

    Kubernetes flags take Go's time.ParseDuration syntax; a bare "0" is the only unitless value.
    """
    text = text.strip()
    if text == "0":
        return 0.0
    if not text:
        raise ValueError("invalid duration '' (expected Go syntax such as 40s)")
    position, total = 0, 0.0
    while position < len(text):
        match = _DURATION_PART.match(text, position)
        if not match:
            raise ValueError(f"invalid duration {text!r} (expected Go syntax such as 40s, 1m30s, 500ms)")
        total += float(match.group(1)) * _DURATION_UNITS[match.group(2)]
        position = match.end()
    return total


def _node_image(node_docs: list[dict], where: str) -> str | None:
    """The one image every node runs (None: kind's default); mixed images are refused."""
    images = {doc.get("image") for doc in node_docs}
    if len(images) > 1:
        raise ConfigError(f"{where}: nodes use different images {sorted(map(str, images))}; pin one image")
    return images.pop()


def _max_endpoints_per_slice(args: dict[str, str], where: str) -> int:
    value = _int_flag(args, "max-endpoints-per-slice", DEFAULT_MAX_ENDPOINTS_PER_SLICE, where)
    low, high = MAX_ENDPOINTS_PER_SLICE_RANGE
    if not low <= value <= high:
        raise ConfigError(f"{where}: max-endpoints-per-slice must be between {low} and {high}, got {value}")
    return value


def _int_flag(args: dict[str, str], flag: str, default: int, where: str) -> int:
    if flag not in args:
        return default
    try:
        return int(args[flag])
    except ValueError:
        raise ConfigError(f"{where}: --{flag} must be an integer, got {args[flag]!r}") from None


def _duration_flag(args: dict[str, str], flag: str, default: float, where: str) -> float:
    if flag not in args:
        return default
    try:
        return parse_duration(args[flag])
    except ValueError as exc:
        raise ConfigError(f"{where}: --{flag}: {exc}") from None


def _flag_text(value: object) -> str:
    # YAML turns `true` and `5` into bool/int; flags are strings, and Go spells booleans lowercase.
    return str(value).lower() if isinstance(value, bool) else str(value)


def _mapping(value: object, where: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"{where} must be a mapping, got {type(value).__name__}")
    return value


def _patch_list(value: object, where: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ConfigError(f"{where}: kubeadmConfigPatches must be a list of YAML strings")
    return value
