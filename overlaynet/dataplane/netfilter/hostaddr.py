"""A host's interfaces and their addresses, for ``flow.trace_packet``: which destinations are
local, which source MASQUERADE takes and which address REDIRECT sends to — as the kernel
picks them (``inet_select_addr``, ``nf_nat_redirect_ipv4``).

Interfaces are kept in device order, ``lo`` first with 127.0.0.1/8 and ::1/128 (scope host).
On one interface an IPv4 address with the same prefix length and subnet as an earlier one
is *secondary* (as ``ip addr add`` marks it); the kernel never takes a secondary address
as a source.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from overlaynet.model.base import IPAddress

IPInterface = ipaddress.IPv4Interface | ipaddress.IPv6Interface
LOOPBACK: tuple[IPInterface, ...] = (ipaddress.ip_interface("127.0.0.1/8"), ipaddress.ip_interface("::1/128"))
_LINK_LOCAL_V6 = ipaddress.ip_network("fe80::/10")


@dataclass(frozen=True)
class HostAddresses:
    """``interfaces``: (name, addresses in the order they were added), in device order."""

    interfaces: tuple[tuple[str, tuple[IPInterface, ...]], ...] = (("lo", LOOPBACK),)

    @classmethod
    def build(cls, interfaces: Mapping[str, Sequence[IPInterface]] | Iterable[tuple[str, Sequence[IPInterface]]] = (),
              *, extra: Iterable[IPAddress] = ()) -> HostAddresses:
        """``lo`` (with its loopback addresses, then any given for it), the interfaces in the
        order given, and ``extra`` addresses (host routes, /32 or /128) on one more device
        after them — an address of this host on an interface that was not named."""
        items = list(interfaces.items()) if isinstance(interfaces, Mapping) else list(interfaces)
        merged: dict[str, list[IPInterface]] = {"lo": list(LOOPBACK)}
        for name, addrs in items:
            merged.setdefault(name, []).extend(a for a in addrs if a not in merged.get(name, ()))
        others = [ipaddress.ip_interface(f"{ip}/{ip.max_prefixlen}") for ip in extra]
        if others:
            merged.setdefault("", []).extend(others)  # "": no interface was named for these
        return cls(tuple((name, tuple(addrs)) for name, addrs in merged.items()))

    def local(self) -> frozenset[IPAddress]:
        return frozenset(a.ip for _, addrs in self.interfaces for a in addrs)

    def addresses(self, name: str) -> tuple[IPInterface, ...]:
        return next((addrs for n, addrs in self.interfaces if n == name), ())

    def primaries(self, name: str, version: int) -> list[IPInterface]:
        """The addresses of ``name`` in the family that are not secondary, in order."""
        found: list[IPInterface] = []
        for addr in self.addresses(name):
            if addr.version != version:
                continue
            if version == 4 and any(p.network == addr.network for p in found):
                continue  # same subnet and prefix length as an earlier one: secondary
            found.append(addr)
        return found

    def masquerade_source(self, name: str, version: int, nexthop: IPAddress | None = None) -> IPAddress | None:
        """``inet_select_addr(out, nexthop, RT_SCOPE_UNIVERSE)``: the first primary address
        of ``name`` whose subnet holds ``nexthop``, else its first primary address; when
        the device has none, the first primary global address of any device, in device
        order. Loopback (host scope) addresses are never chosen. IPv6 (simplified RFC 6724):
        the same, with link-local addresses only for a link-local next hop."""
        own = [a for a in self.primaries(name, version) if self._usable(a, nexthop)]
        for addr in own:
            if nexthop is not None and nexthop in addr.network:
                return addr.ip
        if own:
            return own[0].ip
        for dev, _ in self.interfaces:
            usable = [a for a in self.primaries(dev, version) if self._usable(a, None)]
            if usable:
                return usable[0].ip
        return None

    def redirect_target(self, name: str, version: int) -> IPAddress | None:
        """REDIRECT at PREROUTING: the first (primary) address of the in-interface; None
        (the kernel drops the packet) when it has none."""
        primaries = self.primaries(name, version)
        return primaries[0].ip if primaries else None

    @staticmethod
    def _usable(addr: IPInterface, nexthop: IPAddress | None) -> bool:
        if addr.ip.is_loopback:
            return False
        if addr.version == 6 and addr.ip in _LINK_LOCAL_V6:
            return nexthop is not None and nexthop in _LINK_LOCAL_V6
        return True


def parse_iface(text: str) -> tuple[str, tuple[IPInterface, ...]]:
    """``NAME=ADDR[/PLEN][,ADDR[/PLEN]...]`` → (name, addresses); a bare address is a host
    address (/32, /128). ValueError says what is wrong."""
    name, sep, rest = text.partition("=")
    name = name.strip()
    if not sep or not name:
        raise ValueError(f"expected NAME=ADDR/PLEN[,ADDR/PLEN...], found {text!r}")
    if len(name) > 15 or "/" in name or " " in name:
        raise ValueError(f"{name!r} is not an interface name (at most 15 characters, no '/' or spaces)")
    addrs: list[IPInterface] = []
    for part in rest.split(","):
        part = part.strip()
        try:
            addr = ipaddress.ip_interface(part)
        except ValueError:
            raise ValueError(f"{part!r} is not an address with an optional prefix length (10.0.0.5/24)") from None
        addrs.append(addr)
    return name, tuple(addrs)
