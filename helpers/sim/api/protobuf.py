"""Kubernetes protobuf request bodies (``application/vnd.kubernetes.protobuf``) -> JSON-shaped dicts.

The encoding (apimachinery ``pkg/runtime/serializer/protobuf``): the 4-byte magic ``k8s\\x00``, then a
``runtime.Unknown`` message (typeMeta=1 {apiVersion=1, kind=2}, raw=2, contentEncoding=3,
contentType=4) whose ``raw`` is the object's own message, as gogo-protobuf marshals it from the Go struct.

An object decodes to what the same Go object would marshal to as JSON, so that a protobuf request
stores exactly what the equivalent JSON request stores: JSON names, ``inline`` structs merged into
their parent, fields dropped as ``omitempty``/``omitzero`` drop them (gogo writes non-pointer scalars
even when zero; encoding/json omits those), Go ``nil`` slices and maps as ``null`` unless omitted,
map keys sorted, and the types with their own JSON form (Time, MicroTime, Duration, Quantity,
IntOrString, FieldsV1, RawExtension, ``+protobuf.nullable`` list wrappers) as that form.

Field numbers and types come from ``protoschema`` (generated from upstream's ``generated.proto``).
Every malformed body raises ``ProtobufError``, which the server answers with a 400 ``Status``.

Answers stay JSON. kubectl 1.37's protobuf requests send ``Accept: application/vnd.kubernetes.protobuf,
application/json`` (observed with ``-v=8``), and client-go decodes a response by its Content-Type, so a
JSON answer is one the client asked for; a real API server would pick the first, protobuf.
"""

import base64
import datetime as dt
import json

from helpers.kube import format_micro_time, format_time

from .protoschema import LISTS, MESSAGES

MAGIC = b"k8s\x00"
CONTENT_TYPE = "application/vnd.kubernetes.protobuf"

_META = "k8s.io.apimachinery.pkg.apis.meta.v1"
_TIME, _MICRO_TIME, _DURATION = f"{_META}.Time", f"{_META}.MicroTime", f"{_META}.Duration"
_FIELDS_V1 = f"{_META}.FieldsV1"
_RAW_EXTENSION = "k8s.io.apimachinery.pkg.runtime.RawExtension"
_QUANTITY = "k8s.io.apimachinery.pkg.api.resource.Quantity"
_INT_OR_STRING = "k8s.io.apimachinery.pkg.util.intstr.IntOrString"
_LISTS = frozenset(LISTS)
_MAX_DEPTH = 64  # deeper than any served kind nests; a body nesting deeper is refused, not recursed into



class ProtobufError(ValueError):
    """A body that is not a well-formed Kubernetes protobuf message of a known kind."""


def message_for(api_version: str, kind: str) -> str | None:
    """The proto message of a kind in a group-version; meta/v1 option kinds (``DeleteOptions``...) are
    registered in every group-version, as ``metav1.AddToGroupVersion`` does upstream."""
    group, _, version = api_version.rpartition("/")
    if group == "meta.k8s.io":
        package = f"{_META[:-3]}.{version}"
    else:
        package = f"k8s.io.api.{group.split('.')[0] if group else 'core'}.{version}"
    for name in (f"{package}.{kind}", f"{_META}.{kind}"):
        if name in MESSAGES and name not in _SPECIAL:
            return name
    return None


def decode(data: bytes) -> dict:
    """The object a protobuf request body carries, as the JSON dict Go would marshal it to."""
    if not data.startswith(MAGIC):
        raise ProtobufError("provided data does not appear to be a protobuf message, expected prefix "
                            "[107 56 115 0]")
    type_meta, raw, encoding = b"", b"", ""
    for number, wire, value in _fields(memoryview(data)[len(MAGIC):], "Unknown"):
        if number <= 4:
            _expect(wire, 2, f"{number} of Unknown")
        if number == 1:
            type_meta += value
        elif number == 2:
            raw = bytes(value)
        elif number == 3:
            encoding = _text(value)
    if encoding:
        raise ProtobufError(f'unsupported content encoding "{encoding}" in the protobuf envelope')
    names = {1: "", 2: ""}
    for number, wire, value in _fields(memoryview(type_meta), "TypeMeta"):
        if number in names:
            _expect(wire, 2, f"{number} of TypeMeta")
            names[number] = _text(value)
    api_version, kind = names[1], names[2]
    if not kind:
        raise ProtobufError("Object 'Kind' is missing in the protobuf envelope")
    message = message_for(api_version, kind)
    if message is None:
        raise ProtobufError(f'no kind "{kind}" is registered for version "{api_version}" in scheme '
                            '"pkg/api/legacyscheme/scheme.go:30"')
    return {"kind": kind, "apiVersion": api_version, **_message(memoryview(raw), message, 0)}


# ----------------------------------------------------------------------------- wire format


def _varint(buf: memoryview, i: int, where: str) -> tuple[int, int]:
    result = shift = 0
    while True:
        if i >= len(buf):
            raise ProtobufError(f"proto: {where}: unexpected EOF")
        byte = buf[i]
        i += 1
        if shift == 63 and byte > 1:
            raise ProtobufError(f"proto: {where}: integer overflow")
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, i
        shift += 7


