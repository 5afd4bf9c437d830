"""Sequence diagrams inferred from a Trace: who wrote what to the API server, and when.

The model is a list of participants and messages. Messages are inferred from recorded events (a Pod
created by the ReplicaSet controller, spec.nodeName set by the scheduler, status by the kubelet, a
slice written by the EndpointSlice controller), then collapsed so a diagram stays readable
(repeats become "×250", at most ~15 rows; distinct writes keep their own arrows). Jupyter shows an
SVG laid out here, so it looks the same with or without Graphviz: it fits a 1280 px page, with text
at body size and all kube-proxies in one lane. ``.dot()`` and ``.mermaid()`` give source text for
Graphviz and Mermaid.
"""

from __future__ import annotations

import html
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
KUBE_PROXY = "kube-proxy"  # the one lane every node's kube-proxy is drawn on
# SVG layout: fits the book's column at 1280 px; 14 px is JupyterLab's body text size.
SVG_WIDTH, MARGIN, FONT_PX, LINE_PX, ROW_PX = 1100, 4, 14, 17, 34
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
        start, end = f"{self.t:.2f}", f"{self.t_end:.2f}" if self.t_end is not None else None
        when = f"{start}s" if end in (None, start) else f"{start}–{end}s"
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


def lane_of(participant: str) -> str:
    """The lifeline a participant is drawn on: kube-proxies share one."""
    return KUBE_PROXY if participant.startswith("kube-proxy") else participant


def _text_px(text: str) -> float:
    """Approximate width of ``text`` at FONT_PX in Helvetica/Arial (average glyph ~0.55 em)."""
    return 0.56 * FONT_PX * len(text)


def _wrap(text: str, width: float) -> list[str]:
    """``text`` broken at spaces into lines no wider than ``width`` (a longer word stays whole)."""
    lines: list[str] = []
    for word in text.split():
        if lines and _text_px(f"{lines[-1]} {word}") <= width:
            lines[-1] += f" {word}"
        else:
            lines.append(word)
    return lines or [""]


def _merge(a: Message, b: Message) -> Message:
    return replace(a, count=a.count + b.count, t_end=max(a.t_end or a.t, b.t_end or b.t))


