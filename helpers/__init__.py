"""helpers: the toolkit the chapters call (documented in docs/HELPERS.md).

One API, two backends: the project's kind cluster and the built-in simulator.

Names are imported on first use (PEP 562 ``__getattr__``), so ``import helpers`` costs a few
milliseconds instead of loading pandas and the kubernetes client: the simulator's own process
(``python -m helpers.sim``) and the pure ``helpers.dataplane`` models never need them.
"""

from __future__ import annotations

import importlib
import sys
import types

_EXPORTS = {
    "helpers.connect": (
        "ApiError", "ApiUnreachable", "Backend", "ClusterNotRunning", "DockerNotAvailable", "HelperError",
        "KindMissing", "NoKubeconfig", "NotConnected", "UnsafeContext", "VersionSkew", "connect", "current",
    ),
    "helpers.diagrams": ("ChainDiagram", "SequenceDiagram", "chain_diagram", "sequence_diagram"),
    "helpers.kubectl": ("KubectlError", "KubectlResult", "kubectl", "kubectl_command"),
    "helpers.nodes": (
        "NodeActionError", "NotSimulator", "advance", "cluster_time", "data_plane", "node_rules", "patch_status",
        "proxy_metrics", "reconciler_decisions", "restart_simulator", "rules_vs_model", "set_missing_node_behavior", "set_out_of_service",
        "set_slice_informer", "shutdown_node", "start_node", "stop_node", "wait_for_rules",
    ),
    "helpers.objects": (
        "AGNHOST_IMAGE", "READINESS_GATE", "Sandbox", "UnsafeNamespace", "apply", "delete", "deployment", "get", "label",
        "list_objects", "sandbox", "scale", "service", "set_ready",
    ),
    "helpers.plots": (
        "bytes_per_update", "plot_bytes_per_update", "plot_propagation", "plot_rules_vs_services",
        "plot_slices_vs_replicas", "plot_writes_per_change",
    ),
    "helpers.tables": (
        "diff_slices", "endpoints_frame", "endpoints_table", "nodes_frame", "nodes_table", "pods_frame",
        "pods_table", "services_frame", "services_table", "slices_frame", "slices_table",
    ),
    "helpers.trace": ("Trace",),
    "helpers.traffic": ("Connection", "TrafficError", "conntrack", "open_connection", "requests"),
    "helpers.wait": ("WaitTimeout", "wait_for", "wait_for_deleted", "wait_for_ready", "wait_for_slices"),
}
_HOME = {name: module for module, names in _EXPORTS.items() for name in names}
# Functions named like the module that defines them: h.connect is connect(), not helpers.connect.
_SHADOWING = frozenset(name for name, module in _HOME.items() if module == f"{__name__}.{name}")

__all__ = sorted(_HOME)  # noqa: PLE0605 - built from _EXPORTS, the one list of public names


def __getattr__(name: str):
    """Import the public name's module on first use, then keep the name here."""
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOME})


class _Package(types.ModuleType):
    """Keeps ``helpers.connect`` and ``helpers.kubectl`` the functions: loading a submodule makes
    the import system set it as an attribute of its package, which would replace the function."""

    def __setattr__(self, name: str, value) -> None:
        if name in _SHADOWING and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
