"""kube-proxy's nftables mode: render a node's ``ProxyState`` as the ``kube-proxy`` table.

Follows ``pkg/proxy/nftables/proxier.go`` at v1.37.0 (KEP-3866, GA 1.33): one ``ip kube-proxy``
table, base chains ``filter-prerouting-pre-dnat``/``filter-output-pre-dnat`` at priority -110
and ``filter-{input,forward,output}`` at 0, verdict maps (``service-ips``, ``service-nodeports``,
``no-endpoint-*``, ``firewall-ips``) instead of long rule lists, and chain names
``<prefix>-<H8>-ns/svc/proto/port``. A service chain load-balances with one
``dnat ip addr . port to numgen random mod N map { ... }`` rule (``dnat to`` for one endpoint); only ClientIP affinity keeps
per-endpoint chains (``numgen random mod N vmap`` to them, each recording the client in its
``affinity-*`` set). Masquerading is a mark set in the rule that decides it
(``mark set mark or 0x4000``: ClusterIP traffic from outside the cluster in ``services``, external
traffic in ``external-*``) plus the ``hairpin-connections`` set (a local endpoint reaching itself
through its Service). In nftables mode kube-proxy defaults ``nodePortAddresses`` to ``primary``.

Three text forms come out of one :class:`NFTRuleset`:

* :meth:`NFTRuleset.nft_input`: the transaction kube-proxy hands ``nft -f`` (format
  ``nft-input``), every object declared before anything refers to it so nft accepts it;
* :meth:`NFTRuleset.list_ruleset`: the table as the node's ``nft list ruleset`` prints it
  afterwards (format ``nftables``), byte-identical to a real kernel's read-back
  (tests/test_dataplane_kernel.py);
* :meth:`NFTRuleset.transaction`: the same ``add ...`` lines sorted as upstream's
  ``sortNFTablesTransaction`` sorts them (the form ``TestOverallNFTablesRules`` compares).

Base chain priorities are written as numbers, as knftables does (since v0.0.14, 2023:
"older versions of nft don't accept certain named priorities in all contexts (eg, "dstnat"
priority in the "output" hook)", objects.go): nft 1.0.6 refuses ``priority dstnat - 10`` on an
output hook, and prints those priorities back as numbers.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import re
from dataclasses import dataclass, field
from functools import lru_cache

from helpers.dataplane.parse import KIND_NODE_TOOLS, NFTTable, NodeTools
from helpers.dataplane.proxy import LocalDetector, ProxyState, ServicePortState, build_proxy_state

TABLE = "kube-proxy"
FAMILY = "ip"
_SET_DECLS = {
    # name: (kind, type, comment)
    "hairpin-connections": ("set", "ipv4_addr . ipv4_addr . inet_proto . inet_service",
                            "service hairpin connections"),
    "cluster-ips": ("set", "ipv4_addr", "Active ClusterIPs"),
    "nodeport-ips": ("set", "ipv4_addr", "IPs that accept NodePort traffic"),
    "firewall-ips": ("map", "ipv4_addr . inet_proto . inet_service : verdict",
                     "destinations that are subject to LoadBalancerSourceRanges"),
    "no-endpoint-nodeports": ("map", "inet_proto . inet_service : verdict",
                              "vmap to drop or reject packets to service nodeports with no endpoints"),
    "no-endpoint-services": ("map", "ipv4_addr . inet_proto . inet_service : verdict",
                             "vmap to drop or reject packets to services with no endpoints"),
    "service-ips": ("map", "ipv4_addr . inet_proto . inet_service : verdict",
                    "ClusterIP, ExternalIP and LoadBalancer IP traffic"),
    "service-nodeports": ("map", "inet_proto . inet_service : verdict", "NodePort traffic"),
}
# (name, type, hook, priority) of the base chains.
_BASE_CHAINS = (
    ("filter-prerouting-pre-dnat", "filter", "prerouting", -110),
    ("filter-output-pre-dnat", "filter", "output", -110),
    ("filter-forward", "filter", "forward", 0),
    ("filter-input", "filter", "input", 0),
    ("filter-output", "filter", "output", 0),
    ("nat-output", "nat", "output", -100),
    ("nat-postrouting", "nat", "postrouting", 100),
    ("nat-prerouting", "nat", "prerouting", -100),
)
_JUMPS = (  # (from, rule) in the order setupNFTables adds them
    ("filter-input", "ct state new jump nodeport-endpoints-check"),
    ("filter-input", "ct state new jump service-endpoints-check"),
    ("filter-forward", "ct state new jump service-endpoints-check"),
    ("filter-output", "ct state new jump service-endpoints-check"),
    ("filter-prerouting-pre-dnat", "ct state new jump firewall-check"),
    ("filter-output-pre-dnat", "ct state new jump firewall-check"),
    ("nat-output", "jump services"),
    ("nat-prerouting", "jump services"),
    ("nat-postrouting", "jump masquerading"),
    ("filter-forward", "ct state new jump cluster-ips-check"),
    ("filter-output", "ct state new jump cluster-ips-check"),
)


@lru_cache(maxsize=65536)
def _hash8(text: str) -> str:
    # The first 8 base32 characters encode exactly the first 5 bytes of the digest.
    return base64.b32encode(hashlib.sha256(text.encode()).digest()[:5]).decode()


def chain_base(namespace: str, name: str, protocol: str, port_name: str) -> str:
    """servicePortChainNameBase: ``<H8>-ns/svc/proto/port`` (H8 hashes the part after it)."""
    base = f"{namespace}/{name}/{protocol.lower()}/{port_name}"
    return f"{_hash8(base)}-{base}"


def endpoint_chain_base(namespace: str, name: str, protocol: str, port_name: str, ip: str, port: int) -> str:
    """``<H8>-ns/svc/proto/port__ip/port`` for endpoint chains and affinity sets."""
    base = f"{namespace}/{name}/{protocol.lower()}/{port_name}__{ip.replace(':', '.')}/{port}"
    return f"{_hash8(base)}-{base}"


@dataclass
class Element:
    container: str
    key: tuple[str, ...]
    value: str | None = None
    comment: str | None = None

    def body(self) -> str:
        text = " . ".join(self.key)
        if self.comment is not None:
            text += f' comment "{self.comment}"'
        if self.value is not None:
            text += f" : {self.value}"
        return text


@dataclass
class Chain:
    name: str
    rules: list[str] = field(default_factory=list)
    base: tuple[str, str, int] | None = None  # (type, hook, priority)
    comment: str | None = None


@dataclass
class NFTPortRules:
    """One service port's chains, affinity sets and map elements."""

    state: ServicePortState
    chains: list[Chain] = field(default_factory=list)
    affinity_sets: list[tuple[str, int]] = field(default_factory=list)  # (name, timeout seconds)
    elements: list[Element] = field(default_factory=list)

    @property
    def service(self) -> tuple[str, str]:
        return self.state.service


