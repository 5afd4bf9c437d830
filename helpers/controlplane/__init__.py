"""Pure kube-controller-manager decisions: the control-plane counterpart of `helpers.dataplane`.

Each module is named after the upstream file it follows (kubernetes/kubernetes v1.36):
`endpointslice/` is `staging/src/k8s.io/endpointslice` (reconciler, utils, util/*, topologycache,
trafficdist); `endpoint`, `endpointslicemirroring`, `nodelifecycle` and `podgc` are the pure halves
of the `pkg/controller/...` controllers of those names. Nothing here reads a clock or does I/O;
the simulator's shells in `helpers.sim.controllers` feed them and write their results.
"""
