"""Issue 20: a bounded, seeded fuzz of the loopback API over every class of bad input the audit found
(the cases are in fuzzcases.py). Asserted: no 5xx, every error a Status, no traceback logged, the server
still serving and the sentinel objects byte-identical."""

from __future__ import annotations

import logging
from collections import Counter

import pytest
from apiharness import Harness
from fuzzcases import SENTINEL_NS, STORED, cases, collection, problems, seed_objects, send, sentinels


@pytest.fixture
def h():
    harness = Harness()  # it makes "default" and "kube-system"
    seed_objects(harness.store)
    yield harness
    harness.stop()


def test_fuzz_is_all_client_errors_as_status_with_no_traceback(h, caplog):
    before = sentinels(h.store)
    statuses, bad = Counter(), []
    with caplog.at_level(logging.WARNING):
        for cls, data in cases(per_class=120):
            status, head, body = send(h.server.port, data)
            statuses[(cls, status // 100 * 100 if status else 0)] += 1
            if found := problems(data, status, head, body):
                bad.append((cls, data[:200], status, found, body[:200]))
    tracebacks = [r for r in caplog.records if r.exc_info]
    print("\nfuzz:", sum(statuses.values()), "requests;", dict(sorted(statuses.items())))
    assert not bad, bad[:10]
    assert not tracebacks, [r.getMessage() for r in tracebacks[:5]]
    assert send(h.server.port, b"GET /version HTTP/1.1\r\nConnection: close\r\n\r\n")[0] == 200
    assert sentinels(h.store) == before
    for resource in STORED:  # every stored object still serialises and lists
        status, _, _ = send(h.server.port, f"GET {collection(resource, SENTINEL_NS)} HTTP/1.1\r\n"
                            "Accept: application/json;as=Table;v=v1;g=meta.k8s.io\r\nConnection: close\r\n\r\n".encode())
        assert status == 200
