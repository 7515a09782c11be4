"""The packet the tracer walks and netfilter evaluates: L3/L4 header fields, no payload bytes.

``size`` is the IP total length (header + payload) of this packet as it stands; the tracer
keeps the inner packet and the outer headers of an encapsulation separately.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Literal

from overlaynet.model.base import IPAddress

L4Proto = Literal["tcp", "udp", "icmp", "sctp", "icmpv6", "ipip"]  # ipip: an IP-in-IP outer packet


@dataclass(frozen=True, slots=True)
class Packet:
    src: IPAddress
    dst: IPAddress
    proto: L4Proto = "tcp"
    sport: int | None = None
    dport: int | None = None
    size: int = 64
    df: bool = False
    ttl: int = 64
    tcp_flags: frozenset[str] = field(default_factory=lambda: frozenset({"SYN"}))
    icmp_type: int | None = None
    mark: int = 0
    reply: bool = False  # a packet of the reply direction of a connection

    @property
    def version(self) -> int:
        return self.src.version

    def with_(self, **changes: object) -> Packet:
        """A copy with ``changes``: ``dataclasses.replace`` without its per-call overhead
        (the netfilter engine and the tracer make many)."""
        if not changes.keys() <= _FIELD_SET:
            raise TypeError(f"Packet has no field {', '.join(sorted(changes.keys() - _FIELD_SET))}")
        new = object.__new__(Packet)
        for name in _FIELDS:
            _set(new, name, changes[name] if name in changes else getattr(self, name))
        return new

    def five_tuple(self) -> tuple[str, IPAddress, int | None, IPAddress, int | None]:
        return (self.proto, self.src, self.sport, self.dst, self.dport)

    def reversed(self) -> Packet:
        """The reply to this packet: addresses and ports swapped, as a conntrack reply."""
        flags = frozenset({"SYN", "ACK"}) if self.proto == "tcp" else self.tcp_flags
        icmp = 0 if self.proto == "icmp" and self.icmp_type == 8 else self.icmp_type
        return replace(
            self,
            src=self.dst,
            dst=self.src,
            sport=self.dport,
            dport=self.sport,
            tcp_flags=flags,
            icmp_type=icmp,
            reply=not self.reply,
            mark=0,
        )


def ephemeral_port(seed: int) -> int:
    """A client's source port, chosen from Linux's ephemeral range (32768-60999) by ``seed``."""
    return 32768 + (seed * 7919 + 12345) % (60999 - 32768 + 1)


_FIELDS = tuple(f.name for f in fields(Packet))
_FIELD_SET = frozenset(_FIELDS)
_set = object.__setattr__