def collapse(messages: list[Message], max_rows: int = 15) -> list[Message]:
    """Merge repeats: first consecutive identical writes (and consecutive watch notifications of one
    lane, e.g. every node's kube-proxy), then (if still too long) all with the same arrow and label.
    Two writes that differ in what they changed (not ready, then ready) stay two arrows.

    Rows beyond ``max_rows`` are summarised in one last row.
    """
    def key(m):
        return m.src, m.dst, m.label, m.dashed

    def same_step(m):
        return lane_of(m.src), lane_of(m.dst), m.label, m.dashed, "" if m.dashed else m.detail

    rows: list[Message] = []
    for m in messages:
        if rows and same_step(rows[-1]) == same_step(m):
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

    def __init__(self, messages: list[Message], title: str | None = None, participants: list[str] | None = None):
        self.messages = messages
        self.participants = participants or participants_of(messages)
        self.title = title

    def dot(self) -> str:
        """Graphviz DOT: one invisible cluster per lifeline, one rank per message (layout from
        Graphviz's attributes, https://graphviz.org/doc/info/attrs.html: xlabels, splines=false,
        constraint=false message edges)."""
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

    def lanes(self) -> list[str]:
        """Lifelines as drawn: one per participant, except one shared lane for all kube-proxies."""
        out = []
        for p in self.participants:
            if lane_of(p) not in out:
                out.append(lane_of(p))
        return out

    def _lane_title(self, lane: str) -> str:
        if lane != KUBE_PROXY:
            return lane
        nodes = {p for p in self.participants if lane_of(p) == KUBE_PROXY and p != KUBE_PROXY_ALL}
        return f"kube-proxy ({len(nodes)} node{'s' * (len(nodes) != 1)})" if nodes else "kube-proxy (each node)"

    def _label(self, m: Message) -> str:
        node = re.fullmatch(r"kube-proxy \((.+)\)", m.dst)
        if node and m.count == 1 and m.dst != KUBE_PROXY_ALL:
            return f"{m.text()} on {node[1]}"
        return m.text()

    def svg(self) -> str:
        """The diagram as SVG text, laid out here (no graphviz needed): lanes spread over
        ``SVG_WIDTH`` px, one row per message with time flowing down, each label on its arrow in
        body-size text (``FONT_PX``), kept inside the picture."""
        lanes = self.lanes()
        step = (SVG_WIDTH - 2 * MARGIN) / len(lanes)
        x = {lane: MARGIN + step * (i + 0.5) for i, lane in enumerate(lanes)}
        title_h = 2 * FONT_PX if self.title else 0
        head_h = 2 * LINE_PX + 12
        top = title_h + head_h + ROW_PX
        height = top + ROW_PX * len(self.messages) + 10
        esc = html.escape
        out = [(f'<svg xmlns="http://www.w3.org/2000/svg" class="sequence-diagram" width="{SVG_WIDTH}" '
                f'height="{height:.0f}" viewBox="0 0 {SVG_WIDTH} {height:.0f}" '
                f'font-family="Helvetica, Arial, sans-serif" font-size="{FONT_PX}">'),
               ('<defs><marker id="seq-arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" '
                'markerHeight="8" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#333"/>'
                '</marker></defs>')]
        if self.title:
            out.append(f'<text x="{SVG_WIDTH / 2}" y="{FONT_PX * 1.3:.0f}" text-anchor="middle" '
                       f'font-weight="bold">{esc(self.title)}</text>')
        for lane in lanes:
            cx, lines = x[lane], _wrap(self._lane_title(lane), step - 8)
            out.append(f'<rect x="{cx - step / 2 + 3:.1f}" y="{title_h + 2}" width="{step - 6:.1f}" '
                       f'height="{head_h - 4}" rx="6" fill="#eef3fb" stroke="#8aa4c8"/>')
            first = title_h + head_h / 2 - (len(lines) - 1) * LINE_PX / 2 + FONT_PX * 0.35
            out += [f'<text x="{cx:.1f}" y="{first + i * LINE_PX:.1f}" text-anchor="middle">{esc(t)}</text>'
                    for i, t in enumerate(lines)]
            out.append(f'<line x1="{cx:.1f}" y1="{title_h + head_h}" x2="{cx:.1f}" y2="{height - 4:.0f}" '
                       'stroke="#999" stroke-dasharray="4 4"/>')
        for k, m in enumerate(self.messages):
            y = top + ROW_PX * k
            a, b = x[lane_of(m.src)], x[lane_of(m.dst)]
            if a != b:
                dash = ' stroke-dasharray="6 4"' if m.dashed else ""
                out.append(f'<line x1="{a:.1f}" y1="{y}" x2="{b:.1f}" y2="{y}" stroke="#333"{dash} '
                           'marker-end="url(#seq-arrow)"/>')
            label = self._label(m)
            width = _text_px(label)
            left = min(max((a + b) / 2 - width / 2, MARGIN), SVG_WIDTH - MARGIN - width)
            out.append(f'<text x="{max(left, MARGIN):.1f}" y="{y - 6}" paint-order="stroke" stroke="white" '
                       f'stroke-width="4" stroke-linejoin="round">{esc(label)}</text>')
        out.append("</svg>")
        return "\n".join(out) + "\n"

    def _repr_mimebundle_(self, include=None, exclude=None):
        return {"image/svg+xml": self.svg(), "text/plain": self.mermaid()}

    def __repr__(self) -> str:
        return self.mermaid()


def sequence_diagram(trace_or_frame, *, max_rows: int = 15, title: str | None = None) -> SequenceDiagram:
    """A readable sequence diagram of a Trace (or its ``to_frame()``)."""
    frame = trace_or_frame if isinstance(trace_or_frame, pd.DataFrame) else trace_or_frame.to_frame()
    messages = infer_messages(frame)
    return SequenceDiagram(collapse(messages, max_rows), title, participants_of(messages))


