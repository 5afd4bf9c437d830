"""PATCH bodies: JSON merge patch (RFC 7386), JSON patch (RFC 6902) and strategic merge patch.

Strategic merge uses the merge keys and strategies upstream declares in its Go types
(``patchMergeKey``/``patchStrategy`` tags): containers, env, volumes by ``name``; container ports by
``containerPort``; Service ports by ``port``; conditions and node addresses by ``type``; finalizers as
a set. Lists without a strategy are replaced whole, as upstream does (tolerations, EndpointSlice
endpoints, Endpoints subsets). Supported directives: ``$patch: delete|replace|merge``,
``$setElementOrder/<list>``, ``$retainKeys`` and ``$deleteFromPrimitiveList/<list>``.
"""

import copy
import re

from . import decoding
from .errors import ApiError, bad_request

_BY_NAME = {"containers", "initContainers", "ephemeralContainers", "env", "volumes", "imagePullSecrets",
            "resourceClaims"}
_PRIMITIVE_SETS = {"finalizers", "podCIDRs"}


def invalid_patch(message: str) -> ApiError:
    """A patch that cannot be applied: kube-apiserver answers NewGenericServerResponse(422, ...), whose text
    is generic and which carries no cause (apiserver v0.37.0 endpoints/handlers/patch.go applyJSPatch,
    interpretStrategicMergePatchError); ``message``, what went wrong, stays on the exception as a note."""
    error = ApiError(422, "Invalid", "the server rejected our request due to an error in our request")
    error.add_note(message)
    return error


def merge_key(kind: str, path: tuple) -> str | None:
    """The strategic-merge key of the list at ``path`` (field names only), or None for atomic lists."""
    if not path:
        return None
    name = path[-1]
    if name in _BY_NAME:
        return "name"
    if name == "volumeMounts":
        return "mountPath"
    if name == "volumeDevices":
        return "devicePath"
    if name == "ports" and len(path) > 1 and path[-2] in ("containers", "initContainers"):
        return "containerPort"
    if name == "ports" and kind == "Service" and path == ("spec", "ports"):
        return "port"
    if name == "conditions":
        return "type"
    if name == "addresses" and kind == "Node":
        return "type"
    if name == "ownerReferences":
        return "uid"
    if name == "hostAliases":
        return "ip"
    if name == "topologySpreadConstraints":
        return "topologyKey"
    return None


def merge_patch(target, patch):
    """RFC 7386: maps merge recursively, ``null`` deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


_ARRAY_INDEX = re.compile(r"0|[1-9][0-9]*")  # RFC 6901: no leading zeros, ASCII digits only


def _pointer(path) -> list[str]:
    if not isinstance(path, str):
        raise invalid_patch(f"JSON pointer {path!r} must be a string")
    if path == "":
        return []
    if not path.startswith("/"):
        raise invalid_patch(f'JSON pointer "{path}" must start with "/"')
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _parent(doc, parts: list[str], op: str):
    node = doc
    for part in parts[:-1]:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and _ARRAY_INDEX.fullmatch(part) and int(part) < len(node):
            node = node[int(part)]
        else:
            raise invalid_patch(f'unable to {op}: path "/{"/".join(parts)}" does not exist')
    return node


def _index(node: list, part: str, parts, op: str, allow_end=False) -> int:
    if part == "-" and allow_end:
        return len(node)
    if not _ARRAY_INDEX.fullmatch(part) or int(part) > len(node) - (0 if allow_end else 1):
        raise invalid_patch(f'unable to {op}: index "{part}" out of range for "/{"/".join(parts)}"')
    return int(part)


def _get(doc, parts, op):
    if not parts:
        return doc
    node, last = _parent(doc, parts, op), parts[-1]
    if isinstance(node, dict) and last in node:
        return node[last]
    if isinstance(node, list):
        return node[_index(node, last, parts, op)]
    raise invalid_patch(f'unable to {op}: path "/{"/".join(parts)}" does not exist')


def _remove(doc, parts, op="remove"):
    if not parts:
        raise invalid_patch(f"unable to {op}: the whole document cannot be removed")
    node, last = _parent(doc, parts, op), parts[-1]
    if isinstance(node, dict) and last in node:
        return node.pop(last)
    if isinstance(node, list):
        return node.pop(_index(node, last, parts, op))
    raise invalid_patch(f'unable to {op}: path "/{"/".join(parts)}" does not exist')


def _add(doc, parts, value, op="add"):
    if not parts:
        return value
    node, last = _parent(doc, parts, op), parts[-1]
    if isinstance(node, dict):
        node[last] = value
    elif isinstance(node, list):
        node.insert(_index(node, last, parts, op, allow_end=True), value)
    else:
        raise invalid_patch(f'unable to {op}: parent of "/{"/".join(parts)}" is not a container')
    return doc


def json_patch(doc, operations):
    """RFC 6902 operations over a copy of ``doc``."""
    if operations is None:
        operations = []  # Go decodes null into an empty list of operations
    if not isinstance(operations, list):
        # kube-apiserver's strict decoding of the operations (applyJSPatch; fieldValidation Warn, the default)
        kind = {bool: "bool", int: "number", float: "number", str: "string"}.get(type(operations), "object")
        raise ApiError(400, "BadRequest", f"error decoding patch: json: cannot unmarshal {kind} into Go value of "
                       "type []handlers.jsonPatchOp")
    doc = copy.deepcopy(doc)
    for operation in operations:
        if not isinstance(operation, dict) or "op" not in operation or "path" not in operation:
            raise invalid_patch(f"invalid JSON patch operation: {operation!r}")
        op, parts = operation["op"], _pointer(operation["path"])
        if not isinstance(op, str):
            raise invalid_patch(f"unexpected kind of operation: {op!r}")
        if op in ("add", "replace"):
            if "value" not in operation:
                raise invalid_patch(f'"{op}" operation requires a "value"')
            if op == "replace":
                _get(doc, parts, op)
                if parts:
                    _remove(doc, parts, op)
            doc = _add(doc, parts, copy.deepcopy(operation["value"]), op)
        elif op == "remove":
            _remove(doc, parts)
        elif op in ("move", "copy"):
            source = _pointer(operation.get("from", ""))
            value = _remove(doc, source, op) if op == "move" else copy.deepcopy(_get(doc, source, op))
            doc = _add(doc, parts, value, op)
        elif op == "test":
            if _get(doc, parts, op) != operation.get("value"):
                raise invalid_patch(f'testing value /{"/".join(parts)} failed')
        else:
            raise invalid_patch(f'unexpected kind of operation: "{op}"')
    return doc


def strategic_merge_patch(target: dict, patch: dict, kind: str) -> dict:
    """Apply a strategic merge patch for an object of ``kind`` (see the module docstring)."""
    if not isinstance(patch, dict):
        raise ApiError(400, "BadRequest", "strategic merge patch must be a JSON object")
    return _merge_map(copy.deepcopy(target) if isinstance(target, dict) else {}, patch, kind, ())


def _directives_checked(patch: dict) -> None:
    """400 for directives of the wrong type, with upstream's errors (apimachinery mergepatch/errors.go)."""
    directive = patch.get("$patch", "merge")
    if directive not in ("replace", "delete", "merge"):
        raise bad_request(f"unknown patch type: {directive} in map: {decoding.go_value(patch)}")
    retain = patch.get("$retainKeys")
    if retain is not None and not (isinstance(retain, list) and all(isinstance(k, str) for k in retain)):
        raise bad_request("invalid patch format of retainKeys")
    for key, value in patch.items():
        if key.startswith("$deleteFromPrimitiveList/") and not (
                isinstance(value, list) and all(isinstance(v, str | int | float | bool) for v in value)):
            raise bad_request("invalid patch format of primitive list")
        if key.startswith("$setElementOrder/") and not (
                isinstance(value, list) and (all(isinstance(v, dict) for v in value)
                                             or all(isinstance(v, str | int | float | bool) for v in value))):
            raise bad_request("invalid patch format of setElementOrder list")


