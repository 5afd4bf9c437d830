"""The client of the simulator's control routes: the ``/sim/`` interface next to its Kubernetes API.

The server side is ``helpers/sim/control.py`` (its ``ControlHandler`` routes the same paths). Every
toolkit call of a control route goes through this module, so the routes are named in one place, a
backend that is not the simulator is refused before anything is sent (``NotSimulator``, rather than
the real API server's bare 404), and the simulator's failures arrive as ``ApiError`` carrying its
``Status`` (``Backend.request``). Callers keep their own guard messages and 404 mapping (what a
missing node means depends on the helper); this module only builds and sends the requests.
"""

from __future__ import annotations

from helpers.connect import Backend, HelperError

_NODE_READS = ("proxy", "proxy-metrics", "conntrack")  # GET routes of a node; its other actions are POSTs


class NotSimulator(HelperError):
    """A simulator-only helper was used on a real cluster."""


def _call(backend: Backend, method: str, route: str, *, query=None, body=None):
    if not backend.is_sim:
        raise NotSimulator(f"/sim{route} only exists on the simulator; this is {backend.context}",
                           "connect with h.connect('sim') to use simulator-only helpers")
    return backend.request(method, f"/sim{route}", query=query, body=body)


def info(backend: Backend) -> dict:
    """What the simulator is and how it is configured (``speed``, ``config``...)."""
    return _call(backend, "GET", "/info")


def clock(backend: Backend) -> dict:
    """The virtual clock: ``virtualTime`` (RFC 3339, microseconds), ``speed``, ``fastForwarding``."""
    return _call(backend, "GET", "/clock")


def advance(backend: Backend, seconds: float) -> dict:
    """Move the virtual clock forward by ``seconds``; ``{"virtualTime", "advancedSeconds"}``."""
    return _call(backend, "POST", "/clock/advance", body={"seconds": seconds})


def fast_forward(backend: Backend, seconds: float, lease: int | None = None) -> dict:
    """Skip idle gaps for the next ``seconds`` of wall time; ``seconds=0`` with a ``lease`` ends that lease.
    The answer's ``lease`` is the one granted."""
    body = {"seconds": seconds} if lease is None else {"seconds": seconds, "lease": lease}
    return _call(backend, "POST", "/clock/fast-forward", body=body)


def commit_times(backend: Backend, resource_versions: list[str]) -> dict[str, str]:
    """When the store committed each resourceVersion it still remembers (RFC 3339, microseconds)."""
    return _call(backend, "POST", "/store/commit-times", body={"resourceVersions": resource_versions})["commitTimes"]


def endpointslice_decisions(backend: Backend, namespace: str, service: str) -> list[dict]:
    """The simulated EndpointSlice reconciler's recorded syncs of one Service."""
    query = {"namespace": namespace, "service": service}
    return _call(backend, "GET", "/controllers/endpointslice/decisions", query=query)["decisions"]


def configure_endpointslice(backend: Backend, settings: dict) -> dict:
    """Change the simulated EndpointSlice controller's settings; returns all of them as now in force."""
    return _call(backend, "POST", "/controllers/endpointslice/config", body=settings)


def traffic_requests(backend: Backend, request: dict) -> list[dict]:
    """Send ``count`` requests to a Service through the client node's rules; one row per request."""
    return _call(backend, "POST", "/traffic/requests", body=request)["requests"]


def open_connection(backend: Backend, request: dict) -> dict:
    """Open one connection to a Service and keep it; ``{"id", "outcome", "endpoint", ...}``."""
    return _call(backend, "POST", "/traffic/connections", body=request)


def send(backend: Backend, connection: int) -> dict:
    """One more request on a held connection."""
    return _call(backend, "POST", f"/traffic/connections/{connection}/send", body={})


def node(backend: Backend, name: str, action: str, **query):
    """A node action (``stop``, ``start``) or read (``proxy`` rules, ``proxy-metrics``, ``conntrack``)."""
    method = "GET" if action in _NODE_READS else "POST"
    return _call(backend, method, f"/nodes/{name}/{action}", query=query or None)


def shutdown(backend: Backend, name: str, grace_period: float, critical_pods_grace_period: float) -> dict:
    """A graceful node shutdown with the kubelet's ``shutdownGracePeriod`` settings."""
    body = {"shutdownGracePeriod": grace_period, "shutdownGracePeriodCriticalPods": critical_pods_grace_period}
    return _call(backend, "POST", f"/nodes/{name}/shutdown", body=body)
