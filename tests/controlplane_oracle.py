"""A real control plane on loopback (etcd, kube-apiserver, kube-controller-manager) for the oracle tests.

``ControlPlane.start()`` runs the binaries `make upstream` builds (scripts/build_upstream.py; the directory
is $ENDPOINTS_UPSTREAM_BIN or .state/upstream/<version>/bin) as child processes of this one, each in a
temp directory of its own, on free loopback ports:

* etcd with one member (``--unsafe-no-fsync``: the data dir is thrown away anyway);
* kube-apiserver on 127.0.0.1 with a self-signed serving certificate made by the openssl CLI at start,
  a static token file (the token's user is in ``system:masters``), kubeadm's authorization modes and
  admission plugins (cmd/kubeadm/app/phases/controlplane/manifests.go getAPIServerCommand:
  ``--authorization-mode=Node,RBAC``, ``--enable-admission-plugins=NodeRestriction`` on top of the
  defaults), ``--service-cluster-ip-range`` from kind-cluster.yaml and the apiServer extraArgs it gives;
* kube-controller-manager with the controllers this project models and the controllerManager extraArgs
  kind-cluster.yaml gives (``max-endpoints-per-slice``, ``node-monitor-grace-period`` ...).

There are no kubelets: tests write Nodes, Leases and pod status as kubelets would (like KWOK).

Readiness is bounded: etcd is ready when it logs "ready to serve client requests" (read from its
stderr as it is written, no polling); kube-apiserver when ``/readyz`` answers 200 (re-read with a
doubling pause, the only health signal it has, under a deadline); kube-controller-manager when its
EndpointSlice controller has written the slice of a probe Service (seen through a watch).
``stop()`` terminates the processes (SIGTERM, then SIGKILL after a bound) and removes every temp file.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from helpers.config import REPO_ROOT, load_cluster_config
from helpers.nodes import backoff_pauses
from helpers.sim import start_in_process

BINARIES = ("etcd", "kube-apiserver", "kube-controller-manager")
START_TIMEOUT_S = 90.0  # two shared cores: a cold kube-apiserver takes 10-30 s to turn ready
STOP_TIMEOUT_S = 15.0
# kube-controller-manager --controllers: the ones the simulator models (cmd/kube-controller-manager/names
# in v1.36). serviceaccount-controller creates each namespace's `default` ServiceAccount, which the
# ServiceAccount admission plugin requires before it admits a pod.
CONTROLLERS = ("endpointslice-controller", "endpoints-controller", "endpointslice-mirroring-controller",
               "node-lifecycle-controller", "pod-garbage-collector-controller", "garbage-collector-controller",
               "deployment-controller", "replicaset-controller", "serviceaccount-controller",
               "namespace-controller")


def bin_dir() -> Path:
    env = os.environ.get("ENDPOINTS_UPSTREAM_BIN")
    if env:
        return Path(env)
    from helpers.sim.boot import kubernetes_version

    return REPO_ROOT / ".state" / "upstream" / kubernetes_version(load_cluster_config()) / "bin"


def missing_binaries() -> str | None:
    """Why the control plane cannot start here (None when every binary is present)."""
    directory = bin_dir()
    missing = [name for name in BINARIES if not os.access(directory / name, os.X_OK)]
    if missing:
        return (f"upstream binaries missing in {directory}: {', '.join(missing)} "
                "(build them with `make upstream`, or set ENDPOINTS_UPSTREAM_BIN)")
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- a minimal API client, the same for both servers ---------------------------------------------
@dataclass
class Api:
    """JSON over HTTP(S) with an optional bearer token; answers ``(status, body)``, never raises on 4xx/5xx."""

    url: str
    token: str | None = None
    cafile: str | None = None
    _context: ssl.SSLContext | None = field(default=None, init=False, repr=False)

    def __post_init__(self):
        if self.url.startswith("https:"):
            self._context = ssl.create_default_context(cafile=self.cafile)

    def _request(self, method: str, path: str, body=None, content_type: str = "application/json"):
        data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
        headers = {"Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = content_type
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        return urllib.request.Request(self.url + path, data=data, method=method, headers=headers)

    def call(self, method: str, path: str, body=None, *, content_type: str = "application/json",
             timeout: float = 30.0) -> tuple[int, object]:
        request = self._request(method, path, body, content_type)
        try:
            with urllib.request.urlopen(request, timeout=timeout, context=self._context) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as err:
            status, raw = err.code, err.read()
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            return status, raw.decode(errors="replace")

    def ok(self, method: str, path: str, body=None, **kwargs) -> dict:
        status, answer = self.call(method, path, body, **kwargs)
        if status >= 300:
            raise AssertionError(f"{method} {path} -> {status}: {answer}")
        return answer

    def watch(self, path: str, resource_version: str, stop: threading.Event, on_event, timeout_s: int = 300,
              on_open=None):
        """Stream ``path?watch=1`` from ``resource_version`` calling ``on_event(event)`` until ``stop`` is set.

        Runs on the caller's thread; the server ends the stream after ``timeout_s``. ``on_open(response)``
        lets another thread close the stream early."""
        sep = "&" if "?" in path else "?"
        request = self._request("GET", f"{path}{sep}watch=1&resourceVersion={resource_version}"
                                       f"&allowWatchBookmarks=false&timeoutSeconds={timeout_s}")
        with urllib.request.urlopen(request, timeout=timeout_s + 10, context=self._context) as response:
            if on_open:
                on_open(response)
            for line in response:
                if stop.is_set():
                    return
                if line.strip():
                    on_event(json.loads(line))


# -- processes ---------------------------------------------------------------------------------------
@dataclass
class _Child:
    name: str
    process: subprocess.Popen
    log: Path


class ControlPlane:
    """etcd + kube-apiserver + kube-controller-manager on loopback; see the module docstring."""

    def __init__(self, config=None):
        self.config = config or load_cluster_config()
        self.bin = bin_dir()
        self.root = Path(tempfile.mkdtemp(prefix="endpoints-cp-"))
        self.token = secrets.token_hex(16)
        self.children: list[_Child] = []
        self.api: Api | None = None
        self.kubeconfig = str(self.root / "kubeconfig")
        self.timings: dict[str, float] = {}
        self.etcd_url: str | None = None

    def compact_etcd(self) -> int:
        """Compact etcd's history to its current revision (what `etcdctl compact` does, through etcd's JSON
        gateway); returns that revision. A watch or list from an older one then gets 410 Gone."""
        def post(path: str, body: dict) -> dict:
            request = urllib.request.Request(self.etcd_url + path, data=json.dumps(body).encode(), method="POST",
                                             headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=10) as response:
                return json.loads(response.read())

        revision = int(post("/v3/kv/range", {"key": "AA=="})["header"]["revision"])  # the key "\0": any will do
        post("/v3/kv/compaction", {"revision": str(revision), "physical": True})
        return revision

    # -- start ---------------------------------------------------------------------------------------
    def start(self) -> ControlPlane:
        began = time.monotonic()
        deadline = began + START_TIMEOUT_S
        try:
            etcd_url = self.etcd_url = self._start_etcd(deadline)
            self.timings["etcd"] = time.monotonic() - began
            self._start_apiserver(etcd_url, deadline)
            self.timings["kube-apiserver"] = time.monotonic() - began
            self._start_controller_manager(deadline)
            self.timings["kube-controller-manager"] = time.monotonic() - began
        except BaseException:
            self.stop()
            raise
        return self

    def _spawn(self, name: str, args: list[str], *, stderr=None) -> _Child:
        log = self.root / f"{name}.log"
        with open(log, "wb") as out:
            process = subprocess.Popen([str(self.bin / name), *args], stdin=subprocess.DEVNULL, stdout=out,
                                       stderr=stderr if stderr is not None else subprocess.STDOUT,
                                       cwd=self.root, start_new_session=True)
        child = _Child(name, process, log)
        self.children.append(child)
        return child

    def _start_etcd(self, deadline: float) -> str:
        client, peer = free_port(), free_port()
        client_url, peer_url = f"http://127.0.0.1:{client}", f"http://127.0.0.1:{peer}"
        child = self._spawn("etcd", [
            "--name=oracle", f"--data-dir={self.root / 'etcd'}", f"--listen-client-urls={client_url}",
            f"--advertise-client-urls={client_url}", f"--listen-peer-urls={peer_url}",
            f"--initial-advertise-peer-urls={peer_url}", f"--initial-cluster=oracle={peer_url}",
            "--unsafe-no-fsync", "--log-level=info", "--listen-metrics-urls="], stderr=subprocess.PIPE)
        ready = threading.Event()

        def follow():  # copy etcd's log to its file and notice the line that says it serves
            with open(child.log, "ab") as out:
                for line in child.process.stderr:
                    out.write(line)
                    if b"ready to serve client requests" in line:
                        ready.set()
            ready.set()  # stderr closed: etcd exited; the check below reports it

        threading.Thread(target=follow, name="etcd-log", daemon=True).start()
        if not ready.wait(max(deadline - time.monotonic(), 0)) or child.process.poll() is not None:
            raise RuntimeError(f"etcd did not become ready:\n{self._tail(child)}")
        return client_url

    def _certificates(self) -> tuple[Path, Path, Path]:
        cert, key, sa_key = self.root / "serving.crt", self.root / "serving.key", self.root / "sa.key"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                        "-subj", "/CN=kube-apiserver", "-addext",
                        "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes.default.svc",
                        "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True, timeout=60)
        subprocess.run(["openssl", "genrsa", "-out", str(sa_key), "2048"], check=True, capture_output=True,
                       timeout=60)
        return cert, key, sa_key

    def _start_apiserver(self, etcd_url: str, deadline: float) -> None:
        cert, key, sa_key = self._certificates()
        tokens = self.root / "tokens.csv"
        tokens.write_text(f'{self.token},oracle-admin,oracle-admin,"system:masters"\n')
        port = free_port()
        args = {
            "etcd-servers": etcd_url, "bind-address": "127.0.0.1", "secure-port": str(port),
            "advertise-address": "127.0.0.1", "tls-cert-file": str(cert), "tls-private-key-file": str(key),
            "token-auth-file": str(tokens), "authorization-mode": "Node,RBAC",
            "enable-admission-plugins": "NodeRestriction", "allow-privileged": "true",
            "service-cluster-ip-range": self.config.service_subnet,
            "service-account-issuer": "https://kubernetes.default.svc.cluster.local",
            "service-account-key-file": str(sa_key), "service-account-signing-key-file": str(sa_key),
            # the `kubernetes` Service's Endpoints would name 127.0.0.1, which Endpoints validation refuses
            "endpoint-reconciler-type": "none",
            **self.config.apiserver_args,
        }
        child = self._spawn("kube-apiserver", [f"--{flag}={value}" for flag, value in args.items()])
        self.api = Api(f"https://127.0.0.1:{port}", self.token, str(cert))
        pauses = backoff_pauses(0.1, 1.0)
        while True:  # /readyz is the only readiness signal kube-apiserver gives
            if child.process.poll() is not None:
                raise RuntimeError(f"kube-apiserver exited ({child.process.returncode}):\n{self._tail(child)}")
            with contextlib.suppress(OSError):
                if self.api.call("GET", "/readyz", timeout=5)[0] == 200:
                    break
            pause = next(pauses)
            if time.monotonic() + pause > deadline:
                raise RuntimeError(f"kube-apiserver not ready within {START_TIMEOUT_S}s:\n{self._tail(child)}")
            time.sleep(pause)  # bounded re-read of /readyz (see the module docstring)
        Path(self.kubeconfig).write_text(json.dumps({
            "apiVersion": "v1", "kind": "Config", "current-context": "oracle",
            "clusters": [{"name": "oracle", "cluster": {"server": self.api.url, "certificate-authority": str(cert)}}],
            "users": [{"name": "oracle", "user": {"token": self.token}}],
            "contexts": [{"name": "oracle", "context": {"cluster": "oracle", "user": "oracle",
                                                        "namespace": "default"}}]}))

    def _start_controller_manager(self, deadline: float) -> None:
        args = {
            "kubeconfig": self.kubeconfig, "leader-elect": "false", "controllers": ",".join(CONTROLLERS),
            "bind-address": "127.0.0.1", "secure-port": "0",
            **self.config.controller_manager_args,
        }
        child = self._spawn("kube-controller-manager", [f"--{flag}={value}" for flag, value in args.items()])
        # ready when its EndpointSlice controller has written the slice of a probe Service
        probe = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "oracle-probe"},
                 "spec": {"selector": {"oracle-probe": "x"}, "ports": [{"port": 80}]}}
        self.api.ok("POST", "/api/v1/namespaces/default/services", probe)
        path = "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices?labelSelector=" \
               "kubernetes.io%2Fservice-name%3Doracle-probe"
        try:
            wait_for(self.api, path, lambda items: bool(items), deadline - time.monotonic(), "the probe's slice")
        except AssertionError:
            raise RuntimeError(f"kube-controller-manager wrote no EndpointSlice:\n{self._tail(child)}") from None
        self.api.ok("DELETE", "/api/v1/namespaces/default/services/oracle-probe")

    def _tail(self, child: _Child, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(child.log.read_text(errors="replace").splitlines()[-lines:])
        return ""

    # -- stop ----------------------------------------------------------------------------------------
    def stop(self) -> None:
        """Stop the children one by one, controller manager first and etcd last (SIGTERM, then SIGKILL
        after a bound), then remove the files. kube-apiserver drains while etcd still answers."""
        for child in reversed(self.children):
            began = time.monotonic()
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.process.pid, signal.SIGTERM)
            try:
                child.process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.process.pid, signal.SIGKILL)
                child.process.wait(timeout=STOP_TIMEOUT_S)
            if child.process.stderr:
                child.process.stderr.close()
            self.timings[f"stop {child.name}"] = time.monotonic() - began
        self.children.clear()
        shutil.rmtree(self.root, ignore_errors=True)

    def pids(self) -> list[int]:
        return [child.process.pid for child in self.children]


def hang_up(response) -> None:
    """Close a watch stream another thread is reading: shutting the socket down wakes that reader
    (closing alone does not interrupt a blocked recv)."""
    with contextlib.suppress(OSError, AttributeError):
        response.fp.raw._sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError, ValueError):
        response.close()


def wait_for(api: Api, list_path: str, predicate, timeout: float, what: str):
    """List ``list_path``, then watch it, re-checking ``predicate(items)`` after every event; bounded."""
    answer = api.ok("GET", list_path)
    items = {item["metadata"]["name"]: item for item in answer["items"]}
    if predicate(list(items.values())):
        return list(items.values())
    stop, found = threading.Event(), {}

    def on_event(event):
        obj = event["object"]
        if event["type"] == "DELETED":
            items.pop(obj["metadata"]["name"], None)
        elif event["type"] in ("ADDED", "MODIFIED"):
            items[obj["metadata"]["name"]] = obj
        if predicate(list(items.values())):
            found["items"] = list(items.values())
            stop.set()

    streams = []

    def run():
        with contextlib.suppress(OSError, ValueError, AttributeError):  # AttributeError: hung up mid-read
            api.watch(list_path, answer["metadata"]["resourceVersion"], stop, on_event,
                      timeout_s=max(int(timeout) + 1, 1), on_open=streams.append)
        stop.set()

    threading.Thread(target=run, daemon=True).start()
    stop.wait(timeout)
    for stream in streams:  # an open watch would hold up kube-apiserver's shutdown
        hang_up(stream)
    if "items" not in found:
        raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
    return found["items"]


@contextlib.contextmanager
def real_and_simulated(workdir):
    """The real control plane and an in-process simulator (kubeconfig in ``workdir``), both stopped afterwards."""
    real = ControlPlane().start()
    try:
        sim = start_in_process(speed=1.0, kubeconfig_path=f"{workdir}/sim-kubeconfig")
    except BaseException:
        real.stop()
        raise
    try:
        yield real, sim
    finally:
        try:
            sim.stop()
        finally:
            real.stop()
