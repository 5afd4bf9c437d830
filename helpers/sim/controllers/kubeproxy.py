"""The simulated kube-proxy: one per node, programming the node's rules from its own informers.

Like the real one (``cmd/kube-proxy``, ``pkg/proxy``; v1.34-v1.36 line) it:

* watches Services, EndpointSlices and its own Node, ignoring objects labelled
  ``service.kubernetes.io/service-proxy-name`` or ``service.kubernetes.io/headless``;
* tracks which services changed: a Service update counts only if its service ports change,
  an EndpointSlice update only if the parts kube-proxy reads change (the EndpointSliceCache's
  "identical update is a no-op" rule);
* syncs through a BoundedFrequencyRunner (``pkg/proxy/runner``, v1.34+): at least
  ``minSyncPeriod`` (1 s) from the end of one sync to the start of the next, with no burst (the
  older ``pkg/util/async`` runner allowed 2); a failed sync is retried after ``syncPeriod``
  (30 s); a periodic sync every ``syncPeriod`` in nftables mode and every hour in iptables mode;
  a full sync at start, after a stopped node comes back and hourly, partial syncs otherwise
  (KEP-3453);
* measures network-programming latency from each changed slice's
  ``endpoints.kubernetes.io/last-change-trigger-time`` (only times after its own start).

The rules themselves come from the pure model in :mod:`helpers.dataplane`. A stopped node's
kube-proxy does not sync; it retries every ``syncPeriod`` and resyncs fully once it can.
"""

from __future__ import annotations

import time as _time
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime

from helpers.dataplane import iptables, nftables
from helpers.dataplane.parse import KIND_NODE_TOOLS
from helpers.dataplane.proxy import (
    EndpointSliceCache,
    ObjectError,
    build_proxy_state,
    default_config,
    parse_duration,
    service_ports,
    skip_service,
    slice_owner,
)
from helpers.dataplane.stats import render, stats_of, sync_payload
from helpers.kube import ANNOTATION_TRIGGER_TIME, epoch, format_micro_time, obj_key

SERVICES = "services"
SLICES = "endpointslices.discovery.k8s.io"
NODES = "nodes"
FULL_SYNC_PERIOD = 3600.0  # proxyutil.FullSyncPeriod
# kubeproxy_network_programming_duration_seconds buckets (pkg/proxy/metrics/metrics.go).
LATENCY_BUCKETS = (0.25, 0.5, *range(1, 60), *range(60, 120, 5), *range(120, 301, 30))
HISTORY = 500  # syncs kept in .syncs
LOG_LINES = 2000
# What a node's rules can be read as: what its tools print (iptables-save, nft list ruleset) and
# what kube-proxy writes (its iptables-restore input, its nft -f input).
RULE_FORMATS = ("iptables", "nftables", "iptables-restore", "nft-input")


@dataclass(frozen=True)
class SyncRecord:
    """One sync: when, how much changed, how much was written, and how late it was."""

    time: float  # virtual epoch seconds
    full: bool
    services_changed: int
    endpoint_slices_changed: int
    bytes_written: int
    rules: int
    chains: int
    latencies: tuple[tuple[str, float], ...]  # ("ns/service", seconds since the trigger time)

    @property
    def at(self) -> str:
        return format_micro_time(datetime.fromtimestamp(self.time, UTC))

    def as_dict(self) -> dict:
        return {"at": self.at, "time": self.time, "full": self.full, "servicesChanged": self.services_changed,
                "endpointSlicesChanged": self.endpoint_slices_changed, "bytesWritten": self.bytes_written,
                "rules": self.rules, "chains": self.chains,
                "latencies": [{"service": s, "seconds": round(v, 6)} for s, v in self.latencies]}


def _ports_or_none(service: dict | None):
    """The ServicePorts kube-proxy derives from a cached Service ([] if absent, None if malformed)."""
    if service is None:
        return []
    try:
        return service_ports(service)
    except ObjectError:
        return None


def parse_trigger_time(value: str | None) -> float | None:
    """Epoch seconds from an RFC3339(Nano) annotation value, or None if absent/unparseable."""
    try:
        return epoch(value)
    except ValueError:
        return None


