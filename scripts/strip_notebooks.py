"""Strip outputs and execution counts from notebooks, so they are committed clean.

    python scripts/strip_notebooks.py notebooks            # rewrite dirty notebooks in place
    python scripts/strip_notebooks.py --check notebooks    # list dirty notebooks, exit 1 if any

Stdlib only. Notebooks are written the way nbformat writes them (1-space indent, sorted keys,
trailing newline), so stripping a clean notebook leaves its bytes unchanged.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

# Cell metadata that only records a particular run (nbclient/JupyterLab timings, scroll state).
RUN_METADATA = ("execution", "collapsed", "scrolled")


def dirty_cells(notebook: dict) -> list[int]:
    """Indexes of code cells that carry outputs, an execution count or run metadata."""
    return [
        index
        for index, cell in enumerate(notebook.get("cells", []))
        if cell.get("cell_type") == "code"
        and (cell.get("outputs") or cell.get("execution_count") is not None
             or any(key in cell.get("metadata", {}) for key in RUN_METADATA))
    ]


def strip(notebook: dict) -> dict:
    """A copy of `notebook` whose code cells have no outputs, counts or run metadata."""
    cells = []
    for cell in notebook.get("cells", []):
        cell = dict(cell)
        if cell.get("cell_type") == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
            cell["metadata"] = {k: v for k, v in cell.get("metadata", {}).items() if k not in RUN_METADATA}
        cells.append(cell)
    return {**notebook, "cells": cells}


def notebook_paths(roots: list[Path]) -> list[Path]:
    """Every .ipynb under the given files/directories, skipping Jupyter's checkpoint copies."""
    paths = []
    for root in roots:
        found = [root] if root.is_file() else sorted(root.rglob("*.ipynb"))
        paths += [path for path in found if ".ipynb_checkpoints" not in path.parts]
    return paths


def render(notebook: dict) -> str:
    return json.dumps(notebook, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+", type=Path, help="notebooks or directories to scan")
    parser.add_argument("--check", action="store_true", help="only report dirty notebooks (exit 1 if any)")
    args = parser.parse_args(argv)
    dirty = []
    for path in notebook_paths(args.paths):
        try:
            notebook = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            print(f"error: cannot read {path} as a notebook: {exc}", file=sys.stderr)
            return 2
        cells = dirty_cells(notebook)
        if not cells:
            continue
        dirty.append(path)
        if args.check:
            print(f"{path}: outputs or execution counts in code cells {cells}")
        else:
            path.write_text(render(strip(notebook)), encoding="utf-8")
            print(f"stripped {path} ({len(cells)} cells)")
    if args.check and dirty:
        print("run `make strip` to clean them", file=sys.stderr)
    return 1 if args.check and dirty else 0


if __name__ == "__main__":
    sys.exit(main())
