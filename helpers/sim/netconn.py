"""A TCP connection to a modelled process (:mod:`helpers.sim.images`), byte for byte: what a port-forward's
data stream carries after containerd dials ``localhost:<port>`` inside the pod's network namespace.

* An HTTP listener (agnhost ``netexec``, ``serve-hostname``) answers as Go's ``net/http`` server does
  (``net/http/server.go``): one response per request on a keep-alive connection, headers ``Date``,
  ``Content-Length``, ``Content-Type: text/plain; charset=utf-8`` in that order (``extraHeader.Write``);
  ``Connection: close`` (or HTTP/1.0 without keep-alive) ends the connection after the response; a request
  it cannot parse gets ``400 Bad Request`` and the connection closes; a header over ``DefaultMaxHeaderBytes``
  (1 MiB, plus the 4 KiB bufio slack) gets ``431``.
* ``serve-hostname --tcp`` writes the hostname and closes (``serve_hostname.go``).
* A process that has exited under an open connection: the kernel closed its socket, so the next bytes
  find the connection closed (the data stream ends).

Pure: ``process()`` says what listens now; the caller does the I/O.
"""

from __future__ import annotations

from email.utils import format_datetime

MAX_HEADER_BYTES = (1 << 20) + 4096  # http.DefaultMaxHeaderBytes + bufio slack (server.go initialReadLimitSize)
_REASONS = {200: "OK", 400: "Bad Request", 431: "Request Header Fields Too Large"}


class Conn:
    """One accepted connection on ``port``; ``process()`` is the listening Program now, or None."""

    def __init__(self, process, port: int, *, hostname: str, peer: str, now):
        self.process, self.port, self.hostname, self.peer, self.now = process, port, hostname, peer, now
        self.closed = False
        self._buffer = b""

    def open(self) -> bytes:
        """What the process writes as soon as it accepts (a raw TCP serve-hostname: its name, then close)."""
        proc = self.process()
        listener = next((li for li in proc.listeners if li.port == self.port and li.protocol == "TCP"), None) \
            if proc is not None else None
        if listener is not None and not listener.http:
            self.closed = True
            return self.hostname.encode()
        return b""

    def receive(self, data: bytes) -> bytes:
        """Bytes from the client in; the process's answers out (``closed`` says whether it hung up)."""
        if self.closed:
            return b""
        if self.process() is None:  # exited: its socket is gone
            self.closed = True
            return b""
        self._buffer += data
        out = b""
        while not self.closed and (request := self._next_request()) is not None:
            out += request
        return out

    def _next_request(self) -> bytes | None:
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(self._buffer) > MAX_HEADER_BYTES:
                return self._fail(431)
            return None
        head = self._buffer[:end].decode("latin-1")
        lines = head.split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1.") or not parts[1].startswith("/"):
            return self._fail(400)
        headers = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep or not name or name != name.strip():
                return self._fail(400)
            headers[name.lower()] = value.strip()
        length = headers.get("content-length", "0")
        if not length.isdigit() or "chunked" in headers.get("transfer-encoding", "").lower():
            return self._fail(400)  # the model reads bodies by Content-Length only
        if len(self._buffer) < end + 4 + int(length):
            return None
        self._buffer = self._buffer[end + 4 + int(length):]
        connection = headers.get("connection", "").lower()
        close = connection == "close" or (parts[2] == "HTTP/1.0" and connection != "keep-alive")
        body = self.process().answer(self.port, "TCP", hostname=self.hostname, client_ip=self.peer, request=parts[1],
                                     now=self.now())
        return self._response(200, body, close, keep_alive=parts[2] == "HTTP/1.0" and not close)

    def _fail(self, code: int) -> bytes:
        return self._response(code, f"{code} {_REASONS[code]}", True, dated=False)

    def _response(self, code: int, body: str, close: bool, *, keep_alive: bool = False, dated: bool = True) -> bytes:
        self.closed = self.closed or close
        payload = body.encode()
        head = [f"HTTP/1.1 {code} {_REASONS[code]}"]
        if dated:
            head += [f"Date: {format_datetime(self.now(), usegmt=True)}", f"Content-Length: {len(payload)}"]
        head.append("Content-Type: text/plain; charset=utf-8")
        if close:
            head.append("Connection: close")
        elif keep_alive:
            head.append("Connection: keep-alive")
        return ("\r\n".join(head) + "\r\n\r\n").encode() + payload
