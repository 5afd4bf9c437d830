"""h.requests, h.open_connection and h.conntrack through the simulator's HTTP control interface,
plus the kind path's pure parts (the loop script and its output, conntrack -L text)."""

from __future__ import annotations

import pytest

import helpers as h
from helpers import traffic
from helpers.config import AGNHOST_IMAGE, REPO_ROOT


def _web(box, replicas=2):
    dep = h.deployment("web", replicas=replicas, image=AGNHOST_IMAGE, port=9376)
    dep["spec"]["template"]["spec"]["containers"][0]["args"] = ["serve-hostname"]
    h.apply(dep, h.service("web", ports=[(80, 9376)]), namespace=box.name)
    h.wait_for_ready(box.name, "app=web", replicas)
    h.wait_for_slices(box.name, "web", ready=replicas)
    h.advance(1.5)  # one kube-proxy minSyncPeriod


def test_requests_frame_names_the_answering_pods(box):
    _web(box)
    frame = h.requests("web", box.name, count=60)
    assert list(frame.columns) == traffic.COLUMNS
    assert set(frame["outcome"]) == {"ok"}
    assert set(frame["pod"]) == {p["metadata"]["name"] for p in h.list_objects("pods", box.name, "app=web")}
    assert set(frame["client"]) == {traffic.CLIENT_POD}
    assert frame["t"].is_monotonic_increasing


def test_interval_spans_the_cluster_clock(box):
    _web(box, replicas=1)
    frame = h.requests("web", box.name, count=5, interval=2.0)
    assert frame["t"].iloc[-1] - frame["t"].iloc[0] >= 8.0


def test_held_connection_and_conntrack_table(box):
    _web(box, replicas=1)
    conn = h.open_connection("web", box.name)
    assert conn.opened["outcome"] == "ok" and conn.send()["pod"] == conn.opened["pod"]
    node = h.get("pods", traffic.CLIENT_POD, box.name)["spec"]["nodeName"]
    table = h.conntrack(node)
    assert ((table["state"] == "ESTABLISHED") & (table["dport"] == 80)).any()


@pytest.mark.parametrize(("kwargs", "words"), [
    ({"service": "nope"}, "no Service 'nope'"),
    ({"port": 99}, "has no port 99"),
    ({"client": "ghost"}, "no client pod 'ghost'"),
    ({"count": 0}, "count must be a positive integer"),
])
def test_bad_input_is_one_error_with_a_next_step(box, kwargs, words):
    h.apply(h.service("web", ports=[(80, 9376)]), namespace=box.name)
    args = {"service": "web", "client": "node/endpoints-worker", **kwargs}
    with pytest.raises(h.TrafficError) as err:
        h.requests(args.pop("service"), box.name, **args)
    assert words in err.value.message and err.value.hint


def test_conntrack_of_an_unknown_node(backend):
    with pytest.raises(h.TrafficError, match="no node"):
        h.conntrack("nowhere")


def test_kind_loop_script_and_its_output():
    script = traffic.loop_script("web.ns.svc.cluster.local", 80, "TCP", 3, 0.5, 1.0, "/hostname")
    assert "curl -s -m 1 http://web.ns.svc.cluster.local:80/hostname" in script and "seq 3" in script
    out = "1.0 0 1.002 web-a\n2.0 7 2.001 \n3.0 28 4.0 \n4.0 56 4.1 \n"
    rows = traffic.parse_loop_output(out, "c", {"web-a": "10.244.1.2"}, 9376)
    assert [r["outcome"] for r in rows] == ["ok", "refused", "timeout", "reset"]
    assert rows[0]["endpoint"] == "10.244.1.2:9376" and rows[0]["latency_ms"] == 2.0
    udp = traffic.loop_script("10.96.0.10", 53, "UDP", 1, 0, 1.0, "/")
    assert "nc -u -w 1 10.96.0.10 53" in udp


def test_parse_conntrack_lines():
    text = ("tcp      6 117 TIME_WAIT src=10.244.1.3 dst=10.96.12.5 sport=41234 dport=80 src=10.244.2.4 "
            "dst=10.244.1.3 sport=9376 dport=41234 [ASSURED] mark=0 use=1\n"
            "udp      17 28 src=10.244.1.3 dst=10.96.0.10 sport=5353 dport=53 [UNREPLIED] src=10.244.0.5 "
            "dst=10.244.1.3 sport=53 dport=5353 mark=0 use=1\n"
            "conntrack v1.4.8 (conntrack-tools): 2 flow entries have been shown.\n")
    rows = traffic.parse_conntrack(text)
    assert len(rows) == 2
    assert rows[0]["state"] == "TIME_WAIT" and rows[0]["reply_src"] == "10.244.2.4" and rows[0]["reply_sport"] == 9376
    assert rows[1]["state"] == "" and rows[1]["reply_src"] == "10.244.0.5" and "[UNREPLIED]" in rows[1]["flags"]


def test_make_cluster_loads_the_pinned_agnhost_image():
    makefile = (REPO_ROOT / "Makefile").read_text()
    assert f"AGNHOST_IMAGE := {AGNHOST_IMAGE}\n" in makefile
    assert "kind load docker-image $(AGNHOST_IMAGE) --name $(CLUSTER)" in makefile


def test_deployments_answer_by_default():
    container = h.deployment("web", port=80)["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == AGNHOST_IMAGE and container["args"] == ["netexec", "--http-port=80"]
    assert "args" not in h.deployment("web", image="nginx:1.27")["spec"]["template"]["spec"]["containers"][0]


def test_doctor_says_whether_agnhost_is_loaded():
    from helpers.doctor import check_agnhost

    assert check_agnhost(None, None).ok and "make cluster" in check_agnhost("", None).detail
    crictl = ("IMAGE                                       TAG       IMAGE ID        SIZE\n"
              "registry.k8s.io/e2e-test-images/agnhost     2.66.1    0123456789ab    52.1MB\n"
              "registry.k8s.io/pause                       3.10      873ed7510279    320kB\n")
    assert check_agnhost("endpoints\n", crictl).ok
    missing = check_agnhost("endpoints\n", crictl.replace("2.66.1", "2.55"))
    assert missing.status == "warn" and "kind load docker-image" in missing.fix


@pytest.mark.parametrize(("path", "body", "code"), [
    ("/sim/traffic/requests", {"namespace": "default", "service": "kubernetes"}, 400),  # no client
    ("/sim/traffic/requests", {"namespace": "default", "service": "kubernetes", "client": "x", "count": 0}, 400),
    ("/sim/traffic/requests", {"namespace": "default", "service": "kubernetes", "client": "x", "timeout": -1}, 400),
    ("/sim/traffic/requests", {"namespace": "default", "service": "kubernetes", "client": "x"}, 404),
    ("/sim/traffic/connections/99999/send", {}, 404),
])
def test_control_routes_answer_bad_input_with_a_status(sim, path, body, code):
    import json
    import urllib.error
    import urllib.request

    req = urllib.request.Request(sim.url + path, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=30)
    status = json.load(err.value)
    assert err.value.code == code and status["kind"] == "Status" and status["code"] == code and status["message"]
