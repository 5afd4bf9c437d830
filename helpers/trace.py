"""Record watch events from several kinds at once, with receive times on the cluster's clock, into a table.

One thread per kind runs a list+watch loop (helpers.wait.watch_events), so the trace resumes after
BOOKMARKs and relists after 410 Expired; a relist is turned into the ADDED/MODIFIED/DELETED
events it implies, as an informer's Replace does. Each row says what changed (``summary``) and
which component most likely made the change (``actor``), which the sequence diagrams build on.
"""

from __future__ import annotations

import re
import threading
import time
from datetime import UTC, datetime
from typing import Self

import pandas as pd
import urllib3

from helpers import simapi
from helpers.connect import Backend, HelperError, current, resource
from helpers.kube import LABEL_MANAGED_BY, epoch, get_condition, obj_key
from helpers.wait import cluster_now, fast_forward, watch_events

DEFAULT_KINDS = ("deployments", "replicasets", "pods", "endpointslices", "endpoints", "events", "nodes")
COLUMNS = ["t", "kind", "type", "namespace", "name", "rv", "summary", "actor"]
USER = "user/kubectl"
IDLE_POLL = 0.05  # wall seconds between quiet checks in Trace.wait_idle

_running: list[Trace] = []
_running_lock = threading.Lock()


def note(text: str) -> None:
    """Record a user action (apply, scale, kubectl ...) on every running trace."""
    with _running_lock:
        traces = list(_running)
    for tr in traces:
        tr.note(text)


# --- what changed, and who changed it (pure) ---------------------------------------------------

def _cond(obj: dict | None, ctype: str):
    return (get_condition(obj or {}, ctype) or {}).get("status")


def _slice_counts(obj: dict | None) -> tuple[int, int]:
    eps = (obj or {}).get("endpoints") or []
    return len(eps), sum(1 for e in eps if (e.get("conditions") or {}).get("ready") is True)


def _endpoints_counts(obj: dict | None) -> tuple[int, int]:
    subsets = (obj or {}).get("subsets") or []
    return (sum(len(s.get("addresses") or []) for s in subsets),
            sum(len(s.get("notReadyAddresses") or []) for s in subsets))


def _changes(pairs) -> str:
    return ", ".join(f"{label} {a}→{b}" for label, a, b in pairs if a != b)


def _pod_changes(old: dict, new: dict) -> str:
    parts = []
    if new.get("spec", {}).get("nodeName") and not old.get("spec", {}).get("nodeName"):
        parts.append(f"nodeName={new['spec']['nodeName']}")
    if new.get("status", {}).get("podIP") and not old.get("status", {}).get("podIP"):
        parts.append(f"podIP={new['status']['podIP']}")
    if new.get("metadata", {}).get("deletionTimestamp") and not old.get("metadata", {}).get("deletionTimestamp"):
        parts.append("terminating")
    changed = _changes([("phase", old.get("status", {}).get("phase"), new.get("status", {}).get("phase")),
                        ("ready", _cond(old, "Ready"), _cond(new, "Ready"))])
    return ", ".join(parts + ([changed] if changed else []))


def _replicas(obj: dict) -> tuple:
    return obj.get("spec", {}).get("replicas"), obj.get("status", {}).get("readyReplicas", 0)


def summarize(kind: str, etype: str, old: dict | None, new: dict) -> str:
    """A short description of what an event changed; "" when nothing a reader would notice did."""
    if etype == "DELETED":
        return "deleted"
    if kind == "Event":
        return f"{new.get('reason', '')}: {new.get('message', '')}"[:120]
    if kind == "EndpointSlice":
        total, ready = _slice_counts(new)
        if old is None:
            return f"created ({total} endpoints, {ready} ready)"
        return _changes([("endpoints", _slice_counts(old)[0], total), ("ready", _slice_counts(old)[1], ready)])
    if kind == "Endpoints":
        if old is None:
            return "created ({} ready, {} not ready)".format(*_endpoints_counts(new))
        (a, b), (c, d) = _endpoints_counts(old), _endpoints_counts(new)
        return _changes([("ready", a, c), ("notReady", b, d)])
    if old is None:
        return "created"
    if kind == "Pod":
        return _pod_changes(old, new)
    if kind in ("Deployment", "ReplicaSet"):
        (r0, ready0), (r1, ready1) = _replicas(old), _replicas(new)
        return _changes([("replicas", r0, r1), ("readyReplicas", ready0, ready1)])
    if kind == "Node":
        taints = [t.get("key") for t in new.get("spec", {}).get("taints") or []]
        old_taints = [t.get("key") for t in old.get("spec", {}).get("taints") or []]
        return _changes([("Ready", _cond(old, "Ready"), _cond(new, "Ready")), ("taints", old_taints, taints)])
    return ""


