"""README, Makefile and .ci/run agree: two quick-start commands, documented targets exist."""

import os
import re
import subprocess
from pathlib import Path

from helpers.doctor import KERNEL_NAME

REPO = Path(__file__).resolve().parent.parent
README = (REPO / "README.md").read_text()
MAKEFILE = (REPO / "Makefile").read_text()
MAKE_TARGETS = set(re.findall(r"^([a-z][a-z-]*):", MAKEFILE, re.MULTILINE))


def quick_start_commands():
    section = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", section, re.DOTALL).group(1)
    return [line.split("#", 1)[0].strip() for line in block.splitlines() if line.strip()]


def test_quick_start_is_exactly_two_make_commands():
    assert quick_start_commands() == ["make lab", "make test"]


def test_every_make_command_in_the_readme_exists():
    mentioned = set(re.findall(r"make ([a-z][a-z-]*)", README))
    assert mentioned, "the README documents make targets"
    assert mentioned <= MAKE_TARGETS, mentioned - MAKE_TARGETS


def test_ci_runs_the_readme_test_command():
    ci = (REPO / ".ci" / "run").read_text()
    assert re.search(r"^make test$", ci, re.MULTILINE)
    assert ci.startswith("#!/usr/bin/env bash") and "set -euo pipefail" in ci


def run_make(*args):
    """Run make in the repo as a user would, even when the test suite itself runs under `make test`."""
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    return subprocess.run(["make", "--no-print-directory", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, check=False)


def dry_run(*args):
    """The commands make would run (make -n), without running them."""
    done = run_make("-n", "-B", *args)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_setup_registers_the_kernel_the_doctor_checks():
    commands = dry_run("setup")
    assert f"ipykernel install --sys-prefix --name {KERNEL_NAME} " in commands
    assert "pip install" in commands and "-e '.[test]'" in commands


def test_lab_and_test_set_up_first():
    lab = dry_run("lab").splitlines()
    assert any("ipykernel install" in line for line in lab)
    assert f"default_kernel_name={KERNEL_NAME}" in lab[-1] and "root_dir=notebooks" in lab[-1]
    test = dry_run("test")
    assert test.index("ipykernel install") < test.index("ruff check helpers tests")
    assert test.index("ruff check") < test.index("pytest")


def test_old_python_is_refused_with_a_clear_message(tmp_path):
    fake = tmp_path / "python3.10"
    fake.write_text('#!/bin/sh\necho "3.10 old"\n')
    fake.chmod(0o755)
    done = run_make("setup", f"PYTHON={fake}", f"VENV={tmp_path / 'venv'}")
    assert done.returncode != 0
    assert "Python 3.10; this project needs Python 3.11 or newer" in done.stderr
    assert not (tmp_path / "venv").exists()


def test_readme_relative_links_resolve():
    links = re.findall(r"\]\(([^)#]+)\)", README)
    local = [link for link in links if "://" not in link]
    assert local, "the README links the chapter index"
    assert [link for link in local if not (REPO / link).exists()] == []
