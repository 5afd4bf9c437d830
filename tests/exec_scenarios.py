"""``kubectl exec`` (the real kubectl 1.37, WebSocket ``v5.channel.k8s.io``) into simulated containers, and
cluster DNS as CoreDNS's kubernetes plugin answers it."""

import base64
import fcntl
import json
import os
import pty
import select
import signal
import socket
import struct
import subprocess
import termios
import time

import pytest
from apiharness import KUBECTL

from helpers.config import AGNHOST_IMAGE
from helpers.sim import dns

WEB_PODS = 2


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    handle = exec_cluster(tmp_path_factory.mktemp("exec"))
    yield handle
    handle.stop()


def exec_cluster(workdir, **overrides):
    """A simulator with the pods and Services these tests exec into (``overrides`` go to the Cluster)."""
    from helpers.sim import start_in_process

    handle = start_in_process(speed=10.0, kubeconfig_path=workdir / "kubeconfig", **overrides)
    handle.workdir = workdir
    k = _kubectl(handle)
    k("create", "deployment", "web", f"--image={AGNHOST_IMAGE}", f"--replicas={WEB_PODS}", "--",
      "/agnhost", "serve-hostname")
    k("expose", "deployment", "web", "--port=80", "--target-port=9376")
    k("create", "service", "clusterip", "empty", "--tcp=80:80")  # no pods: kube-proxy REJECTs
    k("apply", "-f", "-", input=HEADLESS)
    k("run", "client", f"--image={AGNHOST_IMAGE}", "--", "/agnhost", "pause")
    k("run", "nowhere", f"--image={AGNHOST_IMAGE}", "--overrides",
      json.dumps({"spec": {"nodeSelector": {"no-such": "node"}}}))
    for what in ("pod/client", "pod/db-0", "pod/db-1"):
        k("wait", "--for=condition=Ready", what, "--timeout=60s")
    k("rollout", "status", "deployment/web", "--timeout=60s")
    return handle


# a StatefulSet's pods behind a headless Service: per-pod names db-0.db.default.svc.cluster.local
HEADLESS = f"""apiVersion: v1
kind: Service
metadata: {{name: db}}
spec:
  clusterIP: None
  selector: {{app: db}}
  ports: [{{port: 8080, name: http}}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {{name: db}}
spec:
  serviceName: db
  replicas: 2
  selector: {{matchLabels: {{app: db}}}}
  template:
    metadata: {{labels: {{app: db}}}}
    spec:
      containers: [{{name: db, image: "{AGNHOST_IMAGE}", args: [netexec]}}]
"""


def _kubectl(handle):
    def run(*args, input=None, check=True):
        result = subprocess.run([str(KUBECTL), f"--kubeconfig={handle.workdir / 'kubeconfig'}",
                                 f"--cache-dir={handle.workdir / 'cache'}", *args], capture_output=True, text=True,
                                timeout=120, input=input, check=False)
        if check:
            assert result.returncode == 0, (args, result.stderr)
        return result
    return run


def ip_of(k, kind, name, path):
    return k("get", kind, name, "-o", f"jsonpath={{{path}}}").stdout


def test_exec_runs_the_modelled_commands_with_their_output(cluster):
    k = _kubectl(cluster)
    assert k("exec", "client", "--", "hostname").stdout == "client\n"
    assert k("exec", "client", "--", "cat", "/etc/resolv.conf").stdout == (
        "search default.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n")
    hosts = k("exec", "client", "--", "cat", "/etc/hosts").stdout
    assert hosts.startswith("# Kubernetes-managed hosts file.\n") and hosts.endswith(
        f"{ip_of(k, 'pod', 'client', '.status.podIP')}\tclient\n")
    env = dict(line.split("=", 1) for line in k("exec", "client", "--", "env").stdout.splitlines())
    assert env["WEB_SERVICE_HOST"] == ip_of(k, "svc", "web", ".spec.clusterIP") and env["WEB_SERVICE_PORT"] == "80"
    assert env["KUBERNETES_SERVICE_HOST"] == "10.96.0.1" and env["HOSTNAME"] == "client"
    # stdin until kubectl half-closes it, run by the shell
    assert k("exec", "-i", "client", "--", "sh", input="hostname\necho $HOSTNAME\n").stdout == "client\nclient\n"


