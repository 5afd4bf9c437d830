"""Kubernetes protobuf request bodies: the decoder against hand-built wire bytes, malformed and fuzzed
bodies (always a 400 Status), and the real kubectl 1.37, whose imperative generators send protobuf.

The oracle for kubectl's bodies is kubectl itself: ``--dry-run=client -o json`` prints the JSON the same
Go object marshals to, which a decoded protobuf body must equal.
"""

import json
import random

import pytest
from apiharness import Harness, request
from builders import node, pod, running

from helpers.sim import server
from helpers.sim.api import protobuf
from helpers.sim.api.protobuf import ProtobufError, decode, go_duration

PROTOBUF = {"Content-Type": "application/vnd.kubernetes.protobuf"}


# ----------------------------------------------------------------------------- a minimal encoder


def varint(n: int) -> bytes:
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            return bytes(out)


def field(number: int, value) -> bytes:
    """A field: ints as varints, bytes/str as length-delimited."""
    if isinstance(value, bool | int):
        return varint(number << 3) + varint(int(value))
    data = value.encode() if isinstance(value, str) else value
    return varint(number << 3 | 2) + varint(len(data)) + data


def envelope(api_version: str, kind: str, raw: bytes) -> bytes:
    return b"k8s\x00" + field(1, field(1, api_version) + field(2, kind)) + field(2, raw)


def meta(name: str, labels: dict | None = None) -> bytes:
    return field(1, name) + b"".join(field(11, field(1, k) + field(2, v)) for k, v in (labels or {}).items())


# ----------------------------------------------------------------------------- decoding


def test_a_deployment_decodes_to_its_json_form():
    container = field(1, "web") + field(2, "nginx") + field(6, field(3, 80) + field(4, "TCP"))
    template = field(1, meta("", {"app": "web"})) + field(2, field(2, container))
    spec = field(1, 3) + field(2, field(1, field(1, "app") + field(2, "web"))) + field(3, template)
    obj = decode(envelope("apps/v1", "Deployment", field(1, meta("web", {"b": "2", "a": "1"})) + field(2, spec)))
    assert obj == {
        "kind": "Deployment", "apiVersion": "apps/v1",
        "metadata": {"name": "web", "labels": {"a": "1", "b": "2"}},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "web", "image": "nginx", "ports": [
                                  {"containerPort": 80, "protocol": "TCP"}], "resources": {}}]}},
                 "strategy": {}},
        "status": {}}
    assert list(obj["metadata"]["labels"]) == ["a", "b"]  # encoding/json sorts map keys


def test_zero_values_follow_the_json_tags():
    # replicas is a pointer (kept at 0); containerPort has no omitempty (kept); hostPort has omitempty (dropped);
    # EndpointSlice.endpoints has no omitempty, so an absent list is JSON null
    spec = field(1, 0) + field(3, field(2, field(2, field(1, "c") + field(6, field(2, 0) + field(3, 0)))))
    obj = decode(envelope("apps/v1", "Deployment", field(2, spec)))
    assert obj["spec"]["replicas"] == 0
    assert obj["spec"]["template"]["spec"]["containers"][0]["ports"] == [{"containerPort": 0}]
    slice_ = decode(envelope("discovery.k8s.io/v1", "EndpointSlice", field(1, meta("s")) + field(4, "IPv4")))
    assert slice_ == {"kind": "EndpointSlice", "apiVersion": "discovery.k8s.io/v1", "metadata": {"name": "s"},
                      "addressType": "IPv4", "endpoints": None, "ports": None}