def _fields(buf: memoryview, where: str):
    """``(number, wire_type, value)`` per field: ints for varint/fixed, memoryviews for length-delimited."""
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i, where)
        number, wire = key >> 3, key & 7
        if number <= 0 or number > 0x1FFFFFFF:
            raise ProtobufError(f"proto: {where}: illegal tag {number} (wire type {wire})")
        if wire == 0:
            value, i = _varint(buf, i, where)
        elif wire == 1 or wire == 5:
            size = 8 if wire == 1 else 4
            if i + size > len(buf):
                raise ProtobufError(f"proto: {where}: unexpected EOF")
            value = int.from_bytes(buf[i:i + size], "little")
            i += size
        elif wire == 2:
            size, i = _varint(buf, i, where)
            if size >= 1 << 63:
                raise ProtobufError(f"proto: {where}: negative length found during unmarshaling")
            if i + size > len(buf):
                raise ProtobufError(f"proto: {where}: unexpected EOF")
            value = buf[i:i + size]
            i += size
        else:  # groups (3, 4) are not used by any Kubernetes message; 6 and 7 do not exist
            raise ProtobufError(f"proto: {where}: illegal wireType {wire}")
        yield number, wire, value


def _expect(wire: int, wanted: int, field: str) -> None:
    if wire != wanted:
        raise ProtobufError(f"proto: wrong wireType = {wire} for field {field}")


def _text(value: memoryview) -> str:
    return bytes(value).decode("utf-8", errors="replace")  # encoding/json writes U+FFFD for invalid UTF-8


def _signed(value: int, bits: int) -> int:
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


def _scalar(proto_type: str, wire: int, value, where: str):
    """One scalar from its wire value (an int, or a memoryview for string/bytes). The Kubernetes protos
    use only these five scalar types (the schema generator checks it)."""
    if proto_type in ("string", "bytes"):
        _expect(wire, 2, where)
        return _text(value) if proto_type == "string" else base64.b64encode(bytes(value)).decode()
    _expect(wire, 0, where)
    if proto_type == "bool":
        return value != 0
    return _signed(value, 32 if proto_type == "int32" else 64)


def _unpacked(proto_type: str, wire: int, value, where: str) -> list:
    """A repeated scalar's occurrence: one value, or a packed run of varints (parsers accept both)."""
    if wire != 2 or proto_type in ("string", "bytes"):
        return [_scalar(proto_type, wire, value, where)]
    out, i = [], 0
    while i < len(value):
        item, i = _varint(value, i, where)
        out.append(_scalar(proto_type, 0, item, where))
    return out


# ----------------------------------------------------------------------------- messages -> JSON


