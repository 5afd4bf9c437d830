"""Where each new flow went, from the node's conntrack event stream (ctnetlink, ``conntrack -E``'s source).

The kernel announces each conntrack entry as it is confirmed (``IPCTNL_MSG_CT_NEW`` to the multicast
group ``NFNLGRP_CONNTRACK_NEW``), with both tuples: the reply tuple's source is the endpoint a DNAT
picked. That announcement is queued on our socket before the flow's first packet leaves the node, so
after a request a non-blocking read has it -- also for a connection refused by an RST, whose entry
the kernel deletes at once ("If only reply is a RST ... delete the conntrack immediately",
net/netfilter/nf_conntrack_proto_tcp.c) so that ``conntrack -L`` never shows it.

Message layout: include/uapi/linux/netfilter/nfnetlink.h (``nfgenmsg``), nfnetlink_conntrack.h
(``CTA_TUPLE_ORIG``/``CTA_TUPLE_REPLY`` > ``CTA_TUPLE_IP`` > ``CTA_IP_V4_SRC``/``DST``, ``CTA_TUPLE_PROTO`` >
``CTA_PROTO_NUM``/``CTA_PROTO_SRC_PORT``/``CTA_PROTO_DST_PORT``).
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import struct
from collections import OrderedDict

NETLINK_NETFILTER = 12
NFNLGRP_CONNTRACK_NEW = 1
NFNL_SUBSYS_CTNETLINK = 1
IPCTNL_MSG_CT_NEW = 0
CTA_TUPLE_ORIG, CTA_TUPLE_REPLY = 1, 2
CTA_TUPLE_IP, CTA_TUPLE_PROTO = 1, 2
CTA_IP_V4_SRC, CTA_IP_V4_DST = 1, 2
CTA_PROTO_NUM, CTA_PROTO_SRC_PORT, CTA_PROTO_DST_PORT = 1, 2, 3
PROTOCOLS = {6: "TCP", 17: "UDP", 132: "SCTP"}
KEPT = 65536  # flows remembered per node
RCVBUF = 4 << 20


def _attributes(data: bytes) -> dict[int, bytes]:
    out, offset = {}, 0
    while offset + 4 <= len(data):
        length, kind = struct.unpack_from("=HH", data, offset)
        if length < 4:
            break
        out[kind & 0x3FFF] = data[offset + 4:offset + length]
        offset += (length + 3) & ~3
    return out


def _tuple(data: bytes) -> tuple[str, str, str, int, int] | None:
    """(protocol, src, dst, sport, dport) of a CTA_TUPLE_* attribute."""
    parts = _attributes(data)
    ip, proto = _attributes(parts.get(CTA_TUPLE_IP, b"")), _attributes(parts.get(CTA_TUPLE_PROTO, b""))
    if CTA_IP_V4_SRC not in ip or CTA_PROTO_NUM not in proto:
        return None
    ports = [struct.unpack("!H", proto[k])[0] if k in proto else 0 for k in (CTA_PROTO_SRC_PORT, CTA_PROTO_DST_PORT)]
    return (PROTOCOLS.get(proto[CTA_PROTO_NUM][0], str(proto[CTA_PROTO_NUM][0])),
            str(ipaddress.IPv4Address(ip[CTA_IP_V4_SRC])), str(ipaddress.IPv4Address(ip[CTA_IP_V4_DST])), *ports)


def parse(data: bytes) -> list[tuple[tuple, tuple]]:
    """The (original, reply) tuples of every CT_NEW message in one netlink datagram."""
    flows, offset = [], 0
    while offset + 16 <= len(data):
        length, kind = struct.unpack_from("=IH", data, offset)
        if length < 16:
            break
        if kind == (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_NEW:
            attrs = _attributes(data[offset + 20:offset + length])  # after nlmsghdr (16) and nfgenmsg (4)
            orig, reply = _tuple(attrs.get(CTA_TUPLE_ORIG, b"")), _tuple(attrs.get(CTA_TUPLE_REPLY, b""))
            if orig and reply:
                flows.append((orig, reply))
        offset += (length + 3) & ~3
    return flows


class FlowLog:
    """New flows of one namespace: a ctnetlink socket made there, read when asked."""

    def __init__(self, ns):
        def make():
            sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)
            sock.bind((0, 1 << (NFNLGRP_CONNTRACK_NEW - 1)))
            return sock

        self.sock = ns.run_inside(make)
        self.flows: OrderedDict[tuple, tuple] = OrderedDict()  # original tuple -> reply tuple

    def _drain(self) -> None:
        while True:
            try:
                data = self.sock.recv(1 << 16, socket.MSG_DONTWAIT)
            except BlockingIOError:
                return
            except OSError:  # ENOBUFS: events were lost while nobody read; the later ones still come
                continue
            for orig, reply in parse(data):
                self.flows[orig] = reply
                if len(self.flows) > KEPT:
                    self.flows.popitem(last=False)

    def reply(self, protocol: str, src: str, dst: str, sport: int, dport: int) -> tuple | None:
        """The reply tuple of that flow's entry, if the kernel announced one."""
        self._drain()
        return self.flows.get((protocol, src, dst, sport, dport))

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()
