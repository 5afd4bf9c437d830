"""Plots return Figures drawn from the chapter's data; bytes_per_update reproduces KEP-752's arithmetic."""

import pandas as pd
import pytest

import helpers as h


def test_bytes_per_update_matches_kep_752_sample_case():
    # KEP-752: 20,000 endpoints on 5,000 nodes, ~100 bytes per endpoint: ~2 MB Endpoints, ~10 KB slices
    row = h.bytes_per_update(20_000, 5_000, endpoint_bytes=100, overhead_bytes=0)
    assert row["endpoints_object_bytes"] == 2_000_000
    assert row["slice_object_bytes"] == 10_000
    assert row["endpoints_bytes"] == 10_000_000_000  # ~10 GB per single endpoint change
    assert row["slice_bytes"] == 50_000_000  # ~50 MB
    assert row["rolling_endpoints_bytes"] == 200_000_000_000_000  # ~200 TB


def test_bytes_per_update_sizes_endpoints_and_slices_apart():
    row = h.bytes_per_update(1000, 10, endpoint_bytes=150, overhead_bytes=400, address_bytes=60,
                             endpoints_overhead=300)
    assert row["endpoints_object_bytes"] == 300 + 1000 * 60 and row["slice_object_bytes"] == 400 + 100 * 150


def test_plots_draw_the_given_data():
    fig = h.plot_slices_vs_replicas(pd.DataFrame({"replicas": [10, 100, 250], "slices": [1, 1, 3],
                                                  "max_per_slice": [10, 100, 100]}))
    bars = fig.axes[0].patches
    assert [b.get_height() for b in bars] == [1, 1, 3]
    sizes = pd.DataFrame([h.bytes_per_update(1000, n, 100, 500) for n in (10, 100, 1000)])
    fig = h.plot_bytes_per_update(sizes)
    assert fig.axes[0].get_yscale() == "log"
    assert list(fig.axes[0].lines[0].get_ydata()) == list(sizes["endpoints_bytes"])
    fig = h.plot_rules_vs_services(pd.DataFrame({"services": [1, 2, 1, 2], "rules": [10, 20, 8, 16],
                                                 "mode": ["iptables", "iptables", "nftables", "nftables"]}))
    assert [line.get_label() for line in fig.axes[0].lines] == ["iptables", "nftables"]
    fig = h.plot_writes_per_change(pd.DataFrame({"change": ["scale 1→2"], "endpoints_writes": [1],
                                                 "slice_writes": [1]}))
    assert len(fig.axes[0].patches) == 2
    frame = pd.DataFrame({"t": [0.0, 0.5], "kind": ["Pod", "EndpointSlice"], "type": ["ADDED", "MODIFIED"]})
    assert [t.get_text() for t in h.plot_propagation(frame).axes[0].get_yticklabels()] == ["Pod", "EndpointSlice"]


def test_missing_columns_are_named():
    with pytest.raises(ValueError, match="missing \\['slices'"):
        h.plot_slices_vs_replicas(pd.DataFrame({"replicas": [1], "max_per_slice": [1]}))
