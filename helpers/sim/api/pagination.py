"""List pagination (``limit`` / ``continue``) tokens as upstream's storage layer makes them.

A token (apiserver ``pkg/storage/continue.go``) is unpadded URL-safe base64 of
``{"v":"meta.k8s.io/v1","rv":<revision>,"start":"<key>\\x00"}``: the revision the first page was read
at (later pages read the same snapshot) and the storage key to resume from, relative to the list's key
prefix (``<namespace>/<name>`` across namespaces, ``<name>`` within one or for cluster-scoped kinds).
``rv`` -1 marks the inconsistent token a 410 offers: resume from the current state instead.
"""

import base64
import json
import re

from . import decoding
from .errors import ApiError, bad_request

_VERSION = "meta.k8s.io/v1"

# upstream's etcd3 store (compactedContinue in pkg/storage/etcd3/store.go), v1.37
EXPIRED_MESSAGE = ("The provided continue parameter is too old to display a consistent list result. You can "
                   "start a new list without the continue parameter, or use the continue token in this response "
                   "to retrieve the remainder of the results. Continuing with the provided token results in an "
                   "inconsistent list - objects that were created, modified, or deleted between the time the "
                   "first chunk was returned and now may show up in the list.")


def encode(key: tuple, rv: int, *, across_namespaces: bool) -> str:
    """The token resuming after storage ``key`` (namespace, name) at revision ``rv``."""
    start = f"{key[0]}/{key[1]}" if across_namespaces else key[1]
    payload = json.dumps({"v": _VERSION, "rv": rv, "start": start + "\x00"}, separators=(",", ":"))
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


_NOT_RAW_URL_B64 = re.compile(r"[^A-Za-z0-9_-]")


def _raw_url_b64decode(token: str) -> bytes:
    """Go's base64.RawURLEncoding.DecodeString: no padding; 400 naming the first byte it cannot use."""
    bad = _NOT_RAW_URL_B64.search(token)
    at = bad.start() if bad else len(token) - 1 if len(token) % 4 == 1 else None
    if at is not None:
        raise bad_request(f"invalid continue token: continue key is not valid: illegal base64 data at input byte {at}")
    return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))


def decode(token: str, namespace: str | None, namespaced: bool) -> tuple[tuple, int | None]:
    """``(key to resume after, revision)`` of a token (revision None: the current state); 400 when invalid."""
    invalid = "invalid continue token: continue key is not valid: "
    raw = _raw_url_b64decode(token)
    try:
        data = json.loads(raw.decode("latin-1"))  # a byte per character, as Go's scanner reports them
    except json.JSONDecodeError as e:
        raise bad_request(invalid + decoding.go_syntax_error(e)) from None
    if not isinstance(data, dict) or data.get("v") != _VERSION:
        raise bad_request("invalid continue token: continue key is not valid: server does not recognize this "
                          "encoded version")
    rv, start = data.get("rv"), data.get("start")
    if not isinstance(rv, int) or isinstance(rv, bool) or rv == 0 or rv < -1:
        raise bad_request(f"invalid continue token: continue key is not valid: incorrect encoded start "
                          f"resourceVersion (version {_VERSION})")
    if not isinstance(start, str) or not start or start.startswith("/") or "/../" in start:
        raise bad_request("invalid continue token: continue key is not valid: invalid start key")
    start = start.rstrip("\x00")
    if namespaced and namespace is None:
        ns, _, name = start.partition("/")
        key = (ns, name)
    else:
        key = (namespace or "", start)
    return key, None if rv == -1 else rv


def expired(key: tuple, *, across_namespaces: bool) -> ApiError:
    """410 for a token whose revision is compacted; it carries a token to read the rest inconsistently."""
    error = ApiError(410, "Expired", EXPIRED_MESSAGE)
    error.list_meta = {"continue": encode(key, -1, across_namespaces=across_namespaces)}
    return error
