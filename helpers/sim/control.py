"""The simulator's control interface: the `/sim/` routes next to the Kubernetes API (docs/DESIGN.md).

`ControlHandler(cluster)` is a callable the HTTP server hands every `/sim/...` request to:
`handler(method, path, query, body) -> (status code, content type, body bytes)`, where `query` maps
parameter names to values (a list of values is accepted too) and `body` is the raw request body.
Errors are Kubernetes `Status` objects, like the rest of the server's errors.
"""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, datetime

from helpers.kube import format_micro_time
from helpers.sim.api.errors import ApiError, bad_request, method_not_allowed, not_found
from helpers.sim.controllers.kubeproxy import RULE_FORMATS as PROXY_FORMATS

JSON = "application/json"
TEXT = "text/plain; charset=utf-8"
_NODE_ROUTE = re.compile(r"^/sim/nodes/([^/]+)/(stop|start|shutdown|proxy|proxy-metrics|conntrack)$")
_SEND_ROUTE = re.compile(r"^/sim/traffic/connections/(\d+)/send$")


def info(cluster) -> dict:
    """GET /sim/info: what this simulator is and how it is configured."""
    config = cluster.config
    return {
        "simulator": True, "pid": os.getpid(), "name": config.name, "kubernetesVersion": cluster.version,
        "virtualTime": format_micro_time(cluster.clock.now()), "speed": cluster.clock.speed,
        "nodes": {name: {"running": cluster.node_running(name)} for name in cluster.node_names()},
        "dataplane": cluster.dataplane,
        "config": {
            "nodes": [{"name": n.name, "role": n.role, "labels": dict(n.labels)} for n in config.nodes],
            "podSubnet": config.pod_subnet, "serviceSubnet": config.service_subnet,
            "kubeProxyMode": config.kube_proxy_mode, "maxEndpointsPerSlice": config.max_endpoints_per_slice,
            "nodeMonitorGracePeriod": config.node_monitor_grace_period,
            "missingNodeBehavior": cluster.missing_node_behavior,
        },
    }


def _param(query: dict, name: str) -> str | None:
    value = (query or {}).get(name)
    return value[0] if isinstance(value, list) else value


# the longest one request may move the clock (or hold a fast-forward lease): every timer due on the way
# runs in the reactor, so a jump of years would hold the simulation for as long as they take
MAX_SECONDS = 3600


def _seconds(body: dict) -> float:
    seconds = body.get("seconds")
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not 0 <= seconds <= MAX_SECONDS:
        raise bad_request(f'"seconds" must be a number from 0 to {MAX_SECONDS}, got {seconds!r}')
    return seconds


def _json_body(body: bytes | None) -> dict:
    try:
        parsed = json.loads(body or b"{}")
    except ValueError as err:
        raise bad_request(f"request body is not valid JSON: {err}") from None
    if not isinstance(parsed, dict):
        raise bad_request("request body must be a JSON object")
    return parsed


