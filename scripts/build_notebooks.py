"""Build the chapter notebooks from their text sources in notebooks/src/.

Each chapter is written as a py:percent file (the format jupytext reads), so reviews and diffs happen
on plain text; the committed ``notebooks/NN-*.ipynb`` is generated from it, without outputs.

Cell markers follow jupytext's percent format::

    # %% [markdown] slideshow={"slide_type": "slide"}
    # # A heading
    # Markdown lines are commented out with "# ".

    # %% slideshow={"slide_type": "fragment"} tags=["solution"]
    print("code is written as is")

Comment lines above the first marker are a file header and are not copied (e.g. a ruff directive:
a cell that ends with an expression displays it, which linters otherwise call a useless expression).
Metadata after the marker is ``key=<JSON>`` pairs. Every cell must say its ``slideshow.slide_type``
(slide, subslide, fragment, -, skip or notes) so the chapter can be presented as slides.

Usage: ``python scripts/build_notebooks.py`` (write) or ``--check`` (exit 1 if any notebook is stale).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
SRC_DIR = ROOT / "notebooks" / "src"
OUT_DIR = ROOT / "notebooks"
SLIDE_TYPES = {"slide", "subslide", "fragment", "-", "skip", "notes"}
MARKER = re.compile(r"^# %%(?P<md> \[markdown\])?(?P<meta>.*)$")
KEY = re.compile(r"\s*(?P<key>[A-Za-z_][\w.-]*)=")
KERNELSPEC = {"name": "endpoints", "display_name": "Python (endpoints)", "language": "python"}


class SourceError(ValueError):
    """A chapter source that cannot become a notebook (the message names file and line)."""


def parse_metadata(text: str, where: str) -> dict:
    """Parse ``key=<JSON> key=<JSON>`` as written after a ``# %%`` marker."""
    meta, pos, decoder = {}, 0, json.JSONDecoder()
    while text[pos:].strip():
        match = KEY.match(text, pos)
        if not match:
            raise SourceError(f"{where}: expected key=<JSON> in cell metadata, got {text[pos:]!r}")
        try:
            value, pos = decoder.raw_decode(text, match.end())
        except json.JSONDecodeError as err:
            raise SourceError(f"{where}: metadata {match['key']!r} is not JSON ({err.msg})") from None
        meta[match["key"]] = value
    return meta


def _uncomment(line: str) -> str:
    """Markdown lines are stored as comments: '# text' -> 'text', '#' -> ''."""
    if line.startswith("# "):
        return line[2:]
    return line.removeprefix("#")


def _cell(kind: str, lines: list[str], meta: dict, where: str) -> dict:
    slide_type = meta.get("slideshow", {}).get("slide_type")
    if slide_type not in SLIDE_TYPES:
        raise SourceError(f"{where}: cell needs slideshow={{\"slide_type\": ...}} "
                          f"with one of {sorted(SLIDE_TYPES)}, got {slide_type!r}")
    body = [_uncomment(line) for line in lines] if kind == "markdown" else lines
    return {"cell_type": kind, "source": "\n".join(body).strip("\n"), "metadata": meta}


def parse_percent(text: str, name: str = "<source>") -> list[dict]:
    """Split a py:percent text into cells: dicts with cell_type, source and metadata."""
    cells, current = [], None
    for number, line in enumerate(text.splitlines(), start=1):
        match = MARKER.match(line)
        if match:
            if current:
                cells.append(_cell(*current))
            kind = "markdown" if match["md"] else "code"
            where = f"{name}:{number}"
            current = (kind, [], parse_metadata(match["meta"], where), where)
        elif current:
            current[1].append(line)
        elif line.strip() and not line.startswith("#"):  # comments above the first cell are a file header
            raise SourceError(f"{name}:{number}: code before the first '# %%' cell marker")
    if current:
        cells.append(_cell(*current))
    return cells


def to_notebook(cells: list[dict], stem: str) -> nbformat.NotebookNode:
    """A clean nbformat 4.5 notebook: no outputs, no execution counts, stable cell ids."""
    nb = nbformat.v4.new_notebook()
    nb.metadata = {"kernelspec": KERNELSPEC, "language_info": {"name": "python"},
                   "rise": {"scroll": True}}
    prefix = stem.split("-", 1)[0]
    for index, cell in enumerate(cells):
        make = nbformat.v4.new_markdown_cell if cell["cell_type"] == "markdown" else nbformat.v4.new_code_cell
        nb.cells.append(make(cell["source"], metadata=cell["metadata"], id=f"c{prefix}-{index:03d}"))
    return nb


def render(src: Path) -> str:
    """The exact text of the notebook generated from one source file."""
    nb = to_notebook(parse_percent(src.read_text(encoding="utf-8"), src.name), src.stem)
    nbformat.validate(nb)
    return nbformat.writes(nb) + "\n"


def targets() -> list[tuple[Path, Path]]:
    """(source, notebook) pairs for every chapter source and the chapter template."""
    sources = sorted(SRC_DIR.glob("[0-9][0-9]-*.py")) + [SRC_DIR / "_template.py"]
    return [(src, OUT_DIR / f"{src.stem}.ipynb") for src in sources if src.exists()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report notebooks that are stale")
    args = parser.parse_args(argv)
    stale = []
    for src, out in targets():
        try:
            text = render(src)
        except SourceError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        if out.exists() and out.read_text(encoding="utf-8") == text:
            continue
        stale.append(out)
        if not args.check:
            out.write_text(text, encoding="utf-8")
    verb = "stale (run python scripts/build_notebooks.py)" if args.check else "written"
    for out in stale:
        print(f"{out.relative_to(ROOT)}: {verb}")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
