"""Traffic: send requests to a Service and see which pod answered; read a node's conntrack table.

One call, two backends:

* simulator: its traffic route (``helpers/simapi.py``); each request walks the client node's kube-proxy rules
  through the packet tracer and is answered by the modelled agnhost process (``helpers/sim/traffic.py``);
* kind: real requests from inside the client pod (``kubectl exec`` of a bash loop around ``curl``,
  which the agnhost image ships; ``nc -u`` for UDP), or from a node's host network (``docker exec``).
  The reply names the pod (agnhost ``serve-hostname`` and ``netexec /hostname`` answer with it); the
  endpoint is that pod's IP and the Service port's target port. curl's exit status gives the
  outcome: 7 refused, 28 timeout, 56 reset (curl's documented exit codes).
"""

from __future__ import annotations

import shlex

from helpers import simapi, trace
from helpers.config import AGNHOST_IMAGE
from helpers.connect import ApiError, Backend, HelperError, current
from helpers.dataplane.conntrack import parse as parse_conntrack
from helpers.kubectl import kubectl

CLIENT_POD = "traffic-client"
COLUMNS = ["t", "client", "pod", "endpoint", "outcome", "latency_ms"]
CURL_OUTCOMES = {0: "ok", 7: "refused", 28: "timeout", 56: "reset", 52: "reset"}


class TrafficError(HelperError):
    """A request could not be sent: unknown Service, port or client, or a client that is not running."""


def _sim_error(err: ApiError) -> TrafficError:
    message = err.status.get("message", str(err))
    what, _, step = message.rpartition("; ")
    return TrafficError(what or message, step if what else "")


def _client_pod(namespace: str, backend: Backend) -> str:
    """The helper's client pod (agnhost pause), created once per namespace; the sandbox's cleanup removes it."""
    from helpers.objects import apply
    from helpers.wait import wait_for_ready

    try:
        backend.get("pods", CLIENT_POD, namespace)
    except ApiError as err:
        if err.code != 404:
            raise
        apply({"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": CLIENT_POD, "labels": {"app": CLIENT_POD}},
               "spec": {"containers": [{"name": "client", "image": AGNHOST_IMAGE, "args": ["pause"]}],
                        "terminationGracePeriodSeconds": 0}}, namespace=namespace, backend=backend)
    wait_for_ready(namespace, f"app={CLIENT_POD}", 1, backend=backend)
    return CLIENT_POD


