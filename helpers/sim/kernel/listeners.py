"""The modelled images' listeners (:mod:`helpers.sim.images`) as real sockets in their pod's namespace.

Each listening socket is made by a thread that has joined the pod's network namespace (so it stays
there) and is served from threads of this process: TCP connections byte for byte as
:class:`helpers.sim.netconn.Conn` answers (Go's net/http framing, ``serve-hostname --tcp``), UDP
datagrams with :meth:`Program.answer`. Closing a listener closes the connections it accepted, as the
kernel does when a process exits: a held connection then finds its peer gone.
"""

from __future__ import annotations

import contextlib
import itertools
import socket
import struct
import threading
from collections import OrderedDict

from helpers.sim.netconn import Conn

BACKLOG = 128
PEERS_KEPT = 4096  # accepted peers remembered per listener (which address each one reached)
_arrivals = itertools.count()  # orders arrivals across listeners: a flow's latest one is where it went


def _bind(protocol: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM if protocol == "TCP" else socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("0.0.0.0", port))
    if protocol == "TCP":
        sock.listen(BACKLOG)
    return sock


class Listener:
    """``program`` listening on ``port``/``protocol`` in namespace ``ns`` as ``hostname`` (its pod's name)."""

    def __init__(self, ns, port: int, protocol: str, program, hostname: str, now, address: str):
        self.port, self.protocol, self.program, self.hostname, self.now = port, protocol, program, hostname, now
        self.address = address  # the pod's IP (a hostNetwork pod's: its node's)
        self.sock = ns.run_inside(lambda: _bind(protocol, port))
        self._open = True
        self._conns: set[socket.socket] = set()
        self._lock = threading.Lock()
        # (peer IP, peer port) -> (arrival number, the "ip:port" it reached here): the DNAT target of an
        # unmasqueraded flow, known without asking conntrack
        self.peers: OrderedDict[tuple[str, int], tuple[int, str]] = OrderedDict()
        target = self._accept if protocol == "TCP" else self._datagrams
        self._thread = threading.Thread(target=target, name=f"listen-{hostname}-{port}/{protocol}", daemon=True)
        self._thread.start()

    def _process(self):
        return self.program if self._open else None

    def _accept(self) -> None:
        while True:
            try:
                conn, peer = self.sock.accept()
            except OSError:
                return  # closed
            with self._lock:
                if not self._open:
                    conn.close()
                    return
                self._conns.add(conn)
                self._remember(peer, conn.getsockname())
            threading.Thread(target=self._serve, args=(conn, peer[0]), daemon=True).start()

    def _serve(self, conn: socket.socket, peer: str) -> None:
        model = Conn(self._process, self.port, hostname=self.hostname, peer=peer, now=self.now)
        try:
            out = model.open()
            while True:
                if out:
                    conn.sendall(out)
                if model.closed:
                    break
                data = conn.recv(65536)
                if not data:
                    break
                out = model.receive(data)
        except OSError:
            pass
        finally:
            with self._lock:
                self._conns.discard(conn)
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()

    def _datagrams(self) -> None:
        while True:
            try:
                data, peer = self.sock.recvfrom(65536)
            except OSError:
                return
            if not self._open:
                return
            with self._lock:
                self._remember(peer, (self.address, self.port))  # unconnected UDP: the pod's own address
            reply = self.program.answer(self.port, "UDP", hostname=self.hostname, client_ip=peer[0],
                                        request=data.decode(errors="replace").strip())
            if reply:
                with contextlib.suppress(OSError):
                    self.sock.sendto(reply.encode(), peer)

    def _remember(self, peer, local) -> None:
        self.peers.pop((peer[0], peer[1]), None)
        self.peers[(peer[0], peer[1])] = (next(_arrivals), f"{local[0]}:{local[1]}")
        if len(self.peers) > PEERS_KEPT:
            self.peers.popitem(last=False)

    def reached(self, peer_ip: str, peer_port: int) -> tuple[int, str] | None:
        """(arrival number, address) of the last packet or connection from that peer, if any."""
        with self._lock:
            return self.peers.get((peer_ip, peer_port))

    def close(self) -> None:
        """The process is gone: its sockets close (accepted connections are reset, as at an exit)."""
        with self._lock:
            self._open = False
            conns, self._conns = list(self._conns), set()
        shut(self.sock, conns, reset=True)
        self._thread.join(5.0)


def shut(listening: socket.socket, accepted, *, reset: bool = False) -> None:
    """Close a listening socket and wake its threads; shut the connections it accepted down (``reset``:
    with an RST, SO_LINGER 0, as the kernel does for a process that exits with data unread)."""
    with contextlib.suppress(OSError):
        listening.shutdown(socket.SHUT_RDWR)
    listening.close()
    for conn in accepted:
        with contextlib.suppress(OSError):
            if reset:
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.shutdown(socket.SHUT_RDWR)
        if not reset:
            conn.close()
