"""The chapter notebooks: built from their sources, clean, complete, and runnable on the simulator.

Every ``notebooks/NN-*.ipynb`` is picked up automatically. Each chapter is executed with nbclient
(kernel ``endpoints``, ENDPOINTS_BACKEND=sim) on a fresh background simulator of its own, and the
whole series once more in order on one simulator; after every chapter the cluster must look as it
did before (no extra namespaces, nothing left in ``default``).
"""

from __future__ import annotations

import json
import re
import sys
import traceback
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbclient
import nbformat
import pytest
from chapters import NOTEBOOKS, ROOT, run_chapter, start_simulator, stop_simulator
from kubernetes import client, config

sys.path.insert(0, str(ROOT / "scripts"))
import build_notebooks

CHAPTERS = sorted(NOTEBOOKS.glob("[0-9][0-9]-*.ipynb"))
TEMPLATE = NOTEBOOKS / "_template.ipynb"
CHAPTER_FAILURES = (nbclient.exceptions.CellExecutionError, nbclient.exceptions.CellTimeoutError,
                    nbclient.exceptions.DeadKernelError)
PARALLEL_RUNS = 3  # concurrent chapter runs (each with its own simulator and kernel)
SLIDE_TYPES = {"slide", "subslide", "fragment", "-", "skip", "notes"}
SOLUTION_FIRST_LINE = "# Solution: expand this cell to compare it with yours."
NOTE_CALLOUT = "> **Presenter note:**"
# What must be unchanged in `default` after a chapter: kind -> (API class, list method).
DEFAULT_KINDS = {
    "pods": (client.CoreV1Api, "list_namespaced_pod"),
    "services": (client.CoreV1Api, "list_namespaced_service"),
    "endpoints": (client.CoreV1Api, "list_namespaced_endpoints"),
    "endpointslices": (client.DiscoveryV1Api, "list_namespaced_endpoint_slice"),
    "deployments": (client.AppsV1Api, "list_namespaced_deployment"),
    "replicasets": (client.AppsV1Api, "list_namespaced_replica_set"),
}


def _ids(paths):
    return [p.stem for p in paths]


def _tags(cell) -> set[str]:
    return set(cell.metadata.get("tags", []))


# ---------------------------------------------------------------------------------------------
# Static checks: sources and skeleton (tests/test_foundation_notebooks.py checks for outputs)


def test_every_chapter_exists_and_has_a_source():
    """Chapters 00-05 exist, and every chapter notebook is generated from notebooks/src."""
    stems = {p.stem for p in CHAPTERS}
    for number in range(6):
        assert any(s.startswith(f"{number:02d}-") for s in stems), f"chapter {number:02d} is missing"
    sources = {src.stem for src, _ in build_notebooks.targets()}
    assert stems <= sources, f"notebooks without a source in notebooks/src: {sorted(stems - sources)}"


@pytest.mark.parametrize("src,out", build_notebooks.targets(), ids=lambda p: p.name)
def test_notebook_matches_its_source(src, out):
    assert out.exists(), f"{out.name} was never built: run python scripts/build_notebooks.py"
    assert out.read_text(encoding="utf-8") == build_notebooks.render(src), (
        f"{out.name} differs from {src.name}: edit the source, then run python scripts/build_notebooks.py")


def test_builder_turns_percent_cells_into_notebook_cells():
    text = ('# a file header comment\n\n# %% [markdown] slideshow={"slide_type": "slide"}\n# # Title\n#\n# text\n\n'
            '# %% slideshow={"slide_type": "-"} tags=["verify"]\nx = 1\n\n')
    cells = build_notebooks.parse_percent(text)
    assert cells == [
        {"cell_type": "markdown", "source": "# Title\n\ntext", "metadata": {"slideshow": {"slide_type": "slide"}}},
        {"cell_type": "code", "source": "x = 1",
         "metadata": {"slideshow": {"slide_type": "-"}, "tags": ["verify"]}},
    ]


