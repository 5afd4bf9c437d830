"""The horizontal-pod-autoscaler controller without metrics-server, as on kind (pkg/controller/podautoscaler,
v1.37.0), through the real kubectl: `kubectl autoscale` stores an autoscaling/v2 HPA; 15 s later its status has
the target's replicas, AbleToScale True and ScalingActive False, with upstream's Events."""

from __future__ import annotations

from conftest import kubectl, wait_until

from helpers.sim.controllers.podautoscaler import NO_METRICS_API


def hpa(handle):
    return handle.cluster.store.get("horizontalpodautoscalers.autoscaling", "web", "default")


def test_autoscale_without_metrics_server_reports_unknown_cpu_and_the_targets_replicas(private_sim):
    handle = private_sim
    kubectl(handle, "create", "deployment", "web", "--image=nginx:1.27", "--replicas=2")
    assert kubectl(handle, "autoscale", "deployment", "web", "--max=5", "--cpu=50%").stdout == (
        "horizontalpodautoscaler.autoscaling/web autoscaled\n")
    created = hpa(handle)
    assert created["spec"]["minReplicas"] == 1 and created["metadata"]["generation"] == 1
    row = kubectl(handle, "get", "hpa", "web", "--no-headers").stdout.split()
    assert row[:7] == ["web", "Deployment/web", "cpu:", "<unknown>/50%", "1", "5", "0"], row  # not synced yet
    handle.cluster.clock.advance(16)
    status = wait_until(handle, lambda: hpa(handle)["status"].get("currentReplicas") == 2 and hpa(handle)["status"],
                        what="the HPA's first sync")
    assert status["currentMetrics"] == [{"type": ""}] and status["desiredReplicas"] == 0
    conditions = {c["type"]: c for c in status["conditions"]}
    assert conditions["AbleToScale"]["reason"] == "SucceededGetScale"
    failed = f"failed to get cpu utilization: unable to get metrics for resource cpu: {NO_METRICS_API}"
    assert conditions["ScalingActive"]["status"] == "False"
    assert conditions["ScalingActive"]["message"] == f"the HPA was unable to compute the replica count: {failed}"
    assert kubectl(handle, "get", "hpa", "web", "--no-headers").stdout.split()[6] == "2"
    events = {(e["reason"], e["message"]) for e in handle.cluster.store.list("events", "default")[0]
              if e["involvedObject"]["name"] == "web" and e["involvedObject"]["kind"] == "HorizontalPodAutoscaler"}
    assert events == {("FailedGetResourceMetric", failed),
                      ("FailedComputeMetricsReplicas", ("invalid metrics (1 invalid out of 1), first error is: failed "
                                                       f"to get cpu resource metric value: {failed}"))}
    default = kubectl(handle, "autoscale", "deployment", "web", "--max=3", "--name=plain")
    assert default.returncode == 0
    assert "cpu: <unknown>/80%" in kubectl(handle, "get", "hpa", "plain").stdout  # SetDefaults: 80% CPU
