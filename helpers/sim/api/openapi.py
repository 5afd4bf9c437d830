"""The OpenAPI v3 documents kubectl reads: field validation, ``explain`` and client-side apply's patches.

- ``create -f`` / ``apply -f`` look, in the group-version document, for a PATCH operation whose
  ``x-kubernetes-group-version-kind`` is the object's GVK and which accepts a ``fieldValidation`` query
  parameter (cli-runtime ``query_param_verifier_v3.go``); finding one, kubectl validates server-side.
- ``explain`` finds the schema in ``components.schemas`` whose ``x-kubernetes-group-version-kind`` is the
  kind and walks its ``properties`` (``$ref``, ``items``, ``additionalProperties``): types, ``required``
  and ``enum`` come from the protobuf field table (``protoschema``, generated from upstream's types), with
  no descriptions.
- client-side ``apply`` computes strategic merge patches from the same schemas when the GVK is there
  (kubectl ``apply/patcher.go``), so list properties carry ``x-kubernetes-patch-strategy`` and
  ``x-kubernetes-patch-merge-key`` from the Go struct tags, as upstream's documents do.

Schema names follow upstream's (``io.k8s.api.discovery.v1.EndpointSlice``). ``/openapi/v2`` is
deliberately absent (kubectl only asks for it as protobuf and manages without it).
"""

import hashlib
import json
from functools import cache

from .protoschema import ENUMS, LISTS, MESSAGES, TYPED
from .resources import group_versions, resources_in

_META = "k8s.io.apimachinery.pkg.apis.meta.v1"
_SCALARS = {"string": {"type": "string"}, "bool": {"type": "boolean"}, "bytes": {"type": "string", "format": "byte"},
            "int32": {"type": "integer", "format": "int32"}, "int64": {"type": "integer", "format": "int64"}}
# the types whose JSON is not an object (upstream declares them with OpenAPISchemaType/OpenAPISchemaFormat)
_OWN_FORM = {
    f"{_META}.Time": {"type": "string", "format": "date-time"},
    f"{_META}.MicroTime": {"type": "string", "format": "date-time"},
    f"{_META}.Duration": {"type": "string"},
    f"{_META}.FieldsV1": {"type": "object"},
    "k8s.io.apimachinery.pkg.runtime.RawExtension": {"type": "object"},
    "k8s.io.apimachinery.pkg.api.resource.Quantity": {"type": "string"},
    "k8s.io.apimachinery.pkg.util.intstr.IntOrString": {"type": "string", "format": "int-or-string"},
    **{name: {"type": "array", "items": {"type": "string"}} for name in LISTS},
}
_TYPED = frozenset(TYPED)


def _gv_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def schema_name(message: str) -> str:
    """Upstream's name for a proto message's schema: ``k8s.io.api.x`` -> ``io.k8s.api.x``."""
    return "io.k8s." + message.removeprefix("k8s.io.")


def _message_of(group: str, version: str, kind: str) -> str:
    return f"k8s.io.api.{group.split('.')[0] if group else 'core'}.{version}.{kind}"


def _ref(message: str) -> dict:
    return {"$ref": f"#/components/schemas/{schema_name(message)}"}


def _property(proto_type: str, enum: str) -> dict:
    if proto_type in MESSAGES:
        return {"allOf": [_ref(proto_type)]}
    prop = dict(_SCALARS[proto_type])
    if enum:
        prop["enum"] = list(ENUMS[enum])
    return prop