class ChainDiagram:
    """A Service's iptables chains as a graph (KUBE-SERVICES → KUBE-SVC → KUBE-SEP → endpoint), each
    KUBE-SVC → KUBE-SEP edge labelled with the rule's probability and the share of new connections
    it gets overall (the 1/n cascade of pkg/proxy/iptables/proxier.go). Graphviz draws it as SVG;
    without ``dot`` it shows as indented text."""

    def __init__(self, rules: str, service: str):
        self.service = service
        self.entries: list[tuple[str, str]] = []  # (match, KUBE-SVC chain) from KUBE-SERVICES
        self.picks: dict[str, list[tuple[float | None, str]]] = {}  # KUBE-SVC -> [(probability, KUBE-SEP)]
        self.dnat: dict[str, str] = {}  # KUBE-SEP -> ip:port
        for line in rules.splitlines():
            words = line.split()
            if len(words) < 4 or words[0] != "-A" or f'"{service}' not in line or "-j" not in words:
                continue
            chain, target = words[1], words[words.index("-j") + 1]
            if target == "KUBE-MARK-MASQ":
                continue
            if chain == "KUBE-SERVICES" and target.startswith("KUBE-SVC-"):
                dest = words[words.index("-d") + 1].removesuffix("/32") if "-d" in words else "?"
                port = words[words.index("--dport") + 1] if "--dport" in words else "?"
                self.entries.append((f"{dest}:{port}", target))
            elif chain.startswith("KUBE-SVC-") and target.startswith("KUBE-SEP-"):
                p = float(words[words.index("--probability") + 1]) if "--probability" in words else None
                self.picks.setdefault(chain, []).append((p, target))
            elif chain.startswith("KUBE-SEP-") and target == "DNAT":
                self.dnat[chain] = words[words.index("--to-destination") + 1]

    def shares(self, svc_chain: str) -> list[tuple[str, float | None, float]]:
        """(KUBE-SEP chain, rule probability, overall share) in rule order: each rule takes its
        probability of what the rules above it left."""
        left, out = 1.0, []
        for p, sep in self.picks.get(svc_chain, []):
            share = left * (1.0 if p is None else p)
            out.append((sep, p, share))
            left -= share
        return out

    def dot(self) -> str:
        """Graphviz source, left to right; sizes in points (11 pt ≈ 14.7 px, the book's body text)."""
        out = ["digraph chains {", "  rankdir=LR; nodesep=0.2; ranksep=0.45;",
               '  node [shape=box, style="rounded,filled", fillcolor="#eef3fb", fontname=Helvetica, fontsize=11];',
               "  edge [fontname=Helvetica, fontsize=11];"]
        for match, svc in self.entries:
            entry = f"KUBE-SERVICES\n{self.service} {match}"  # a newline in a DOT string breaks the label
            out.append(f"  KUBE_SERVICES [label={_dot_quote(entry)}];")
            out.append(f"  KUBE_SERVICES -> {_dot_quote(svc)};")
            for sep, p, share in self.shares(svc):
                rule = "last rule" if p is None else f"p={p:.4g}"
                node = f"{sep}\nDNAT {self.dnat.get(sep, '?')}"
                out.append(f'  {_dot_quote(sep)} [label={_dot_quote(node)}, fillcolor="#e8f5e9"];')
                out.append(f"  {_dot_quote(svc)} -> {_dot_quote(sep)} [label={_dot_quote(f'{rule}: {share:.0%}')}];")
        out.append("}")
        return "\n".join(out) + "\n"

    def text(self) -> str:
        lines = []
        for match, svc in self.entries:
            lines.append(f"KUBE-SERVICES ({self.service} {match}) → {svc}")
            for sep, p, share in self.shares(svc):
                rule = "always (last rule)" if p is None else f"p={p:.4g}"
                lines.append(f"    {rule} → {share:.0%}: {sep} → DNAT {self.dnat.get(sep, '?')}")
        return "\n".join(lines)

    def _repr_mimebundle_(self, include=None, exclude=None):
        bundle = {"text/plain": self.text()}
        if shutil.which("dot"):
            import graphviz

            bundle["image/svg+xml"] = graphviz.Source(self.dot()).pipe(format="svg").decode()
        return bundle

    def __repr__(self) -> str:
        return self.text()


def chain_diagram(rules: str, service: str) -> ChainDiagram:
    """The iptables chains one Service port goes through on a node (``service`` as in kube-proxy's
    rule comments, "namespace/name:port"), from ``iptables-save`` text (e.g. ``h.node_rules``)."""
    return ChainDiagram(rules, service)