@dataclass
class NFTRuleset:
    """The whole ``kube-proxy`` table for one node."""

    base_chains: list[Chain]
    sets: list[str]  # shared sets/maps declared by setupNFTables
    base_elements: list[Element]
    ports: list[NFTPortRules]

    def chains(self) -> list[Chain]:
        return self.base_chains + [c for p in self.ports for c in p.chains]

    def elements(self) -> list[Element]:
        """Every set/map element once: kube-proxy's ``nftElementStorage.ensureElem`` adds a key a
        second service port needs again (a multi-port Service's ClusterIP, an endpoint two Services
        share in ``hairpin-connections``) only once."""
        seen, out = set(), []
        for e in self.base_elements + [e for p in self.ports for e in p.elements]:
            if (e.container, e.key) not in seen:
                seen.add((e.container, e.key))
                out.append(e)
        return out

    def transaction_lines(self, changed: set | None = None) -> list[str]:
        """``add ...`` lines; with ``changed``, only those services' chains and sets, no elements."""
        pre = f"{FAMILY} {TABLE}"
        lines = [f'add table {pre} {{ comment "rules for kube-proxy" ; }}'] if changed is None else []
        if changed is None:
            for name in self.sets:
                kind, typ, text = _SET_DECLS[name]
                lines.append(f'add {kind} {pre} {name} {{ type {typ} ; comment "{text}" ; }}')
        chains = self.base_chains if changed is None else []
        chains = chains + [c for p in self.ports if changed is None or p.service in changed for c in p.chains]
        for port in self.ports:
            if changed is None or port.service in changed:
                lines += [f"add set {pre} {name} {{ type ipv4_addr ; flags dynamic,timeout ; timeout {t}s ; }}"
                          for name, t in port.affinity_sets]
        for chain in chains:
            lines.append(f"add chain {pre} {chain.name}{_chain_decl(chain)}")
            lines += [f"add rule {pre} {chain.name} {rule}" for rule in chain.rules]
        return lines + (self.element_lines() if changed is None else [])

    def element_lines(self) -> list[str]:
        """One ``add element`` line per set/map element."""
        return [f"add element {FAMILY} {TABLE} {e.container} {{ {e.body()} }}" for e in self.elements()]

    def nft_input(self) -> str:
        """The full transaction as kube-proxy hands it to ``nft -f``: the table, sets and maps,
        every chain, then rules, then elements (nft refuses a reference to an object not yet made)."""
        rank = {"table": 0, "set": 1, "map": 1, "chain": 2, "rule": 3, "element": 4}
        return "\n".join(sorted(self.transaction_lines(), key=lambda line: rank[line.split(" ", 2)[1]])) + "\n"

    def service_chains(self) -> set[str]:
        """Names of every per-service chain (service/local/external/firewall/endpoint)."""
        return {c.name for p in self.ports for c in p.chains}

    def transaction(self) -> str:
        """The full transaction, sorted like upstream's ``sortNFTablesTransaction``."""
        return "\n".join(sort_nft_transaction(self.transaction_lines())) + "\n"

    def table(self, tools: NodeTools = KIND_NODE_TOOLS) -> NFTTable:
        """The table as parsed structures (same shape ``parse_nft_ruleset`` returns), elements in
        the order nft lists them."""
        table = NFTTable(FAMILY, TABLE)
        for name in self.sets:
            kind, typ, text = _SET_DECLS[name]
            table.sets[name] = {"kind": kind, "header": [f"type {typ}", f'comment "{text}"'], "elements": []}
        for port in self.ports:
            for name, timeout in port.affinity_sets:
                table.sets[name] = {"kind": "set", "header": ["type ipv4_addr", "size 65535",
                                                             "flags dynamic,timeout", f"timeout {_nft_time(timeout)}"],
                                    "elements": []}
        for e in sorted(self.elements(), key=_element_order):
            table.sets[e.container]["elements"].append(canonical_nft(e.body()))
        for chain in self.chains():
            table.chains[chain.name] = [canonical_nft(r) for r in chain.rules]
            if chain.base:
                table.chain_headers[chain.name] = _list_chain_header(chain.base, tools)
            if chain.comment:
                table.chain_comments[chain.name] = chain.comment
        return table

    def list_ruleset(self, tools: NodeTools = KIND_NODE_TOOLS) -> str:
        """The table as ``nft list ruleset`` (``tools``' nft) prints it: sets and maps, then chains."""
        table = self.table(tools)
        out = [f"table {FAMILY} {TABLE} {{", '\tcomment "rules for kube-proxy"']
        for name, spec in table.sets.items():
            out.append(f"\t{spec['kind']} {name} {{")
            out += [f"\t\t{h}" for h in spec["header"]]
            if spec["elements"]:
                out.append(f"\t\telements = {{ {_join_elements(spec['elements'], ' . ' in spec['header'][0])} }}")
            out += ["\t}", ""]
        for name, rules in table.chains.items():
            out.append(f"\tchain {name} {{")
            if name in table.chain_headers:
                out.append(f"\t\t{table.chain_headers[name]}")
            if name in table.chain_comments:
                out.append(f'\t\tcomment "{table.chain_comments[name]}"')
            out += [f"\t\t{r}" for r in rules]
            out += ["\t}", ""]
        if out[-1] == "":
            out.pop()
        out.append("}")
        return "\n".join(out) + "\n"


