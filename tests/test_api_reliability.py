"""Issue 20 #3, #5, #8: what the HTTP layer refuses, and how (always a Status, never a traceback)."""

import json
import logging
import socket
import threading

import pytest
from apiharness import Harness, request, stream
from builders import deployment

from helpers.sim import server as server_module

DEPLOYMENTS = "/apis/apps/v1/namespaces/default/deployments"


@pytest.fixture(scope="module")
def h():
    harness = Harness()
    yield harness
    harness.stop()


def raw(url: str, data: bytes, timeout=10) -> tuple[int, dict, bytes]:
    """Send raw bytes; returns (status, headers, body) of the answer, read to the end of the connection."""
    port = int(url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        try:
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
        except OSError:  # the server answered and closed before reading everything
            pass
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers, body


def assert_status(status: int, payload, code: int, reason: str) -> None:
    assert status == code, payload
    assert payload["kind"] == "Status" and payload["code"] == code and payload["reason"] == reason, payload


@pytest.mark.parametrize("host", ["evil.example", "evil.example:6443", "127.0.0.1.evil.example", "10.0.0.1",
                                  "localhost:abc"])
def test_foreign_host_headers_are_refused(h, host):
    status, _, payload = request(h.server.url, "GET", "/api/v1/namespaces", headers={"Host": host})
    assert_status(status, payload, 403, "Forbidden")


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.1:6443", "localhost", "LOCALHOST:1", "[::1]", "[::1]:80"])
def test_loopback_host_headers_are_answered(h, host):
    status, _, _ = request(h.server.url, "GET", "/api/v1/namespaces", headers={"Host": host})
    assert status == 200


@pytest.mark.parametrize("headers", [{"Origin": "https://evil.example"}, {"Origin": "null"},
                                     {"Sec-Fetch-Site": "cross-site"}, {"Sec-Fetch-Site": "same-site"}])
def test_browser_cross_origin_writes_and_sim_routes_are_refused(h, headers):
    status, _, payload = request(h.server.url, "POST", f"{DEPLOYMENTS}", deployment("cross"), headers)
    assert_status(status, payload, 403, "Forbidden")
    status, _, payload = request(h.server.url, "DELETE", "/api/v1/namespaces/default", headers=headers)
    assert_status(status, payload, 403, "Forbidden")
    status, _, payload = request(h.server.url, "POST", "/sim/nodes/n/stop", b"{}", headers)
    assert_status(status, payload, 403, "Forbidden")
    status, _, _ = request(h.server.url, "GET", "/api/v1/namespaces", headers=headers)  # reads stay open
    assert status == 200


def test_same_origin_and_loopback_origins_may_write(h):
    for headers in ({"Origin": "http://127.0.0.1:8001"}, {"Sec-Fetch-Site": "same-origin"}, {"Sec-Fetch-Site": "none"}):
        status, _, payload = request(h.server.url, "POST", DEPLOYMENTS, deployment("same-origin"), headers)
        assert status == 201, payload
        h.store.delete("deployments.apps", "same-origin", "default")


@pytest.mark.parametrize("content_type", ["text/plain", "text/plain;charset=UTF-8", "multipart/form-data",
                                          "application/x-www-form-urlencoded", "*/*"])
def test_writes_in_other_media_types_are_415(h, content_type):
    """A browser's simple requests carry these; none at all means JSON, as upstream (and the Python
    client sends none on create and delete)."""
    headers = {"Content-Type": content_type}
    status, _, payload = request(h.server.url, "POST", DEPLOYMENTS, deployment("typed-body"), headers)
    assert_status(status, payload, 415, "UnsupportedMediaType")
    status, _, payload = request(h.server.url, "POST", "/sim/clock/advance", b'{"seconds": 1}', headers)
    assert status in (404, 415) and payload["kind"] == "Status"  # the Harness has no /sim/ routes


def test_writes_without_a_content_type_are_json_as_upstream(h):
    status, _, payload = request(h.server.url, "POST", DEPLOYMENTS, deployment("untyped"), {"Content-Type": ""})
    assert status == 201, payload
    h.store.delete("deployments.apps", "untyped", "default")


@pytest.mark.parametrize("method", ["HEAD", "OPTIONS", "TRACE", "BREW", "CONNECT"])
def test_other_methods_are_405_with_allow(h, method):
    status, headers, body = raw(h.server.url, f"{method} /api/v1/namespaces HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    assert status == 405 and headers["Allow"] == "GET, POST, PUT, PATCH, DELETE"
    if method != "HEAD":
        assert_status(status, json.loads(body), 405, "MethodNotAllowed")


@pytest.mark.parametrize("data", [
    b"GARBAGE\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n", b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\n\r\n",
    b"GET /version HTTP/1.1\r\n" + b"X: y\r\n" * 200 + b"\r\n"])
def test_http_server_errors_are_status_json(h, data):
    status, headers, body = raw(h.server.url, data)
    assert 400 <= status < 500 and headers["Content-Type"] == "application/json"
    assert json.loads(body)["kind"] == "Status"


def test_bodies_over_3_mib_are_413_before_being_read(h):
    limit = server_module.MAX_REQUEST_BODY_BYTES
    assert limit == 3 * 1024 * 1024
    status, _, body = raw(h.server.url, b"POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json"
                                b"\r\nContent-Length: 99999999999\r\n\r\n{" % DEPLOYMENTS.encode())
    assert_status(status, json.loads(body), 413, "RequestEntityTooLarge")
    assert json.loads(body)["message"] == f"Request entity too large: limit is {limit}"
    big = deployment("big")
    big["metadata"]["annotations"] = {"a": "x" * limit}
    status, _, payload = request(h.server.url, "POST", DEPLOYMENTS, big)
    assert_status(status, payload, 413, "RequestEntityTooLarge")


@pytest.mark.parametrize("chunks", [b"zz\r\n{}\r\n0\r\n\r\n", b"-5\r\n{}\r\n0\r\n\r\n", b"5\r\n{}\r\n",
                                    b"2\r\n{}XX0\r\n\r\n", b"ffffffffffffffffff\r\n"])
def test_bad_chunked_bodies_are_400(h, chunks):
    status, _, body = raw(h.server.url, b"POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                          b"Transfer-Encoding: chunked\r\n\r\n%s" % (DEPLOYMENTS.encode(), chunks))
    assert status in (400, 413) and json.loads(body)["kind"] == "Status"


def test_a_valid_chunked_body_is_read(h):
    data = json.dumps(deployment("chunked")).encode()
    status, _, body = raw(h.server.url, b"POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                          b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n%x\r\n%s\r\n0\r\n\r\n"
                          % (DEPLOYMENTS.encode(), len(data), data))
    assert status == 201, body


@pytest.mark.parametrize("query", ["timeout=1.2.3s", "timeout=.s", "timeout=5", "timeoutSeconds=nan",
                                   "timeoutSeconds=inf", "timeoutSeconds=1.5"])
def test_bad_watch_timeouts_are_400(h, query):
    status, _, payload = request(h.server.url, "GET", f"{DEPLOYMENTS}?watch=1&{query}")
    assert_status(status, payload, 400, "BadRequest")


@pytest.mark.parametrize("options", [{"dryRun": 5}, {"gracePeriodSeconds": [1]}, {"preconditions": "x"},
                                     {"propagationPolicy": {}}, [], "x"])
def test_bad_delete_options_are_400(h, options):
    h.store.create("deployments.apps", deployment("del-opts"), namespace="default")
    try:
        status, _, payload = request(h.server.url, "DELETE", f"{DEPLOYMENTS}/del-opts", options)
        assert_status(status, payload, 400, "BadRequest")
    finally:
        h.store.delete("deployments.apps", "del-opts", "default")


def test_percent_encoded_paths_are_decoded(h):
    status, _, payload = request(h.server.url, "GET", "/api/v1/namespaces/%64efault")
    assert status == 200 and payload["metadata"]["name"] == "default"


def test_client_resets_log_no_traceback(h, caplog):
    with caplog.at_level(logging.DEBUG, logger="helpers.sim.server"):
        for _ in range(5):
            port = int(h.server.url.rsplit(":", 1)[1])
            sock = socket.create_connection(("127.0.0.1", port))
            sock.sendall(b"POST /api/v1/namespaces HTTP/1.1\r\nContent-Length: 100\r\n\r\n{")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            sock.close()  # RST
        assert request(h.server.url, "GET", "/version")[0] == 200
    assert not [r for r in caplog.records if r.exc_info], caplog.text


def test_in_flight_limit_is_429_with_retry_after(h, monkeypatch):
    assert (server_module.MAX_READS_IN_FLIGHT, server_module.MAX_WRITES_IN_FLIGHT) == (400, 200)
    full = threading.BoundedSemaphore(1)
    full.acquire()  # every slot taken
    monkeypatch.setattr(h.server._httpd, "read_slots", full)
    status, response, payload = request(h.server.url, "GET", "/api/v1/namespaces")
    assert_status(status, payload, 429, "TooManyRequests")
    assert response.getheader("Retry-After") == "1" and payload["details"]["retryAfterSeconds"] == 1
    conn, response = stream(h.server.url, "/api/v1/namespaces?watch=1&timeoutSeconds=1")
    assert response.status == 200  # watches are long-running requests: not counted
    conn.close()
    full.release()
    assert request(h.server.url, "GET", "/api/v1/namespaces")[0] == 200


def _keep_alive_request(sock: socket.socket) -> bytes:
    sock.sendall(b"GET /version HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(next(line.split(b": ")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")))
    while len(body) < length:
        body += sock.recv(65536)
    return head


def test_connections_beyond_the_cap_get_429_at_once(monkeypatch):
    harness = Harness()
    try:
        monkeypatch.setattr(server_module, "MAX_CONNECTIONS", 3)
        port = harness.server.port
        held = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(3)]
        for sock in held:  # answered: each is one of the server's connections now
            assert b" 200 " in _keep_alive_request(sock)
        status, headers, body = raw(harness.server.url, b"GET /version HTTP/1.1\r\n\r\n")
        assert_status(status, json.loads(body), 429, "TooManyRequests")
        assert headers["Retry-After"] == "1"
        for sock in held:
            sock.close()
    finally:
        harness.stop()


