"""helpers.config: kind-cluster.yaml -> ClusterConfig, as both backends read it."""

import dataclasses
import textwrap

import pytest
import yaml

from helpers.config import (
    DEFAULT_CONFIG_PATH,
    REPO_ROOT,
    ConfigError,
    extra_args,
    load_cluster_config,
    parse_cluster_config,
    parse_duration,
)


def cluster(**fields):
    """A minimal kind Cluster document with `fields` merged in."""
    return {"kind": "Cluster", "apiVersion": "kind.x-k8s.io/v1alpha4", **fields}


def patch(text):
    return textwrap.dedent(text)


def test_repo_config_has_kind_node_names_and_zones():
    config = load_cluster_config()
    assert config.name == "endpoints"
    assert config.context == "kind-endpoints"
    assert config.node_names == ["endpoints-control-plane", "endpoints-worker", "endpoints-worker2"]
    assert [node.role for node in config.nodes] == ["control-plane", "worker", "worker"]
    assert [node.zone for node in config.nodes] == ["zone-a", "zone-a", "zone-b"]


def test_repo_config_network_and_proxy():
    config = load_cluster_config(DEFAULT_CONFIG_PATH)
    assert (config.pod_subnet, config.service_subnet) == ("10.244.0.0/16", "10.96.0.0/16")
    assert config.node_cidr_mask_size == 24
    assert config.kube_proxy_mode == "iptables"
    assert config.disable_default_cni is False


def test_dual_stack_variant_and_kinds_per_family_defaults():
    config = load_cluster_config(REPO_ROOT / "kind" / "dual-stack.yaml")
    assert config.ip_family == "dual"
    assert config.pod_cidrs == ("10.244.0.0/16", "fd00:10:244::/56")
    assert config.service_cidrs == ("10.96.0.0/16", "fd00:10:96::/112")
    assert (config.node_cidr_mask_size, config.node_cidr_mask_size_ipv6) == (24, 64)
    # kind fills in the subnets of the family when they are unset (SetDefaultsCluster)
    bare = parse_cluster_config({"kind": "Cluster", "apiVersion": "kind.x-k8s.io/v1alpha4",
                                 "networking": {"ipFamily": "ipv6"}})
    assert (bare.pod_subnet, bare.service_subnet) == ("fd00:10:244::/56", "fd00:10:96::/112")
    with pytest.raises(ConfigError, match="ipFamily 'both'"):
        parse_cluster_config({"kind": "Cluster", "apiVersion": "kind.x-k8s.io/v1alpha4",
                              "networking": {"ipFamily": "both"}})


def test_repo_config_node_image_is_pinned_by_digest_within_kubectl_skew():
    image = load_cluster_config().node_image
    tag, _, digest = image.partition("@")
    assert tag.startswith("kindest/node:v1.")
    assert len(digest.removeprefix("sha256:")) == 64
    minor = int(tag.split(":v1.")[1].split(".")[0])
    assert minor in (36, 37, 38), "kubectl 1.37 supports servers one minor older or newer"


def test_repo_config_shortens_node_loss_to_about_a_minute():
    config = load_cluster_config()
    assert config.max_endpoints_per_slice == 100
    assert config.endpoint_updates_batch_period == 0.0
    eviction_after = config.node_monitor_grace_period + config.default_unreachable_toleration_seconds
    assert 30 <= eviction_after <= 90
    assert config.default_not_ready_toleration_seconds == config.default_unreachable_toleration_seconds


def test_defaults_are_upstream_and_kind_defaults():
    config = parse_cluster_config(cluster())
    assert config.name == "kind"
    assert config.node_names == ["kind-control-plane"]
    assert config.node_image is None
    assert config.pod_subnet == "10.244.0.0/16"
    assert config.max_endpoints_per_slice == 100
    assert config.node_monitor_grace_period == 50.0
    assert config.node_monitor_period == 5.0
    assert config.default_not_ready_toleration_seconds == 300
    assert config.default_unreachable_toleration_seconds == 300


def test_kind_numbers_later_nodes_of_a_role():
    roles = ["control-plane", "control-plane", "worker", "worker", "worker"]
    config = parse_cluster_config(cluster(name="x", nodes=[{"role": r} for r in roles]))
    assert config.node_names == [
        "x-control-plane", "x-control-plane2", "x-worker", "x-worker2", "x-worker3",
    ]


