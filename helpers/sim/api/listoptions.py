"""List and watch options as kube-apiserver checks them, and which state a list reads.

``validate`` is apimachinery's ``ValidateListOptions`` (pkg/apis/meta/internalversion/validation/
validation.go, v1.36.1) with the WatchList feature on (its default since 1.32); its causes become one 422
``ListOptions.meta.k8s.io "" is invalid``. ``parse_resource_version`` is ``APIObjectVersioner.
ParseResourceVersion`` as the etcd3 store reports it (400 ``invalid resource version: ...``).

``read_plan`` is the storage's choice between the two list semantics (apiserver pkg/storage/cacher/delegator
ShouldDelegateList and watch_cache.go waitAndListExactRV / waitAndListLatestRV): **exact** reads the state
at that revision (``resourceVersionMatch=Exact``, and the legacy form: a ``limit`` with a non-zero
``resourceVersion``); **not older than** reads the current state once the store has reached that revision
(``NotOlderThan``, and a bare ``resourceVersion``). Either waits up to ``BLOCK_TIMEOUT_S`` for a revision the
store has not reached (``waitUntilFreshAndBlock``) and then answers ``too_large``. An exact read of a
compacted revision is etcd's 410 ``The resourceVersion for the provided list is too old.``
"""

from __future__ import annotations

import re

from .errors import ApiError, expired, invalid
from .validation import forbidden, unsupported

EXACT, NOT_OLDER_THAN = "Exact", "NotOlderThan"
BLOCK_TIMEOUT_S = 3.0  # watch_cache.go blockTimeout
RETRY_AFTER_S = 1  # watch_cache.go resourceVersionTooHighRetrySeconds
_MAX_UINT64 = 2**64 - 1


def validate(query: dict, *, watch: bool) -> None:
    """Raise the 422 ``ValidateListOptions`` gives these query parameters, if any."""
    match = query.get("resourceVersionMatch") or ""
    rv, token = query.get("resourceVersion") or "", query.get("continue") or ""
    send_initial = query.get("sendInitialEvents") is not None
    causes = []
    if watch:  # validateWatchOptions
        if send_initial and match != NOT_OLDER_THAN:
            causes.append(forbidden("resourceVersionMatch", "sendInitialEvents requires setting "
                                    f"resourceVersionMatch to {NOT_OLDER_THAN}"))
        if match:
            if not send_initial:
                causes.append(forbidden("resourceVersionMatch", "resourceVersionMatch is forbidden for watch "
                                        "unless sendInitialEvents is provided"))
            if match != NOT_OLDER_THAN:
                causes.append(unsupported("resourceVersionMatch", match, [NOT_OLDER_THAN]))
            if token:
                causes.append(forbidden("resourceVersionMatch", "resourceVersionMatch is forbidden when continue "
                                        "is provided"))
    else:
        if match:
            if not rv:
                causes.append(forbidden("resourceVersionMatch", "resourceVersionMatch is forbidden unless "
                                        "resourceVersion is provided"))
            if token:
                causes.append(forbidden("resourceVersionMatch", "resourceVersionMatch is forbidden when continue "
                                        "is provided"))
            if match not in (EXACT, NOT_OLDER_THAN):
                causes.append(unsupported("resourceVersionMatch", match, [EXACT, NOT_OLDER_THAN, ""]))
            if match == EXACT and rv == "0":
                causes.append(forbidden("resourceVersionMatch",
                                        'resourceVersionMatch "exact" is forbidden for resourceVersion "0"'))
        if send_initial:
            causes.append(forbidden("sendInitialEvents", "sendInitialEvents is forbidden for list"))
    if causes:
        raise invalid("ListOptions", "", "meta.k8s.io", causes)


_INT64 = re.compile(r"[+-]?[0-9]+")


def parse_int64(value: str) -> int:
    """A query parameter the parameter codec reads as an int64 (``limit``): Go's strconv.ParseInt error as the
    400 text otherwise (runtime.Convert_Slice_string_To_int64)."""
    why = None
    if not (value.isascii() and _INT64.fullmatch(value)):
        why = "invalid syntax"
    elif not -(2 ** 63) <= int(value) < 2 ** 63:
        why = "value out of range"
    if why:
        raise ApiError(400, "BadRequest", f'strconv.ParseInt: parsing "{value}": {why}')
    return int(value)


def parse_resource_version(value: str | None, *, prefix: str = "invalid resource version: ") -> int | None:
    """``""``/None -> None; a uint64 -> int; anything else Go's strconv.ParseUint error as a 400. A list
    reports it after ``prefix`` (the etcd3 store's wording); a watch without one (kube-apiserver answers
    that one 500, the simulator 400: bad input gets a 4xx here)."""
    if value in (None, ""):
        return None
    why = None
    if not (value.isascii() and value.isdigit()):
        why = "invalid syntax"
    elif int(value) > _MAX_UINT64:
        why = "value out of range"
    if why:
        raise ApiError(400, "BadRequest", f'{prefix}resourceVersion: Invalid value: "{value}": '
                       f'strconv.ParseUint: parsing "{value}": {why}')
    return int(value)


def read_plan(query: dict, limit: int) -> tuple[str | None, int]:
    """``(mode, revision)`` for a list without a continue token, ``limit`` its page size (0: none): mode
    ``EXACT``, ``NOT_OLDER_THAN`` or None (the current state, a consistent read)."""
    match = query.get("resourceVersionMatch") or ""
    rv = parse_resource_version(query.get("resourceVersion"))
    if rv is None:
        return None, 0
    if match == EXACT or (not match and limit > 0 and rv != 0):
        return EXACT, rv
    return NOT_OLDER_THAN, rv


def too_large(wanted: int, current: int) -> ApiError:
    """504 for a revision the store did not reach in time (storage.NewTooLargeResourceVersionError)."""
    return ApiError(504, "Timeout", f"Timeout: Too large resource version: {wanted}, current: {current}",
                    {"causes": [{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}],
                     "retryAfterSeconds": RETRY_AFTER_S})


def too_old() -> ApiError:
    """410 for an exact list of a compacted revision (etcd3 errors.go interpretListError)."""
    return expired("The resourceVersion for the provided list is too old.")
