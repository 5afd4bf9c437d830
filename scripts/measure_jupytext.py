"""Compare jupytext + nbstripout with scripts/build_notebooks.py on the chapter sources (docs/DESIGN.md).

Neither tool is a dependency of the project: run this from a scratch environment that has them,
e.g. ``python -m venv --system-site-packages /tmp/jt && /tmp/jt/bin/pip install jupytext==1.19.6
nbstripout==0.9.1 && /tmp/jt/bin/python scripts/measure_jupytext.py``. It prints render times and
how the notebooks jupytext makes differ from the committed ones.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import build_notebooks  # the script next to this one
import nbformat

try:
    import jupytext
    from nbstripout import strip_output
except ImportError:
    sys.exit("needs jupytext and nbstripout: see this script's docstring")


def fastest(fn, runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def differences(src: Path, out: Path) -> Counter:
    """What differs between jupytext's notebook of `src` and the committed `out`, counted per cell."""
    ours, theirs = nbformat.reads(out.read_text(), as_version=4), jupytext.read(src, fmt="py:percent")
    found = Counter(notebook_metadata=dict(ours.metadata) != dict(theirs.metadata),
                    file=jupytext.writes(theirs, fmt="ipynb") + "\n" != out.read_text(),
                    round_trip=jupytext.writes(ours, fmt="py:percent") != src.read_text())
    if len(ours.cells) != len(theirs.cells):
        found["cell_count"] += 1
        return found
    for a, b in zip(ours.cells, theirs.cells, strict=True):
        found["source"] += a.source != b.source
        found["cell_metadata"] += dict(a.metadata) != dict(b.metadata)
        found["id"] += a.get("id") != b.get("id")
    return found


def executed(nb: dict, count: int = 0) -> dict:
    """`nb` as a kernel run leaves it: every code cell with an output, a count and nbclient's timings."""
    run = copy.deepcopy(nb)
    for cell in run["cells"]:
        if cell["cell_type"] == "code":
            count += 1
            cell["execution_count"] = count
            cell["outputs"] = [{"output_type": "stream", "name": "stdout", "text": "done\n"}]
            cell["metadata"]["execution"] = {"iopub.status.busy": "2026-12-03T12:00:00.000000Z"}
    return run


def main() -> None:
    chapters = [(s, o) for s, o in build_notebooks.targets() if s.name[0].isdigit()]
    ours = fastest(lambda: [build_notebooks.render(s) for s, _ in chapters])
    theirs = fastest(lambda: [jupytext.writes(jupytext.read(s, fmt="py:percent"), fmt="ipynb") for s, _ in chapters])
    print(f"{len(chapters)} chapters rendered in-process: build_notebooks {ours * 1000:.0f} ms, "
          f"jupytext {theirs * 1000:.0f} ms (fastest of 5)")
    total = sum((differences(s, o) for s, o in chapters), Counter())
    cells = sum(len(nbformat.reads(o.read_text(), as_version=4).cells) for _, o in chapters)
    print(f"jupytext vs committed ({cells} cells): {dict(total)}")
    first = [jupytext.read(chapters[0][0], fmt="py:percent").cells[0].id for _ in range(2)]
    print(f"jupytext cell ids of the same cell in two reads: {first} (the committed one is c00-000)")
    unchanged = sum(
        nbformat.writes(strip_output(copy.deepcopy(nb), keep_output=False, keep_count=False, keep_id=True))
        == nbformat.writes(nb)
        for nb in (nbformat.reads(o.read_text(), as_version=4) for _, o in chapters))
    print(f"nbstripout leaves {unchanged} of {len(chapters)} generated notebooks unchanged")
    with tempfile.TemporaryDirectory() as tmp:
        for tool, argv in (("strip_notebooks", ["scripts/strip_notebooks.py"]), ("nbstripout", ["-m", "nbstripout"]),
                           ("nbstripout --keep-id", ["-m", "nbstripout", "--keep-id"])):
            paths = []
            for _, out in chapters:  # each notebook as a kernel run leaves it, written as JupyterLab does
                path = Path(tmp) / out.name
                path.write_text(json.dumps(executed(json.loads(out.read_text())), indent=1, ensure_ascii=False))
                paths.append(path)
            start = time.perf_counter()
            subprocess.run([sys.executable, *argv, *map(str, paths)], check=True, capture_output=True, cwd=ROOT)
            took = time.perf_counter() - start
            same = sum(p.read_text() == o.read_text() for p, (_, o) in zip(paths, chapters, strict=True))
            print(f"{tool} on {len(paths)} run notebooks: {took:.2f} s wall, {same} give back the committed bytes")

if __name__ == "__main__":
    main()
