"""The kernel as the oracle: rules the model renders, loaded into a real network namespace, read back.

For each Service shape and both kube-proxy modes, what kube-proxy writes (``iptables-restore``
input after its setup calls; the ``nft -f`` transaction) is loaded into a fresh namespace, and
the kernel's read-back (``iptables-save`` without its dated comment lines; ``nft list ruleset``)
must be byte-identical to what the model says the node prints. The tools are this machine's
(Debian 12: iptables 1.8.9, nft 1.0.6) and, when ``ENDPOINTS_NODE_TOOLS_ROOT`` names a Debian 13
root with iptables and nftables (``.ci/run`` builds one with debootstrap), the node image's
(iptables 1.8.11, nft 1.1.3) run in that root against the same kernel.

Every namespace is named ``ep-kern-<random>`` and removed after its test, also on failure; the
host's rules, routes and addresses are compared before and after.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import uuid
from dataclasses import dataclass

import pytest
from proxyfixtures import make_endpoint, make_node, make_service, make_slice

from helpers.dataplane import iptables, nftables
from helpers.dataplane.parse import KIND_NODE_TOOLS, NodeTools
from helpers.dataplane.proxy import build_proxy_state

NODE = "endpoints-worker"
OTHER = "endpoints-worker2"
CONFIG = {"clusterCIDR": "10.244.0.0/16"}
SERVICE_CIDRS = ["10.96.0.0/16"]
PREFIX = "ep-kern-"
TIMEOUT = 60


def _run(argv, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=TIMEOUT, check=False)
    if check and proc.returncode != 0:
        raise AssertionError(f"`{' '.join(argv)}` failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc


def _cannot_run() -> str | None:
    """Why this machine cannot run the kernel tests, or None."""
    missing = [t for t in ("ip", "iptables-restore", "iptables-save", "nft") if shutil.which(t) is None]
    if missing:
        return f"missing {', '.join(missing)} (Debian packages iproute2, iptables, nftables)"
    if os.geteuid() != 0:
        return "creating network namespaces needs root"
    name = PREFIX + uuid.uuid4().hex[:10]
    made = _run(["ip", "netns", "add", name], check=False)
    if made.returncode != 0:
        return f"cannot create a network namespace: {made.stderr.strip()}"
    _run(["ip", "netns", "del", name], check=False)
    return None


REASON = _cannot_run()
pytestmark = pytest.mark.skipif(REASON is not None, reason=f"no kernel oracle here: {REASON}")


def _version(argv: list[str]) -> str:
    return re.search(r"v(\d+\.\d+\.\d+)", _run(argv).stdout)[1]


@dataclass(frozen=True)
class Tools:
    """Where the iptables/nft binaries come from, and which versions' printing the model must match."""

    name: str
    prefix: tuple[str, ...]  # argv prefix that runs a binary from this tool set
    profile: NodeTools


def _tool_sets() -> list:
    if REASON is not None:
        return [pytest.param(None, id="no-kernel")]
    host_nft = tuple(int(x) for x in _version(["nft", "--version"]).split("."))
    sets = [pytest.param(Tools("host", (), NodeTools("host", _version(["iptables", "--version"]), host_nft)),
                         id="host-tools")]
    root = os.environ.get("ENDPOINTS_NODE_TOOLS_ROOT")
    if root:
        prefix = ("chroot", root)
        if _version([*prefix, "iptables", "--version"]) != KIND_NODE_TOOLS.iptables or \
                _version([*prefix, "nft", "--version"]) != ".".join(map(str, KIND_NODE_TOOLS.nft)):
            raise AssertionError(f"{root} does not hold the node image's iptables {KIND_NODE_TOOLS.iptables} "
                                 f"and nft {KIND_NODE_TOOLS.nft}")
        sets.append(pytest.param(Tools("kind-node", prefix, KIND_NODE_TOOLS), id="node-image-tools"))
    return sets


TOOL_SETS = _tool_sets()


