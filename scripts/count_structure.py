"""Print the restructure's counts (issue 12) from the tree as it is: `python scripts/count_structure.py [-v]`.

Each count is a syntactic rule over the parsed source (ast), so it may miss a copy written another way;
`-v` lists where each hit is, to check the rule against the code.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KUBE = ROOT / "helpers" / "kube.py"


def _parse(paths):
    return [(p, ast.parse(p.read_text(), str(p))) for p in sorted(paths)]


def _where(path: Path, node: ast.AST, what: str = "") -> str:
    return f"{path.relative_to(ROOT)}:{node.lineno}" + (f" {what}" if what else "")


def _strings(node: ast.AST):
    """The string constants under `node`, f-string parts included."""
    return [n for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)]


def _reads_type(node: ast.AST) -> bool:
    """`x["type"] == ...` or `x.get("type") != ...` somewhere under `node` (not `in`: that sorts or filters)."""
    for cmp in (n for n in ast.walk(node) if isinstance(n, ast.Compare)
                and all(isinstance(op, ast.Eq | ast.NotEq) for op in n.ops)):
        for side in (cmp.left, *cmp.comparators):
            key = side.slice if isinstance(side, ast.Subscript) else (
                side.args[0] if isinstance(side, ast.Call) and isinstance(side.func, ast.Attribute)
                and side.func.attr == "get" and side.args else None)
            if isinstance(key, ast.Constant) and key.value == "type":
                return True
    return False


def counts() -> dict[str, list[str]]:
    helpers = _parse(ROOT.glob("helpers/**/*.py"))
    vocabulary_users = [(p, t) for p, t in helpers if p != KUBE] + _parse(ROOT.glob("notebooks/src/*.py"))
    toolkit = [(p, t) for p, t in helpers if p.parent == ROOT / "helpers" and p.name != "simapi.py"]
    tests = _parse(ROOT.glob("tests/*.py"))
    kube_labels = {n.value for n in _strings(ast.parse(KUBE.read_text())) if "kubernetes.io/" in n.value}
    test_modules = {p.stem for p, _ in tests if p.name.startswith("test_")}
    found: dict[str, list[str]] = {k: [] for k in (
        "long_functions", "condition_lookups", "time_formatters", "time_parsers", "object_key_functions",
        "label_literals", "controller_bases", "sim_route_literals", "private_test_builders",
        "test_module_imports")}

    # long_functions: a def in helpers/**.py spanning more than 50 lines (decorators excluded).
    for path, tree in helpers:
        for n in ast.walk(tree):
            if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.end_lineno - n.lineno + 1 > 50:
                found["long_functions"].append(_where(path, n, n.name))

    for path, tree in vocabulary_users:  # helpers/ but kube.py, and notebooks/src
        for n in ast.walk(tree):
            # condition_lookups: a loop or comprehension over an expression naming `conditions` that compares "type".
            loops = [(n.iter, n)] if isinstance(n, ast.For) else [
                (g.iter, n) for g in getattr(n, "generators", ())]
            if any("conditions" in ast.unparse(it) and _reads_type(body) for it, body in loops):
                found["condition_lookups"].append(_where(path, n))
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute):
                rfc3339 = n.func.attr in ("strftime", "strptime") and any("%Y-%m-%dT" in s.value for s in _strings(n))
                # time_formatters: strftime with an RFC 3339 "%Y-%m-%dT" format, or any isoformat().
                if (n.func.attr == "strftime" and rfc3339) or n.func.attr == "isoformat":
                    found["time_formatters"].append(_where(path, n))
                # time_parsers: strptime with that format, or any fromisoformat.
                if (n.func.attr == "strptime" and rfc3339) or n.func.attr == "fromisoformat":
                    found["time_parsers"].append(_where(path, n))
            # object_key_functions: a def named *key reading "namespace" from "metadata" (or a `meta` argument).
            if isinstance(n, ast.FunctionDef) and n.name.endswith("key") and {"namespace"} <= (
                    words := {s.value for s in _strings(n)} | {a.arg for a in n.args.args}) and words & {
                    "metadata", "meta"}:
                found["object_key_functions"].append(_where(path, n, n.name))
            # label_literals: a string constant equal to one of kube.py's kubernetes.io/ label/annotation values.
            if isinstance(n, ast.Constant) and n.value in kube_labels:
                found["label_literals"].append(_where(path, n, n.value))

    # controller_bases: a class in helpers/ that assigns a *queue* attribute and that another class subclasses.
    classes = {n.name: (p, n) for p, t in helpers for n in ast.walk(t) if isinstance(n, ast.ClassDef)}
    subclassed = {b.id for _, c in classes.values() for b in c.bases if isinstance(b, ast.Name)}
    for name, (path, cls) in classes.items():
        if name in subclassed and any(isinstance(t, ast.Attribute) and "queue" in t.attr.lower()
                                      for a in ast.walk(cls) if isinstance(a, ast.Assign) for t in a.targets):
            found["controller_bases"].append(_where(path, cls, name))

    # sim_route_literals: a string (or f-string part) with "/sim/" in helpers/*.py but simapi.py (not
    # docstrings, not "helpers/sim/" paths).
    for path, tree in toolkit:
        docs = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Expr)}
        found["sim_route_literals"] += [_where(path, s) for s in _strings(tree) if id(s) not in docs
                                        and "/sim/" in s.value.replace("helpers/sim/", "")]

    for path, tree in tests:
        # private_test_builders: a top-level def in tests/test_*.py, not a test or fixture, returning a
        # dict literal with a "metadata" key.
        if path.name.startswith("test_"):
            for f in tree.body:
                if isinstance(f, ast.FunctionDef) and not f.name.startswith("test_") and not any(
                        "fixture" in ast.unparse(d) for d in f.decorator_list) and any(
                        isinstance(r, ast.Return) and isinstance(r.value, ast.Dict)
                        and any(isinstance(k, ast.Constant) and k.value == "metadata" for k in r.value.keys)
                        for r in ast.walk(f)):
                    found["private_test_builders"].append(_where(path, f, f.name))
        # test_module_imports: an import, in any tests/*.py, of a tests/test_*.py module.
        for n in ast.walk(tree):
            names = [a.name for a in n.names] if isinstance(n, ast.Import) else (
                [n.module or ""] if isinstance(n, ast.ImportFrom) else [])
            if any(m.split(".")[-1] in test_modules for m in names):
                found["test_module_imports"].append(_where(path, n))
    return found


def main(argv: list[str]) -> None:
    for name, hits in counts().items():
        print(f"{name}: {len(hits)}")
        if "-v" in argv:
            print("".join(f"    {h}\n" for h in hits), end="")


if __name__ == "__main__":
    main(sys.argv[1:])
