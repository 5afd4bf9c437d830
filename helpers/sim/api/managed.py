"""Field ownership (``metadata.managedFields``) and server-side apply, simplified from
structured-merge-diff.

A field path is a tuple of steps in upstream's ``fieldsV1`` key encoding: ``"f:<name>"`` for a map key,
``'k:{"name":"web"}'`` for an element of a list with a merge key (see ``patch.merge_key``),
``'v:"x"'`` for a member of a set-like list (finalizers), and ``"."`` for "the element itself". Lists
without a merge key are atomic: the whole list is one leaf. Entries are kept per
(manager, operation, subresource) as upstream does.
"""

import json
import threading
from collections import OrderedDict

from .errors import ApiError
from .patch import _PRIMITIVE_SETS, merge_key, strategic_merge_patch
from .strategy import clone

# Server-set metadata that nobody "manages".
_IGNORED_META = {"managedFields", "resourceVersion", "uid", "creationTimestamp", "generation", "selfLink",
                 "deletionTimestamp", "deletionGracePeriodSeconds", "name", "namespace", "generateName"}


def field_paths(obj: dict, kind: str) -> dict:
    """Map of every leaf field path of ``obj`` to its value."""
    out = {}
    for key, value in obj.items():
        if key in ("apiVersion", "kind"):
            continue
        if key == "metadata" and isinstance(value, dict):
            value = {k: v for k, v in value.items() if k not in _IGNORED_META}
            if not value:
                continue
        _walk(value, kind, (key,), ("f:" + key,), out)
    return out


# Fields whose Go type is atomic (+structType=atomic / +mapType=atomic, k8s.io/api v0.37.0 and apimachinery
# meta/v1): one leaf however many keys they hold. metav1.LabelSelector (workloads' and PDBs' spec.selector,
# pod (anti)affinity and topology spread labelSelector, NetworkPolicy selectors), a Service's spec.selector and
# a pod's nodeSelector (atomic maps), ObjectReference (targetRef, involvedObject) and the env source selectors.
_ATOMIC = {"selector", "nodeSelector", "labelSelector", "podSelector", "namespaceSelector", "targetRef",
           "involvedObject", "fieldRef", "resourceFieldRef", "configMapKeyRef", "secretKeyRef"}


def _walk(value, kind, names: tuple, path: tuple, out: dict) -> None:
    if isinstance(value, dict) and value and names[-1] in _ATOMIC:
        out[path] = value
    elif isinstance(value, dict) and value:
        for key, child in value.items():
            _walk(child, kind, names + (key,), path + ("f:" + key,), out)
    elif isinstance(value, list) and names[-1] in _PRIMITIVE_SETS:
        for item in value:
            out[path + ("v:" + _compact(item),)] = item
    elif isinstance(value, list) and merge_key(kind, names) and all(isinstance(i, dict) for i in value):
        key = merge_key(kind, names)
        for item in value:
            step = "k:" + _compact({key: item.get(key)})
            _walk(item, kind, names, path + (step,), out)
            out.setdefault(path + (step, "."), None)
    else:
        out[path] = value


def _compact(value) -> str:
    """JSON as upstream writes it inside ``k:``/``v:`` keys (no spaces)."""
    return json.dumps(value, separators=(",", ":"))


def to_fields_v1(paths) -> dict:
    """Upstream's ``fieldsV1`` encoding of a set of paths."""
    root = {}
    for path in paths:
        node = root
        for step in path:
            node = node.setdefault(step, {})
    return root


def from_fields_v1(fields: dict, prefix=()) -> set:
    out = set()
    for key, child in (fields or {}).items():
        path = prefix + (key,)
        if key == "." or not child:
            out.add(path)
        else:
            out |= from_fields_v1(child, path)
    return out


def describe(path: tuple) -> str:
    """A path as upstream prints it in conflicts: ``.spec.ports[port=80].targetPort``."""
    text = ""
    for step in path:
        kind, _, name = step.partition(":")
        if kind == "f":
            text += "." + name
        elif kind == "k":
            text += "[" + ",".join(f"{k}={json.dumps(v)}" for k, v in json.loads(name).items()) + "]"
        elif kind == "v":
            text += f"[{name}]"
    return text


def _entries(obj: dict) -> list[dict]:
    return list((obj.get("metadata") or {}).get("managedFields") or [])


def _entry(manager, operation, api_version, time, paths, subresource=None) -> dict:
    entry = {"manager": manager, "operation": operation, "apiVersion": api_version, "time": time,
             "fieldsType": "FieldsV1", "fieldsV1": to_fields_v1(paths)}
    if subresource:
        entry["subresource"] = subresource
    return entry