@pytest.fixture
def netns():
    """A fresh network namespace (``ep-kern-<random>``), deleted afterwards whatever happens."""
    name = PREFIX + uuid.uuid4().hex[:10]
    _run(["ip", "netns", "add", name])
    try:
        yield name
    finally:
        _run(["ip", "netns", "del", name], check=False)
    assert name not in _run(["ip", "netns", "list"]).stdout


def _in(ns: str, tools: Tools, *argv: str, stdin: str | None = None, check: bool = True):
    return _run(["ip", "netns", "exec", ns, *tools.prefix, *argv], stdin=stdin, check=check)


def _nfacct_supported(ns: str) -> bool:
    """Like kube-proxy's nfacct.Ensure: can this kernel create an accounting object (in ``ns``)?"""
    if shutil.which("nfacct") is None:
        return False
    return _run(["ip", "netns", "exec", ns, "nfacct", "add", "ep_kern_probe"], check=False).returncode == 0


# --------------------------------------------------------------------------- the battery


def _svc(name, ip, ports=(("http", 80),), **kw):
    return make_service("kern", name, ip, ports=ports, **kw)


def _slice(svc, endpoints, ports=(("http", 80),), n=1):
    return make_slice("kern", svc, f"{svc}-{n}", endpoints, ports=ports)


def _local(ip, **kw):
    return make_endpoint(ip, node=NODE, **kw)


def _remote(ip, **kw):
    return make_endpoint(ip, node=OTHER, **kw)


def shape_cluster_ip_ports():
    ports = (("http", 80), ("https", 443), ("dns", 53, 0, "UDP"))
    slice_ports = (("http", 8080), ("https", 8443), ("dns", 5353, "UDP"))
    eps = [_local("10.244.1.10"), _remote("10.244.2.3"), _local("10.244.1.2")]
    return [_svc("multi", "10.96.10.1", ports)], [_slice("multi", eps, slice_ports)]


def shape_node_port():
    return ([_svc("np", "10.96.10.2", (("http", 80, 30080),), svc_type="NodePort")],
            [_slice("np", [_remote("10.244.2.7"), _local("10.244.1.7")])])


def shape_load_balancer():
    svc = _svc("lb", "10.96.10.3", (("http", 80, 30081),), svc_type="LoadBalancer",
               lb_ips=("172.18.255.200", "172.18.255.201"), externalIPs=["192.0.2.10"],
               loadBalancerSourceRanges=["203.0.113.0/25", "198.51.100.0/24"])
    return [svc, _svc("lb-open", "10.96.10.4", (("http", 80, 30082),), svc_type="LoadBalancer",
                      lb_ips=("172.18.255.202",))], \
        [_slice("lb", [_remote("10.244.2.8")]), _slice("lb-open", [_local("10.244.1.8"), _remote("10.244.2.9")])]


def shape_external_local():
    here = _svc("etp", "10.96.10.5", (("http", 80, 30083),), svc_type="LoadBalancer", lb_ips=("172.18.255.203",),
                externalTrafficPolicy="Local", healthCheckNodePort=32000)
    elsewhere = _svc("etp-away", "10.96.10.6", (("http", 80, 30084),), svc_type="LoadBalancer",
                     lb_ips=("172.18.255.204",), externalTrafficPolicy="Local", healthCheckNodePort=32001)
    return [here, elsewhere], [_slice("etp", [_local("10.244.1.11"), _remote("10.244.2.11")]),
                               _slice("etp-away", [_remote("10.244.2.12")])]


def shape_internal_local():
    return ([_svc("itp", "10.96.10.7", internalTrafficPolicy="Local"),
             _svc("itp-away", "10.96.10.8", internalTrafficPolicy="Local")],
            [_slice("itp", [_local("10.244.1.13"), _remote("10.244.2.13")]), _slice("itp-away", [_remote("10.244.2.14")])])


def shape_client_ip_affinity():
    eps = [_local("10.244.1.15"), _remote("10.244.2.15"), _remote("10.244.3.15")]
    return ([_svc("sticky", "10.96.10.9", sessionAffinity="ClientIP",
                  sessionAffinityConfig={"clientIP": {"timeoutSeconds": 5400}}),
             _svc("sticky-default", "10.96.10.10", sessionAffinity="ClientIP")],
            [_slice("sticky", eps), _slice("sticky-default", eps[:2])])


