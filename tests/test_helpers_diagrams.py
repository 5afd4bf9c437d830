"""Sequence diagrams from a synthetic trace frame: inferred messages, collapsing, DOT and Mermaid text."""

import shutil

import pandas as pd
import pytest

from helpers.diagrams import DOT_HINT, Message, SequenceDiagram, collapse, infer_messages, sequence_diagram
from helpers.trace import COLUMNS

ROWS = [
    (0.00, "User", "ACTION", "ch01", "scale deployment/web --replicas=2", None, "scale deployment/web --replicas=2",
     "user/kubectl"),
    (0.10, "ReplicaSet", "MODIFIED", "ch01", "web-1", "11", "replicas 1→2", "Deployment controller"),
    (0.20, "Pod", "ADDED", "ch01", "web-1-a", "12", "created", "ReplicaSet controller"),
    (0.30, "Pod", "MODIFIED", "ch01", "web-1-a", "13", "nodeName=endpoints-worker", "scheduler"),
    (0.50, "Pod", "MODIFIED", "ch01", "web-1-a", "14", "podIP=10.244.1.5, ready False→True", "kubelet"),
    (0.60, "EndpointSlice", "MODIFIED", "ch01", "web-x", "15", "endpoints 1→2, ready 1→2", "EndpointSlice controller"),
    (0.70, "Endpoints", "MODIFIED", "ch01", "web", "16", "ready 1→2", "Endpoints controller"),
    (0.80, "Node", "MODIFIED", None, "endpoints-worker", "17", "", "kubelet"),  # heartbeat: nothing visible
]


def frame(rows=ROWS):
    return pd.DataFrame(rows, columns=COLUMNS)


def test_infer_messages_assigns_each_write_to_its_component():
    msgs = infer_messages(frame())
    assert [(m.src, m.dst, m.label) for m in msgs] == [
        ("user/kubectl", "API server", "scale deployment/web --replicas=2"),
        ("Deployment controller", "API server", "update ReplicaSet"),
        ("ReplicaSet controller", "API server", "create Pod"),
        ("scheduler", "API server", "bind Pod to node"),
        ("kubelet", "API server", "update Pod status"),
        ("EndpointSlice controller", "API server", "update EndpointSlice"),
        ("API server", "kube-proxy (each node; sync not observed)", "watch: EndpointSlice changed"),
        ("Endpoints controller", "API server", "update Endpoints"),
    ]
    assert msgs[6].dashed and not msgs[5].dashed
    assert msgs[4].text() == "0.50s update Pod status web-1-a: podIP=10.244.1.5, ready False→True"


def test_observed_kube_proxy_syncs_replace_the_unobserved_watch_arrow():
    rows = ROWS[:6] + [(0.9, "KubeProxy", "SYNC", None, "n1", None, 'rules synced elapsed="0.3ms"', "kube-proxy (n1)")]
    msgs = infer_messages(frame(rows))
    assert (msgs[-1].src, msgs[-1].dst, msgs[-1].label, msgs[-1].dashed) == \
        ("API server", "kube-proxy (n1)", "watch → sync rules", True)
    assert not any(m.dst.startswith("kube-proxy (each node") for m in msgs)


def test_collapse_merges_repeats_and_caps_rows():
    creates = [Message("ReplicaSet controller", "API server", "create Pod", i / 100, f"web-{i}") for i in range(250)]
    rows = collapse(creates)
    assert len(rows) == 1 and rows[0].count == 250
    assert rows[0].text() == "0.00–2.49s create Pod ×250"
    # interleaved repeats merge globally once there are too many rows
    mixed = [m for i in range(20) for m in (Message("a", "API server", "create Pod", i, "p"),
                                            Message("b", "API server", "bind Pod to node", i + 0.5, "p"))]
    merged = collapse(mixed, max_rows=15)
    assert [(m.src, m.count) for m in merged] == [("a", 20), ("b", 20)]
    distinct = [Message(f"c{i}", "API server", f"write {i}", i) for i in range(40)]
    capped = collapse(distinct, max_rows=15)
    assert len(capped) == 15 and capped[-1].label == "… 26 more messages"


EXPECTED_MERMAID = """sequenceDiagram
    title scale up
    participant P0 as user/kubectl
    participant P1 as API server
    participant P2 as EndpointSlice controller
    participant P3 as kube-proxy (each node; sync not observed)
    P0->>P1: 0.00s scale deployment/web --replicas=2
    P2->>P1: 0.60s update EndpointSlice web-x: endpoints 1→2, ready 1→2
    P1-->>P3: 0.60s watch: EndpointSlice changed web-x
"""


def test_mermaid_text():
    rows = [ROWS[0], ROWS[5]]
    assert sequence_diagram(frame(rows), title="scale up").mermaid() == EXPECTED_MERMAID


def test_dot_text_uses_lifeline_clusters_ranks_and_xlabels():
    dot = sequence_diagram(frame([ROWS[0], ROWS[5]])).dot()
    lines = dot.splitlines()
    assert lines[0] == "digraph sequence {"
    assert "splines=false" in lines[1] and "forcelabels=true" in lines[1]
    assert '    p0_head -> p0_0 -> p0_1 -> p0_2 -> p0_foot [style=dashed, arrowhead=none, weight=100];' in lines
    assert "  { rank=same; p0_head; p1_head; p2_head; p3_head; }" in lines
    assert "  p0_head -> p1_head -> p2_head -> p3_head [style=invis];" in lines
    assert '  p0_0 -> p1_0 [constraint=false, xlabel="0.00s scale deployment/web --replicas=2"];' in lines
    assert '  p1_2 -> p3_2 [constraint=false, xlabel="0.60s watch: EndpointSlice changed web-x", style=dashed];' \
        in lines
    assert lines[-1] == "}"


@pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz dot not installed")
def test_dot_renders_to_svg_inline():
    bundle = sequence_diagram(frame())._repr_mimebundle_()
    assert bundle["image/svg+xml"].lstrip().startswith("<?xml") and "<svg" in bundle["image/svg+xml"]


def test_without_dot_a_matplotlib_drawing_and_the_hint_are_shown(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    bundle = sequence_diagram(frame())._repr_mimebundle_()
    assert "apt-get install graphviz" in bundle["text/html"] and "data:image/png;base64," in bundle["text/html"]
    assert "apt-get install graphviz" in DOT_HINT


def test_figure_draws_one_lifeline_per_participant():
    diagram = SequenceDiagram(infer_messages(frame()))
    fig = diagram.figure()
    ax = fig.axes[0]
    assert len(ax.lines) == len(diagram.participants)
    assert len(diagram.participants) == 9


def test_messages_follow_commit_order_and_user_writes_are_not_doubled():
    rows = [
        (0.010, "User", "ACTION", "ch01", "apply Deployment/web", None, "apply Deployment/web", "user/kubectl"),
        (0.030, "Deployment", "ADDED", "ch01", "web", "20", "created", "user/kubectl"),
        (0.031, "Pod", "ADDED", "ch01", "web-1-a", "22", "created", "ReplicaSet controller"),  # received first...
        (0.032, "ReplicaSet", "ADDED", "ch01", "web-1", "21", "created", "Deployment controller"),  # ...committed first
    ]
    assert [(m.src, m.label) for m in infer_messages(frame(rows))] == [
        ("user/kubectl", "apply Deployment/web"),
        ("Deployment controller", "create ReplicaSet"),
        ("ReplicaSet controller", "create Pod"),
    ]