@pytest.mark.parametrize("text,message", [
    ("# %%\nx = 1\n", "slideshow"),
    ('# %% slideshow={"slide_type": "sideways"}\nx = 1\n', "slideshow"),
    ('# %% slideshow={"slide_type": "-"} tags=[oops]\n', "not JSON"),
    ('# %% slideshow={"slide_type": "-"} stray\n', "key=<JSON>"),
    ('x = 1\n# %% slideshow={"slide_type": "-"}\n', "before the first"),
])
def test_builder_rejects_bad_sources_with_the_line(text, message):
    with pytest.raises(build_notebooks.SourceError, match=message) as err:
        build_notebooks.parse_percent(text, "ch.py")
    assert "ch.py:1" in str(err.value)


def skeleton_problems(nb) -> list[str]:
    """What a notebook lacks of the chapter skeleton (docs/CHAPTER-TEMPLATE.md); empty when complete."""
    markdown = "\n\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    code = [c for c in nb.cells if c.cell_type == "code"]
    problems = []
    first = nb.cells[0] if nb.cells else None
    if not (first and first.cell_type == "markdown" and first.source.startswith("# ")):
        problems.append("first cell is not a '# ' title")
    for heading in ("Learning objectives", "Prerequisites", "Which cluster am I on?", "Cleanup", "Summary",
                    "What's next"):
        if not re.search(rf"^## {re.escape(heading)}", markdown, re.MULTILINE):
            problems.append(f"no '## {heading}' section")
    if not ("Necessary" in markdown and "Helpful" in markdown):
        problems.append("prerequisites do not mark rows Necessary / Helpful")
    if "On the simulator" not in markdown:
        problems.append("no table of what differs on the simulator ('On the simulator' column)")
    if "**Time to complete:**" not in markdown:
        problems.append("no '**Time to complete:**' line")
    checks = [c for c in code if "cluster-check" in _tags(c)]
    if not any("h.connect(" in c.source and "h.sandbox(" in c.source for c in checks):
        problems.append("no cluster-check cell calling h.connect() and h.sandbox()")
    exercises = len(re.findall(r"^## Exercise \d+", markdown, re.MULTILINE))
    verify = sum("verify" in _tags(c) for c in code)
    solution = sum("solution" in _tags(c) for c in code)
    if not (exercises >= 2 and verify >= exercises and solution >= exercises):
        problems.append(f"{exercises} exercises, {verify} verify and {solution} solution cells (need >= 2 each)")
    telling = [c.id for c in code if "solution" in _tags(c) and (
        c.source.splitlines()[:1] != [SOLUTION_FIRST_LINE] or not c.metadata.get("jupyter", {}).get("source_hidden")
        or c.metadata.get("slideshow", {}).get("slide_type") != "skip")]
    if telling:  # JupyterLab shows a collapsed cell's first line: it must not be the answer
        problems.append(f"solution cells not hidden behind {SOLUTION_FIRST_LINE!r} (and skipped in slides): {telling}")
    plain_notes = [c.id for c in nb.cells if c.metadata.get("slideshow", {}).get("slide_type") == "notes"
                   and not c.source.startswith(NOTE_CALLOUT)]
    if plain_notes:  # JupyterLab shows notes cells inline: they must not read as body text
        problems.append(f"presenter notes not set as a {NOTE_CALLOUT!r} callout: {plain_notes}")
    if not any("cleanup" in _tags(c) and ".cleanup()" in c.source for c in code):
        problems.append("no cleanup cell calling .cleanup()")
    missing = [c.id for c in nb.cells if c.metadata.get("slideshow", {}).get("slide_type") not in SLIDE_TYPES]
    if missing:
        problems.append(f"cells without slideshow.slide_type: {missing}")
    if not any(c.metadata["slideshow"]["slide_type"] == "notes" for c in nb.cells if c.id not in missing):
        problems.append("no speaker notes cell")
    if any(re.search(r"\btime\.sleep\(", c.source) for c in code):
        problems.append("uses time.sleep (waits must be event-driven)")
    return problems


@pytest.mark.parametrize("path", [*CHAPTERS, TEMPLATE], ids=_ids([*CHAPTERS, TEMPLATE]))
def test_chapter_has_the_skeleton(path):
    assert skeleton_problems(nbformat.read(path, as_version=4)) == []


@pytest.mark.parametrize("path", [*CHAPTERS, NOTEBOOKS / "README.md"], ids=lambda p: p.name)
def test_links_between_chapters_resolve(path):
    text = path.read_text(encoding="utf-8") if path.suffix == ".md" else "\n".join(
        c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "markdown")
    targets = re.findall(r"\]\(([^)#\s]+\.(?:ipynb|md|py))\)", text)
    missing = [t for t in targets if not t.startswith("http") and not (path.parent / t).exists()]
    assert missing == [], f"{path.name} links to missing files: {missing}"