def test_requests_from_inside_a_pod_reach_the_service_s_pods_through_dns(cluster):
    k = _kubectl(cluster)
    pods = set(k("get", "pods", "-l", "app=web", "-o", "jsonpath={.items[*].metadata.name}").stdout.split())
    answers = {k("exec", "client", "--", "wget", "-qO-", "web").stdout for _ in range(12)}
    answers |= {k("exec", "client", "--", "curl", "-s", "http://web.default.svc.cluster.local:80/").stdout}
    assert answers <= pods and len(answers) == WEB_PODS  # spread over both (12 draws: chance of one < 0.1 %)
    assert k("exec", "client", "--", "/agnhost", "connect", "web:80", "--timeout=1s").returncode == 0
    # a pod IP directly, and a named pod of the StatefulSet (agnhost netexec /hostname)
    db0 = ip_of(k, "pod", "db-0", ".status.podIP")
    assert k("exec", "client", "--", "wget", "-qO-", f"{db0}:8080/hostname").stdout == "db-0"
    assert k("exec", "client", "--", "wget", "-qO-", "db-1.db:8080/hostname").stdout == "db-1"


def test_failed_requests_give_the_tools_own_errors_and_exit_codes(cluster):
    k = _kubectl(cluster)
    refused = k("exec", "client", "--", "curl", "-sS", "empty", check=False)
    assert refused.returncode == 7 and "curl: (7) Failed to connect to empty port 80" in refused.stderr
    wget = k("exec", "client", "--", "wget", "-qO-", "empty", check=False)
    assert wget.returncode == 1 and "wget: can't connect to remote host (" in wget.stderr
    assert "Connection refused" in wget.stderr
    assert k("exec", "client", "--", "/agnhost", "connect", "empty:80", check=False).stderr.startswith("REFUSED\n")
    unknown = k("exec", "client", "--", "curl", "-sS", "nope", check=False)
    assert unknown.returncode == 6 and "curl: (6) Could not resolve host: nope" in unknown.stderr


def test_nslookup_answers_as_coredns_does(cluster):
    k = _kubectl(cluster)
    web = k("exec", "client", "--", "nslookup", "web").stdout
    assert web == ("Server:\t\t10.96.0.10\nAddress:\t10.96.0.10#53\n\nName:\tweb.default.svc.cluster.local\n"
                   f"Address: {ip_of(k, 'svc', 'web', '.spec.clusterIP')}\n")
    headless = k("exec", "client", "--", "nslookup", "db.default.svc.cluster.local").stdout
    addresses = {line.split(": ")[1] for line in headless.splitlines() if line.startswith("Address: ")}
    assert addresses == {ip_of(k, "pod", "db-0", ".status.podIP"), ip_of(k, "pod", "db-1", ".status.podIP")}
    kube_dns = k("exec", "client", "--", "nslookup", "kube-dns.kube-system").stdout
    assert "Name:\tkube-dns.kube-system.svc.cluster.local\nAddress: 10.96.0.10\n" in kube_dns
    missing = k("exec", "client", "--", "nslookup", "nope", check=False)
    assert missing.returncode == 1 and "** server can't find nope: NXDOMAIN" in missing.stdout


def test_nslookup_type_srv_prints_as_bind_and_busybox_do(cluster):
    k = _kubectl(cluster)
    head = "Server:\t\t10.96.0.10\nAddress:\t10.96.0.10#53\n\n"
    # kubectl expose names no port: no SRV (CoreDNS findServices: NXDOMAIN; the short name would end its
    # search walk upstream, which the simulator does not have)
    name = "_http._tcp.web.default.svc.cluster.local."
    web = k("exec", "client", "--", "nslookup", "-type=srv", name, check=False)
    assert web.returncode == 1 and web.stdout == head + f"** server can't find {name}: NXDOMAIN\n\n"
    # the StatefulSet's headless Service: one SRV per pod, weight floor(100/2), BIND keeps the target's dot
    owner = "_http._tcp.db.default.svc.cluster.local"
    db = k("exec", "client", "--", "nslookup", "-q=srv", "_http._tcp.db").stdout
    assert db == head + "".join(f"{owner}\tservice = 0 50 8080 db-{i}.db.default.svc.cluster.local.\n"
                                for i in (0, 1))
    assert k("exec", "client", "--", "nslookup", "-query=SRV", "_http._tcp.db").stdout == db
    # busybox's nslookup: no final dots, ":53", a blank line after the answers (then kubectl run's own line)
    probe = k("run", "-i", "--rm", "--restart=Never", "srvprobe", "--image=busybox:1.37", "--", "nslookup",
              "-type=srv", "_http._tcp.db", input="").stdout
    assert "Server:\t\t10.96.0.10\nAddress:\t10.96.0.10:53\n\n" + "".join(
        f"{owner}\tservice = 0 50 8080 db-{i}.db.default.svc.cluster.local\n" for i in (0, 1)) + "\npod " in probe
    # the plain A lookup is unchanged by the option parsing
    assert k("exec", "client", "--", "nslookup", "-type=a", "web").stdout == k("exec", "client", "--", "nslookup",
                                                                                "web").stdout


