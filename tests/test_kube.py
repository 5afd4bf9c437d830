"""helpers.kube: the shared vocabulary (timestamps, conditions, lifecycle tests, keys)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from helpers.kube import (
    epoch,
    format_micro_time,
    format_rfc3339nano,
    format_time,
    get_condition,
    is_active,
    is_ready,
    is_terminal,
    is_terminating,
    obj_key,
    parse_time,
    set_condition,
)

MOMENT = datetime(2026, 1, 2, 3, 4, 5, 120000, tzinfo=UTC)


@pytest.mark.parametrize("fmt,want", [
    (format_time, "2026-01-02T03:04:05Z"),
    (format_micro_time, "2026-01-02T03:04:05.120000Z"),
    (format_rfc3339nano, "2026-01-02T03:04:05.12Z"),
], ids=["Time", "MicroTime", "RFC3339Nano"])
def test_formats_match_the_api_precisions(fmt, want):
    assert fmt(MOMENT) == want
    kept = MOMENT.replace(microsecond=0) if fmt is format_time else MOMENT  # Time drops the fraction
    assert parse_time(want) == kept


@pytest.mark.parametrize("text,want", [
    ("2026-01-02T03:04:05.123456789Z", datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)),
    ("2026-01-02T03:04:05.1Z", datetime(2026, 1, 2, 3, 4, 5, 100000, tzinfo=UTC)),
    ("2026-01-02T05:04:05+02:00", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)),
], ids=["nanoseconds-truncated", "short-fraction-padded", "offset-to-utc"])
def test_parse_time_reads_every_rfc3339_precision(text, want):
    assert parse_time(text) == want
    assert epoch(text) == want.timestamp()


def test_naive_datetimes_are_taken_as_utc_and_empty_values_as_none():
    assert format_time(datetime(2026, 1, 2, 3, 4, 5)) == "2026-01-02T03:04:05Z"
    assert parse_time(None) is None and parse_time("") is None and epoch(None) is None


@pytest.mark.parametrize("text", ["2026-01-02T03:04:05.Z", "yesterday"], ids=["empty-fraction", "prose"])
def test_malformed_timestamps_raise_value_error(text):
    with pytest.raises(ValueError):
        parse_time(text)


def test_conditions_lookup_and_upsert_moves_transition_time_only_on_flips():
    pod = {"metadata": {"name": "p"}, "status": {"conditions": []}}
    assert get_condition(pod, "Ready") is None and not is_ready(pod)
    assert set_condition(pod, {"type": "Ready", "status": "True"}, "t1")
    assert is_ready(pod) and get_condition(pod, "Ready")["lastTransitionTime"] == "t1"
    assert not set_condition(pod, {"type": "Ready", "status": "True"}, "t2")
    assert set_condition(pod, {"type": "Ready", "status": "False", "reason": "Probe"}, "t3")
    assert get_condition(pod, "Ready") == {"type": "Ready", "status": "False", "reason": "Probe",
                                           "lastTransitionTime": "t3"}


@pytest.mark.parametrize("phase,deleting,terminal,active", [
    ("Running", False, False, True),
    ("Running", True, False, False),
    ("Succeeded", False, True, False),
    ("Failed", False, True, False),
], ids=["running", "terminating", "succeeded", "failed"])
def test_lifecycle_tests(phase, deleting, terminal, active):
    pod = {"metadata": {"name": "p", **({"deletionTimestamp": "t"} if deleting else {})}, "status": {"phase": phase}}
    assert (is_terminating(pod), is_terminal(pod), is_active(pod)) == (deleting, terminal, active)


def test_object_keys_use_empty_namespace_for_cluster_scoped_objects():
    assert obj_key({"metadata": {"name": "n1"}}) == ("", "n1")
    assert obj_key({"metadata": {"name": "web", "namespace": "ns"}}) == ("ns", "web")