def _time(buf: memoryview, micro: bool):
    """metav1.Time / MicroTime: an empty message is the zero time (JSON null); Time keeps whole seconds
    (time_proto.go drops the nanos), MicroTime keeps microseconds."""
    if not len(buf):
        return None
    seconds = nanos = 0
    for number, wire, value in _fields(buf, "Timestamp"):
        if number == 1:
            seconds = _scalar("int64", wire, value, "seconds of Timestamp")
        elif number == 2:
            nanos = _scalar("int32", wire, value, "nanos of Timestamp")
    try:
        moment = dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(seconds=seconds)
    except OverflowError:
        raise ProtobufError(f"proto: Timestamp: seconds {seconds} out of range") from None
    if micro:
        moment += dt.timedelta(microseconds=max(nanos, 0) // 1000)
        return format_micro_time(moment)
    return format_time(moment)


def go_duration(nanoseconds: int) -> str:
    """Go's ``time.Duration.String()``: ``1h2m3.5s``, ``250ms``, ``0s``."""
    if nanoseconds == 0:
        return "0s"
    sign, n = ("-", -nanoseconds) if nanoseconds < 0 else ("", nanoseconds)
    if n < 1_000_000_000:
        for unit, size in (("ms", 1_000_000), ("µs", 1_000), ("ns", 1)):
            if n >= size:
                return sign + _decimal(n, size) + unit
    hours, rest = divmod(n, 3_600_000_000_000)
    minutes, rest = divmod(rest, 60_000_000_000)
    text = _decimal(rest, 1_000_000_000) + "s"
    if hours:
        return f"{sign}{hours}h{minutes}m{text}"
    return f"{sign}{minutes}m{text}" if minutes else sign + text


def _decimal(value: int, unit: int) -> str:
    whole, fraction = divmod(value, unit)
    digits = str(fraction).rjust(len(str(unit)) - 1, "0").rstrip("0") if fraction else ""
    return f"{whole}.{digits}" if digits else str(whole)


def _special(message: str, buf: memoryview):
    """The JSON form of the types that marshal themselves (None if ``message`` is an ordinary one)."""
    if message in (_TIME, _MICRO_TIME):
        return _time(buf, message == _MICRO_TIME)
    values = {}
    for number, wire, value in _fields(buf, message.rsplit(".", 1)[-1]):
        values[number] = (wire, value)

    def get(number, proto_type, default):
        if number not in values:
            return default
        return _scalar(proto_type, *values[number], f"{number} of {message}")
    if message == _DURATION:
        return go_duration(get(1, "int64", 0))
    if message == _QUANTITY:
        return get(1, "string", "0")
    if message == _INT_OR_STRING:
        return get(3, "string", "") if get(1, "int64", 0) == 1 else get(2, "int32", 0)
    if message in (_FIELDS_V1, _RAW_EXTENSION):
        if 1 not in values:
            return None
        _expect(values[1][0], 2, f"Raw of {message}")
        try:
            return json.loads(bytes(values[1][1]))
        except ValueError:
            raise ProtobufError(f"{message.rsplit('.', 1)[-1]} does not hold JSON") from None
    # a +protobuf.nullable slice type (Verbs, ExtraValue): its items are the JSON array (nil: null)
    if 1 not in values:
        return None
    return [_scalar("string", wire, value, f"items of {message}") for number, wire, value in _fields(buf, message) if number == 1]


_SPECIAL = frozenset({_TIME, _MICRO_TIME, _DURATION, _QUANTITY, _INT_OR_STRING, _FIELDS_V1, _RAW_EXTENSION}
                     | _LISTS)


def _value(proto_type: str, chunks: list, depth: int, where: str):
    """A singular field from its occurrences (the last scalar wins; message occurrences merge, which for
    protobuf is the same as parsing their concatenation)."""
    if proto_type in MESSAGES:
        buf = memoryview(b"".join(bytes(v) for _, v in chunks)) if len(chunks) != 1 else chunks[0][1]
        return _message(buf, proto_type, depth + 1)
    wire, value = chunks[-1]
    return _scalar(proto_type, wire, value, where)


def _message(buf: memoryview, message: str, depth: int):
    if depth > _MAX_DEPTH:
        raise ProtobufError(f"proto: {message}: nested too deeply")
    if message in _SPECIAL:
        return _special(message, buf)
    schema = MESSAGES[message]
    by_number = {field[0]: field for field in schema}
    seen: dict[int, list] = {}
    where = message.rsplit(".", 1)[-1]
    for number, wire, value in _fields(buf, where):
        field = by_number.get(number)
        if field is None:
            continue  # unknown fields are skipped, as gogo's generated Unmarshal skips them
        proto_type, flags = field[2], field[3]
        if ("m" in flags or proto_type in MESSAGES) and wire != 2:
            raise ProtobufError(f"proto: wrong wireType = {wire} for field {field[1]} of {where}")
        seen.setdefault(number, []).append((wire, value))
    out = {}
    for number, name, proto_type, flags, *_openapi in schema:
        chunks = seen.get(number)
        if "m" in flags:
            value = _map(proto_type, chunks, depth, f"{name} of {where}") if chunks else None
        elif "r" in flags:
            value = None
            if chunks:
                value = [_message(v, proto_type, depth + 1) for _, v in chunks] if proto_type in MESSAGES \
                    else [item for wire, v in chunks for item in _unpacked(proto_type, wire, v, f"{name} of {where}")]
        elif chunks:
            value = _value(proto_type, chunks, depth, f"{name} of {where}")
        elif "p" in flags:
            value = None
        else:
            value = _zero(proto_type)
        if "i" in flags:
            out.update(value or {})
        elif not _omitted(value, flags, proto_type):
            out[name] = value
    return out


def _map(proto_type: str, chunks: list, depth: int, where: str) -> dict:
    key_type, value_type = proto_type.split(",", 1)
    entries = {}
    for _, entry in chunks:
        parts = {1: [], 2: []}
        for number, wire, value in _fields(entry, where):
            if number in parts:
                parts[number].append((wire, value))
        key = _value(key_type, parts[1], depth, where) if parts[1] else _zero(key_type)
        entries[str(key)] = _value(value_type, parts[2], depth, where) if parts[2] else _zero(value_type)
    return dict(sorted(entries.items()))  # encoding/json writes map keys sorted


_ZEROS = {"string": "", "bytes": None, "bool": False, "int32": 0, "int64": 0}


def _zero(proto_type: str):
    """The JSON of a Go zero value of the field's type (an absent non-pointer field)."""
    if proto_type in MESSAGES:
        return _message(memoryview(b""), proto_type, 0)
    return _ZEROS[proto_type]


def _omitted(value, flags: str, proto_type: str) -> bool:
    """Whether encoding/json leaves the field out: ``omitempty`` drops false, 0, "", and empty or nil
    slices and maps (never structs); ``omitzero`` drops zero values, structs included."""
    if "p" in flags:
        return value is None and ("o" in flags or "z" in flags)
    if "m" in flags or "r" in flags or proto_type == "bytes":
        return ("o" in flags or "z" in flags) and not value
    if proto_type in MESSAGES:
        return "z" in flags and value == _zero(proto_type)
    return ("o" in flags or "z" in flags) and value == _ZEROS[proto_type]
