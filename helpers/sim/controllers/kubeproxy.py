"""The simulated kube-proxy: one per node, programming the node's rules from its own informers.

Like the real one (``cmd/kube-proxy``, ``pkg/proxy``; v1.36.1) it:

* watches Services (without the ``service.kubernetes.io/service-proxy-name`` label, ``clusterIP`` not
  ``None``), EndpointSlices (without the ``service.kubernetes.io/headless`` label), ServiceCIDRs and its
  own Node;
* its event handlers only record into a ServiceChangeTracker and an EndpointsChangeTracker
  (:mod:`helpers.dataplane.changetracker`) and ask the runner for a sync: a Service update counts
  only if its service ports change, an EndpointSlice update only if the parts kube-proxy reads
  change (the EndpointSliceCache's "identical update is a no-op" rule); the sync checks them out;
* syncs through a BoundedFrequencyRunner (:mod:`helpers.dataplane.runner`, v1.34+): at least
  ``minSyncPeriod`` (1 s) from the end of one sync to the start of the next, with no burst (the
  older ``pkg/util/async`` runner allowed 2); a failed sync is retried after ``syncPeriod``
  (30 s); a periodic sync every hour (``proxyutil.FullSyncPeriod``, the runner's maxInterval in both
  modes since the nftables proxier adopted it);
  a full sync at start, after a stopped node comes back and hourly, partial syncs otherwise
  (KEP-3453);
* measures network-programming latency from each changed slice's
  ``endpoints.kubernetes.io/last-change-trigger-time`` (only times after its own start).

The rules themselves come from the pure model in :mod:`helpers.dataplane`; `rules()` serves what
the last sync programmed. A stopped node's kube-proxy does not sync; it retries every
``syncPeriod`` and resyncs fully once it can.
"""

from __future__ import annotations

import time as _time
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime

from helpers.dataplane.changetracker import (
    EndpointsChangeTracker,
    ServiceChangeTracker,
    ServiceMap,
)
from helpers.dataplane.parse import KIND_NODE_TOOLS
from helpers.dataplane.proxy import ObjectError, build_proxy_state, default_config, parse_duration
from helpers.dataplane.runner import BoundedFrequencyRunner
from helpers.dataplane.stats import render, stats_of, sync_payload
from helpers.kube import format_micro_time, obj_key

SERVICES = "services"
SLICES = "endpointslices.discovery.k8s.io"
NODES = "nodes"
SERVICE_CIDRS = "servicecidrs.networking.k8s.io"
FULL_SYNC_PERIOD = 3600.0  # proxyutil.FullSyncPeriod
# kubeproxy_network_programming_duration_seconds buckets (pkg/proxy/metrics/metrics.go). The leading 0 is
# real: component-base's MergeBuckets starts from a one-element slice (metrics/buckets.go), and the real
# kube-proxy's /metrics shows le="0" (tests/test_oracle_metrics.py).
LATENCY_BUCKETS = (0.0, 0.25, 0.5, *range(1, 60), *range(60, 120, 5), *range(120, 301, 30))
HISTORY = 500  # syncs kept in .syncs
LOG_LINES = 2000
# What a node's rules can be read as: what its tools print (iptables-save, nft list ruleset) and
# what kube-proxy writes (its iptables-restore input, its nft -f input).
RULE_FORMATS = ("iptables", "nftables", "iptables-restore", "nft-input")
MODE_OF_FORMAT = {"iptables": "iptables", "iptables-restore": "iptables", "nftables": "nftables", "nft-input": "nftables"}


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


def klog_line(when: float, message: str, source: str = "proxier.go", severity: str = "I", **kv) -> str:
    """A line in klog's text format (``Lmmdd hh:mm:ss.uuuuuu threadid file] msg key=value``).

    The Go source line number is left out: the simulator is not the kube-proxy binary. Values print
    as Go's do: booleans `true`/`false`, numbers bare, strings quoted.
    """
    stamp = datetime.fromtimestamp(when, UTC).strftime("%m%d %H:%M:%S.%f")
    pairs = "".join(f" {k}={_klog_value(v)}" for k, v in kv.items())
    return f'{severity}{stamp}       1 {source}] "{message}"{pairs}'


