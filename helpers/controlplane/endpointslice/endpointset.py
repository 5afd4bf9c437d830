"""Which pods become EndpointSlice endpoints, and how: the per-pod half of the EndpointSlice reconciler.

Follows kubernetes/kubernetes `staging/src/k8s.io/endpointslice/utils.go` (podToEndpoint,
commit 115584ee) and `.../util/endpointset.go` / `.../util/controller_utils.go` (hashEndpoint,
EndpointsEqualBeyondHash): addresses of one family (IPv6 in canonical form), ready/serving/
terminating with `publishNotReadyAddresses`, nodeName, zone from the Node's label, targetRef, and
hostname only for pods whose subdomain names the Service. Pure functions over plain dicts, plus a
memo (`EndpointCache`) the controller keeps between syncs.
"""

from __future__ import annotations

from helpers.controlplane.endpointslice.controller_utils import should_set_hostname
from helpers.controlplane.endpointslice.utils import canonical_ip, is_ipv6, pod_ips, pod_ref
from helpers.kube import LABEL_ZONE, is_ready


def _addresses(ips: list[str], address_type: str) -> list[str]:
    """The pod IPs of one family; IPv6 ones in canonical form (IPv4 is used as written, like upstream)."""
    if address_type == "IPv6":
        return [canonical_ip(ip) or ip for ip in ips if is_ipv6(ip)]
    return [ip for ip in ips if not is_ipv6(ip)]


def pod_to_endpoint(pod: dict, node: dict | None, service: dict, address_type: str) -> dict:
    """The endpoint for one pod in one family (upstream podToEndpoint).

    This runs once per pod per sync, so it reads each part of the pod only once.
    """
    meta, spec = pod["metadata"], pod.get("spec") or {}
    serving = is_ready(pod)
    terminating = bool(meta.get("deletionTimestamp"))
    ready = bool(service["spec"].get("publishNotReadyAddresses")) or (serving and not terminating)
    ep = {
        "addresses": _addresses(pod_ips(pod), address_type),
        "conditions": {"ready": ready, "serving": serving, "terminating": terminating},
        "targetRef": pod_ref(pod),
    }
    node_name = spec.get("nodeName")
    if node_name:
        ep["nodeName"] = node_name
    if node is not None:
        zone = (node["metadata"].get("labels") or {}).get(LABEL_ZONE)
        if zone:
            ep["zone"] = zone
    if spec.get("hostname") and should_set_hostname(pod, service):
        ep["hostname"] = spec["hostname"]
    return ep


