"""Parse ``iptables-save`` and ``nft list ruleset`` text into plain structures, and diff them.

The renderers in ``iptables.py`` and ``nftables.py`` produce the same structures, so a chapter
can put "what the model predicts" next to "what your node has" (read with
``docker exec <node> iptables-save`` by ``helpers.nodes``) and list the differences.

Normalisation follows upstream's test helper ``sortIPTablesRules``
(``pkg/proxy/iptables/proxier_test.go``): tables by name; ``KUBE-NODEPORTS`` then
``KUBE-SERVICES`` then other ``KUBE-*`` chains alphabetically, then the rest; the rules of
``KUBE-SERVICES``/``KUBE-NODEPORTS`` stable-sorted by the service name in their comment.
"""

from __future__ import annotations

import math
import re
import shlex
from dataclasses import dataclass, field

BUILTIN_CHAINS = {"PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"}
# Chains on a kind node that kube-proxy does not own (kind's and Docker's own NAT, kindnet).
FOREIGN_CHAIN_PREFIXES = ("KIND-", "DOCKER", "CNI-", "KUBE-KUBELET-", "KUBE-IPTABLES-HINT")


class ParseError(ValueError):
    """The text is not valid ``iptables-save`` / ``nft list ruleset`` output."""


# --------------------------------------------------------------------------- iptables


@dataclass
class IPTablesDump:
    """Tables -> chains -> rule lines (``-A CHAIN ...``), in declaration order.

    ``policies`` keeps built-in chain policies (``ACCEPT``) so a dump formats back the way
    ``iptables-save`` printed it.
    """

    tables: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    policies: dict[tuple[str, str], str] = field(default_factory=dict)

    def has_chain(self, table: str, chain: str) -> bool:
        return chain in self.tables.get(table, {})

    def normalized(self) -> IPTablesDump:
        """A copy ordered as upstream's sortIPTablesRules orders it."""
        out = IPTablesDump(policies=dict(self.policies))
        for table in sorted(self.tables):
            chains = self.tables[table]
            out.tables[table] = {c: _sorted_rules(table, c, chains[c]) for c in sorted(chains, key=_chain_key)}
        return out

    def format(self) -> str:
        """``iptables-save``-style text of this dump, as it is (normalise first if needed)."""
        lines = []
        for table, chains in self.tables.items():
            lines.append(f"*{table}")
            lines += [f":{c} {self.policies.get((table, c), '-')} [0:0]" for c in chains]
            lines += [rule for rules in chains.values() for rule in rules]
            lines.append("COMMIT")
        return "\n".join(lines) + "\n"

    def rule_count(self) -> int:
        return sum(len(rules) for chains in self.tables.values() for rules in chains.values())

    def chain_count(self) -> int:
        return sum(len(chains) for chains in self.tables.values())


def _chain_key(name: str) -> tuple[int, str]:
    if name == "KUBE-NODEPORTS":
        return (0, "")
    if name == "KUBE-SERVICES":
        return (1, "")
    return (2 if name.startswith("KUBE-") else 3, name)


def comment_service_name(rule: str) -> str | None:
    """The service name in a rule's comment: the comment up to the first space or colon."""
    m = re.search(r'--comment (?:"([^"]*)"|(\S+))', rule)
    if not m:
        return None
    text = m.group(1) if m.group(1) is not None else m.group(2)
    return re.split(r"[ :]", text, maxsplit=1)[0]


def _sorted_rules(table: str, chain: str, rules: list[str]) -> list[str]:
    if chain not in ("KUBE-SERVICES", "KUBE-NODEPORTS"):
        return list(rules)

    def key(rule: str) -> tuple[int, str]:
        if table == "nat" and chain == "KUBE-SERVICES" and "must be the last rule" in rule:
            return (1, "")
        return (0, comment_service_name(rule) or "")

    return sorted(rules, key=key)


def parse_iptables_save(text: str) -> IPTablesDump:
    """Parse ``iptables-save`` (or ``iptables-restore`` input) into an :class:`IPTablesDump`.

    Counters, comments (``#``) and blank lines are ignored; ``-X CHAIN`` deletes a chain.
    """
    dump, table = IPTablesDump(), None
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("*"):
            table = line[1:]
            dump.tables.setdefault(table, {})
        elif table is None:
            raise ParseError(f"line {number}: {line!r} appears before any '*table' line")
        elif line == "COMMIT":
            table = None
        elif line.startswith(":"):
            parts = line[1:].split()
            if len(parts) < 2:
                raise ParseError(f"line {number}: malformed chain line {line!r}")
            dump.tables[table].setdefault(parts[0], [])
            if parts[1] != "-":
                dump.policies[(table, parts[0])] = parts[1]
        elif line.startswith("-A "):
            chain = line.split()[1]
            dump.tables[table].setdefault(chain, []).append(line)
        elif line.startswith("-X "):
            dump.tables[table].pop(line.split()[1], None)
        else:
            raise ParseError(f"line {number}: unsupported line {line!r}")
    if table is not None:
        raise ParseError(f"table {table!r} has no COMMIT")
    return dump


