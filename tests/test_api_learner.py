"""Conformance: the commands a learner copies from kubernetes.io's tutorials, through the real kubectl
1.37 against a bare simulated API server, asserting outputs and exit codes as kind gives them."""

import pytest
from test_api_support import Harness, node, pod, rows, running


@pytest.fixture(scope="module")
def h():
    harness = Harness()
    harness.store.create("nodes", node("endpoints-worker", "172.18.0.3"))
    # what the serviceaccount controller creates in every namespace (no controllers run here)
    harness.store.create("serviceaccounts", {"metadata": {"name": "default"}}, namespace="default")
    yield harness
    harness.stop()


# (command, what stdout says) in tutorial order; each builds on the ones before it
COMMANDS = [
    (["create", "deployment", "web", "--image=nginx", "--replicas=3"], "deployment.apps/web created"),
    (["create", "namespace", "learn"], "namespace/learn created"),
    (["create", "service", "clusterip", "my-svc", "--tcp=80:8080"], "service/my-svc created"),
    (["create", "service", "nodeport", "web-np", "--tcp=80:80"], "service/web-np created"),
    (["create", "deployment", "hello", "--image=nginx", "-n", "learn"], "deployment.apps/hello created"),
    (["expose", "deployment", "web", "--port=80", "--target-port=80", "--name=web"], "service/web exposed"),
    (["scale", "deployment", "web", "--replicas=5"], "deployment.apps/web scaled"),
    (["label", "deployment", "web", "tier=frontend"], "deployment.apps/web labeled"),
    (["annotate", "deployment", "web", "owner=me"], "deployment.apps/web annotated"),
    (["set", "image", "deployment/web", "nginx=nginx:1.27"], "deployment.apps/web image updated"),
    (["auth", "can-i", "create", "deployments"], "yes"),
    (["auth", "can-i", "delete", "nodes", "--all-namespaces"], "yes"),
    (["auth", "whoami"], "kubernetes-admin"),
    (["explain", "endpointslice.endpoints.conditions"], "FIELD: conditions <EndpointConditions>"),
    (["explain", "deployment.spec.replicas"], "FIELD: replicas <integer>"),
    (["explain", "svc.spec.type"], "ExternalName"),
    (["get", "deployments", "--chunk-size=1"], "web"),
    (["create", "configmap", "game-config", "--from-literal=lives=3", "--from-literal=color=blue"],
     "configmap/game-config created"),
    (["get", "configmap", "game-config"], "game-config   2      "),
    (["describe", "configmap", "game-config"], "lives:\n----\n3"),
    (["create", "secret", "generic", "db-pass", "--from-literal=password=s3cr3t"], "secret/db-pass created"),
    (["get", "secret", "db-pass"], "db-pass   Opaque   1      "),
    (["get", "secret", "db-pass", "-o", "jsonpath={.data.password}"], "czNjcjN0"),
    (["describe", "secret", "db-pass"], "password:  6 bytes"),
    (["get", "serviceaccounts"], "default"),
    (["create", "serviceaccount", "builder"], "serviceaccount/builder created"),
    (["create", "token", "builder"], "eyJ"),
    (["create", "job", "pi", "--image=perl:5.34", "--", "perl", "-Mbignum=bpi", "-wle", "print bpi(2000)"],
     "job.batch/pi created"),
    (["get", "jobs"], "pi     Running   0/1"),
    (["describe", "job", "pi"], "Selector:         batch.kubernetes.io/controller-uid="),
    (["create", "pdb", "web-pdb", "--selector=app=web", "--min-available=2"],
     "poddisruptionbudget.policy/web-pdb created"),
    (["get", "pdb"], "web-pdb   2               N/A               0"),
    (["explain", "job.spec.completions"], "FIELD: completions <integer>"),
    (["explain", "pdb.spec.unhealthyPodEvictionPolicy"], "IfHealthyBudget"),
    (["explain", "secret.data"], "FIELD: data <map[string]string>"),
    (["delete", "service", "my-svc"], 'service "my-svc" deleted'),
    (["delete", "namespace", "learn", "--wait=false"], 'namespace "learn" deleted'),
]


@pytest.mark.parametrize("command,expected", COMMANDS, ids=[" ".join(c[:3]) for c, _ in COMMANDS])
def test_a_learner_command_behaves_as_on_kind(h, command, expected):
    result = h.kubectl(*command, check=False)
    assert result.returncode == 0, result.stderr
    assert expected in result.stdout


def test_what_the_commands_left_behind(h):
    store = h.store
    web = store.get("deployments.apps", "web", "default")
    assert web["spec"]["replicas"] == 5 and web["metadata"]["labels"] == {"app": "web", "tier": "frontend"}
    assert web["metadata"]["annotations"]["owner"] == "me"
    assert web["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.27"
    svc = store.get("services", "web-np", "default")
    assert svc["spec"]["type"] == "NodePort" and 30000 <= svc["spec"]["ports"][0]["nodePort"] <= 32767
    table = rows(h.kubectl("get", "svc").stdout)
    assert {r[0] for r in table[1:]} >= {"web", "web-np"} and "my-svc" not in {r[0] for r in table[1:]}


def test_drain_evicts_through_the_eviction_api_and_honours_a_budget(h):
    store = h.store
    store.create("pods", pod("solo", node_name="endpoints-worker"), namespace="default")
    running(store, "solo", "default", "10.244.1.7")
    refused = h.kubectl("drain", "endpoints-worker", check=False)
    assert refused.returncode == 1 and "cannot delete Pods that declare no controller" in refused.stderr
    # a budget covers it and no disruption controller has computed its status here: the eviction API
    # answers 429 and drain retries until its timeout, as it does on a real cluster
    h.kubectl("delete", "pdb", "web-pdb", "--ignore-not-found")
    h.kubectl("create", "pdb", "solo-pdb", "--selector=app=web", "--max-unavailable=1")
    blocked = h.kubectl("drain", "endpoints-worker", "--force", "--grace-period=0", "--timeout=2s", check=False)
    assert blocked.returncode == 1
    assert "Cannot evict pod as it would violate the pod's disruption budget." in blocked.stderr
    h.kubectl("delete", "pdb", "solo-pdb")
    drained = h.kubectl("drain", "endpoints-worker", "--force", "--grace-period=0")
    assert "node/endpoints-worker drained" in drained.stdout
    assert h.kubectl("uncordon", "endpoints-worker").stdout.strip() == "node/endpoints-worker uncordoned"
