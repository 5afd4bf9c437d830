"""The versions a reader installs are named once (helpers.config KIND_VERSION, NODE_IMAGE), and every place
that states them agrees: kind-cluster.yaml and kind/*.yaml, the README, `make doctor`, the simulator's
/version and nodes, and the upstream oracle's build (scripts/build_upstream.py, upstream/go.mod)."""

import re
import sys
from pathlib import Path

import pytest

from helpers import doctor
from helpers.config import KIND_VERSION, KUBERNETES_VERSION, NODE_IMAGE, REPO_ROOT, load_cluster_config
from helpers.sim import boot, version_info
from helpers.sim.server import default_version_info

CONFIGS = sorted([REPO_ROOT / "kind-cluster.yaml", *(REPO_ROOT / "kind").glob("*.yaml")])


def test_the_node_image_is_kinds_default_image_and_names_the_version():
    assert re.fullmatch(r"kindest/node:v\d+\.\d+\.\d+@sha256:[0-9a-f]{64}", NODE_IMAGE)
    assert NODE_IMAGE.startswith(f"kindest/node:{KUBERNETES_VERSION}@")
    assert re.fullmatch(r"v0\.\d+\.\d+", KIND_VERSION)


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_every_kind_config_pins_the_node_image(path):
    text = path.read_text()
    images = re.findall(r"^\s*image:\s*(\S+)", text, re.MULTILINE)
    assert images and set(images) == {NODE_IMAGE}, f"{path.name} pins {set(images)}"
    assert load_cluster_config(path).node_image == NODE_IMAGE
    for tag in re.findall(r"\bv1\.\d+\.\d+\b", text):  # comments that name a version name this one
        assert tag == KUBERNETES_VERSION, f"{path.name} mentions {tag}"
    for release in re.findall(r"\bkind v0\.\d+\.\d+", text):
        assert release == f"kind {KIND_VERSION}", f"{path.name} mentions {release}"


def test_the_readme_states_the_same_versions():
    readme = (REPO_ROOT / "README.md").read_text()
    assert f"`kindest/node:{KUBERNETES_VERSION}`" in readme and f"kind {KIND_VERSION}" in readme
    assert set(re.findall(r"kindest/node:(v1\.\d+\.\d+)", readme)) == {KUBERNETES_VERSION}
    assert set(re.findall(r"\bkind (v0\.\d+\.\d+)", readme)) == {KIND_VERSION}
    assert f".state/upstream/{KUBERNETES_VERSION}/bin/" in readme


def test_doctor_wants_that_kind_release():
    assert "v" + ".".join(map(str, doctor.MIN_KIND)) == KIND_VERSION


def test_the_simulator_reports_the_node_images_version():
    config = load_cluster_config()
    assert boot.kubernetes_version(config) == boot.DEFAULT_VERSION == KUBERNETES_VERSION
    assert version_info(KUBERNETES_VERSION)["gitVersion"] == default_version_info()["gitVersion"] \
        == f"{KUBERNETES_VERSION}-sim"
    nodes = [boot.node(spec, "172.18.0.2", "10.244.0.0/24", boot.kubernetes_version(config), config,
                       "2027-01-15T08:00:00Z") for spec in config.nodes]
    assert {n["status"]["nodeInfo"]["kubeletVersion"] for n in nodes} == {KUBERNETES_VERSION}


def test_the_oracle_builds_that_version():
    sys.path.insert(0, str(REPO_ROOT / "scripts"))
    import build_upstream

    assert build_upstream.kubernetes_version() == KUBERNETES_VERSION
    gomod = (REPO_ROOT / "upstream" / "go.mod").read_text()
    assert build_upstream.required_version(gomod, "k8s.io/kubernetes") == KUBERNETES_VERSION


def test_the_agnhost_tag_is_the_one_the_modelled_release_pins():
    """configs[Agnhost] in test/utils/image/manifest.go of k8s.io/kubernetes at KUBERNETES_VERSION, read from
    the Go module cache `make upstream` fills."""
    sys.path.insert(0, str(REPO_ROOT / "scripts"))
    import build_upstream

    from helpers.config import AGNHOST_TAG

    try:
        cache = build_upstream.go("env", "GOMODCACHE", capture=True).strip()
    except build_upstream.Unavailable as e:
        pytest.skip(str(e))
    manifest = Path(cache) / f"k8s.io/kubernetes@{KUBERNETES_VERSION}/test/utils/image/manifest.go"
    if not manifest.exists():
        pytest.skip(f"{manifest} is not in the module cache: run `make upstream`")
    pinned = re.search(r'configs\[Agnhost\] = Config\{[^,]+, "agnhost", "([^"]+)"\}', manifest.read_text())
    assert pinned and pinned.group(1) == AGNHOST_TAG
