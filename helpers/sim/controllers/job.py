"""The Job controller (pkg/controller/job/job_controller.go), for NonIndexed Jobs.

``job_plan`` is the pure decision: from the Job and the pods it controls, how many pods to create and
the new status. As upstream: ``startTime`` on the first sync; ``active``/``ready``/``terminating``
counted from the pods; ``succeeded``/``failed`` only grow; with ``completions`` set, at most
``min(parallelism, completions - succeeded)`` pods run; once ``succeeded`` reaches ``completions`` the
Job gets ``SuccessCriteriaMet`` and, when no pod is left running, ``Complete`` with ``completionTime``
(the pair upstream writes since v1.31); more than ``backoffLimit`` failed pods give ``FailureTarget`` and
``Failed`` (reason ``BackoffLimitExceeded``). A suspended Job runs no pods. Not modelled: Indexed
completion, podFailurePolicy, successPolicy, activeDeadlineSeconds, the pod back-off delay, the
``batch.kubernetes.io/job-tracking`` finalizer (pods are counted while they exist; a Job keeps its
counts, so only pods deleted before the controller saw them finish go uncounted), ttlSecondsAfterFinished.
"""

from __future__ import annotations

from helpers.kube import format_time, is_terminating
from helpers.sim.controllers.workloads import _PodOwnerController, pod_from_template


def _condition(type_: str, reason: str, message: str, stamp: str) -> dict:
    return {"type": type_, "status": "True", "lastProbeTime": stamp, "lastTransitionTime": stamp,
            "reason": reason, "message": message}


def finished(job: dict) -> bool:
    return any(c.get("type") in ("Complete", "Failed") and c.get("status") == "True"
               for c in (job.get("status") or {}).get("conditions") or [])


def job_plan(job: dict, pods: list[dict], stamp: str) -> tuple[int, dict]:
    """(pods to create, new status) for a NonIndexed Job whose controlled pods are ``pods``."""
    spec, old = job["spec"], job.get("status") or {}
    status = {k: v for k, v in old.items() if k not in ("active", "ready", "terminating")}
    status.setdefault("startTime", stamp)
    phase = {p["metadata"]["name"]: (p.get("status") or {}).get("phase") for p in pods}
    running = [p for p in pods if phase[p["metadata"]["name"]] not in ("Succeeded", "Failed")
               and not is_terminating(p)]
    terminating = [p for p in pods if is_terminating(p) and phase[p["metadata"]["name"]] not in
                   ("Succeeded", "Failed")]
    status["succeeded"] = max(old.get("succeeded", 0), sum(v == "Succeeded" for v in phase.values()))
    # (a pod counted once stays counted: the Job's own counts only grow)
    status["failed"] = max(old.get("failed", 0), sum(v == "Failed" for v in phase.values()))
    ready = sum(any(c.get("type") == "Ready" and c.get("status") == "True"
                    for c in (p.get("status") or {}).get("conditions") or []) for p in running)
    conditions = [dict(c) for c in old.get("conditions") or []]
    types = {c["type"] for c in conditions}
    completions, parallelism = spec.get("completions"), spec.get("parallelism", 1)
    create = 0
    if status["failed"] > spec.get("backoffLimit", 6):
        if "FailureTarget" not in types:
            conditions.append(_condition("FailureTarget", "BackoffLimitExceeded",
                                         "Job has reached the specified backoff limit", stamp))
        if not running and "Failed" not in types:
            conditions.append(_condition("Failed", "BackoffLimitExceeded",
                                         "Job has reached the specified backoff limit", stamp))
    elif (completions is not None and status["succeeded"] >= completions) or \
            (completions is None and status["succeeded"] > 0):
        if "SuccessCriteriaMet" not in types:
            conditions.append(_condition("SuccessCriteriaMet", "CompletionsReached",
                                         "Reached expected number of succeeded pods", stamp))
        if not running and "Complete" not in types:
            conditions.append(_condition("Complete", "CompletionsReached",
                                         "Reached expected number of succeeded pods", stamp))
            status["completionTime"] = stamp
    elif not spec.get("suspend"):
        wanted = parallelism if completions is None else min(parallelism, completions - status["succeeded"])
        create = max(0, wanted - len(running) - len(terminating))
    if conditions:
        status["conditions"] = conditions
    if running:
        status["active"] = len(running)
    status["ready"] = ready
    status["terminating"] = len(terminating)
    status["uncountedTerminatedPods"] = {}
    if not status["failed"]:
        del status["failed"]  # omitempty, like succeeded
    if not status["succeeded"]:
        del status["succeeded"]
    return create, status


class JobController(_PodOwnerController):
    """Runs each Job's pods to completion; work items are (namespace, name) of Jobs."""

    component, resource, kind = "job-controller", "jobs.batch", "Job"

    def sync(self, key) -> None:
        job = self.informer.get(self.resource, key[1], key[0])
        if job is None or job["metadata"].get("deletionTimestamp") or finished(job):
            return
        uid = job["metadata"]["uid"]
        pods = [p for p in self.informer.dependents("pods", uid)
                if any(r.get("uid") == uid and r.get("controller") for r in p["metadata"].get("ownerReferences") or [])]
        self.owned_pods(job)  # settles the create expectations against the cache
        create, status = job_plan(job, pods, format_time(self.clock.now()))
        create -= self.pending_creates(job)
        for _ in range(max(0, create)):
            self.create_pod(job, pod_from_template(job["spec"]["template"], job, f"{job['metadata']['name']}-"))
        was_done = finished(job)
        self.write_status(job, status)
        if not was_done and finished({"status": status}):
            done = next(c for c in status["conditions"] if c["type"] in ("Complete", "Failed"))
            if done["type"] == "Complete":
                self.event(job, "Normal", "Completed", "Job completed")
            else:
                self.event(job, "Warning", "BackoffLimitExceeded", "Job has reached the specified backoff limit")
