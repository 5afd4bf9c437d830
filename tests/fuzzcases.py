"""The cases of issue 20's bounded, seeded fuzz of the loopback API: every class of bad input the audit found.

Classes: mutated bodies for every stored kind (nulls, NaN, overflowing and wrong-typed numbers, deep
nesting, built from the field table so every known field is hit), bad patches of the four types
(JSON-patch paths, strategic-merge directives of the wrong type, merge patches of the wrong shape),
DeleteOptions, query parameters (timeouts, limits, selectors, continue tokens), YAML (aliases, tags,
dates), foreign Host/Origin/Content-Type headers, other methods, and raw HTTP garbage (request lines,
Content-Length, chunk sizes). ``problems`` says what is wrong with an answer (a 5xx, an error that is not a Status...).
tests/test_api_fuzz.py sends them one by one; ``benchmarks/bench_reliability.py`` sends them with
concurrent clients and prints the figures. Holds no tests itself.
"""

from __future__ import annotations

import json
import os
import random
import socket

from helpers.sim.api import shapes
from helpers.sim.api.resources import RESOURCES

SEED = int(os.environ.get("FUZZ_SEED", "20"))  # another seed: FUZZ_SEED=N pytest tests/test_api_fuzz.py
STORED = [r for r in RESOURCES if r.verbs != ("create",)]
NAN = "__nan__"
SENTINEL_NS = "sentinel"


def example(shape, depth=0):
    """A well-typed value for a field-table shape."""
    if shape in (shapes.STR,):
        return "a"
    if shape in (shapes.INT, shapes.INT64, shapes.INT_OR_STR, shapes.QUANTITY):
        return 1
    if shape == shapes.BOOL:
        return True
    if isinstance(shape, tuple):
        inner = example(shape[1], depth + 1)
        return [inner] if shape[0] == "array" else {"k": inner}
    return {key: example(sub, depth + 1) for key, sub in shape.items()} if depth < 8 else {}


def paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for key, child in value.items():
            yield from paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from paths(child, (*prefix, index))


def replaced(value, path, new):
    if not path:
        return new
    copy = json.loads(json.dumps(value))
    node = copy
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = new
    return copy


POISONS = [None, [None], {"k": None}, 10 ** 30, 2 ** 31, 2 ** 63, -(2 ** 63) - 1, 1.5, NAN, "", "x" * 300, [], {},
           True, "not-a-number", [[[]]], {"$patch": "delete"}]


def nested(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


def collection(resource, namespace="default") -> str:
    if resource.namespaced:
        return f"{resource.path_prefix}/namespaces/{namespace}/{resource.plural}"
    return f"{resource.path_prefix}/{resource.plural}"


def http(method, path, body=b"", headers=None) -> bytes:
    headers = {"Host": "127.0.0.1", "Connection": "close", **(headers or {})}
    if body and "Content-Type" not in headers:
        headers["Content-Type"] = "application/json"
    if body or method in ("POST", "PUT", "PATCH"):
        headers.setdefault("Content-Length", str(len(body)))
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items() if v is not None)
    return f"{method} {path} HTTP/1.1\r\n{head}\r\n".encode() + body


def encoded(obj) -> bytes:
    return json.dumps(obj).replace(f'"{NAN}"', "NaN").encode()


def body_cases(rng, count):
    for i in range(count):
        resource = rng.choice(STORED)
        base = {"apiVersion": resource.api_version, "kind": resource.kind,
                **example({"metadata": shapes.OBJECT_META, **shapes.KINDS.get(resource.kind, {})})}
        base["metadata"] = {**base["metadata"], "name": f"f{i}", "namespace": "default"}
        base["metadata"].pop("resourceVersion", None)
        base["metadata"].pop("uid", None)
        body = base
        for _ in range(rng.randint(1, 3)):
            candidates = [p for p in paths(body) if p and p[:2] not in (("metadata", "name"), ("metadata", "namespace"))]
            body = replaced(body, rng.choice(candidates), rng.choice(POISONS))
        data = encoded(body)
        if rng.random() < 0.05:
            data = data[:-1] + b', "deep": ' + nested(rng.choice([150, 1000, 5000])).encode() + b"}"
        yield "body", http("POST", collection(resource), data)


