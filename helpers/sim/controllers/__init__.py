"""The simulated cluster's components; `helpers.sim.cluster.Cluster` creates and starts them.

Each is a class `X(cluster)` with `start()` that reads through the shared informer (or the store),
writes through `cluster.store` and runs its work on `cluster.clock`:

* `informer`: SharedInformer (caches fed by store commits) and the keyed-queue `Controller` base
* `workloads`: DeploymentController, ReplicaSetController, DaemonSetController
* `scheduler`: Scheduler (default-scheduler)
* `kubelet`: Kubelet, one per node (pod lifecycle, readiness gates, termination, heartbeats)
* `garbagecollector`, `namespace`: GarbageCollector, NamespaceController
* `recorder`: EventRecorder (core/v1 Events)
* `endpointslice`, `endpoints`, `mirroring`, `nodelifecycle`, `podgc`, `kubeproxy`: the endpoint
  controllers, node lifecycle, pod GC and the per-node kube-proxy (their own part of the project)
"""
