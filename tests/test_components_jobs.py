"""Jobs, ServiceAccounts, the root-CA ConfigMap and finite commands end to end: the real kubectl against
the simulated cluster."""

import datetime as dt
import json

import pytest
from conftest import kubectl, wait_until

from helpers.sim.controllers.commands import finite_run
from helpers.sim.controllers.cronjob import ScheduleError, next_schedule
from helpers.sim.controllers.job import job_plan


def job_of(handle, namespace, name):
    return json.loads(kubectl(handle, "get", "job", name, "-n", namespace, "-o", "json").stdout)


def test_kubectl_create_job_runs_to_complete_as_the_tutorial_shows(sim, ns):
    out = kubectl(sim, "create", "job", "pi", "-n", ns, "--image=perl:5.34", "--",
                  "perl", "-Mbignum=bpi", "-wle", "print bpi(2000)").stdout
    assert out.strip() == "job.batch/pi created"
    waited = kubectl(sim, "wait", "--for=condition=complete", "job/pi", "-n", ns, "--timeout=60s")
    assert waited.stdout.strip() == "job.batch/pi condition met"
    job = job_of(sim, ns, "pi")
    assert job["status"]["succeeded"] == 1 and job["status"]["completionTime"]
    assert [c["type"] for c in job["status"]["conditions"]] == ["SuccessCriteriaMet", "Complete"]
    uid = job["metadata"]["uid"]
    assert job["spec"]["selector"] == {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
    assert job["metadata"]["labels"]["job-name"] == "pi"
    table = kubectl(sim, "get", "jobs", "-n", ns).stdout.splitlines()
    assert table[0].split() == ["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"]
    assert table[1].split()[:3] == ["pi", "Complete", "1/1"]
    pods = kubectl(sim, "get", "pods", "-n", ns, "-l", "job-name=pi").stdout.splitlines()
    assert pods[1].split()[1:4] == ["0/1", "Completed", "0"]
    describe = kubectl(sim, "describe", "job", "pi", "-n", ns).stdout
    assert "Pods Statuses:    0 Active (0 Ready) / 1 Succeeded / 0 Failed" in describe
    assert "Job completed" in describe
    digits = kubectl(sim, "logs", "job/pi", "-n", ns).stdout.splitlines()[-1]
    assert digits.startswith("3.14159265358979323846264338327950288") and len(digits) == 2001


def test_a_job_with_completions_and_an_echo_logs_and_counts(sim, ns):
    kubectl(sim, "create", "job", "hello", "-n", ns, "--image=busybox:1.36", "--", "echo", "hello world")
    kubectl(sim, "wait", "--for=condition=complete", "job/hello", "-n", ns, "--timeout=60s")
    assert kubectl(sim, "logs", "job/hello", "-n", ns).stdout.splitlines()[-1] == "hello world"
    manifest = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "three"},
                "spec": {"completions": 3, "parallelism": 2, "template": {"spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "c", "image": "busybox:1.36", "command": ["sh", "-c", "sleep 1"]}]}}}}
    kubectl(sim, "apply", "-n", ns, "-f", "-", input=json.dumps(manifest))
    kubectl(sim, "wait", "--for=condition=complete", "job/three", "-n", ns, "--timeout=60s")
    assert job_of(sim, ns, "three")["status"]["succeeded"] == 3
    assert "3/3" in kubectl(sim, "get", "job", "three", "-n", ns).stdout


def test_a_failing_job_stops_at_its_backoff_limit(sim, ns):
    manifest = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "bad"},
                "spec": {"backoffLimit": 1, "template": {"spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "c", "image": "busybox:1.36", "command": ["sh", "-c", "exit 3"]}]}}}}
    kubectl(sim, "apply", "-n", ns, "-f", "-", input=json.dumps(manifest))
    kubectl(sim, "wait", "--for=condition=failed", "job/bad", "-n", ns, "--timeout=60s")
    job = job_of(sim, ns, "bad")
    assert job["status"]["failed"] == 2 and "succeeded" not in job["status"]
    failed = next(c for c in job["status"]["conditions"] if c["type"] == "Failed")
    assert failed["reason"] == "BackoffLimitExceeded"
    pods = kubectl(sim, "get", "pods", "-n", ns, "-l", "job-name=bad", "-o", "json").stdout
    states = [p["status"]["containerStatuses"][0]["state"]["terminated"] for p in json.loads(pods)["items"]]
    assert [(s["exitCode"], s["reason"]) for s in states] == [(3, "Error"), (3, "Error")]


def test_every_namespace_gets_a_default_service_account_and_a_token(sim, ns):
    def accounts():
        out = kubectl(sim, "get", "serviceaccounts", "-n", ns, "-o", "name").stdout.split()
        return out or None

    assert wait_until(sim, accounts, what="the default ServiceAccount") == ["serviceaccount/default"]
    token = kubectl(sim, "create", "token", "default", "-n", ns).stdout.strip()
    import base64

    claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    assert claims["sub"] == f"system:serviceaccount:{ns}:default"
    assert claims["aud"] == ["https://kubernetes.default.svc.cluster.local"] and claims["exp"] - claims["iat"] == 3600
    short = kubectl(sim, "create", "token", "default", "-n", ns, "--duration=1m", check=False)
    assert short.returncode == 1 and "may not specify a duration less than 10 minutes" in short.stderr
    kubectl(sim, "delete", "serviceaccount", "default", "-n", ns)
    assert wait_until(sim, accounts, what="the default ServiceAccount back") == ["serviceaccount/default"]


def test_which_commands_end():
    assert finite_run({"command": ["perl", "-Mbignum=bpi", "-wle", "print bpi(20)"]}).output == ["3.1415926535897932385"]
    assert finite_run({"args": ["echo", "hi"]}).output == ["hi"]
    assert finite_run({"command": ["sh", "-c", "sleep 2; exit 4"]}).seconds == 2.0
    assert finite_run({"command": ["sh", "-c", "sleep 2; exit 4"]}).exit_code == 4
    for forever in ({}, {"command": ["sleep", "infinity"]}, {"args": ["netexec", "--http-port=8080"]},
                    {"command": ["sh", "-c", "while true; do echo hi; sleep 1; done"]}):
        assert finite_run(forever) is None


def test_job_plan_caps_running_pods_at_parallelism_and_remaining_completions():
    job = {"metadata": {"name": "j"}, "spec": {"completions": 5, "parallelism": 2, "backoffLimit": 6},
           "status": {}}
    done = [{"metadata": {"name": f"j-{i}"}, "status": {"phase": "Succeeded"}} for i in range(4)]
    create, status = job_plan(job, done, "2026-01-01T00:00:00Z")
    assert (create, status["succeeded"]) == (1, 4) and "conditions" not in status


def test_every_namespace_gets_the_root_ca_configmap_back_after_a_delete(sim, ns):
    def listed():
        out = kubectl(sim, "get", "configmaps", "-n", ns).stdout.splitlines()
        return out if len(out) == 2 else None

    rows = wait_until(sim, listed, what="kube-root-ca.crt")
    assert rows[0].split() == ["NAME", "DATA", "AGE"] and rows[1].split()[:2] == ["kube-root-ca.crt", "1"]
    cm = json.loads(kubectl(sim, "get", "configmap", "kube-root-ca.crt", "-n", ns, "-o", "json").stdout)
    assert cm["metadata"]["annotations"]["kubernetes.io/description"].startswith("Contains a CA bundle")
    kubectl(sim, "delete", "configmap", "kube-root-ca.crt", "-n", ns)
    assert wait_until(sim, listed, what="kube-root-ca.crt again")[1].startswith("kube-root-ca.crt")


def test_describe_pod_shows_the_projected_service_account_token_volume(sim, ns):
    kubectl(sim, "run", "sa-demo", "-n", ns, "--image=nginx:1.27")
    kubectl(sim, "wait", "--for=condition=Ready", "pod/sa-demo", "-n", ns, "--timeout=60s")
    described = kubectl(sim, "describe", "pod", "sa-demo", "-n", ns).stdout
    assert "Service Account:  default" in described
    assert "/var/run/secrets/kubernetes.io/serviceaccount from kube-api-access-" in described
    assert "Type:                    Projected (a volume that contains injected data from multiple sources)" \
        in described
    assert "TokenExpirationSeconds:  3607" in described and "ConfigMapName:           kube-root-ca.crt" in described
    opted_out = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "no-token"},
                 "spec": {"automountServiceAccountToken": False,
                          "containers": [{"name": "c", "image": "nginx:1.27"}]}}
    kubectl(sim, "apply", "-n", ns, "-f", "-", input=json.dumps(opted_out))
    spec = json.loads(kubectl(sim, "get", "pod", "no-token", "-n", ns, "-o", "json").stdout)["spec"]
    assert "volumes" not in spec and "volumeMounts" not in spec["containers"][0]


def test_a_cronjob_creates_its_job_on_schedule_and_keeps_history(private_sim):
    h = private_sim
    created = kubectl(h, "create", "cronjob", "tick", "--image=busybox:1.36", "--schedule=*/1 * * * *", "--",
                      "date")
    assert created.stdout.strip() == "cronjob.batch/tick created"
    row = kubectl(h, "get", "cronjob", "tick").stdout.splitlines()
    assert row[0].split() == ["NAME", "SCHEDULE", "TIMEZONE", "SUSPEND", "ACTIVE", "LAST", "SCHEDULE", "AGE"]
    assert row[1].split()[:7] == ["tick", "*/1", "*", "*", "*", "*", "<none>"]
    h.cluster.clock.advance(61)

    def jobs():
        out = json.loads(kubectl(h, "get", "jobs", "-o", "json").stdout)["items"]
        return out if out and all(j.get("status", {}).get("succeeded") for j in out) else None

    job = wait_until(h, jobs, what="the first scheduled Job to complete")[0]
    minutes = int(job["metadata"]["name"].rsplit("-", 1)[1])
    assert job["metadata"]["annotations"]["batch.kubernetes.io/cronjob-scheduled-timestamp"] == \
        dt.datetime.fromtimestamp(minutes * 60, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert job["metadata"]["ownerReferences"][0]["kind"] == "CronJob"
    def succeeded():
        cronjob = json.loads(kubectl(h, "get", "cronjob", "tick", "-o", "json").stdout)
        return cronjob if cronjob.get("status", {}).get("lastSuccessfulTime") else None

    cj = wait_until(h, succeeded, what="lastSuccessfulTime")
    assert cj["status"]["lastScheduleTime"].endswith(":00Z")


def test_cron_schedules_parse_as_robfig_cron_does():
    t = dt.datetime(2026, 1, 1, 10, 7, tzinfo=dt.UTC)
    assert next_schedule("*/15 * * * *", t) == t.replace(minute=15)
    assert next_schedule("@hourly", t) == t.replace(hour=11, minute=0)
    assert next_schedule("0 9 * * MON-FRI", t) == dt.datetime(2026, 1, 2, 9, 0, tzinfo=dt.UTC)  # Thu -> Fri
    assert next_schedule("0 0 13 * 5", t) == dt.datetime(2026, 1, 2, 0, 0, tzinfo=dt.UTC)  # the 13th OR a Friday
    with pytest.raises(ScheduleError):
        next_schedule("61 * * * *", t)
