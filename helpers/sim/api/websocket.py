"""The server side of a WebSocket (RFC 6455) carrying the remote-command channel protocol kubectl 1.37 speaks
for ``pods/exec`` (KEP-4006, ``v5.channel.k8s.io``).

Handshake (RFC 6455 section 4.2): a GET with ``Upgrade: websocket``, ``Connection: Upgrade``,
``Sec-WebSocket-Version: 13`` and a 16-byte base64 ``Sec-WebSocket-Key`` is answered ``101 Switching
Protocols`` with ``Sec-WebSocket-Accept`` = base64(SHA-1(key + the RFC's GUID)) and the chosen
``Sec-WebSocket-Protocol``. Anything else is a 400 Status, as ``wsstream.Conn.Open`` answers
(k8s.io/streaming/pkg/httpstream/wsstream/conn.go).

Channel protocol (conn.go, and client-go ``tools/remotecommand/websocket.go``): every binary message starts
with a channel byte: 0 stdin, 1 stdout, 2 stderr, 3 error (a JSON ``metav1.Status``), 4 resize (JSON
``{"Width":..,"Height":..}``). ``v5`` adds 255, close: ``[255, channel]`` half-closes that channel (kubectl
sends it for stdin at EOF). Client frames are masked, server frames are not.

``pods/portforward`` uses the same WebSocket as a byte pipe for SPDY/3.1 (subprotocol
``SPDY/3.1+portforward.k8s.io``; client-go ``tools/portforward/tunneling_connection.go``): each binary
message is a piece of the SPDY byte stream, with no channel byte (:meth:`Connection.read_message`).
"""

from __future__ import annotations

import base64
import hashlib
import json
import socket
import struct
import threading

from .errors import ApiError

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 section 1.3
PROTOCOL_V5 = "v5.channel.k8s.io"
STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255
OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
MAX_MESSAGE = 1024 * 1024  # a stdin message larger than this ends the session (kubectl sends 32 KiB at most)


def is_upgrade(headers) -> bool:
    return (headers.get("Upgrade") or "").strip().lower() == "websocket"


def offered_protocols(headers) -> list[str]:
    return [p.strip() for p in ",".join(headers.get_all("Sec-WebSocket-Protocol") or []).split(",") if p.strip()]


def accept(headers, supported: tuple[str, ...] = (PROTOCOL_V5,)) -> tuple[str, str]:
    """(Sec-WebSocket-Accept, chosen protocol) for a valid upgrade request, else a 400 ApiError."""
    connection = {t.strip().lower() for t in (headers.get("Connection") or "").split(",")}
    if "upgrade" not in connection:
        raise ApiError(400, "BadRequest", "websocket upgrade needs 'Connection: Upgrade'")
    if (headers.get("Sec-WebSocket-Version") or "").strip() != "13":
        raise ApiError(400, "BadRequest", "websocket upgrade needs Sec-WebSocket-Version: 13")
    key = (headers.get("Sec-WebSocket-Key") or "").strip()
    try:
        valid = len(base64.b64decode(key, validate=True)) == 16
    except ValueError:
        valid = False
    if not valid:
        raise ApiError(400, "BadRequest", "websocket upgrade needs a 16-byte base64 Sec-WebSocket-Key")
    offered = offered_protocols(headers)
    chosen = next((p for p in offered if p in supported), None)
    if chosen is None:
        raise ApiError(400, "BadRequest", f"requested protocol(s) are not supported: {offered}; "
                                          f"supports [{' '.join(supported)}]")
    digest = hashlib.sha1((key + GUID).encode()).digest()
    return base64.b64encode(digest).decode(), chosen


class Connection:
    """An upgraded connection: binary messages in and out (raw, or a channel byte first), the closing
    handshake. Writes may come from two threads (a reader answering pings, a writer)."""

    def __init__(self, sock: socket.socket, rfile, wfile):
        self.sock, self.rfile, self.wfile = sock, rfile, wfile
        self.closed = False
        self._writing = threading.Lock()

    def _write(self, frame: bytes) -> None:
        with self._writing:
            self.wfile.write(frame)
            self.wfile.flush()

    def write_message(self, payload: bytes) -> None:
        self._write(self._frame(OP_BINARY, payload))

    def _frame(self, opcode: int, payload: bytes) -> bytes:
        n = len(payload)
        head = bytes([0x80 | opcode])
        if n < 126:
            head += bytes([n])
        elif n < 65536:
            head += bytes([126]) + struct.pack("!H", n)
        else:
            head += bytes([127]) + struct.pack("!Q", n)
        return head + payload

    def send(self, channel: int, data: bytes) -> None:
        self.write_message(bytes([channel]) + data)

    def send_status(self, status: dict) -> None:
        self.send(ERROR, json.dumps(status, separators=(",", ":")).encode())

    def close(self, code: int = 1000) -> None:
        """Send a close frame, read until the peer's close (bounded), as a server ends the handshake."""
        if self.closed:
            return
        self.closed = True
        try:
            self._write(self._frame(OP_CLOSE, struct.pack("!H", code)))
            self.sock.settimeout(2.0)
            while (message := self._read_frame()) is not None and message[0] != OP_CLOSE:
                pass
        except (OSError, ValueError):
            pass

    def _read_exact(self, n: int) -> bytes:
        data = self.rfile.read(n)
        if len(data) < n:
            raise EOFError
        return data

    def _read_frame(self) -> tuple[int, bytes, bool] | None:
        """One frame (opcode, unmasked payload, FIN); None at EOF; ValueError for a protocol violation."""
        try:
            b0, b1 = self._read_exact(2)
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack("!H", self._read_exact(2))[0]
            elif n == 127:
                n = struct.unpack("!Q", self._read_exact(8))[0]
            if n > MAX_MESSAGE:
                raise ValueError("message too large")
            if not b1 & 0x80:
                raise ValueError("client frames must be masked (RFC 6455 section 5.1)")
            mask = self._read_exact(4)
            payload = bytes(c ^ mask[i % 4] for i, c in enumerate(self._read_exact(n)))
        except EOFError:
            return None
        return b0 & 0x0F, payload, bool(b0 & 0x80)

    def receive(self) -> tuple[int, bytes] | None:
        """The next data message as (channel, data); None at close or EOF."""
        message = self.read_message()
        if message is None:
            return None
        return (message[0], message[1:]) if message else (STDIN, b"")

    def read_message(self) -> bytes | None:
        """The next data message's payload; pings are answered; None at close or EOF."""
        parts: list[bytes] = []
        while True:
            frame = self._read_frame()
            if frame is None:
                return None
            opcode, payload, fin = frame
            if opcode == OP_PING:
                self._write(self._frame(OP_PONG, payload))
                continue
            if opcode == OP_PONG:
                continue
            if opcode == OP_CLOSE:
                return None
            parts.append(payload)
            if sum(map(len, parts)) > MAX_MESSAGE:
                raise ValueError("message too large")
            # FIN bit: the last frame of a message (continuations carry opcode 0)
            if fin:
                return b"".join(parts)