def test_types_with_their_own_json_form():
    port_by_name = field(1, "http") + field(3, 80) + field(4, field(1, 1) + field(3, "web"))
    port_by_number = field(3, 81) + field(4, field(2, 8081))
    svc = decode(envelope("v1", "Service", field(2, field(1, port_by_name) + field(1, port_by_number))))
    assert [p["targetPort"] for p in svc["spec"]["ports"]] == ["web", 8081]
    limits = field(1, field(1, "cpu") + field(2, field(1, "500m")))
    stamp = field(1, 1_700_000_000) + field(2, 123_456_789)
    lease = decode(envelope("coordination.k8s.io/v1", "Lease", field(1, field(1, "l") + field(8, stamp))
                            + field(2, field(3, stamp))))
    assert lease["metadata"]["creationTimestamp"] == "2023-11-14T22:13:20Z"  # Time keeps whole seconds
    assert lease["spec"]["acquireTime"] == "2023-11-14T22:13:20.123456Z"  # MicroTime keeps microseconds
    pod_ = decode(envelope("v1", "Pod", field(2, field(2, field(1, "c") + field(8, limits)))))
    assert pod_["spec"]["containers"][0]["resources"] == {"limits": {"cpu": "500m"}}
    managed = field(1, "kubectl") + field(7, field(1, b'{"f:metadata":{}}'))
    assert decode(envelope("v1", "Namespace", field(1, field(1, "n") + field(17, managed))))["metadata"][
        "managedFields"] == [{"manager": "kubectl", "fieldsV1": {"f:metadata": {}}}]


@pytest.mark.parametrize("nanoseconds,text", [
    (0, "0s"), (1, "1ns"), (1_500, "1.5µs"), (250_000_000, "250ms"), (1_500_000_000, "1.5s"),
    (90_000_000_000, "1m30s"), (3_600_000_000_000, "1h0m0s"), (-2_000_000_000, "-2s")])
def test_durations_print_as_go_does(nanoseconds, text):
    assert go_duration(nanoseconds) == text


def test_wire_format_details():
    # unknown fields of every wire type are skipped; a message field sent twice is merged
    unknown = varint(99 << 3 | 1) + bytes(8) + varint(98 << 3 | 5) + bytes(4) + field(97, 5) + field(96, "x")
    obj = decode(envelope("v1", "Namespace", field(1, meta("twice")) + field(1, field(3, "ns")) + unknown))
    assert obj["metadata"] == {"name": "twice", "namespace": "ns"}
    # repeated scalars arrive unpacked (proto2's default) or packed; parsers must accept both
    packed = varint(4 << 3 | 2) + varint(3) + varint(1) + varint(2000)
    groups = decode(envelope("v1", "Pod", field(2, field(14, field(4, 7) + packed))))
    assert groups["spec"]["securityContext"] == {"supplementalGroups": [7, 1, 2000]}
    eviction = decode(envelope("policy/v1", "Eviction", field(1, meta("p")) + field(
        2, field(4, "Orphan") + field(5, "All") + field(5, "x"))))
    assert eviction["deleteOptions"] == {"propagationPolicy": "Orphan", "dryRun": ["All", "x"]}
    # int32 and int64 are two's complement in 10-byte varints when negative
    assert decode(envelope("v1", "DeleteOptions", field(1, -1)))["gracePeriodSeconds"] == -1


@pytest.mark.parametrize("api_version", ["v1", "apps/v1", "meta.k8s.io/v1", "policy/v1"])
def test_delete_options_decode_in_every_group_version(api_version):
    body = field(1, 30) + field(4, "Foreground") + field(2, field(1, "uid-1"))
    assert decode(envelope(api_version, "DeleteOptions", body)) == {
        "kind": "DeleteOptions", "apiVersion": api_version, "gracePeriodSeconds": 30,
        "preconditions": {"uid": "uid-1"}, "propagationPolicy": "Foreground"}