def test_exit_codes_and_the_runtime_s_errors(cluster):
    k = _kubectl(cluster)
    failed = k("exec", "client", "--", "sh", "-c", "echo hi; exit 3", check=False)
    assert (failed.returncode, failed.stdout, failed.stderr) == (3, "hi\n", "command terminated with exit code 3\n")
    missing = k("exec", "client", "--", "nosuch", check=False)
    assert missing.returncode == 1
    assert missing.stderr.startswith("error: Internal error occurred: error executing command in container: failed "
                                     "to exec in container: failed to start exec \"")
    assert missing.stderr.endswith('OCI runtime exec failed: exec failed: unable to start container process: exec: '
                                   '"nosuch": executable file not found in $PATH: unknown\n')
    in_shell = k("exec", "client", "--", "sh", "-c", "nosuch", check=False)
    assert in_shell.returncode == 127
    assert in_shell.stderr == "sh: nosuch: not found\ncommand terminated with exit code 127\n"
    pending = k("exec", "nowhere", "--", "hostname", check=False)
    assert pending.returncode == 1 and "pod nowhere does not have a host assigned" in pending.stderr
    wrong = k("exec", "client", "-c", "other", "--", "hostname", check=False)
    assert wrong.returncode == 1 and "container other is not valid for pod client" in wrong.stderr


def test_a_data_path_failing_after_the_upgrade_is_an_error_not_a_silent_success(cluster):
    """A dial that fails inside the simulator once the WebSocket is up (here an OSError) reaches kubectl as the
    kubelet's internal error: exit 1 with the reason, not a close without a Status (which kubectl takes for
    exit code 0 with no output)."""
    k, traffic = _kubectl(cluster), cluster.cluster.traffic

    def broken(*args, **kwargs):
        raise OSError("the pod's network namespace is gone")

    traffic.dial = broken
    try:
        out = k("exec", "client", "--", "wget", "-qO-", "web", check=False)
    finally:
        del traffic.dial
    assert out.returncode == 1 and out.stdout == ""
    assert "error executing command in container: the pod's network namespace is gone" in out.stderr
    assert k("exec", "client", "--", "hostname").stdout == "client\n"  # the next exec is unaffected


def _raw(cluster, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", cluster.port), timeout=10) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
            if b"\r\n\r\n" in data:
                head, _, body = data.partition(b"\r\n\r\n")
                length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), None)
                if length is not None and len(body) >= length:
                    break
        return data


@pytest.mark.parametrize("headers,message", [
    ({}, "Upgrade request required"),
    ({"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
      "Sec-WebSocket-Key": "short", "Sec-WebSocket-Protocol": "v5.channel.k8s.io"}, "16-byte base64"),
    ({"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
      "Sec-WebSocket-Key": base64.b64encode(b"0123456789abcdef").decode(), "Sec-WebSocket-Protocol": "v9.x"},
     "requested protocol(s) are not supported"),
])
def test_malformed_upgrades_get_a_400_status(cluster, headers, message):
    lines = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    reply = _raw(cluster, (f"GET /api/v1/namespaces/default/pods/client/exec?command=hostname&stdout=true "
                           f"HTTP/1.1\r\nHost: 127.0.0.1\r\n{lines}\r\n").encode())
    status_line, _, rest = reply.partition(b"\r\n")
    assert status_line.startswith(b"HTTP/1.1 400"), reply
    status = json.loads(rest.partition(b"\r\n\r\n")[2])
    assert status["kind"] == "Status" and message in status["message"]