_OBJECT_ORDER = {"table": 10, "chain": 9, "rule": 8, "set": 7, "map": 6, "element": 5}


def sort_nft_transaction(lines: list[str]) -> list[str]:
    """Port of upstream's test helper: object type, then object name; rules keep their order."""
    lines = [ln for ln in lines if ln and not ln.startswith("#")]

    def key(line: str):
        words = line.split(" ")
        if len(words) < 5:
            return (0, "", "")
        rank = -_OBJECT_ORDER.get(words[1], 0)
        return (rank, words[4], "" if words[1] == "rule" else line)

    return sorted(lines, key=key)


def _chain_decl(chain: Chain) -> str:
    if chain.base:
        typ, hook, prio = chain.base
        return f" {{ type {typ} hook {hook} priority {prio} ; }}"
    if chain.comment:
        return f' {{ comment "{chain.comment}" ; }}'
    return ""


_PRIORITY_NAMES = {-300: "raw", -150: "mangle", -100: "dstnat", 0: "filter", 50: "security", 100: "srcnat"}
# Where nft 1.0.6 accepts (and so prints) the NAT priority names; 1.1.x names them on these too.
_NAT_PRIORITY_HOOKS = {"dstnat": ("prerouting",), "srcnat": ("postrouting",)}
_NAT_PRIORITY_HOOKS_1_1 = {"dstnat": ("prerouting", "output"), "srcnat": ("postrouting", "input")}


