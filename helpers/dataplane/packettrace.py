"""Walk a packet through a node's kube-proxy rules: which endpoints, with what probability.

Modelled on the tracers in upstream's ``pkg/proxy/{iptables,nftables}/proxier_test.go``:
a new connection (no conntrack state, no affinity history) from ``source`` to
``destination`` runs through ``nat`` (PREROUTING, or OUTPUT for traffic from the node
itself), then the filter chains that can DROP/REJECT it. Unlike upstream's tracer, which only
lists reachable endpoints, every ``--probability`` rule forks the walk, so each outcome
carries the chance of taking that path (the 1/(n-i) cascade gives each endpoint 1/n), and
nftables' ``numgen random mod N`` gives each entry of its DNAT map (or, with ClientIP affinity, its vmap) 1/N.

Works on rendered rules and on rules read from a kind node (``iptables-save`` text).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field

from helpers.dataplane import iptables, nftables
from helpers.dataplane.parse import (
    IPTablesDump,
    NFTTable,
    Rule,
    parse_iptables_save,
    parse_nft_ruleset,
    parse_rule,
)
from helpers.dataplane.proxy import build_proxy_state, node_info
from helpers.dataplane.stats import render

FILTER_CHAINS = ("KUBE-SERVICES", "KUBE-EXTERNAL-SERVICES", "KUBE-NODEPORTS", "KUBE-PROXY-FIREWALL")
TERMINAL = ("ACCEPT", "DROP", "REJECT")


@dataclass(frozen=True)
class Outcome:
    """One way the packet can go: an endpoint ``ip:port``, ``DROP``/``REJECT``, or ``no rule``."""

    target: str
    probability: float
    masquerade: bool
    path: tuple[str, ...]


@dataclass
class Trace:
    source: str
    destination: str
    protocol: str
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def endpoints(self) -> dict[str, float]:
        """Outcome -> total probability (several paths can reach the same endpoint)."""
        out: dict[str, float] = {}
        for o in self.outcomes:
            out[o.target] = out.get(o.target, 0.0) + o.probability
        return out

    def rows(self) -> list[dict]:
        """One dict per outcome, for ``pandas.DataFrame(trace.rows())``."""
        return [{"target": o.target, "probability": round(o.probability, 10), "masquerade": o.masquerade,
                 "hops": len(o.path), "path": " -> ".join(o.path)} for o in self.outcomes]


@dataclass(frozen=True)
class _Packet:
    src: str
    dst: str
    port: str
    proto: str
    local_ips: frozenset[str]
    from_pod: bool

    def is_local(self, ip: str) -> bool:
        return ip in self.local_ips


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _addr_matches(value: str, ip: str) -> bool:
    try:
        return ipaddress.ip_address(ip) in ipaddress.ip_network(value, strict=False)
    except ValueError:
        return False


def _iptables_rule_matches(rule: Rule, pkt: _Packet) -> bool:
    """Does a rule match a *new* connection (no conntrack state, mark or affinity history)?"""
    checks = {
        "-s": lambda v: _addr_matches(v, pkt.src),
        "-d": lambda v: _addr_matches(v, pkt.dst),
        "-p": lambda v: v == pkt.proto,
        "--dport": lambda v: v == pkt.port,
        "--src-type": lambda v: (v == "LOCAL") == pkt.is_local(pkt.src),
        "--dst-type": lambda v: (v == "LOCAL") == pkt.is_local(pkt.dst),
        "-i": lambda v: pkt.from_pod,
    }
    for option, (negated, value) in rule.matches.items():
        if option in ("--rcheck", "--mark", "--ctstate"):
            return False
        check = checks.get(option)
        if check is not None and check(value) == negated:
            return False
    return True


class _IPTablesWalker:
    def __init__(self, dump: IPTablesDump):
        self.rules = {(t, c): [parse_rule(r) for r in rules] for t, chains in dump.tables.items()
                      for c, rules in chains.items()}

    def walk(self, table: str, chain: str, pkt: _Packet, prob: float, masq: bool, path: tuple, start: int = 0):
        """Yield (terminal target, or None when the walk falls off this chain, prob, masq, path)."""
        rules = self.rules.get((table, chain), [])
        for idx in range(start, len(rules)):
            rule = rules[idx]
            if rule.target is None or not _iptables_rule_matches(rule, pkt):
                continue
            step = path + (f"{table}/{rule.raw[3:]}",)
            p_take = float(rule.matches["--probability"][1]) if "--probability" in rule.matches else 1.0
            if rule.target == "KUBE-MARK-MASQ":
                masq, path = True, step
                continue
            if rule.target == "RETURN":
                yield None, prob, masq, step
                return
            if rule.target in TERMINAL or rule.target == "DNAT":
                yield (rule.target_args[1] if rule.target == "DNAT" else rule.target), prob * p_take, masq, step
            else:
                for out in self.walk(table, rule.target, pkt, prob * p_take, masq, step):
                    if out[0] is None:  # the sub-chain fell through: carry on after the jump
                        yield from self.walk(table, chain, pkt, out[1], out[2], out[3], idx + 1)
                    else:
                        yield out
            if p_take == 1.0:
                return
            prob *= 1 - p_take
            path = path + (f"{table}/{rule.raw[3:]} [not taken]",)
        yield None, prob, masq, path


def _iptables_filter_verdict(walker: _IPTablesWalker, pkt: _Packet):
    """The first DROP/REJECT the filter chains give this (possibly DNATed) packet, with its path."""
    for chain in FILTER_CHAINS:
        for verdict, _, _, path in walker.walk("filter", chain, pkt, 1.0, False, ()):
            if verdict in ("DROP", "REJECT"):
                return verdict, path
    return None


def _trace_iptables(walker: _IPTablesWalker, pkt: _Packet, from_node: bool) -> list[Outcome]:
    entry = "OUTPUT" if from_node else "PREROUTING"
    start = entry if ("nat", entry) in walker.rules else "KUBE-SERVICES"
    outcomes = []
    for target, prob, masq, path in walker.walk("nat", start, pkt, 1.0, False, ()):
        if prob <= 0:
            continue
        dnat_ip = target.rsplit(":", 1)[0] if target and target not in TERMINAL else pkt.dst
        verdict = _iptables_filter_verdict(walker, _Packet(pkt.src, dnat_ip, pkt.port, pkt.proto, pkt.local_ips,
                                                           pkt.from_pod))
        if verdict:
            target, path = verdict[0], path + verdict[1]
        outcomes.append(Outcome(target or "no rule (routed normally)", prob, masq, path))
    return outcomes


# --------------------------------------------------------------------------- nftables


class _NFTWalker:
    """Interprets the rule shapes kube-proxy writes (not arbitrary nft syntax), like upstream's tracer."""

    def __init__(self, chains: dict[str, list[str]], elements: list[nftables.Element]):
        self.chains = chains
        self.maps: dict[str, list[nftables.Element]] = {}
        for e in elements:
            self.maps.setdefault(e.container, []).append(e)

    @classmethod
    def of(cls, rules) -> _NFTWalker:
        """From a rendered ``NFTRuleset`` or a parsed ``kube-proxy`` table (``nft list`` text)."""
        if isinstance(rules, nftables.NFTRuleset):
            return cls({c.name: c.rules for c in rules.chains()}, rules.elements())
        elements = [_parse_element(name, text) for name, spec in rules.sets.items() for text in spec["elements"]]
        return cls(rules.chains, elements)

    def _lookup(self, name: str, key: tuple[str, ...]) -> nftables.Element | None:
        return next((e for e in self.maps.get(name, []) if e.key == key), None)

    def _match_prefix(self, rule: str, pkt: _Packet):
        """Consume one match expression; return (rest, matched) or None if no match form applies."""
        forms = [
            (r"^ct state new\s*", lambda m: True),
            (r"^ip daddr @(\S+)\s*", lambda m: self._lookup(m[1], (pkt.dst,)) is not None),
            (r"^ip (s|d)addr (!= )?\{ ([^}]*) \}\s*", lambda m: any(
                _addr_matches(a.strip(), pkt.src if m[1] == "s" else pkt.dst) for a in m[3].split(",")) != bool(m[2])),
            (r"^ip saddr @\S+\s*", lambda m: False),  # affinity: no history for a new connection
            (r"^ip (s|d)addr (!= )?(\d[0-9./]*)\s*", lambda m: _addr_matches(
                m[3], pkt.src if m[1] == "s" else pkt.dst) != bool(m[2])),
            (r"^fib (s|d)addr type local\s*", lambda m: pkt.is_local(pkt.src if m[1] == "s" else pkt.dst)),
            (r'^iifname (!= )?"[^"]*"\s*', lambda m: pkt.from_pod != bool(m[1])),
        ]
        for pattern, test in forms:
            m = re.match(pattern, rule)
            if m:
                return rule[m.end():], test(m)
        return None

    def walk(self, chain: str, pkt: _Packet, prob: float, masq: bool, path: tuple, start: int = 0):
        """Yield (terminal target, or None when the walk falls off this chain, prob, masq, path)."""
        rules = self.chains.get(chain, [])
        for idx in range(start, len(rules)):
            raw = rules[idx]
            rule, matched = re.sub(r'\s*comment "[^"]*"$', "", raw), True
            while matched and (step := self._match_prefix(rule, pkt)) is not None:
                rule, matched = step
            verdicts = self._verdicts(rule, pkt) if matched else None
            if verdicts is None or rule.startswith("update "):
                continue
            here = path + (f"{chain}: {raw}",)
            if verdicts == [("masquerade mark", 1.0)]:
                masq, path = True, here
                continue
            for verdict, share in verdicts:
                p = prob * share
                if verdict.startswith("dnat "):
                    yield verdict[5:], p, masq, here
                elif verdict in ("drop", "reject"):
                    yield verdict.upper(), p, masq, here
                elif m := re.match(r"^(jump|goto) (\S+)$", verdict):
                    for out in self.walk(m[2], pkt, p, masq, here):
                        if out[0] is None and m[1] == "jump":
                            yield from self.walk(chain, pkt, out[1], out[2], out[3], idx + 1)
                        else:
                            yield out
            return
        yield None, prob, masq, path

    def _verdicts(self, rule: str, pkt: _Packet):
        """[(verdict, share)] for the action part of a rule, or None when a map lookup misses."""
        key3, key2 = (pkt.dst, pkt.proto, pkt.port), (pkt.proto, pkt.port)
        if m := re.match(r"^ip daddr \. meta l4proto \. th dport vmap @(\S+)$", rule):
            e = self._lookup(m[1], key3)
            return None if e is None else [(e.value, 1.0)]
        if m := re.match(r"^meta l4proto \. th dport vmap @(\S+)$", rule):
            e = self._lookup(m[1], key2)
            return None if e is None else [(e.value, 1.0)]
        if re.match(r"^(meta )?mark set (meta )?mark (or|\|) \S+$", rule):
            return [("masquerade mark", 1.0)]
        if m := re.match(r"^numgen random mod (\d+) vmap \{ (.*) \}$", rule):
            return [(v, 1.0 / int(m[1])) for v in re.findall(r"\d+ : (goto [^\s,]+)", m[2])]
        if m := re.match(r"^meta l4proto (\w+) dnat ip (?:addr \. port )?to numgen random mod (\d+) map \{ (.*) \}$",
                         rule):
            targets = re.findall(r"\d+ : (\S+) \. (\d+)", m[3])
            return [(f"dnat {ip}:{port}", 1.0 / int(m[2])) for ip, port in targets] if m[1] == pkt.proto else None
        if m := re.match(r"^meta l4proto (\w+) dnat to (\S+)$", rule):
            return [(f"dnat {m[2]}", 1.0)] if m[1] == pkt.proto else None
        return [(rule, 1.0)] if rule else None


