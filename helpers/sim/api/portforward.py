"""The server side of ``portforward.k8s.io`` over SPDY/3.1: what the kubelet's CRI streaming server and
containerd do with the streams ``kubectl port-forward`` opens.

Followed (v1.36.1 / containerd 2.1.1, the kind node's runtime):

* ``k8s.io/cri-streaming/pkg/streaming/portforward/httpstream.go``: every stream needs a ``port`` header
  (1-65535) and ``streamType`` ``error`` or ``data`` (else the stream is reset); streams pair by
  ``requestID``; a pair not complete within ``streamCreationTimeout`` (30 s) gets "timed out waiting for
  streams" on its error stream; a second stream of one type gets "error processing stream for request N:
  error stream already assigned". A complete pair is one forwarded connection; a failure is written to the
  error stream as "error forwarding port P to pod <sandbox>, uid : <err>" and both streams are reset
  (containerd's stream server passes the sandbox ID as the pod and no uid).
* containerd ``internal/cri/server/sandbox_portforward_linux.go``: ``net.Dial("tcp4", "localhost:P")``
  in the sandbox's network namespace, then ``tcp6``; the error when both fail; the copy both ways, closing
  the data stream when the pod's side closes, and at most 1 s for the other direction after one ends.
* spdystream (``connection.go``): a client's PING is echoed; GOAWAY ends the session; the connection
  closes after ``stream_idle_timeout`` (containerd's default 4 h) without frames.

:class:`Session` is pure: frames in (bytes), frames out (bytes), with deadlines the caller waits for.
``dial(port)`` is the runtime: a connection (:class:`helpers.sim.netconn.Conn`), None when nothing listens
on the port, or the runtime's error text when it cannot even enter the sandbox.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass

from . import spdy

PROTOCOL = "portforward.k8s.io"
TUNNEL_PREFIX = "SPDY/3.1+"  # WebsocketsSPDYTunnelingPrefix (apimachinery pkg/util/portforward/constants.go)
STREAM_CREATION_TIMEOUT_S = 30.0  # remotecommand.DefaultStreamCreationTimeout
IDLE_TIMEOUT_S = 4 * 3600.0  # containerd's stream_idle_timeout default (streaming.DefaultConfig)
HALF_CLOSE_WAIT_S = 1.0  # sandbox_portforward_linux.go: the other direction's grace after one ends


def refused(port: int, sandbox: str) -> str:
    """containerd's error when nothing listens on ``port`` in the pod (both address families refuse)."""
    return (f'failed to connect to localhost:{port} inside namespace "{sandbox}", IPv4: dial tcp4 '
            f"127.0.0.1:{port}: connect: connection refused IPv6 dial tcp6 [::1]:{port}: connect: connection "
            "refused ")


@dataclass
class _Pair:
    request_id: str
    deadline: float
    error: int | None = None
    data: int | None = None
    conn: object = None
    fin_sent: bool = False  # the pod's side closed: the data stream's FIN is sent
    finished: bool = False


