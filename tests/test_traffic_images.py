"""The agnhost model (helpers/sim/images.py) against upstream's flags and defaults (test/images/agnhost)."""

from __future__ import annotations

import pytest

from helpers.sim import images


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


@pytest.mark.parametrize("container", [_c(image="nginx:1.27"), _c("liveness"), _c()])
def test_unmodelled_is_none_with_a_message_naming_the_model(container):
    assert images.program(container) is None
    message = images.unmodelled(container)
    assert images.AGNHOST_IMAGE in message and "serve-hostname | netexec | connect | pause" in message


def test_pinned_tag_is_upstreams():
    assert images.AGNHOST_IMAGE == "registry.k8s.io/e2e-test-images/agnhost:2.63.0"