def test_dns_search_path_and_records():
    from helpers.sim.store import Store

    store = Store()
    store.create("namespaces", {"metadata": {"name": "ns"}})
    store.create("services", {"metadata": {"name": "web"}, "spec": {"clusterIP": "10.96.0.50",
                                                                      "ports": [{"port": 80}]}}, namespace="ns")
    store.create("services", {"metadata": {"name": "ext"}, "spec": {"type": "ExternalName",
                                                                      "externalName": "example.com"}}, namespace="ns")
    for name in ("web", "web.ns", "web.ns.svc", "web.ns.svc.cluster.local", "web.ns.svc.cluster.local."):
        assert dns.resolve(store, name, "ns").addresses == ("10.96.0.50",), name
    assert dns.resolve(store, "web", "other").rcode == dns.NXDOMAIN  # the search path is the pod's namespace
    assert dns.resolve(store, "ext", "ns").cname == "example.com"
    assert dns.resolve(store, "10-244-1-5.ns.pod.cluster.local", "ns").addresses == ("10.244.1.5",)
    assert dns.resolve(store, "kubernetes.io", "ns").rcode == dns.SERVFAIL  # no upstream resolver here


def test_run_i_rm_runs_a_client_command_once_and_gives_its_exit_code(cluster):
    k = _kubectl(cluster)
    ok = k("run", "-i", "--rm", "--restart=Never", "probe", "--image=busybox:1.36", "--", "nslookup", "web",
           input="")
    assert "Name:\tweb.default.svc.cluster.local\n" in ok.stdout and 'pod "probe" deleted' in ok.stdout
    failed = k("run", "-i", "--rm", "--restart=Never", "dial", f"--image={AGNHOST_IMAGE}", "--", "/agnhost",
               "connect", "nope:80", input="", check=False)
    assert failed.returncode == 1 and "DNS: lookup nope on 10.96.0.10:53: no such host" in failed.stdout


def test_a_service_s_dns_names_map_to_it():
    for name in ("web.ns", "web.ns.svc", "web.ns.svc.cluster.local"):
        assert ("web", "ns") in dns.service_candidates(name, "other"), name
    assert dns.service_candidates("web", "ns")[0] == ("web", "ns")