def test_idle_and_slow_clients_are_disconnected(monkeypatch):
    harness = Harness()
    try:
        monkeypatch.setattr(server_module, "IDLE_TIMEOUT_SECONDS", 0.2)
        monkeypatch.setattr(server_module, "READ_TIMEOUT_SECONDS", 0.2)
        port = harness.server.port
        with socket.create_connection(("127.0.0.1", port), timeout=10) as idle:
            assert b" 200 " in _keep_alive_request(idle)
            assert idle.recv(1) == b""  # closed by the server, well before the client's 10 s timeout
        with socket.create_connection(("127.0.0.1", port), timeout=10) as slow:
            slow.sendall(b"GET /version HTTP/1.1\r\nHost: 127.")  # and never the rest of the headers
            assert slow.recv(65536) == b""
        assert request(harness.server.url, "GET", "/version")[0] == 200
    finally:
        harness.stop()


def test_event_names_are_path_segments_and_every_stored_one_can_be_read_and_deleted(h):
    """core/v1 Events skip the DNS-subdomain name rule (v1.36.1 pkg/apis/core/validation/events.go: only
    events.k8s.io/v1 validates names); the registry still requires a path segment name
    (apimachinery path.IsValidPathSegmentName: not "." or "..", no "/" or "%")."""
    events = "/api/v1/namespaces/default/events"

    def event(name):
        return {"apiVersion": "v1", "kind": "Event", "metadata": {"name": name}, "reason": "R", "type": "Normal",
                "involvedObject": {"kind": "Pod", "name": "p", "namespace": "default"}}

    for bad in ("..", "a/b", "a%b"):
        status, _, payload = request(h.server.url, "POST", events, event(bad))
        assert_status(status, payload, 422, "Invalid")
    odd = "Odd Name:1"
    status, _, payload = request(h.server.url, "POST", events, event(odd))
    assert status == 201, payload
    encoded = f"{events}/Odd%20Name%3A1"
    status, _, payload = request(h.server.url, "GET", encoded)
    assert status == 200 and payload["metadata"]["name"] == odd
    assert request(h.server.url, "DELETE", encoded)[0] == 200
    assert request(h.server.url, "GET", encoded)[0] == 404
