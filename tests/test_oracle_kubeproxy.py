"""The real kube-proxy (v1.36.1, `make upstream`) as the judge of the simulator's kube-proxy model (issue 19).

Per mode, a simulator and one real kube-proxy per node in its own network namespace (tests/netns.py);
each scenario's rules are compared node by node, both read back from a kernel (tests/kubeproxy_oracle.py).
The host namespace must come out unchanged, and nothing of ours may be left behind.
"""

from __future__ import annotations

import os

import kubeproxy_oracle as oracle
import netns
import pytest

UNAVAILABLE = netns.kube_proxy_unavailable()

pytestmark = pytest.mark.skipif(bool(UNAVAILABLE), reason=UNAVAILABLE)

@pytest.fixture(scope="module")
def host_before():
    return netns.host_state()


@pytest.fixture(scope="module", params=list(oracle.CONFIGS))
def lab(request, host_before):
    lab = oracle.Lab(request.param)
    yield lab
    lab.stop()
    assert netns.host_state() == host_before
    assert not [n for n in netns.our_namespaces() if n.startswith(f"{netns.PREFIX}{os.getpid()}-")]


@pytest.mark.parametrize("scenario", oracle.SCENARIOS, ids=str)
def test_rules_agree_with_the_real_kube_proxy(lab, scenario):
    results = lab.run(scenario)
    oracle.record(results)
    differing = [r for r in results if not r.agrees]
    assert not differing, oracle.report(differing)


def test_teardown_leaves_nothing(host_before, tmp_path):
    from helpers.sim import start_in_process

    sim = start_in_process(kubeconfig_path=tmp_path / "kubeconfig")
    try:
        kernel = netns.KernelNodes(sim, "iptables")
        names = [n.ns.name for n in kernel.nodes.values()]
        pids = [n.proxy.process.pid for n in kernel.nodes.values()]
        kernel.wait_started()
        # The relabel that wait_started gives a kube-proxy which missed its node's labels (tests/netns.py)
        # reaches the real one as the zone's removal, then its return.
        name, proxy = next((n, k.proxy) for n, k in kernel.nodes.items() if k.proxy.topology_labels)
        zone, mark = proxy.topology_labels, len(proxy.topology_updates)
        kernel._relabel_zone(name)
        with proxy.changed:
            assert proxy.changed.wait_for(lambda: proxy._relabelled_locked(mark, zone), netns.START_TIMEOUT_S), \
                proxy._tail_locked()
        kernel.stop()
    finally:
        sim.stop()
    assert not set(names) & set(netns.our_namespaces())
    assert all(not netns.pid_alive(p) for p in pids)  # Popen.wait() reaped each one
    assert not kernel.tmp.exists()
    assert netns.host_state() == host_before


def test_report_lists_agreement():
    text = oracle.report()
    print("\n" + text)
    assert not oracle.RESULTS or "scenarios agree" in text


@pytest.mark.parametrize("burst", oracle.BURSTS)
def test_sync_timing_follows_the_real_kube_proxy(lab, burst):
    """N EndpointSlice changes under minSyncPeriod 1 s: as many syncs (within one) at the same offsets."""
    timings = oracle.sync_timing(lab, burst)
    print("\n" + "\n".join(map(str, timings)))
    differing = [t for t in timings if not t.agrees]
    assert not differing, "\n".join(map(str, differing))