def _klog_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return repr(str(value)).replace(chr(39), chr(34))


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
        # BoundedFrequencyRunner's maxInterval: proxyutil.FullSyncPeriod in both proxiers (v1.36.1
        # pkg/proxy/{iptables,nftables}/proxier.go NewBoundedFrequencyRunner calls).
        self.max_interval = FULL_SYNC_PERIOD
        # ServiceCIDR name -> its CIDRs (the ServiceCIDRConfig handler's set), and the CIDRs the last
        # full sync programmed: setupNFTables writes the "Drop traffic to unallocated ClusterIPs" rule,
        # and OnServiceCIDRsChanged neither syncs nor asks for a full sync (pkg/proxy/nftables/proxier.go).
        self._cidr_objects: dict[str, tuple[str, ...]] = {}
        self.service_cidrs: list[str] = []
        self.syncs: deque[SyncRecord] = deque(maxlen=HISTORY)
        self._log: deque[str] = deque(maxlen=LOG_LINES)
        self._service_cache: dict[tuple[str, str], dict] = {}  # the Service informer's cache
        self._node: dict | None = None
        self.service_changes = ServiceChangeTracker()
        self.service_map = ServiceMap()
        self.endpoints_changes: EndpointsChangeTracker | None = None  # made at start (trackerStartTime)
        self.runner = BoundedFrequencyRunner(cluster.clock, self._sync, self.min_sync_period, self.sync_period,
                                             self.max_interval)
        self._need_full_sync = True
        self._last_full = float("-inf")
        self._ruleset = None  # what the last successful sync programmed
        self._state = None  # the proxy state it was rendered from (which Services had UDP ports)
        self._unsubscribe = None
        self.started_at = None

    # -- lifecycle --------------------------------------------------------------------------------
    def start(self) -> None:
        """Subscribe, list (the informers' initial sync), then run the first (full) sync."""
        clock = self.cluster.clock
        self.started_at = clock.time()
        self.endpoints_changes = EndpointsChangeTracker(self.started_at)
        self._unsubscribe = self.cluster.store.subscribe(self._on_commit, resources=(SERVICES, SLICES, NODES, SERVICE_CIDRS),
                                                           wants_old=False, copies=False)  # read-only
        if self.config["mode"] != self.mode:
            self._say(f"{self.config['mode']} mode is not modelled by the simulator; programming {self.mode} rules",
                      source="server_linux.go", severity="W")
        self._say(f"Using {self.mode} Proxier", source="server_linux.go")
        for resource in (SERVICES, SLICES, SERVICE_CIDRS):
            items, _ = self.cluster.store.list(resource)
            for obj in items:
                self._record("ADDED", resource, obj)
        try:
            self._node = self.cluster.store.get(NODES, self.node_name)
        except Exception:  # noqa: BLE001 - the Node may not exist yet; its ADDED event will arrive
            self._node = None
        for controller in ("service config", "endpoint slice config"):
            self._say("Caches are synced", source="shared_informer.go", controller=controller)
        self.runner.start()

    def stop(self) -> None:
        if self._unsubscribe:
            self._unsubscribe()
        self.runner.stop()

    # -- informer side ------------------------------------------------------------------------------
    def _on_commit(self, event_type: str, resource: str, obj: dict, old) -> None:
        if resource in (SERVICES, SLICES, SERVICE_CIDRS) or (resource == NODES and obj["metadata"]["name"] == self.node_name):
            self.cluster.clock.call_soon(self._on_event, event_type, resource, obj)

    def _on_event(self, event_type: str, resource: str, obj: dict) -> None:
        if self._record(event_type, resource, obj):
            self.runner.run()

    def _record(self, event_type: str, resource: str, obj: dict) -> bool:
        """The proxier's OnXxx handlers: record the change; True if a sync is needed."""
        if resource == SERVICE_CIDRS:
            if event_type == "DELETED":
                self._cidr_objects.pop(obj["metadata"]["name"], None)
            else:
                self._cidr_objects[obj["metadata"]["name"]] = tuple((obj.get("spec") or {}).get("cidrs") or ())
            return False
        if resource == NODES:
            old_labels = (self._node or {}).get("metadata", {}).get("labels")
            self._node = None if event_type == "DELETED" else obj
            if old_labels != obj["metadata"].get("labels"):
                self._need_full_sync = True  # topology labels changed: upstream forces a full sync
                return True
            return False
        if resource == SERVICES:
            key = obj_key(obj)
            previous = self._service_cache.pop(key, None)
            current = None if event_type == "DELETED" else obj
            if current is not None:
                self._service_cache[key] = current
            return self.service_changes.update(previous, current)
        return self.endpoints_changes.endpoint_slice_update(obj, remove=event_type == "DELETED")

    # -- the sync --------------------------------------------------------------------------------
    def _sync(self) -> str | None:
        """One sync; an error (a failed sync, or a bug of the model on some object) asks for a retry.

        Upstream a panic in syncProxyRules restarts the kube-proxy container, whose first sync is full;
        here the retry after syncPeriod is full, so no later change is lost and none stops the syncs."""
        try:
            return self._sync_rules()
        except Exception as err:  # noqa: BLE001 - logged once per retry (in the kube-proxy's log), then retried
            self._need_full_sync = True
            self._say("Sync failed", severity="E", retryingTime=f"{self.sync_period:g}s",
                      err=f"{type(err).__name__}: {err}")
            return f"{type(err).__name__}: {err}"

    def _sync_rules(self) -> str | None:
        """syncProxyRules: check the trackers out, build and render the rules."""
        now = self.cluster.clock.time()
        if not self.cluster.node_running(self.node_name):
            self._need_full_sync = True  # like a restarted kube-proxy: the next sync is a full one
            return "node stopped"
        full = self._need_full_sync or now - self._last_full >= FULL_SYNC_PERIOD
        self._say(f"Syncing {self.mode} rules", fullSync=full)
        started = _time.perf_counter()
        changed = self.service_map.update(self.service_changes)
        changed_endpoints, trigger_times, slice_changes = self.endpoints_changes.checkout()
        changed |= changed_endpoints
        try:
            state = build_proxy_state(self.service_map.services(), self.endpoints_changes.slices(),
                                      self._node or self.node_name, self.config)
        except ObjectError as err:  # upstream: a failed sync is retried after syncPeriod, fully
            self._say("Sync failed", severity="E", retryingTime=f"{self.sync_period:g}s", err=str(err))
            self._need_full_sync = True
            return str(err)
        if full:
            self.service_cidrs = sorted({c for cidrs in self._cidr_objects.values() for c in cidrs})
        ruleset = render(state, self.mode, **self._render_options(self.mode))
        payload = sync_payload(None if full else self._ruleset, ruleset, None if full else changed)
        kernel = getattr(self.cluster, "kernel", None)
        if kernel is not None:  # the kernel data plane: this text goes to the node's iptables-restore / nft
            try:
                kernel.program(self.node_name, self.mode, ruleset, payload)
            except Exception as err:  # noqa: BLE001 - upstream: the restore failed; retried fully after syncPeriod
                self._say("Sync failed", severity="E", retryingTime=f"{self.sync_period:g}s", err=str(err))
                self._need_full_sync = True
                return str(err)
        counts = stats_of(ruleset)
        latencies = tuple(sorted((f"{ns}/{name}", now - t) for (ns, name), times in trigger_times.items()
                                 for t in times))
        record = SyncRecord(now, full, len(changed), slice_changes, len(payload),
                            counts.rules, counts.chains, latencies)
        self.syncs.append(record)
        udp_changed = self._udp_endpoints_changed((self._state, state), changed_endpoints)
        self._state, self._ruleset = state, ruleset
        traffic = getattr(self.cluster, "traffic", None)
        if traffic is not None and udp_changed:
            # proxier.go: `if endpointUpdateResult.ConntrackCleanupRequired { conntrack.CleanStaleEntries(...) }`
            deleted = traffic.clean_stale_udp(self.node_name, state)
            self._say("Finished reconciling conntrack entries", source="cleanup.go", entriesDeleted=deleted)
        self._need_full_sync = False
        if full:
            self._last_full = now
        self._say(f"Reloading service {self.mode} data", numServices=len(state.ports),
                  numEndpoints=state.total_endpoints, bytes=len(payload))
        for service, seconds in latencies:
            self._say("Network programming", endpoint=service, elapsed=round(seconds, 6))
        self._say("SyncProxyRules complete", elapsed=f"{(_time.perf_counter() - started) * 1000:.3f}ms")
        return None

    @staticmethod
    def _udp_endpoints_changed(states, changed_endpoints) -> bool:
        """``ConntrackCleanupRequired`` (pkg/proxy/endpointschangetracker.go, v1.37.0): a Service whose
        endpoints changed has a UDP port in the endpoints map before or after the change (the map holds only
        ports with endpoints), so a new UDP Service's first endpoints clean up too."""
        return any(p.service_port.protocol == "UDP" and p.endpoints and p.service in changed_endpoints
                   for state in states if state is not None for p in state.ports)

    def _say(self, message: str, source: str = "proxier.go", severity: str = "I", **kv) -> None:
        self._log.append(klog_line(self.cluster.clock.time(), message, source, severity, **kv))

    # -- views --------------------------------------------------------------------------------------
    def _render_options(self, mode: str) -> dict:
        if mode == "nftables":
            return {"service_cidrs": self.service_cidrs}
        return {"nfacct": self.nfacct, "random_fully": True}

    def rules(self, fmt: str | None = None) -> str:
        """The rules this node's last sync programmed, in one of :data:`RULE_FORMATS`:

        * ``iptables``: what ``iptables-save`` on a kind node prints (the node image's iptables);
        * ``nftables``: what ``nft list ruleset`` prints there (the ``kube-proxy`` table);
        * ``iptables-restore`` / ``nft-input``: what kube-proxy writes for a full sync.

        Default: this kube-proxy's mode, as its node prints it. Empty before the first sync; a
        ValueError for the formats of the other mode (this kube-proxy did not program those).
        """
        fmt = fmt or self.mode
        if fmt not in RULE_FORMATS:
            raise ValueError(f"format must be one of {', '.join(RULE_FORMATS)}, not {fmt!r}")
        if MODE_OF_FORMAT[fmt] != self.mode:
            formats = [f for f, mode in MODE_OF_FORMAT.items() if mode == self.mode]
            raise ValueError(f"{self.node_name}'s kube-proxy programs {self.mode} rules, not {MODE_OF_FORMAT[fmt]}: "
                             f"read them as {' or '.join(formats)}")
        ruleset = self._ruleset
        if ruleset is None:
            return ""
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

    def sync_history(self) -> list[dict]:
        """``.syncs`` as plain dicts (for JSON or a DataFrame)."""
        return [r.as_dict() for r in self.syncs]