@dataclass(frozen=True)
class Rule:
    """One ``-A`` line split into what a packet walk needs.

    ``matches`` maps option names (``-s``, ``-d``, ``--dport``, ``--src-type``,
    ``--dst-type``, ``-p``, ``--probability``, ``--rcheck``...) to ``(negated, value)``.
    """

    chain: str
    matches: dict
    target: str | None
    target_args: tuple[str, ...]
    comment: str | None
    raw: str


_FLAG_OPTIONS = {"--rcheck", "--set", "--reap", "--random-fully"}


def parse_rule(line: str) -> Rule:
    """Split an ``-A CHAIN ...`` line; raises ParseError for anything else."""
    try:
        words = shlex.split(line)
    except ValueError as err:
        raise ParseError(f"cannot split rule {line!r}: {err}") from err
    if len(words) < 2 or words[0] != "-A":
        raise ParseError(f"not an -A rule: {line!r}")
    matches, comment, target, target_args = {}, None, None, []
    i, negate = 2, False
    while i < len(words):
        word = words[i]
        if word == "!":
            negate = True
        elif word in ("-j", "-g"):
            target, target_args = words[i + 1], words[i + 2:]
            break
        elif word == "-m":
            i += 1  # the module name carries no match by itself
        elif word == "--comment":
            comment = words[i + 1]
            i += 1
        elif word in _FLAG_OPTIONS:
            matches[word] = (negate, "")
            negate = False
        elif word.startswith("-"):
            value = words[i + 1] if i + 1 < len(words) else ""
            matches[word] = (negate, value)
            negate = False
            i += 1
        i += 1
    return Rule(words[1], matches, target, tuple(target_args), comment, line)


# --------------------------------------------------------------------------- nftables


@dataclass
class NFTTable:
    """One nftables table: chains (name -> rule lines), sets and maps (name -> header, elements)."""

    family: str
    name: str
    chains: dict[str, list[str]] = field(default_factory=dict)
    chain_headers: dict[str, str] = field(default_factory=dict)
    sets: dict[str, dict] = field(default_factory=dict)


def _split_elements(body: str) -> list[str]:
    """Split a ``{ a, b : c, d }`` element list on top-level commas."""
    out, depth, current = [], 0, []
    for ch in body:
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        if ch == "," and depth == 0:
            out.append("".join(current).strip())
            current = []
        else:
            current.append(ch)
    tail = "".join(current).strip()
    return out + ([tail] if tail else [])


def parse_nft_ruleset(text: str) -> dict[tuple[str, str], NFTTable]:
    """Parse ``nft list ruleset`` output into {(family, table): NFTTable}.

    Chain rules are kept as single-line strings; a set/map keeps its declaration lines
    (``type``, ``flags``, ``timeout``...) in ``header`` and its elements as strings.
    """
    tables: dict[tuple[str, str], NFTTable] = {}
    table = chain = current_set = None
    collecting: list[str] | None = None
    skipping = 0  # depth inside objects kube-proxy never creates (ct helpers, counters, flowtables...)
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if skipping:
            skipping += line.count("{") - line.count("}")
            continue
        if collecting is not None:
            collecting.append(line)
            if line.endswith("}"):
                body = " ".join(collecting)
                current_set["elements"] = _split_elements(body[body.index("{") + 1: body.rindex("}")])
                collecting = None
            continue
        if table is None:
            m = re.fullmatch(r"table (\w+) (\S+) \{", line)
            if not m:
                raise ParseError(f"line {number}: expected 'table <family> <name> {{', got {line!r}")
            table = tables.setdefault((m[1], m[2]), NFTTable(m[1], m[2]))
        elif chain is None and current_set is None:
            if line == "}":
                table = None
            elif line.startswith(("comment ", "flags ")):
                continue  # table-level attributes carry no rules
            elif m := re.fullmatch(r"chain (\S+) \{", line):
                chain = m[1]
                table.chains[chain] = []
            elif m := re.fullmatch(r"(set|map) (\S+) \{", line):
                current_set = table.sets[m[2]] = {"kind": m[1], "header": [], "elements": []}
            elif line.endswith("{"):
                skipping = 1
            else:
                raise ParseError(f"line {number}: unexpected {line!r} in table {table.name}")
        elif chain is not None:
            if line == "}":
                chain = None
            elif line.startswith("type ") and line.endswith(";"):
                table.chain_headers[chain] = line
            else:
                table.chains[chain].append(line)
        else:
            if line == "}":
                current_set = None
            elif line.startswith("elements = {"):
                if line.endswith("}"):
                    current_set["elements"] = _split_elements(line[line.index("{") + 1: line.rindex("}")])
                else:
                    collecting = [line]
            else:
                current_set["header"].append(line)
    if table is not None or collecting is not None or skipping:
        raise ParseError("ruleset ends inside a block (missing '}')")
    return tables