_EVENT_SOURCES = {"default-scheduler": "scheduler", "kubelet": "kubelet",
                  "deployment-controller": "Deployment controller",
                  "replicaset-controller": "ReplicaSet controller",
                  "endpoint-slice-controller": "EndpointSlice controller",
                  "endpoint-controller": "Endpoints controller",
                  "endpointslice-mirroring-controller": "EndpointSliceMirroring controller",
                  "node-controller": "node lifecycle controller"}


def _owner_kind(obj: dict) -> str | None:
    refs = obj.get("metadata", {}).get("ownerReferences") or []
    return refs[0].get("kind") if refs else None


def event_actor(event: dict) -> str:
    """The component that reported a core/v1 Event (kube-proxy per node)."""
    component = (event.get("source") or {}).get("component") or event.get("reportingComponent") or ""
    if component == "kube-proxy":
        host = (event.get("source") or {}).get("host") or event.get("reportingInstance") or "?"
        return f"kube-proxy ({host})"
    return _EVENT_SOURCES.get(component, component or "unknown")


def actor_of(kind: str, etype: str, old: dict | None, new: dict, summary: str) -> str:
    """Which component most likely made this change (inferred: the API does not record writers)."""
    if kind == "Event":
        return event_actor(new)
    if kind == "EndpointSlice":
        managed_by = new.get("metadata", {}).get("labels", {}).get(LABEL_MANAGED_BY, "")
        return "EndpointSliceMirroring controller" if "mirroring" in managed_by else "EndpointSlice controller"
    if kind == "Endpoints":
        return "Endpoints controller"
    if kind == "Pod":
        if etype == "ADDED":
            return "ReplicaSet controller" if _owner_kind(new) == "ReplicaSet" else USER
        if summary.startswith("nodeName"):
            return "scheduler"
        if summary.startswith("terminating"):  # deletion asked for by the owner (scale down) or the user
            return "ReplicaSet controller" if _owner_kind(new) == "ReplicaSet" else USER
        return "kubelet"  # status updates, and the final removal after graceful termination
    if kind == "ReplicaSet":
        return "Deployment controller" if etype != "MODIFIED" or summary.startswith("replicas") \
            else "ReplicaSet controller"
    if kind == "Deployment":
        return USER if etype != "MODIFIED" or summary.startswith("replicas") else "Deployment controller"
    if kind == "Node":
        return "node lifecycle controller" if "taints" in summary else "kubelet"
    return "unknown"


# --- kube-proxy syncs, read from its log (pure) ---------------------------------------------------

_KLOG = re.compile(r'^[IWE](\d{2})(\d{2}) (\d{2}):(\d{2}):(\d{2})\.(\d+)\s+\d+ [^\]]+\] "([^"]*)"(.*)$')


def parse_klog(line: str, year: int) -> tuple[float, str, str] | None:
    """(epoch seconds, message, key=value rest) of one klog text line (klog omits the year; UTC)."""
    m = _KLOG.match(line)
    if not m:
        return None
    month, day, hour, minute, sec, frac, message, rest = m.groups()
    when = datetime(year, int(month), int(day), int(hour), int(minute), int(sec), tzinfo=UTC).timestamp()
    return when + float("0." + frac), message, rest.strip()


def proxy_sync_rows(logs: dict, start: float, until: float) -> list[dict]:
    """Trace rows for kube-proxy syncs logged between ``start`` and ``until`` (cluster clock, epoch s).

    ``logs`` maps node name to that node's kube-proxy log; ``t`` is seconds after ``start``, like
    every trace row.
    """
    year = datetime.fromtimestamp(start, UTC).year
    rows = []
    for node, text in sorted(logs.items()):
        for line in text.splitlines():
            parsed = parse_klog(line, year)
            if parsed is None or parsed[1] != "SyncProxyRules complete" or not start <= parsed[0] <= until:
                continue
            rows.append({"t": round(parsed[0] - start, 3), "kind": "KubeProxy", "type": "SYNC",
                         "namespace": None, "name": node, "rv": None, "summary": f"rules synced {parsed[2]}".strip(),
                         "actor": f"kube-proxy ({node})", "object": None})
    return rows


# --- the recorder ------------------------------------------------------------------------------