MALFORMED = {
    "bad magic": b"k9s\x00" + field(1, b""),
    "json sent as protobuf": b'{"kind":"Pod"}',
    "empty": b"",
    "no kind": envelope("v1", "", b""),
    "unknown kind": envelope("v1", "Widget", b""),
    "unknown group": envelope("widgets.example.com/v1", "Pod", b""),
    "truncated varint": b"k8s\x00" + field(1, field(1, "v1") + field(2, "Pod")) + b"\x12\x02\x08\xff",
    "overlong varint": b"k8s\x00\x08" + b"\xff" * 10 + b"\x01",
    "huge length": b"k8s\x00\x12" + varint(1 << 62),
    "negative length": b"k8s\x00\x12" + varint(-1),
    "length past the end": b"k8s\x00" + field(1, field(1, "v1") + field(2, "Pod")) + b"\x12\x7f\x0a",
    "field number zero": envelope("v1", "Pod", b"\x00\x00"),
    "group wire type": envelope("v1", "Pod", varint(1 << 3 | 3)),
    "wire type 7": envelope("v1", "Pod", varint(1 << 3 | 7)),
    "string as varint": envelope("v1", "Pod", field(1, varint(1 << 3) + varint(5))),
    "message as varint": envelope("v1", "Pod", field(2, 1)),
    "int as bytes": envelope("apps/v1", "Deployment", field(2, field(1, "three"))),
    "repeated message as fixed32": envelope("v1", "Pod", field(2, varint(2 << 3 | 5) + bytes(4))),
    "map entry truncated": envelope("v1", "Pod", field(1, varint(11 << 3 | 2) + varint(3) + b"\x0a\x05a")),
    "fieldsV1 not json": envelope("v1", "Pod", field(1, field(17, field(7, field(1, b"\xff{"))))),
    "content encoding": b"k8s\x00" + field(1, field(1, "v1") + field(2, "Pod")) + field(3, "gzip"),
    "timestamp out of range": envelope("v1", "Pod", field(1, field(8, field(1, 1 << 62)))),
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_bodies_are_refused(name):
    with pytest.raises(ProtobufError):
        decode(MALFORMED[name])


@pytest.fixture(scope="module")
def h():
    harness = Harness()
    yield harness
    harness.stop()


@pytest.mark.parametrize("name", ["bad magic", "truncated varint", "huge length", "unknown kind",
                                  "message as varint", "group wire type"])
def test_malformed_bodies_get_a_400_status(h, name):
    status, _, payload = request(h.server.url, "POST", "/api/v1/namespaces/default/pods", MALFORMED[name], PROTOBUF)
    assert status == 400 and payload["kind"] == "Status" and payload["reason"] == "BadRequest", payload


def test_protobuf_patches_and_other_media_types_are_415(h):
    status, _, payload = request(h.server.url, "PATCH", "/api/v1/namespaces/default/pods/x",
                                 envelope("v1", "Pod", b""), PROTOBUF)
    assert status == 415 and "does not support patch type" in payload["message"]
    status, _, payload = request(h.server.url, "POST", "/api/v1/namespaces/default/pods", b"\xa0",
                                 {"Content-Type": "application/cbor"})
    assert status == 415 and payload["message"].endswith(
        "accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf")


def _valid_bodies() -> list[bytes]:
    container = field(1, "web") + field(2, "nginx") + field(6, field(3, 80)) + field(8, field(
        1, field(1, "cpu") + field(2, field(1, "1"))))
    pod_body = field(1, meta("p", {"app": "web"})) + field(2, field(2, container) + field(3, "Always") + field(4, 30))
    svc = field(2, field(1, field(3, 80) + field(4, field(1, 1) + field(3, "http"))) + field(3, "None"))
    return [envelope("v1", "Pod", pod_body), envelope("v1", "Service", svc),
            envelope("v1", "DeleteOptions", field(1, 0) + field(4, "Background"))]


def test_fuzzed_bodies_decode_or_fail_cleanly():
    """Random truncations and byte flips of valid bodies: a dict that JSON-encodes, or a ProtobufError."""
    rng = random.Random(18)
    outcomes = {"decoded": 0, "refused": 0}
    for base in _valid_bodies():
        for cut in range(len(base)):
            _try(base[:cut], outcomes)
        for _ in range(1500):
            data = bytearray(base)
            for _ in range(rng.randint(1, 4)):
                data[rng.randrange(4, len(data))] = rng.randrange(256)
            _try(bytes(data), outcomes)
    assert outcomes["decoded"] > 100 and outcomes["refused"] > 100, outcomes


def _try(data: bytes, outcomes: dict) -> None:
    try:
        json.dumps(decode(data), allow_nan=False)
        outcomes["decoded"] += 1
    except ProtobufError:
        outcomes["refused"] += 1


def test_fuzzed_bodies_over_http_never_get_a_5xx(h):
    rng = random.Random(37)
    base = _valid_bodies()[0]
    for _ in range(40):
        data = bytearray(base)
        data[rng.randrange(4, len(data))] = rng.randrange(256)
        status, _, payload = request(h.server.url, "POST", "/api/v1/namespaces/default/pods", bytes(data), PROTOBUF)
        assert status < 500, payload


# ----------------------------------------------------------------------------- the real kubectl


@pytest.fixture(scope="module")
def k():
    """A server whose decoder records what every protobuf body decoded to."""
    harness = Harness()
    decoded = []
    real = protobuf.decode

    def recording(data):
        obj = real(data)
        decoded.append(obj)
        return obj
    server.protobuf.decode = recording
    harness.decoded = decoded
    yield harness
    server.protobuf.decode = real
    harness.stop()


GENERATORS = [
    ["create", "deployment", "web", "--image=nginx", "--replicas=3"],
    ["create", "deployment", "none", "--image=nginx", "--replicas=0", "--port=8080"],
    ["create", "deployment", "multi", "--image=nginx", "--image=busybox"],
    ["create", "namespace", "learn"],
    ["create", "service", "clusterip", "my-svc", "--tcp=80:8080"],
    ["create", "service", "clusterip", "headless", "--clusterip=None"],
    ["create", "service", "nodeport", "np", "--tcp=80:8080", "--node-port=30080"],
    ["create", "service", "loadbalancer", "lb", "--tcp=80:http"],
    ["create", "service", "externalname", "ext", "--external-name=example.com"],
]


@pytest.mark.parametrize("command", GENERATORS, ids=lambda c: "-".join(c[1:4]))
def test_kubectl_generators_send_protobuf_that_decodes_to_their_json(k, command):
    k.decoded.clear()
    result = k.kubectl(*command)
    assert result.stdout.strip().endswith(" created")
    expected = json.loads(k.kubectl(*command, "--dry-run=client", "-o", "json").stdout)
    assert k.decoded == [expected]


def _comparable(obj: dict) -> dict:
    obj = json.loads(json.dumps(obj))
    for key in ("uid", "resourceVersion", "creationTimestamp", "namespace", "managedFields"):
        obj["metadata"].pop(key, None)
    obj.get("spec", {}).pop("clusterIP", None)
    obj.get("spec", {}).pop("clusterIPs", None)
    return obj


def test_a_protobuf_create_stores_what_the_json_create_stores(k):
    for ns in ("via-protobuf", "via-json"):
        k.kubectl("create", "namespace", ns)
    command = ["create", "deployment", "same", "--image=nginx", "--replicas=2", "--port=80"]
    k.kubectl(*command, "-n", "via-protobuf")
    k.kubectl("create", "-n", "via-json", "-f", "-", input=k.kubectl(*command, "--dry-run=client", "-o", "json").stdout)
    a = k.store.get("deployments.apps", "same", "via-protobuf")
    b = k.store.get("deployments.apps", "same", "via-json")
    assert _comparable(a) == _comparable(b)
    assert a["metadata"]["managedFields"][0]["manager"] == b["metadata"]["managedFields"][0]["manager"] == \
        "kubectl-create"


def test_drain_evicts_and_delete_sends_protobuf_delete_options(k):
    store = k.store
    store.create("nodes", node("drain-me", "172.18.0.9"))
    store.create("namespaces", {"metadata": {"name": "drain"}})
    for name, ip in (("lonely", "10.244.9.2"), ("other", "10.244.9.3")):
        store.create("pods", pod(name, node="drain-me", labels={"app": name}), namespace="drain")
        running(store, name, "drain", ip)
    k.decoded.clear()
    # the server serves pods/eviction, so drain evicts (kubectl posts the Eviction as JSON)
    result = k.kubectl("drain", "drain-me", "--force", "--grace-period=0", "--pod-selector=app=lonely")
    assert "node/drain-me drained" in result.stdout and "pod/lonely evicted" in result.stdout
    # --disable-eviction deletes instead, through the typed client: protobuf DeleteOptions
    deleted = k.kubectl("drain", "drain-me", "--force", "--grace-period=0", "--disable-eviction")
    assert "pod/other deleted" in deleted.stdout
    assert {"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 0} in k.decoded
    assert store.get("nodes", "drain-me")["spec"]["unschedulable"] is True