def requests(service: str, namespace: str, *, count: int = 100, port=None, client: str | None = None,
             interval: float = 0.0, timeout: float = 1.0, path: str = "/hostname", backend: Backend | None = None):
    """Send ``count`` requests (each a new connection) to a Service; one DataFrame row per request.

    Columns: ``t`` (cluster clock, epoch seconds), ``client``, ``pod`` (who answered, from its reply),
    ``endpoint`` (``ip:port`` the connection was DNAT'ed to), ``outcome`` (``ok`` | ``refused`` |
    ``timeout`` | ``reset``), ``latency_ms``. ``port`` is a Service port number or name (default: the
    first); ``client`` a pod in the namespace (default: a ``traffic-client`` pod this helper creates)
    or ``"node/<name>"`` for that node's host network. ``interval`` spaces requests on the cluster
    clock, so a call can span a rolling update or a pod deletion.
    """
    import pandas as pd

    backend = backend or current()
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        raise TrafficError(f"count must be a positive integer, got {count!r}", "pass e.g. count=100")
    for name, value in (("interval", interval), ("timeout", timeout)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise TrafficError(f"{name} must be a number of seconds >= 0, got {value!r}", f"pass e.g. {name}=0.1")
    client = client or _client_pod(namespace, backend)
    trace.note(f"{count} requests to {namespace}/{service} from {client}")
    if backend.is_sim:
        body = {"namespace": namespace, "service": service, "client": client, "count": count, "port": port,
                "interval": interval, "timeout": timeout, "path": path}
        try:
            rows = simapi.traffic_requests(backend, body)
        except ApiError as err:
            raise _sim_error(err) from None
    else:
        rows = _kind_requests(backend, namespace, service, port, client, count, interval, timeout, path)
    return pd.DataFrame(rows, columns=COLUMNS)


class Connection:
    """A connection held open (simulator): every ``send()`` goes where its conntrack entry points."""

    def __init__(self, backend: Backend, opened: dict):
        self.backend, self.id, self.opened = backend, opened["id"], opened

    def send(self) -> dict:
        """One more request on this connection: ``{"t", "outcome", "endpoint", "pod"}``."""
        try:
            return simapi.send(self.backend, self.id)
        except ApiError as err:
            raise _sim_error(err) from None

    def __repr__(self) -> str:
        return f"Connection({self.id}: {self.opened['outcome']} via {self.opened['endpoint'] or '-'})"


def open_connection(service: str, namespace: str, *, port=None, client: str | None = None,
                    backend: Backend | None = None) -> Connection:
    """Open one connection to a Service and keep it (simulator only): ``.opened`` says where it went."""
    from helpers.nodes import NotSimulator

    backend = backend or current()
    if not backend.is_sim:
        raise NotSimulator("held connections are modelled on the simulator only",
                           "on kind, keep one open with `kubectl exec <pod> -- nc <service> <port>` in a terminal")
    client = client or _client_pod(namespace, backend)
    body = {"namespace": namespace, "service": service, "client": client, "port": port}
    try:
        opened = simapi.open_connection(backend, body)
    except ApiError as err:
        raise _sim_error(err) from None
    if opened["id"] is None:
        raise TrafficError(f"the connection to {namespace}/{service} failed: {opened['outcome']}",
                           f"check h.slices_table({namespace!r}, service={service!r}) for ready endpoints")
    return Connection(backend, opened)


def conntrack(node: str, *, backend: Backend | None = None):
    """A node's conntrack table as a DataFrame (kind: ``conntrack -L`` in the node container)."""
    import pandas as pd

    backend = backend or current()
    if backend.is_sim:
        try:
            entries = simapi.node(backend, node, "conntrack")["entries"]
        except ApiError as err:
            if err.code == 404:
                raise TrafficError(f"there is no node {node!r}", "list the nodes with h.nodes_table()") from None
            raise
        return pd.DataFrame(entries)
    from helpers.nodes import _check_kind_node, run_docker

    _check_kind_node(backend, node)
    return pd.DataFrame(parse_conntrack(run_docker(["docker", "exec", node, "conntrack", "-L"], node)))


# --------------------------------------------------------------------------- kind


def _kind_target(backend: Backend, namespace: str, service: str, port, from_node: bool) -> tuple[dict, dict, str]:
    try:
        svc = backend.get("services", service, namespace)
    except ApiError as err:
        if err.code == 404:
            raise TrafficError(f"there is no Service {service!r} in namespace {namespace!r}",
                               f"list them with h.services_table({namespace!r})") from None
        raise
    ports = svc["spec"].get("ports") or []
    chosen = ports[0] if ports and port is None else next(
        (p for p in ports if str(p.get("port")) == str(port) or p.get("name") == port), None)
    if chosen is None:
        raise TrafficError(f"Service {namespace}/{service} has no port {port!r}",
                           f"use one of {[p.get('name') or p['port'] for p in ports]}")
    # Pods resolve the name through cluster DNS; a node's host network does not use CoreDNS.
    host = svc["spec"]["clusterIP"] if from_node else f"{service}.{namespace}.svc.cluster.local"
    return svc, chosen, host


def loop_script(host: str, port: int, protocol: str, count: int, interval: float, timeout: float, path: str) -> str:
    """The bash loop run in the client: per request, start time, exit status, end time, reply."""
    if protocol == "UDP":
        call = f"body=$(echo hostname | nc -u -w {max(1, round(timeout))} {host} {port})"
    else:
        call = f"body=$(curl -s -m {timeout:g} http://{host}:{port}{shlex.quote(path)})"
    return (f"for i in $(seq {count}); do s=$EPOCHREALTIME; {call}; rc=$?; "
            f'echo "$s $rc $EPOCHREALTIME $body"; sleep {interval:g}; done')


def parse_loop_output(text: str, client: str, pod_ips: dict[str, str], target_port: int) -> list[dict]:
    rows = []
    for line in text.splitlines():
        parts = line.split(" ", 3)
        if len(parts) < 3:
            continue
        start, rc, end = float(parts[0]), int(parts[1]), float(parts[2])
        body = parts[3].strip() if len(parts) > 3 else ""
        outcome = CURL_OUTCOMES.get(rc, "timeout" if not body else "reset")
        if outcome == "ok" and not body:
            outcome = "timeout"  # nc -u: no reply within -w
        pod = body if outcome == "ok" else ""
        endpoint = f"{pod_ips[pod]}:{target_port}" if pod in pod_ips else ""
        rows.append({"t": start, "client": client, "pod": pod, "endpoint": endpoint, "outcome": outcome,
                     "latency_ms": round((end - start) * 1000, 3)})
    return rows


def _kind_requests(backend, namespace, service, port, client, count, interval, timeout, path) -> list[dict]:
    from helpers.nodes import _check_kind_node, run_docker

    from_node = client.startswith("node/")
    _, sp, host = _kind_target(backend, namespace, service, port, from_node)
    script = loop_script(host, sp["port"], sp.get("protocol", "TCP"), count, interval, timeout, path)
    pods, _ = backend.list("pods", namespace)
    pod_ips = {p["metadata"]["name"]: (p.get("status") or {}).get("podIP") for p in pods}
    target = sp.get("targetPort", sp["port"])
    if not str(target).isdigit():  # a named targetPort: read it from the EndpointSlices' ports
        slices, _ = backend.list("endpointslices", namespace, selector=f"kubernetes.io/service-name={service}")
        target = next((p["port"] for s in slices for p in s.get("ports") or [] if p.get("name") == sp.get("name")),
                      target)
    if from_node:
        node = client.removeprefix("node/")
        _check_kind_node(backend, node)
        out = run_docker(["docker", "exec", node, "bash", "-c", script], node)
    else:
        result = kubectl("exec", client, "-n", namespace, "--", "bash", "-c", script, check=False,
                         timeout=count * (timeout + interval) + 60, backend=backend)
        if result.returncode != 0 and not result.stdout:
            raise TrafficError(f"could not run requests in pod {namespace}/{client}: {result.stderr.strip()[:200]}",
                               "the client must run the agnhost image (bash, curl, nc); leave client=None")
        out = result.stdout
    return parse_loop_output(out, client, pod_ips, int(target))
