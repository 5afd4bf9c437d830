"""Conformance: the commands a learner copies from kubernetes.io's tutorials, through the real kubectl
1.37 against a bare simulated API server, asserting outputs and exit codes as kind gives them."""

import pytest
from test_api_support import Harness, node, pod, rows, running


@pytest.fixture(scope="module")
def h():
    harness = Harness()
    harness.store.create("nodes", node("endpoints-worker", "172.18.0.3"))
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


def test_drain_evicts_by_deleting_when_pods_are_unmanaged(h):
    store = h.store
    store.create("pods", pod("solo", node_name="endpoints-worker"), namespace="default")
    running(store, "solo", "default", "10.244.1.7")
    refused = h.kubectl("drain", "endpoints-worker", check=False)
    assert refused.returncode == 1 and "cannot delete Pods that declare no controller" in refused.stderr
    drained = h.kubectl("drain", "endpoints-worker", "--force", "--grace-period=0")
    assert "node/endpoints-worker drained" in drained.stdout
    assert h.kubectl("uncordon", "endpoints-worker").stdout.strip() == "node/endpoints-worker uncordoned"
