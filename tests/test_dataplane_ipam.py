"""host-local IPAM model: range bounds, round-robin order, exhaustion, release and reuse."""

import pytest

from helpers.dataplane.ipam import HostLocalIPAM, IPAMExhausted


def fill(ipam, prefix="pod"):
    """Allocate until host-local gives up; return the IPs handed out and the error."""
    ips = []
    with pytest.raises(IPAMExhausted) as err:
        while True:
            ips.append(ipam.allocate(f"{prefix}-{len(ips)}"))
    return ips, err.value


def test_first_pod_gets_dot_two_and_gateway_is_dot_one():
    ipam = HostLocalIPAM("10.244.1.0/24")
    assert ipam.gateway == "10.244.1.1"
    assert ipam.allocate("a") == "10.244.1.2"
    assert ipam.allocate("b") == "10.244.1.3"
    assert ipam.allocated == {"a": "10.244.1.2", "b": "10.244.1.3"}
    assert repr(ipam) == "HostLocalIPAM(10.244.1.0/24: 2/253 allocated, last reserved 10.244.1.3)"


def test_slash_24_holds_253_pods_then_reports_host_local_error():
    ipam = HostLocalIPAM("10.244.1.0/24")
    ips, err = fill(ipam)
    assert len(ips) == 253 == ipam.capacity
    assert ips[0] == "10.244.1.2" and ips[-1] == "10.244.1.254"
    assert "10.244.1.1" not in ips and "10.244.1.255" not in ips and "10.244.1.0" not in ips
    assert str(err) == "no IP addresses available in range set: 10.244.1.1-10.244.1.254"


def test_slash_28_holds_13_pods():
    ipam = HostLocalIPAM("10.244.2.16/28")
    ips, err = fill(ipam)
    assert ips == [f"10.244.2.{n}" for n in range(18, 31)]
    assert str(err) == "no IP addresses available in range set: 10.244.2.17-10.244.2.30"


def test_allocate_is_idempotent_per_key():
    ipam = HostLocalIPAM("10.244.1.0/24")
    first = ipam.allocate("a")
    assert ipam.allocate("a") == first
    assert ipam.allocate("b") == "10.244.1.3"


def test_released_ip_is_reused_only_after_wrapping():
    ipam = HostLocalIPAM("10.244.2.16/28")
    for key in "abc":
        ipam.allocate(key)
    assert ipam.release("b") == "10.244.2.19"
    assert ipam.last_reserved == "10.244.2.20"
    assert ipam.allocate("d") == "10.244.2.21"  # not the freed .19
    for n in range(22, 31):
        assert ipam.allocate(f"x{n}") == f"10.244.2.{n}"
    assert ipam.allocate("wrapped") == "10.244.2.19"  # the only free address, found after wrapping
    with pytest.raises(IPAMExhausted):
        ipam.allocate("one-too-many")


def test_search_continues_after_last_reserved_even_when_earlier_ips_free():
    ipam = HostLocalIPAM("10.244.2.16/28")
    fill(ipam)
    ipam.release("pod-0")  # .18
    ipam.release("pod-12")  # .30, the last reserved one
    # Search starts after .30, wraps to the range start, skips the gateway .17 and finds .18.
    assert ipam.allocate("next") == "10.244.2.18"
    assert ipam.allocate("after") == "10.244.2.30"


def test_release_unknown_key_is_noop():
    ipam = HostLocalIPAM("10.244.1.0/24")
    assert ipam.release("nobody") is None
    assert ipam.allocated == {}


def test_ipv6_range_has_no_broadcast_exclusion():
    ipam = HostLocalIPAM("fd00:10:244::/126")
    ips, err = fill(ipam)
    assert ipam.gateway == "fd00:10:244::1"
    assert ips == ["fd00:10:244::2", "fd00:10:244::3"]
    assert str(err) == "no IP addresses available in range set: fd00:10:244::1-fd00:10:244::3"


@pytest.mark.parametrize(
    "cidr, message",
    [
        ("10.244.1.0/31", "Network 10.244.1.0/31 too small to allocate from"),
        ("10.244.1.5/24", "invalid podCIDR '10.244.1.5/24'"),
        ("banana", "invalid podCIDR 'banana'"),
    ],
)
def test_bad_pod_cidr_is_a_clear_error(cidr, message):
    with pytest.raises(ValueError, match=message.replace(".", r"\.")):
        HostLocalIPAM(cidr)
