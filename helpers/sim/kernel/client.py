"""A client's side of a request through the kernel: what ``curl``/``nc -u`` do, from a socket made in
the client's namespace (a pod's, or its node's).

TCP: connect, one HTTP/1.1 GET, read one response (``Content-Length`` framing, or up to the close for
a raw listener such as ``serve-hostname --tcp``). UDP: one datagram, one reply. The errors a kernel
gives are the outcomes: ECONNREFUSED (an RST, or the ICMP port unreachable a REJECT sends) is
``refused``, ECONNRESET or EOF on an open connection ``reset``, no answer within the timeout
``timeout``, EHOSTUNREACH/ENETUNREACH ``unreachable``.
"""

from __future__ import annotations

import errno
import socket

OUTCOME_OF_ERRNO = {errno.ECONNREFUSED: "refused", errno.ECONNRESET: "reset", errno.EPIPE: "reset",
                    errno.EHOSTUNREACH: "unreachable", errno.ENETUNREACH: "unreachable"}


class Failed(Exception):
    """A request that got no answer: ``outcome`` says how."""

    def __init__(self, outcome: str):
        super().__init__(outcome)
        self.outcome = outcome


def outcome_of(err: OSError) -> str:
    if isinstance(err, TimeoutError | socket.timeout):
        return "timeout"
    return OUTCOME_OF_ERRNO.get(err.errno, "reset")


def new_socket(ns, protocol: str, timeout: float) -> socket.socket:
    sock = ns.run_inside(lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM if protocol == "TCP"
                                               else socket.SOCK_DGRAM))
    sock.settimeout(timeout)
    return sock


def local_port(sock: socket.socket) -> int:
    """Bind to an ephemeral port first, so the flow's source port is known even when the connect fails
    (conntrack then still says where a refused SYN was sent)."""
    sock.bind(("0.0.0.0", 0))
    return sock.getsockname()[1]


def connect(sock: socket.socket, ip: str, port: int) -> None:
    """Connect (TCP: the handshake; UDP: the default destination)."""
    try:
        sock.connect((ip, port))
    except OSError as err:
        raise Failed(outcome_of(err)) from None


def http_get(sock: socket.socket, host: str, path: str, *, keep_alive: bool) -> str:
    """One GET on a connected TCP socket; the response body (or all a raw listener wrote)."""
    head = f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: curl/8.14.1\r\nAccept: */*\r\n"
    try:
        sock.sendall((head + ("" if keep_alive else "Connection: close\r\n") + "\r\n").encode())
        data = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
            body = _complete_body(data)
            if body is not None:
                return body
    except OSError as err:
        raise Failed(outcome_of(err)) from None
    if not data:
        raise Failed("reset")  # the peer closed without a word: the process is gone
    return _complete_body(data) or data.decode(errors="replace")


def _complete_body(data: bytes) -> str | None:
    """The body once a whole HTTP response is in ``data``; None while more is due (or not HTTP)."""
    if not data.startswith(b"HTTP/"):
        return None
    end = data.find(b"\r\n\r\n")
    if end < 0:
        return None
    length = next((int(line.split(b":", 1)[1]) for line in data[:end].split(b"\r\n")[1:]
                   if line.lower().startswith(b"content-length:")), None)
    if length is None or len(data) < end + 4 + length:
        return None
    return data[end + 4:end + 4 + length].decode(errors="replace")


def udp_exchange(sock: socket.socket, payload: str) -> str:
    try:
        sock.send(payload.encode())
        return sock.recv(65536).decode(errors="replace")
    except OSError as err:
        raise Failed(outcome_of(err)) from None
