"""The host-local CNI IPAM plugin, as kind's kindnet configures it.

kindnetd writes a conflist whose `ptp` plugin delegates to `host-local` with one range: the
node's `spec.podCIDR` (`ranges: [[{subnet: <podCIDR>}]]`, no rangeStart/rangeEnd/gateway).
host-local then (containernetworking/plugins, `plugins/ipam/host-local/backend/allocator`):

* reserves the gateway, which defaults to the first address after the network address (`.1`);
* allocates from `.1` (skipping the gateway, so effectively `.2`) up to the last address before
  the IPv4 broadcast address (IPv6 has no broadcast, so its range ends at the last address).
  The plugin's README says rangeStart defaults to `.2`; its code (`Range.Canonicalize`) sets
  `.1` and skips the gateway while iterating, which is why error messages show `.1`;
* remembers the last reserved IP and starts the next search just after it (round-robin), so a
  released IP is handed out again only after the search wraps around the whole range. The
  upstream comment's reason: a crash-looping container should not get the same IP back at once.

This is a pure model: the state lives in the object (host-local keeps it as files under
`dataDir`, `/run/cni-ipam-state` on kind). One deliberate difference: `allocate` is idempotent
per key, whereas host-local refuses a second ADD for the same container ("duplicate allocation
is not allowed"); a simulated kubelet that retries should get the same answer.
"""

from __future__ import annotations

import ipaddress


class IPAMExhausted(Exception):
    """Every address of the range is taken; the message is host-local's own wording."""


class HostLocalIPAM:
    """host-local allocation state for one node's podCIDR (one range, default gateway)."""

    def __init__(self, pod_cidr: str):
        try:
            subnet = ipaddress.ip_network(pod_cidr, strict=True)
        except ValueError as err:
            raise ValueError(f"invalid podCIDR {pod_cidr!r}: {err}") from None
        # host-local refuses subnets with fewer than two host bits (a /31 or /32).
        if subnet.prefixlen > subnet.max_prefixlen - 2:
            raise ValueError(f"Network {subnet} too small to allocate from")
        self.subnet = subnet
        first = int(subnet.network_address) + 1
        last = int(subnet.broadcast_address) - (1 if subnet.version == 4 else 0)
        self._start, self._end = first, last
        self._address = type(subnet.network_address)
        self.gateway = self._ip(first)
        self._by_key: dict[str, int] = {}
        self._taken: set[int] = set()
        self._last_reserved: int | None = None

    def __repr__(self) -> str:
        return (f"HostLocalIPAM({self.subnet}: {len(self._by_key)}/{self.capacity} allocated, "
                f"last reserved {self.last_reserved})")

    @property
    def range_set(self) -> str:
        """The range as host-local prints it in errors, e.g. `10.244.1.1-10.244.1.254`."""
        return f"{self._ip(self._start)}-{self._ip(self._end)}"

    @property
    def capacity(self) -> int:
        """How many pods this node can hold addresses for (the range minus the gateway)."""
        return self._end - self._start

    @property
    def last_reserved(self) -> str | None:
        """The last IP handed out (host-local's `last_reserved_ip.0` file); releases keep it."""
        return None if self._last_reserved is None else self._ip(self._last_reserved)

    @property
    def allocated(self) -> dict[str, str]:
        """Current leases: key (e.g. pod UID or container ID) -> IP, in allocation order."""
        return {key: self._ip(value) for key, value in self._by_key.items()}

    def allocate(self, key: str) -> str:
        """Return the IP for `key`, reserving the next free one round-robin if it has none."""
        if key in self._by_key:
            return self._ip(self._by_key[key])
        for candidate in self._candidates():
            if candidate not in self._taken:
                self._taken.add(candidate)
                self._by_key[key] = candidate
                self._last_reserved = candidate
                return self._ip(candidate)
        raise IPAMExhausted(f"no IP addresses available in range set: {self.range_set}")

    def release(self, key: str) -> str | None:
        """Free the IP held by `key` and return it; releasing an unknown key is a no-op (None)."""
        value = self._by_key.pop(key, None)
        if value is None:
            return None
        self._taken.discard(value)
        return self._ip(value)

    def _candidates(self):
        """Addresses in host-local's search order: after the last reserved IP, wrapping once."""
        size = self._end - self._start + 1
        offset = 0 if self._last_reserved is None else self._last_reserved + 1 - self._start
        for step in range(size):
            candidate = self._start + (offset + step) % size
            if candidate != self._start:  # the gateway (.1) is never handed out
                yield candidate

    def _ip(self, value: int) -> str:
        return str(self._address(value))
