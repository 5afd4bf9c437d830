"""Every helper against the simulator: real HTTP server, real kubernetes client, real kubectl."""

import itertools
import json
import os
import queue
import re
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

import helpers as h
from helpers import wait
from helpers.connect import SIM_CONTEXT, load_backend, use

REPO = Path(__file__).resolve().parent.parent
_names = itertools.count(1)


def gone(backend, kind, name, namespace=None) -> bool:
    try:
        backend.get(kind, name, namespace)
    except h.ApiError as err:
        return err.code == 404
    return False


def pod_names(namespace, selector="app=web"):
    return [p["metadata"]["name"] for p in h.list_objects("pods", namespace, selector)]


# --- connecting -------------------------------------------------------------------------------------

def test_connect_reuses_the_running_simulator_and_prints_one_banner(sim, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ENDPOINTS_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-kind-here"))  # auto mode finds no kind cluster
    monkeypatch.delenv("ENDPOINTS_BACKEND", raising=False)
    (tmp_path / "sim.json").write_text(json.dumps({"url": sim.url, "pid": os.getpid(),
                                                   "kubeconfig": sim.kubeconfig}))
    try:
        backend = h.connect()
    finally:
        use(load_backend("sim", SIM_CONTEXT, sim.kubeconfig))
    nodes = len(sim.cluster.store.list("nodes")[0])
    assert capsys.readouterr().out == (f"Simulated cluster (helpers.sim) — not a real Kubernetes cluster — "
                                       f"{backend.version}, {nodes} nodes\n")
    assert backend.is_sim and backend.context == SIM_CONTEXT and backend.version.endswith("-sim")
    assert backend.node_count == nodes and backend.url == sim.url
    assert backend.core.list_namespace().items  # the typed clients work against it too


def fake_kind(tmp_path, monkeypatch, server: str) -> None:
    """A `kind` executable first on PATH whose `kind get kubeconfig` names ``server``."""
    bindir = tmp_path / "bin"
    bindir.mkdir(exist_ok=True)
    (bindir / "kind").write_text("#!/bin/sh\n[ \"$1 $2\" = 'get kubeconfig' ] || exit 1\n"
                                 f"printf 'clusters:\\n- cluster:\\n    server: {server}\\n  name: kind-endpoints\\n'\n")
    (bindir / "kind").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")


def test_auto_prefers_the_kind_cluster_when_its_context_answers(sim, tmp_path, monkeypatch, capsys):
    # The simulator's API server stands in for kind's here: only the context name differs, and kind
    # reports that server as its cluster's.
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text(Path(sim.kubeconfig).read_text().replace("sim-endpoints", "kind-endpoints"))
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    monkeypatch.delenv("ENDPOINTS_BACKEND", raising=False)
    fake_kind(tmp_path, monkeypatch, sim.url)
    try:
        backend = h.connect()
    finally:
        use(load_backend("sim", SIM_CONTEXT, sim.kubeconfig))
    assert (backend.kind, backend.context, backend.kubeconfig) == ("kind", "kind-endpoints", str(kubeconfig))
    assert capsys.readouterr().out.startswith('kind cluster "endpoints" (context kind-endpoints) — v1.')


def test_a_context_merely_named_kind_endpoints_is_not_trusted(sim, tmp_path, monkeypatch, capsys):
    """Issue 20 finding 7: the context must point where `kind get kubeconfig --name endpoints` says."""
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text(Path(sim.kubeconfig).read_text().replace("sim-endpoints", "kind-endpoints"))
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    fake_kind(tmp_path, monkeypatch, "https://127.0.0.1:6443")  # kind's cluster is elsewhere
    with pytest.raises(h.UnsafeContext, match="says the kind cluster is at https://127.0.0.1:6443"):
        h.connect("kind")
    monkeypatch.setenv("ENDPOINTS_STATE_DIR", str(tmp_path))
    monkeypatch.delenv("ENDPOINTS_BACKEND", raising=False)
    (tmp_path / "sim.json").write_text(json.dumps({"url": sim.url, "pid": os.getpid(),
                                                   "kubeconfig": sim.kubeconfig}))
    try:
        backend = h.connect()  # auto: the impostor is skipped, the simulator stands in
    finally:
        use(load_backend("sim", SIM_CONTEXT, sim.kubeconfig))
    assert backend.is_sim and "Simulated cluster" in capsys.readouterr().out


def test_auto_falls_back_to_the_simulator_when_kind_does_not_answer(sim, tmp_path, monkeypatch, capsys):
    import socket

    with socket.socket() as sock:  # a port nobody listens on: kind's API server is "down"
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text(Path(sim.kubeconfig).read_text().replace("sim-endpoints", "kind-endpoints")
                          .replace(sim.url, f"http://127.0.0.1:{port}"))
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    monkeypatch.setenv("ENDPOINTS_STATE_DIR", str(tmp_path))
    monkeypatch.delenv("ENDPOINTS_BACKEND", raising=False)
    (tmp_path / "sim.json").write_text(json.dumps({"url": sim.url, "pid": os.getpid(),
                                                   "kubeconfig": sim.kubeconfig}))
    started = time.monotonic()
    try:
        backend = h.connect()
    finally:
        use(load_backend("sim", SIM_CONTEXT, sim.kubeconfig))
    assert backend.is_sim and capsys.readouterr().out.startswith("Simulated cluster (helpers.sim)")
    assert time.monotonic() - started < 10


# --- kubectl ----------------------------------------------------------------------------------------

def test_kubectl_output_reads_like_a_terminal(backend, box):
    nodes = h.kubectl("get", "nodes")
    assert str(nodes).startswith("$ kubectl get nodes\nNAME")
    assert "endpoints-control-plane" in nodes.stdout and "endpoints-control-plane" in nodes._repr_html_()
    applied = h.kubectl("apply", "-n", box.name, "-f", "-", input=h.service("web"))
    assert "service/web created" in applied.stdout
    assert h.kubectl("get", "svc", "web", "-n", box.name, "-o", "json").json()["spec"]["selector"] == {"app": "web"}
    with pytest.raises(h.KubectlError) as err:
        h.kubectl("get", "pod", "nope", "-n", box.name)
    assert "NotFound" in str(err.value) or "not found" in str(err.value)
    assert h.kubectl("get", "pod", "nope", "-n", box.name, check=False).returncode == 1


# --- sandbox and objects --------------------------------------------------------------------------

def test_sandbox_is_fresh_labelled_and_cleaned_up(backend):
    name = f"hx-life-{os.getpid() % 1000}"
    first = h.sandbox(name)
    labels = backend.get("namespaces", name)["metadata"]["labels"]
    assert labels["app.kubernetes.io/part-of"] == "endpoints-notebooks"
    assert labels["endpoints-notebooks/chapter"] == name
    h.apply(h.deployment("web", replicas=1), namespace=name)
    second = h.sandbox(name)  # a re-run: the leftover (and its deployment) is deleted first
    assert h.list_objects("deployments", name) == []
    assert first.name == second.name
    with second:
        pass
    assert gone(backend, "namespaces", name)


def test_sandbox_is_cleaned_up_when_a_cell_fails(sim, backend):
    script = textwrap.dedent(f"""
        import helpers as h
        from helpers.connect import load_backend, use
        use(load_backend("sim", "sim-endpoints", {sim.kubeconfig!r}))
        ns = h.sandbox("hx-crash")
        h.apply(h.deployment("web", replicas=1), namespace=ns.name)
        raise RuntimeError("a failing cell")
    """)
    proc = subprocess.run([sys.executable, "-c", script], check=False, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and "RuntimeError: a failing cell" in proc.stderr
    assert gone(backend, "namespaces", "hx-crash")


def test_writes_outside_sandboxes_are_refused(sim, backend):
    with pytest.raises(h.UnsafeNamespace):
        h.apply(h.service("x"), namespace="default")
    with pytest.raises(h.UnsafeNamespace):
        h.scale("coredns", 0, "kube-system")
    with pytest.raises(h.HelperError):
        h.sandbox("kube-system")
    sim.cluster.store.create("namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                            "metadata": {"name": "hx-someone-elses"}})
    with pytest.raises(h.UnsafeNamespace):
        h.sandbox("hx-someone-elses")
    assert not gone(backend, "namespaces", "hx-someone-elses")  # refused, not deleted
    assert h.get("deployments", "coredns", "kube-system")["spec"]["replicas"] > 0


def test_the_guard_holds_for_cluster_scoped_writes_relabelling_and_kubectl(sim, backend, box):
    """Issue 20 finding 7: every way a helper writes is checked against the sandbox rule."""
    with pytest.raises(h.UnsafeNamespace, match="the cluster relies on it"):
        h.delete("namespace", "kube-system")
    with pytest.raises(h.UnsafeNamespace, match="cluster-scoped nodes"):
        h.delete("node", "endpoints-worker")
    with pytest.raises(h.UnsafeNamespace, match="marks sandboxes"):
        h.label("namespace", "default", {"app.kubernetes.io/part-of": "endpoints-notebooks"})
    sim.cluster.store.create("namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {
        "name": "hx-plain"}})
    with pytest.raises(h.UnsafeNamespace, match="marks sandboxes"):  # relabelling into a sandbox
        h.label("namespace", "hx-plain", {"app.kubernetes.io/part-of": "endpoints-notebooks"})
    with pytest.raises(h.UnsafeNamespace, match="not a sandbox"):
        h.delete("namespace", "hx-plain")
    # someone labelled a reserved namespace by hand: it is still not a sandbox
    default = sim.cluster.store.get("namespaces", "default")
    default["metadata"].setdefault("labels", {})["app.kubernetes.io/part-of"] = "endpoints-notebooks"
    sim.cluster.store.update("namespaces", default)
    try:
        with pytest.raises(h.UnsafeNamespace):
            h.apply(h.service("x"), namespace="default")
    finally:
        default = sim.cluster.store.get("namespaces", "default")
        del default["metadata"]["labels"]["app.kubernetes.io/part-of"]
        sim.cluster.store.update("namespaces", default)
    sandbox_label = "app.kubernetes.io/part-of=endpoints-notebooks"
    refused = [("delete", "pod", "coredns", "-n", "kube-system"), ("delete", "ns", "kube-system"),
               ("delete", "namespace/hx-plain"), ("label", "ns", "default", sandbox_label),
               ("scale", "deploy/coredns", "--replicas=0", "--namespace=kube-system"),
               ("apply", "-f", "-"),  # no -n: the context's namespace, default
               ("delete", "pods", "--all", "-A"), ("cordon", "endpoints-worker"),
               ("get", "pods", "--context", "somewhere-else"), ("--kubeconfig=/tmp/other", "delete", "pod", "a"),
               ("config", "use-context", "prod"), ("apply", "-n", box.name, "-f", "-")]
    manifests = {len(refused) - 1: {**h.service("x"), "metadata": {"name": "x", "namespace": "kube-system"}},
                 5: h.service("x")}
    for i, args in enumerate(refused):
        with pytest.raises(h.UnsafeNamespace):
            h.kubectl(*args, input=manifests.get(i))
    assert h.kubectl("apply", "-n", box.name, "-f", "-", input=h.service("x")).ok  # writes in a sandbox run
    assert "x" in h.kubectl("get", "svc", "-n", box.name).stdout
    assert h.kubectl("delete", "svc", "x", "-n", box.name).ok
    assert sim.cluster.store.get("namespaces", "hx-plain") and sim.cluster.store.get("namespaces", "kube-system")
    sim.cluster.store.delete("namespaces", "hx-plain")


def test_the_simulator_refuses_to_delete_system_namespaces_as_kube_apiserver_does(sim):
    from conftest import kubectl

    for name in ("default", "kube-system", "kube-public", "kube-node-lease"):
        result = kubectl(sim, "delete", "namespace", name, check=False)
        assert result.returncode == 1
        assert f'namespaces "{name}" is forbidden: this namespace may not be deleted' in result.stderr
        assert not sim.cluster.store.get("namespaces", name)["metadata"].get("deletionTimestamp")


def test_apply_scale_tables_and_delete(backend, box):
    h.apply(h.deployment("web", replicas=2), h.service("web"), namespace=box.name)
    h.wait_for_ready(box.name, "app=web", 2)
    h.wait_for_slices(box.name, "web", endpoints=2, ready=2)
    slices = h.slices_table(box.name, service="web")
    assert len(slices) == 2 and slices["ready"].all() and set(slices["service"]) == {"web"}
    assert set(slices["address"]) == set(h.pods_table(box.name)["podIP"])
    svc = h.services_table(box.name)
    assert list(svc["name"]) == ["web"] and svc.iloc[0]["selector"] == "app=web"
    assert len(h.nodes_table()) == backend.node_count
    assert h.scale("web", 3, box.name)["spec"]["replicas"] == 3
    h.wait_for_slices(box.name, "web", endpoints=3, ready=3)
    h.delete("deployment", "web", box.name, wait=True)
    assert gone(backend, "deployments", "web", box.name)
    with pytest.raises(h.ApiError) as err:  # the API's Status comes through, with a next step
        h.scale("web", 1, box.name)
    assert err.value.code == 404 and 'deployments.apps "web" not found' in str(err.value)
    assert "check the name, kind and namespace" in err.value.hint
    # YAML text works too, and apply is idempotent (server-side apply)
    doc = "apiVersion: v1\nkind: Service\nmetadata: {name: other}\nspec:\n  selector: {app: other}\n" \
          "  ports: [{port: 80}]\n"
    assert h.apply(doc, namespace=box.name)[0]["metadata"]["name"] == "other"
    assert h.apply(doc, namespace=box.name)[0]["spec"]["ports"][0]["port"] == 80


def test_endpoints_table_lists_v1_endpoints(backend, box):
    h.apply(h.deployment("web", replicas=2), h.service("web"), namespace=box.name)
    h.wait_for("endpoints", lambda eps: sum(len(s.get("addresses") or []) for e in eps
                                            for s in e.get("subsets") or []) == 2, namespace=box.name, timeout=20)
    table = h.endpoints_table(box.name, "web")
    assert list(table["ready"]) == [True, True]
    assert set(table["ip"]) == set(h.pods_table(box.name)["podIP"])


def test_readiness_gate_flips_endpoint_conditions(backend, box):
    h.apply(h.deployment("web", replicas=3, readiness_gate=True), h.service("web"), namespace=box.name)
    h.wait_for_slices(box.name, "web", endpoints=3, ready=0)
    assert not h.pods_table(box.name)["ready"].any()
    h.set_ready(h.list_objects("pods", box.name, "app=web"), True, box.name)
    ready = h.wait_for_slices(box.name, "web", endpoints=3, ready=3)
    victim = min(pod_names(box.name))
    h.set_ready(victim, False, box.name)
    after = h.wait_for_slices(box.name, "web", endpoints=3, ready=2)
    diff = h.diff_slices(ready, after)
    assert list(diff["change"]) == ["changed"] and "ready True→False" in diff.iloc[0]["detail"]
    h.apply(h.deployment("plain", replicas=1), namespace=box.name)
    plain = h.wait_for_ready(box.name, "app=plain", 1)
    with pytest.raises(h.HelperError, match="has no readiness gate"):
        h.set_ready(plain, False, box.name)
    with pytest.raises(h.HelperError, match="without metadata.name"):
        h.apply({"apiVersion": "v1", "kind": "Service", "metadata": {"generateName": "x-"}}, namespace=box.name)
    h.label("pods", victim, {"extra": "yes"}, box.name)
    assert h.get("pods", victim, box.name)["metadata"]["labels"]["extra"] == "yes"
    h.label("pods", victim, {"extra": None}, box.name)
    assert "extra" not in h.get("pods", victim, box.name)["metadata"]["labels"]


# --- waits ------------------------------------------------------------------------------------------

def test_waits_show_progress_and_time_out_with_a_clear_message(backend, box, capsys, monkeypatch):
    monkeypatch.setattr(wait, "PROGRESS_DELAY", 0.0)
    h.apply(h.deployment("web", replicas=4), namespace=box.name)
    h.wait_for_ready(box.name, "app=web", 4)
    out = capsys.readouterr().out
    assert "\r[" in out and "4/4 pods Ready" in out and out.endswith(" s)\n")
    with pytest.raises(h.WaitTimeout) as err:
        h.wait_for_ready(box.name, "app=web", 6, timeout=1)
    message = str(err.value)
    assert "timed out after 1 s waiting for 6 pods app=web to be Ready" in message
    assert "4/6 pods Ready" in message and "Next step:" in message


def test_scaling_down_shows_endpoints_gone_not_a_count_above_its_target(backend, box, capsys, monkeypatch):
    monkeypatch.setattr(wait, "PROGRESS_DELAY", 0.0)
    h.apply(h.deployment("down", replicas=3), h.service("down"), namespace=box.name)
    h.wait_for_slices(box.name, "down", endpoints=3, ready=3)
    capsys.readouterr()
    h.scale("down", 0, box.name)
    h.wait_for_slices(box.name, "down", endpoints=0)
    out = capsys.readouterr().out
    assert re.search(r"(\d)/\1 endpoints gone from slices \(0 left\)", out) and "/0 " not in out


def _event(name, namespace):
    return {"apiVersion": "v1", "kind": "Event", "metadata": {"name": name, "namespace": namespace},
            "involvedObject": {"kind": "Pod", "name": "x", "namespace": namespace},
            "reason": "Test", "message": "filler", "type": "Normal"}


def test_watch_resumes_with_a_relist_after_410_expired(private_sim):
    store = private_sim.cluster.store
    backend = load_backend("sim", SIM_CONTEXT, private_sim.kubeconfig)
    store.create("namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "hx-410"}})
    events = wait.watch_events(backend, "events", namespace="hx-410", timeout=60)
    assert next(events) == ("SYNC", [])
    for i in range(50):
        store.create("events", _event(f"e{i}", "hx-410"), namespace="hx-410")
    store.compact()  # as the API server's compactor does every 5 minutes: our resourceVersion is compacted
    etype, items = next(events)  # the watch from the old resourceVersion answers 410; we relist
    assert etype == "SYNC" and len(items) == 50
    store.create("events", _event("after", "hx-410"), namespace="hx-410")
    etype, obj = next(events)  # and then watch on from the relist's resourceVersion
    assert (etype, obj["metadata"]["name"], obj["kind"]) == ("ADDED", "after", "Event")
    events.close()


def test_trace_relists_after_410_and_records_what_it_missed(private_sim):
    store = private_sim.cluster.store
    backend = load_backend("sim", SIM_CONTEXT, private_sim.kubeconfig)
    store.create("namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "hx-410t"}})
    for name in ("gone", "changed"):
        store.create("events", _event(name, "hx-410t"), namespace="hx-410t")
    tr = h.Trace(kinds=["events"], namespace="hx-410t", duration=60, max_events=20_000, proxy_logs=False,
                 backend=backend)
    # Holding the store's lock (test-only) cuts the trace's watch and keeps it from reopening until the
    # history has moved past its resourceVersion: the reopened watch must get 410 Expired.
    with store._lock:
        store.stop_watches()
        store.delete("events", "gone", "hx-410t")
        changed = store.get("events", "changed", "hx-410t")
        store.update("events", {**changed, "message": "changed while the trace was cut off"})
        for i in range(50):
            store.create("events", _event(f"e{i}", "hx-410t"), namespace="hx-410t")
        store.compact()  # the history moves past the trace's resourceVersion
    # wait for what the trace must record, not for a quiet spell: under load the client can still be
    # digesting the relist while nothing new arrives
    assert tr.wait_for_event(lambda e: e["name"] == "e49", timeout=60)
    store.create("events", _event("live", "hx-410t"), namespace="hx-410t")
    assert tr.wait_for_event(lambda e: e["name"] == "live", timeout=60)
    tr.stop()
    frame = tr.to_frame()
    assert tr.relists == 1 and tr.errors == []
    assert (frame["type"] == "ADDED").sum() == 51
    assert frame.iloc[-1]["name"] == "live"
    # the relist also says what was deleted and changed while the watch was cut off
    assert frame[frame["type"] == "DELETED"]["name"].tolist() == ["gone"]
    modified = frame[frame["type"] == "MODIFIED"]
    assert modified["name"].tolist() == ["changed"]
    assert modified.iloc[0]["summary"].endswith("changed while the trace was cut off")


def test_watch_resumes_from_bookmarks_without_a_relist(monkeypatch, tmp_path):
    from helpers.config import load_cluster_config
    from helpers.sim import kubeconfig_text, version_info
    from helpers.sim.cluster import Cluster
    from helpers.sim.control import ControlHandler
    from helpers.sim.server import serve

    cluster = Cluster(load_cluster_config(), speed=10.0)
    server = serve(cluster.store, control=ControlHandler(cluster), version_info=version_info(cluster.version),
                   bookmark_interval=0.1)  # idle watches get a BOOKMARK every 0.1 s
    try:
        kubeconfig = tmp_path / "kubeconfig"
        kubeconfig.write_text(kubeconfig_text(f"http://127.0.0.1:{server.port}"))
        backend = load_backend("sim", SIM_CONTEXT, str(kubeconfig))
        # The server ends each watch after 4 s and we resume: long enough for the writes below to finish
        # inside the first window, with bookmarks (every 0.1 s, the last 2 s before the deadline, as the
        # watch cache sends them) keeping our resourceVersion fresh.
        monkeypatch.setattr(wait, "WATCH_WINDOW", 4)
        store = cluster.store
        for name in ("quiet", "busy"):
            store.create("namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
        writes_done, reopened, opened = threading.Event(), threading.Event(), threading.Event()
        received = queue.Queue()

        def on_stream(stream):
            opened.set()
            if writes_done.is_set():
                reopened.set()

        def consume():
            for item in wait.watch_events(backend, "events", namespace="quiet", timeout=30, on_stream=on_stream,
                                          stopped=lambda: not received.empty() and received.queue[-1][0] == "ADDED"):
                received.put(item)

        threading.Thread(target=consume, daemon=True).start()
        assert received.get(timeout=10) == ("SYNC", [])
        assert opened.wait(timeout=10)  # the watch from the list's resourceVersion is open
        for i in range(50):
            store.create("events", _event(f"e{i}", "busy"), namespace="busy")
        store.compact()  # the list's resourceVersion is compacted; bookmarks (every 0.1 s) keep ours fresh
        writes_done.set()
        assert reopened.wait(timeout=10)  # the watch was resumed after the writes...
        store.create("events", _event("after", "quiet"), namespace="quiet")
        etype, obj = received.get(timeout=10)
        assert etype == "ADDED", "the watch relisted: it resumed from the list's resourceVersion, not a bookmark"
        assert obj["metadata"]["name"] == "after"
    finally:
        server.shutdown()
        cluster.shutdown()


# --- trace and diagram ------------------------------------------------------------------------------

def test_trace_records_who_did_what_and_draws_it(backend, box):
    h.apply(h.service("web"), namespace=box.name)
    h.wait_for_slices(box.name, "web", endpoints=0)
    with h.Trace(namespace=box.name, duration=60) as tr:
        h.apply(h.deployment("web", replicas=2), namespace=box.name)
        h.wait_for_slices(box.name, "web", endpoints=2, ready=2)
        assert tr.wait_idle(quiet=0.5, timeout=20)
    assert not tr.running and tr.errors == []
    frame = tr.to_frame()
    assert list(frame["t"]) == sorted(frame["t"])

    def rows(kind, **match):
        part = frame[frame["kind"] == kind]
        for column, value in match.items():
            part = part[part[column].astype(str).str.startswith(value)]
        return part

    assert len(rows("User", summary="apply Deployment/web")) == 1
    assert set(rows("ReplicaSet", type="ADDED")["actor"]) == {"Deployment controller"}
    assert len(rows("Pod", type="ADDED", actor="ReplicaSet controller")) == 2
    assert len(rows("Pod", summary="nodeName=", actor="scheduler")) == 2
    assert len(rows("Pod", actor="kubelet")[lambda f: f["summary"].str.contains("ready False→True")]) == 2
    assert len(rows("EndpointSlice", actor="EndpointSlice controller")) >= 1
    syncs = rows("KubeProxy", type="SYNC")  # read from the kube-proxy pods' logs when the trace stopped
    assert set(syncs["actor"]) == {f"kube-proxy ({n})" for n in h.nodes_table()["name"]}
    assert syncs["t"].between(0, frame["t"].max() + 1).all()
    diagram = h.sequence_diagram(tr)
    assert {"user/kubectl", "API server", "ReplicaSet controller", "scheduler", "kubelet",
            "EndpointSlice controller"} <= set(diagram.participants)
    assert len(diagram.messages) <= 15
    assert "create Pod" in diagram.mermaid() and "bind Pod to node" in diagram.dot()
    assert "watch → sync rules" in diagram.mermaid()


def test_trace_credits_a_deletion_to_whoever_asked_for_it(backend, box):
    h.apply(h.deployment("web", replicas=3), namespace=box.name)
    pods = h.wait_for_ready(box.name, "app=web", 3)
    victim = pods[0]["metadata"]["name"]
    with h.Trace(kinds=("pods",), namespace=box.name, duration=60, proxy_logs=False) as tr:
        h.delete("pod", victim, box.name)
        h.scale("web", 1, box.name)  # the ReplicaSet controller deletes two more (the replacement among them)
        h.wait_for("pods", lambda ps: len(ps) == 1, namespace=box.name, timeout=30)
    frame = tr.to_frame()
    terminating = frame[(frame["kind"] == "Pod") & frame["summary"].str.startswith("terminating")]
    actors = dict(zip(terminating["name"], terminating["actor"], strict=False))
    assert actors.pop(victim) == "user/kubectl"
    assert actors and set(actors.values()) == {"ReplicaSet controller"}


def test_trace_stops_promptly_even_right_after_it_started(backend):
    for _ in range(3):  # stop() may come before a watcher has opened its stream
        started = time.monotonic()
        tr = h.Trace(proxy_logs=False)
        tr.stop()
        assert not tr.running and tr.errors == []
        assert time.monotonic() - started < 3
