"""The simulated cluster's components; `helpers.sim.cluster.Cluster` creates and starts them.

Each is a `controller.Controller` subclass `X(cluster)` with `start()` that reads through the shared
informer, writes through `cluster.store` and runs its work on `cluster.clock`:

* `informer`: SharedInformer (caches fed by store commits)
* `workqueue`, `controller`: client-go's rate-limited work queue and the one controller base
* `workloads`: DeploymentController, ReplicaSetController, DaemonSetController
* `scheduler`: Scheduler (default-scheduler)
* `kubelet`: Kubelet, one per node (pod lifecycle, readiness gates, termination, heartbeats)
* `garbagecollector`, `namespace`: GarbageCollector, NamespaceController
* `recorder`: EventRecorder (core/v1 Events)
* `endpointslice`, `endpoints`, `mirroring`, `nodelifecycle`, `podgc`, `kubeproxy`: the endpoint
  controllers, node lifecycle, pod GC and the per-node kube-proxy (their own part of the project)
"""
