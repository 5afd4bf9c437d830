"""A simulated kube-proxy's `/metrics` page, in Prometheus' text format (what `curl :10249/metrics` prints).

Only the series the simulator can fill from what its kube-proxy records (``KubeProxy.syncs``), with
upstream's names, help texts, labels and buckets (``pkg/proxy/metrics/metrics.go``, v1.36.1):

* ``kubeproxy_network_programming_duration_seconds``: one observation per trigger time a sync
  programmed (the gap from ``endpoints.kubernetes.io/last-change-trigger-time`` to the sync);
* ``kubeproxy_sync_proxy_rules_last_timestamp_seconds``: when the last sync succeeded.

Only ``ip_family="IPv4"``: a real kube-proxy on kind runs a dual-stack proxier and also reports IPv6
series; the model proxies IPv4 only.

The rest of upstream's series (sync durations, pending changes, iptables rule counts, healthz)
are left out rather than made up: a simulated sync's wall-clock cost says nothing about a node's.
"""

from __future__ import annotations

from decimal import Decimal

from helpers.sim.controllers.kubeproxy import LATENCY_BUCKETS

IP_FAMILY = "IPv4"  # the model proxies IPv4 only (helpers.dataplane.proxy)


def _number(value: float) -> str:
    """Go's strconv.FormatFloat(v, 'g', -1, 64), which client_golang's text format uses for sample
    values and `le`: the shortest digits, in exponent form when the exponent is below -4 or at least 6."""
    value = float(value)
    if value == float("inf"):
        return "+Inf"
    if value == 0:
        return "0"
    sign, digits, exponent = Decimal(repr(value)).normalize().as_tuple()
    text = "".join(map(str, digits))
    point = len(text) + exponent  # where the decimal point goes in `text`
    minus = "-" if sign else ""
    if not -4 <= point - 1 < 6:
        mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
        return f"{minus}{mantissa}e{point - 1:+03d}"
    if point <= 0:
        return f"{minus}0.{'0' * -point}{text}"
    if point >= len(text):
        return minus + text + "0" * (point - len(text))
    return f"{minus}{text[:point]}.{text[point:]}"


def _header(name: str, help_text: str, kind: str) -> list[str]:
    # component-base prefixes the help of every non-stable metric with its stability level.
    return [f"# HELP {name} [ALPHA] {help_text}", f"# TYPE {name} {kind}"]


def _histogram(name: str, help_text: str, buckets, values: list[float]) -> list[str]:
    lines = _header(name, help_text, "histogram")
    for le in (*buckets, float("inf")):
        count = sum(value <= le for value in values)
        lines.append(f'{name}_bucket{{ip_family="{IP_FAMILY}",le="{_number(le)}"}} {count}')
    lines.append(f'{name}_sum{{ip_family="{IP_FAMILY}"}} {_number(sum(values))}')
    lines.append(f'{name}_count{{ip_family="{IP_FAMILY}"}} {len(values)}')
    return lines


def metrics_text(proxy) -> str:
    """The metrics page of one simulated kube-proxy."""
    # A metric vector has no sample, and client_golang then prints no HELP/TYPE either, until a
    # child is first observed or set.
    lines = []
    latencies = [seconds for sync in proxy.syncs for _, seconds in sync.latencies]
    if latencies:
        lines += _histogram("kubeproxy_network_programming_duration_seconds",
                            "In Cluster Network Programming Latency in seconds", LATENCY_BUCKETS, latencies)
    if proxy.syncs:
        name = "kubeproxy_sync_proxy_rules_last_timestamp_seconds"
        lines += _header(name, "The last time proxy rules were successfully synced", "gauge")
        lines.append(f'{name}{{ip_family="{IP_FAMILY}"}} {_number(proxy.syncs[-1].time)}')
    return "\n".join(lines) + "\n"