def _merge_map(target: dict, patch: dict, kind: str, path: tuple) -> dict:
    _directives_checked(patch)
    directive = patch.get("$patch")
    if directive == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    if directive == "delete":
        return None
    retain = patch.get("$retainKeys")
    for key, value in patch.items():
        if key.startswith("$"):
            continue
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict):
            merged = _merge_map(target.get(key) if isinstance(target.get(key), dict) else {}, value, kind,
                                path + (key,))
            if merged is None:
                target.pop(key, None)
            else:
                target[key] = merged
        elif isinstance(value, list):
            current = target.get(key)
            target[key] = _merge_list(current if isinstance(current, list) else [], value, kind, path + (key,))
        else:
            target[key] = value
    for key, value in patch.items():
        if key.startswith("$deleteFromPrimitiveList/"):
            field = key.split("/", 1)[1]
            target[field] = [v for v in target.get(field) or [] if v not in value]
        elif key.startswith("$setElementOrder/"):
            field = key.split("/", 1)[1]
            merge = merge_key(kind, path + (field,))
            if merge and not all(isinstance(v, dict) for v in value):
                raise bad_request("invalid patch format of setElementOrder list")
            current = target.get(field)
            target[field] = _order(current if isinstance(current, list) else [], value, merge)
    if retain is not None:
        target = {k: v for k, v in target.items() if k in retain}
    return target


def _merge_list(target: list, patch: list, kind: str, path: tuple) -> list:
    key = merge_key(kind, path)
    if path and path[-1] in _PRIMITIVE_SETS:
        if any(isinstance(v, dict | list) for v in patch):
            raise bad_request("invalid patch format of primitive list")
        return list(target) + [v for v in patch if v not in target]
    if key is None:
        if any(isinstance(p, list) for p in patch):
            raise ApiError(422, "Invalid", "lists of lists are not supported")
        if any(isinstance(p, dict) and p.get("$patch") == "replace" for p in patch):
            return [p for p in patch if not (isinstance(p, dict) and p.get("$patch"))]
        return copy.deepcopy(patch)
    result = [copy.deepcopy(t) for t in target]
    for item in patch:
        if not isinstance(item, dict):
            raise invalid_patch(f"list {'.'.join(path)} expects objects with merge key {key!r}")
        if item.get("$patch") == "replace":
            return [p for p in patch if p is not item]
        pos = next((i for i, t in enumerate(result) if isinstance(t, dict) and t.get(key) == item.get(key)),
                   None)
        if item.get("$patch") == "delete":
            if pos is not None:
                result.pop(pos)
        elif pos is None:
            result.append(_merge_map({}, item, kind, path))
        else:
            result[pos] = _merge_map(result[pos], item, kind, path)
    return result


def _order(items: list, order: list, key: str | None) -> list:
    """Reorder ``items`` as ``$setElementOrder`` says; items it does not name keep their place after."""
    ident = (lambda x: x.get(key) if isinstance(x, dict) else None) if key else (lambda x: x)
    wanted = [ident(o) for o in order]
    placed = sorted((i for i in items if ident(i) in wanted), key=lambda i: wanted.index(ident(i)))
    return placed + [i for i in items if ident(i) not in wanted]
