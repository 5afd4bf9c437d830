"""scripts/count_structure.py prints every count of the restructure (issue 12) as `name: number`."""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COUNTS = ("long_functions", "condition_lookups", "time_formatters", "time_parsers", "object_key_functions",
          "label_literals", "controller_bases", "sim_route_literals", "private_test_builders",
          "test_module_imports")


def test_the_script_prints_every_count():
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "count_structure.py")], capture_output=True,
                         text=True, check=True, timeout=120).stdout
    printed = dict(re.findall(r"^(\w+): (\d+)$", out, re.MULTILINE))
    assert tuple(printed) == COUNTS, out
