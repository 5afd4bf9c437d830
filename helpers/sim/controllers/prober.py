"""The kubelet's probes (pkg/kubelet/prober, v1.36.1): what one probe returns, and a worker's thresholds.

``run_probe`` evaluates one httpGet / tcpSocket / exec / grpc probe against what the container's process
really does (helpers.sim.images: its listeners, HTTP answers, gRPC health), with upstream's output texts
(pkg/probe/http/http.go, tcp/tcp.go, grpc/grpc.go; exec is the command's own output). ``Worker`` is
worker.go's ``doProbe`` bookkeeping: initialDelaySeconds, the started gate, success/failure thresholds, and
onHold after a liveness or startup verdict until the container is replaced. Pure: the kubelet supplies the
lookups and schedules the ticks on its virtual clock.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

KINDS = ("startup", "readiness", "liveness")
FIELD = {"startup": "startupProbe", "readiness": "readinessProbe", "liveness": "livenessProbe"}
DEFAULTS = {"initialDelaySeconds": 0, "periodSeconds": 10, "timeoutSeconds": 1, "successThreshold": 1,
            "failureThreshold": 3}  # pkg/apis/core/v1/defaults.go SetDefaults_Probe


def setting(spec: dict, name: str) -> int:
    value = spec.get(name)
    return DEFAULTS[name] if value in (None, 0) and name != "initialDelaySeconds" else int(value or 0)


@dataclass
class Outcome:
    result: str  # "success" | "failure" | "error"
    output: str = ""


def _port(spec_port, container: dict) -> int | None:
    """A probe's port: a number, or the name of one of the container's ports (prober.go findPortByName)."""
    if isinstance(spec_port, int) or str(spec_port).isdigit():
        return int(spec_port)
    return next((p["containerPort"] for p in container.get("ports") or [] if p.get("name") == spec_port), None)


def run_probe(spec: dict, container: dict, pod_ip: str, listening: Callable, run_exec: Callable) -> Outcome:
    """One probe. ``listening(port) -> (Program, age_s, signalled) | None`` is the pod's process on a TCP port;
    ``run_exec(argv) -> (exit_code, output)`` runs an exec probe's command in the container (exit code None
    with the runtime's error when it cannot start)."""
    timeout = setting(spec, "timeoutSeconds")
    if "exec" in spec:
        code, output = run_exec(list(spec["exec"].get("command") or []))
        if code is None:  # the runtime could not start it: prober.go's "errored" path
            return Outcome("error", output)
        return Outcome("success" if code == 0 else "failure", output)
    action = next((spec[k] for k in ("httpGet", "tcpSocket", "grpc") if k in spec), None)
    if action is None:
        return Outcome("error", "missing probe handler")
    port = _port(action.get("port"), container)
    if port is None:
        return Outcome("error", f"unable to find port {action.get('port')!r} in container {container['name']}")
    host = action.get("host") or pod_ip
    found = listening(port)
    refused = f"dial tcp {host}:{port}: connect: connection refused"
    if "tcpSocket" in spec:
        return Outcome("success") if found else Outcome("failure", refused)
    if "grpc" in spec:
        addr = f"{host}:{port}"
        if not found:
            return Outcome("failure", f'timeout: failed to connect service "{addr}" within {timeout}s: '
                                      "context deadline exceeded")
        proc, age, _ = found
        serving = proc.grpc_serving(age) if proc.grpc_port == port else None
        if serving is None:
            return Outcome("failure", "error: this server does not implement the grpc health protocol "
                                      "(grpc.health.v1.Health): unknown service grpc.health.v1.Health")
        return Outcome("success", "service healthy") if serving else Outcome(
            "failure", 'service unhealthy (responded with "NOT_SERVING")')
    scheme = (action.get("scheme") or "HTTP").lower()
    path = action.get("path") or "/"
    url = f"{scheme}://{host}:{port}{path if path.startswith('/') else '/' + path}"
    if not found:
        return Outcome("failure", f'Get "{url}": {refused}')
    proc, age, signalled = found
    if not any(lis.port == port and lis.http for lis in proc.listeners):
        return Outcome("failure", f'Get "{url}": net/http: HTTP/1.x transport connection broken: '
                                  "malformed HTTP response")
    code = proc.http_status(path, age, signalled)
    if 200 <= code < 400:
        return Outcome("success")
    return Outcome("failure", f"HTTP probe failed with statuscode: {code}")


class Worker:
    """One probe of one container (worker.go): fed one Outcome per tick, says when the result changes."""

    def __init__(self, kind: str, spec: dict):
        self.kind, self.spec = kind, spec
        self.container_id = ""
        self.last, self.run = "", 0
        self.on_hold = False
        # the result before any probe ran: readiness Failure, liveness Success, startup Unknown
        self.result = {"readiness": "failure", "liveness": "success", "startup": "unknown"}[kind]

    def new_container(self, container_id: str) -> None:
        if container_id != self.container_id:
            self.container_id, self.on_hold, self.run, self.last = container_id, False, 0, ""
            self.result = {"readiness": "failure", "liveness": "success", "startup": "unknown"}[self.kind]

    def due(self, running_for_s: float, started: bool) -> bool:
        """Whether this tick probes: not on hold, past initialDelaySeconds (whole seconds, as upstream truncates),
        and startup probes only before the container started, the others only after."""
        if self.on_hold or int(running_for_s) < setting(self.spec, "initialDelaySeconds"):
            return False
        return not started if self.kind == "startup" else started

    def observe(self, outcome: Outcome) -> str | None:
        """Record one outcome; the new result ("success"/"failure") once a threshold is reached, else None."""
        if outcome.result == "error":  # worker.go: a prober error throws the result away
            return None
        result = "success" if outcome.result == "success" else "failure"
        self.run = self.run + 1 if result == self.last else 1
        self.last = result
        threshold = setting(self.spec, "failureThreshold" if result == "failure" else "successThreshold")
        if self.run < threshold:
            return None
        self.result = result
        if (self.kind == "liveness" and result == "failure") or self.kind == "startup":
            self.on_hold, self.run = True, 0
        return result
