"""``kubectl port-forward`` (the real kubectl 1.37: SPDY/3.1 tunnelled in a WebSocket) into simulated pods, a
plain SPDY upgrade driven by hand, and the SPDY framing and port-forward session on their own."""

import http.client
import re
import select
import socket
import subprocess
import time
from contextlib import contextmanager
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import pytest
from conftest import KUBECTL, kubectl

from helpers.config import AGNHOST_IMAGE
from helpers.sim.api import portforward, spdy

FORWARD_WAIT_S = 30.0


NS = "portforward"


@pytest.fixture(scope="module")
def cluster(sim):
    """The shared cluster with, in namespace NS, two netexec pods behind Service web (80 -> 8080) and a raw
    TCP serve-hostname pod."""
    k = _kubectl(sim)
    k("create", "namespace", NS)
    k("create", "deployment", "web", f"--image={AGNHOST_IMAGE}", "--replicas=2", "--", "/agnhost", "netexec")
    k("expose", "deployment", "web", "--port=80", "--target-port=8080")
    k("run", "raw", f"--image={AGNHOST_IMAGE}", "--", "/agnhost", "serve-hostname", "--tcp")
    k("wait", "--for=condition=Ready", "pod/raw", "--timeout=60s")
    k("rollout", "status", "deployment/web", "--timeout=60s")
    yield sim
    kubectl(sim, "delete", "namespace", NS, "--wait=false")


def _kubectl(handle):
    def run(*args):
        return kubectl(handle, f"--namespace={NS}", *args).stdout
    return run


