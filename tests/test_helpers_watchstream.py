"""WatchStream shutdown races: close() from another thread while the reader ends, over real sockets."""

import threading

import pytest

from helpers.connect import SIM_CONTEXT, load_backend

ROUNDS = 150  # each round is one watch on loopback; the unlocked close of before failed within 150 rounds here


@pytest.fixture(scope="module")
def backend(sim):
    return load_backend("sim", SIM_CONTEXT, sim.kubeconfig)


def _race(backend, reader_ends):
    """One watch: the reader takes one event, then ends (``reader_ends``) exactly while close() runs."""
    stream = backend.stream("/api/v1/namespaces", query={"watch": "true", "resourceVersion": "0"}, timeout=30)
    lined_up = threading.Barrier(2, timeout=10)
    errors = []

    def read():
        try:
            events = iter(stream)
            next(events)
            lined_up.wait()
            reader_ends(events)
        except Exception as err:  # noqa: BLE001 - the assertion below names it
            errors.append(err)

    reader = threading.Thread(target=read)
    reader.start()
    lined_up.wait()
    try:
        stream.close()
    except Exception as err:  # noqa: BLE001
        errors.append(err)
    reader.join(timeout=10)
    assert not reader.is_alive() and errors == []


def test_close_while_the_reader_abandons_its_generator(backend):
    for _ in range(ROUNDS):  # Trace.stop() against watch_events' own clean-up (generator finalisation)
        _race(backend, lambda events: events.close())


def test_close_while_the_reader_is_blocked_reading(backend):
    for _ in range(ROUNDS // 3):  # the reader wakes from a blocked read and closes the response itself
        _race(backend, lambda events: list(events))


def test_a_stream_closed_before_it_is_read_yields_nothing(backend):
    stream = backend.stream("/api/v1/namespaces", query={"watch": "true", "resourceVersion": "0"}, timeout=30)
    stream.close()
    assert list(stream) == []
    stream.close()  # idempotent
