"""Benchmark the simulated API server under bad input and concurrent clients (issue 20).

Runs the seeded fuzz cases of tests/fuzzcases.py (every class of bad input) interleaved with valid
reads and writes from CLIENTS concurrent clients against a bare Store + HTTP server on loopback, and
prints: requests by class and status code, 5xx count, tracebacks logged, requests/s, p50/p99 latency of
valid reads and writes under that load, peak RSS, and whether the sentinel objects stayed unchanged.
Run: .venv/bin/python benchmarks/bench_reliability.py [clients] [cases per class]
"""

from __future__ import annotations

import json
import logging
import resource
import statistics
import sys
import threading
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from apiharness import Harness
from fuzzcases import cases, http, problems, seed_objects, send, sentinels
from targets import report

CLIENTS = int(sys.argv[1]) if len(sys.argv) > 1 else 100
PER_CLASS = int(sys.argv[2]) if len(sys.argv) > 2 else 150


class _Tracebacks(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record):
        if record.exc_info:
            self.count += 1


def valid_requests(count: int) -> list[tuple[str, bytes]]:
    out = []
    for i in range(count):
        if i % 4 == 0:
            body = json.dumps({"metadata": {"name": f"load-{i}"}, "spec": {"holderIdentity": "bench"}}).encode()
            out.append(("write", http("POST", "/apis/coordination.k8s.io/v1/namespaces/default/leases", body)))
        else:
            out.append(("read", http("GET", "/api/v1/namespaces/default/pods")))
    return out


def main() -> None:
    tracebacks = _Tracebacks()
    logging.getLogger().addHandler(tracebacks)
    harness = Harness()
    seed_objects(harness.store)
    before = sentinels(harness.store)
    fuzz = cases(per_class=PER_CLASS)
    work = fuzz + valid_requests(len(fuzz))
    work = [work[i] for i in sorted(range(len(work)), key=lambda i: (i * 7919) % len(work))]  # interleave
    lock = threading.Lock()
    by_class, codes, wrong, latencies = Counter(), Counter(), [], {"read": [], "write": []}
    position = iter(range(len(work)))

    def client():
        while True:
            with lock:
                index = next(position, None)
            if index is None:
                return
            cls, data = work[index]
            started = time.perf_counter()
            status, head, body = send(harness.server.port, data)
            elapsed = time.perf_counter() - started
            with lock:
                by_class[cls] += 1
                codes[status] += 1
                if cls in latencies:
                    latencies[cls].append(elapsed)
                    if status >= 300 and status != 409:
                        wrong.append((cls, status))
                elif problems(data, status, head, body):
                    wrong.append((cls, status))

    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    serving = send(harness.server.port, b"GET /version HTTP/1.1\r\nConnection: close\r\n\r\n")[0] == 200
    unchanged = sentinels(harness.store) == before
    harness.stop()

    def pct(values, q):
        return statistics.quantiles(values, n=100)[q - 1] * 1000 if len(values) > 1 else float("nan")

    print(f"clients: {CLIENTS}; requests: {len(work)} in {wall:.1f} s ({len(work) / wall:.0f}/s)")
    print("requests by class:", dict(sorted(by_class.items())))
    print("status codes:", dict(sorted(codes.items())))
    print(f"5xx: {sum(n for code, n in codes.items() if code >= 500)}; answers not as expected: {len(wrong)}"
          f"; tracebacks logged: {tracebacks.count}")
    for cls, values in latencies.items():
        print(f"valid {cls}s under load: p50 {pct(values, 50):.1f} ms, p99 {pct(values, 99):.1f} ms")
    print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB; still serving: {serving};"
          f" sentinels unchanged: {unchanged}")
    writes_with_time_moving()


def _write_leases(port: int, clients: int, seconds: float, queue) -> None:
    """The load: ``clients`` threads, each on one keep-alive connection (as kubectl and client-go keep
    theirs), creating Leases for ``seconds``; puts the status-code counts on ``queue``. It runs in a
    process of its own so that the clients' CPU is not the simulator's: the figure is the server's."""
    import http.client

    stop, counts, lock = threading.Event(), Counter(), threading.Lock()

    def writer(index):
        conn, i, mine = http.client.HTTPConnection("127.0.0.1", port, timeout=20), 0, Counter()
        while not stop.is_set():
            body = json.dumps({"metadata": {"name": f"w{index}-{i}"}, "spec": {"holderIdentity": "bench"}})
            conn.request("POST", "/apis/coordination.k8s.io/v1/namespaces/default/leases", body,
                         {"Content-Type": "application/json"})
            response = conn.getresponse()
            response.read()
            mine[response.status] += 1
            i += 1
        with lock:
            counts.update(mine)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    stop.wait(seconds)  # the measurement window itself
    stop.set()
    for t in threads:
        t.join()
    queue.put(dict(counts))


def writes_with_time_moving(clients: int = 20, seconds: float = 5.0, period: float = 0.1) -> None:
    """Lease writes over HTTP from ``clients`` connections of another process against a whole simulated
    cluster (its reactor running every component) for ``seconds``, while a probe timer due every
    ``period`` virtual seconds measures how late the reactor runs it: time "moves" while that lateness
    stays small."""
    import multiprocessing
    import tempfile

    from helpers.sim import start_in_process

    scratch = tempfile.TemporaryDirectory(prefix="bench-reliability-")
    sim = start_in_process(kubeconfig_path=Path(scratch.name) / "kubeconfig")
    port, clock, lateness, done = int(sim.url.rsplit(":", 1)[1]), sim.cluster.clock, [], threading.Event()

    def probe(due_wall):
        lateness.append(time.monotonic() - due_wall)
        if not done.is_set():
            clock.call_later(period, probe, time.monotonic() + period / clock.speed)

    spawn = multiprocessing.get_context("spawn")
    queue = spawn.Queue()
    load = spawn.Process(target=_write_leases, args=(port, clients, seconds, queue))
    try:
        clock.call_soon(probe, time.monotonic())
        virtual0, wall0 = clock.time(), time.monotonic()
        load.start()
        counts = Counter(queue.get(timeout=seconds + 60))
        wall, virtual = time.monotonic() - wall0, clock.time() - virtual0
        done.set()
        load.join(10)
    finally:
        if load.is_alive():
            load.kill()
        sim.stop()
        scratch.cleanup()
    late = sorted(lateness)
    print(f"whole cluster, {clients} keep-alive writers in another process: {counts[201] / wall:.0f} writes/s "
          f"(status codes {dict(counts)}); virtual time moved {virtual:.2f} s in {wall:.2f} s; probe timer "
          f"lateness p50 {late[len(late) // 2] * 1000:.1f} ms, max {late[-1] * 1000:.1f} ms ({len(late)} probes)")
    report("issue 20: writes/s with virtual time moving", counts[201] / wall, 1000, "/s", at_least=True)


if __name__ == "__main__":
    main()
