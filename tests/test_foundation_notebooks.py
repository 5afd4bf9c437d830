"""Notebook hygiene: chapters are committed without outputs; `make strip` cleans them."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "scripts" / "strip_notebooks.py"

spec = importlib.util.spec_from_file_location("strip_notebooks", SCRIPT)
strip_notebooks = importlib.util.module_from_spec(spec)
spec.loader.exec_module(strip_notebooks)

NOTEBOOKS = strip_notebooks.notebook_paths([REPO / "notebooks"])


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: str(p.relative_to(REPO)))
def test_committed_notebook_has_no_outputs(path):
    notebook = json.loads(path.read_text(encoding="utf-8"))
    assert strip_notebooks.dirty_cells(notebook) == [], f"{path.name} holds outputs: run `make strip`"


def executed_notebook():
    """A notebook as JupyterLab saves it after a run: outputs, counts and timing metadata."""
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_markdown_cell("# Chapter"),
        nbformat.v4.new_code_cell(
            "print('hi')",
            execution_count=3,
            outputs=[nbformat.v4.new_output("stream", name="stdout", text="hi\n")],
            metadata={"execution": {"iopub.status.idle": "2026-01-01T00:00:00Z"}, "tags": ["keep"]},
        ),
        nbformat.v4.new_code_cell("x = 1"),
    ]
    return notebook


def run_script(*args):
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True, check=False)


def test_dirty_cells_finds_outputs_counts_and_run_metadata():
    notebook = executed_notebook()
    assert strip_notebooks.dirty_cells(notebook) == [1]
    notebook.cells[1].outputs = []
    notebook.cells[1].execution_count = None
    assert strip_notebooks.dirty_cells(notebook) == [1]  # timing metadata alone is still a run's trace
    assert strip_notebooks.dirty_cells(strip_notebooks.strip(notebook)) == []


def test_check_fails_on_dirty_notebook_and_strip_cleans_it(tmp_path):
    path = tmp_path / "ch.ipynb"
    nbformat.write(executed_notebook(), path)
    check = run_script("--check", tmp_path)
    assert check.returncode == 1 and "ch.ipynb" in check.stdout and "make strip" in check.stderr

    assert run_script(tmp_path).returncode == 0
    cleaned = nbformat.read(path, as_version=4)
    nbformat.validate(cleaned)
    code = cleaned.cells[1]
    assert (code.outputs, code.execution_count, code.metadata) == ([], None, {"tags": ["keep"]})
    assert code.source == "print('hi')" and cleaned.cells[0].source == "# Chapter"
    assert run_script("--check", tmp_path).returncode == 0


def test_stripping_a_clean_notebook_keeps_its_bytes(tmp_path):
    path = tmp_path / "clean.ipynb"
    nbformat.write(nbformat.from_dict(strip_notebooks.strip(executed_notebook())), path)
    before = path.read_bytes()
    assert run_script(path).returncode == 0
    assert path.read_bytes() == before
    assert strip_notebooks.render(json.loads(before)) == before.decode()


def test_unreadable_notebook_is_a_clear_error(tmp_path):
    (tmp_path / "broken.ipynb").write_text("{not json")
    result = run_script("--check", tmp_path)
    assert result.returncode == 2 and "cannot read" in result.stderr and "Traceback" not in result.stderr


def test_checkpoint_copies_are_ignored(tmp_path):
    checkpoints = tmp_path / ".ipynb_checkpoints"
    checkpoints.mkdir()
    nbformat.write(executed_notebook(), checkpoints / "ch-checkpoint.ipynb")
    assert strip_notebooks.notebook_paths([tmp_path]) == []