def _list_chain_header(base: tuple[str, str, int], tools: NodeTools = KIND_NODE_TOOLS) -> str:
    """``type nat hook prerouting priority dstnat; policy accept;`` as ``tools``' nft prints it:
    the nearest standard name plus an offset, or the number where that nft does not allow the name
    on this hook (1.0.6: ``type filter hook output priority -110``)."""
    typ, hook, prio = base
    anchor = min(_PRIORITY_NAMES, key=lambda p: abs(p - prio))
    offset = prio - anchor
    allowed = (_NAT_PRIORITY_HOOKS_1_1 if tools.nft_names_output_dstnat else _NAT_PRIORITY_HOOKS).get(
        _PRIORITY_NAMES[anchor])
    if allowed is not None and hook not in allowed:
        return f"type {typ} hook {hook} priority {prio}; policy accept;"
    name = _PRIORITY_NAMES[anchor] + (f" + {offset}" if offset > 0 else f" - {-offset}" if offset < 0 else "")
    return f"type {typ} hook {hook} priority {name}; policy accept;"


_PROTOCOL_NUMBERS = {"tcp": 6, "udp": 17, "sctp": 132}


def _element_order(element: Element):
    """The order ``nft list`` prints a set's elements in: one IPv4 address by its value; a
    concatenation by its key bytes (each field padded to a 32-bit register) read as one
    little-endian number, so the last field leads (ports before addresses). Seen with nft 1.0.6
    and 1.1.3 against the kernel (tests/test_dataplane_kernel.py)."""
    fields = []
    for part in element.key:
        if part in _PROTOCOL_NUMBERS:
            fields.append(bytes([_PROTOCOL_NUMBERS[part], 0, 0, 0]))
        elif part.isdigit():
            fields.append(int(part).to_bytes(2, "big") + b"\0\0")
        else:
            fields.append(ipaddress.ip_address(part).packed)
    if len(fields) == 1:
        return (element.container, int.from_bytes(fields[0], "big"))
    return (element.container, int.from_bytes(b"".join(fields), "little"))


