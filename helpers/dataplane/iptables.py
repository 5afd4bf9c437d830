"""kube-proxy's iptables mode: render a node's ``ProxyState`` as ``iptables-restore`` input.

Follows ``syncProxyRules`` in ``pkg/proxy/iptables/proxier.go`` of the v1.33-v1.35 line:
chain names with 16-character base32(sha256) suffixes, rule argument order, quoted comments,
the 1/(n-i) probability cascade, session affinity (``-m recent``), external-traffic chains
(``KUBE-EXT``), source ranges (``KUBE-FW`` + ``KUBE-PROXY-FIREWALL``), REJECT for services
without endpoints and DROP for "no local endpoints", localhost NodePorts with nfacct
counters, and large-cluster mode (more than 1000 endpoints: no comments on SEP rules).

:func:`render` returns an :class:`IPTablesRules` that knows each service port's rules
separately, so ``stats.py`` can size both full and partial (KEP-3453) restores. Three text forms:

* :meth:`IPTablesRules.restore_payload`: what kube-proxy writes to ``iptables-restore``
  (format ``iptables-restore``);
* :meth:`IPTablesRules.iptables_save`: what ``iptables-save`` prints on the node afterwards,
  the kernel's canonical form (format ``iptables``), byte-identical to the read-back of a real
  kernel (tests/test_dataplane_kernel.py);
* :meth:`IPTablesRules.dump`: the normalised form upstream's tests compare against.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
from dataclasses import dataclass, field
from functools import lru_cache

from helpers.dataplane.parse import (
    KIND_NODE_TOOLS,
    IPTablesDump,
    NodeTools,
    canonical_iptables_rule,
    parse_iptables_save,
)
from helpers.dataplane.proxy import Endpoint, LocalDetector, ProxyState, ServicePortState, build_proxy_state

KUBE_SERVICES = "KUBE-SERVICES"
KUBE_EXTERNAL_SERVICES = "KUBE-EXTERNAL-SERVICES"
KUBE_NODEPORTS = "KUBE-NODEPORTS"
KUBE_POSTROUTING = "KUBE-POSTROUTING"
KUBE_MARK_MASQ = "KUBE-MARK-MASQ"
KUBE_FORWARD = "KUBE-FORWARD"
KUBE_PROXY_FIREWALL = "KUBE-PROXY-FIREWALL"
KUBE_FIREWALL = "KUBE-FIREWALL"
KUBE_PROXY_CANARY = "KUBE-PROXY-CANARY"
LARGE_CLUSTER_ENDPOINTS_THRESHOLD = 1000
NFACCT_LOCALHOST_NODEPORTS = "localhost_nps_accepted_pkts"
NFACCT_CT_INVALID = "ct_state_invalid_dropped_pkts"
SERVICE_CHAIN_PREFIXES = ("KUBE-SVC-", "KUBE-SVL-", "KUBE-EXT-", "KUBE-FW-", "KUBE-SEP-")

# Jumps from built-in chains that kube-proxy ensures (iptablesJumpChains plus the kubelet's
# KUBE-FIREWALL jumps): (table, built-in chain, extra args, comment, target).
_JUMPS = (
    ("filter", "INPUT", "-m conntrack --ctstate NEW", "kubernetes externally-visible service portals",
     KUBE_EXTERNAL_SERVICES),
    ("filter", "FORWARD", "-m conntrack --ctstate NEW", "kubernetes externally-visible service portals",
     KUBE_EXTERNAL_SERVICES),
    ("filter", "INPUT", "", "kubernetes health check service ports", KUBE_NODEPORTS),
    ("filter", "FORWARD", "-m conntrack --ctstate NEW", "kubernetes service portals", KUBE_SERVICES),
    ("filter", "OUTPUT", "-m conntrack --ctstate NEW", "kubernetes service portals", KUBE_SERVICES),
    ("filter", "FORWARD", "", "kubernetes forwarding rules", KUBE_FORWARD),
    ("filter", "INPUT", "-m conntrack --ctstate NEW", "kubernetes load balancer firewall", KUBE_PROXY_FIREWALL),
    ("filter", "OUTPUT", "-m conntrack --ctstate NEW", "kubernetes load balancer firewall", KUBE_PROXY_FIREWALL),
    ("filter", "FORWARD", "-m conntrack --ctstate NEW", "kubernetes load balancer firewall", KUBE_PROXY_FIREWALL),
    ("nat", "OUTPUT", "", "kubernetes service portals", KUBE_SERVICES),
    ("nat", "PREROUTING", "", "kubernetes service portals", KUBE_SERVICES),
    ("nat", "POSTROUTING", "", "kubernetes postrouting rules", KUBE_POSTROUTING),
    ("filter", "INPUT", "", "", KUBE_FIREWALL),
    ("filter", "OUTPUT", "", "", KUBE_FIREWALL),
)


# --------------------------------------------------------------------------- names


@lru_cache(maxsize=65536)
def _hash16(text: str) -> str:
    # base32 encodes 5-byte groups independently: the first 16 characters are the first 10 bytes.
    return base64.b32encode(hashlib.sha256(text.encode()).digest()[:10]).decode()


def port_proto_hash(service_port_name: str, protocol: str) -> str:
    """upstream portProtoHash: base32(sha256("ns/svc:port" + "tcp"))[:16]."""
    return _hash16(service_port_name + protocol.lower())


def service_chain(prefix: str, service_port_name: str, protocol: str) -> str:
    """``KUBE-SVC-``/``SVL-``/``EXT-``/``FW-`` + the shared 16-character hash."""
    return prefix + port_proto_hash(service_port_name, protocol)


def endpoint_chain(service_port_name: str, protocol: str, endpoint: str) -> str:
    """``KUBE-SEP-`` + base32(sha256("ns/svc:port" + "tcp" + "ip:port"))[:16]."""
    return "KUBE-SEP-" + _hash16(service_port_name + protocol.lower() + endpoint)


@lru_cache(maxsize=4096)
def probability(n: int) -> str:
    """The ``--probability`` string for the first of n remaining endpoints (Go's %0.10f of 1/n)."""
    return f"{1.0 / n:0.10f}"


def comment(text: str) -> str:
    """``-m comment --comment X``, quoted only when X has a space, as kube-proxy writes it."""
    return f'-m comment --comment "{text}"' if " " in text else f"-m comment --comment {text}"


def masquerade_mark(bit: int) -> str:
    return hex(1 << bit)


# --------------------------------------------------------------------------- rendering


@dataclass
class PortRules:
    """One service port's share of the restore payload.

    ``filter_rules`` and ``nat_shared`` land in shared chains (rewritten on every sync);
    ``chains``/``chain_rules`` are the per-service ``KUBE-SVC/SVL/EXT/FW/SEP`` chains a partial
    sync skips when the service did not change.
    """

    state: ServicePortState
    filter_rules: list[str] = field(default_factory=list)
    nat_shared: list[str] = field(default_factory=list)
    chains: list[str] = field(default_factory=list)
    chain_rules: list[str] = field(default_factory=list)

    @property
    def service(self) -> tuple[str, str]:
        return self.state.service


@dataclass
class IPTablesRules:
    """A node's full iptables programme, split the way the proxier writes it."""

    filter_chains: list[str]
    filter_head: list[str]
    nat_chains: list[str]
    nat_head: list[str]
    ports: list[PortRules]
    nat_tail: list[str]
    filter_tail: list[str]
    hooks: list[tuple[str, str, str]]  # (table, built-in chain, rule): kube-proxy's jumps from built-in chains
    large_cluster_mode: bool
    hooks_in_dump: bool = False
    nfacct_counters: tuple[str, ...] = ()  # the nfacct objects kube-proxy creates (nfacct.Ensure) before its rules

    def service_chains(self) -> set[str]:
        """Every per-service chain this ruleset declares."""
        return {c for p in self.ports for c in p.chains}

    def restore_payload(self, changed: set | None = None, stale: list[str] | tuple = ()) -> str:
        """The ``iptables-restore --noflush`` text in upstream's write order.

        ``changed`` = None means a full sync; otherwise only ports whose (namespace, name) is
        in ``changed`` get their per-service chains written. ``stale`` chains are flushed
        (declared) and deleted with ``-X``.
        """
        f_chains, f_rules = list(self.filter_chains), list(self.filter_head)
        n_chains, n_rules = list(self.nat_chains), list(self.nat_head)
        for port in self.ports:
            f_rules += port.filter_rules
            n_rules += port.nat_shared
            if changed is None or port.service in changed:
                n_chains += port.chains
                n_rules += port.chain_rules
        n_chains += stale
        n_rules += [f"-X {c}" for c in stale]
        n_rules += self.nat_tail
        f_rules += self.filter_tail
        parts = ["*filter", *[f":{c} - [0:0]" for c in f_chains], *f_rules, "COMMIT",
                 "*nat", *[f":{c} - [0:0]" for c in n_chains], *n_rules, "COMMIT"]
        return "\n".join(parts) + "\n"

    def setup_payload(self) -> str:
        """What kube-proxy's EnsureChain/EnsureRule calls leave besides the restore payload, as one
        ``iptables-restore --noflush`` input: the ``KUBE-PROXY-CANARY`` chains it watches for
        flushes and the jumps from built-in chains (each call prepends, so they are listed in the
        order they end up in)."""
        tables: dict[str, list[str]] = {"mangle": [], "filter": [], "nat": []}
        for table, _, rule in self.hooks:
            target = rule.rsplit(" -j ", 1)[1]
            if f":{target} - [0:0]" not in tables[table]:
                tables[table].append(f":{target} - [0:0]")
        parts = []
        for table, chains in tables.items():
            rules = [rule for t, _, rule in self.hooks if t == table]
            parts += [f"*{table}", f":{KUBE_PROXY_CANARY} - [0:0]", *chains, *rules, "COMMIT"]
        return "\n".join(parts) + "\n"

    def node_dump(self) -> IPTablesDump:
        """What the node's kernel holds after :meth:`setup_payload` and a full
        :meth:`restore_payload`: every chain, each rule in the kernel's form and write order."""
        dump = parse_iptables_save(self.setup_payload())
        for table, chains in parse_iptables_save(self.restore_payload()).tables.items():
            for chain, rules in chains.items():
                dump.tables.setdefault(table, {}).setdefault(chain, []).extend(rules)
        for chains in dump.tables.values():
            for chain, rules in chains.items():
                chains[chain] = [canonical_iptables_rule(r) for r in rules]
        return dump

    def iptables_save(self, tools: NodeTools = KIND_NODE_TOOLS, when: float | None = None) -> str:
        """``iptables-save`` on the node: its canonical form (``/32`` masks, generic matches first,
        quoted comments, ``--set-xmark``, 11-digit probabilities, built-in chains first), printed by
        ``tools``; ``when`` adds the dated comment lines iptables-save writes around each table."""
        return self.node_dump().save_text(tools, when)

    def dump(self) -> IPTablesDump:
        """The programmed state as tables/chains/rules, normalised like upstream's tests."""
        dump = IPTablesDump()
        hooks = self.hooks if self.hooks_in_dump else []
        for table, builtin, rule in hooks:
            dump.tables.setdefault(table, {}).setdefault(builtin, []).append(rule)
            dump.policies[(table, builtin)] = "ACCEPT"
        if hooks:  # a node also has the empty canary chains kube-proxy watches for flushes
            for table in ("mangle", "nat", "filter"):
                dump.tables.setdefault(table, {})[KUBE_PROXY_CANARY] = []
        for table, chains, rules in (
            ("filter", self.filter_chains, self.filter_head + [r for p in self.ports for r in p.filter_rules]
             + self.filter_tail),
            ("nat", self.nat_chains + [c for p in self.ports for c in p.chains],
             self.nat_head + [r for p in self.ports for r in p.nat_shared + p.chain_rules] + self.nat_tail),
        ):
            tbl = dump.tables.setdefault(table, {})
            for chain in chains:
                tbl.setdefault(chain, [])
            for rule in rules:
                tbl[rule.split(" ", 2)[1]].append(rule)
        return dump.normalized()


@dataclass(frozen=True)
class _Ctx:
    """Per-sync settings shared by every service port."""

    proto_detector: LocalDetector | None
    masquerade_all: bool
    localhost_nodeports: bool
    nfacct: bool
    large: bool
    node_ips: tuple[str, ...]


def _if_local(det: LocalDetector, negate: bool) -> str:
    bang = "! " if negate else ""
    if det.kind == "cidr":
        return f"{bang}-s {det.value}"
    if det.kind == "bridge":
        return f"{bang}-i {det.value}"
    return f"{bang}-i {det.value}+"


def _maybe_comment(ctx: _Ctx, text: str) -> str:
    """appendServiceCommentLocked: large-cluster mode drops per-endpoint comments."""
    return "" if ctx.large else " " + comment(text)


def _service_to_endpoint_rules(ctx: _Ctx, spn: str, proto: str, chain: str, endpoints, timeout) -> list[str]:
    rules = []
    if timeout is not None:
        for ep in endpoints:
            sep = endpoint_chain(spn, proto, str(ep))
            rules.append(f"-A {chain}{_maybe_comment(ctx, f'{spn} -> {ep}')} -m recent --name {sep} "
                         f"--rcheck --seconds {timeout} --reap -j {sep}")
    n = len(endpoints)
    for i, ep in enumerate(endpoints):
        stat = f" -m statistic --mode random --probability {probability(n - i)}" if i < n - 1 else ""
        rules.append(f"-A {chain}{_maybe_comment(ctx, f'{spn} -> {ep}')}{stat} -j "
                     f"{endpoint_chain(spn, proto, str(ep))}")
    return rules


def _endpoint_rules(ctx: _Ctx, spn: str, proto: str, ep: Endpoint, affinity: bool) -> tuple[str, list[str]]:
    sep = endpoint_chain(spn, proto, str(ep))
    head = f"-A {sep}{_maybe_comment(ctx, spn)}"
    recent = f" -m recent --name {sep} --set" if affinity else ""
    return sep, [f"{head} -s {ep.ip} -j {KUBE_MARK_MASQ}",
                 f"{head}{recent} -m {proto} -p {proto} -j DNAT --to-destination {ep}"]


@dataclass(frozen=True)
class _Chains:
    """The per-service chain names, which share one hash."""

    svc: str
    svl: str
    ext: str
    fw: str

    @classmethod
    def of(cls, spn: str, proto: str) -> _Chains:
        return cls(*(service_chain(p, spn, proto) for p in ("KUBE-SVC-", "KUBE-SVL-", "KUBE-EXT-", "KUBE-FW-")))


def _port_rules(ctx: _Ctx, st: ServicePortState) -> PortRules:
    """One iteration of syncProxyRules' per-service-port loop."""
    sp, plan = st.service_port, st.plan
    spn, proto = str(sp.name), sp.protocol.lower()
    names = _Chains.of(spn, proto)
    uses_fw = plan.has_endpoints and bool(sp.load_balancer_vips) and bool(sp.load_balancer_source_ranges)
    out = PortRules(st)
    out.nat_shared, out.filter_rules = _entry_rules(ctx, st, names, uses_fw)
    out.chains, out.chain_rules = _service_chains(ctx, st, names, uses_fw)
    return out


def _entry_rules(ctx: _Ctx, st: ServicePortState, names: _Chains, uses_fw: bool) -> tuple[list, list]:
    """Rules in the shared chains: nat KUBE-SERVICES/KUBE-NODEPORTS and the filter table."""
    sp, plan = st.service_port, st.plan
    spn, proto = str(sp.name), sp.protocol.lower()
    nat, filt = [], []
    match, dport = f"-m {proto} -p {proto}", f"--dport {sp.port}"
    verdict = plan.no_endpoints_verdict
    why = comment(f"{spn} has no endpoints" if not plan.has_endpoints else f"{spn} has no local endpoints")
    internal = names.svl if plan.internal_local else names.svc
    if plan.has_internal:
        nat.append(f"-A {KUBE_SERVICES} {comment(f'{spn} cluster IP')} {match} -d {sp.cluster_ip} {dport} "
                   f"-j {internal}")
    else:
        filt.append(f"-A {KUBE_SERVICES} {why} {match} -d {sp.cluster_ip} {dport} -j {verdict}")
    for ip in sp.external_ips:
        if plan.has_endpoints:
            nat.append(f"-A {KUBE_SERVICES} {comment(f'{spn} external IP')} {match} -d {ip} {dport} -j {names.ext}")
        if not plan.has_external:
            filt.append(f"-A {KUBE_EXTERNAL_SERVICES} {why} {match} -d {ip} {dport} -j {verdict}")
    for ip in sp.load_balancer_vips:
        if plan.has_endpoints:
            nat.append(f"-A {KUBE_SERVICES} {comment(f'{spn} loadbalancer IP')} {match} -d {ip} {dport} "
                       f"-j {names.fw if uses_fw else names.ext}")
        if uses_fw:
            filt.append(f"-A {KUBE_PROXY_FIREWALL} {comment(f'{spn} traffic not accepted by {names.fw}')} {match} "
                        f"-d {ip} {dport} -j DROP")
    if not plan.has_external:
        filt += [f"-A {KUBE_EXTERNAL_SERVICES} {why} {match} -d {ip} {dport} -j {verdict}"
                 for ip in sp.load_balancer_vips]
    if sp.node_port:
        if plan.has_endpoints:
            if ctx.localhost_nodeports and ctx.nfacct:
                nat.append(f"-A {KUBE_NODEPORTS} {comment(spn)} {match} -d 127.0.0.0/8 --dport {sp.node_port} "
                           f"-m nfacct --nfacct-name {NFACCT_LOCALHOST_NODEPORTS} -j {names.ext}")
            nat.append(f"-A {KUBE_NODEPORTS} {comment(spn)} {match} --dport {sp.node_port} -j {names.ext}")
        if not plan.has_external:
            filt.append(f"-A {KUBE_EXTERNAL_SERVICES} {why} -m addrtype --dst-type LOCAL {match} "
                        f"--dport {sp.node_port} -j {verdict}")
    if sp.health_check_node_port:
        filt.append(f"-A {KUBE_NODEPORTS} {comment(f'{spn} health check node port')} -m tcp -p tcp "
                    f"--dport {sp.health_check_node_port} -j ACCEPT")
    return nat, filt


def _service_chains(ctx: _Ctx, st: ServicePortState, names: _Chains, uses_fw: bool) -> tuple[list, list]:
    """The per-service chains (EXT, FW, SVC, SVL, SEP) and their rules: what a partial sync may skip."""
    sp, plan, cat = st.service_port, st.plan, st.categorized
    spn, proto = str(sp.name), sp.protocol.lower()
    chains, rules = [], []
    if plan.has_internal:
        internal = names.svl if plan.internal_local else names.svc
        args = f"{comment(f'{spn} cluster IP')} -m {proto} -p {proto} -d {sp.cluster_ip} --dport {sp.port}"
        if ctx.masquerade_all:
            rules.append(f"-A {internal} {args} -j {KUBE_MARK_MASQ}")
        elif ctx.proto_detector is not None:
            rules.append(f"-A {internal} {args} {_if_local(ctx.proto_detector, True)} -j {KUBE_MARK_MASQ}")
    if plan.uses_external_chain:
        chains.append(names.ext)
        policy = (names.svl if plan.external_local else names.svc) if plan.has_external else None
        rules += _external_chain_rules(ctx, spn, plan.external_local, names.ext, names.svc, policy)
    if uses_fw:
        chains.append(names.fw)
        rules += _firewall_rules(ctx, spn, sp, names.fw, names.ext)
    if plan.uses_cluster_chain:
        chains.append(names.svc)
        rules += _service_to_endpoint_rules(ctx, spn, proto, names.svc, cat.cluster, sp.session_affinity_timeout)
    if plan.uses_local_chain:
        chains.append(names.svl)
        rules += _service_to_endpoint_rules(ctx, spn, proto, names.svl, cat.local, sp.session_affinity_timeout)
    for ep in cat.all_reachable:
        sep, sep_rules = _endpoint_rules(ctx, spn, proto, ep, sp.session_affinity_timeout is not None)
        chains.append(sep)
        rules += sep_rules
    return chains, rules


def _external_chain_rules(ctx: _Ctx, spn: str, etp_local: bool, ext: str, svc: str, policy: str | None) -> list:
    if not etp_local:
        rules = [f"-A {ext} {comment(f'masquerade traffic for {spn} external destinations')} -j {KUBE_MARK_MASQ}"]
    else:
        rules = []
        if ctx.proto_detector is not None:
            rules.append(f"-A {ext} {comment(f'pod traffic for {spn} external destinations')} "
                         f"{_if_local(ctx.proto_detector, False)} -j {svc}")
        rules += [
            (f"-A {ext} {comment(f'masquerade LOCAL traffic for {spn} external destinations')} "
            f"-m addrtype --src-type LOCAL -j {KUBE_MARK_MASQ}"),
            (f"-A {ext} {comment(f'route LOCAL traffic for {spn} external destinations')} "
            f"-m addrtype --src-type LOCAL -j {svc}"),
        ]
    if policy is not None:
        rules.append(f"-A {ext} -j {policy}")
    return rules


def _firewall_rules(ctx: _Ctx, spn: str, sp, fw: str, ext: str) -> list[str]:
    head = f"-A {fw} {comment(f'{spn} loadbalancer IP')}"
    rules = [f"{head} -s {cidr} -j {ext}" for cidr in sp.load_balancer_source_ranges]
    allow_from_node = any(
        ipaddress.ip_address(ip) in ipaddress.ip_network(cidr, strict=False)
        for cidr in sp.load_balancer_source_ranges for ip in ctx.node_ips[:1]
    )
    if allow_from_node:
        rules += [f"{head} -s {ip} -j {ext}" for ip in sp.load_balancer_vips]
    rules.append(f"-A {fw} {comment(f'other traffic to {spn} will be dropped by KUBE-PROXY-FIREWALL')}")
    return rules


def _nodeport_tail(state: ProxyState, localhost_nodeports: bool) -> list[str]:
    """The "must be the last rule" jump(s) from KUBE-SERVICES to KUBE-NODEPORTS."""
    text = comment("kubernetes service nodeports; NOTE: this must be the last rule in this chain")
    cidrs = [c for c in state.config.get("nodePortAddresses") or [] if c]
    if not cidrs:
        dest = "-m addrtype --dst-type LOCAL" + ("" if localhost_nodeports else " ! -d 127.0.0.0/8")
        return [f"-A {KUBE_SERVICES} {text} {dest} -j {KUBE_NODEPORTS}"]
    candidates = list(state.node.ips) + ["127.0.0.1"]
    ips = []
    for cidr in cidrs:
        if cidr == "primary":
            ips += list(state.node.ips[:1])
            continue
        net = ipaddress.ip_network(cidr, strict=False)
        ips += [ip for ip in candidates if ipaddress.ip_address(ip) in net]
    ips = [ip for ip in dict.fromkeys(ips) if localhost_nodeports or not ip.startswith("127.")]
    return [f"-A {KUBE_SERVICES} {text} -d {ip} -j {KUBE_NODEPORTS}" for ip in ips]


def render(state: ProxyState, *, nfacct: bool = True, random_fully: bool = False,
           include_hooks: bool = False) -> IPTablesRules:
    """Render what kube-proxy's iptables proxier programs for ``state``.

    ``nfacct``: whether the kernel has nfacct. kube-proxy asks for its two counters
    (``nfacct.Ensure`` in syncProxyRules, pkg/proxy/iptables/proxier.go) and writes the
    ``-m nfacct`` matches on the localhost-NodePort and INVALID-drop rules only for counters it
    could create; without kernel support (nfnetlink_acct) the rules have no counter, and with it
    the counters must exist before the rules load (the kernel refuses ``-m nfacct`` naming a
    missing one: ``RULE_APPEND failed (No such file or directory)``). Upstream's newest tests
    assume support. ``random_fully`` adds ``--random-fully`` to
    MASQUERADE (real hosts have it; upstream's fake iptables does not); ``include_hooks`` puts
    in :meth:`IPTablesRules.dump` what ``iptables-save`` on a node shows beyond the restore
    payload: the jumps from built-in chains and the ``KUBE-PROXY-CANARY`` chains.
    """
    ipt = state.config["iptables"]
    mark = masquerade_mark(int(ipt["masqueradeBit"]))
    localhost_nodeports = bool(ipt["localhostNodePorts"])
    ctx = _Ctx(state.detector, bool(ipt["masqueradeAll"]), localhost_nodeports, nfacct,
               state.total_endpoints > LARGE_CLUSTER_ENDPOINTS_THRESHOLD, state.node.ips)
    filter_chains = [KUBE_SERVICES, KUBE_EXTERNAL_SERVICES, KUBE_FORWARD, KUBE_NODEPORTS, KUBE_PROXY_FIREWALL]
    filter_head = []
    if localhost_nodeports:
        filter_chains.append(KUBE_FIREWALL)
        filter_head.append(f"-A {KUBE_FIREWALL} {comment('block incoming localnet connections')} -d 127.0.0.0/8 "
                           "! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP")
    masq = f"-A {KUBE_POSTROUTING} {comment('kubernetes service traffic requiring SNAT')} -j MASQUERADE"
    nat_head = [
        f"-A {KUBE_POSTROUTING} -m mark ! --mark {mark}/{mark} -j RETURN",
        f"-A {KUBE_POSTROUTING} -j MARK --xor-mark {mark}",
        masq + (" --random-fully" if random_fully else ""),
        f"-A {KUBE_MARK_MASQ} -j MARK --or-mark {mark}",
    ]
    filter_tail = []
    if not state.config["conntrack"].get("tcpBeLiberal"):
        acct = f" -m nfacct --nfacct-name {NFACCT_CT_INVALID}" if nfacct else ""
        filter_tail.append(f"-A {KUBE_FORWARD} -m conntrack --ctstate INVALID{acct} -j DROP")
    filter_tail += [
        f"-A {KUBE_FORWARD} {comment('kubernetes forwarding rules')} -m mark --mark {mark}/{mark} -j ACCEPT",
        (f"-A {KUBE_FORWARD} {comment('kubernetes forwarding conntrack rule')} -m conntrack --ctstate "
        "RELATED,ESTABLISHED -j ACCEPT"),
    ]
    return IPTablesRules(
        filter_chains=filter_chains,
        filter_head=filter_head,
        nat_chains=[KUBE_SERVICES, KUBE_NODEPORTS, KUBE_POSTROUTING, KUBE_MARK_MASQ],
        nat_head=nat_head,
        ports=[_port_rules(ctx, st) for st in state.ports],
        nat_tail=_nodeport_tail(state, localhost_nodeports),
        filter_tail=filter_tail,
        hooks=_hooks(localhost_nodeports),
        large_cluster_mode=ctx.large,
        hooks_in_dump=include_hooks,
        nfacct_counters=(NFACCT_CT_INVALID, NFACCT_LOCALHOST_NODEPORTS) if nfacct else (),
    )


def _hooks(localhost_nodeports: bool) -> list[tuple[str, str, str]]:
    """Jump rules in built-in chains; each is prepended, so later ones end up first."""
    out = []
    for table, builtin, extra, text, target in _JUMPS:
        if target == KUBE_FIREWALL and not localhost_nodeports:
            continue
        parts = [f"-A {builtin}", extra, comment(text) if text else "", f"-j {target}"]
        out.append((table, builtin, " ".join(p for p in parts if p)))
    return out[::-1]


IPTABLES_FORMATS = ("normalized", "iptables-restore", "iptables-save")


def iptables_save(services=(), endpoint_slices=(), node=None, config=None, *, nfacct: bool = True,
                  random_fully: bool = False, include_hooks: bool = False, fmt: str = "normalized",
                  tools: NodeTools = KIND_NODE_TOOLS) -> str:
    """The node's kube-proxy rules (filter and nat tables) as text.

    ``fmt="normalized"`` gives upstream's test form (byte-identical to ``TestOverallIPTablesRules``
    for its inputs); ``"iptables-restore"`` what kube-proxy writes; ``"iptables-save"`` what the
    node's ``iptables-save`` (``tools``) prints afterwards. ``services``/``endpoint_slices``/``node``
    are API dicts; ``config`` uses KubeProxyConfiguration v1alpha1 field names (see
    :func:`helpers.dataplane.proxy.default_config`).
    """
    if fmt not in IPTABLES_FORMATS:
        raise ValueError(f"fmt must be one of {', '.join(IPTABLES_FORMATS)}, not {fmt!r}")
    state = build_proxy_state(list(services), list(endpoint_slices), node, config)
    rules = render(state, nfacct=nfacct, random_fully=random_fully, include_hooks=include_hooks)
    if fmt == "iptables-restore":
        return rules.restore_payload()
    return rules.iptables_save(tools) if fmt == "iptables-save" else rules.dump().format()
