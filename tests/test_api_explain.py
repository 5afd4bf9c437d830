"""``kubectl explain`` for every served kind and nested field, from the OpenAPI v3 schemas the simulator
generates out of upstream's field table (types, required fields and enums; no descriptions)."""

import json

import pytest
from apiharness import Harness, request

from helpers.sim.api.resources import RESOURCES


@pytest.fixture(scope="module")
def h():
    harness = Harness()
    yield harness
    harness.stop()


def fields(output: str) -> dict:
    """``FIELDS:`` of kubectl explain's plain text: name -> the rest of its line (type, -required-)."""
    lines = output.split("FIELDS:", 1)[1].splitlines()
    return {line.split("\t")[0].strip(): line.split("\t", 1)[1].strip() for line in lines
            if line.startswith("  ") and not line.startswith("    ") and "\t" in line}


@pytest.mark.parametrize("resource", RESOURCES, ids=lambda r: r.key)
def test_every_served_kind_is_explained(h, resource):
    out = h.kubectl("explain", resource.plural).stdout
    assert f"KIND:       {resource.kind}\n" in out and f"VERSION:    {resource.version}\n" in out
    top = fields(out)
    assert top["apiVersion"] == top["kind"] == "<string>" and top["metadata"].startswith("<ObjectMeta>")


def test_nested_fields_types_required_and_enums(h):
    conditions = h.kubectl("explain", "endpointslice.endpoints.conditions").stdout
    assert "FIELD: conditions <EndpointConditions>" in conditions
    assert fields(conditions) == {"ready": "<boolean>", "serving": "<boolean>", "terminating": "<boolean>"}
    protocol = h.kubectl("explain", "service.spec.ports.protocol").stdout
    assert "FIELD: protocol <string>\nENUM:\n    SCTP\n    TCP\n    UDP\n" in protocol
    containers = fields(h.kubectl("explain", "pods.spec.containers").stdout)
    assert containers["name"] == "<string> -required-" and containers["ports"] == "<[]ContainerPort>"
    assert containers["env"] == "<[]EnvVar>" and containers["image"] == "<string>"
    spec = h.kubectl("explain", "deploy.spec", "--recursive").stdout
    assert "  selector\t<LabelSelector> -required-" in spec and "  template\t<PodTemplateSpec> -required-" in spec
    assert "      operator\t<string> -required-" in spec
    slice_ = fields(h.kubectl("explain", "endpointslices").stdout)
    assert slice_["addressType"] == "<string> -required-" and slice_["endpoints"] == "<[]Endpoint>"
    assert fields(h.kubectl("explain", "nodes.status").stdout)["capacity"] == "<map[string]string>"


def test_an_unknown_field_is_an_error(h):
    result = h.kubectl("explain", "pod.spec.nope", check=False)
    assert result.returncode == 1 and 'error: field "nope" does not exist' in result.stderr


def test_documents_carry_patch_metadata_and_a_content_hash(h):
    _, _, index = request(h.server.url, "GET", "/openapi/v3")
    url = index["paths"]["api/v1"]["serverRelativeURL"]
    assert len(url.split("hash=")[1]) == 128  # sha512, as upstream's handler names the document
    _, _, doc = request(h.server.url, "GET", url)
    schemas = doc["components"]["schemas"]
    containers = schemas["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"]
    assert containers["x-kubernetes-patch-strategy"] == "merge"
    assert containers["x-kubernetes-patch-merge-key"] == "name"
    assert schemas["io.k8s.api.core.v1.Pod"]["x-kubernetes-group-version-kind"] == [
        {"group": "", "kind": "Pod", "version": "v1"}]
    assert schemas["io.k8s.apimachinery.pkg.apis.meta.v1.Time"] == {"type": "string", "format": "date-time"}
    # every $ref resolves within its document
    refs = {ref.rsplit("/", 1)[1] for ref in json.dumps(doc).split('"$ref":"')[1:] for ref in [ref.split('"')[0]]}
    assert refs <= set(schemas)
