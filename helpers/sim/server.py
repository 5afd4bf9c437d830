"""The simulator's HTTP layer: the Kubernetes API (plus the ``/sim/`` control interface) on loopback.

A stdlib ``ThreadingHTTPServer`` in a daemon thread; one thread per connection, so each watch holds a
thread. Everything Kubernetes-specific is delegated: state and semantics to ``Store``, documents to
``helpers.sim.api``. This module only maps HTTP requests onto those calls and answers with JSON,
``Table`` or ``Status`` bodies (never a traceback: unexpected errors become a 500 ``Status``).
"""

import ipaddress
import json
import logging
import platform
import select
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

from helpers.config import KUBERNETES_VERSION

from . import shell, terminal
from .api import (
    auth,
    decoding,
    discovery,
    eviction,
    fields,
    listoptions,
    openapi,
    pagination,
    patch_options,
    portforward,
    printers,
    protobuf,
    routing,
    shapes,
    tokens,
    websocket,
)
from .api.errors import (
    ApiError,
    bad_request,
    forbidden_request,
    internal,
    method_not_allowed,
    status_details,
    too_large,
    too_many_requests,
    unsupported_media_type,
)
from .api.routing import Target
from .store import CompactedError, Store

log = logging.getLogger(__name__)

ENDPOINTS_WARNING = '299 - "v1 Endpoints is deprecated in v1.33+; use discovery.k8s.io/v1 EndpointSlice"'
_PATCH_TYPES = ("application/merge-patch+json", "application/json-patch+json",
                "application/strategic-merge-patch+json", "application/apply-patch+yaml")
_WATCH_POLL_SECONDS = 2.0
WATCH_DRAIN_S = 5.0  # how long shutdown lets watches send what they had queued
_WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
_ALLOW = "GET, POST, PUT, PATCH, DELETE"
_LONG_RUNNING = ("attach", "exec", "log", "portforward", "proxy")  # subresources, as BasicLongRunningRequestCheck
# kube-apiserver's limits (k8s.io/apiserver/pkg/server/config.go: MaxRequestBodyBytes = 3 MiB,
# MaxRequestsInFlight 400, MaxMutatingRequestsInFlight 200; secure_serving.go: ReadHeaderTimeout 32 s,
# IdleTimeout 90 s). Watches are long-running requests and do not count as in flight, as upstream.
MAX_REQUEST_BODY_BYTES = 3 * 1024 * 1024
MAX_READS_IN_FLIGHT = 400
MAX_WRITES_IN_FLIGHT = 200
READ_TIMEOUT_SECONDS = 32.0
IDLE_TIMEOUT_SECONDS = 90.0
# one thread and one descriptor per connection: beyond this many, new connections get a 429 at once
MAX_CONNECTIONS = 1000
ATTACH_WAIT_S = 30.0  # how long an attach waits for the main process to exit before it just holds the stream
# Registries that answer a completed DELETE with the object itself; the others answer a Success Status.
_RETURNS_DELETED_OBJECT = {"pods", "services", "namespaces"}  # how often an idle watch checks whether its client went away


def default_version_info() -> dict:
    machine = {"x86_64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(platform.machine(), platform.machine())
    major, minor, _ = KUBERNETES_VERSION.lstrip("v").split(".")
    return {"major": major, "minor": minor, "gitVersion": f"{KUBERNETES_VERSION}-sim",
            "gitCommit": "0000000000000000000000000000000000000000", "gitTreeState": "clean",
            "buildDate": "2026-09-23T00:00:00Z", "goVersion": "go1.26.8", "compiler": "gc",
            "platform": f"linux/{machine}"}


class ApiServer:
    """A running server: ``url``, ``port``, ``shutdown()``."""

    def __init__(self, httpd: "_HTTPServer", thread: threading.Thread):
        self._httpd = httpd
        self._thread = thread
        self.port = httpd.server_address[1]
        self.url = f"http://{httpd.server_address[0]}:{self.port}"

    @property
    def watches(self) -> set:
        """The watches being served right now (a snapshot), e.g. to wait until a client's watch is open."""
        return self._httpd.watches.copy()

    def shutdown(self) -> None:
        """Stop serving: end every watch, close open connections, release the port."""
        httpd = self._httpd
        httpd.closing.set()
        for w in list(httpd.watches):
            w.stop()
        # A stopped watch still sends what it had queued; let those handlers finish before the sockets
        # are cut, so no watcher misses an event committed before the shutdown (bounded: a client that
        # does not read must not hold the shutdown up).
        with httpd.watches_changed:
            httpd.watches_changed.wait_for(lambda: not httpd.watches, timeout=WATCH_DRAIN_S)
        httpd.shutdown()
        for conn in list(httpd.connections):
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        httpd.server_close()
        self._thread.join(timeout=5)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128  # the default backlog of 5 drops connections when many clients start at once

    def __init__(self, address, store, control, version_info, bookmark_interval):
        super().__init__(address, _Handler)
        self.store = store
        self.control = control
        self.version_info = version_info
        self.bookmark_interval = bookmark_interval
        self.block_timeout = listoptions.BLOCK_TIMEOUT_S  # how long a list waits for a future revision
        self.watches = set()
        self.watches_changed = threading.Condition()
        self.connections = set()
        self.closing = threading.Event()
        self.read_slots = threading.BoundedSemaphore(MAX_READS_IN_FLIGHT)
        self.write_slots = threading.BoundedSemaphore(MAX_WRITES_IN_FLIGHT)
        self.refusers = threading.BoundedSemaphore(16)

    def process_request(self, request, client_address):
        """One thread per connection, up to MAX_CONNECTIONS; beyond that a 429 (from a few threads of
        their own: one that cannot be had closes the connection at once)."""
        if len(self.connections) >= MAX_CONNECTIONS:
            if self.refusers.acquire(blocking=False):
                threading.Thread(target=self._refuse, args=(request,), daemon=True).start()
            else:
                self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def _refuse(self, request) -> None:
        body = _dumps(too_many_requests().status())
        try:
            request.settimeout(1.0)
            request.sendall(b"HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\n"
                            b"Retry-After: 1\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s"
                            % (len(body), body))
            request.shutdown(socket.SHUT_WR)
            # read what the client sent before closing: unread data would reset the connection before
            # the client has read the answer
            budget = 65536
            while budget > 0 and (data := request.recv(4096)):
                budget -= len(data)
        except OSError:
            pass
        finally:
            request.close()
            self.refusers.release()

    def handle_error(self, request, client_address):
        """A connection's failure is logged (without a traceback for what clients cause: resets)."""
        error = sys.exc_info()[1]
        if isinstance(error, OSError | ValueError):
            log.debug("simulated API server: connection from %s ended: %s", client_address, error)
        else:
            log.exception("simulated API server: connection from %s failed", client_address)


def serve(store: Store, *, host: str = "127.0.0.1", port: int = 0, control=None, version_info=None,
          bookmark_interval: float = 60.0) -> ApiServer:
    """Serve ``store`` over HTTP on a loopback address in a daemon thread.

    ``control(method, path, query, body) -> (status, content_type, body)`` answers ``/sim/...``;
    ``bookmark_interval`` is how often idle watches that allow bookmarks get one (seconds).
    """
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if not loopback:
        raise ValueError(f"the simulated API server only binds loopback addresses, not {host!r}")
    httpd = _HTTPServer((host, port), store, control, version_info or default_version_info(),
                        bookmark_interval)
    # shutdown() waits until the accept loop polls again: 0.05 s instead of the default 0.5 s
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                              name=f"sim-apiserver-{httpd.server_address[1]}", daemon=True)
    thread.start()
    return ApiServer(httpd, thread)