@contextmanager
def forward(cluster, target: str, remote: int):
    """``kubectl port-forward <target> :<remote>``; yields (local port, the pod port kubectl chose, the process)."""
    proc = subprocess.Popen([KUBECTL, f"--kubeconfig={cluster.kubeconfig}", f"--namespace={NS}", "port-forward",
                             "--address=127.0.0.1", target, f":{remote}"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        ready, _, _ = select.select([proc.stdout], [], [], FORWARD_WAIT_S)
        line = proc.stdout.readline() if ready else ""
        match = re.match(r"Forwarding from 127\.0\.0\.1:(\d+) -> (\d+)", line)
        assert match, f"kubectl port-forward did not start within {FORWARD_WAIT_S}s: {line!r} {_stop(proc)}"
        yield int(match.group(1)), int(match.group(2)), proc
    finally:
        _stop(proc)


def _stop(proc) -> str:
    if proc.poll() is None:
        proc.terminate()
    try:
        return proc.communicate(timeout=10)[1]
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.communicate(timeout=10)[1]


def _get(port: int, path: str, conn=None) -> tuple[int, str, dict]:
    conn = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", path)
    response = conn.getresponse()
    return response.status, response.read().decode(), dict(response.getheaders())


def test_port_forward_to_a_pod_reaches_netexec(cluster):
    k = _kubectl(cluster)
    pod = k("get", "pods", "-l", "app=web", "-o", "jsonpath={.items[0].metadata.name}")
    with forward(cluster, f"pod/{pod}", 8080) as (port, _remote, proc):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        status, body, headers = _get(port, "/hostname", conn)
        assert (status, body) == (200, pod)
        assert headers["Content-Type"] == "text/plain; charset=utf-8" and headers["Content-Length"] == str(len(pod))
        assert _get(port, "/echo?msg=through-the-tunnel", conn)[1] == "through-the-tunnel"  # same connection
        status, body, headers = _get(port, "/no/such/path", conn)  # netexec's catch-all "/": the cluster's time
        stamped = datetime.strptime(body[:24], "NOW: %Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
        assert status == 200 and re.fullmatch(r"NOW: [-\d]{10} [:\d]{8}(\.\d+)? \+0000 UTC m=\+\d+\.\d{9}", body), body
        assert abs((stamped - parsedate_to_datetime(headers["Date"])).total_seconds()) <= 1
        conn.close()
        assert _get(port, "/hostname")[1] == pod  # a second forwarded connection
        assert proc.poll() is None


def test_port_forward_to_a_service_picks_one_of_its_pods_and_its_target_port(cluster):
    k = _kubectl(cluster)
    pods = set(k("get", "pods", "-l", "app=web", "-o", "jsonpath={.items[*].metadata.name}").split())
    with forward(cluster, "svc/web", 80) as (port, remote, _proc):
        answers = {_get(port, "/hostname")[1] for _ in range(3)}
    assert remote == 8080  # kubectl translates the Service port to the pod's targetPort
    assert len(answers) == 1 and answers <= pods  # kubectl forwards to one pod, not through the Service


def test_a_raw_tcp_listener_answers_and_closes(cluster):
    with forward(cluster, "pod/raw", 9376) as (port, _remote, _proc), \
            socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        data = b""
        while chunk := sock.recv(4096):
            data += chunk
    assert data == b"raw"


def test_a_port_nobody_listens_on_gives_containerd_s_error_and_kubectl_stops(cluster):
    with forward(cluster, "pod/raw", 81) as (port, _remote, proc):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            try:
                answer = sock.recv(4096)
            except ConnectionResetError:
                answer = b""
            assert answer == b""  # closed without an answer
        proc.wait(timeout=FORWARD_WAIT_S)
        stderr = _stop(proc)
    assert proc.returncode == 1
    assert re.search(r'error forwarding port 81 to pod [0-9a-f]{64}, uid : failed to execute portforward in network '
                     r'namespace \\"/var/run/netns/cni-[0-9a-f-]{36}\\": failed to connect to localhost:81 inside '
                     r'namespace \\"[0-9a-f]{64}\\", IPv4: dial tcp4 127\.0\.0\.1:81: connect: connection refused '
                     r'IPv6 dial tcp6 \[::1\]:81: connect: connection refused', stderr), stderr
    assert "lost connection to pod" in stderr


# -- a plain SPDY upgrade, by hand ----------------------------------------------------------------------------
def _upgrade(cluster, pod: str, headers: str) -> tuple[socket.socket, bytes]:
    sock = socket.create_connection(("127.0.0.1", cluster.port), timeout=10)
    sock.sendall(f"POST /api/v1/namespaces/{NS}/pods/{pod}/portforward HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                 f"{headers}\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head and (chunk := sock.recv(1)):
        head += chunk
    return sock, head


def _frames(sock, reader: spdy.Reader, until) -> list[spdy.Frame]:
    frames: list[spdy.Frame] = []
    deadline = time.monotonic() + 10
    while not until(frames):
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        chunk = sock.recv(65536)
        assert chunk, f"connection closed; frames so far: {frames}"
        frames += reader.feed(chunk)
    return frames


def test_a_plain_spdy_upgrade_forwards_and_validates_stream_headers(cluster):
    sock, head = _upgrade(cluster, "raw", "Connection: Upgrade\r\nUpgrade: SPDY/3.1\r\n"
                                          "X-Stream-Protocol-Version: portforward.k8s.io\r\n")
    with sock:
        assert head.startswith(b"HTTP/1.1 101") and b"X-Stream-Protocol-Version: portforward.k8s.io" in head
        writer, reader = spdy.Writer(), spdy.Reader()
        sock.sendall(writer.syn_stream(1, {"streamType": ["bogus"], "port": ["9376"]}))
        assert [(f.kind, f.stream_id, f.status) for f in _frames(sock, reader, len)] == [
            (spdy.RST_STREAM, 1, spdy.CANCEL)]  # rejected: not error/data
        sock.sendall(writer.syn_stream(3, {"streamType": ["error"], "port": ["9376"], "requestID": ["7"]})
                     + writer.syn_stream(5, {"streamType": ["data"], "port": ["9376"], "requestID": ["7"]})
                     + writer.ping(1))
        frames = _frames(sock, reader, lambda fs: any(f.kind == spdy.DATA and f.stream_id == 3 and f.fin
                                                       for f in fs))
        assert [(f.kind, f.stream_id) for f in frames if f.kind != spdy.DATA] == [
            (spdy.SYN_REPLY, 3), (spdy.SYN_REPLY, 5), (spdy.PING, 0)]
        data = [f for f in frames if f.kind == spdy.DATA]
        assert b"".join(f.data for f in data if f.stream_id == 5) == b"raw"
        assert [(f.stream_id, f.fin) for f in data if f.fin] == [(5, True), (3, True)]  # data closes, then error


@pytest.mark.parametrize("headers,code,message", [
    ("Connection: Upgrade\r\nUpgrade: SPDY/3.1\r\n", 400,
     "unable to upgrade: header X-Stream-Protocol-Version does not exist"),
    ("Connection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: v4.channel.k8s.io\r\n", 403,
     "unable to negotiate protocol: client supports [v4.channel.k8s.io], server accepts [portforward.k8s.io]"),
    (("Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
      "Sec-WebSocket-Key: MDEyMzQ1Njc4OWFiY2RlZg==\r\nSec-WebSocket-Protocol: v5.channel.k8s.io\r\n"), 400,
     "unable to upgrade: no tunneling spdy protocols provided"),
])
def test_upgrades_it_cannot_serve_get_the_kubelet_s_status(cluster, headers, code, message):
    sock, head = _upgrade(cluster, "raw", headers)
    with sock:
        assert head.startswith(f"HTTP/1.1 {code}".encode()), head
        body = b""
        while message.encode() not in body and (chunk := sock.recv(65536)):
            body += chunk
    assert message.encode() in body, body


# -- the session on its own ---------------------------------------------------------------------------------
def test_a_stream_pair_that_never_completes_times_out_on_its_error_stream():
    session = portforward.Session(lambda port: None, "sandbox", "/var/run/netns/cni-x", now=0.0)
    writer = spdy.Writer()
    replies = spdy.Reader().feed(session.receive(
        writer.syn_stream(1, {"streamType": ["error"], "port": ["80"], "requestID": ["0"]}), now=0.0))
    assert [f.kind for f in replies] == [spdy.SYN_REPLY]
    assert session.next_deadline() == portforward.STREAM_CREATION_TIMEOUT_S
    assert session.expire(29.0) == b""
    frames = spdy.Reader().feed(session.expire(30.0))
    assert len(frames) == 1 and frames[0].data.endswith(b", request=0) timed out waiting for streams")
    assert session.pairs == {}


def test_the_framer_rejects_what_spdystream_rejects():
    writer = spdy.Writer()
    with pytest.raises(spdy.ProtocolError, match="invalid header"):
        spdy.Reader().feed(writer.syn_stream(1, {"host": ["x"]}))
    with pytest.raises(spdy.ProtocolError, match="version"):
        spdy.Reader().feed(b"\x80\x02\x00\x06\x00\x00\x00\x04\x00\x00\x00\x01")
    session = portforward.Session(lambda port: None, "s", "n", now=0.0)
    goaway = spdy.Reader().feed(session.receive(b"\x80\x03\x00\x06\x01\x00\x00\x04\x00\x00\x00\x01", now=0.0))
    assert [(f.kind, f.status) for f in goaway] == [(spdy.GOAWAY, spdy.GOAWAY_PROTOCOL_ERROR)] and session.closed