def _join_elements(elements: list[str], concatenated: bool) -> str:
    """nft's element separator: a new line after every concatenated element, after every second
    address in an address set (src/expression.c, calculate_delim)."""
    per_line = 1 if concatenated else 2
    out = ""
    for k, element in enumerate(elements):
        if k:
            out += ",\n\t\t\t     " if k % per_line == 0 else ", "
        out += element
    return out


def _nft_time(seconds: int) -> str:
    """nft's duration format: 10800 -> 3h, 90 -> 1m30s."""
    out, rest = "", seconds
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if rest >= size:
            out += f"{rest // size}{unit}"
            rest %= size
    return out or "0s"


def _anonymous_set(m: re.Match) -> str:
    """An anonymous address set as nft lists it: an interval set, so its elements come back in
    ascending order, a /32 as the bare address, and a set of one without braces."""
    try:
        nets = sorted(ipaddress.ip_network(item.strip(), strict=False) for item in m[3].split(","))
    except ValueError:
        return m[0]
    items = [str(n.network_address) if n.prefixlen == n.max_prefixlen else str(n) for n in nets]
    return f"{m[1]}{m[2]}{items[0]}" if len(items) == 1 else f"{m[1]}{m[2]}{{ {', '.join(items)} }}"


def canonical_nft(text: str) -> str:
    """Rewrite kube-proxy's rule syntax into the form ``nft list`` prints.

    Marks become ``meta mark`` expressions with 8-digit hex, ``dnat ip addr . port to`` becomes
    ``dnat ip to``, one-element anonymous sets lose their braces and map entries are joined with
    ``", "``. Idempotent, so it can be applied to text read from a node too.
    """
    def hex8(m: re.Match) -> str:
        return f"0x{int(m.group(0), 16):08x}"

    text = re.sub(r"(?<!meta )\bmark set mark (or|xor) ",
                  lambda m: f"meta mark set meta mark {'|' if m[1] == 'or' else '^'} ", text)
    text = re.sub(r"^mark and (\S+) (==|!=) 0 ", r"meta mark & \1 \2 0x0 ", text)
    text = text.replace(" dnat ip addr . port to ", " dnat ip to ")
    text = re.sub(r"\b0x[0-9a-fA-F]+\b", hex8, text)
    text = re.sub(r"(daddr|saddr)( != | )\{ ([^{}]+) \}", _anonymous_set, text)
    text = re.sub(r" , ", ", ", text)
    return text


# --------------------------------------------------------------------------- rendering


def _if_local(det: LocalDetector, negate: bool) -> str:
    """``IfLocalNFT`` / ``IfNotLocalNFT`` of the local-traffic detector (pkg/proxy/util/localdetector.go)."""
    op = "!= " if negate else ""
    if det.kind == "cidr":
        return f"ip saddr {op}{det.value}"
    name = det.value if det.kind == "bridge" else det.value + "*"
    return f'iifname {op}"{name}"'


def _dnat_rule(protocol: str, endpoints) -> str:
    """writeServiceToEndpointDNATs: one ``numgen`` map from index to endpoint address and port; a single
    endpoint gets a plain ``dnat to`` (v1.37: inserting a map costs O(n) in nftables)."""
    if len(endpoints) == 1:
        host = f"[{endpoints[0].ip}]" if ":" in endpoints[0].ip else endpoints[0].ip  # net.JoinHostPort
        return f"meta l4proto {protocol} dnat to {host}:{endpoints[0].port}"
    entries = " , ".join(f"{i} : {ep.ip} . {ep.port}" for i, ep in enumerate(endpoints))
    return f"meta l4proto {protocol} dnat ip addr . port to numgen random mod {len(endpoints)} map {{ {entries} }}"