# --------------------------------------------------------------------------- diff


@dataclass(frozen=True)
class RuleDiff:
    """Model vs node: rules only the model predicts, rules only the node has, per chain."""

    missing: dict[str, list[str]]  # "table/chain" -> rules the model predicts but the node lacks
    extra: dict[str, list[str]]  # "table/chain" -> rules the node has but the model does not predict

    @property
    def identical(self) -> bool:
        return not self.missing and not self.extra

    def summary(self) -> str:
        if self.identical:
            return "the node's kube-proxy rules match the model"
        n_missing = sum(map(len, self.missing.values()))
        n_extra = sum(map(len, self.extra.values()))
        return f"{n_missing} rule(s) predicted but absent on the node, {n_extra} present but not predicted"


def _is_foreign(chain: str) -> bool:
    return chain.startswith(FOREIGN_CHAIN_PREFIXES)


def _kube_rules(dump: IPTablesDump) -> dict[str, list[str]]:
    """Per "table/chain", the rules kube-proxy owns (built-in chains: only jumps to KUBE-*)."""
    out = {}
    for table, chains in dump.tables.items():
        for chain, rules in chains.items():
            if _is_foreign(chain):
                continue
            if chain in BUILTIN_CHAINS:
                rules = [r for r in rules if re.search(r" -j KUBE-", r) and not _is_foreign(r.split(" -j ")[-1])]
            if rules or chain not in BUILTIN_CHAINS:
                out[f"{table}/{chain}"] = rules
    return out


def diff_iptables(model: IPTablesDump, node: IPTablesDump, *, canonical_probabilities: bool = True) -> RuleDiff:
    """Compare kube-proxy's rules in two dumps, ignoring kind/Docker chains and rule order.

    With ``canonical_probabilities`` the kernel's 11-digit read-back of ``--probability``
    (``0.33333333349``) is mapped back to kube-proxy's 10-digit input (``0.3333333333``).
    """
    want, have = _kube_rules(model), _kube_rules(node)
    if canonical_probabilities:
        have = {c: [canonical_probability(r) for r in rules] for c, rules in have.items()}
    return _diff_maps(*({c: [canonical_iptables_rule(r) for r in rules] for c, rules in side.items()}
                        for side in (want, have)))


_GENERIC = ("-s", "-d", "-i", "-o", "-p")


def canonical_iptables_rule(rule: str) -> str:
    """Rewrite a rule the way ``iptables-save`` (1.8) prints it back, so model and node compare.

    The kernel keeps generic matches apart from extensions, so ``iptables-save`` prints
    ``-s/-d`` (with ``/32``), ``-i/-o`` and ``-p`` first, then the ``-m`` matches in order;
    ``-m recent`` gets its defaults and ``REJECT`` its default ICMP type. Idempotent.
    """
    words = shlex.split(rule)
    head, rest, generic = words[:2], [], {}
    i = 2
    while i < len(words):
        negated = words[i] == "!" and i + 1 < len(words) and words[i + 1] in _GENERIC
        opt = words[i + 1] if negated else words[i]
        if opt in _GENERIC and "-j" not in words[2:i]:
            value = words[i + 2] if negated else words[i + 1]
            if opt in ("-s", "-d") and "/" not in value:
                value += "/32"
            generic[opt] = (["!"] if negated else []) + [opt, value]
            i += 3 if negated else 2
        else:
            rest.append(words[i])
            i += 1
    rest = _canonical_recent(rest)
    if rest[-2:] == ["-j", "REJECT"]:
        rest += ["--reject-with", "icmp-port-unreachable"]
    out = head + [w for opt in _GENERIC for w in generic.get(opt, [])] + rest
    return " ".join(f'"{w}"' if " " in w or not w else w for w in out)


