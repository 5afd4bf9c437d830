"""kind-cluster.yaml and every kind/*.yaml variant must be valid kind v1alpha4 Cluster configs.

kind decodes its config strictly (unknown fields are errors), so a typo would only surface when a
reader runs `make cluster` on a machine with Docker. The schema below is transcribed from
kubernetes-sigs/kind pkg/apis/config/v1alpha4/types.go (plus kind's validation of roles and proxy
modes, and the kubeadm kinds its patches may target).
"""

from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
CONFIG_FILES = [REPO / "kind-cluster.yaml", *sorted((REPO / "kind").glob("*.yaml"))]

STR, BOOL, INT = str, bool, int
STR_MAP = ("map", STR)
BOOL_MAP = ("map", BOOL)
ROLES = ("enum", "control-plane", "worker")
PROXY_MODES = ("enum", "iptables", "nftables", "ipvs", "none")
IP_FAMILIES = ("enum", "ipv4", "ipv6", "dual")

PATCH_JSON6902 = {"group": STR, "version": STR, "kind": STR, "patch": STR}
MOUNT = {
    "containerPath": STR, "hostPath": STR, "readOnly": BOOL, "selinuxRelabel": BOOL,
    "propagation": ("enum", "None", "HostToContainer", "Bidirectional"),
}
PORT_MAPPING = {
    "containerPort": INT, "hostPort": INT, "listenAddress": STR, "protocol": ("enum", "TCP", "UDP", "SCTP"),
}
NODE = {
    "role": ROLES,
    "image": STR,
    "labels": STR_MAP,
    "extraMounts": ("list", MOUNT),
    "extraPortMappings": ("list", PORT_MAPPING),
    "gpus": STR,
    "kubeadmConfigPatches": ("list", STR),
    "kubeadmConfigPatchesJSON6902": ("list", PATCH_JSON6902),
}
NETWORKING = {
    "ipFamily": IP_FAMILIES,
    "apiServerPort": INT,
    "apiServerAddress": STR,
    "podSubnet": STR,
    "serviceSubnet": STR,
    "disableDefaultCNI": BOOL,
    "kubeProxyMode": PROXY_MODES,
    "dnsSearch": ("list", STR),
}
CLUSTER = {
    "kind": ("enum", "Cluster"),
    "apiVersion": ("enum", "kind.x-k8s.io/v1alpha4"),
    "name": STR,
    "nodes": ("list", NODE),
    "networking": NETWORKING,
    "featureGates": BOOL_MAP,
    "runtimeConfig": STR_MAP,
    "kubeadmConfigPatches": ("list", STR),
    "kubeadmConfigPatchesJSON6902": ("list", PATCH_JSON6902),
    "containerdConfigPatches": ("list", STR),
    "containerdConfigPatchesJSON6902": ("list", STR),
}
# Objects kind's kubeadm config template renders, i.e. what a kubeadm patch can match.
KUBEADM_PATCH_KINDS = {
    "ClusterConfiguration", "InitConfiguration", "JoinConfiguration",
    "KubeletConfiguration", "KubeProxyConfiguration",
}


def schema_errors(value, schema, path="$"):
    """Every place where `value` does not fit `schema`, as readable strings."""
    if isinstance(schema, dict):
        if not isinstance(value, dict):
            return [f"{path}: expected a mapping"]
        errors = [f"{path}.{key}: unknown field" for key in value if key not in schema]
        for key, sub in schema.items():
            if key in value:
                errors += schema_errors(value[key], sub, f"{path}.{key}")
        return errors
    if isinstance(schema, tuple) and schema[0] == "enum":
        return [] if value in schema[1:] else [f"{path}: {value!r} not one of {schema[1:]}"]
    if isinstance(schema, tuple) and schema[0] == "list":
        if not isinstance(value, list):
            return [f"{path}: expected a list"]
        return [e for i, item in enumerate(value) for e in schema_errors(item, schema[1], f"{path}[{i}]")]
    if isinstance(schema, tuple) and schema[0] == "map":
        if not isinstance(value, dict):
            return [f"{path}: expected a mapping"]
        return [e for k, v in value.items() for e in schema_errors(v, schema[1], f"{path}.{k}")]
    # YAML bools are ints in Python; kind would reject `port: true`.
    if not isinstance(value, schema) or (schema is INT and isinstance(value, bool)):
        return [f"{path}: expected {schema.__name__}, got {type(value).__name__}"]
    return []


def patch_errors(config):
    """kubeadm merge patches must be YAML mappings naming a kind that kind's kubeadm config contains."""
    patches = [("$", p) for p in config.get("kubeadmConfigPatches", [])]
    patches += [(f"$.nodes[{i}]", p) for i, n in enumerate(config.get("nodes", [])) for p in
                n.get("kubeadmConfigPatches", [])]
    errors = []
    for where, text in patches:
        try:
            patch = yaml.safe_load(text)
        except yaml.YAMLError:
            errors.append(f"{where}: kubeadm patch is not YAML")
            continue
        if not isinstance(patch, dict) or patch.get("kind") not in KUBEADM_PATCH_KINDS:
            errors.append(f"{where}: kubeadm patch kind must be one of {sorted(KUBEADM_PATCH_KINDS)}")
    return errors


def role_errors(config):
    roles = [node.get("role", "control-plane") for node in config.get("nodes", [])]
    return [] if not roles or "control-plane" in roles else ["$.nodes: needs at least one control-plane"]


def validate(config):
    errors = schema_errors(config, CLUSTER)
    return errors or patch_errors(config) + role_errors(config)


@pytest.mark.parametrize("path", CONFIG_FILES, ids=lambda p: str(p.relative_to(REPO)))
def test_config_file_is_valid_kind_v1alpha4(path):
    config = yaml.safe_load(path.read_text())
    assert validate(config) == []


@pytest.mark.parametrize("path", CONFIG_FILES, ids=lambda p: str(p.relative_to(REPO)))
def test_config_file_pins_node_images_by_digest(path):
    nodes = yaml.safe_load(path.read_text()).get("nodes", [])
    assert nodes, "list the nodes so each one can pin its image"
    for node in nodes:
        assert "@sha256:" in node.get("image", ""), f"{path.name}: pin {node} by tag and digest"


VALID = yaml.safe_load((REPO / "kind-cluster.yaml").read_text())


@pytest.mark.parametrize(
    ("broken", "error"),
    [
        ({**VALID, "apiVersion": "kind.x-k8s.io/v1alpha3"}, "$.apiVersion"),
        ({**VALID, "nodez": []}, "$.nodez: unknown field"),
        ({**VALID, "nodes": [{"role": "master"}]}, "$.nodes[0].role"),
        ({**VALID, "nodes": [{"role": "worker", "imag": "x"}]}, "$.nodes[0].imag: unknown field"),
        ({**VALID, "networking": {"kubeProxyMode": "userspace"}}, "$.networking.kubeProxyMode"),
        ({**VALID, "networking": {"apiServerPort": True}}, "expected int"),
        ({**VALID, "nodes": [{"role": "worker", "labels": {"zone": 1}}]}, "$.nodes[0].labels.zone"),
        ({**VALID, "kubeadmConfigPatches": ["kind: ControllerManagerConfiguration"]}, "kubeadm patch kind"),
        ({**VALID, "nodes": [{"role": "worker"}]}, "needs at least one control-plane"),
        ({**VALID, "kubeadmConfigPatchesJSON6902": [{"group": "x", "path": "/a"}]}, "path: unknown field"),
    ],
)
def test_broken_configs_are_rejected(broken, error):
    errors = validate(broken)
    assert any(error in message for message in errors), errors