class Trace:
    """Watch several kinds at once and record every event with its receive time (cluster seconds since start)."""

    def __init__(self, kinds=None, namespace: str | None = None, *, duration: float = 120, max_events: int = 5000,
                 proxy_logs: bool = True, backend: Backend | None = None):
        self.backend = backend or current()
        self.proxy_logs = proxy_logs
        self.server_start = cluster_now(self.backend)
        self.kinds = tuple(kinds or DEFAULT_KINDS)
        self.namespace, self.duration, self.max_events = namespace, duration, max_events
        self.events: list[dict] = []
        self.relists = 0
        self.errors: list[str] = []
        self._finished = False  # stop() placed the rows and read the kube-proxy logs
        self._known: dict = {}
        self._streams: list = []
        self._changed = threading.Condition()
        self._stopped = threading.Event()
        self._synced = threading.Barrier(len(self.kinds) + 1)
        self._threads = [threading.Thread(target=self._run, args=(k,), daemon=True, name=f"trace-{k}")
                         for k in self.kinds]
        for th in self._threads:
            th.start()
        try:  # every watcher has its initial list: from here on, every change is recorded
            self._synced.wait(timeout=30)
        except threading.BrokenBarrierError:
            self.stop()
            raise HelperError("the trace could not start watching: " + "; ".join(self.errors or ["timed out"]),
                              "check the kinds you asked for and that the cluster answers") from None
        with _running_lock:
            _running.append(self)

    def _run(self, kind: str) -> None:
        first = True
        try:
            for etype, obj in watch_events(self.backend, kind, namespace=self.namespace,  # nodes: cluster-wide
                                           timeout=self.duration, stopped=self._stopped.is_set,
                                           on_stream=self._adopt):
                if etype == "SYNC":
                    self._replace(kind, obj, record=not first)
                    if first:
                        first = False
                        self._synced.wait(timeout=30)
                else:
                    self._record(etype, obj)
        except threading.BrokenBarrierError:
            pass
        except (HelperError, urllib3.exceptions.HTTPError) as err:  # a watcher thread must not die silently
            self.errors.append(f"{kind}: {err}")
        finally:
            if first:
                self._synced.abort()

    def _adopt(self, stream) -> None:
        """Keep a watcher's open stream so stop() can close it (also when stop() came first)."""
        self._streams.append(stream)
        if self._stopped.is_set():
            stream.close()

    def _key(self, obj: dict) -> tuple:
        return obj.get("kind"), *obj_key(obj)

    def _replace(self, kind: str, items: list, record: bool) -> None:
        """Adopt a (re)list; after a relist, record the events it implies."""
        if not record:
            with self._changed:
                self._known.update({self._key(o): o for o in items})
            return
        self.relists += 1
        at = self._elapsed()  # every row the relist implies is stamped when the list arrived
        seen = {self._key(o): o for o in items}
        with self._changed:
            gone = [o for k, o in self._known.items() if k[0] == resource(kind).kind and k not in seen]
        for obj in items:
            old = self._known.get(self._key(obj))
            if old is None:
                self._record("ADDED", obj, at)
            elif old.get("metadata", {}).get("resourceVersion") != obj.get("metadata", {}).get("resourceVersion"):
                self._record("MODIFIED", obj, at)
        for obj in gone:  # the deletion's resourceVersion is unknown: keep the time the relist found it
            self._record("DELETED", obj, at, placeable=False)

    def _elapsed(self) -> float:
        """Seconds since the trace started on the cluster's clock (the simulator may fast-forward)."""
        return round(cluster_now(self.backend) - self.server_start, 3)

    def _record(self, etype: str, obj: dict, t: float | None = None, placeable: bool = True) -> None:
        t = self._elapsed() if t is None else t
        kind = obj.get("kind", "")
        meta = obj.get("metadata", {})
        with self._changed:
            key = self._key(obj)
            old = self._known.get(key)
            if etype == "DELETED":
                self._known.pop(key, None)
            else:
                self._known[key] = obj
            summary = summarize(kind, etype, old if etype != "ADDED" else None, obj)
            actor = actor_of(kind, etype, old, obj, summary)
            if kind == "Pod" and summary.startswith("terminating") and self._user_deleted(meta.get("name", "")):
                actor = USER  # the owner would have deleted it too; this trace saw the user ask first
            self.events.append({"t": t, "kind": kind, "type": etype, "namespace": meta.get("namespace"),
                                "name": meta.get("name"), "rv": meta.get("resourceVersion"), "summary": summary,
                                "actor": actor, "object": obj, "placeable": placeable})
            self._changed.notify_all()
            full = len(self.events) >= self.max_events
        if full:
            self._stopped.set()

    def _user_deleted(self, name: str) -> bool:
        """(Lock held.) Did a user action recorded by this trace delete the pod ``name``?"""
        deleting = re.compile(rf"\bdelete\b.*(?:\s|/){re.escape(name)}(?:\s|$)")
        return any(e["type"] == "ACTION" and deleting.search(e["summary"]) for e in self.events)

    def note(self, text: str) -> None:
        """Record a user action (the helpers call this for apply, scale, delete, label, kubectl)."""
        t = self._elapsed()
        with self._changed:
            self.events.append({"t": t, "kind": "User", "type": "ACTION",
                                "namespace": self.namespace, "name": text, "rv": None, "summary": text,
                                "actor": USER, "object": None})
            self._changed.notify_all()

    def wait_idle(self, quiet: float = 1.0, timeout: float = 30) -> bool:
        """Block until no event arrived for ``quiet`` seconds of cluster time (True), or for at most
        ``timeout`` wall seconds (False). On the simulator, idle gaps are fast-forwarded."""
        deadline = time.monotonic() + timeout
        with fast_forward(self.backend, timeout):
            while (remaining := deadline - time.monotonic()) > 0:
                with self._changed:
                    count = len(self.events)
                    last = max((e["t"] for e in self.events), default=0.0)
                    if self._changed.wait(timeout=min(IDLE_POLL, remaining)) or len(self.events) != count:
                        continue
                if self._elapsed() - last >= quiet:
                    return True
        return False

    def wait_for_event(self, predicate, timeout: float = 30) -> bool:
        """Block until a recorded event (a row dict, as in ``to_frame``) satisfies ``predicate``."""
        with fast_forward(self.backend, timeout), self._changed:
            return self._changed.wait_for(lambda: any(predicate(e) for e in self.events), timeout=timeout)

    def stop(self) -> Trace:
        """Stop every watcher (closing their streams) and wait for the threads to end."""
        self._stopped.set()
        with _running_lock:
            if self in _running:
                _running.remove(self)
        for stream in list(self._streams):
            stream.close()
        for th in self._threads:
            th.join(timeout=5)
        if not self._finished:
            self._finished = True
            self._place_exactly()
            if self.proxy_logs:
                self._read_proxy_syncs()
        return self

    def _place_exactly(self) -> None:
        """On the simulator, move each row from when our watch received it to when it was written.

        Receive times lag commits by a few milliseconds, enough to list a kube-proxy sync (stamped from
        its log) before the write that caused it. The simulator remembers when each resourceVersion was
        committed; a real API server does not, so on kind the receive times stay.
        """
        rvs = sorted({e["rv"] for e in self.events if e.get("placeable") and e["rv"]})
        if not self.backend.is_sim or not rvs:
            return
        try:
            times = simapi.commit_times(self.backend, rvs)
        except HelperError as err:
            self.errors.append(f"commit times: {err.message}")
            return
        with self._changed:
            for event in self.events:
                if event.get("placeable") and event["rv"] in times:
                    event["t"] = round(epoch(times[event["rv"]]) - self.server_start, 3)

    def _read_proxy_syncs(self) -> None:
        """Add the kube-proxy syncs its pods logged during the trace (kind logs them only at -v=2)."""
        try:
            until = cluster_now(self.backend)
            pods, _ = self.backend.list("pods", "kube-system", selector="k8s-app=kube-proxy")
            logs = {p["spec"].get("nodeName", p["metadata"]["name"]): self.backend.request(
                "GET", f"/api/v1/namespaces/kube-system/pods/{p['metadata']['name']}/log") for p in pods}
        except HelperError as err:
            self.errors.append(f"kube-proxy logs: {err.message}")
            return
        with self._changed:
            self.events += proxy_sync_rows({n: t for n, t in logs.items() if isinstance(t, str)},
                                           self.server_start, until)

    @property
    def running(self) -> bool:
        return any(th.is_alive() for th in self._threads)

    def to_frame(self) -> pd.DataFrame:
        """One row per event: t, kind, type, namespace, name, rv, summary, actor."""
        with self._changed:
            rows = [{c: e[c] for c in COLUMNS} for e in self.events]
        frame = pd.DataFrame(rows, columns=COLUMNS)
        order = pd.to_numeric(frame["rv"], errors="coerce")  # same time: write order, then rows without one
        return (frame.assign(_order=order).sort_values(["t", "_order"], kind="stable", na_position="last")
                .drop(columns="_order").reset_index(drop=True))

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"Trace({', '.join(self.kinds)}; {len(self.events)} events, {state})"
