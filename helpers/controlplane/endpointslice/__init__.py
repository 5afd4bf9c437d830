"""The EndpointSlice reconciler and what it needs (upstream staging/src/k8s.io/endpointslice)."""

from helpers.controlplane.endpointslice.endpointset import EndpointCache
from helpers.controlplane.endpointslice.reconciler import Result, reconcile

__all__ = ["EndpointCache", "Result", "reconcile"]
