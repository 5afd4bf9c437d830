"""Sequence diagrams from a synthetic trace frame: inferred messages, collapsing, SVG, DOT and Mermaid text."""

import re
import shutil

import pandas as pd
import pytest

from helpers.diagrams import (
    FONT_PX,
    SVG_WIDTH,
    Message,
    SequenceDiagram,
    chain_diagram,
    collapse,
    infer_messages,
    sequence_diagram,
)
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


def test_svg_is_the_same_with_or_without_graphviz(monkeypatch):
    with_dot = sequence_diagram(frame())._repr_mimebundle_()
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert sequence_diagram(frame())._repr_mimebundle_() == with_dot
    assert with_dot["image/svg+xml"].startswith("<svg") and with_dot["text/plain"].startswith("sequenceDiagram")


def test_svg_fits_the_page_with_body_size_text_and_one_kube_proxy_lane():
    rows = ROWS[:6] + [(0.9 + i / 10, "KubeProxy", "SYNC", None, f"n{i}", None, "rules synced", f"kube-proxy (n{i})")
                       for i in range(3)]
    diagram = sequence_diagram(frame(rows))
    svg = diagram.svg()
    assert f'width="{SVG_WIDTH}"' in svg and SVG_WIDTH <= 1170 and FONT_PX >= 13
    assert diagram.lanes()[-1] == "kube-proxy" and diagram._lane_title("kube-proxy") == "kube-proxy (3 nodes)"
    assert len(diagram.lanes()) == 8  # user, API server, 5 writers, one kube-proxy lane for 3 nodes
    assert "watch → sync rules ×3" in svg  # the three syncs, one arrow
    for x in re.findall(r'<text x="([\d.]+)"', svg):
        assert 0 <= float(x) <= SVG_WIDTH


def test_each_write_keeps_its_own_arrow():
    """A slice written twice (not ready, then ready) is two arrows, as the chapters narrate it."""
    writes = [Message("EndpointSlice controller", "API server", "update EndpointSlice", 0.1, "web-x: ready 0→0"),
              Message("EndpointSlice controller", "API server", "update EndpointSlice", 0.2, "web-x: ready 0→1")]
    assert len(collapse(writes)) == 2


def test_lanes_have_one_lifeline_per_component():
    diagram = SequenceDiagram(infer_messages(frame()))
    assert len(diagram.participants) == 9 and len(diagram.lanes()) == 9
    assert diagram.svg().count('stroke-dasharray="4 4"') == 9


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


CHAIN_RULES = """\
-A KUBE-SEP-AAA -s 10.244.1.13/32 -m comment --comment "ch07/web:http" -j KUBE-MARK-MASQ
-A KUBE-SEP-AAA -p tcp -m comment --comment "ch07/web:http" -m tcp -j DNAT --to-destination 10.244.1.13:80
-A KUBE-SEP-BBB -p tcp -m comment --comment "ch07/web:http" -m tcp -j DNAT --to-destination 10.244.1.14:80
-A KUBE-SEP-CCC -p tcp -m comment --comment "ch07/web:http" -m tcp -j DNAT --to-destination 10.244.2.8:80
-A KUBE-SERVICES -d 10.96.38.158/32 -p tcp -m comment --comment "ch07/web:http cluster IP" -m tcp --dport 80 -j KUBE-SVC-X
-A KUBE-SVC-X ! -s 10.244.0.0/16 -d 10.96.38.158/32 -p tcp -m comment --comment "ch07/web:http cluster IP" -j KUBE-MARK-MASQ
-A KUBE-SVC-X -m comment --comment "ch07/web:http -> 10.244.1.13:80" -m statistic --mode random --probability 0.33333333349 -j KUBE-SEP-AAA
-A KUBE-SVC-X -m comment --comment "ch07/web:http -> 10.244.1.14:80" -m statistic --mode random --probability 0.50000000000 -j KUBE-SEP-BBB
-A KUBE-SVC-X -m comment --comment "ch07/web:http -> 10.244.2.8:80" -j KUBE-SEP-CCC
-A KUBE-SERVICES -d 10.96.0.10/32 -p udp -m comment --comment "kube-system/kube-dns:dns cluster IP" -j KUBE-SVC-DNS
"""


def test_chain_diagram_follows_the_probability_cascade():
    diagram = chain_diagram(CHAIN_RULES, "ch07/web:http")
    assert diagram.entries == [("10.96.38.158:80", "KUBE-SVC-X")]  # kube-dns is another Service
    shares = diagram.shares("KUBE-SVC-X")
    assert [(sep, round(share, 3)) for sep, _, share in shares] == [
        ("KUBE-SEP-AAA", 0.333), ("KUBE-SEP-BBB", 0.333), ("KUBE-SEP-CCC", 0.333)]
    assert diagram.dnat == {"KUBE-SEP-AAA": "10.244.1.13:80", "KUBE-SEP-BBB": "10.244.1.14:80",
                            "KUBE-SEP-CCC": "10.244.2.8:80"}
    assert '"KUBE-SVC-X" -> "KUBE-SEP-CCC" [label="last rule: 33%"];' in diagram.dot()
    assert "last rule → 33%" not in diagram.text() and "p=0.5 → 33%: KUBE-SEP-BBB → DNAT 10.244.1.14:80" in diagram.text()


@pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz dot not installed")
def test_chain_diagram_renders_with_graphviz():
    svg = chain_diagram(CHAIN_RULES, "ch07/web:http")._repr_mimebundle_()["image/svg+xml"]
    assert "<svg" in svg and "KUBE&#45;SEP&#45;AAA" in svg and "DNAT 10.244.1.13:80" in svg


def test_merged_arrows_at_one_instant_show_one_time():
    syncs = [Message("API server", f"kube-proxy (n{i})", "watch → sync rules", 0.991 + i / 1000, dashed=True)
             for i in range(3)]
    assert collapse(syncs)[0].text() == "0.99s watch → sync rules ×3"
