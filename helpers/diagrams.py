"""Sequence diagrams inferred from a Trace: who wrote what to the API server, and when.

The model is a list of participants and messages. Messages are inferred from recorded events (a Pod
created by the ReplicaSet controller, spec.nodeName set by the scheduler, status by the kubelet, a
slice written by the EndpointSlice controller), then collapsed so a diagram stays readable
(repeats become "×250", at most ~15 rows). Renderers: graphviz DOT (SVG in Jupyter), Mermaid
text, and matplotlib when the ``dot`` program is missing.
"""

from __future__ import annotations

import base64
import html
import io
import re
import shutil
from dataclasses import dataclass, replace

import pandas as pd

from helpers.trace import USER

API = "API server"
ORDER = [USER, API, "Deployment controller", "ReplicaSet controller", "scheduler", "kubelet",
         "EndpointSlice controller", "EndpointSliceMirroring controller", "Endpoints controller",
         "node lifecycle controller"]
KUBE_PROXY_ALL = "kube-proxy (each node; sync not observed)"
DOT_HINT = ("graphviz's `dot` program is missing, so this is a matplotlib drawing; for SVG install it: "
            "`apt-get install graphviz` / `brew install graphviz` / `conda install graphviz`")
_VERBS = {"ADDED": "create", "MODIFIED": "update", "DELETED": "delete"}


@dataclass(frozen=True)
class Message:
    """One arrow. ``label`` is the part shared by repeats; ``detail`` is shown only when count == 1."""

    src: str
    dst: str
    label: str
    t: float
    detail: str = ""
    count: int = 1
    t_end: float | None = None
    dashed: bool = False

    def text(self) -> str:
        when = f"{self.t:.2f}s" if self.t_end is None else f"{self.t:.2f}–{self.t_end:.2f}s"
        what = f"{self.label} ×{self.count}" if self.count > 1 else " ".join(p for p in (self.label, self.detail) if p)
        return f"{when} {what}"


def _write_label(row) -> tuple[str, str]:
    """(shared label, detail) for an object write."""
    verb, kind, summary = _VERBS.get(row.type, row.type.lower()), row.kind, row.summary or ""
    if kind == "Pod" and row.actor == "scheduler":
        return "bind Pod to node", f"{row.name} {summary}"
    if kind == "Pod" and verb == "update":
        return "update Pod status", f"{row.name}: {summary}"
    if verb == "update":
        return f"update {kind}", f"{row.name}: {summary}"
    return f"{verb} {kind}", row.name or ""