def patch_cases(rng, count):
    ops = ["add", "remove", "replace", "move", "copy", "test", "bogus", 5, None]
    pointers = ["", "/", "x", "/spec", "/spec/containers/99/name", "/spec/containers/-", "/metadata/labels/~2",
                "/metadata/labels/a~1b", "/metadata/finalizers/-1", "/metadata/finalizers/01", "/status/x/y/z",
                "/metadata/name", "/spec/template/spec/containers/0/ports/9/containerPort", 5, None]
    strategic = [{"spec": {"$patch": 5}}, {"$retainKeys": "a"}, {"spec": {"$retainKeys": [5]}},
                 {"spec": {"containers": [{"$patch": "delete"}]}}, {"spec": {"containers": {"$patch": "replace"}}},
                 {"spec": {"$setElementOrder/containers": 5}}, {"spec": {"$setElementOrder/containers": [5, None]}},
                 {"metadata": {"$deleteFromPrimitiveList/finalizers": {}}},
                 {"metadata": {"$deleteFromPrimitiveList/finalizers": [None, 5]}},
                 {"spec": {"template": {"spec": {"containers": [{"name": None}]}}}},
                 {"spec": {"ports": [{"port": None}, 5]}}, {"metadata": {"labels": {"a": None, "b": 5}}},
                 {"spec": {"containers": [5, "x", None]}}, {"$patch": "replace"}, {"$patch": "delete"}, [], "x"]
    merges = [[], 5, "x", None, {"metadata": None}, {"spec": None}, {"metadata": {"labels": {"a": [None]}}},
              {"spec": {"replicas": 10 ** 30}}, {"spec": {"replicas": NAN}}, {"metadata": {"name": "other"}}]
    for _ in range(count):
        resource = rng.choice(STORED)
        path = f"{collection(resource)}/{'target' if resource.namespaced else 'default-target'}"
        kind = rng.randrange(3)
        if kind == 0:
            operations = [{"op": rng.choice(ops), "path": rng.choice(pointers), "from": rng.choice(pointers),
                           "value": rng.choice(POISONS)} for _ in range(rng.randint(1, 3))]
            if rng.random() < 0.2:
                operations = rng.choice([{}, "x", [5], [None], [{"op": "add"}]])
            yield "patch", http("PATCH", path, encoded(operations), {"Content-Type": "application/json-patch+json"})
        elif kind == 1:
            yield "patch", http("PATCH", path, encoded(rng.choice(strategic)),
                                {"Content-Type": "application/strategic-merge-patch+json"})
        else:
            yield "patch", http("PATCH", path, encoded(rng.choice(merges)),
                                {"Content-Type": "application/merge-patch+json"})


def delete_cases(rng, count):
    options = [{"dryRun": 5}, {"dryRun": "All"}, {"dryRun": [5]}, {"gracePeriodSeconds": [1]},
               {"gracePeriodSeconds": 10 ** 30}, {"gracePeriodSeconds": -5}, {"preconditions": "x"},
               {"preconditions": {"uid": 5}}, {"propagationPolicy": {}}, {"propagationPolicy": "Sideways"},
               {"orphanDependents": "yes"}, [], "x", 5, {"kind": "DeleteOptions", "apiVersion": "v1"}]
    queries = ["", "?gracePeriodSeconds=x", "?gracePeriodSeconds=1e99", "?propagationPolicy=x", "?dryRun=All",
               "?orphanDependents=maybe"]
    for _ in range(count):
        resource = rng.choice(STORED)
        # collections only where namespaced: a cluster-wide deletecollection would take the sentinels too
        name = rng.choice(["missing", ""]) if resource.namespaced else "missing"
        path = f"{collection(resource)}/{name}" if name else collection(resource)
        yield "delete", http("DELETE", path + rng.choice(queries), encoded(rng.choice(options)))