def shape_no_endpoints():
    return ([_svc("empty", "10.96.10.11", (("http", 80, 30085),), svc_type="NodePort"), _svc("noslice", "10.96.10.12")],
            [_slice("empty", [])])


def shape_terminating_only():
    term = {"ready": False, "serving": True, "terminating": True}
    eps = [_local("10.244.1.16", **term), _remote("10.244.2.16", **term),
           _remote("10.244.2.17", ready=False, serving=False, terminating=True)]
    return [_svc("draining", "10.96.10.13", (("http", 80, 30086),), svc_type="NodePort")], [_slice("draining", eps)]


def shape_topology_hints():
    eps = [_local("10.244.1.18", zone="zone-a", for_zones=("zone-a",)),
           _remote("10.244.2.18", zone="zone-b", for_zones=("zone-b",)),
           _remote("10.244.3.18", zone="zone-a", for_zones=("zone-a",))]
    return [_svc("zonal", "10.96.10.14", trafficDistribution="PreferClose")], [_slice("zonal", eps)]


def shape_many_endpoints():
    eps = [(_local if i % 3 == 0 else _remote)(f"10.244.{1 + i % 3}.{20 + i}") for i in range(12)]
    return [_svc("wide", "10.96.10.15", (("http", 80, 30087),), svc_type="NodePort")], [_slice("wide", eps)]


BASIC_SHAPES = (
    shape_cluster_ip_ports, shape_node_port, shape_load_balancer, shape_external_local, shape_internal_local,
    shape_client_ip_affinity, shape_no_endpoints, shape_terminating_only, shape_topology_hints,
    shape_many_endpoints)
SHAPES = {f.__name__.removeprefix("shape_"): f for f in BASIC_SHAPES}


def shape_everything():
    services, slices = [], []
    for shape in BASIC_SHAPES:
        more_services, more_slices = shape()
        services += more_services
        slices += more_slices
    return services, slices


SHAPES["everything"] = shape_everything


def _state(shape: str, mode: str):
    services, slices = SHAPES[shape]()
    node = make_node(NODE, ip="172.18.0.3", zone="zone-a", pod_cidr="10.244.1.0/24")
    return build_proxy_state(services, slices, node, {**CONFIG, "mode": mode})


def _without_dated_comments(text: str) -> str:
    return "".join(line + "\n" for line in text.splitlines() if not line.startswith("#"))


def _load_iptables(ns: str, tools: Tools, rules: iptables.IPTablesRules) -> str:
    """Do what kube-proxy does (counters, setup calls, a full restore) and read the kernel back."""
    for counter in rules.nfacct_counters:
        _run(["ip", "netns", "exec", ns, "nfacct", "add", counter])
    for payload in (rules.setup_payload(), rules.restore_payload()):
        _in(ns, tools, "iptables-restore", "--noflush", stdin=payload)
    return _in(ns, tools, "iptables-save").stdout


@pytest.mark.parametrize("tools", TOOL_SETS)
@pytest.mark.parametrize("shape", list(SHAPES))
def test_iptables_read_back_is_the_models_node_form(shape, tools, netns):
    nfacct = _nfacct_supported(netns)
    rules = iptables.render(_state(shape, "iptables"), random_fully=True, nfacct=nfacct)
    assert ("-m nfacct" in rules.restore_payload()) == nfacct
    back = _load_iptables(netns, tools, rules)
    assert _without_dated_comments(back) == rules.iptables_save(tools.profile)


@pytest.mark.parametrize("tools", TOOL_SETS)
@pytest.mark.parametrize("shape", list(SHAPES))
def test_nft_read_back_is_the_models_node_form(shape, tools, netns):
    ruleset = nftables.render(_state(shape, "nftables"), service_cidrs=SERVICE_CIDRS)
    _in(netns, tools, "nft", "-f", "-", stdin=ruleset.nft_input())
    assert _in(netns, tools, "nft", "list", "ruleset").stdout == ruleset.list_ruleset(tools.profile)


