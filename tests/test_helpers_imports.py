"""`import helpers` is cheap and lazy, yet every public name resolves to what the chapters call."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

import helpers as h

ROOT = Path(__file__).resolve().parents[1]
LAZY_CHECK = """
import sys
import helpers as h
heavy = {"pandas", "kubernetes", "matplotlib", "urllib3"} & set(sys.modules)
assert not heavy, f"import helpers loaded {heavy}"
import helpers.sim
assert "pandas" not in sys.modules, "the simulator's package should not need pandas"
from helpers.connect import use          # submodules named like functions load after the package...
from helpers.kubectl import kubectl_command
assert h.connect.__module__ == "helpers.connect" and callable(h.connect), h.connect  # ...and do not replace them
assert h.kubectl.__module__ == "helpers.kubectl" and callable(h.kubectl), h.kubectl
"""


def test_import_helpers_loads_no_heavy_library_and_keeps_functions_named_like_modules():
    proc = subprocess.run([sys.executable, "-c", LAZY_CHECK], check=False, capture_output=True, text=True,
                          timeout=60, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr


def test_every_public_name_resolves_and_is_documented():
    # documented = named in a code span of docs/HELPERS.md (a signature, an example), not merely a word there
    text = (ROOT / "docs" / "HELPERS.md").read_text()
    fenced = re.findall(r"```.*?```", text, re.DOTALL)
    spans = fenced + re.findall(r"`([^`]+)`", re.sub(r"```.*?```", "", text, flags=re.DOTALL))
    documented = {word for span in spans for word in re.findall(r"\w+", span)}
    for name in h.__all__:
        assert getattr(h, name) is not None
    assert set(h.__all__) - documented == set()
    assert set(h.__all__) <= set(dir(h))
    with pytest.raises(AttributeError, match="no_such_helper"):
        h.no_such_helper  # noqa: B018 - the attribute access is what is tested


READABLE_CHECK = """
import sys
from IPython.testing.globalipapp import start_ipython
shell = start_ipython()
from helpers.connect import readable_tables_with_pandas
readable_tables_with_pandas()  # what connect() does
assert "pandas" not in sys.modules, "connecting should not load pandas"
shell.run_cell("import pandas as pd")
shell.run_cell("width = pd.get_option('display.max_colwidth')")  # the next cell sees whole cells
assert shell.user_ns["width"] is None, shell.user_ns["width"]
"""


def test_tables_show_whole_cells_once_pandas_loads_after_connecting():
    proc = subprocess.run([sys.executable, "-c", READABLE_CHECK], check=False, capture_output=True, text=True,
                          timeout=60, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