class EndpointCache:
    """Memo of pod -> endpoint between syncs of one Service.

    Building endpoints is most of a sync's cost. A pod with the same UID and resourceVersion, on a
    node in the same zone, yields the same endpoint for the same Service settings, so the shell
    keeps one cache per Service and a readiness flip rebuilds one endpoint instead of all of them.
    Endpoints are handed out shared, not copied: copying all of them made a one-pod change cost as
    much as rebuilding them. They are read-only to callers; the reconciler copies only the few it
    writes (`detached`) before anything edits them. Stale entries are swept (`start`, `rotate`), so
    the cache stays within about twice the Service's endpoints.
    """

    def __init__(self):
        self._entries: dict[tuple, tuple] = {}
        # Set for the one sync that sweeps: it copies each entry it uses here, then keeps only those.
        self._fresh: dict[tuple, tuple] | None = None
        self._live = 0  # entries kept by the last sweep
        self._settings = None

    def start(self, service: dict) -> None:
        """Begin a sync; Service settings that shape endpoints invalidate everything when they change.

        Most syncs only read the cache (a one-pod change adds one entry). Once stale entries could
        outnumber the live ones, the next sync sweeps: an O(1) cost per change, amortized, instead of
        copying every entry on every sync."""
        settings = (
            service["metadata"].get("namespace"),
            service["metadata"]["name"],
            bool(service["spec"].get("publishNotReadyAddresses")),
        )
        if settings != self._settings:
            self._entries, self._settings, self._live = {}, settings, 0
        self._fresh = {} if len(self._entries) > 2 * self._live + 64 else None

    def __len__(self) -> int:
        return len(self._entries)

    def _get(self, key):
        entry = self._entries.get(key)
        if entry is not None and self._fresh is not None:
            self._fresh[key] = entry
        return entry

    def _put(self, key, entry) -> None:
        self._entries[key] = entry
        if self._fresh is not None:
            self._fresh[key] = entry

    def known(self, pod, zone, address_type) -> tuple[tuple | None, dict] | None:
        """The entry an earlier sync built for this pod version in this zone, or None.

        Entries are made only for pods that belong in the Service's endpoints, and a pod version's
        content never changes, so a hit also answers ShouldPodBeInEndpoints for that pod."""
        meta = pod["metadata"]
        version = meta.get("resourceVersion")
        if not version:
            return None
        key = (meta.get("uid"), version, zone, address_type)
        entry = self._entries.get(key)  # _get inlined: this runs once per pod per sync
        if entry is not None and self._fresh is not None:
            self._fresh[key] = entry
        return entry

    def endpoint(self, pod, node, zone, service, address_type) -> tuple[tuple | None, dict]:
        """Build and remember the entry `known` did not have: (endpoint_key or None when the pod has no
        address of the family, the shared endpoint)."""
        ep = pod_to_endpoint(pod, node, service, address_type)
        entry = (endpoint_key(ep) if ep["addresses"] else None, ep)
        meta = pod["metadata"]
        if meta.get("resourceVersion"):
            self._put((meta.get("uid"), meta["resourceVersion"], zone, address_type), entry)
        return entry

    def slice_keys(self, slice_: dict) -> tuple[list[tuple], list, bool]:
        """endpoint_key of each endpoint of an existing slice, per position the desired endpoint last
        found equal to it (None if none yet), and whether any endpoint has hints, all remembered per
        slice version: a sync after a one-pod change meets every other slice unchanged, and its
        endpoints are the same shared cache entries as last time, so an identity check (``is``) stands
        in for comparing them again (entries and stored slice versions are never edited, so once
        equal, always equal)."""
        meta = slice_["metadata"]
        key = ("slice", meta.get("name"), meta.get("resourceVersion"))
        entry = self._get(key) if key[2] else None
        if entry is None:
            endpoints = slice_.get("endpoints") or ()
            entry = (
                [endpoint_key(ep) for ep in endpoints],
                [None] * len(endpoints),
                any("hints" in ep for ep in endpoints),
            )
            if key[2]:
                self._put(key, entry)
        return entry

    def hinted(self, slice_: dict) -> bool:
        """Whether any endpoint of the slice carries hints (remembered per slice version)."""
        return self.slice_keys(slice_)[2]

    def rotate(self) -> None:
        """End a sync; a sweeping sync keeps only the entries it used."""
        if self._fresh is not None:
            self._entries, self._fresh = self._fresh, None
            self._live = len(self._entries)


_NESTED = (dict, list)


def detached(value):
    """A copy of JSON-shaped data (an endpoint, a slice) that shares no dict or list with `value`.

    Written slices get detached endpoints so that hints can be set on them, and callers can edit
    the result, without touching the EndpointCache or the existing slices passed in.
    """
    # Scalars are taken as they are without a call: this copies every endpoint of an initial sync.
    if type(value) is dict:
        return {k: detached(v) if type(v) in _NESTED else v for k, v in value.items()}
    if type(value) is list:
        return [detached(v) if type(v) in _NESTED else v for v in value]
    return value


def endpoint_key(ep: dict) -> tuple:
    """Endpoint identity (upstream hashEndpoint): addresses, hostname, pod namespace/name."""
    ref = ep.get("targetRef") or {}
    addresses = ep.get("addresses") or ()
    addresses = tuple(addresses) if len(addresses) < 2 else tuple(sorted(addresses))
    return (addresses, ep.get("hostname") or "", ref.get("namespace"), ref.get("name"))


def endpoint_ready(endpoint: dict) -> bool:
    return bool((endpoint.get("conditions") or {}).get("ready"))


def copy_slice(slice_: dict) -> dict:
    """Copy a slice sharing nothing with it, so that hints (and annotations) can be changed."""
    copy = detached(slice_)
    copy["endpoints"] = copy.get("endpoints") or []
    return copy