def _canonical_recent(words: list[str]) -> list[str]:
    """``-m recent --name N --rcheck ...`` -> ``-m recent --rcheck ... --name N --mask ... --rsource``."""
    if "recent" not in words:
        return words
    start = words.index("recent") + 1
    end = next((k for k in range(start, len(words)) if words[k] in ("-m", "-j")), len(words))
    opts = words[start:end]
    name = opts[opts.index("--name") + 1] if "--name" in opts else "DEFAULT"
    kept = [w for k, w in enumerate(opts) if w not in ("--name", "--mask", "--rsource")
            and (k == 0 or opts[k - 1] not in ("--name", "--mask"))]
    return words[:start] + kept + ["--name", name, "--mask", "255.255.255.255", "--rsource"] + words[end:]


def kernel_read_back(probability: str) -> str:
    """What ``iptables-save`` prints for a ``--probability`` kube-proxy wrote.

    libxt_statistic stores ``lround(2**31 * p)`` in the kernel and prints ``%.11f`` of
    ``k / 2**31``: ``0.3333333333`` comes back as ``0.33333333349``.
    """
    k = math.floor(float(probability) * 0x80000000 + 0.5)  # C lround for positive values
    return f"{k / 0x80000000:.11f}"


def canonical_probability(rule: str) -> str:
    """Rewrite an 11-digit kernel read-back probability to kube-proxy's 10-digit form.

    kube-proxy only writes 1/n (``%0.10f``), so n = round(1/p) is recovered and checked by
    reading 1/n back the way the kernel does; anything else is left alone.
    """

    def repl(m: re.Match) -> str:
        value = float(m.group(1))
        written = f"{1 / round(1 / value):.10f}" if value > 0 else ""
        return f"--probability {written}" if written and kernel_read_back(written) == m.group(1) else m.group(0)

    return re.sub(r"--probability (\d\.\d{11})\b", repl, rule)


def diff_nft(model: NFTTable, node: NFTTable) -> RuleDiff:
    """Compare two ``kube-proxy`` tables: rules per chain and elements per set/map, order ignored.

    Both sides go through the same canonical form (see ``nftables.canonical_nft``) via the
    caller; keys are ``chain/<name>`` and ``set/<name>``.
    """
    def items(table: NFTTable) -> dict[str, list[str]]:
        out = {f"chain/{name}": rules for name, rules in table.chains.items()}
        out.update({f"set/{name}": spec["elements"] for name, spec in table.sets.items()})
        return out

    return _diff_maps(items(model), items(node))


def _diff_maps(want: dict[str, list[str]], have: dict[str, list[str]]) -> RuleDiff:
    """Per key, the lines only one side has; a key only one side has is reported as "(key)"."""
    missing, extra = {}, {}
    for key in sorted(set(want) | set(have)):
        w, h = want.get(key), have.get(key)
        only_w = [r for r in (w or []) if r not in set(h or [])] or ([f"({key})"] if h is None else [])
        only_h = [r for r in (h or []) if r not in set(w or [])] or ([f"({key})"] if w is None else [])
        if only_w:
            missing[key] = only_w
        if only_h:
            extra[key] = only_h
    return RuleDiff(missing, extra)


def diff_node_rules(node_text: str, *, services=(), endpoint_slices=(), node=None, config=None,
                    fmt: str = "iptables", service_cidrs=()) -> RuleDiff:
    """"The model predicts / your node has": diff a node's ``iptables-save`` or ``nft list ruleset``
    text against the model's rules for the same Services, EndpointSlices, Node and config.

    Raises ParseError when the text is not what the format promises.
    """
    # Imported here: the renderers import this module for their output structures.
    from helpers.dataplane import iptables, nftables
    from helpers.dataplane.proxy import build_proxy_state

    state = build_proxy_state(list(services), list(endpoint_slices), node, config)
    if fmt == "iptables":
        # Kernel features decide two details; read them off the node (nfacct also marks INVALID drops).
        model = iptables.render(state, include_hooks=True, random_fully="--random-fully" in node_text,
                                nfacct="-m nfacct" in node_text).dump()
        return diff_iptables(model, parse_iptables_save(node_text))
    if fmt == "nftables":
        tables = parse_nft_ruleset(node_text)
        if ("ip", nftables.TABLE) not in tables:
            raise ParseError("the node has no 'ip kube-proxy' table (is kube-proxy running in nftables mode?)")
        model_table = nftables.render(state, service_cidrs=service_cidrs).table()
        node_table = tables[("ip", nftables.TABLE)]
        node_table.chains = {c: [nftables.canonical_nft(r) for r in rules] for c, rules in node_table.chains.items()}
        for spec in node_table.sets.values():
            spec["elements"] = [nftables.canonical_nft(e) for e in spec["elements"]]
        return diff_nft(model_table, node_table)
    raise ValueError(f"fmt must be 'iptables' or 'nftables', not {fmt!r}")
