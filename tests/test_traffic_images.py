"""The agnhost model (helpers/sim/images.py) against upstream's flags and defaults (test/images/agnhost)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from helpers.sim import images, shell


def _c(*args, image=images.AGNHOST_IMAGE, command=None):
    return {"name": "c", "image": image, "args": list(args), **({"command": command} if command else {})}


@pytest.mark.parametrize(("container", "listeners"), [
    (_c("serve-hostname"), {(9376, "TCP", True)}),
    (_c("serve-hostname", "--port=80"), {(80, "TCP", True)}),
    (_c("serve-hostname", "--port", "8000", "--udp", "--http=false"), {(8000, "UDP", False)}),
    (_c("serve-hostname", "--tcp", "--http=false"), {(9376, "TCP", False)}),
    (_c("netexec"), {(8080, "TCP", True), (8081, "UDP", False)}),
    (_c("netexec", "--http-port=80", "--udp-port=-1"), {(80, "TCP", True)}),
    (_c(command=["/agnhost", "netexec", "--http-port", "9000"]), {(9000, "TCP", True), (8081, "UDP", False)}),
    (_c("connect", "web:80"), set()),
    (_c("pause"), set()),
    (_c(image="registry.k8s.io/pause:3.10"), set()),
])
def test_listeners_follow_upstream_flags(container, listeners):
    proc = images.program(container)
    assert {(lis.port, lis.protocol, lis.http) for lis in proc.listeners} == listeners


def test_sigterm_reactions():
    hostname = images.program(_c("serve-hostname"))
    assert hostname.sigterm_exit_s == 60.0 and "Awaiting pod deletion." in hostname.sigterm_log
    assert images.program(_c("netexec")).sigterm_exit_s == 0.0
    delayed = images.program(_c("netexec", "--delay-shutdown=10"))
    assert delayed.sigterm_exit_s == 10.0 and delayed.sigterm_log == ("Sleeping 10 seconds before terminating...",)


def test_answers():
    netexec = images.program(_c("netexec"))
    kw = {"hostname": "web-1", "client_ip": "10.244.1.9"}
    assert netexec.answer(8080, "TCP", request="/hostname", **kw) == "web-1"
    assert netexec.answer(8080, "TCP", request="/echo?msg=hi", **kw) == "hi"
    assert netexec.answer(8080, "TCP", request="/clientip", **kw).startswith("10.244.1.9:")
    assert netexec.answer(8081, "UDP", request="echo hi", **kw) == "hi"
    assert netexec.answer(8081, "UDP", request="hostname", **kw) == "web-1"
    assert images.program(_c("serve-hostname")).answer(9376, "TCP", request="/anything", **kw) == "web-1"


def test_netexec_catch_all_and_udp_commands_answer_as_netexec_go():
    """netexec.go (v1.37.0): "/" and every unrouted path hit rootHandler, `NOW: %v` of time.Now(); the UDP
    server lower-cases the payload and ignores what it does not know."""
    netexec = images.program(_c("netexec"))
    kw = {"hostname": "web-1", "client_ip": "10.244.1.9"}
    at = datetime(2026, 12, 3, 12, 42, 1, 250000, tzinfo=UTC)
    for path in ("/", "/no/such/path", "/index.html?x=1"):
        assert netexec.answer(8080, "TCP", request=path, now=at, age_s=12.5, **kw) == (
            "NOW: 2026-12-03 12:42:01.25 +0000 UTC m=+12.500000000")
    assert netexec.http_status("/no/such/path", 5) == 200
    assert images.go_time(at.replace(microsecond=0), 0.0) == "2026-12-03 12:42:01 +0000 UTC m=+0.000000000"
    assert netexec.answer(8081, "UDP", request="HOSTNAME\n", **kw) == "web-1"
    assert netexec.answer(8081, "UDP", request="Echo Hi", **kw) == "hi"
    assert netexec.answer(8081, "UDP", request="serverport", **kw) == "8081"
    assert netexec.answer(8080, "TCP", request="/serverport", **kw) == "8080"
    assert netexec.answer(8081, "UDP", request="", **kw) == netexec.answer(8081, "UDP", request="nosuch", **kw) == ""


@pytest.mark.parametrize("container", [_c(image="redis:7"), _c("porter"), _c(), _c(image="nginx:1.27",
                                                                                   command=["nginx-debug"])])
def test_unmodelled_is_none_with_a_message_naming_the_model(container):
    assert images.program(container) is None
    message = images.unmodelled(container)
    assert images.AGNHOST_IMAGE in message and "serve-hostname | netexec | liveness" in message
    assert "nginx with its own entrypoint" in message


def test_probe_targets_answer_as_upstream_servers():
    """liveness/server.go's /healthz turns 500 after 10 s; netexec's /readyz 503 after SIGTERM; nginx 404s."""
    liveness, netexec = images.program(_c("liveness")), images.program(_c("netexec"))
    assert liveness.listens(8080) and liveness.http_status("/healthz", 9.9) == 200
    assert liveness.http_status("/healthz", 10.1) == 500 and liveness.http_status("/started", 60) == 200
    assert netexec.http_status("/readyz", 5) == 200 and netexec.http_status("/readyz", 5, signalled=True) == 503
    assert netexec.http_status("/anything", 5) == 200  # "/" is netexec's catch-all rootHandler
    nginx = images.program(_c(image="nginx:1.27"))
    assert nginx.listens(80) and nginx.http_status("/", 0) == 200 and nginx.http_status("/healthz", 0) == 404
    grpc = images.program(_c("grpc-health-checking", "--delay-unhealthy-sec=5"))
    assert grpc.grpc_port == 5000 and grpc.grpc_serving(4) and not grpc.grpc_serving(6)


def test_pinned_tag_is_upstreams():
    assert images.AGNHOST_IMAGE == "registry.k8s.io/e2e-test-images/agnhost:2.66.1"
    # test/images/agnhost/Dockerfile at v1.37.0 adds socat: on the image's PATH (exec says it is not modelled)
    assert {"socat", "iperf", "dig"} <= shell.IMAGES[images.AGNHOST_REPO]