@pytest.mark.parametrize("tools", TOOL_SETS)
def test_iptables_save_header_lines_look_like_the_tools(tools, netns):
    rules = iptables.render(_state("node_port", "iptables"), random_fully=True, nfacct=False)
    real = [line for line in _load_iptables(netns, tools, rules).splitlines() if line.startswith("#")]
    modelled = [line for line in rules.iptables_save(tools.profile, when=0).splitlines() if line.startswith("#")]
    date = r"\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}"
    assert len(real) == len(modelled) == 6  # mangle, filter, nat: "Generated by" and "Completed on"
    for ours, theirs in zip(modelled, real, strict=True):
        assert re.sub(date, "DATE", ours) == re.sub(date, "DATE", theirs)
    assert modelled[0] == f"# Generated by iptables-save v{tools.profile.iptables} (nf_tables) on Thu Jan  1 00:00:00 1970"


@pytest.mark.parametrize("tools", TOOL_SETS)
def test_nfacct_counters_must_exist_before_the_rules(tools, netns):
    """Why kube-proxy creates its counters first: the kernel refuses ``-m nfacct`` naming a missing one."""
    if not _nfacct_supported(netns):
        pytest.skip("this kernel cannot create nfacct objects (no nfnetlink_acct), so kube-proxy writes no "
                    "-m nfacct rules; test_iptables_read_back_is_the_models_node_form covers that case")
    rules = iptables.render(_state("node_port", "iptables"), random_fully=True, nfacct=True)
    _in(netns, tools, "iptables-restore", "--noflush", stdin=rules.setup_payload())
    refused = _in(netns, tools, "iptables-restore", "--noflush", stdin=rules.restore_payload(), check=False)
    assert refused.returncode != 0 and "RULE_APPEND failed (No such file or directory)" in refused.stderr


@pytest.mark.parametrize("tools", TOOL_SETS)
def test_named_dstnat_priorities_on_output_hooks_are_what_old_nft_refuses(tools, netns):
    """kube-proxy writes numeric priorities (knftables) because nft 1.0.6 refuses the names on output."""
    chain = "add table ip t\nadd chain ip t c { type filter hook output priority dstnat - 10 ; }\n"
    named = _in(netns, tools, "nft", "-f", "-", stdin=chain, check=False)
    assert (named.returncode == 0) == tools.profile.nft_names_output_dstnat
    if named.returncode != 0:
        assert "invalid priority expression value in this context" in named.stderr


def _host_state() -> dict[str, str]:
    """The host namespace's rules, routes and addresses, counters zeroed (they move with traffic)."""
    def zero(text: str) -> str:
        text = re.sub(r"\[\d+:\d+\]", "[0:0]", text)
        return re.sub(r"counter packets \d+ bytes \d+", "counter", text)

    return {
        "iptables-save": zero(_without_dated_comments(_run(["iptables-save"]).stdout)),
        "nft list ruleset": zero(_run(["nft", "list", "ruleset"]).stdout),
        "ip addr": re.sub(r"valid_lft \S+ preferred_lft \S+", "", _run(["ip", "addr"]).stdout),
        "ip route": _run(["ip", "route"]).stdout,
    }


@pytest.mark.parametrize("tools", TOOL_SETS[:1])
def test_loading_into_a_namespace_leaves_the_host_unchanged(tools):
    before = _host_state()
    names = []
    for mode in ("iptables", "nftables"):
        name = PREFIX + uuid.uuid4().hex[:10]
        names.append(name)
        _run(["ip", "netns", "add", name])
        try:
            if mode == "iptables":
                _load_iptables(name, tools, iptables.render(_state("everything", mode), random_fully=True,
                                                            nfacct=_nfacct_supported(name)))
            else:
                ruleset = nftables.render(_state("everything", mode), service_cidrs=SERVICE_CIDRS)
                _in(name, tools, "nft", "-f", "-", stdin=ruleset.nft_input())
        finally:
            _run(["ip", "netns", "del", name], check=False)
    assert _host_state() == before
    listed = _run(["ip", "netns", "list"]).stdout
    assert not any(name in listed for name in names)