def _first(query: dict) -> dict:
    return {k: v[0] for k, v in query.items()}




def next_bookmark_time(now: float, deadline: float | None, frequency: float) -> float | None:
    """When a watch sends its next bookmark, as the watch cache decides (cacheWatcher.nextBookmarkTime in
    k8s.io/apiserver/pkg/storage/cacher/cache_watcher.go): every ``frequency`` seconds (a minute), but no later
    than 2 s before the watch's deadline, so a client that re-watches on timeout resumes from a fresh
    resourceVersion; None once that pre-timeout moment has passed."""
    due = now + frequency
    if deadline is not None:
        due = min(due, deadline - 2.0)
    return due if due >= now else None


def _internal_error_status(message: str) -> dict:
    """The Status the kubelet writes on the exec error channel when the runtime fails (apierrors.NewInternalError)."""
    return {"metadata": {}, "status": "Failure", "message": f"Internal error occurred: {message}",
            "reason": "InternalError", "details": {"causes": [{"message": message}]}, "code": 500}


def _truthy(value) -> bool:
    return str(value).lower() in ("true", "1")


def _dumps(obj) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def _still_there(store: Store, info, obj: dict) -> bool:
    """Whether a deleted object is still stored (graceful deletion or finalizers pending)."""
    try:
        current = store.get(info.key, obj["metadata"]["name"], obj["metadata"].get("namespace"))
    except ApiError:
        return False
    return current["metadata"]["uid"] == obj["metadata"]["uid"]


def _success(info, obj: dict) -> dict:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
            "details": status_details(obj["metadata"]["name"], info.group, info.plural, uid=obj["metadata"]["uid"])}


def _tail(text: str, query: dict) -> str:
    """Apply the pods/log options ``tailLines`` and ``limitBytes``."""
    try:
        tail = int(query["tailLines"]) if query.get("tailLines") else None
        limit = int(query["limitBytes"]) if query.get("limitBytes") else None
    except ValueError:
        raise bad_request("tailLines and limitBytes must be integers") from None
    if tail is not None:
        text = "".join(text.splitlines(keepends=True)[-tail:] if tail > 0 else [])
    return text.encode()[:limit].decode(errors="ignore") if limit is not None else text


def _media_type(headers) -> str:
    return (headers.get("Content-Type") or "").split(";")[0].strip().lower()


def _loopback_name(name: str) -> bool:
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _loopback_authority(authority: str) -> bool:
    """Whether a Host header (``name[:port]``, ``[v6][:port]``) names this machine's loopback."""
    authority = authority.strip().lower()
    if authority.startswith("["):
        name, _, port = authority[1:].partition("]")
        port = port[1:] if port.startswith(":") else ("x" if port else "")
    else:
        name, _, port = authority.partition(":")
    return (not port or port.isdigit()) and _loopback_name(name)


def _loopback_origin(origin: str) -> bool:
    scheme, _, authority = origin.strip().partition("://")
    return scheme.lower() in ("http", "https") and _loopback_authority(authority)


