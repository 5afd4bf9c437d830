"""Request bodies -> JSON-shaped values, refusing what upstream's decoders cannot represent.

kube-apiserver decodes JSON with Go's ``encoding/json`` (via sigs.k8s.io/json) and YAML by converting
it to JSON first (sigs.k8s.io/yaml). So a body decodes to JSON values only: no NaN or Infinity
(``json: invalid character 'N'``), no YAML timestamps or other non-JSON tags
(they become strings there), string map keys, and YAML aliases do not multiply a small body into a
huge object (go-yaml refuses "excessive aliasing"). Nesting is bounded, as Go's decoder bounds it
(10000 levels there; far fewer here, below Python's recursion limit, and no served object needs more
than a few dozen).
"""

import json
import math

import yaml

from .errors import bad_request

MAX_DEPTH = 100


# Python's json messages -> Go encoding/json's, for the syntax errors clients make most.
_GO_JSON_CONTEXT = {"Expecting property name enclosed in double quotes": "looking for beginning of object key string",
                    "Expecting ':' delimiter": "after object key",
                    "Expecting value": "looking for beginning of value",
                    "Extra data": "after top-level value"}


def go_syntax_error(err: json.JSONDecodeError) -> str:
    """What Go's encoding/json says of the same syntax error (its SyntaxError text)."""
    doc = err.doc
    literal = next((word for word in ("null", "true", "false") if doc[err.pos:err.pos + 1] == word[0]), None)
    if err.pos >= len(doc.rstrip()):
        return "unexpected end of JSON input"
    if literal and err.msg == "Expecting value":  # Go reads the literal up to the first wrong letter
        at = next((i for i, c in enumerate(literal) if doc[err.pos + i:err.pos + i + 1] != c), len(literal))
        if err.pos + at >= len(doc.rstrip()):
            return "unexpected end of JSON input"
        return f"invalid character {_go_char(doc[err.pos + at])} in literal {literal} (expecting '{literal[at]}')"
    if err.msg == "Expecting ',' delimiter":
        inside = "object key:value pair" if doc.rstrip()[:1] == "{" else "array element"
        return f"invalid character {_go_char(doc[err.pos])} after {inside}"
    return f"invalid character {_go_char(doc[err.pos])} {_GO_JSON_CONTEXT.get(err.msg, 'looking for beginning of value')}"


def go_value(value) -> str:
    """A decoded JSON value as Go's fmt %v prints it (map keys sorted): ``map[data:[a] n:<nil>]``."""
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{go_value(v)}" for k, v in sorted(value.items())) + "]"
    if isinstance(value, list):
        return "[" + " ".join(go_value(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    return "<nil>" if value is None else str(value)


def _go_char(c: str) -> str:
    """encoding/json quoteChar."""
    if c == "'":
        return "'\\''"
    if c == '"':
        return "'\"'"
    return "'" + c + "'" if c.isprintable() else "'" + json.dumps(c)[1:-1] + "'"


def _no_constant(name: str):
    raise ValueError(f"invalid character '{name[0]}' looking for beginning of value")


class _Loader(yaml.SafeLoader):
    """SafeLoader without timestamps (sigs.k8s.io/yaml turns them into strings) and without aliases."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(None, None, "yaml aliases are not accepted", event.start_mark)
        return super().compose_node(parent, index)


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}
for _tag in ("tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:binary", "tag:yaml.org,2002:set",
             "tag:yaml.org,2002:omap", "tag:yaml.org,2002:pairs"):
    _Loader.add_constructor(_tag, yaml.SafeLoader.construct_yaml_str)


def checked(value):
    """``value`` if it is plain JSON within bounds (YAML's non-string keys become strings, as
    sigs.k8s.io/yaml writes them), else 400 BadRequest."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise bad_request(f"the request body is nested more than {MAX_DEPTH} levels deep")
        if isinstance(node, dict):
            for key in [k for k in node if not isinstance(k, str)]:
                if isinstance(key, bool | int | float) and not (isinstance(key, float) and not math.isfinite(key)):
                    node[json.dumps(key)] = node.pop(key)
                else:
                    raise bad_request(f"yaml: invalid map key: {key!r}")
            stack.extend((child, depth + 1) for child in node.values())
        elif isinstance(node, list):
            stack.extend((child, depth + 1) for child in node)
        elif isinstance(node, float):
            if not math.isfinite(node):
                raise bad_request(f"json: unsupported value: {node}")
        elif node is not None and not isinstance(node, str | bool | int):
            raise bad_request(f"the request body holds a value JSON cannot represent: {type(node).__name__}")
    return value


def from_json(body: bytes):
    try:
        return checked(json.loads(body, parse_constant=_no_constant))
    except RecursionError:
        raise bad_request(f"the request body is nested more than {MAX_DEPTH} levels deep") from None


def from_yaml(body: bytes):
    try:
        return checked(yaml.load(body, Loader=_Loader))
    except RecursionError:
        raise bad_request(f"the request body is nested more than {MAX_DEPTH} levels deep") from None
    except yaml.YAMLError as e:
        raise bad_request(f"yaml parse error: {e}") from None
    except ValueError as e:  # e.g. an int literal too long to convert
        raise bad_request(f"yaml parse error: {e}") from None