def _parse_element(container: str, text: str) -> nftables.Element:
    """``10.96.0.10 . udp . 53 comment "x" : goto service-...`` -> Element (as ``nft list`` prints it)."""
    head, _, value = text.partition(" : ")
    m = re.match(r'^(.*?)(?: comment "([^"]*)")?$', head)
    return nftables.Element(container, tuple(k.strip() for k in m[1].split(" . ")), value or None, m[2])


_HAIRPIN_RULE = ("masquerading: ct status dnat ip saddr . ip daddr . meta l4proto . th dport @hairpin-connections "
                 "masquerade fully-random")


def _trace_nft(walker: _NFTWalker, pkt: _Packet, from_node: bool) -> list[Outcome]:
    """Pre-DNAT firewall check, then nat dispatch, then the post-DNAT filter checks."""
    pre_dnat, nat, post_dnat = (("filter-output-pre-dnat", "nat-output", ("filter-output",)) if from_node else
                                ("filter-prerouting-pre-dnat", "nat-prerouting", ("filter-input", "filter-forward")))
    for target, _, masq, path in walker.walk(pre_dnat, pkt, 1.0, False, ()):
        if target in ("DROP", "REJECT"):
            return [Outcome(target, 1.0, masq, path)]
    outcomes = []
    for target, prob, masq, path in walker.walk(nat, pkt, 1.0, False, ()):
        after = _Packet(pkt.src, target.rsplit(":", 1)[0] if target else pkt.dst, pkt.port, pkt.proto,
                        pkt.local_ips, pkt.from_pod)
        if target and ":" in target and walker._lookup(  # nat-postrouting's hairpin rule (ct status dnat)
                "hairpin-connections", (pkt.src, after.dst, pkt.proto, target.rsplit(":", 1)[1])) is not None:
            masq, path = True, (*path, _HAIRPIN_RULE)
        verdict = next(((v, fpath) for chain in post_dnat for v, _, _, fpath in walker.walk(chain, after, 1.0, False, ())
                        if v in ("DROP", "REJECT")), None)
        if verdict:
            target, path = verdict[0], path + verdict[1]
        outcomes.append(Outcome(target or "no rule (routed normally)", prob, masq, path))
    return outcomes