def test_unversioned_map_patch_sets_flags():
    doc = cluster(kubeadmConfigPatches=[patch("""
        kind: ClusterConfiguration
        controllerManager:
          extraArgs:
            max-endpoints-per-slice: "5"
            endpointslice-updates-batch-period: 1s
            node-monitor-period: 2s
        apiServer:
          extraArgs:
            default-unreachable-toleration-seconds: 45
    """)])
    config = parse_cluster_config(doc)
    assert config.max_endpoints_per_slice == 5
    assert config.endpoint_updates_batch_period == 1.0
    assert config.node_monitor_period == 2.0
    assert config.default_unreachable_toleration_seconds == 45
    assert config.default_not_ready_toleration_seconds == 300
    assert config.apiserver_args == {"default-unreachable-toleration-seconds": "45"}


def test_v1beta4_list_patch_and_node_level_patch_override_in_order():
    doc = cluster(
        kubeadmConfigPatches=[patch("""
            apiVersion: kubeadm.k8s.io/v1beta4
            kind: ClusterConfiguration
            controllerManager:
              extraArgs:
                - name: max-endpoints-per-slice
                  value: "10"
                - name: node-monitor-grace-period
                  value: 1m30s
        """)],
        nodes=[{"role": "control-plane", "kubeadmConfigPatches": [patch("""
            kind: ClusterConfiguration
            controllerManager:
              extraArgs:
                max-endpoints-per-slice: "7"
        """)]}],
    )
    config = parse_cluster_config(doc)
    assert config.max_endpoints_per_slice == 7
    assert config.node_monitor_grace_period == 90.0


def test_patches_for_other_kinds_are_ignored():
    doc = cluster(kubeadmConfigPatches=[patch("""
        kind: InitConfiguration
        nodeRegistration:
          kubeletExtraArgs:
            node-labels: "ingress-ready=true"
    """)])
    assert parse_cluster_config(doc).controller_manager_args == {}


def test_extra_args_normalises_yaml_scalars():
    assert extra_args({"flag": True, "n": 5}, "x") == {"flag": "true", "n": "5"}
    assert extra_args([{"name": "a", "value": "1"}], "x") == {"a": "1"}
    with pytest.raises(ConfigError, match="map of flag"):
        extra_args(["a=1"], "x")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("0", 0.0), ("40s", 40.0), ("1m30s", 90.0), ("500ms", 0.5), ("1.5h", 5400.0), ("2m0.5s", 120.5)],
)
def test_parse_duration_accepts_go_syntax(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "40", "5 s", "1d", "s"])
def test_parse_duration_rejects_bad_input(text):
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        (["not", "a", "mapping"], "mapping at the top level"),
        ({"kind": "Cluster", "apiVersion": "kind.x-k8s.io/v1alpha3"}, "apiVersion"),
        (cluster(nodes=[{"role": "master"}]), "role 'master'"),
        (cluster(nodes={"role": "worker"}), "nodes must be a list"),
        (cluster(networking={"kubeProxyMode": "userspace"}), "kubeProxyMode 'userspace'"),
        (cluster(nodes=[{"image": "a"}, {"role": "worker", "image": "b"}]), "different images"),
        (cluster(kubeadmConfigPatches="kind: ClusterConfiguration"), "list of YAML strings"),
        (cluster(kubeadmConfigPatches=["kind: [unclosed"]), "not valid YAML"),
    ],
)
def test_invalid_documents_raise_config_error(doc, message):
    with pytest.raises(ConfigError, match=message):
        parse_cluster_config(doc)


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("max-endpoints-per-slice", "0", "between 1 and 1000"),
        ("max-endpoints-per-slice", "1001", "between 1 and 1000"),
        ("max-endpoints-per-slice", "many", "must be an integer"),
        ("node-monitor-grace-period", "40", "invalid duration"),
    ],
)
def test_invalid_flag_values_raise_config_error(flag, value, message):
    doc = cluster(kubeadmConfigPatches=[yaml.safe_dump(
        {"kind": "ClusterConfiguration", "controllerManager": {"extraArgs": {flag: value}}}
    )])
    with pytest.raises(ConfigError, match=message):
        parse_cluster_config(doc)


def test_load_reports_missing_and_malformed_files(tmp_path):
    with pytest.raises(ConfigError, match="cannot read kind config"):
        load_cluster_config(tmp_path / "absent.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("kind: Cluster\nnodes: [\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_cluster_config(broken)


def test_node_lookup_and_overrides():
    config = load_cluster_config()
    assert config.node("endpoints-worker2").zone == "zone-b"
    with pytest.raises(KeyError, match="endpoints-worker3"):
        config.node("endpoints-worker3")
    smaller = dataclasses.replace(config, max_endpoints_per_slice=5)
    assert smaller.max_endpoints_per_slice == 5 and config.max_endpoints_per_slice == 100
