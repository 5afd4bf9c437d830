"""The CronJob controller (pkg/controller/cronjob/cronjob_controllerv2.go) and its schedule parser.

``next_schedule`` reads a standard five-field cron line (minute hour day-of-month month day-of-week, with
``*``, ``a-b``, ``/step``, lists, month and weekday names, and the ``@hourly``... macros) as
robfig/cron's standard parser does, including its rule that when both day fields are restricted either may
match. At each scheduled time the controller creates the Job ``getJobFromTemplate2`` makes:
``<cronjob>-<scheduled time in minutes since the epoch>``, the template's labels and annotations plus
``batch.kubernetes.io/cronjob-scheduled-timestamp``, controlled by the CronJob; a missed time is made up
once (the most recent one), ``concurrencyPolicy`` Forbid skips and Replace deletes a running Job, a
suspended CronJob schedules nothing, and finished Jobs beyond ``successfulJobsHistoryLimit`` (3) /
``failedJobsHistoryLimit`` (1) are deleted oldest first. Status: ``active`` references, ``lastScheduleTime``,
``lastSuccessfulTime``. Not modelled: ``startingDeadlineSeconds``' "too many missed start times" warning.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from helpers.kube import format_time, obj_key, parse_time
from helpers.sim.api.errors import ApiError
from helpers.sim.controllers.controller import Controller
from helpers.sim.controllers.informer import controller_of
from helpers.sim.controllers.job import finished
from helpers.sim.controllers.workloads import owner_reference

SCHEDULED_ANNOTATION = "batch.kubernetes.io/cronjob-scheduled-timestamp"
_MACROS = {"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *", "@weekly": "0 0 * * 0",
           "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *"}
_NAMES = {3: ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"],
          4: ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]}
_BOUNDS = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 6))


class ScheduleError(ValueError):
    """A schedule robfig/cron would not parse."""


def _number(text: str, field: int) -> int:
    names = _NAMES.get(field)
    if names and text.upper() in names:
        return names.index(text.upper()) + (1 if field == 3 else 0)
    if not text.isdigit():
        raise ScheduleError(f"failed to parse int from {text}")
    return int(text)


def _field(text: str, field: int) -> tuple[set[int], bool]:
    """The values a field allows, and whether it was ``*`` (unrestricted)."""
    low, high = _BOUNDS[field]
    values: set[int] = set()
    for part in text.split(","):
        span, _, step = part.partition("/")
        if span in ("*", "?"):
            start, end = low, high
        elif "-" in span:
            a, b = span.split("-", 1)
            start, end = _number(a, field), _number(b, field)
        else:
            start = _number(span, field)
            end = high if step else start
        stride = int(step) if step.isdigit() else 1 if not step else 0
        if stride <= 0 or start < low or end > high or start > end:
            raise ScheduleError(f"end of range ({end}) above maximum ({high}): {part}" if end > high
                                else f"invalid range or step: {part}")
        values.update(range(start, end + 1, stride))
    if field == 4 and 7 in values:  # Sunday as 7
        values.add(0)
    return values, text in ("*", "?")


def parse(schedule: str):
    text = _MACROS.get(schedule.strip(), schedule.strip())
    if text.startswith(("TZ=", "CRON_TZ=")):
        raise ScheduleError("CRON_TZ or TZ used in schedule is not supported, please use timeZone instead")
    fields = text.split()
    if len(fields) != 5:
        raise ScheduleError(f"expected exactly 5 fields, found {len(fields)}: {schedule}")
    return [_field(f, i) for i, f in enumerate(fields)]


def next_schedule(schedule: str, after: dt.datetime, zone: str | None = None) -> dt.datetime:
    """The first scheduled minute strictly after ``after`` (a UTC datetime), in ``zone`` (default UTC)."""
    (minutes, _), (hours, _), (doms, dom_any), (months, _), (dows, dow_any) = parse(schedule)
    tz = ZoneInfo(zone) if zone else dt.UTC
    t = after.astimezone(tz).replace(second=0, microsecond=0) + dt.timedelta(minutes=1)
    for _ in range(366 * 24 * 60):
        if t.month not in months:
            t = (t.replace(day=1, hour=0, minute=0) + dt.timedelta(days=32)).replace(day=1)
            continue
        day_ok = (t.day in doms) or (t.isoweekday() % 7 in dows) if not (dom_any or dow_any) else \
            (t.day in doms and t.isoweekday() % 7 in dows)
        if not day_ok:
            t = t.replace(hour=0, minute=0) + dt.timedelta(days=1)
            continue
        if t.hour not in hours:
            t = t.replace(minute=0) + dt.timedelta(hours=1)
            continue
        if t.minute not in minutes:
            t += dt.timedelta(minutes=1)
            continue
        return t.astimezone(dt.UTC)
    raise ScheduleError(f"no time matches the schedule {schedule!r} within a year")


def job_for(cj: dict, scheduled: dt.datetime) -> dict:
    """getJobFromTemplate2: the Job for the run scheduled at ``scheduled``."""
    template = cj["spec"]["jobTemplate"]
    meta = template.get("metadata") or {}
    zone = cj["spec"].get("timeZone")
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {
        "name": f"{cj['metadata']['name']}-{int(scheduled.timestamp()) // 60}",
        "labels": dict(meta.get("labels") or {}),
        "annotations": {**(meta.get("annotations") or {}),
                        SCHEDULED_ANNOTATION: scheduled.astimezone(ZoneInfo(zone) if zone else dt.UTC)
                        .isoformat().replace("+00:00", "Z")},
        "ownerReferences": [owner_reference(cj)]},
        "spec": dict(template.get("spec") or {})}


class CronJobController(Controller):
    """Creates each CronJob's Jobs on schedule; work items are (namespace, name) of CronJobs."""

    component = "cronjob-controller"
    resource = "cronjobs.batch"

    def start(self) -> None:
        self.informer.on(self.resource, lambda _t, cj, _o: self.enqueue(obj_key(cj)))
        self.informer.on("jobs.batch", self._job_changed)
        for cj in self.informer.items(self.resource):
            self.enqueue(obj_key(cj))

    def _job_changed(self, _type, job, _old) -> None:
        ref = controller_of(job)
        if ref and ref.get("kind") == "CronJob":
            self.enqueue((job["metadata"]["namespace"], ref["name"]))

    def sync(self, key) -> None:
        cj = self.informer.get(self.resource, key[1], key[0])
        if cj is None or cj["metadata"].get("deletionTimestamp"):
            return
        spec, status = cj["spec"], dict(cj.get("status") or {})
        uid = cj["metadata"]["uid"]
        jobs = sorted((j for j in self.informer.dependents("jobs.batch", uid)
                       if (controller_of(j) or {}).get("uid") == uid),
                      key=lambda j: j["metadata"].get("creationTimestamp", ""))
        active = [j for j in jobs if not finished(j)]
        now = self.clock.now()
        last = parse_time(status.get("lastScheduleTime") or cj["metadata"]["creationTimestamp"])
        try:
            due = next_schedule(spec["schedule"], last, spec.get("timeZone"))
        except (ScheduleError, KeyError) as err:
            self.event(cj, "Warning", "UnparseableSchedule", f"unparseable schedule: {spec.get('schedule')!r} : {err}")
            return
        if due <= now and not spec.get("suspend"):
            latest = due
            while True:  # the most recent missed time is the one made up
                following = next_schedule(spec["schedule"], latest, spec.get("timeZone"))
                if following > now:
                    break
                latest = following
            policy = spec.get("concurrencyPolicy", "Allow")
            if active and policy == "Forbid":
                self.event(cj, "Normal", "JobAlreadyActive", "Not starting job because prior execution is running "
                           "and concurrency policy is Forbid")
            else:
                if active and policy == "Replace":
                    for job in active:
                        self._delete(job, "SuccessfulDelete", f"Deleted job {job['metadata']['name']}", cj)
                    active = []
                self._create(cj, latest, active)
                status["lastScheduleTime"] = format_time(latest)
        for job in jobs:
            done = next((c for c in (job.get("status") or {}).get("conditions") or []
                         if c.get("type") == "Complete" and c.get("status") == "True"), None)
            if done and (job.get("status") or {}).get("completionTime", "") > status.get("lastSuccessfulTime", ""):
                status["lastSuccessfulTime"] = job["status"]["completionTime"]
        self._clean_history(cj, jobs)
        if active:
            status["active"] = [{"kind": "Job", "namespace": j["metadata"]["namespace"], "name": j["metadata"]["name"],
                                 "uid": j["metadata"]["uid"], "apiVersion": "batch/v1",
                                 "resourceVersion": j["metadata"]["resourceVersion"]} for j in active]
        else:
            status.pop("active", None)
        if status != (cj.get("status") or {}):
            self.update(self.resource, dict(cj, status=status), subresource="status")
        if not spec.get("suspend"):
            after = parse_time(status.get("lastScheduleTime")) or last
            self.enqueue(key, max(0.0, (next_schedule(spec["schedule"], after, spec.get("timeZone")) - now)
                                  .total_seconds()))

    def _create(self, cj: dict, scheduled: dt.datetime, active: list) -> None:
        job = job_for(cj, scheduled)
        try:
            created = self.create("jobs.batch", job, namespace=cj["metadata"]["namespace"])
        except ApiError as err:
            if err.code != 409:  # already created for this time (a resync)
                raise
            return
        active.append(created)
        self.event(cj, "Normal", "SuccessfulCreate", f"Created job {created['metadata']['name']}")

    def _delete(self, job: dict, reason: str, message: str, cj: dict) -> None:
        try:
            self.store.delete("jobs.batch", job["metadata"]["name"], job["metadata"]["namespace"],
                              propagation_policy="Background")
        except ApiError as err:
            if err.code != 404:
                raise
        self.event(cj, "Normal", reason, message)

    def _clean_history(self, cj: dict, jobs: list[dict]) -> None:
        for kind, default in (("Complete", 3), ("Failed", 1)):
            limit = cj["spec"].get("successfulJobsHistoryLimit" if kind == "Complete" else "failedJobsHistoryLimit",
                                   default)
            done = [j for j in jobs if any(c.get("type") == kind and c.get("status") == "True"
                                           for c in (j.get("status") or {}).get("conditions") or [])]
            for job in done[:max(0, len(done) - limit)]:
                self._delete(job, "SuccessfulDelete", f"Deleted job {job['metadata']['name']}", cj)