def _same_owner(entry, manager, operation, subresource) -> bool:
    return (entry.get("manager"), entry.get("operation"), entry.get("subresource")) == \
        (manager, operation, subresource)


def record_update(old: dict | None, new: dict, manager: str, kind: str, time: str,
                  subresource: str | None = None) -> list[dict]:
    """managedFields of ``new`` after ``manager`` changed ``old`` into ``new`` with a non-apply write.

    The manager takes ownership of the fields it changed or added; other managers lose those fields,
    and fields that no longer exist are dropped from every entry.

    Only the parts of the two objects that differ are walked (a status write leaves ``spec`` alone), and
    an entry that loses nothing is kept as it is: this runs on every write the simulated components
    make, and walking whole objects twice used to be half of their CPU time. Pruning by the removed
    paths equals pruning to the new object's paths because stored entries only name fields the stored
    object has (``tests/test_api_patch.py`` checks both).
    """
    owner = (manager, "Update", subresource)
    if not old:
        fields = field_paths(new, kind)
        return _rewrite([], fields, set(), owner, set(fields), new.get("apiVersion"), time)
    changed, removed = set(), set()
    _changes(_managed_view(old), _managed_view(new), kind, (), (), changed, removed)
    result, owned = [], set()
    for entry in _entries(old):
        paths = _paths_of(entry.get("fieldsV1"))
        if _same_owner(entry, *owner):
            owned |= paths
        elif paths.isdisjoint(changed) and paths.isdisjoint(removed):
            result.append({**entry, "fieldsV1": clone(entry.get("fieldsV1"))})
        elif kept := paths - changed - removed:
            result.append({**entry, "fieldsV1": to_fields_v1(kept)})
    owned = (owned | changed) - removed
    if owned:
        result.append(_entry(owner[0], owner[1], new.get("apiVersion"), time, owned, owner[2]))
    return result


def _managed_view(obj: dict) -> dict:
    """The top level of ``obj`` as ``field_paths`` sees it: no apiVersion/kind, no server-set metadata."""
    view = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "metadata")}
    meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k not in _IGNORED_META}
    if meta:
        view["metadata"] = meta
    return view


def _changes(old, new, kind, names: tuple, path: tuple, changed: set, removed: set) -> None:
    """Add to ``changed`` the leaf paths of ``new`` that are new or hold another value than in ``old``,
    and to ``removed`` the leaf paths of ``old`` that ``new`` lacks (both under ``path``)."""
    if old == new:
        return
    if isinstance(old, dict) and isinstance(new, dict) and old and new:
        for key, child in new.items():
            if key in old:
                _changes(old[key], child, kind, names + (key,), path + ("f:" + key,), changed, removed)
            else:
                changed.update(_leaves(child, kind, names + (key,), path + ("f:" + key,)))
        for key, child in old.items():
            if key not in new:
                removed.update(_leaves(child, kind, names + (key,), path + ("f:" + key,)))
        return
    # lists, and a map that appears, empties or turns into a scalar: compare the subtrees' leaves
    before, after = _leaves(old, kind, names, path), _leaves(new, kind, names, path)
    changed.update(p for p, v in after.items() if p not in before or before[p] != v)
    removed.update(p for p in before if p not in after)


def _leaves(value, kind, names: tuple, path: tuple) -> dict:
    out = {}
    if names or value:  # an empty top level has no fields (``_walk`` would call it a leaf)
        _walk(value, kind, names, path, out)
    return out


_PATHS_CACHE: OrderedDict = OrderedDict()  # id(fieldsV1) -> (that fieldsV1, its paths)
_PATHS_CACHE_SIZE = 4096
_PATHS_LOCK = threading.Lock()  # several stores (tests, benchmarks) may write from their own threads


def _paths_of(fields: dict | None) -> frozenset:
    """``from_fields_v1`` of a stored entry, remembered: an unchanged entry keeps the same fieldsV1
    object from one stored version to the next (the store reuses equal subtrees), and stored objects are
    never mutated, so the object itself (kept alive here, so its id stays its own) is the key."""
    if not fields:
        return frozenset()
    with _PATHS_LOCK:
        hit = _PATHS_CACHE.get(id(fields))
        if hit is not None and hit[0] is fields:
            _PATHS_CACHE.move_to_end(id(fields))
            return hit[1]
    paths = frozenset(from_fields_v1(fields))
    with _PATHS_LOCK:
        _PATHS_CACHE[id(fields)] = (fields, paths)
        if len(_PATHS_CACHE) > _PATHS_CACHE_SIZE:
            _PATHS_CACHE.popitem(last=False)
    return paths


def _owned_by(entries, owner) -> set:
    return set().union(*(from_fields_v1(e.get("fieldsV1")) for e in entries if _same_owner(e, *owner)))


