"""The layers of `helpers`: pure models below, toolkit and simulator above, chapters on the toolkit.

`helpers.kube`, `helpers.controlplane` and `helpers.dataplane` are pure models: they import nothing
from the simulator or from the modules that talk to a cluster. The toolkit (`helpers/*.py`) uses
the simulator only through the `helpers.sim` package's own functions, never its internals; the
chapters never import the simulator; and the dataplane modules import each other without a cycle.
Every import counts, including those inside functions.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HELPERS = ROOT / "helpers"
PURE = [HELPERS / "kube.py", *sorted((HELPERS / "controlplane").rglob("*.py")),
        *sorted((HELPERS / "dataplane").rglob("*.py"))]
CLUSTER_FACING = ("helpers.sim", "helpers.connect", "helpers.kubectl", "helpers.wait")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path) -> set[str]:
    """Every module `path` imports (`from a import b` counts as a.b and a)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


@pytest.mark.parametrize("path", PURE, ids=lambda p: str(p.relative_to(ROOT)))
def test_pure_models_import_nothing_that_talks_to_a_cluster(path):
    bad = sorted(n for n in imported(path) if any(within(n, layer) for layer in CLUSTER_FACING))
    assert bad == [], f"{path.relative_to(ROOT)} imports {bad}"


def test_the_toolkit_uses_only_the_simulator_packages_own_functions():
    allowed = {"helpers.sim", "helpers.sim.state_dir", "helpers.sim.start_in_process"}
    for path in sorted(HELPERS.glob("*.py")):
        bad = sorted(n for n in imported(path) if within(n, "helpers.sim") and n not in allowed)
        # `from helpers import sim` is the package itself
        assert bad == [], f"{path.relative_to(ROOT)} reaches into the simulator: {bad}"


def test_chapters_never_import_the_simulator():
    for path in sorted((ROOT / "notebooks" / "src").glob("*.py")):
        bad = sorted(n for n in imported(path) if within(n, "helpers.sim") or n == "helpers.sim")
        assert bad == [], f"{path.name} imports {bad}"


def test_the_dataplane_modules_import_each_other_without_a_cycle():
    graph = {module_name(p): {n for n in imported(p) if within(n, "helpers.dataplane")}
             for p in sorted((HELPERS / "dataplane").glob("*.py"))}
    # `from helpers.dataplane import iptables` names the package too; only the submodule is a dependency
    graph = {m: {d for d in deps if d in graph and d not in (m, "helpers.dataplane")} for m, deps in graph.items()}
    visiting, done = set(), set()

    def visit(module, path):
        assert module not in visiting, f"import cycle: {' -> '.join([*path, module])}"
        if module in done:
            return
        visiting.add(module)
        for dep in sorted(graph[module]):
            visit(dep, [*path, module])
        visiting.discard(module)
        done.add(module)

    for module in sorted(graph):
        visit(module, [])
    assert "helpers.dataplane.parse" in graph and graph["helpers.dataplane.parse"] == set()


_SIM_ROUTE = re.compile(r"(?<![\w./-])/sim/")  # a route, not a path such as helpers/sim/control.py


def sim_routes(path: Path) -> list[str]:
    """The string literals of ``path`` (docstrings and f-string parts included) that name a /sim/ route."""
    return [node.value for node in ast.walk(ast.parse(path.read_text(), str(path)))
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and _SIM_ROUTE.search(node.value)]


def test_only_the_control_client_names_the_simulators_control_routes():
    toolkit = [p for p in sorted(HELPERS.rglob("*.py"))
               if not within(module_name(p), "helpers.sim") and p.name != "simapi.py"]
    assert HELPERS / "nodes.py" in toolkit and HELPERS / "dataplane" / "iptables.py" in toolkit
    found = {str(p.relative_to(ROOT)): routes for p in toolkit if (routes := sim_routes(p))}
    assert found == {}, f"build these requests with helpers.simapi instead: {found}"
    assert sim_routes(HELPERS / "sim" / "control.py"), "the check finds the routes the server side names"


def test_no_test_module_is_imported_by_another_module():
    # shared code lives in support modules (builders.py, apiharness.py, proxyfixtures.py, ...), not in tests
    importers = sorted((ROOT / "tests").glob("*.py")) + sorted((ROOT / "benchmarks").glob("*.py"))
    bad = {str(p.relative_to(ROOT)): found for p in importers
           if (found := sorted(n for n in imported(p) if n.split(".")[-1].startswith("test_")
                               or n.startswith(("test_", "tests.test_"))))}
    assert bad == {}, f"move what these share into a support module: {bad}"