def klog_line(when: float, message: str, source: str = "proxier.go", severity: str = "I", **kv) -> str:
    """A line in klog's text format (``Lmmdd hh:mm:ss.uuuuuu threadid file] msg key=value``).

    The Go source line number is left out: the simulator is not the kube-proxy binary.
    """
    stamp = datetime.fromtimestamp(when, UTC).strftime("%m%d %H:%M:%S.%f")
    pairs = "".join(f" {k}={v if isinstance(v, (int, float, bool)) else repr(str(v)).replace(chr(39), chr(34))}"
                    for k, v in kv.items())
    return f'{severity}{stamp}       1 {source}] "{message}"{pairs}'


class KubeProxy:
    """The kube-proxy of one simulated node (``KubeProxy(cluster, node_name).start()``)."""

    def __init__(self, cluster, node_name: str, config: dict | None = None, *, nfacct: bool = True):
        self.cluster, self.node_name = cluster, node_name
        # Whether the node's kernel has nfacct: kube-proxy then adds its -m nfacct counters. Kernels
        # that build nfnetlink_acct and xt_nfacct (the usual distribution kernels kind runs on) do.
        self.nfacct = nfacct
        cfg = cluster.config
        mode = cfg.kube_proxy_mode if cfg.kube_proxy_mode in ("iptables", "nftables", "ipvs") else "iptables"
        self.config = default_config({"mode": mode, "clusterCIDR": cfg.pod_subnet, **(config or {})})
        self.mode = self.config["mode"] if self.config["mode"] == "nftables" else "iptables"
        section = self.config[self.mode]
        self.min_sync_period = parse_duration(section["minSyncPeriod"])
        self.sync_period = parse_duration(section["syncPeriod"])
        # BoundedFrequencyRunner's maxInterval: syncPeriod for nftables, an hour for iptables.
        self.max_interval = self.sync_period if self.mode == "nftables" else FULL_SYNC_PERIOD
        self.service_cidrs = [cfg.service_subnet] if getattr(cfg, "service_subnet", None) else []
        self.syncs: deque[SyncRecord] = deque(maxlen=HISTORY)
        self._log: deque[str] = deque(maxlen=LOG_LINES)
        self._services: dict[tuple[str, str], dict] = {}
        self._slices = EndpointSliceCache()
        self._node: dict | None = None
        self._changed_services: set[tuple[str, str]] = set()  # from Service changes
        self._changed_slices = 0
        self._trigger_times: dict[tuple[str, str], list[float]] = {}
        self._need_full_sync = True
        self._last_full = float("-inf")
        self._last_end = float("-inf")  # when the last sync finished (virtual epoch seconds)
        self._timer = None
        self._state = None
        self._ruleset = None
        self._unsubscribe = None
        self.started_at = None

    # -- lifecycle --------------------------------------------------------------------------------
    def start(self) -> None:
        """Subscribe, list (the informers' initial sync), then run the first (full) sync."""
        clock = self.cluster.clock
        self.started_at = clock.time()
        self._unsubscribe = self.cluster.store.subscribe(self._on_commit, resources=(SERVICES, SLICES, NODES),
                                                           wants_old=False)
        if self.config["mode"] != self.mode:
            self._say(f"{self.config['mode']} mode is not modelled by the simulator; programming {self.mode} rules",
                      source="server_linux.go", severity="W")
        self._say(f"Using {self.mode} Proxier", source="server_linux.go")
        for resource in (SERVICES, SLICES):
            items, _ = self.cluster.store.list(resource)
            for obj in items:
                self._apply("ADDED", resource, obj)
        try:
            self._node = self.cluster.store.get(NODES, self.node_name)
        except Exception:  # noqa: BLE001 - the Node may not exist yet; its ADDED event will arrive
            self._node = None
        for controller in ("service config", "endpoint slice config"):
            self._say("Caches are synced", source="shared_informer.go", controller=controller)
        clock.call_soon(self._run)

    def stop(self) -> None:
        if self._unsubscribe:
            self._unsubscribe()
        if self._timer:
            self._timer.cancel()

    # -- informer side ------------------------------------------------------------------------------
    def _on_commit(self, event_type: str, resource: str, obj: dict, old) -> None:
        if resource in (SERVICES, SLICES) or (resource == NODES and obj["metadata"]["name"] == self.node_name):
            self.cluster.clock.call_soon(self._on_event, event_type, resource, obj)

    def _on_event(self, event_type: str, resource: str, obj: dict) -> None:
        if self._apply(event_type, resource, obj):
            self._request_sync()

    def _apply(self, event_type: str, resource: str, obj: dict) -> bool:
        """Update the cache; True if kube-proxy's view changed (the proxier's OnXxx handlers)."""
        key = obj_key(obj)
        if resource == NODES:
            old_labels = (self._node or {}).get("metadata", {}).get("labels")
            self._node = None if event_type == "DELETED" else obj
            if old_labels != obj["metadata"].get("labels"):
                self._need_full_sync = True  # topology labels changed: upstream forces a full sync
                return True
            return False
        if resource == SERVICES:
            before = _ports_or_none(self._services.get(key))
            if event_type == "DELETED" or skip_service(obj):
                self._services.pop(key, None)
            else:
                self._services[key] = obj
            after = _ports_or_none(self._services.get(key))
            changed = before != after or after is None  # a malformed Service must reach the sync (and fail)
            if changed:
                self._changed_services.add(key)
            return changed
        if event_type == "DELETED":
            changed = self._slices.delete(obj)
        else:
            changed = self._slices.update(obj)
            owner = slice_owner(obj)
            when = parse_trigger_time((obj["metadata"].get("annotations") or {}).get(ANNOTATION_TRIGGER_TIME))
            if changed and owner and when is not None and when > self.started_at:
                self._trigger_times.setdefault(owner, []).append(when)
        self._changed_slices += changed
        return changed

    # -- BoundedFrequencyRunner ---------------------------------------------------------------------
    def _request_sync(self) -> None:
        """``Sync()`` -> ``Run()``: sync now, or once ``minSyncPeriod`` has passed since the last one
        finished; requests in between coalesce into that one sync."""
        eligible = self._last_end + self.min_sync_period
        self._schedule(max(0.0, eligible - self.cluster.clock.time()))

    def _schedule(self, delay: float) -> None:
        due = self.cluster.clock.time() + delay
        if self._timer is not None and not self._timer.cancelled and self._timer.due <= due:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self.cluster.clock.call_later(delay, self._run)

    def _node_running(self) -> bool:
        check = getattr(self.cluster, "is_node_running", None) or getattr(self.cluster, "node_running", None)
        return True if check is None else bool(check(self.node_name))

    # -- the sync --------------------------------------------------------------------------------
    def _run(self) -> None:
        self._timer = None
        now = self.cluster.clock.time()
        if not self._node_running():
            self._need_full_sync = True  # like a restarted kube-proxy: the next sync is a full one
            self._schedule(self.sync_period)
            return
        full = self._need_full_sync or now - self._last_full >= FULL_SYNC_PERIOD
        self._say(f"Syncing {self.mode} rules", fullSync=full)
        started = _time.perf_counter()
        try:
            state = build_proxy_state(list(self._services.values()), self._slices.slices(),
                                      self._node or self.node_name, self.config)
        except ObjectError as err:  # upstream: a failed sync is retried after syncPeriod, fully
            self._say("Sync failed", severity="E", retryingTime=f"{self.sync_period:g}s", err=str(err))
            self._need_full_sync = True
            self._last_end = now
            self._schedule(self.sync_period)
            return
        ruleset = render(state, self.mode, **self._render_options(self.mode))
        changed = self._changed_services | self._slices.checkout_changes()
        payload = sync_payload(None if full else self._ruleset, ruleset, None if full else changed)
        counts = stats_of(ruleset)
        latencies = tuple(sorted((f"{ns}/{name}", now - t) for (ns, name), times in self._trigger_times.items()
                                 for t in times))
        record = SyncRecord(now, full, len(changed), self._changed_slices, len(payload),
                            counts.rules, counts.chains, latencies)
        self.syncs.append(record)
        udp_changed = self._udp_endpoints_changed(self._state, changed)
        self._state, self._ruleset = state, ruleset
        traffic = getattr(self.cluster, "traffic", None)
        if traffic is not None and udp_changed:
            # proxier.go: `if endpointUpdateResult.ConntrackCleanupRequired { conntrack.CleanStaleEntries(...) }`
            deleted = traffic.clean_stale_udp(self.node_name, state)
            self._say("Finished reconciling conntrack entries", source="cleanup.go", entriesDeleted=deleted)
        self._changed_services, self._changed_slices, self._trigger_times = set(), 0, {}
        self._need_full_sync = False
        if full:
            self._last_full = now
        self._say(f"Reloading service {self.mode} data", numServices=len(state.ports),
                  numEndpoints=state.total_endpoints, bytes=len(payload))
        for service, seconds in latencies:
            self._say("Network programming", endpoint=service, elapsed=round(seconds, 6))
        self._say("SyncProxyRules complete", elapsed=f"{(_time.perf_counter() - started) * 1000:.3f}ms")
        self._last_end = now
        self._schedule(self.max_interval)

    @staticmethod
    def _udp_endpoints_changed(previous, changed) -> bool:
        """``ConntrackCleanupRequired`` (pkg/proxy/endpointschangetracker.go): a changed Service had a
        UDP port before the change."""
        return previous is not None and any(
            p.service_port.protocol == "UDP" and (p.service_port.name.namespace, p.service_port.name.name) in changed
            for p in previous.ports)

    def _say(self, message: str, source: str = "proxier.go", severity: str = "I", **kv) -> None:
        self._log.append(klog_line(self.cluster.clock.time(), message, source, severity, **kv))

    # -- views --------------------------------------------------------------------------------------
    def _render_options(self, mode: str) -> dict:
        if mode == "nftables":
            return {"service_cidrs": self.service_cidrs}
        return {"nfacct": self.nfacct, "random_fully": True}

    def rules(self, fmt: str | None = None) -> str:
        """The rules this node has programmed at its last sync, in one of :data:`RULE_FORMATS`:

        * ``iptables``: what ``iptables-save`` on a kind node prints (the node image's iptables);
        * ``nftables``: what ``nft list ruleset`` prints there (the ``kube-proxy`` table);
        * ``iptables-restore`` / ``nft-input``: what kube-proxy writes for a full sync.

        Default: this kube-proxy's mode, as its node prints it.
        """
        fmt = fmt or self.mode
        if fmt not in RULE_FORMATS:
            raise ValueError(f"format must be one of {', '.join(RULE_FORMATS)}, not {fmt!r}")
        state = self._state or build_proxy_state([], [], self._node or self.node_name, self.config)
        mode = "nftables" if fmt in ("nftables", "nft-input") else "iptables"
        ruleset = (nftables if mode == "nftables" else iptables).render(state, **self._render_options(mode))
        if fmt == "nftables":
            return ruleset.list_ruleset(KIND_NODE_TOOLS)
        if fmt == "nft-input":
            return ruleset.nft_input()
        if fmt == "iptables-restore":
            return ruleset.restore_payload()
        return ruleset.iptables_save(KIND_NODE_TOOLS, when=self.cluster.clock.time())

    def log_text(self) -> str:
        """The kube-proxy pod's log (klog text), oldest line first."""
        return "".join(line + "\n" for line in self._log)

    def latency_histogram(self) -> list[tuple[float, int]]:
        """Cumulative counts per ``le`` bucket of network-programming latency over ``.syncs``,
        like the ``kubeproxy_network_programming_duration_seconds`` histogram."""
        values = [seconds for sync in self.syncs for _, seconds in sync.latencies]
        return [(float(le), sum(v <= le for v in values)) for le in LATENCY_BUCKETS] + [(float("inf"), len(values))]

    def sync_history(self) -> list[dict]:
        """``.syncs`` as plain dicts (for JSON or a DataFrame)."""
        return [r.as_dict() for r in self.syncs]