def query_cases(rng, count):
    values = {
        "timeout": ["1.2.3s", ".s", "5", "-1s", "1e9h", "99999999999999999999h", "s", "1µs"],
        "timeoutSeconds": ["nan", "inf", "-inf", "1.5", "-1", "1e400", "x", "99999999999999999999"],
        "limit": ["x", "-1", "1e9", "99999999999999999999", "nan"],
        "continue": ["x", "eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6LTEsInN0YXJ0IjoiXHUwMDAwIn0", "%%%", "e30"],
        "labelSelector": ["a in (", "!", "a=b,", "a=" + "b" * 100, "x==y==z", "a notin", "(", "a,b,,c"],
        "fieldSelector": ["x=y", "metadata.name", "spec.nodeName!=", "a=b=c", "status.phase in (a)"],
        "resourceVersion": ["x", "-1", "99999999999999999999", "1e3"],
        "resourceVersionMatch": ["Exact", "bogus"],
        "sendInitialEvents": ["true", "x"],
        "fieldValidation": ["Bogus"],
        "gracePeriodSeconds": ["x"],
    }
    for _ in range(count):
        resource = rng.choice(STORED)
        params = rng.sample(sorted(values), rng.randint(1, 3))
        query = "&".join(f"{p}={rng.choice(values[p])}" for p in params)
        watch = "watch=true&" if rng.random() < 0.4 else ""
        if watch and "timeoutSeconds" not in params:
            query += "&timeoutSeconds=1"
        yield "query", http("GET", f"{collection(resource)}?{watch}{query}")


YAML_BODIES = [
    b"a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: [*b, *b, *b, *b, *b, *b]\n",
    b"metadata: {name: y1, creationTimestamp: 2020-01-01}\nspec: {replicas: 2020-01-01}\n",
    b"metadata: !!python/object:os.system {name: y2}\n", b"metadata: {name: y3}\nspec: {replicas: .nan}\n",
    b"metadata: {name: y4}\nspec: !!binary aGVsbG8=\n", b"metadata: {name: y5, labels: {? [a, b] : c}}\n",
    b"metadata: {name: y6, labels: {1: a, true: b, null: c}}\n", b"{{{{", b"- a\n- b\n", b"metadata: {name: y7}\nx: !!set {a, b}\n",
    b"metadata: {name: y8}\nspec: {replicas: 0x7fffffffffffffffffff}\n", b"\t\x00\xff",
]


def yaml_cases(rng, count):
    for _ in range(count):
        resource = rng.choice(STORED)
        yield "yaml", http("POST", collection(resource), rng.choice(YAML_BODIES), {"Content-Type": "application/yaml"})


def header_cases(rng, count):
    variants = [{"Host": "evil.example"}, {"Host": "127.0.0.1.nip.io:8080"}, {"Host": "[::1"},
                {"Origin": "https://evil.example"}, {"Origin": "null"}, {"Sec-Fetch-Site": "cross-site"},
                {"Content-Type": "text/plain"}, {"Content-Type": "application/x-www-form-urlencoded"},
                {"Content-Type": "multipart/form-data; boundary=x"}, {"Content-Type": "application/cbor"},
                {"Content-Type": "application/vnd.kubernetes.protobuf"}, {"Content-Type": ";;;"},
                {"Accept": "application/json;as=Table;v=v9;g=meta.k8s.io"}, {"Transfer-Encoding": "gzip"}]
    for _ in range(count):
        resource = rng.choice(STORED)
        method = rng.choice(["POST", "GET", "DELETE"])
        path = rng.choice([collection(resource), "/sim/nodes/n/stop", "/sim/clock/advance"])
        if method == "DELETE" and path == collection(resource):
            path += "/missing"  # never a deletecollection: that would take the sentinels
        yield "headers", http(method, path, b'{"seconds": 1}' if method == "POST" else b"", rng.choice(variants))


def method_cases(rng, count):
    for _ in range(count):
        method = rng.choice(["HEAD", "OPTIONS", "TRACE", "CONNECT", "PROPFIND", "BREW", "get", "X" * 40])
        path = rng.choice(["/api/v1/pods", "/api/v1/namespaces/default/pods/x", "/version", "/sim/info", "/"])
        yield "method", http(method, path)