class ControlHandler:
    """Routes /sim/ requests to the cluster (clock, nodes, kube-proxy rules, EndpointSlice controller)."""

    def __init__(self, cluster):
        self.cluster = cluster

    def __call__(self, method: str, path: str, query: dict | None = None, body: bytes | None = None):
        try:
            result = self._route(method.upper(), path.rstrip("/"), query or {}, body)
        except ApiError as err:
            return err.code, JSON, json.dumps(err.status()).encode()
        if isinstance(result, str):
            return 200, TEXT, result.encode()
        return 200, JSON, json.dumps(result).encode()

    def _route(self, method: str, path: str, query: dict, body: bytes | None):
        if path == "/sim/info":
            self._expect(method, "GET")
            return info(self.cluster)
        if path == "/sim/clock":
            self._expect(method, "GET")
            return self._clock()
        if path == "/sim/clock/advance":
            self._expect(method, "POST")
            return self._advance(_json_body(body))
        if path == "/sim/clock/fast-forward":
            self._expect(method, "POST")
            return self._fast_forward(_json_body(body))
        if path == "/sim/store/commit-times":
            self._expect(method, "POST")
            return self._commit_times(_json_body(body))
        if path == "/sim/controllers/endpointslice/decisions":
            self._expect(method, "GET")
            return self._decisions(query)
        if path == "/sim/controllers/endpointslice/config":
            self._expect(method, "POST")
            return self._endpointslice_config(_json_body(body))
        if path == "/sim/traffic/requests":
            self._expect(method, "POST")
            return self._requests(_json_body(body))
        if path == "/sim/traffic/connections":
            self._expect(method, "POST")
            args = self._traffic_args(_json_body(body))
            return self.cluster.on_reactor(lambda: self.cluster.traffic.open(
                args["namespace"], args["service"], port=args["port"], client=args["client"]))
        if match := _SEND_ROUTE.match(path):
            self._expect(method, "POST")
            return self.cluster.on_reactor(self.cluster.traffic.send, int(match[1]))
        match = _NODE_ROUTE.match(path)
        if match:
            node, action = match.groups()
            self._expect(method, "GET" if action in ("proxy", "proxy-metrics", "conntrack") else "POST")
            if node not in self.cluster.node_names():
                raise not_found("nodes", node)
            if action == "shutdown":
                return self._shutdown(node, _json_body(body))
            return self._node(node, action, query)
        raise not_found("sim", path)

    @staticmethod
    def _expect(method: str, wanted: str) -> None:
        if method != wanted:
            raise method_not_allowed(f"{method} is not supported here; use {wanted}")

    def _clock(self) -> dict:
        clock = self.cluster.clock
        return {"virtualTime": format_micro_time(clock.now()), "speed": clock.speed,
                "fastForwarding": clock.fast_forwarding}

    def _advance(self, body: dict) -> dict:
        seconds = _seconds(body)
        when = self.cluster.clock.advance(seconds)
        return {"virtualTime": format_micro_time(when), "advancedSeconds": seconds}

    def _commit_times(self, body: dict) -> dict:
        versions = body.get("resourceVersions")
        if not isinstance(versions, list) or not all(isinstance(v, str) for v in versions):
            raise bad_request('"resourceVersions" must be a list of resourceVersion strings')
        times = self.cluster.store.commit_times(versions)
        return {"commitTimes": {rv: format_micro_time(datetime.fromtimestamp(t, UTC)) for rv, t in times.items()}}

    def _fast_forward(self, body: dict) -> dict:
        """Skip idle gaps for the next ``seconds`` of wall time under a lease; 0 ends ``lease`` (or all)."""
        lease = body.get("lease")
        if lease is not None and (isinstance(lease, bool) or not isinstance(lease, int)):
            raise bad_request(f'"lease" must be the integer a previous call returned, got {lease!r}')
        granted = self.cluster.clock.fast_forward(_seconds(body), lease)
        return {**self._clock(), "lease": granted}

    @staticmethod
    def _traffic_args(body: dict) -> dict:
        for name in ("namespace", "service", "client"):
            if not isinstance(body.get(name), str) or not body[name]:
                raise bad_request(f'"{name}" must be a non-empty string')
        port = body.get("port")
        if port is not None and not isinstance(port, (int, str)):
            raise bad_request('"port" must be a port number or name')
        return {"namespace": body["namespace"], "service": body["service"], "client": body["client"], "port": port}

    def _requests(self, body: dict) -> dict:
        args = self._traffic_args(body)
        count, interval, timeout = body.get("count", 100), body.get("interval", 0.0), body.get("timeout", 1.0)
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 100000:
            raise bad_request('"count" must be an integer from 1 to 100000')
        for name, value in (("interval", interval), ("timeout", timeout)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise bad_request(f'"{name}" must be a number of seconds >= 0')
        path = body.get("path", "/hostname")
        if not isinstance(path, str):
            raise bad_request('"path" must be a string')
        return {"requests": self.cluster.requests(**args, count=count, interval=float(interval),
                                                  timeout=float(timeout), path=path)}

    def _node(self, node: str, action: str, query: dict):
        if action == "proxy-metrics":
            try:
                return self.cluster.proxy_metrics(node)
            except ValueError as err:
                raise ApiError(409, "Conflict", str(err)) from None
        if action == "conntrack":
            return {"node": node, "entries": self.cluster.on_reactor(self.cluster.traffic.table, node)}
        if action == "proxy":
            fmt = _param(query, "format") or "iptables"
            if fmt not in PROXY_FORMATS:
                raise bad_request(f"format must be one of {', '.join(PROXY_FORMATS)}, got {fmt!r}")
            try:
                return self.cluster.proxy_rules(node, fmt)
            except ValueError as err:
                raise ApiError(409, "Conflict", str(err)) from None
        (self.cluster.stop_node if action == "stop" else self.cluster.start_node)(node)
        return {"node": node, "running": self.cluster.node_running(node)}

    def _shutdown(self, node: str, body: dict) -> dict:
        """A graceful node shutdown with the kubelet's shutdownGracePeriod / ...CriticalPods (seconds)."""
        periods = {}
        for name, default in (("shutdownGracePeriod", None), ("shutdownGracePeriodCriticalPods", 0)):
            value = body.get(name, default)
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= MAX_SECONDS:
                raise bad_request(f'"{name}" must be a number of seconds from 0 to {MAX_SECONDS}, got {value!r}')
            periods[name] = float(value)
        if periods["shutdownGracePeriod"] <= 0 or periods["shutdownGracePeriodCriticalPods"] > periods["shutdownGracePeriod"]:
            raise bad_request("shutdownGracePeriod must be > 0 and at least shutdownGracePeriodCriticalPods "
                              "(with 0 the kubelet's shutdown manager is off: use /stop)")
        if not self.cluster.node_running(node):
            raise ApiError(409, "Conflict", f"node {node} is not running")
        self.cluster.shutdown_node(node, periods["shutdownGracePeriod"], periods["shutdownGracePeriodCriticalPods"])
        return {"node": node, **periods}

    def _decisions(self, query: dict) -> dict:
        namespace, service = _param(query, "namespace"), _param(query, "service")
        if not namespace or not service:
            raise bad_request("both namespace and service query parameters are required")
        return {"namespace": namespace, "service": service,
                "decisions": self.cluster.endpointslice_decisions(namespace, service)}

    def _endpointslice_config(self, body: dict) -> dict:
        """Any of missingNodeBehavior, sliceInformerLagSeconds, staleSliceCheck; at least one."""
        known = ("missingNodeBehavior", "sliceInformerLagSeconds", "staleSliceCheck")
        if not any(k in body for k in known) or set(body) - set(known):
            raise bad_request(f"the body sets one or more of {', '.join(known)}; got {sorted(body)}")
        try:
            if "sliceInformerLagSeconds" in body or "staleSliceCheck" in body:
                self.cluster.set_slice_informer(body.get("sliceInformerLagSeconds"), body.get("staleSliceCheck"))
            if "missingNodeBehavior" in body:
                self.cluster.set_missing_node_behavior(body["missingNodeBehavior"])
        except ValueError as err:
            raise bad_request(str(err)) from None
        return {"missingNodeBehavior": self.cluster.missing_node_behavior, **self.cluster.slice_informer()}