def _affinity_rules(endpoints, names: dict) -> list[str]:
    """writeServiceToEndpointJumps: an affinity lookup per endpoint, then a ``numgen`` vmap to the
    endpoint chains for a client with no affinity yet."""
    rules = [f"ip saddr @affinity-{names[str(ep)]} goto endpoint-{names[str(ep)]}" for ep in endpoints]
    entries = " , ".join(f"{i} : goto endpoint-{names[str(ep)]}" for i, ep in enumerate(endpoints))
    return rules + [f"numgen random mod {len(endpoints)} vmap {{ {entries} }}"]


def _port_rules(st: ServicePortState, detector: LocalDetector | None, mark: str, node_ip: str | None) -> NFTPortRules:
    """One iteration of the nftables proxier's per-service-port loop."""
    sp, cat = st.service_port, st.categorized
    n = sp.name
    proto = sp.protocol.lower()
    base = chain_base(n.namespace, n.name, proto, n.port)
    names = {p: f"{p}-{base}" for p in ("service", "local", "external", "firewall")}
    affinity = sp.session_affinity_timeout is not None
    endpoint_names = {str(ep): endpoint_chain_base(n.namespace, n.name, proto, n.port, ep.ip, ep.port)
                      for ep in cat.all_reachable} if affinity else {}
    uses_fw = bool(sp.load_balancer_vips) and bool(sp.load_balancer_source_ranges)
    hairpin = [Element("hairpin-connections", (ep.ip, ep.ip, proto, str(ep.port)))
               for ep in cat.all_reachable if ep.is_local]
    port = NFTPortRules(st, elements=hairpin + _elements(st, names, uses_fw))
    port.chains = _service_chains(st, names, endpoint_names, uses_fw, detector, mark, node_ip)
    if affinity:
        port.affinity_sets = [(f"affinity-{endpoint_names[str(ep)]}", sp.session_affinity_timeout)
                              for ep in cat.all_reachable]
    return port


def _elements(st: ServicePortState, names: dict, uses_fw: bool) -> list[Element]:
    """The port's entries in the shared sets and verdict maps."""
    sp, plan = st.service_port, st.plan
    proto, spn, port = sp.protocol.lower(), str(sp.name), str(sp.port)
    verdict = "goto reject-chain" if not plan.has_endpoints else "drop"
    internal = names["local"] if plan.internal_local else names["service"]
    els = [Element("cluster-ips", (sp.cluster_ip,))]
    if plan.has_internal:
        els.append(Element("service-ips", (sp.cluster_ip, proto, port), f"goto {internal}"))
    else:
        els.append(Element("no-endpoint-services", (sp.cluster_ip, proto, port), verdict, spn))
    for ip in sp.external_ips:
        if plan.has_endpoints:
            els.append(Element("service-ips", (ip, proto, port), f"goto {names['external']}"))
        if not plan.has_external:
            els.append(Element("no-endpoint-services", (ip, proto, port), verdict, spn))
    for ip in sp.load_balancer_vips:
        if plan.has_endpoints:
            els.append(Element("service-ips", (ip, proto, port), f"goto {names['external']}"))
        if uses_fw:
            els.append(Element("firewall-ips", (ip, proto, port), f"goto {names['firewall']}"))
    if not plan.has_external:
        els += [Element("no-endpoint-services", (ip, proto, port), verdict, spn) for ip in sp.load_balancer_vips]
    if sp.node_port:
        if plan.has_endpoints:
            els.append(Element("service-nodeports", (proto, str(sp.node_port)), f"goto {names['external']}"))
        if not plan.has_external:
            els.append(Element("no-endpoint-nodeports", (proto, str(sp.node_port)), verdict, spn))
    return els


