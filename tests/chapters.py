"""Running a chapter on a background simulator: what tests/test_notebooks.py and the kernel data plane's
chapter test (tests/test_sim_kernel.py) share."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbclient
import nbformat

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
CELL_TIMEOUT = 180  # seconds; every wait in a chapter is bounded well below this


def start_simulator(state_dir: Path) -> dict:
    """Start a background simulator with its own state directory; returns the env a kernel needs."""
    env = dict(os.environ, ENDPOINTS_BACKEND="sim", ENDPOINTS_STATE_DIR=str(state_dir))
    subprocess.run([sys.executable, "-m", "helpers.sim", "start"], env=env, cwd=ROOT, check=True,
                   capture_output=True, timeout=60)
    return env


def stop_simulator(env: dict) -> None:
    subprocess.run([sys.executable, "-m", "helpers.sim", "stop"], env=env, cwd=ROOT, check=True,
                   capture_output=True, timeout=60)


def run_chapter(path: Path, env: dict) -> nbformat.NotebookNode:
    """Execute the chapter on the simulator ``env`` names; the notebook with its outputs."""
    nb = nbformat.read(path, as_version=4)
    nbclient.NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name="endpoints",
                            resources={"metadata": {"path": str(NOTEBOOKS)}}).execute(env=env)
    return nb