# -- kubectl exec -it: a pty on our side, the modelled shell on the other ---------------------------------------
class Pty:
    """kubectl run on a pseudo-terminal (so that -t is allowed), read with bounded waits."""

    def __init__(self, cluster, *args, rows=24, cols=80):
        self.master, slave = pty.openpty()
        self.resize(rows, cols, fd=slave)
        self.proc = subprocess.Popen([str(KUBECTL), f"--kubeconfig={cluster.workdir / 'kubeconfig'}",
                                      f"--cache-dir={cluster.workdir / 'cache'}", *args],
                                     stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
        os.close(slave)

    def resize(self, rows, cols, fd=None):
        fcntl.ioctl(self.master if fd is None else fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    def read_until(self, token: bytes, timeout: float = 15.0) -> bytes:
        data, deadline = b"", time.monotonic() + timeout
        while token not in data:
            left = deadline - time.monotonic()
            assert left > 0, f"{token!r} did not come within {timeout}s; got {data!r}"
            if select.select([self.master], [], [], left)[0]:
                try:
                    chunk = os.read(self.master, 4096)
                except OSError:  # the other side closed: kubectl exited
                    chunk = b""
                assert chunk, f"kubectl exited before {token!r}; got {data!r}"
                data += chunk
        return data

    def type(self, text: str, until: bytes = b"/ # ") -> bytes:
        os.write(self.master, text.encode())
        return self.read_until(until)

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)
        os.close(self.master)


def test_exec_it_runs_an_interactive_shell_on_a_tty(cluster):
    term = Pty(cluster, "exec", "-it", "client", "--", "sh")
    try:
        assert term.read_until(b"/ # ") == b"/ # "  # busybox ash's prompt for root in /
        assert term.type("hostname\r") == b"hostname\r\nclient\r\n/ # "  # echo, CR LF, output, prompt
        assert term.type("wget -qO- web\r").splitlines()[1].startswith(b"web-")  # through the Service
        assert term.type("ech\x7fho typo\r") == b"ech\b \bho typo\r\ntypo\r\n/ # "  # erase
        assert term.type("stty size\r") == b"stty size\r\n24 80\r\n/ # "  # the size kubectl sent at start
        term.resize(30, 100)
        os.kill(term.proc.pid, signal.SIGWINCH)  # kubectl sends the new size on the resize channel
        for _ in range(20):  # the resize and the next keystrokes travel apart: retry, bounded
            if b"30 100" in term.type("stty size\r"):
                break
        else:
            pytest.fail("the resize never reached the shell")
        assert term.type("false\r") == b"false\r\n/ # "
        os.write(term.master, b"exit 3\r")
        assert b"command terminated with exit code 3" in term.read_until(b"exit code 3")
        assert term.proc.wait(timeout=15) == 3
    finally:
        term.close()
    once = Pty(cluster, "exec", "-it", "client", "--", "hostname")  # not a shell: runs without waiting for input
    try:
        assert once.read_until(b"client\r\n") == b"client\r\n"
        assert once.proc.wait(timeout=15) == 0
    finally:
        once.close()


def test_the_line_discipline_and_shell_exit_statuses():
    from helpers.sim import shell, terminal

    lines = []

    def run(line):
        lines.append(line)
        return shell.Result("out\n", exit_code=4 if line == "fail" else 0)

    term = terminal.Terminal(run, terminal.prompt("bash", "nginx", "web-1"), "bash")
    assert term.start() == b"root@web-1:/# "
    assert term.feed(b"abc\x15fail\r") == b"abc" + b"\b \b" * 3 + b"fail\r\nout\r\nroot@web-1:/# "  # ^U
    assert term.feed(b"half\x03") == b"half^C\r\nroot@web-1:/# " and lines == ["fail"]  # ^C drops the line
    assert term.feed(b"\x04") == b"exit\r\n" and term.exit_code == 4  # ^D: bash exits with the last status
    assert terminal.is_interactive(["/bin/sh"]) and terminal.is_interactive(["bash", "-i"])
    assert not terminal.is_interactive(["sh", "-c", "hostname"])
    assert terminal.prompt("sh", "nginx", "x") == "# " and terminal.prompt("sh", "busybox", "x") == "/ # "


def test_streams_the_kubelet_cannot_serve_get_the_upstream_messages(private_sim):
    """A container with no running instance: the kubelet's "container not found"; a stopped node: the API
    server cannot dial its kubelet (both kubectl falls back from WebSocket to SPDY for, then reports)."""
    from conftest import kubectl, wait_until

    kubectl(private_sim, "run", "crash", "--image=busybox:1.36", "--restart=OnFailure", "--", "false")
    kubectl(private_sim, "run", "idle", f"--image={AGNHOST_IMAGE}", "--overrides",
            json.dumps({"spec": {"nodeSelector": {"kubernetes.io/hostname": "endpoints-worker"}}}), "--", "pause")
    kubectl(private_sim, "wait", "--for=condition=Ready", "pod/idle", "--timeout=60s")
    store = private_sim.cluster.store
    wait_until(private_sim, lambda: "waiting" in (store.get("pods", "crash", "default")["status"].get(
        "containerStatuses") or [{}])[0].get("state", {}), what="pod crash in CrashLoopBackOff")
    crashed = kubectl(private_sim, "exec", "crash", "--", "hostname", check=False)
    assert (crashed.returncode, crashed.stderr) == (
        1, 'error: unable to upgrade connection: container not found ("crash")\n')
    private_sim.cluster.stop_node("endpoints-worker")
    ip = next(a["address"] for a in store.get("nodes", "endpoints-worker")["status"]["addresses"]
              if a["type"] == "InternalIP")
    unreachable = f"error dialing backend: dial tcp {ip}:10250: connect: no route to host"
    stopped = kubectl(private_sim, "exec", "idle", "--", "hostname", check=False)
    assert (stopped.returncode, stopped.stderr) == (1, f"error: unable to upgrade connection: {unreachable}\n")
    forward = kubectl(private_sim, "port-forward", "pod/idle", ":8080", check=False, timeout=30)
    assert forward.returncode == 1 and unreachable in forward.stderr, forward.stderr