def _service_chains(st: ServicePortState, names: dict, endpoint_names: dict, uses_fw: bool,
                    detector: LocalDetector | None, mark: str, node_ip: str | None) -> list[Chain]:
    """The per-service chains in the order syncProxyRules ensures them (endpoint chains, which only
    ClientIP affinity uses, then service, local, external, firewall), and their rules."""
    sp, plan, cat = st.service_port, st.plan, st.categorized
    svc, local, ext, fw = names["service"], names["local"], names["external"], names["firewall"]
    masquerade = f"mark set mark or {mark}"
    wanted = [(f"endpoint-{endpoint_names[str(ep)]}", True) for ep in cat.all_reachable if endpoint_names]
    wanted += [(svc, plan.uses_cluster_chain), (local, plan.uses_local_chain), (ext, plan.uses_external_chain),
               (fw, uses_fw)]
    chains = {name: Chain(name) for name, used in wanted if used}
    if plan.uses_external_chain:
        rules = chains[ext].rules
        if not plan.external_local:
            rules.append(f'{masquerade} comment "masquerade"')
        else:
            if detector is not None:
                rules.append(f'{_if_local(detector, False)} goto {svc} comment "short-circuit pod traffic"')
            rules += [f'fib saddr type local {masquerade} comment "masquerade local traffic"',
                      f'fib saddr type local goto {svc} comment "short-circuit local traffic"']
        if plan.has_external:
            rules.append(f"goto {local if plan.external_local else svc}")
    if uses_fw:
        sources = list(sp.load_balancer_source_ranges)
        if node_ip and any(ipaddress.ip_address(node_ip) in ipaddress.ip_network(c, strict=False) for c in sources):
            sources += list(sp.load_balancer_vips)
        chains[fw].rules.append(f"ip saddr != {{ {' , '.join(sources)} }} drop")
    proto = sp.protocol.lower()
    for chain, used, endpoints in ((svc, plan.uses_cluster_chain, cat.cluster), (local, plan.uses_local_chain, cat.local)):
        if used:
            chains[chain].rules += _affinity_rules(endpoints, endpoint_names) if endpoint_names else \
                [_dnat_rule(proto, endpoints)]
    for ep in cat.all_reachable if endpoint_names else ():
        name = endpoint_names[str(ep)]
        chains[f"endpoint-{name}"].rules += [f"update @affinity-{name} {{ ip saddr }}",
                                             f"meta l4proto {proto} dnat to {ep}"]
    return list(chains.values())


def _nodeport_ips(state: ProxyState) -> list[str] | None:
    """IPs for the ``nodeport-ips`` set, or None when NodePorts match every local address."""
    cidrs = [c for c in state.config.get("nodePortAddresses") or [] if c] or ["primary"]
    if any(c in ("0.0.0.0/0",) for c in cidrs):
        return None
    ips = []
    for cidr in cidrs:
        if cidr == "primary":
            ips += list(state.node.ips[:1])
        else:
            net = ipaddress.ip_network(cidr, strict=False)
            ips += [ip for ip in state.node.ips if ipaddress.ip_address(ip) in net]
    return list(dict.fromkeys(ips))


