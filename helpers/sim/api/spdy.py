"""SPDY/3.1 framing: what ``kubectl port-forward`` speaks inside its WebSocket tunnel (and over a plain SPDY
upgrade when it falls back).

Followed: github.com/moby/spdystream v0.5.1 ``spdy/{types,read,write,dictionary}.go`` (the framer the
kubelet's and client-go's ``k8s.io/streaming/pkg/httpstream/spdy`` use), which implements the SPDY/3 draft
(draft-mbelshe-httpbis-spdy-00):

* a control frame: ``0x8000 | version(3)``, a 16-bit type, 8-bit flags, 24-bit length, then its fields;
* a data frame: a 31-bit stream id, 8-bit flags (``FIN``), 24-bit length, the payload;
* SYN_STREAM / SYN_REPLY / HEADERS carry a header block (count, then length-prefixed lowercase names and
  NUL-joined values), compressed by one zlib stream per direction for the whole connection, primed with
  SPDY/3's dictionary and flushed (``Z_SYNC_FLUSH``) at the end of every block.

spdystream does no flow control (WINDOW_UPDATE and SETTINGS are read and ignored), and neither does this.
This module is pure: bytes in, frames out; frames in, bytes out.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field

VERSION = 3
DATA, SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS, PING, GOAWAY, HEADERS, WINDOW_UPDATE = 0, 1, 2, 3, 4, 6, 7, 8, 9
FLAG_FIN = 0x01
# RstStreamStatus (types.go)
PROTOCOL_ERROR, INVALID_STREAM, REFUSED_STREAM, UNSUPPORTED_VERSION, CANCEL, INTERNAL_ERROR = 1, 2, 3, 4, 5, 6
GOAWAY_OK, GOAWAY_PROTOCOL_ERROR = 0, 1
MAX_DATA_LENGTH = (1 << 24) - 1
MAX_HEADER_FIELD = 1 << 20  # defaultMaxHeaderFieldSize
MAX_HEADERS = 1000  # defaultMaxHeaderCount
_INVALID_REQUEST_HEADERS = {"connection", "host", "keep-alive", "proxy-connection", "transfer-encoding"}

# SPDY/3's zlib dictionary (dictionary.go): length-prefixed header names and values, then a run of common text
_WORDS = (
    "options", "head", "post", "put", "delete", "trace", "accept", "accept-charset", "accept-encoding",
    "accept-language", "accept-ranges", "age", "allow", "authorization", "cache-control", "connection",
    "content-base", "content-encoding", "content-language", "content-length", "content-location", "content-md5",
    "content-range", "content-type", "date", "etag", "expect", "expires", "from", "host", "if-match",
    "if-modified-since", "if-none-match", "if-range", "if-unmodified-since", "last-modified", "location",
    "max-forwards", "pragma", "proxy-authenticate", "proxy-authorization", "range", "referer", "retry-after",
    "server", "te", "trailer", "transfer-encoding", "upgrade", "user-agent", "vary", "via", "warning",
    "www-authenticate", "method", "get", "status", "200 OK", "version", "HTTP/1.1", "url", "public", "set-cookie",
    "keep-alive", "origin"
)
_TAIL = ("100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505"
         "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request401 Unauthorized"
         "403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented503 Service Unavailable"
         "Jan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMT"
         "chunked,text/html,image/png,image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,"
         "text/javascript,publicprivatemax-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.")
DICTIONARY = b"".join(struct.pack("!I", len(w)) + w.encode() for w in _WORDS) + _TAIL.encode()


class ProtocolError(ValueError):
    """The peer broke the framing; the connection cannot go on (spdystream closes it)."""


@dataclass
class Frame:
    kind: int  # DATA or a control frame type
    stream_id: int = 0
    flags: int = 0
    data: bytes = b""
    headers: dict[str, list[str]] = field(default_factory=dict)
    status: int = 0  # RST_STREAM / GOAWAY status
    ping_id: int = 0

    @property
    def fin(self) -> bool:
        return bool(self.flags & FLAG_FIN)

    def header(self, name: str) -> str:
        """The first value of a header, by any case (spdystream canonicalizes names on read)."""
        return (self.headers.get(name.lower()) or [""])[0]


class Reader:
    """Frames from a byte stream fed in pieces (the WebSocket messages need not align with frames)."""

    def __init__(self):
        self._buffer = bytearray()
        self._inflate = zlib.decompressobj(zdict=DICTIONARY)

    def feed(self, data: bytes) -> list[Frame]:
        self._buffer += data
        frames = []
        while len(self._buffer) >= 8:
            first, second = struct.unpack_from("!II", self._buffer)
            length = second & 0xFFFFFF
            if len(self._buffer) < 8 + length:
                break
            body = bytes(self._buffer[8:8 + length])
            del self._buffer[:8 + length]
            flags = second >> 24
            if not first & 0x80000000:
                if first == 0:
                    raise ProtocolError("stream id zero is disallowed")
                frames.append(Frame(DATA, first & 0x7FFFFFFF, flags, body))
            elif (frame := self._control((first >> 16) & 0x7FFF, first & 0xFFFF, flags, body)) is not None:
                frames.append(frame)
        return frames

    def _control(self, version: int, kind: int, flags: int, body: bytes) -> Frame | None:
        if version != VERSION:
            raise ProtocolError(f"unsupported SPDY version {version}")
        if kind == SYN_STREAM:
            if len(body) < 10:
                raise ProtocolError("invalid control frame")
            stream_id = struct.unpack_from("!I", body)[0] & 0x7FFFFFFF
            headers = self._header_block(body[10:])
            if stream_id == 0:
                raise ProtocolError("stream id zero is disallowed")
            if _INVALID_REQUEST_HEADERS & headers.keys():
                raise ProtocolError("frame contained invalid header")
            return Frame(SYN_STREAM, stream_id, flags, headers=headers)
        if kind in (SYN_REPLY, HEADERS):
            if len(body) < 4:
                raise ProtocolError("invalid control frame")
            return Frame(kind, struct.unpack_from("!I", body)[0] & 0x7FFFFFFF, flags,
                         headers=self._header_block(body[4:]))
        if kind == RST_STREAM:
            if len(body) != 8:
                raise ProtocolError("invalid control frame")
            stream_id, status = struct.unpack("!II", body)
            if status == 0 or stream_id & 0x7FFFFFFF == 0:
                raise ProtocolError("invalid control frame")
            return Frame(RST_STREAM, stream_id & 0x7FFFFFFF, flags, status=status)
        if kind == PING:
            if len(body) != 4 or flags or not struct.unpack("!I", body)[0]:
                raise ProtocolError("invalid control frame")
            return Frame(PING, flags=flags, ping_id=struct.unpack("!I", body)[0])
        if kind == GOAWAY:
            if len(body) != 8 or flags:
                raise ProtocolError("invalid control frame")
            last, status = struct.unpack("!II", body)
            return Frame(GOAWAY, last & 0x7FFFFFFF, flags, status=status)
        if kind in (SETTINGS, WINDOW_UPDATE):
            return None  # no flow control, as spdystream
        raise ProtocolError("unknown frame type")

    def _header_block(self, compressed: bytes) -> dict[str, list[str]]:
        try:
            block = self._inflate.decompress(compressed, MAX_HEADERS * 2 * (MAX_HEADER_FIELD + 4))
        except zlib.error as err:
            raise ProtocolError(f"header block: {err}") from None
        if self._inflate.unconsumed_tail:
            raise ProtocolError("header block too large")
        try:
            (count,), offset = struct.unpack_from("!I", block), 4
            if count > MAX_HEADERS:
                raise ProtocolError("invalid control frame")
            headers: dict[str, list[str]] = {}
            for _ in range(count):
                (n,) = struct.unpack_from("!I", block, offset)
                name, offset = block[offset + 4:offset + 4 + n], offset + 4 + n
                (m,) = struct.unpack_from("!I", block, offset)
                value, offset = block[offset + 4:offset + 4 + m], offset + 4 + m
                if n > MAX_HEADER_FIELD or m > MAX_HEADER_FIELD or len(name) != n or len(value) != m:
                    raise ProtocolError("invalid control frame")
                key = name.decode("latin-1")
                if key != key.lower():
                    raise ProtocolError("header was not lowercased")
                if key in headers:
                    raise ProtocolError("multiple headers with same name")
                headers[key] = value.decode("latin-1").split("\x00")
        except struct.error:
            raise ProtocolError("compressed payload size was incorrect") from None
        if offset != len(block):
            raise ProtocolError("compressed payload size was incorrect")
        return headers


class Writer:
    """Frames as bytes; header blocks through this direction's one zlib stream."""

    def __init__(self):
        self._deflate = zlib.compressobj(9, zdict=DICTIONARY)

    @staticmethod
    def _control(kind: int, flags: int, body: bytes) -> bytes:
        return struct.pack("!HHI", 0x8000 | VERSION, kind, flags << 24 | len(body)) + body

    def _header_block(self, headers: dict[str, list[str]]) -> bytes:
        block = struct.pack("!I", len(headers))
        for name, values in headers.items():
            key, value = name.lower().encode("latin-1"), "\x00".join(values).encode("latin-1")
            block += struct.pack("!I", len(key)) + key + struct.pack("!I", len(value)) + value
        return self._deflate.compress(block) + self._deflate.flush(zlib.Z_SYNC_FLUSH)

    def syn_stream(self, stream_id: int, headers: dict[str, list[str]], fin: bool = False) -> bytes:
        body = struct.pack("!IIBB", stream_id, 0, 0, 0) + self._header_block(headers)
        return self._control(SYN_STREAM, FLAG_FIN if fin else 0, body)

    def syn_reply(self, stream_id: int, headers: dict[str, list[str]] | None = None, fin: bool = False) -> bytes:
        return self._control(SYN_REPLY, FLAG_FIN if fin else 0,
                             struct.pack("!I", stream_id) + self._header_block(headers or {}))

    @staticmethod
    def data(stream_id: int, payload: bytes = b"", fin: bool = False) -> bytes:
        out = b""
        for start in range(0, max(len(payload), 1), MAX_DATA_LENGTH):
            chunk = payload[start:start + MAX_DATA_LENGTH]
            last = start + MAX_DATA_LENGTH >= len(payload)
            out += struct.pack("!II", stream_id, (FLAG_FIN if fin and last else 0) << 24 | len(chunk)) + chunk
        return out

    def rst_stream(self, stream_id: int, status: int = CANCEL) -> bytes:
        return self._control(RST_STREAM, 0, struct.pack("!II", stream_id, status))

    def ping(self, ping_id: int) -> bytes:
        return self._control(PING, 0, struct.pack("!I", ping_id))

    def goaway(self, last_good: int, status: int = GOAWAY_OK) -> bytes:
        return self._control(GOAWAY, 0, struct.pack("!II", last_good, status))
