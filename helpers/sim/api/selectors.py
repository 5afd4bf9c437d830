"""Label and field selectors: parsing the query-string syntax and matching objects.

Label selectors follow apimachinery ``labels.Parse``: ``k``, ``!k``, ``k=v``, ``k==v``, ``k!=v``,
``k in (a,b)``, ``k notin (a,b)``, ``k>1``, ``k<1``. Field selectors follow ``fields.Parse``:
``f=v``, ``f==v``, ``f!=v``, over the fields each resource supports (400 otherwise, like upstream).
"""

import re

from .errors import bad_request
from .resources import Resource

_KEY = re.compile(r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
                  r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


_SPECIAL = "=!(),><"
_WORDS = {"in", "notin"}
_SYMBOLS = {"(", ")", ",", "!", "==", "=", ">", "<", "!="}
_ID, _END = "identifier", "end"


class _Syntax(ValueError):
    pass


def _lex(text: str) -> list[tuple[str, str]]:
    """apimachinery labels.Lexer: identifiers and keywords end at whitespace or a special symbol; special
    symbols are read greedily while they still form a token (so "===" is "==", "=")."""
    items, pos = [], 0
    while True:
        while pos < len(text) and text[pos] in " \t\r\n":
            pos += 1
        if pos >= len(text):
            items.append((_END, ""))
            return items
        if text[pos] in _SPECIAL:
            end, last = pos, None
            while end < len(text) and text[end] in _SPECIAL:
                end += 1
                if text[pos:end] in _SYMBOLS:
                    last = end
                elif last is not None:
                    break
            if last is None:
                raise bad_request(f"unable to parse requirement: found '{text[pos:end]}', expected: keyword")
            items.append((text[pos:last], text[pos:last]))
            pos = last
        else:
            end = pos
            while end < len(text) and text[end] not in _SPECIAL and text[end] not in " \t\r\n":
                end += 1
            word = text[pos:end]
            items.append((word if word in _WORDS else _ID, word))
            pos = end


def parse_label_selector(text: str | None) -> list[tuple]:
    """Parse a label selector string into requirements ``(key, op, values)``; 400 on bad syntax.

    A port of apimachinery labels.Parser (pkg/labels/selector.go parse, parseRequirement ...), so syntax
    errors read as upstream's; key and value checks keep this module's messages."""
    if not text or not text.strip():
        return []
    items, reqs = _lex(text), []
    position = [0]

    def look(values: bool = True) -> tuple[str, str]:
        tok, lit = items[position[0]]
        return (_ID if values and tok in _WORDS else tok), lit

    def consume(values: bool = True) -> tuple[str, str]:
        position[0] += 1
        tok, lit = items[position[0] - 1]
        return (_ID if values and tok in _WORDS else tok), lit

    def fail(why):
        raise bad_request(f'unable to parse requirement: {why}: "{text}"')

    while True:
        tok, lit = look()
        if tok in (_ID, "!"):
            try:
                reqs.append(_requirement(look, consume, fail))
            except _Syntax as err:
                raise bad_request(f"unable to parse requirement: {err}") from None
            tok, lit = consume()
            if tok == _END:
                return reqs
            if tok != ",":
                raise bad_request(f"found '{lit}', expected: ',' or 'end of string'")
            tok2, lit2 = look()
            if tok2 not in (_ID, "!"):
                raise bad_request(f"found '{lit2}', expected: identifier after ','")
        elif tok == _END:
            return reqs
        else:
            raise bad_request(f"found '{lit}', expected: !, identifier, or 'end of string'")


def _requirement(look, consume, fail) -> tuple:
    tok, lit = consume()
    op = None
    if tok == "!":
        op = "!"
        tok, lit = consume()
    if tok != _ID:
        raise _Syntax(f"found '{lit}', expected: identifier")
    key = _need_key(lit, fail)
    if op == "!" or look()[0] in (_END, ","):
        return key, op or "exists", ()
    tok, lit = consume(values=False)
    if tok in ("in", "notin"):
        values = _value_set(look, consume)
        for value in values:
            _check_value(value, tok, fail)
        return key, tok, values
    if tok not in ("=", "==", "!=", ">", "<"):
        raise _Syntax(f"found '{lit}', expected: in, notin, =, ==, !=, gt, lt")
    value = _exact_value(look, consume)
    _check_value(value, tok, fail)
    return key, "!=" if tok == "!=" else ("=" if tok in ("=", "==") else tok), (value,)


def _need_key(key: str, fail) -> str:
    if not _KEY.match(key) or len(key.rsplit("/", 1)[-1]) > 63:
        fail(f'invalid label key "{key}"')
    return key


def _check_value(value, op, fail):
    if op in (">", "<"):
        if not re.fullmatch(r"-?\d+", value):
            fail(f"for 'gt', 'lt' operators, the value must be an integer, got \"{value}\"")
    elif not _VALUE.match(value) or len(value) > 63:
        fail(f'invalid label value: "{value}"')


def _exact_value(look, consume) -> str:
    if look()[0] in (_END, ","):
        return ""
    tok, lit = consume()
    if tok != _ID:
        raise _Syntax(f"found '{lit}', expected: identifier")
    return lit


def _value_set(look, consume) -> tuple:
    """parseValues and parseIdentifiersList: ``(a,b)``; empty entries stand for the empty value."""
    tok, lit = consume()
    if tok != "(":
        raise _Syntax(f"found '{lit}' expected: '('")
    tok, lit = look()
    if tok == ")":
        consume()
        return ("",)
    if tok not in (_ID, ","):
        raise _Syntax(f"found '{lit}', expected: ',', ')' or identifier")
    values: set[str] = set()
    while True:
        tok2, lit2 = consume()
        if tok2 == _ID:
            values.add(lit2)
            nxt, nlit = look()
            if nxt == ")":
                break
            if nxt != ",":
                raise _Syntax(f"found '{nlit}', expected: ',' or ')'")
        elif tok2 == ",":
            if not values:
                values.add("")
            nxt = look()[0]
            if nxt == ")":
                values.add("")
                break
            if nxt == ",":
                values.add("")
        else:
            raise _Syntax(f"found '{lit2}', expected: ',', or identifier")
    if consume()[0] != ")":
        raise _Syntax(f"found '{lit}', expected: ')'")
    return tuple(sorted(values))


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