def render(state: ProxyState, *, service_cidrs: tuple[str, ...] | list[str] = ()) -> NFTRuleset:
    """Render what kube-proxy's nftables proxier programs for ``state`` (``setupNFTables``, then
    the per-service-port loop of ``syncProxyRules``).

    ``service_cidrs`` (kube-proxy learns them from the ServiceCIDR objects it watches,
    ``OnServiceCIDRsChanged``; kind's default one is 10.96.0.0/16) enables the "drop traffic to
    unallocated ClusterIPs" rule.
    """
    nft = state.config["nftables"]
    mark = hex(1 << int(nft["masqueradeBit"]))
    masquerade = f"mark set mark or {mark}"
    nodeport_ips = _nodeport_ips(state)
    chains = {name: Chain(name, base=(typ, hook, prio)) for name, typ, hook, prio in _BASE_CHAINS}
    for name in ("cluster-ips-check", "firewall-check", "masquerading", "nodeport-endpoints-check",
                 "services", "service-endpoints-check"):
        chains[name] = Chain(name)
    chains["reject-chain"] = Chain("reject-chain", ["reject"],
                                   comment="helper for @no-endpoint-services / @no-endpoint-nodeports")
    for src, rule in _JUMPS:
        chains[src].rules.append(rule)
    chains["masquerading"].rules += [
        f"mark and {mark} != 0 mark set mark xor {mark} masquerade fully-random",
        "ct status dnat ip saddr . ip daddr . meta l4proto . th dport @hairpin-connections masquerade fully-random"]
    chains["cluster-ips-check"].rules.append('ip daddr @cluster-ips reject comment "Reject traffic to invalid ports '
                                             'of ClusterIPs"')
    ipv4_cidrs = [c for c in service_cidrs if ipaddress.ip_network(c, strict=False).version == 4]
    if ipv4_cidrs:
        chains["cluster-ips-check"].rules.append(f'ip daddr {{ {",".join(ipv4_cidrs)} }} drop comment '
                                                 '"Drop traffic to unallocated ClusterIPs"')
    chains["firewall-check"].rules.append("ip daddr . meta l4proto . th dport vmap @firewall-ips")
    if nft["masqueradeAll"]:
        chains["services"].rules.append(f'ip daddr @cluster-ips {masquerade} comment "masquerade all clusterIP '
                                        'traffic"')
    elif state.detector is not None:
        chains["services"].rules.append(f"ip daddr @cluster-ips {_if_local(state.detector, True)} {masquerade} "
                                        'comment "masquerade clusterIP traffic from outside cluster"')
    chains["services"].rules.append("ip daddr . meta l4proto . th dport vmap @service-ips")
    chains["service-endpoints-check"].rules.append("ip daddr . meta l4proto . th dport vmap @no-endpoint-services")
    sets = ["hairpin-connections", "cluster-ips", "no-endpoint-services", "no-endpoint-nodeports", "firewall-ips",
            "service-ips", "service-nodeports"]
    if nodeport_ips is None:
        chains["services"].rules.append("fib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap "
                                        "@service-nodeports")
        chains["nodeport-endpoints-check"].rules.append("ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap "
                                                        "@no-endpoint-nodeports")
        base_elements = []
    else:
        sets.insert(2, "nodeport-ips")
        chains["services"].rules.append("ip daddr @nodeport-ips meta l4proto . th dport vmap @service-nodeports")
        chains["nodeport-endpoints-check"].rules.append("ip daddr @nodeport-ips meta l4proto . th dport vmap "
                                                        "@no-endpoint-nodeports")
        base_elements = [Element("nodeport-ips", (ip,)) for ip in nodeport_ips]
    ports = [_port_rules(st, state.detector, mark, (state.node.ips or (None,))[0]) for st in state.ports]
    return NFTRuleset(list(chains.values()), sets, base_elements, ports)


NFT_FORMATS = ("list", "input", "transaction")


def nft_ruleset(services=(), endpoint_slices=(), node=None, config=None, *, fmt: str = "list",
                service_cidrs=(), tools: NodeTools = KIND_NODE_TOOLS) -> str:
    """The node's ``kube-proxy`` nftables table.

    ``fmt="list"`` gives what the node's ``nft list ruleset`` (``tools``) prints; ``"input"`` what
    kube-proxy hands ``nft -f``; ``"transaction"`` the sorted ``add ...`` lines upstream's tests
    compare (byte-identical to ``TestOverallNFTablesRules`` for its inputs with
    ``service_cidrs=["172.30.0.0/16"]``).
    """
    if fmt not in NFT_FORMATS:
        raise ValueError(f"fmt must be one of {', '.join(repr(f) for f in NFT_FORMATS)}, not {fmt!r}")
    ruleset = render(build_proxy_state(list(services), list(endpoint_slices), node, config),
                     service_cidrs=service_cidrs)
    if fmt == "list":
        return ruleset.list_ruleset(tools)
    return ruleset.nft_input() if fmt == "input" else ruleset.transaction()