class Session:
    """One port-forward connection: the streams kubectl opens, each data stream one TCP connection."""

    def __init__(self, dial, sandbox: str, netns: str, now: float):
        self.dial, self.sandbox, self.netns = dial, sandbox, netns
        self.reader, self.writer = spdy.Reader(), spdy.Writer()
        self.pairs: dict[str, _Pair] = {}
        self.streams: dict[int, tuple[str, str]] = {}  # stream id -> (request id, stream type)
        self.last_stream = 0
        self.now = now
        self.idle_deadline = now + IDLE_TIMEOUT_S
        self.closed = False
        self.forwarded = 0  # connections forwarded (a figure for tests and logs)

    # -- input ---------------------------------------------------------------------------------------
    def receive(self, data: bytes, now: float) -> bytes:
        """Bytes from the client; the frames to send back. A framing error ends the session (GOAWAY)."""
        self.now = now
        self.idle_deadline = now + IDLE_TIMEOUT_S
        try:
            frames = self.reader.feed(data)
        except spdy.ProtocolError:
            self.closed = True
            return self.writer.goaway(self.last_stream, spdy.GOAWAY_PROTOCOL_ERROR)
        out = b""
        for frame in frames:
            out += self._frame(frame)
        return out

    def _frame(self, frame: spdy.Frame) -> bytes:
        if frame.kind == spdy.SYN_STREAM:
            self.last_stream = max(self.last_stream, frame.stream_id)
            return self._new_stream(frame)
        if frame.kind == spdy.PING:
            return self.writer.ping(frame.ping_id) if frame.ping_id & 1 else b""  # ours are even; none sent
        if frame.kind == spdy.GOAWAY:
            self.closed = True
            return b""
        known = self.streams.get(frame.stream_id)
        if known is None or known[0] not in self.pairs:
            return b""
        pair, kind = self.pairs[known[0]], known[1]
        if kind != "data" or pair.conn is None or pair.finished:
            return b""
        if frame.kind == spdy.DATA:
            out = self._to_pod(pair, frame.data) if frame.data else b""
            if frame.fin and not pair.finished:  # the client closed its end
                out += self._closed(pair, client=True)
            return out
        if frame.kind == spdy.RST_STREAM:
            return self._closed(pair, client=True)
        return b""

    def _new_stream(self, frame: spdy.Frame) -> bytes:
        """httpStreamReceived, then the handler's pairing (httpstream.go)."""
        port, kind = frame.header("port"), frame.header("streamType")
        valid = port.isdigit() and 0 < int(port) < 65536 and kind in ("error", "data")
        if not valid:  # "Stream rejected": the stream is reset
            return self.writer.rst_stream(frame.stream_id, spdy.CANCEL)
        out = self.writer.syn_reply(frame.stream_id)
        request_id = frame.header("requestID") or str(frame.stream_id - (2 if kind == "data" else 0))
        pair = self.pairs.get(request_id)
        if pair is None:
            pair = self.pairs[request_id] = _Pair(request_id, self.now + STREAM_CREATION_TIMEOUT_S)
        self.streams[frame.stream_id] = (request_id, kind)
        if getattr(pair, kind) is not None:
            message = f"error processing stream for request {request_id}: {kind} stream already assigned"
            return out + (self.writer.data(pair.error, message.encode()) if pair.error is not None else b"")
        setattr(pair, kind, frame.stream_id)
        if pair.error is not None and pair.data is not None:
            out += self._forward(pair, int(port))
        return out

    # -- a forwarded connection ---------------------------------------------------------------------------
    def _forward(self, pair: _Pair, port: int) -> bytes:
        self.forwarded += 1
        conn = self.dial(port)
        if conn is None or isinstance(conn, str):  # the runtime's error: on the error stream, then resets
            pair.finished = True
            self.pairs.pop(pair.request_id, None)
            if conn is None:  # inside the namespace: the data stream was closed on the way out (a defer)
                err = f'failed to execute portforward in network namespace "{self.netns}": {refused(port, self.sandbox)}'
                head = self.writer.data(pair.data, fin=True)
            else:  # before entering it: nothing was sent on the data stream
                err, head = conn, b""
            message = f"error forwarding port {port} to pod {self.sandbox}, uid : {err}"
            return (head + self.writer.data(pair.error, message.encode())
                    + (b"" if head else self.writer.rst_stream(pair.data)) + self.writer.rst_stream(pair.error))
        pair.conn = conn
        greeting = conn.open()
        out = self.writer.data(pair.data, greeting) if greeting else b""
        return out + (self._closed(pair, client=False) if conn.closed else b"")

    def _to_pod(self, pair: _Pair, data: bytes) -> bytes:
        reply = pair.conn.receive(data)
        out = self.writer.data(pair.data, reply) if reply else b""
        return out + (self._closed(pair, client=False) if pair.conn.closed and not pair.fin_sent else b"")

    def _closed(self, pair: _Pair, *, client: bool) -> bytes:
        """A direction ended. The data stream's FIN goes once (when the client's end closes, the pod's server
        reads EOF and closes too); the error stream's FIN when both are done, or HALF_CLOSE_WAIT_S after
        the pod's side closed."""
        out = b""
        if not pair.fin_sent:
            pair.fin_sent = pair.conn.closed = True
            out += self.writer.data(pair.data, fin=True)
        if client:
            return out + self._finish(pair)
        pair.deadline = self.now + HALF_CLOSE_WAIT_S
        return out

    def _finish(self, pair: _Pair) -> bytes:
        pair.finished = True
        self.pairs.pop(pair.request_id, None)
        return self.writer.data(pair.error, fin=True)

    # -- time ----------------------------------------------------------------------------------------------
    def next_deadline(self) -> float:
        waiting = [p.deadline for p in self.pairs.values() if p.conn is None or p.fin_sent]
        return min([self.idle_deadline, *waiting])

    def expire(self, now: float) -> bytes:
        """What the deadlines due at ``now`` send: stream-creation timeouts, half-close grace, idleness."""
        self.now = now
        out = b""
        for pair in [p for p in self.pairs.values() if p.deadline <= now]:
            if pair.conn is None:  # only one of the two streams came
                if pair.error is not None:
                    out += self.writer.data(pair.error, f"(conn={id(self):#x}, request={pair.request_id}) timed "
                                                        "out waiting for streams".encode())
                self.pairs.pop(pair.request_id, None)
            elif pair.fin_sent:
                out += self._finish(pair)
        if now >= self.idle_deadline:
            self.closed = True
            out += self.writer.goaway(self.last_stream)
        return out


def pump(session: Session, read, write, clock=time.monotonic) -> None:
    """The I/O shell: ``read()`` (bytes, or None at EOF) on a thread of its own, ``write(bytes)`` here; the
    session's deadlines are the only other wake-ups."""
    inbox: queue.Queue = queue.Queue()

    def reader():
        try:
            while (data := read()) is not None:
                inbox.put(data)
        except (OSError, ValueError):  # reset, timeout, or a broken WebSocket frame
            pass
        inbox.put(None)

    threading.Thread(target=reader, name="sim-portforward-reader", daemon=True).start()
    while not session.closed:
        try:
            data = inbox.get(timeout=max(0.0, session.next_deadline() - clock()))
        except queue.Empty:
            out = session.expire(clock())
        else:
            if data is None:
                return
            out = session.receive(data, clock())
        if out:
            write(out)
