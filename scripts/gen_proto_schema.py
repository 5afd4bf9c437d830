"""Generate helpers/sim/api/protoschema.py: the protobuf field table of the kinds the simulator decodes.

Usage: python scripts/gen_proto_schema.py <kubernetes/api clone> <kubernetes/apimachinery clone> <ref>
(both clones at the same release tag, e.g. v0.37.0-beta.0; files are read with ``git show <ref>:...``).

Two upstream sources are joined per message:
- ``generated.proto`` (go-to-protobuf output): field numbers, proto types, repeated/map, ``+optional``;
- the Go ``types.go`` files the protos are generated from: each field's JSON name, ``omitempty`` /
  ``omitzero``, ``inline``, whether it is a pointer, and its Go type (for ``+enum`` string types and
  their constants).
A protobuf body decodes to the JSON the same Go object would marshal to, so both halves are needed.
"""

import re
import subprocess
import sys
from pathlib import Path

API_PACKAGES = ["core/v1", "apps/v1", "batch/v1", "autoscaling/v1", "autoscaling/v2", "discovery/v1", "networking/v1",
                "coordination/v1", "policy/v1", "authentication/v1", "authorization/v1", "events/v1",
                "rbac/v1", "storage/v1", "scheduling/v1alpha3"]  # batch/v1 refers to scheduling/v1alpha3
MACHINERY_PACKAGES = ["pkg/apis/meta/v1", "pkg/runtime", "pkg/util/intstr", "pkg/api/resource"]
OUT = Path(__file__).resolve().parent.parent / "helpers" / "sim" / "api" / "protoschema.py"

_FIELD = re.compile(r"^\s*(optional|repeated)\s+([\w.]+)\s+(\w+)\s*=\s*(\d+)\s*;")
_MAP = re.compile(r"^\s*map<\s*(\w+)\s*,\s*([\w.]+)\s*>\s+(\w+)\s*=\s*(\d+)\s*;")


def git_show(repo: str, ref: str, path: str) -> str:
    return subprocess.run(["git", "-C", repo, "show", f"{ref}:{path}"], check=True, capture_output=True,
                          text=True).stdout


def git_ls(repo: str, ref: str, folder: str) -> list[str]:
    out = subprocess.run(["git", "-C", repo, "ls-tree", "--name-only", f"{ref}:{folder}"], check=True,
                         capture_output=True, text=True).stdout
    return [name for name in out.split() if name.endswith(".go") and not name.endswith("_test.go")
            and not name.startswith(("generated.", "zz_generated"))]


def parse_proto(text: str):
    """``(package, {message: [(label, type, name, number, optional_comment)]})`` in file order."""
    package = re.search(r"^package\s+([\w.]+);", text, re.MULTILINE).group(1)
    messages, current, comments = {}, None, []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("//"):
            comments.append(stripped)
            continue
        start = re.match(r"message\s+(\w+)\s*{", stripped)
        if start:
            current = messages.setdefault(start.group(1), [])
        elif stripped == "}":
            current = None
        elif current is not None and (m := _FIELD.match(line) or _MAP.match(line)):
            optional = any(c in ("// +optional", "// +k8s:optional") for c in comments)
            if m.re is _MAP:
                current.append(("map", f"{m.group(1)},{qualify(package, m.group(2))}", m.group(3),
                                int(m.group(4)), optional))
            else:
                current.append((m.group(1), qualify(package, m.group(2)), m.group(3), int(m.group(4)), optional))
        comments = [] if stripped and not stripped.startswith("//") else comments
    return package, messages


_SCALARS = {"string", "bytes", "bool", "int32", "int64"}  # all the Kubernetes protos use; the decoder knows no others


def qualify(package: str, name: str) -> str:
    if name in _SCALARS:
        return name
    if "." not in name and name[0].islower():
        raise SystemExit(f"{package}: scalar type {name} is new; teach helpers/sim/api/protobuf.py to decode it")
    return name[1:] if name.startswith(".") else f"{package}.{name}"


def parse_go(texts: list[str], import_path: str):
    """Go structs (fields keyed by proto field number), ``+protobuf.nullable`` slice types and ``+enum`` types."""
    structs, wrappers, enums, consts, typed = {}, set(), {}, {}, set()
    for text in texts:
        imports = dict(re.findall(r'^\s*(\w+)\s+"([\w./-]+)"', text, re.MULTILINE))
        current, comments = None, []
        for line in text.splitlines():
            stripped = line.strip()
            if stripped.startswith("//"):
                comments.append(stripped)
                continue
            if m := re.match(r"type (\w+) struct {", stripped):
                current = structs.setdefault(m.group(1), {})
                name = m.group(1)
            elif m := re.match(r"type (\w+) (\[\]|map\[)", stripped):
                if "// +protobuf.nullable=true" in comments:
                    wrappers.add(m.group(1))
            elif m := re.match(r"type (\w+) string$", stripped):
                if "// +enum" in comments:
                    enums[m.group(1)] = []
            elif stripped == "}":
                current = None
            elif current is not None and re.match(r"(\w+\.)?TypeMeta\s+`json:\"[^\"]*\"", stripped):
                typed.add(name)
            elif current is not None and "`" in line and 'protobuf:"' in line and 'json:"' in line:
                # (fields without a json tag belong to the types with their own JSON form: Time, Duration...)
                decl, tag = line.split("`", 1)
                parts = decl.split()
                go_type = parts[-1]
                json_tag = re.search(r'json:"([^"]*)"', tag).group(1).split(",")
                proto_tag = re.search(r'protobuf:"([^"]*)"', tag).group(1).split(",")
                strategy = re.search(r'patchStrategy:"([^"]*)"', tag)
                merge_key = re.search(r'patchMergeKey:"([^"]*)"', tag)
                patch = f"{strategy.group(1)}|{merge_key.group(1) if merge_key else ''}" if strategy else ""
                current[int(proto_tag[1])] = {"json": json_tag[0], "opts": set(json_tag[1:]), "type": go_type,
                                              "patch": patch,
                                       "embedded": len(parts) == 1,
                                       "enum": enum_ref(go_type, imports, import_path)}
            elif m := re.match(r"(\w+)\s+(\w+)\s*=\s*\"([^\"]*)\"", stripped):
                consts.setdefault(m.group(2), []).append(m.group(3))
            comments = [] if stripped and not stripped.startswith("//") else comments
    for name in enums:
        enums[name] = sorted(set(consts.get(name, [])))
    return structs, wrappers, enums, typed


