"""docs/DESIGN.md's layout names every module of `helpers` (and none that is gone), and no module's
text cites a document the repository does not have."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HELPERS = ROOT / "helpers"
_MODULE = re.compile(r"(?<![\w/.])(\w+\.py)\b")  # a file name, not a path such as scripts/x.py


def layout_tree(text: str) -> set[str]:
    """The module paths (relative to the repository) that the first code block of `text` lists.

    The block is an indented tree: a line whose first word ends in "/" opens that directory; the file
    names on any line belong to the nearest directory indented less than the line."""
    block = text.split("```")[1]
    dirs: list[tuple[int, str]] = []  # (indent, path) of the open directories
    found = set()
    for line in block.splitlines()[1:]:
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        while dirs and dirs[-1][0] >= indent:
            dirs.pop()
        parent = dirs[-1][1] if dirs else ""
        first = line.split()[0]
        if first.endswith("/"):
            dirs.append((indent, parent + first))
            found.add(parent + first + "__init__.py")  # a package is described on its directory line
        found.update(parent + name for name in _MODULE.findall(line))
    return found


def test_the_layout_parser_reads_nesting_and_several_names_per_line():
    text = "```\nhelpers/\n  a.py  x\n  sub/  y\n    b.py, c.py  z (see scripts/d.py)\n  e.py\n```"
    assert layout_tree(text) == {"helpers/__init__.py", "helpers/a.py", "helpers/sub/__init__.py",
                                 "helpers/sub/b.py", "helpers/sub/c.py", "helpers/e.py"}


def test_design_names_every_module_of_helpers():
    listed = layout_tree((ROOT / "docs" / "DESIGN.md").read_text())
    actual = {str(p.relative_to(ROOT)) for p in HELPERS.rglob("*.py")}
    assert "helpers/sim/api/pagination.py" in actual
    assert sorted(actual - listed) == [], "add these modules to the layout in docs/DESIGN.md"
    assert sorted(listed - actual) == [], "docs/DESIGN.md lists modules that do not exist"


_DOC = re.compile(r"(?<![\w/.-])([\w./-]+\.md)\b")
_UPSTREAM_REPO = re.compile(r"\b[\w-]+/[\w.-]+[,:]?\s+`*$")  # "kubernetes/dns, ``docs/spec.md``"


def cited_documents(path: Path) -> list[tuple[str, bool]]:
    """Each `*.md` the file names, and whether the text just before it names an upstream repository."""
    text = path.read_text()
    return [(m[1], bool(_UPSTREAM_REPO.search(text[max(0, m.start() - 40):m.start()])))
            for m in _DOC.finditer(text)]


def test_helpers_cite_only_documents_in_the_repository_or_upstream():
    bad = {}
    for path in sorted(HELPERS.rglob("*.py")):
        for doc, upstream in cited_documents(path):
            if not (upstream or (ROOT / doc).exists() or (ROOT / "docs" / doc).exists()):
                bad.setdefault(str(path.relative_to(ROOT)), []).append(doc)
    assert bad == {}, "cite a file of the repository, or the upstream repository and path"


def test_the_citation_check_tells_upstream_from_missing(tmp_path):
    sample = tmp_path / "m.py"
    sample.write_text('"""See node-dataplane.md §6, docs/DESIGN.md, and kubernetes/dns, ``docs/specification.md``."""')
    assert cited_documents(sample) == [("node-dataplane.md", False), ("docs/DESIGN.md", False),
                                       ("docs/specification.md", True)]
