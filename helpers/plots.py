"""The matplotlib figures the chapters need. Each takes a DataFrame the chapter measured and returns
the Figure (so notebooks display it and tests can inspect it)."""

from __future__ import annotations

import pandas as pd


def _figure(title: str, xlabel: str, ylabel: str, size=(7, 4), counts: str = ""):
    """A titled, labelled figure; the axes named in ``counts`` ("x", "y") count things, so their
    ticks are whole numbers."""
    import matplotlib.pyplot as plt  # imported on first use: `import helpers` stays quick
    from matplotlib.ticker import MaxNLocator

    fig, ax = plt.subplots(figsize=size, layout="constrained")
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    for axis in counts:
        getattr(ax, f"{axis}axis").set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    plt.close(fig)  # shown by returning it, not by pyplot's global state
    return fig, ax


def _require(df: pd.DataFrame, columns: list[str], what: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{what} needs columns {columns}; missing {missing}")


def plot_slices_vs_replicas(df: pd.DataFrame):
    """Slices (bars) and endpoints per slice (lines) as a Deployment scales."""
    from matplotlib.ticker import MaxNLocator

    _require(df, ["replicas", "slices", "max_per_slice"], "plot_slices_vs_replicas")
    fig, ax = _figure("EndpointSlices as replicas grow", "replicas", "slices", counts="xy")
    ax.bar(df["replicas"], df["slices"], width=max(1, df["replicas"].max() / 40), color="#9ecae1", label="slices")
    right = ax.twinx()
    right.plot(df["replicas"], df["max_per_slice"], "o-", color="#d62728", label="largest slice")
    if "mean_per_slice" in df:
        right.plot(df["replicas"], df["mean_per_slice"], "s--", color="#ff7f0e", label="mean per slice")
    right.set_ylabel("endpoints per slice")
    right.yaxis.set_major_locator(MaxNLocator(integer=True))
    lines = ax.get_legend_handles_labels()
    more = right.get_legend_handles_labels()
    ax.legend(lines[0] + more[0], lines[1] + more[1], loc="upper left")
    return fig


def plot_writes_per_change(df: pd.DataFrame):
    """API writes per change: v1 Endpoints vs EndpointSlices, side by side."""
    _require(df, ["change", "endpoints_writes", "slice_writes"], "plot_writes_per_change")
    fig, ax = _figure("API writes per change", "change", "API writes", counts="y")
    x = range(len(df))
    ax.bar([i - 0.2 for i in x], df["endpoints_writes"], width=0.4, label="Endpoints", color="#fdae6b")
    ax.bar([i + 0.2 for i in x], df["slice_writes"], width=0.4, label="EndpointSlices", color="#6baed6")
    ax.set_xticks(list(x), df["change"], rotation=20, ha="right")
    ax.legend()
    return fig


def bytes_per_update(endpoints: int, nodes: int, endpoint_bytes: float, overhead_bytes: float,
                     per_slice: int = 100, *, address_bytes: float | None = None,
                     endpoints_overhead: float | None = None) -> dict:
    """One row of KEP-752's comparison, from measured sizes.

    One endpoint change rewrites the whole Endpoints object but only one slice, and each write is
    sent to every node's kube-proxy. A rolling update changes every endpoint once. ``endpoint_bytes``
    and ``overhead_bytes`` size a slice (per endpoint, empty object); ``address_bytes`` and
    ``endpoints_overhead`` size an Endpoints object, when measured apart (the KEP uses one estimate
    for both, the default).
    """
    address_bytes = endpoint_bytes if address_bytes is None else address_bytes
    endpoints_overhead = overhead_bytes if endpoints_overhead is None else endpoints_overhead
    endpoints_object = endpoints_overhead + endpoints * address_bytes
    slice_object = overhead_bytes + min(per_slice, endpoints) * endpoint_bytes
    return {"endpoints": endpoints, "nodes": nodes, "endpoints_object_bytes": endpoints_object,
            "slice_object_bytes": slice_object, "endpoints_bytes": endpoints_object * nodes,
            "slice_bytes": slice_object * nodes, "rolling_endpoints_bytes": endpoints_object * nodes * endpoints,
            "rolling_slice_bytes": slice_object * nodes * endpoints}


def plot_bytes_per_update(df: pd.DataFrame):
    """Bytes sent to all kube-proxies for one endpoint change, vs cluster size (log scale)."""
    _require(df, ["nodes", "endpoints_bytes", "slice_bytes"], "plot_bytes_per_update")
    fig, ax = _figure("Bytes sent for one endpoint change", "nodes (log scale)",
                      "bytes to all kube-proxies (log scale)")
    ax.plot(df["nodes"], df["endpoints_bytes"], "o-", label="Endpoints (whole object)", color="#e6550d")
    ax.plot(df["nodes"], df["slice_bytes"], "s-", label="EndpointSlices (one slice)", color="#3182bd")
    ax.set_yscale("log")
    ax.set_xscale("log")
    ax.legend()
    return fig


def plot_rules_vs_services(df: pd.DataFrame):
    """kube-proxy rules on one node as Services are added (one line per proxy mode when given)."""
    _require(df, ["services", "rules"], "plot_rules_vs_services")
    fig, ax = _figure("Rules per node vs Services", "Services", "rules on one node", counts="xy")
    groups = df.groupby("mode") if "mode" in df else [("rules", df)]
    for mode, part in groups:
        ax.plot(part["services"], part["rules"], "o-", label=str(mode))
    ax.legend()
    return fig


def plot_propagation(frame: pd.DataFrame):
    """A Trace frame as a timeline: one lane per kind, one dot per event (when each change arrived)."""
    _require(frame, ["t", "kind", "type"], "plot_propagation")
    kinds = list(dict.fromkeys(frame["kind"]))
    fig, ax = _figure("How a change propagates", "seconds since the trace started", "object kind",
                      size=(8, 1 + 0.5 * len(kinds)))
    markers = {"ADDED": "o", "MODIFIED": ".", "DELETED": "x", "ACTION": "*"}
    for etype, part in frame.groupby("type"):
        ax.scatter(part["t"], [kinds.index(k) for k in part["kind"]], marker=markers.get(etype, "."), label=etype)
    ax.set_yticks(range(len(kinds)), kinds)
    ax.invert_yaxis()
    ax.legend(loc="lower right", fontsize=8)
    return fig