def _object(message: str) -> dict:
    """A message's schema, with inline fields merged in; kinds also get apiVersion and kind."""
    if message in _OWN_FORM:
        return dict(_OWN_FORM[message])
    properties, required = {}, []
    if message in _TYPED:
        properties |= {"apiVersion": {"type": "string"}, "kind": {"type": "string"}}
    for _number, name, proto_type, flags, enum, patch in MESSAGES[message]:
        if "i" in flags:
            inlined = _object(proto_type)
            properties |= inlined.get("properties", {})
            required += inlined.get("required", [])
            continue
        if "m" in flags:
            prop = {"type": "object", "additionalProperties": _property(proto_type.split(",", 1)[1], enum)}
        elif "r" in flags:
            prop = {"type": "array", "items": _property(proto_type, enum)}
        else:
            prop = _property(proto_type, enum)
        if patch:
            strategy, _, merge_key = patch.partition("|")
            prop["x-kubernetes-patch-strategy"] = strategy
            if merge_key:
                prop["x-kubernetes-patch-merge-key"] = merge_key
        properties[name] = prop
        if "q" in flags:
            required.append(name)
    schema = {"type": "object", "properties": dict(sorted(properties.items()))}
    if required:
        schema["required"] = sorted(required)
    return schema


def _referenced(message: str) -> set:
    return {t for _n, _name, proto_type, _f, _e, _p in MESSAGES.get(message, ())
            for t in (proto_type.split(",", 1)[-1],) if t in MESSAGES}


def _schemas(group: str, version: str) -> dict:
    """Every schema the group-version's served kinds reach, the kinds tagged with their GVK."""
    kinds = {_message_of(group, version, r.kind): r.kind for r in resources_in(group, version)}
    todo, seen = list(kinds), set()
    while todo:
        message = todo.pop()
        if message in seen or message not in MESSAGES:
            continue
        seen.add(message)
        todo += _referenced(message)
    schemas = {}
    for message in sorted(seen, key=schema_name):
        schema = _object(message)
        if message in kinds:
            schema["x-kubernetes-group-version-kind"] = [{"group": group, "kind": kinds[message],
                                                          "version": version}]
        schemas[schema_name(message)] = schema
    return schemas


@cache
def _document(group: str, version: str, git_version: str) -> bytes:
    paths = {}
    for r in resources_in(group, version):
        prefix = "/" + _gv_path(group, version)
        gvk = {"group": group, "version": version, "kind": r.kind}
        if "patch" not in r.verbs:  # a review: only created (explain finds its kind through this operation)
            paths[f"{prefix}/{r.plural}"] = {"post": {"operationId": f"create{r.kind}", "x-kubernetes-action": "post",
                                                      "x-kubernetes-group-version-kind": gvk,
                                                      "responses": {"201": {"description": "Created"}}}}
            continue
        item = f"{prefix}/namespaces/{{namespace}}/{r.plural}/{{name}}" if r.namespaced \
            else f"{prefix}/{r.plural}/{{name}}"
        paths[item] = {"patch": {
            "operationId": f"patch{r.kind}",
            "x-kubernetes-action": "patch",
            "x-kubernetes-group-version-kind": gvk,
            "parameters": [{"name": name, "in": "query", "schema": {"type": "string"}}
                           for name in ("dryRun", "fieldManager", "fieldValidation", "force")],
            "responses": {"200": {"description": "OK"}},
        }}
    doc = {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": git_version},
           "components": {"schemas": _schemas(group, version)}, "paths": paths}
    return json.dumps(doc, separators=(",", ":")).encode()


def index(version_info: dict) -> dict:
    """``/openapi/v3``: each group-version's document, with upstream's content hash in its URL (kubectl
    caches documents by that URL, so a changed document is fetched again)."""
    paths = {}
    for group, version in group_versions():
        digest = hashlib.sha512(_document(group, version, version_info.get("gitVersion", ""))).hexdigest().upper()
        paths[_gv_path(group, version)] = {"serverRelativeURL": f"/openapi/v3/{_gv_path(group, version)}?hash={digest}"}
    return {"paths": paths}


def group_version_document(path: str, version_info: dict) -> bytes | None:
    """The JSON document for ``api/v1`` or ``apis/<group>/<version>``, or None if not served."""
    for group, version in group_versions():
        if _gv_path(group, version) == path:
            return _document(group, version, version_info.get("gitVersion", ""))
    return None