def commit_order(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows in the order the API server committed them.

    Watchers of different kinds receive events in separate threads, so receive times can disagree
    with the commit order by a few milliseconds; resourceVersions (one counter per cluster, in
    practice) do not. A user action without one goes after everything received before it.
    """
    rows = frame.sort_values("t", kind="stable").reset_index(drop=True)
    rv = pd.to_numeric(rows["rv"], errors="coerce")
    seen = rv.cummax().ffill().fillna(0)  # the newest resourceVersion received so far
    order = rv.where(rv.notna(), seen + 0.5)
    return rows.assign(_order=order).sort_values(["_order", "t"], kind="stable").drop(columns="_order")


def infer_messages(frame: pd.DataFrame) -> list[Message]:
    """The arrows implied by a Trace frame, in commit order (before collapsing).

    When the trace holds user actions (notes from the helpers), object writes attributed to the
    user are left out: the action already says what the user asked for.
    """
    rows = commit_order(frame)
    proxy_seen = (rows["kind"] == "KubeProxy").any()
    user_noted = (rows["kind"] == "User").any()
    messages = []
    for row in rows.itertuples(index=False):
        if row.kind == "User":
            messages.append(Message(USER, API, row.summary, row.t))
        elif row.actor == USER and user_noted:
            continue
        elif row.kind == "KubeProxy":
            messages.append(Message(API, row.actor, "watch → sync rules", row.t, dashed=True))
        elif row.kind == "Event":
            continue  # Events narrate the writes already drawn
        elif row.summary and row.actor not in ("unknown", "", None):
            label, detail = _write_label(row)
            messages.append(Message(row.actor, API, label, row.t, detail))
            if row.kind == "EndpointSlice" and not proxy_seen:
                messages.append(Message(API, KUBE_PROXY_ALL, "watch: EndpointSlice changed", row.t, row.name,
                                        dashed=True))
    return messages


def _merge(a: Message, b: Message) -> Message:
    return replace(a, count=a.count + b.count, t_end=max(a.t_end or a.t, b.t_end or b.t))


def collapse(messages: list[Message], max_rows: int = 15) -> list[Message]:
    """Merge repeats: first consecutive ones, then (if still too long) all with the same arrow and label.

    Rows beyond ``max_rows`` are summarised in one last row.
    """
    def key(m):
        return m.src, m.dst, m.label, m.dashed

    rows: list[Message] = []
    for m in messages:
        if rows and key(rows[-1]) == key(m):
            rows[-1] = _merge(rows[-1], m)
        else:
            rows.append(m)
    if len(rows) > max_rows:
        merged: dict = {}
        for m in rows:
            merged[key(m)] = _merge(merged[key(m)], m) if key(m) in merged else m
        rows = list(merged.values())
    if len(rows) > max_rows:
        rest = rows[max_rows - 1:]
        more = sum(m.count for m in rest)
        rows = rows[:max_rows - 1] + [Message(API, API, f"… {more} more messages", rest[0].t,
                                              t_end=max(m.t_end or m.t for m in rest))]
    return rows


def participants_of(messages: list[Message]) -> list[str]:
    """Participants in a fixed, readable order (kube-proxies last, by node)."""
    present = {p for m in messages for p in (m.src, m.dst)} | {API}
    known = [p for p in ORDER if p in present]
    return known + sorted(present - set(known))


def _dot_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


class SequenceDiagram:
    """A sequence diagram; shows as SVG in Jupyter, ``.dot()`` and ``.mermaid()`` give the source text."""

    def __init__(self, messages: list[Message], title: str | None = None):
        self.messages = messages
        self.participants = participants_of(messages)
        self.title = title

    def dot(self) -> str:
        """Graphviz DOT: one invisible cluster per lifeline, one rank per message (layout from
        kube-api-wire.md §11: xlabels, splines=false, constraint=false message edges)."""
        ids = {p: f"p{i}" for i, p in enumerate(self.participants)}
        steps = range(len(self.messages))
        out = ["digraph sequence {",
               "  graph [splines=false, forcelabels=true, newrank=true, nodesep=1.4, ranksep=0.3, "
               "fontname=Helvetica" + (f", label={_dot_quote(self.title)}, labelloc=t" if self.title else "") + "];",
               "  node [fontname=Helvetica, fontsize=10];",
               "  edge [fontname=Helvetica, fontsize=9];"]
        for p, pid in ids.items():
            box = f"shape=box, style=\"rounded,filled\", fillcolor=\"#eef3fb\", label={_dot_quote(p)}"
            chain = " -> ".join([f"{pid}_head", *[f"{pid}_{k}" for k in steps], f"{pid}_foot"])
            out += [f"  subgraph cluster_{pid} {{", "    style=invis;",
                    f"    {pid}_head [{box}];",
                    *[f"    {pid}_{k} [shape=point, width=0, label=\"\"];" for k in steps],
                    f"    {pid}_foot [{box}];",
                    f"    {chain} [style=dashed, arrowhead=none, weight=100];", "  }"]
        out.append("  { rank=same; " + " ".join(f"{pid}_head;" for pid in ids.values()) + " }")
        if len(ids) > 1:
            out.append("  " + " -> ".join(f"{pid}_head" for pid in ids.values()) + " [style=invis];")
        for k, m in enumerate(self.messages):
            out.append("  { rank=same; " + " ".join(f"{pid}_{k};" for pid in ids.values()) + " }")
            style = ", style=dashed" if m.dashed else ""
            out.append(f"  {ids[m.src]}_{k} -> {ids[m.dst]}_{k} [constraint=false, xlabel={_dot_quote(m.text())}"
                       f"{style}];")
        out.append("}")
        return "\n".join(out) + "\n"

    def mermaid(self) -> str:
        """Mermaid ``sequenceDiagram`` text (renders natively in JupyterLab ≥ 4.1 Markdown and on GitHub)."""
        ids = {p: f"P{i}" for i, p in enumerate(self.participants)}
        out = ["sequenceDiagram"]
        if self.title:
            out.append(f"    title {self.title}")
        out += [f"    participant {pid} as {p}" for p, pid in ids.items()]
        for m in self.messages:
            arrow = "-->>" if m.dashed else "->>"
            text = re.sub(r"[;#]", ",", m.text())
            out.append(f"    {ids[m.src]}{arrow}{ids[m.dst]}: {text}")
        return "\n".join(out) + "\n"

    def figure(self):
        """A matplotlib drawing of the same diagram (used when ``dot`` is missing)."""
        import matplotlib.pyplot as plt

        n, rows = len(self.participants), len(self.messages)
        fig, ax = plt.subplots(figsize=(max(6.0, 1.9 * n), 1.2 + 0.45 * rows))
        x = {p: i for i, p in enumerate(self.participants)}
        for p, i in x.items():
            ax.plot([i, i], [0.5, -rows - 0.5], ls="--", lw=0.8, color="grey")
            ax.text(i, 0.8, p, ha="center", va="bottom", fontsize=8, bbox={"boxstyle": "round", "fc": "#eef3fb"})
        for k, m in enumerate(self.messages, start=1):
            a, b = x[m.src], x[m.dst]
            style = {"arrowstyle": "->", "ls": "--" if m.dashed else "-"}
            if a == b:
                style["connectionstyle"] = "arc3,rad=-1.2"
                b += 0.001
            ax.annotate("", xy=(b, -k), xytext=(a, -k), arrowprops=style)
            ax.text((a + b) / 2, -k + 0.12, m.text(), ha="center", va="bottom", fontsize=7)
        ax.set_xlim(-0.8, n - 0.2)
        ax.set_ylim(-rows - 0.8, 1.6)
        ax.axis("off")
        if self.title:
            ax.set_title(self.title)
        fig.tight_layout()
        plt.close(fig)
        return fig

    def svg(self) -> str:
        """The diagram rendered by graphviz ``dot`` as SVG text."""
        import graphviz

        return graphviz.Source(self.dot()).pipe(format="svg").decode()

    def _repr_mimebundle_(self, include=None, exclude=None):
        if shutil.which("dot"):
            return {"image/svg+xml": self.svg()}
        buf = io.BytesIO()
        self.figure().savefig(buf, format="png", dpi=110)
        png = base64.b64encode(buf.getvalue()).decode()
        return {"text/html": f"<p><em>{html.escape(DOT_HINT)}</em></p><img src=\"data:image/png;base64,{png}\">"}

    def __repr__(self) -> str:
        return self.mermaid()


def sequence_diagram(trace_or_frame, *, max_rows: int = 15, title: str | None = None) -> SequenceDiagram:
    """A readable sequence diagram of a Trace (or its ``to_frame()``)."""
    frame = trace_or_frame if isinstance(trace_or_frame, pd.DataFrame) else trace_or_frame.to_frame()
    return SequenceDiagram(collapse(infer_messages(frame), max_rows), title)
