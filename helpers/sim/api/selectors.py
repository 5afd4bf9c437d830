"""Label and field selectors: parsing the query-string syntax and matching objects.

Label selectors follow apimachinery ``labels.Parse``: ``k``, ``!k``, ``k=v``, ``k==v``, ``k!=v``,
``k in (a,b)``, ``k notin (a,b)``, ``k>1``, ``k<1``. Field selectors follow ``fields.Parse``:
``f=v``, ``f==v``, ``f!=v``, over the fields each resource supports (400 otherwise, like upstream).
"""

import re

from .errors import bad_request
from .resources import Resource

_TOKEN = re.compile(r"\s*(\(|\)|,|==|!=|=|!|>|<|[^\s(),=!<>]+)")
_KEY = re.compile(r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
                  r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


def _tokens(text: str) -> list[str]:
    out, pos = [], 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            break
        out.append(m.group(1))
        pos = m.end()
    return out


def parse_label_selector(text: str | None) -> list[tuple]:
    """Parse a label selector string into requirements ``(key, op, values)``; 400 on bad syntax."""
    if not text or not text.strip():
        return []
    toks, reqs, i = _tokens(text), [], 0

    def fail(why):
        raise bad_request(f'unable to parse requirement: {why}: "{text}"')

    while i < len(toks):
        if toks[i] == "!":
            key, i = _need_key(toks, i + 1, fail), i + 2
            reqs.append((key, "!", ()))
        else:
            key = _need_key(toks, i, fail)
            op = toks[i + 1] if i + 1 < len(toks) else None
            if op in (None, ","):
                reqs.append((key, "exists", ()))
                i += 1
            elif op in ("=", "==", "!=", ">", "<"):
                value = toks[i + 2] if i + 2 < len(toks) and toks[i + 2] != "," else ""
                _check_value(value, op, fail)
                reqs.append((key, "!=" if op == "!=" else ("=" if op in ("=", "==") else op), (value,)))
                i += 3 if value else 2
            elif op in ("in", "notin"):
                values, i = _value_set(toks, i + 2, fail)
                reqs.append((key, op, values))
            else:
                fail(f"found '{op}', expected: in, notin, =, ==, !=, gt, lt")
        if i < len(toks):
            if toks[i] != ",":
                fail(f"found '{toks[i]}', expected: ','")
            i += 1
            if i == len(toks):
                fail("found '', expected: identifier")
    return reqs


def _need_key(toks, i, fail) -> str:
    if i >= len(toks) or not _KEY.match(toks[i]) or len(toks[i].rsplit("/", 1)[-1]) > 63:
        fail(f"invalid label key \"{toks[i] if i < len(toks) else ''}\"")
    return toks[i]


def _check_value(value, op, fail):
    if op in (">", "<"):
        if not re.fullmatch(r"-?\d+", value):
            fail(f"for 'gt', 'lt' operators, the value must be an integer, got \"{value}\"")
    elif not _VALUE.match(value) or len(value) > 63:
        fail(f'invalid label value: "{value}"')


def _value_set(toks, i, fail) -> tuple[tuple, int]:
    if i >= len(toks) or toks[i] != "(":
        fail("found '', expected: '('")
    values, i = [], i + 1
    while i < len(toks) and toks[i] != ")":
        if toks[i] != ",":
            _check_value(toks[i], "in", fail)
            values.append(toks[i])
        i += 1
    if i >= len(toks):
        fail("found '', expected: ')'")
    return tuple(values), i + 1


def label_requirements_from(selector: dict | None) -> list[tuple]:
    """Requirements of a ``metav1.LabelSelector`` dict (matchLabels + matchExpressions)."""
    if selector is None:
        return []
    reqs = [(k, "=", (v,)) for k, v in sorted((selector.get("matchLabels") or {}).items())]
    names = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!"}
    for expr in selector.get("matchExpressions") or []:
        reqs.append((expr["key"], names[expr["operator"]], tuple(expr.get("values") or ())))
    return reqs


def labels_match(reqs: list[tuple], labels: dict | None) -> bool:
    """Whether ``labels`` satisfy every requirement."""
    labels = labels or {}
    for key, op, values in reqs:
        present, value = key in labels, labels.get(key)
        if op == "exists" and not present:
            return False
        if op == "!" and present:
            return False
        if op in ("=", "in") and value not in values:
            return False
        if op in ("!=", "notin") and present and value in values:
            return False
        if op in (">", "<"):
            if not present or not re.fullmatch(r"-?\d+", value):
                return False
            if (int(value) > int(values[0])) != (op == ">"):
                return False
    return True


def format_requirements(reqs: list[tuple]) -> str:
    """Upstream's string form of a selector (``app=web,tier in (a,b)``); ``<none>`` when empty."""
    parts = []
    for key, op, values in reqs:
        if op == "exists":
            parts.append(key)
        elif op == "!":
            parts.append("!" + key)
        elif op in ("in", "notin"):
            parts.append(f"{key} {op} ({','.join(sorted(values))})")
        else:
            parts.append(f"{key}{op}{values[0]}")
    return ",".join(parts) if parts else "<none>"


def parse_field_selector(text: str | None, resource: Resource) -> list[tuple]:
    """Parse ``f=v,f!=v`` into ``(field, op, value)``; 400 for fields the resource does not index."""
    if not text or not text.strip():
        return []
    allowed = ("metadata.name", "metadata.namespace") + resource.field_selectors
    reqs = []
    for term in _split_unescaped(text):
        m = re.fullmatch(r"\s*([^=!\s]+)\s*(==|!=|=)\s*(.*?)\s*", term)
        if not m:
            raise bad_request(f"invalid selector: '{text}'; can't understand '{term}'")
        name, op, value = m.groups()
        if name not in allowed:
            if not resource.field_selectors:  # no conversion func: runtime.DefaultMetaV1FieldSelectorConversion
                raise bad_request(f'"{name}" is not a known field selector: only "metadata.name", '
                                  '"metadata.namespace"')
            raise bad_request(f'field label not supported: {name}')
        reqs.append((name, "!=" if op == "!=" else "=", value.replace("\\,", ",")))
    return reqs


def _split_unescaped(text: str) -> list[str]:
    return [t for t in re.split(r"(?<!\\),", text) if t != ""]


def field_value(obj: dict, path: str) -> str:
    """The string value of a dotted field path as field selectors see it (missing -> "")."""
    if path == "source":  # events index source.component under the name "source"
        return str((obj.get("source") or {}).get("component", ""))
    node = obj
    for part in path.split("."):
        if not isinstance(node, dict):
            return ""
        node = node.get(part)
    if node is None:
        return ""
    if isinstance(node, bool):
        return "true" if node else "false"
    return str(node)


def fields_match(reqs: list[tuple], obj: dict) -> bool:
    for name, op, value in reqs:
        if (field_value(obj, name) == value) != (op == "="):
            return False
    return True