def test_skeleton_check_reports_what_is_missing():
    """The skeleton check can fail: a notebook stripped of its exercises and notes is reported."""
    nb = nbformat.read(TEMPLATE, as_version=4)
    nb.cells = [c for c in nb.cells
                if not (_tags(c) & {"verify", "solution"}) and c.metadata["slideshow"]["slide_type"] != "notes"]
    problems = skeleton_problems(nb)
    assert any("verify" in p for p in problems) and "no speaker notes cell" in problems


# ---------------------------------------------------------------------------------------------
# Execution against the simulator


def cluster_snapshot(env: dict) -> dict:
    """Namespaces, and the names of objects in `default`, on the simulator of this state directory.

    Read through sim.json each time: a chapter may restart the simulator (chapter 02 does).
    """
    state = json.loads((Path(env["ENDPOINTS_STATE_DIR"]) / "sim.json").read_text())
    api = config.new_client_from_config(config_file=state["kubeconfig"], context="sim-endpoints")
    try:
        snapshot = {"namespaces": {n.metadata.name for n in client.CoreV1Api(api).list_namespace().items}}
        for kind, (api_class, method) in DEFAULT_KINDS.items():
            items = getattr(api_class(api), method)("default").items
            snapshot[kind] = {item.metadata.name for item in items}
        return snapshot
    finally:
        api.close()


def run_on_one_simulator(paths: list[Path], state_dir: Path) -> str | None:
    """Run chapters in order on one fresh simulator; None if all pass and clean up, else what went wrong."""
    env = start_simulator(state_dir)
    try:
        before = cluster_snapshot(env)
        for path in paths:
            try:
                run_chapter(path, env)
            except CHAPTER_FAILURES as err:  # reported by the test that asked for this run
                return f"{path.name} failed: {type(err).__name__}: {err}"
            after = cluster_snapshot(env)
            if after != before:
                leftovers = {k: sorted(after[k] - before[k]) for k in after if after[k] != before[k]}
                return f"{path.name} left objects behind: {leftovers}"
        return None
    finally:
        stop_simulator(env)


def _outcome(future) -> str | None:
    """None for a clean run; otherwise what went wrong (a failed run's message or the exception raised)."""
    error = future.exception()
    if error is None:
        return future.result()
    return "".join(traceback.format_exception(error))


@pytest.fixture(scope="module")
def executions(request, tmp_path_factory):
    """Execute the selected chapters alone, each on its own simulator, and (if selected) all of them in
    sequence on one more. The runs mostly wait on simulated pods, so they run concurrently."""
    selected = {item.callspec.params["path"].stem for item in request.session.items
                if item.originalname in ("test_chapter_runs_on_a_fresh_simulator", "test_template_runs")}
    in_sequence = any(item.originalname == "test_chapters_run_in_sequence_on_one_simulator"
                      for item in request.session.items)
    with ThreadPoolExecutor(max_workers=PARALLEL_RUNS) as pool:
        runs = {}
        if in_sequence:
            runs["sequence"] = pool.submit(run_on_one_simulator, CHAPTERS, tmp_path_factory.mktemp("sequence"))
        for path in [*CHAPTERS, TEMPLATE]:
            if path.stem in selected:
                runs[path.stem] = pool.submit(run_on_one_simulator, [path], tmp_path_factory.mktemp(path.stem))
        return {key: _outcome(future) for key, future in runs.items()}


@pytest.mark.parametrize("path", CHAPTERS, ids=_ids(CHAPTERS))
def test_chapter_runs_on_a_fresh_simulator(path, executions):
    assert executions[path.stem] is None, executions[path.stem]


@pytest.mark.parametrize("path", [TEMPLATE], ids=_ids([TEMPLATE]))
def test_template_runs(path, executions):
    """The skeleton new chapters are copied from is itself a working chapter."""
    assert executions[path.stem] is None, executions[path.stem]


def test_chapters_run_in_sequence_on_one_simulator(executions):
    assert executions["sequence"] is None, executions["sequence"]
