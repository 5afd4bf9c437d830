"""The kind/ variants differ from kind-cluster.yaml only in the setting each one exists for.

kind configs cannot include one another, so each variant repeats the default cluster; this test
catches a variant that silently drifts (another image, other timings, other zones).
"""

import dataclasses
from pathlib import Path

import pytest

from helpers.config import load_cluster_config

REPO = Path(__file__).resolve().parent.parent

# variant file -> the ClusterConfig fields it is meant to change
VARIANTS = {
    "kind/kind-nftables.yaml": {"kube_proxy_mode": "nftables"},
    "kind/kind-slices5.yaml": {
        "max_endpoints_per_slice": 5,
        "controller_manager_args": {
            **load_cluster_config().controller_manager_args, "max-endpoints-per-slice": "5",
        },
    },
    "kind/dual-stack.yaml": {
        "ip_family": "dual",
        "pod_subnet": "10.244.0.0/16,fd00:10:244::/56",
        "service_subnet": "10.96.0.0/16,fd00:10:96::/112",
        "controller_manager_args": {
            **{k: v for k, v in load_cluster_config().controller_manager_args.items() if k != "node-cidr-mask-size"},
            "node-cidr-mask-size-ipv4": "24", "node-cidr-mask-size-ipv6": "64",
        },
    },
}


@pytest.mark.parametrize(("path", "changes"), VARIANTS.items(), ids=list(VARIANTS))
def test_variant_changes_only_its_setting(path, changes):
    base = load_cluster_config()
    variant = load_cluster_config(REPO / path)
    assert dataclasses.replace(variant, source=None) == dataclasses.replace(base, source=None, **changes)


def test_variants_really_differ_from_the_default():
    base = load_cluster_config()
    for path, changes in VARIANTS.items():
        variant = load_cluster_config(REPO / path)
        assert all(getattr(variant, name) != getattr(base, name) for name in changes), path