def enum_ref(go_type: str, imports: dict, import_path: str) -> str:
    """``<go import path>.<Type>`` of a field's named element type (candidates for ``+enum``)."""
    base = go_type.lstrip("*[]")
    if "]" in base:  # maps: the element type is not an enum candidate
        return ""
    if "." in base:
        alias, name = base.split(".", 1)
        return f"{imports.get(alias, alias)}.{name}"
    return f"{import_path}.{base}"


def proto_package_of(import_path: str) -> str:
    return import_path.replace("/", ".")


def main(api_repo: str, machinery_repo: str, ref: str) -> None:
    messages, go_fields, wrappers, enums, typed = {}, {}, set(), {}, set()
    sources = [(api_repo, "k8s.io/api", p) for p in API_PACKAGES] + \
              [(machinery_repo, "k8s.io/apimachinery", p) for p in MACHINERY_PACKAGES]
    for repo, module, folder in sources:
        package, found = parse_proto(git_show(repo, ref, f"{folder}/generated.proto"))
        import_path = f"{module}/{folder}"
        structs, nullable, package_enums, package_typed = parse_go(
            [git_show(repo, ref, f"{folder}/{name}") for name in git_ls(repo, ref, folder)], import_path)
        for name, fields in found.items():
            messages[f"{package}.{name}"] = fields
            go_fields[f"{package}.{name}"] = structs.get(name, {})
        wrappers |= {f"{package}.{name}" for name in nullable}
        typed |= {f"{package}.{name}" for name in package_typed if name in found}
        enums |= {f"{import_path}.{name}": values for name, values in package_enums.items() if values}
    write(messages, go_fields, wrappers, enums, typed, ref)


def write(messages, go_fields, wrappers, enums, typed, ref) -> None:
    used_enums = {}
    lines = [
        '"""Protobuf field table of the Kubernetes kinds the simulator decodes. GENERATED: do not edit.',
        "",
        f"Generated by scripts/gen_proto_schema.py from kubernetes/api and kubernetes/apimachinery {ref}",
        "(``generated.proto`` for numbers and types, ``types.go`` for JSON names and omission rules).",
        "",
        "``MESSAGES[message] = ((number, json_name, type, flags, enum, patch), ...)`` in declaration order, where",
        "``type`` is a proto scalar, a message name, or ``key,value`` for maps, and ``flags`` holds",
        "``r`` repeated, ``m`` map, ``o`` omitempty, ``z`` omitzero, ``p`` Go pointer, ``i`` inline,",
        "``q`` required in upstream's OpenAPI (neither ``+optional`` nor ``omitempty``: kube-openapi's rule).",
        "``enum`` names an ``ENUMS`` entry (the values of a ``+enum`` string type) and ``patch`` is the Go tags",
        "``patchStrategy|patchMergeKey`` (strategic merge). ``LISTS`` are messages that stand for a Go slice",
        "(JSON: their ``items`` array); ``TYPED`` the messages whose Go struct embeds TypeMeta (kinds).",
        '"""',
        "",
        "# fmt: off",
        "MESSAGES = {",
    ]
    for name, fields in messages.items():
        go = go_fields[name]
        rows = []
        for label, proto_type, proto_name, number, optional in fields:
            info = go.get(number, {"json": proto_name, "opts": set(), "type": "", "embedded": False, "enum": "",
                                   "patch": ""})
            flags = ""
            flags += "r" if label == "repeated" else "m" if label == "map" else ""
            flags += "o" if "omitempty" in info["opts"] else ""
            flags += "z" if "omitzero" in info["opts"] else ""
            flags += "p" if info["type"].startswith("*") else ""
            flags += "i" if "inline" in info["opts"] or (info["embedded"] and not info["json"]) else ""
            if go and not optional and "omitempty" not in info["opts"] and "i" not in flags and info["json"]:
                flags += "q"
            enum = info["enum"] if info["enum"] in enums else ""
            if enum:
                used_enums[enum] = enums[enum]
            rows.append(f"({number}, {info['json']!r}, {proto_type!r}, {flags!r}, {enum!r}, {info['patch']!r})")
        lines.append(f"    {name!r}: ({', '.join(rows)},)," if rows else f"    {name!r}: (),")
    lines.append("}")
    lines.append(f"LISTS = {sorted(wrappers)!r}")
    lines.append(f"TYPED = {sorted(typed)!r}")
    lines.append("ENUMS = {")
    lines += [f"    {name!r}: {tuple(values)!r}," for name, values in sorted(used_enums.items())]
    lines.append("}")
    lines.append("# fmt: on")
    OUT.write_text("\n".join(lines) + "\n")
    print(f"wrote {OUT} ({len(messages)} messages, {len(used_enums)} enums)")


if __name__ == "__main__":
    main(*sys.argv[1:4])
