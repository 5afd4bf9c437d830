"""Benchmark the whole chapter series on the simulator against the kernel-start floor.

Executes every ``notebooks/NN-*.ipynb`` in order on one fresh background simulator (private state
directory, ``ENDPOINTS_BACKEND=sim``), then executes a one-cell notebook (``pass``) as many times
with the same kernel. Each notebook execution starts a kernel, so the second figure is the floor
no chapter can go below. Prints wall time per chapter, both totals and their ratio. It also times,
as many times, a notebook that only does what every chapter does first (``import helpers``,
``h.connect()``). Issue 16's targets: series <= 3x the floor; chapter 02 <= 4x one empty notebook
(the floor's mean); ``import helpers; h.connect()`` adds <= 0.3x a kernel start (connect-only
notebooks minus the floor, over the floor). For context it also times a *minimal chapter*: the
least a chapter of this series does (import pandas and helpers, connect, make its sandbox, run two
pods behind a Service and wait for their endpoints, clean up). The minimal chapter's ratio is a
lower bound for the series' ratio.
Run: .venv/bin/python benchmarks/bench_series.py [notebooks...]
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import nbclient
import nbformat
from targets import report

import helpers.sim

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
TARGET_RATIO = 3.0
CHAPTER_02_TARGET = 4.0  # chapter 02 (scales to 250 pods and back) against one empty notebook
CONNECT_TARGET = 0.3  # what `import helpers; h.connect()` adds, in kernel starts
MINIMAL_CHAPTER = [
    "import pandas as pd\nimport helpers as h\ncluster = h.connect(quiet=True)\nns = h.sandbox('bench-minimal')",
    ("h.apply(h.deployment('web', replicas=2), h.service('web'), namespace=ns.name)\n"
     "h.wait_for_slices(ns.name, 'web', endpoints=2, ready=2)"),
    "ns.cleanup()",
]


def run(nb: nbformat.NotebookNode, env: dict) -> float:
    """Wall seconds to execute ``nb`` with the ``endpoints`` kernel, kernel start included."""
    started = time.perf_counter()
    nbclient.NotebookClient(nb, timeout=600, kernel_name="endpoints",
                            resources={"metadata": {"path": str(NOTEBOOKS)}}).execute(env=env)
    return time.perf_counter() - started


def main(argv: list[str]) -> int:
    paths = [Path(a) for a in argv] or sorted(NOTEBOOKS.glob("[0-9][0-9]-*.ipynb"))
    empty = [nbformat.v4.new_code_cell("pass")]
    connect_only = [nbformat.v4.new_code_cell("import helpers as h\nh.connect(quiet=True)")]
    minimal = [nbformat.v4.new_code_cell(c) for c in MINIMAL_CHAPTER]
    with tempfile.TemporaryDirectory() as state:
        env = dict(os.environ, ENDPOINTS_STATE_DIR=state, ENDPOINTS_BACKEND="sim", MPLBACKEND="agg")
        os.environ.update(ENDPOINTS_STATE_DIR=state, ENDPOINTS_BACKEND="sim")
        helpers.sim.start_background()
        try:
            chapters = {}
            for path in paths:
                chapters[path.name] = run(nbformat.read(path, as_version=4), env)
                print(f"  {path.name:<55} {chapters[path.name]:6.1f} s", flush=True)
            floor = sum(run(nbformat.v4.new_notebook(cells=empty), env) for _ in paths)
            connecting = sum(run(nbformat.v4.new_notebook(cells=connect_only), env) for _ in paths)
            least = sum(run(nbformat.v4.new_notebook(cells=minimal), env) for _ in paths)
        finally:
            helpers.sim.stop_background()
    series = sum(chapters.values())
    ratio = series / floor
    print(f"series ({len(paths)} chapters): {series:.1f} s")
    print(f"floor ({len(paths)} empty notebooks): {floor:.1f} s")
    print(f"context ({len(paths)} notebooks that only import helpers and connect): {connecting:.1f} s "
          f"({connecting / floor:.2f}x floor)")
    print(f"context ({len(paths)} minimal chapters): {least:.1f} s ({least / floor:.2f}x floor, a lower bound "
          "for the series)")
    print("issue 16 targets (figure / target / met?):")
    report(f"series ({len(paths)} chapters) / kernel-start floor", ratio, TARGET_RATIO, "x")
    kernel_start = floor / len(paths)
    chapter_02 = next((seconds for name, seconds in chapters.items() if name.startswith("02-")), None)
    if chapter_02 is not None:
        report("chapter 02 / one empty notebook", chapter_02 / kernel_start, CHAPTER_02_TARGET, "x")
    report("`import helpers; h.connect()` in a fresh kernel / a kernel start", (connecting - floor) / floor,
           CONNECT_TARGET, "x")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
