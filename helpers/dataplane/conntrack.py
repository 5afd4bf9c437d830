"""``conntrack -L`` lines as the rows ``h.conntrack`` shows (the simulator's model prints the same shape),
for a kind node (``docker exec``) and for the simulator's kernel data plane alike.

A line (conntrack-tools 1.4, ``conntrack.c`` / libnetfilter_conntrack's default output)::

    tcp      6 117 TIME_WAIT src=10.244.1.2 dst=10.96.0.50 sport=41234 dport=80 src=10.244.1.5 dst=10.244.1.2 sport=8080 dport=41234 [ASSURED] mark=0 use=1

protocol name and number, seconds left, the TCP state, the original tuple, ``[UNREPLIED]`` while no
reply was seen, the reply tuple, ``[ASSURED]`` once the flow is.
"""

from __future__ import annotations

import re

_KV = re.compile(r"(\w+)=(\S+)")


def parse_line(line: str) -> dict | None:
    words = line.split()
    if len(words) < 4 or not words[1].isdigit() or not words[2].isdigit():
        return None
    protocol, expires = words[0], int(words[2])
    state = words[3] if "=" not in words[3] else ""
    tuples: list[dict] = [{}, {}]
    which, flags = 0, []
    for word in words[3:]:
        if word.startswith("["):
            flags.append(word)
            continue
        match = _KV.fullmatch(word)
        if match is None:
            continue
        key, value = match.groups()
        if key in tuples[which] and which == 0:
            which = 1
        if key in ("src", "dst", "sport", "dport"):
            tuples[which][key] = value
    orig, reply = tuples
    if not {"src", "dst"} <= orig.keys() or not {"src", "dst"} <= reply.keys():
        return None
    flag = "[ASSURED]" if "[ASSURED]" in flags else ("[UNREPLIED]" if "[UNREPLIED]" in flags else "")
    return {"protocol": protocol, "state": state, "src": orig["src"], "sport": int(orig.get("sport", 0)),
            "dst": orig["dst"], "dport": int(orig.get("dport", 0)), "reply_src": reply["src"],
            "reply_sport": int(reply.get("sport", 0)), "reply_dst": reply["dst"], "expires_s": expires,
            "flags": flag}


def parse(text: str) -> list[dict]:
    """Every entry of a ``conntrack -L`` listing, in its order."""
    return [row for row in map(parse_line, text.splitlines()) if row is not None]