# --------------------------------------------------------------------------- entry point


def _check_addresses(source: str, destination: str) -> tuple[str, str]:
    dst, _, port = destination.rpartition(":")
    if not _is_ip(dst) or not port.isdigit():
        raise ValueError(f"destination must be 'ip:port', got {destination!r}")
    if source != "node" and not _is_ip(source):
        raise ValueError(f"source must be an IP address or 'node', got {source!r}")
    return dst, port


def trace_packet(source: str, destination: str, *, rules=None, services=None, endpoint_slices=None, node=None,
                 config=None, protocol: str = "tcp", node_ips=None, from_pod: bool | None = None) -> Trace:
    """Trace a new connection from ``source`` to ``destination`` (``"ip:port"``).

    ``source`` is an IP, or ``"node"`` for traffic the node itself originates. Give either
    ``rules`` (``IPTablesRules``, ``IPTablesDump``, ``NFTRuleset``, or ``iptables-save`` /
    ``nft list ruleset`` text read from a node)
    or the API objects (``services``, ``endpoint_slices``, ``node``, ``config``), in which case
    the config's mode picks iptables or nftables. ``node_ips`` default to the Node's addresses;
    they make ``--dst-type LOCAL`` / ``fib daddr type local`` match NodePort traffic.
    """
    _check_addresses(source, destination)
    local_ips = node_ips if node_ips is not None else node_info(node, config).ips
    if rules is None:
        state = build_proxy_state(list(services or ()), list(endpoint_slices or ()), node, config)
        rules = render(state, **({} if state.config["mode"] == "nftables" else {"include_hooks": True}))
    return Tracer(rules).trace(source, destination, protocol=protocol, local_ips=local_ips, from_pod=from_pod)


