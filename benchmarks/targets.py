"""Issue 16's targets as one block: each benchmark reports a figure next to its target ("figure / target /
met?"). Under `make bench` (``BENCH_SUMMARY`` names a file) the lines are also collected, and the Makefile
prints them together after the last benchmark, so one run ends with every figure and its target.
"""

from __future__ import annotations

import os


def report(name: str, figure: float, target: float, unit: str, *, at_least: bool = False) -> bool:
    """Print (and collect) one figure against its target; True when it is met."""
    met = figure >= target if at_least else figure <= target
    line = (f"  {name}: {figure:.2f} {unit} / {'>=' if at_least else '<='} {target:.2f} {unit} / "
            f"{'met' if met else 'NOT met'}")
    print(line, flush=True)
    if path := os.environ.get("BENCH_SUMMARY"):
        with open(path, "a", encoding="utf-8") as summary:
            summary.write(line + "\n")
    return met