def _go_duration_seconds(text: str) -> float:
    """Parse Go durations such as ``32s``, ``1m30s``, ``500ms`` (the ``timeout`` query parameter)."""
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}
    total, number = 0.0, ""
    i = 0
    while i < len(text):
        ch = text[i]
        if ch.isdigit() or ch == ".":
            number += ch
            i += 1
            continue
        unit = text[i:i + 2] if text[i:i + 2] in units else ch
        if unit not in units or not number or number.count(".") > 1 or number == ".":
            raise bad_request(f'invalid timeout "{text}"')
        total += float(number) * units[unit]
        number, i = "", i + len(unit)
    if number:
        raise bad_request(f'invalid timeout "{text}": missing unit')
    return total


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HTTPServer

    def log_message(self, format, *args):
        log.debug("%s - %s", self.address_string(), format % args)

    def setup(self):
        super().setup()
        # headers and body go out in separate writes: without NODELAY, Nagle plus the client's delayed
        # ACK add ~40 ms to every response
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.connections.add(self.connection)

    def finish(self):
        if getattr(self, "_drain", False):
            self._discard_unread()
        self.server.connections.discard(self.connection)
        try:
            super().finish()
        except OSError:
            pass

    def _discard_unread(self) -> None:
        """After a 413 the body is left unread; closing with unread data would reset the connection
        before the client reads the answer, so read on (bounded), as Go's server does before closing."""
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_WR)
            self.connection.settimeout(1.0)
            budget = MAX_REQUEST_BODY_BYTES + 65536
            while budget > 0 and (data := self.connection.recv(65536)):
                budget -= len(data)
        except OSError:
            pass

    def do_GET(self):
        self._handle("GET")

    def do_POST(self):
        self._handle("POST")

    def do_PUT(self):
        self._handle("PUT")

    def do_PATCH(self):
        self._handle("PATCH")

    def do_DELETE(self):
        self._handle("DELETE")

    # ------------------------------------------------------------- plumbing

    def do_HEAD(self):
        self._handle("HEAD")

    def do_OPTIONS(self):
        self._handle("OPTIONS")

    def handle(self):
        """Serve the connection's requests; a client that resets or stalls only ends its own connection."""
        try:
            self.connection.settimeout(READ_TIMEOUT_SECONDS)
            self.close_connection = True
            self.handle_one_request()
            while not self.close_connection:
                # a keep-alive connection may idle between requests for IDLE_TIMEOUT_SECONDS
                readable, _, _ = select.select([self.connection], [], [], IDLE_TIMEOUT_SECONDS)
                if not readable or self.server.closing.is_set():
                    return
                self.handle_one_request()
        except (OSError, ValueError):  # reset, timeout or a connection closed under us at shutdown
            self.close_connection = True

    def send_error(self, code, message=None, explain=None):
        """http.server's own errors (bad request line, 414, 431, unknown method) as Status JSON."""
        self.close_connection = True
        self._warnings = []
        self.request_version = self.protocol_version  # an unparsable request line still gets a status line
        if code == 501:  # a method no do_* handles
            error = method_not_allowed()
        else:
            # what http.server refuses is the client's doing (505 for HTTP/2+ on an HTTP/1 port included)
            error = ApiError(code if code < 500 else 400, "BadRequest", message or "bad request")
        self._error(error)

    def _handle(self, method: str) -> None:
        self._headers_sent = False
        self._warnings = []
        self._method = method
        slot = None
        try:
            url = urlsplit(self.path)
            path = unquote(url.path)  # as Go's net/http hands the apiserver r.URL.Path
            self._screen(method, path)
            if method not in _WRITE_METHODS and method != "GET":
                raise method_not_allowed()
            query = _first(parse_qs(url.query, keep_blank_values=True))
            slot = self._in_flight_slot(method, path, query)
            body = self._read_body()
            self._route(method, path, query, body)
        except ApiError as e:
            self._error(e)
        except OSError:  # the client went away (reset, broken pipe, timeout)
            self.close_connection = True
        except Exception:  # our bug: a Status without internals for the client, the traceback in the log
            log.exception("simulated API server: %s %s failed", method, self.path)
            self._error(internal("the simulated API server failed to handle this request"))
        finally:
            if slot is not None:
                slot.release()

    def _screen(self, method: str, path: str) -> None:
        """Answer only loopback Host names (no DNS rebinding) and refuse browsers' cross-origin requests
        to /sim/ and to write verbs (a page cannot stop a node or delete a pod through this port)."""
        host = self.headers.get("Host")
        if host is not None and not _loopback_authority(host):
            raise forbidden_request(f'the simulated API server answers only loopback hosts, not "{host}"')
        if not (method in _WRITE_METHODS or path == "/sim" or path.startswith("/sim/")):
            return
        site = (self.headers.get("Sec-Fetch-Site") or "").lower()
        origin = self.headers.get("Origin")
        if site in ("cross-site", "same-site") or (origin is not None and not _loopback_origin(origin)):
            raise forbidden_request("cross-origin requests to the simulated API server are refused")

    def _in_flight_slot(self, method: str, path: str, query: dict):
        """A slot of the max-in-flight limit (reads and writes apart), or 429; long-running requests take none:
        watches and the streaming subresources (pkg/controlplane/apiserver/config.go LongRunningFunc)."""
        parts = path.split("/")
        if method == "GET" and _truthy(query.get("watch", "")) or (
                len(parts) > 3 and parts[-1] in _LONG_RUNNING and parts[-3] in ("pods", "services", "nodes")):
            return None
        slots = self.server.write_slots if method in _WRITE_METHODS else self.server.read_slots
        if not slots.acquire(blocking=False):
            raise too_many_requests()
        return slots

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            return self._read_chunked()
        text = (self.headers.get("Content-Length") or "0").strip()
        if not text.isdigit():
            self.close_connection = True  # the body's extent is unknown: this connection cannot be reused
            raise bad_request("invalid Content-Length header")
        length = int(text)
        if length > MAX_REQUEST_BODY_BYTES:
            self.close_connection = True  # the body is left unread
            raise too_large(MAX_REQUEST_BODY_BYTES)
        body = self.rfile.read(length) if length else b""
        if len(body) < length:
            self.close_connection = True
            raise bad_request("unexpected EOF reading the request body")
        return body

    def _read_chunked(self) -> bytes:
        chunks, total = [], 0
        while True:
            line = self.rfile.readline(1024).split(b";")[0].strip()
            if not line or len(line) > 16 or any(c not in b"0123456789abcdefABCDEF" for c in line):
                self.close_connection = True
                raise bad_request("invalid chunked transfer encoding")
            size = int(line, 16)
            total += size
            if total > MAX_REQUEST_BODY_BYTES:
                self.close_connection = True
                raise too_large(MAX_REQUEST_BODY_BYTES)
            if size == 0:
                while self.rfile.readline(1024).strip():  # trailers, up to the blank line
                    pass
                return b"".join(chunks)
            chunk = self.rfile.read(size)
            if len(chunk) < size or self.rfile.readline(1024).strip():
                self.close_connection = True
                raise bad_request("invalid chunked transfer encoding")
            chunks.append(chunk)

    def _error(self, error: ApiError) -> None:
        if getattr(self, "_headers_sent", False):
            self.close_connection = True
            return
        self._drain = error.code == 413  # let a client still sending its body read the answer
        extra = {}
        if error.code == 405:
            extra["Allow"] = _ALLOW
        retry = (error.details or {}).get("retryAfterSeconds")
        if retry:  # responsewriters.ErrorNegotiated: a Status with a retry period sets the header
            extra["Retry-After"] = str(retry)
        self._send(error.code, _dumps(error.status()), "application/json", extra)

    def _send(self, code: int, body: bytes, content_type: str, extra: dict | None = None) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-cache, private")
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        for warning in self._warnings:
            self.send_header("Warning", warning)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self._headers_sent = True
        if getattr(self, "_method", self.command) != "HEAD":
            self.wfile.write(body)

    def _send_json(self, code: int, obj, content_type: str = "application/json") -> None:
        self._send(code, _dumps(obj), content_type)

    def _wants_table(self) -> bool:
        accept = self.headers.get("Accept", "")
        return "as=Table" in accept and "g=meta.k8s.io" in accept

    def _decode(self, body: bytes, *, patch: bool = False, kind: str | None = None):
        """The request body as JSON-shaped data, from JSON, YAML or (not for patches) Kubernetes protobuf;
        415 for other media types (CBOR included: kubectl 1.37 only sends it behind a feature gate).
        ``kind``: the object a create/update expects, named in the 400 for a body that is not JSON."""
        content_type = _media_type(self.headers)
        if content_type == protobuf.CONTENT_TYPE and not patch:
            try:
                return decoding.checked(protobuf.decode(body))
            except protobuf.ProtobufError as e:
                raise bad_request(str(e)) from None
        if patch:
            if content_type not in _PATCH_TYPES:
                raise ApiError(415, "UnsupportedMediaType",
                               f'the server does not support patch type "{content_type}"; supported: '
                               + ", ".join(_PATCH_TYPES))
        elif content_type not in ("", "application/json", "application/yaml", "text/yaml"):
            # none at all is JSON, as upstream's NegotiateInputSerializerForMediaType takes the first
            # serializer (the Python client sends none on create and delete); a browser's simple
            # requests (text/plain, forms) are 415s
            raise unsupported_media_type()
        if not body.strip():
            raise bad_request("the request body is empty")
        try:
            return decoding.from_json(body)
        except ValueError as e:
            if content_type not in ("application/yaml", "text/yaml", "application/apply-patch+yaml"):
                if patch:  # apiserver v0.37.0 endpoints/handlers/patch.go validateAndTranscodePatch
                    raise bad_request("invalid JSON patch") from None
                if kind and isinstance(e, json.JSONDecodeError):
                    raise unrecognized_object(kind, e, body) from None
                raise bad_request(f"json parse error: {e}") from None
        return decoding.from_yaml(body)

    def _checked(self, target: Target, body, query: dict):
        """Apply ``fieldValidation`` to an object-shaped body: Strict refuses unknown fields (400), Warn
        (the default) drops them with a Warning header, Ignore drops them silently."""
        if not isinstance(body, dict):
            return body
        info = target.resource
        unknown = fields.unknown_fields(info.kind, body)
        if not unknown:
            return body
        mode = query.get("fieldValidation") or "Warn"
        if mode == "Strict":
            raise bad_request(fields.strict_error_message(info.kind, info.api_version, unknown))
        if mode == "Warn":
            self._warnings += [f'299 - "unknown field \\"{path}\\""' for path in unknown]
        fields.drop_unknown(body, unknown)
        return body

    # ------------------------------------------------------------- routing

    def _route(self, method: str, path: str, query: dict, body: bytes) -> None:
        if path == "/sim" or path.startswith("/sim/"):
            return self._control(method, path, query, body)
        document = self._document(path) if method == "GET" else None
        if document is not None:
            payload, content_type = document
            return self._send(200, payload if isinstance(payload, bytes) else _dumps(payload), content_type)
        if path.startswith(("/api/", "/apis/")):
            group, version, target = routing.parse(path)
            if target is None:
                if method != "GET":
                    raise method_not_allowed()
                return self._send_json(200, discovery.api_resource_list(group, version))
            return self._resource(method, target, query, body)
        raise routing.not_found_path()

    def _document(self, path: str):
        """``(payload, content_type)`` for discovery, version, health and OpenAPI paths, else None."""
        json_type = "application/json"
        if path == "/version":
            return self.server.version_info, json_type
        if path in ("/healthz", "/livez", "/readyz"):
            return b"ok", "text/plain; charset=utf-8"
        if path in ("/api", "/apis"):
            if discovery.wants_aggregated(self.headers.get("Accept", "")):
                return discovery.aggregated(core=path == "/api"), discovery.AGGREGATED_CONTENT_TYPE
            return (discovery.api_versions() if path == "/api" else discovery.api_group_list()), json_type
        parts = [p for p in path.split("/") if p]
        if len(parts) == 2 and parts[0] == "apis" and discovery.api_group(parts[1]):
            return discovery.api_group(parts[1]), json_type
        if path == "/openapi/v3":
            return openapi.index(self.server.version_info), json_type
        if path.startswith("/openapi/v3/"):
            doc = openapi.group_version_document(path[len("/openapi/v3/"):], self.server.version_info)
            if doc is None:
                raise routing.not_found_path()
            return doc, json_type
        return None

    def _control(self, method: str, path: str, query: dict, body: bytes) -> None:
        if self.server.control is None:
            raise routing.not_found_path()
        if method in _WRITE_METHODS and _media_type(self.headers) not in ("", "application/json"):
            raise unsupported_media_type()
        status, content_type, payload = self.server.control(method, path, query, body)
        self._send(status, payload, content_type)

    def _resource(self, method: str, target: Target, query: dict, body: bytes) -> None:
        info = target.resource
        if info.key == "endpoints":
            self._warnings.append(ENDPOINTS_WARNING)
        if info.namespaced and target.name is not None and target.namespace is None:
            raise routing.not_found_path()
        if target.subresource:
            return self._subresource(method, target, query, body)
        if info.verbs == ("create",):
            if method != "POST" or target.name is not None:
                raise method_not_allowed()
            return self._send_json(201, auth.review(info, self._decode(body)))
        if target.name is None:
            handlers = {"GET": self._list_or_watch, "POST": self._create, "DELETE": self._delete_collection}
        else:
            handlers = {"GET": self._get, "PUT": self._update, "PATCH": self._patch, "DELETE": self._delete}
        handler = handlers.get(method)
        if handler is None:
            raise method_not_allowed()
        handler(target, query, body)

    # ------------------------------------------------------------- verbs

    def _respond_object(self, code: int, target: Target, obj: dict) -> None:
        if self._wants_table():
            return self._send_json(code, printers.table(target.resource.key, [obj], self.server.store.clock.now(),
                                                        resource_version=obj["metadata"].get("resourceVersion", "")),
                                   printers.TABLE_CONTENT_TYPE)
        self._send_json(code, obj)

    def _reply(self, code: int, target: Target, obj: dict, subresource) -> None:
        """Subresource answers (Scale, status) are plain JSON; main-resource answers may be Tables."""
        if subresource:
            self._send_json(code, obj)
        else:
            self._respond_object(code, target, obj)

    def _get(self, target: Target, query: dict, body: bytes) -> None:
        self._respond_object(200, target, self.server.store.get(target.resource.key, target.name, target.namespace))

    def _list_or_watch(self, target: Target, query: dict, body: bytes) -> None:
        watch = _truthy(query.get("watch", ""))
        listoptions.validate(query, watch=watch)
        if watch:
            return self._watch(target, query)
        store, info = self.server.store, target.resource
        items, list_meta = self._list_page(target, query)
        if self._wants_table():
            table = printers.table(info.key, items, store.clock.now(), resource_version=list_meta["resourceVersion"],
                                   include_object=query.get("includeObject", "Metadata"), listed=True)
            table["metadata"] = list_meta
            return self._send_json(200, table, printers.TABLE_CONTENT_TYPE)
        self._send_json(200, {"kind": f"{info.kind}List", "apiVersion": info.api_version,
                              "metadata": list_meta, "items": items})

    def _list_page(self, target: Target, query: dict) -> tuple[list, dict]:
        """The items of one page and its ListMeta (``continue`` and ``remainingItemCount`` when more follow).

        Only the page is read and serialised. Later pages read the snapshot of the first (the token's
        revision), so a chunked list is consistent; a token whose revision was compacted gets upstream's
        410 Expired, with a token that reads the rest from the current state."""
        info = target.resource
        limit = listoptions.parse_int64(query.get("limit") or "0")
        token = query.get("continue")
        after = at = None
        store = self.server.store
        if token:
            if query.get("resourceVersion"):
                raise bad_request("specifying resource version is not allowed when using continue")
            after, at = pagination.decode(token, target.namespace, info.namespaced)
        else:
            mode, wanted = listoptions.read_plan(query, limit)
            if wanted and int(store.resource_version) < wanted:
                current = store.wait_for_revision(wanted, self.server.block_timeout)
                if current < wanted:
                    raise listoptions.too_large(wanted, current)
            if mode == listoptions.EXACT:
                at = wanted
        across = info.namespaced and target.namespace is None
        try:
            items, rv, more, remaining = store.list_chunk(
                info.key, target.namespace, query.get("labelSelector"), query.get("fieldSelector"),
                limit=max(limit, 0), after=after, at=at)
        except CompactedError:
            if not token:
                raise listoptions.too_old() from None
            raise pagination.expired(after, across_namespaces=across) from None
        list_meta = {"resourceVersion": rv}
        if more:
            last = items[-1]["metadata"]
            list_meta["continue"] = pagination.encode((last.get("namespace", ""), last["name"]), int(rv),
                                                      across_namespaces=across)
            if remaining is not None:
                list_meta["remainingItemCount"] = remaining
        return items, list_meta

    def _field_manager(self, query: dict) -> str:
        agent = self.headers.get("User-Agent") or "unknown"
        return query.get("fieldManager") or agent.split("/")[0].strip() or "unknown"

    def _create(self, target: Target, query: dict, body: bytes) -> None:
        obj = self._checked(target, self._decode(body, kind=target.resource.kind), query)
        created = self.server.store.create(target.resource.key, obj, namespace=target.namespace,
                                           dry_run=query.get("dryRun") == "All",
                                           field_manager=self._field_manager(query))
        self._respond_object(201, target, created)

    def _update(self, target: Target, query: dict, body: bytes, subresource=None) -> None:
        obj = self._decode(body, kind=target.resource.kind)
        if subresource is None:
            obj = self._checked(target, obj, query)
        if not isinstance(obj, dict):
            raise bad_request("the request body must be a JSON object")
        meta = obj.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise bad_request("metadata must be an object")
        if meta.get("name") not in (None, target.name):
            raise bad_request(f"the name of the object ({meta.get('name')}) does not match the name on the "
                              f"URL ({target.name})")
        meta["name"] = target.name
        if target.resource.namespaced:
            if meta.get("namespace") not in (None, "", target.namespace):
                raise bad_request("the namespace of the provided object does not match the namespace sent on "
                                  "the request")
            meta["namespace"] = target.namespace
        updated = self.server.store.update(target.resource.key, obj, subresource=subresource,
                                           dry_run=query.get("dryRun") == "All",
                                           field_manager=self._field_manager(query))
        self._reply(200, target, updated, subresource)

    def _patch(self, target: Target, query: dict, body: bytes, subresource=None) -> None:
        patch_type = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        patch_options.validate(query, patch_type)
        data = self._decode(body, patch=True)
        if subresource is None and patch_type != "application/json-patch+json":
            data = self._checked(target, data, query)
        result, created = self.server.store.patch(
            target.resource.key, target.name, target.namespace, patch_type=patch_type, body=data,
            subresource=subresource, dry_run=query.get("dryRun") == "All",
            field_manager=query.get("fieldManager") if patch_type.startswith("application/apply")
            else self._field_manager(query),
            force=_truthy(query.get("force", "")))
        self._reply(201 if created else 200, target, result, subresource)

    def _delete_options(self, query: dict, body: bytes) -> dict:
        options = {}
        if body.strip():
            options = self._decode(body)
            if not isinstance(options, dict):
                raise bad_request("DeleteOptions must be a JSON object")
            shapes.check("DeleteOptions", "meta.k8s.io/v1", options)
        grace = query.get("gracePeriodSeconds", options.get("gracePeriodSeconds"))
        policy = query.get("propagationPolicy", options.get("propagationPolicy"))
        orphan = query.get("orphanDependents", options.get("orphanDependents"))
        if policy is None and orphan is not None:
            policy = "Orphan" if _truthy(orphan) else "Background"
        dry_run = query.get("dryRun") == "All" or "All" in (options.get("dryRun") or [])
        try:
            grace = int(grace) if grace is not None else None
        except ValueError:
            raise bad_request(f'invalid gracePeriodSeconds "{grace}"') from None
        return {"grace_period_seconds": grace, "propagation_policy": policy, "dry_run": dry_run,
                "preconditions": options.get("preconditions")}

    def _delete(self, target: Target, query: dict, body: bytes) -> None:
        store, info = self.server.store, target.resource
        result = store.delete(info.key, target.name, target.namespace, **self._delete_options(query, body))
        self._send_json(200, result if info.key in _RETURNS_DELETED_OBJECT or _still_there(store, info, result)
                        else _success(info, result))

    def _delete_collection(self, target: Target, query: dict, body: bytes) -> None:
        store, info = self.server.store, target.resource
        options = self._delete_options(query, body)
        items, _rv = store.list_shared(info.key, target.namespace, query.get("labelSelector"),
                                      query.get("fieldSelector"))
        deleted = []
        for item in items:
            try:
                deleted.append(store.delete(info.key, item["metadata"]["name"],
                                            item["metadata"].get("namespace"), **options))
            except ApiError as e:
                if e.code != 404:  # deleted concurrently: nothing left to do
                    raise
        self._send_json(200, {"kind": f"{info.kind}List", "apiVersion": info.api_version,
                              "metadata": {"resourceVersion": store.resource_version}, "items": deleted})

    # ------------------------------------------------------------- subresources

    def _subresource(self, method: str, target: Target, query: dict, body: bytes) -> None:
        store, key, sub = self.server.store, target.resource.key, target.subresource
        if sub == "log" and method == "GET":
            return self._log(target, query)
        if sub == "binding" and method == "POST":
            return self._bind(target, body)
        if sub == "exec" and method in ("GET", "POST"):
            return self._exec(target)
        if sub == "attach" and method in ("GET", "POST"):
            return self._attach(target)
        if sub == "portforward" and method in ("GET", "POST"):
            return self._portforward(target)
        if sub == "token" and method == "POST":
            return self._send_json(201, tokens.token_request(store, target.namespace, target.name,
                                                             self._decode(body), store.clock.now().timestamp()))
        if sub == "eviction" and method == "POST":
            return self._send_json(201, eviction.evict(store, target.namespace, target.name, self._decode(body)))
        if sub == "scale" and method == "GET":
            return self._send_json(200, store.get_scale(key, target.name, target.namespace))
        if sub == "status" and method == "GET":
            return self._send_json(200, store.get(key, target.name, target.namespace))
        if method == "PUT" and sub in ("status", "scale", "finalize"):
            return self._update(target, query, body, subresource=sub)
        if method == "PATCH" and sub in ("status", "scale"):
            return self._patch(target, query, body, subresource=sub)
        raise method_not_allowed()

    def _stream_container(self, target: Target, query: dict) -> str:
        """The container a pods/exec or pods/attach names (pkg/registry/core/pod/strategy.go streamLocation)."""
        pod = self.server.store.get("pods", target.name, target.namespace)
        names = [c["name"] for c in pod["spec"].get("containers") or []]
        container = (query.get("container") or [""])[0]
        if not container:
            if len(names) != 1:
                raise bad_request(f"a container name must be specified for pod {target.name}, choose one of: "
                                  f"[{' '.join(names)}]")
            return names[0]
        if container not in names:
            raise bad_request(f"container {container} is not valid for pod {target.name}")
        return container

    def _upgrade(self, protocols: tuple[str, ...] = (websocket.PROTOCOL_V5,)) -> "websocket.Connection":
        """Answer 101 to a valid WebSocket upgrade (400 Status otherwise); the connection is the stream's now."""
        if not websocket.is_upgrade(self.headers):
            if (self.headers.get("Upgrade") or "").lower().startswith("spdy/"):
                raise bad_request("the simulator streams over WebSocket (v5.channel.k8s.io) only, not SPDY")
            raise bad_request("Upgrade request required")
        accept_key, protocol = websocket.accept(self.headers, protocols)
        self.close_connection = True
        self.send_response(101, "Switching Protocols")
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept_key)
        self.send_header("Sec-WebSocket-Protocol", protocol)
        self.end_headers()
        self.wfile.flush()
        self._headers_sent = True
        return websocket.Connection(self.connection, self.rfile, self.wfile)

    def _attach(self, target: Target) -> None:
        """pods/attach: the main process's output once it exits (a process that keeps running holds the
        stream until the client closes it or a read times out), then Success on the error channel."""
        query = parse_qs(urlsplit(self.path).query, keep_blank_values=True)
        container = self._stream_container(target, query)
        wait = self.server.store.attach_source(target.namespace, target.name, container)
        tty = _truthy((query.get("tty") or ["false"])[0])
        conn = self._upgrade()
        try:
            output = wait(ATTACH_WAIT_S)
            if output is None:  # still running: hold until kubectl goes (Ctrl-C) or the read times out
                while conn.receive() is not None:
                    pass
                return
            if output and _truthy((query.get("stdout") or ["false"])[0]):
                conn.send(websocket.STDOUT, (output.replace("\n", "\r\n") if tty else output).encode())
            conn.send_status({"metadata": {}, "status": "Success"})
        except ValueError as err:
            log.debug("attach stream of %s/%s: %s", target.namespace, target.name, err)
            conn.close(1002)
        finally:
            conn.close()

    def _exec(self, target: Target) -> None:
        """pods/exec over a WebSocket (``v5.channel.k8s.io``): the checks the API server and kubelet make,
        the 101, stdin until kubectl half-closes it, then stdout, stderr and the kubelet's Status on the
        error channel (``ServeExec`` in k8s.io/kubelet/pkg/cri/streaming/remotecommand/exec.go)."""
        query = parse_qs(urlsplit(self.path).query, keep_blank_values=True)
        argv = query.get("command") or []
        if not argv:  # pkg/registry/core/pod/rest/subresources.go: "you must specify at least 1 command"
            raise bad_request("you must specify at least 1 command")
        container = self._stream_container(target, query)
        run, interactive = self.server.store.exec_source(target.namespace, target.name, container)
        wants = {name: _truthy((query.get(name) or ["false"])[0]) for name in ("stdin", "stdout", "stderr", "tty")}
        conn = self._upgrade()
        try:
            try:
                if wants["stdin"] and wants["tty"] and terminal.is_interactive(argv):
                    return self._terminal(conn, interactive(argv), argv)
                # on a TTY kubectl never closes stdin (the terminal stays open): a command runs at once
                stdin = self._ws_stdin(conn) if wants["stdin"] and not wants["tty"] else b""
                result = run(argv, stdin.decode(errors="replace"))
            except shell.ExecFailed as err:
                conn.send_status(_internal_error_status(str(err)))
                return
            except (ApiError, OSError) as err:
                # the command's data path failed after the 101: the kubelet's internal error on the error
                # channel, never a close without a Status (kubectl takes that for exit code 0)
                log.warning("exec of %s in %s/%s failed: %s", argv, target.namespace, target.name, err)
                conn.send_status(_internal_error_status(f"error executing command in container: {err}"))
                return
            out, err_text = result.stdout, result.stderr
            if wants["tty"]:  # one terminal: stderr goes to it too, lines end in CR LF
                out, err_text = (out + err_text).replace("\n", "\r\n"), ""
            if out and wants["stdout"]:
                conn.send(websocket.STDOUT, out.encode())
            if err_text and wants["stderr"]:
                conn.send(websocket.STDERR, err_text.encode())
            conn.send_status(_exit_status(argv, result.exit_code))
        except ValueError as err:  # a WebSocket protocol violation by the client: close with 1002
            log.debug("exec stream of %s/%s: %s", target.namespace, target.name, err)
            conn.close(1002)
        finally:
            conn.close()

    def _portforward(self, target: Target) -> None:
        """pods/portforward: SPDY/3.1 streams tunnelled in a WebSocket (``SPDY/3.1+portforward.k8s.io``, the
        apiserver's TunnelingHandler, k8s.io/apiserver/pkg/util/proxy/streamtunnel.go), or over a plain
        ``Upgrade: SPDY/3.1`` (what kubectl falls back to; the kubelet's ``httpstream.Handshake``)."""
        sandbox, netns, dial = self.server.store.portforward_source(target.namespace, target.name)
        tunnel = portforward.TUNNEL_PREFIX + portforward.PROTOCOL
        if websocket.is_upgrade(self.headers):
            if not any(p.startswith(portforward.TUNNEL_PREFIX) and p.endswith(".k8s.io")
                       for p in websocket.offered_protocols(self.headers)):
                raise bad_request("unable to upgrade: no tunneling spdy protocols provided")
            conn = self._upgrade((tunnel,))
            read, write, end = conn.read_message, conn.write_message, conn.close
        elif (self.headers.get("Upgrade") or "").strip().lower() == "spdy/3.1":
            self._spdy_handshake()
            read, write, end = (lambda: self.rfile.read1(65536) or None), self._write_flush, lambda: None
        else:
            raise bad_request("Upgrade request required")
        self.connection.settimeout(portforward.IDLE_TIMEOUT_S)
        try:
            portforward.pump(portforward.Session(dial, sandbox, netns, time.monotonic()), read, write)
        except (OSError, ValueError) as err:  # the client went away or broke the WebSocket framing
            log.debug("port-forward of %s/%s: %s", target.namespace, target.name, err)
        finally:
            end()

    def _spdy_handshake(self) -> None:
        """The 101 of a plain SPDY upgrade, or the kubelet's 400/403 (k8s.io/streaming httpstream.Handshake)."""
        header = "X-Stream-Protocol-Version"
        values = self.headers.get_all(header) or []
        if not values:
            raise bad_request(f"unable to upgrade: header {header} does not exist in request with "
                              f"{len(self.headers)} headers")
        offered = [p.strip() for p in ",".join(values).split(",") if p.strip()]
        if portforward.PROTOCOL not in offered:
            raise ApiError(403, "Forbidden", f"unable to upgrade: unable to negotiate protocol: client supports "
                                             f"[{' '.join(offered)}], server accepts [{portforward.PROTOCOL}]")
        self.close_connection = True
        self.send_response(101, "Switching Protocols")
        self.send_header("Connection", "Upgrade")
        self.send_header("Upgrade", "SPDY/3.1")
        self.send_header(header, portforward.PROTOCOL)
        self.end_headers()
        self.wfile.flush()
        self._headers_sent = True

    def _write_flush(self, data: bytes) -> None:
        self.wfile.write(data)
        self.wfile.flush()

    def _terminal(self, conn, term, argv: list[str]) -> None:
        """An interactive shell on a TTY: keystrokes in, echo and output out, resizes applied, until the shell
        exits or kubectl closes stdin (end of input); then the exit Status. A user may idle as long as
        containerd's stream_idle_timeout."""
        self.connection.settimeout(portforward.IDLE_TIMEOUT_S)
        conn.send(websocket.STDOUT, term.start())
        while term.exit_code is None and (message := conn.receive()) is not None:
            channel, payload = message
            if channel == websocket.STDIN:
                out = term.feed(payload)
                if out:
                    conn.send(websocket.STDOUT, out)
            elif channel == websocket.RESIZE:
                try:
                    size = json.loads(payload)
                    term.resize(int(size["Width"]), int(size["Height"]))
                except (ValueError, KeyError, TypeError):
                    raise ValueError("a resize message that is not {\"Width\":..,\"Height\":..}") from None
            elif channel == websocket.CLOSE and payload[:1] == bytes([websocket.STDIN]):
                break
        conn.send_status(_exit_status(argv, term.status if term.exit_code is None else term.exit_code))

    def _ws_stdin(self, conn) -> bytes:
        """stdin messages until kubectl half-closes the channel (``[255, 0]``) or the connection ends."""
        data = bytearray()
        while (message := conn.receive()) is not None:
            channel, payload = message
            if channel == websocket.STDIN:
                data += payload
                if len(data) > websocket.MAX_MESSAGE:
                    raise ValueError("stdin larger than the simulator keeps")
            elif channel == websocket.CLOSE and payload[:1] == bytes([websocket.STDIN]):
                break
        return bytes(data)

    def _log(self, target: Target, query: dict) -> None:
        pod = self.server.store.get("pods", target.name, target.namespace)
        names = [c["name"] for c in pod["spec"].get("containers") or []]
        container = query.get("container")
        if not container:
            if len(names) != 1:
                raise bad_request(f"a container name must be specified for pod {target.name}, choose one of: "
                                  f"[{' '.join(names)}]")
            container = names[0]
        elif container not in names:
            raise bad_request(f"container {container} is not valid for pod {target.name}")
        previous = _truthy(query.get("previous", ""))
        text = self.server.store.log_source(target.namespace, target.name, container, previous) or ""
        if _truthy(query.get("follow", "")) and not previous:
            self._follow_log(target, container, _tail(text, query), text)
            return
        self._send(200, _tail(text, query).encode(), "text/plain")

    def _follow_log(self, target: Target, container: str, first: str, text: str) -> None:
        """``follow=true``: the kubelet streams the container's log until that container stops (kuberuntime
        ReadLogs with Follow watches the file while the container runs) or the client goes. The simulator
        re-reads the log at every change of the pod and at least once a (wall) second."""
        store = self.server.store

        def run_id(pod: dict) -> str | None:  # the running container's ID, None once it stopped
            cs = next((c for c in (pod.get("status") or {}).get("containerStatuses") or []
                       if c["name"] == container), {})
            return cs.get("containerID") if "running" in (cs.get("state") or {}) else None

        watch = store.watch("pods", target.namespace, field_selector=f"metadata.name={target.name}")
        try:
            followed = run_id(store.get("pods", target.name, target.namespace))
            self._start_stream("text/plain")
            self._write_chunk(first.encode())
            while followed is not None and not self._client_gone():
                event = watch.get(timeout=1.0)
                if event is not None and event["type"] == "DELETED":
                    break
                pod = event["object"] if event is not None else store.get("pods", target.name, target.namespace)
                current = store.log_source(target.namespace, target.name, container) or ""
                if run_id(pod) == followed and current.startswith(text) and len(current) > len(text):
                    self._write_chunk(current[len(text):].encode())
                    text = current
                if run_id(pod) != followed:
                    break
            self._end_stream()
        except (ApiError, OSError):  # the pod went, or the client did
            self.close_connection = True
        finally:
            watch.stop()

    def _bind(self, target: Target, body: bytes) -> None:
        """pods/binding: assign a node (what a scheduler does); 409 when the pod is already bound."""
        binding = self._decode(body)
        node = ((binding or {}).get("target") or {}).get("name") if isinstance(binding, dict) else None
        if not node:
            raise bad_request("binding target name is required")
        self.server.store.bind(target.name, target.namespace, node)
        self._send_json(201, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                              "code": 201})

    # ------------------------------------------------------------- watches

    def _watch(self, target: Target, query: dict) -> None:
        store, info = self.server.store, target.resource
        send_initial = _truthy(query.get("sendInitialEvents", ""))
        bookmarks = _truthy(query.get("allowWatchBookmarks", ""))
        timeout = None
        if query.get("timeoutSeconds"):
            try:  # an int64 upstream: nan, inf and fractions are 400s
                timeout = int(query["timeoutSeconds"])
            except ValueError:
                raise bad_request(f'invalid timeoutSeconds "{query["timeoutSeconds"]}"') from None
        elif query.get("timeout"):
            timeout = _go_duration_seconds(query["timeout"])
        as_table = self._wants_table()
        content_type = printers.TABLE_CONTENT_TYPE if as_table else "application/json"
        try:
            w = store.watch(info.key, target.namespace, query.get("resourceVersion"), query.get("labelSelector"),
                            query.get("fieldSelector"), send_initial_events=send_initial,
                            allow_bookmarks=bookmarks or send_initial)
        except ApiError as e:
            if e.code != 410:
                raise
            self._start_stream(content_type)
            self._write_event({"type": "ERROR", "object": e.status()})
            return self._end_stream()
        with self.server.watches_changed:
            self.server.watches.add(w)
        if self.server.closing.is_set():  # shutdown began while this watch was being opened
            w.stop()
        try:
            self._start_stream(content_type)
            self._pump(w, info.key, timeout, bookmarks, as_table)
            self._end_stream()
        except (BrokenPipeError, ConnectionResetError, OSError):
            self.close_connection = True
        finally:
            w.stop()
            with self.server.watches_changed:
                self.server.watches.discard(w)
                self.server.watches_changed.notify_all()

    def _pump(self, w, resource: str, timeout, bookmarks: bool, as_table: bool) -> None:
        deadline = time.monotonic() + timeout if timeout is not None else None
        next_bookmark = next_bookmark_time(time.monotonic(), deadline, self.server.bookmark_interval)
        first_table = True
        while True:  # a stopped watch (server shutdown) still hands out what it had queued, then None
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                return
            due = bookmarks and next_bookmark is not None
            waits = [_WATCH_POLL_SECONDS] + ([deadline - now] if deadline else []) + \
                ([max(next_bookmark - now, 0)] if due else [])
            event = w.get(min(waits))
            if event is None:
                if w.stopped or self.server.closing.is_set() or self._client_gone():
                    return
                if due and time.monotonic() >= next_bookmark:
                    next_bookmark = next_bookmark_time(time.monotonic(), deadline, self.server.bookmark_interval)
                    event = w.bookmark()
                if event is None:
                    continue
            if as_table and event["type"] in ("ADDED", "MODIFIED", "DELETED"):
                event["object"] = printers.table(resource, [event["object"]], self.server.store.clock.now(),
                                                 resource_version=event["object"]["metadata"]["resourceVersion"],
                                                 with_columns=first_table)
                first_table = False
            self._write_event(event)

    def _client_gone(self) -> bool:
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            return bool(readable) and self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    def _start_stream(self, content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache, private")
        for warning in self._warnings:
            self.send_header("Warning", warning)
        self.end_headers()
        self._headers_sent = True

    def _write_event(self, event: dict) -> None:
        self._write_chunk(_dumps(event) + b"\n")  # the Python client splits events on newlines

    def _write_chunk(self, data: bytes) -> None:
        if data:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()

    def _end_stream(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


def _exit_status(argv: list[str], code: int) -> dict:
    """The Status the kubelet writes on the error channel when the process ends."""
    if code == 0:
        return {"metadata": {}, "status": "Success"}
    return {"metadata": {}, "status": "Failure", "reason": "NonZeroExitCode",
            "message": f"command terminated with non-zero exit code: error executing command [{' '.join(argv)}], "
                       f"exit code {code}",
            "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]}}


def unrecognized_object(kind: str, err: json.JSONDecodeError, body: bytes) -> ApiError:
    """kube-apiserver's 400 for a create/update body that is not JSON (apiserver endpoints/handlers/rest.go
    transformDecodeError with summarizeData(body, 30); the text in the middle is Go encoding/json's)."""
    why = decoding.go_syntax_error(err)
    if not body:
        summary = "<empty>"
    elif body[:1] == b"{":
        summary = body[:30].decode(errors="replace") + (" ..." if len(body) > 30 else "")
    else:
        summary = body[:30].hex() + (" ..." if len(body) > 30 else "")
    return bad_request(f"the object provided is unrecognized (must be of type {kind}): couldn't get version/kind; "
                       f"json parse error: {why} ({summary})")