class Tracer:
    """One node's rules, parsed once, for many traces (the simulator traces every request it sends).

    ``rules`` as :func:`trace_packet` takes them; ``trace`` needs the node's addresses (``local_ips``).
    """

    def __init__(self, rules):
        if isinstance(rules, str) and rules.lstrip().startswith("table "):
            tables = parse_nft_ruleset(rules)
            if ("ip", nftables.TABLE) not in tables:
                raise ValueError("the ruleset has no 'ip kube-proxy' table to trace")
            rules = tables[("ip", nftables.TABLE)]
        if isinstance(rules, (nftables.NFTRuleset, NFTTable)):
            self._nft, self._ipt = _NFTWalker.of(rules), None
            return
        if isinstance(rules, iptables.IPTablesRules):
            rules = rules.dump()
        elif isinstance(rules, str):
            rules = parse_iptables_save(rules)
        self._nft, self._ipt = None, _IPTablesWalker(rules)

    def trace(self, source: str, destination: str, *, protocol: str = "tcp", local_ips,
              from_pod: bool | None = None) -> Trace:
        """Trace a new connection (see :func:`trace_packet`); ``local_ips`` are the node's addresses."""
        dst, port = _check_addresses(source, destination)
        local_ips = frozenset(local_ips) | {"127.0.0.1"}
        from_node = source == "node"
        src = (sorted(local_ips - {"127.0.0.1"}) or ["127.0.0.1"])[0] if from_node else source
        pkt = _Packet(src, dst, port, protocol.lower(), local_ips, not from_node if from_pod is None else from_pod)
        trace = Trace(source, destination, protocol.lower())
        trace.outcomes = (_trace_nft(self._nft, pkt, from_node) if self._nft is not None
                          else _trace_iptables(self._ipt, pkt, from_node))
        return trace