def _rewrite(entries, new_fields, taken, owner, owned, api_version, time) -> list[dict]:
    """Entries with ``taken`` moved to ``owner`` (who ends up with ``owned``), pruned to ``new_fields``."""
    result = []
    for entry in entries:
        if _same_owner(entry, *owner):
            continue
        paths = (from_fields_v1(entry.get("fieldsV1")) & set(new_fields)) - taken
        if paths:
            result.append({**entry, "fieldsV1": to_fields_v1(paths)})
    owned = owned & set(new_fields)
    if owned:
        result.append(_entry(owner[0], owner[1], api_version, time, owned, owner[2]))
    return result


def apply(live: dict, applied: dict, manager: str, kind: str, time: str, *, force: bool) -> dict:
    """Server-side apply of ``applied`` (a partial object) by ``manager`` onto ``live``.

    Raises 409 Conflict when the configuration changes a field another manager owns, unless ``force``.
    Fields this manager applied before and no longer applies are removed, unless someone else owns them.
    """
    applied_fields = field_paths(applied, kind)
    live_fields = field_paths(live, kind)
    entries = _entries(live)
    owner = (manager, "Apply", None)
    conflicts = []
    for entry in entries:
        if _same_owner(entry, *owner):
            continue
        for path in sorted(from_fields_v1(entry.get("fieldsV1")) & set(applied_fields)):
            if path in live_fields and live_fields[path] != applied_fields[path] and path[-1] != ".":
                conflicts.append((_print_manager(entry), entry.get("apiVersion", ""), path))
    if conflicts and not force:
        raise _conflict_error(conflicts)
    previous = _owned_by(entries, owner)
    others = set().union(*(from_fields_v1(e.get("fieldsV1")) for e in entries if not _same_owner(e, *owner)))
    if force:
        others -= {p for _, _, p in conflicts}
    merged = strategic_merge_patch(live, applied, kind)
    for path in sorted(previous - set(applied_fields) - others, key=len, reverse=True):
        _remove_path(merged, path)
    taken = {p for _, _, p in conflicts}
    new_fields = field_paths(merged, kind)
    merged.setdefault("metadata", {})["managedFields"] = _rewrite(
        entries, new_fields, taken, owner, set(applied_fields), merged.get("apiVersion"), time)
    return merged


def _remove_path(obj: dict, path: tuple) -> None:
    """Delete the field at ``path`` (no-op when it is already gone), then prune maps left empty by it."""
    node, chain = obj, []
    for i, step in enumerate(path):
        last = i == len(path) - 1 or path[i + 1] == "."
        kind, _, name = step.partition(":")
        if step == "." or node is None:
            return
        if kind == "f":
            if not isinstance(node, dict) or name not in node:
                return
            chain.append((node, name))
            if last:
                del node[name]
                break
            node = node[name]
        elif kind == "k":
            (field, value), = json.loads(name).items()
            match = [item for item in node if isinstance(item, dict) and item.get(field) == value]
            if not match:
                return
            if last:
                node.remove(match[0])
                return
            node = match[0]
        else:  # "v": a member of a set-like list
            value = json.loads(name)
            if value in node:
                node.remove(value)
            return
    for parent, key in reversed(chain[:-1]):
        if parent.get(key) == {} and key != "metadata":
            del parent[key]


def _print_manager(entry: dict) -> str:
    """A conflicting manager as apimachinery v0.37.0 managedfields/internal/conflict.go printManager names it:
    an Update manager with the API version and time it wrote at, an Apply manager by name only."""
    text = json.dumps(entry["manager"])
    if entry.get("subresource"):
        text += f' with subresource {json.dumps(entry["subresource"])}'
    if entry.get("operation") == "Update":
        text += f' using {entry.get("apiVersion", "")}' + (f' at {entry["time"]}' if entry.get("time") else "")
    return text


def _conflict_error(conflicts) -> ApiError:
    causes = [{"reason": "FieldManagerConflict", "message": f"conflict with {m}",
               "field": describe(p)} for m, _, p in conflicts]
    noun = "conflict" if len(conflicts) == 1 else "conflicts"
    lines = "\n".join(f'- {c["message"]}: {c["field"]}' for c in causes) if len(causes) > 1 else \
        f'{causes[0]["message"]}: {causes[0]["field"]}'
    return ApiError(409, "Conflict", f"Apply failed with {len(conflicts)} {noun}: {lines}", {"causes": causes})


def record_apply_create(obj: dict, applied: dict, manager: str, kind: str, time: str) -> list[dict]:
    """managedFields of an object created by server-side apply: the manager owns what it applied."""
    fields = field_paths(obj, kind)
    return _rewrite([], fields, set(), (manager, "Apply", None), set(field_paths(applied, kind)),
                    obj.get("apiVersion"), time)
