"""What the host namespace looks like, for tests that show a kernel data plane left it unchanged.

The links (``ip -d link``), addresses, routes and policy rules of the host's namespace, its
iptables and nftables rules, and the sysctls a kube-proxy or a node set-up could write, with
packet counters and address lifetimes (which move by themselves) taken out.
"""

from __future__ import annotations

import re
from pathlib import Path

from helpers.sim.kernel.netns import run

# The conntrack table size (global), the per-namespace values kube-proxy sets, and forwarding.
SYSCTLS = ("net/netfilter/nf_conntrack_max", "net/netfilter/nf_conntrack_tcp_timeout_established",
           "net/netfilter/nf_conntrack_tcp_timeout_close_wait", "net/netfilter/nf_conntrack_tcp_be_liberal",
           "net/ipv4/conf/all/route_localnet", "net/ipv4/ip_forward", "net/ipv4/conf/all/forwarding",
           "net/ipv4/conf/all/rp_filter", "net/bridge/bridge-nf-call-iptables")
_COUNTERS = re.compile(r"\[\d+:\d+\]")
_NFT_COUNTERS = re.compile(r"counter packets \d+ bytes \d+")
_LIFETIMES = re.compile(r"\s*valid_lft \S+ preferred_lft \S+")
_LINK_STATS = re.compile(r"\n\s+(RX|TX):.*\n.*")  # -s is not asked for, but keep it out if a tool adds it


def without_comments(text: str) -> str:
    """iptables-save output without its dated ``#`` lines."""
    return "".join(line for line in text.splitlines(keepends=True) if not line.startswith("#"))


def zero_counters(text: str) -> str:
    return _NFT_COUNTERS.sub("counter", _COUNTERS.sub("[0:0]", text))


def host_state() -> dict[str, str]:
    """The host namespace's interfaces, routes, rules and sysctls, in a form that does not move by itself."""
    state = {
        "ip -d link": _LINK_STATS.sub("", run(["ip", "-d", "link"])),
        "ip addr": _LIFETIMES.sub("", run(["ip", "addr"])),
        "ip route": run(["ip", "route", "show", "table", "all"]),
        "ip -6 route": run(["ip", "-6", "route", "show", "table", "all"]),
        "ip rule": run(["ip", "rule"]),
        "iptables-save": zero_counters(without_comments(run(["iptables-save"]))),
        "ip6tables-save": zero_counters(without_comments(run(["ip6tables-save"]))),
        "nft list ruleset": zero_counters(run(["nft", "list", "ruleset"])),
    }
    for key in SYSCTLS:
        path = Path("/proc/sys") / key
        if path.exists():
            state[key] = path.read_text()
    return state


def changes(before: dict[str, str], after: dict[str, str]) -> dict[str, tuple[str | None, str | None]]:
    """What differs between two ``host_state()`` readings, as {key: (before, after)}. A sysctl that only
    appeared is left out: a netfilter module the kernel loaded on first use (nf_conntrack, as on any kind
    node) adds its entries with their defaults, which is no setting of ours."""
    appeared = {k for k in after.keys() - before.keys() if k in SYSCTLS}
    return {k: (before.get(k), after.get(k)) for k in before.keys() | after.keys()
            if k not in appeared and before.get(k) != after.get(k)}