RAW = [b"GARBAGE\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n", b"GET\r\n\r\n", b"\r\n\r\n", b"\x00\xff\xfe" * 50,
       b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\n\r\n", b"GET /version HTTP/1.1\r\n" + b"X: y\r\n" * 200 + b"\r\n",
       b"GET /version HTTP/1.1\r\nX: " + b"y" * 70000 + b"\r\n\r\n", b"GET /version HTTP/1.1\r\nbroken header\r\n\r\n",
       b"POST /api/v1/namespaces HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n{",
       b"POST /api/v1/namespaces HTTP/1.1\r\nContent-Length: -5\r\n\r\n{",
       b"POST /api/v1/namespaces HTTP/1.1\r\nContent-Length: x\r\n\r\n{",
       b"POST /api/v1/namespaces HTTP/1.1\r\nContent-Length: 100\r\n\r\n{",
       b"POST /api/v1/namespaces HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
       b"POST /api/v1/namespaces HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n",
       b"POST /api/v1/namespaces HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\n",
       b"POST /api/v1/namespaces HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{}",
       b"GET /api/v1/namespaces/%zz/pods HTTP/1.1\r\n\r\n", b"GET /api/v1/namespaces/%00/pods HTTP/1.1\r\n\r\n",
       b"GET /api/v1/../../etc/passwd HTTP/1.1\r\n\r\n", b"GET http://evil.example/version HTTP/1.1\r\n\r\n"]


def raw_cases(rng, count):
    for _ in range(count):
        yield "raw", rng.choice(RAW)


CLASSES = [body_cases, patch_cases, delete_cases, query_cases, yaml_cases, header_cases, method_cases, raw_cases]


def cases(seed=SEED, per_class=150):
    rng = random.Random(seed)
    return [case for make in CLASSES for case in make(rng, per_class)]


def send(port: int, data: bytes, timeout=20.0) -> tuple[int, bytes, bytes]:
    """(status, head, body) of the answer to raw bytes; status 0 when the server closed without one."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        try:
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except ConnectionResetError:
            pass
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    try:
        return int(head.split(b" ", 2)[1]), head, body
    except (IndexError, ValueError):
        return 0, head, body


def problems(data: bytes, status: int, head: bytes, body: bytes) -> list[str]:
    """What is wrong with one answer: a 5xx, no status line, an error that is not a Status."""
    found = []
    if status == 0 and data.strip():  # no request at all is closed without an answer, as Go's server does
        found.append("no status line")
    elif status >= 500:
        found.append(f"{status}")
    elif status >= 400 and not data.startswith(b"HEAD "):
        if b"chunked" in head.lower():  # a watch's error travels as an ERROR event
            body = body.split(b"\r\n", 2)[1] if body.count(b"\r\n") >= 2 else body
            try:
                body = json.dumps(json.loads(body).get("object")).encode()
            except ValueError:
                pass
        try:
            payload = json.loads(body)
            if payload.get("kind") != "Status" or payload.get("code") != status:
                found.append("not a Status")
        except ValueError:
            found.append("not JSON")
    return found


def seed_objects(store) -> None:
    """The sentinels (never addressed by the cases) and one 'target' per kind for the patches."""
    store.create("namespaces", {"metadata": {"name": SENTINEL_NS}})
    for resource in STORED:
        if resource.key == "namespaces":
            store.create("namespaces", {"metadata": {"name": "target"}})
            continue
        for namespace, name in ((SENTINEL_NS, "sentinel"), ("default", "target")):
            obj = {"metadata": {"name": name, "labels": {"app": "s"}}}
            if resource.kind in ("Deployment", "ReplicaSet", "DaemonSet"):
                obj["spec"] = {"selector": {"matchLabels": {"app": "s"}},
                               "template": {"metadata": {"labels": {"app": "s"}},
                                            "spec": {"containers": [{"name": "c", "image": "i"}]}}}
            elif resource.kind == "Pod":
                obj["spec"] = {"containers": [{"name": "c", "image": "i"}]}
            elif resource.kind == "Service":
                obj["spec"] = {"ports": [{"port": 80}]}
            elif resource.kind == "EndpointSlice":
                obj["addressType"] = "IPv4"
            elif resource.kind == "Event":
                obj["involvedObject"] = {"kind": "Pod", "name": "x", "namespace": namespace}
            if not resource.namespaced:
                obj["metadata"]["name"] = f"{namespace}-{name}"
            store.create(resource.key, obj, namespace=namespace if resource.namespaced else None)


def sentinels(store) -> str:
    out = []
    for resource in STORED:
        name, namespace = ("sentinel", SENTINEL_NS) if resource.namespaced else (f"{SENTINEL_NS}-sentinel", None)
        if resource.key == "namespaces":
            name = SENTINEL_NS
        out.append(store.get(resource.key, name, namespace))
    return json.dumps(out, sort_keys=True)
