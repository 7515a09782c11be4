"""Typed iptables matches: one small frozen value per extension, its canonical
iptables-save text (``render``) and its test against a packet (``test``).

Parsing lives in ``parse.py``; the walk that calls ``test`` in ``evaluate.py``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, ClassVar, Protocol

from overlaynet.dataplane.packet import Packet
from overlaynet.model.base import IPAddress, IPNetwork

if TYPE_CHECKING:
    from overlaynet.dataplane.netfilter.state import ConnInfo, IpSet, NetfilterState


class Env(Protocol):
    """What a match may look at: the packet, the hook, interfaces, conntrack, state."""

    packet: Packet
    hook: str
    in_iface: str | None
    out_iface: str | None
    local_addresses: frozenset[IPAddress]
    ct: ConnInfo
    ipsets: Mapping[str, IpSet]
    state: NetfilterState
    namespace: str
    physdev_in: str | None  # the bridge port a bridged packet came in on (None: routed)
    physdev_out: str | None

    def decide(self, probability: Fraction, nth: tuple[int, int] | None = None) -> bool:
        """A statistic branch point: sampled (seeded RNG / nth counter) or branched."""
        ...


def quote(text: str) -> str:
    """Quote a string the way iptables-save does (always double quotes)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _neg(negated: bool) -> str:
    return "! " if negated else ""


@dataclass(frozen=True, slots=True)
class PortRange:
    lo: int
    hi: int

    def __post_init__(self) -> None:
        if not (0 <= self.lo <= self.hi <= 65535):
            raise ValueError(f"bad port range {self.lo}:{self.hi}")

    def __contains__(self, port: object) -> bool:
        return isinstance(port, int) and self.lo <= port <= self.hi

    def __str__(self) -> str:
        return str(self.lo) if self.lo == self.hi else f"{self.lo}:{self.hi}"


class Match:
    """Base of every match. ``ext`` is the ``-m`` name, ``None`` for the built-in ones."""

    __slots__ = ()
    ext: ClassVar[str | None] = None
    order: ClassVar[int] = 99  # position of built-in matches in iptables-save's output

    def render(self) -> str:
        raise NotImplementedError

    def test(self, env: Env) -> bool:
        raise NotImplementedError


# --- built-in matches: -s -d -i -o -p -f ---------------------------------------------------
def render_net(net: IPNetwork) -> str:
    return f"{net.network_address}/{net.prefixlen}"


@dataclass(frozen=True, slots=True)
class Source(Match):
    net: IPNetwork
    negated: bool = False
    order: ClassVar[int] = 0

    def render(self) -> str:
        return f"{_neg(self.negated)}-s {render_net(self.net)}"

    def test(self, env: Env) -> bool:
        src = env.packet.src
        return (src.version == self.net.version and src in self.net) != self.negated


@dataclass(frozen=True, slots=True)
class Destination(Match):
    net: IPNetwork
    negated: bool = False
    order: ClassVar[int] = 1

    def render(self) -> str:
        return f"{_neg(self.negated)}-d {render_net(self.net)}"

    def test(self, env: Env) -> bool:
        dst = env.packet.dst
        return (dst.version == self.net.version and dst in self.net) != self.negated


def iface_matches(pattern: str, name: str | None) -> bool:
    if name is None:
        return False
    if pattern.endswith("+"):
        return name.startswith(pattern[:-1])
    return name == pattern


@dataclass(frozen=True, slots=True)
class InIface(Match):
    name: str
    negated: bool = False
    order: ClassVar[int] = 2

    def render(self) -> str:
        return f"{_neg(self.negated)}-i {self.name}"

    def test(self, env: Env) -> bool:
        return iface_matches(self.name, env.in_iface) != self.negated


@dataclass(frozen=True, slots=True)
class OutIface(Match):
    name: str
    negated: bool = False
    order: ClassVar[int] = 3

    def render(self) -> str:
        return f"{_neg(self.negated)}-o {self.name}"

    def test(self, env: Env) -> bool:
        return iface_matches(self.name, env.out_iface) != self.negated


# "ipip" is the tracer's name for an IP-in-IP outer packet; /etc/protocols calls 4 "ipencap".
PROTO_NUMBERS = {"icmp": 1, "ipip": 4, "ipencap": 4, "tcp": 6, "udp": 17, "ipv6-icmp": 58, "icmpv6": 58, "sctp": 132, "esp": 50, "ah": 51, "gre": 47, "udplite": 136}
PROTO_NAMES = {1: "icmp", 4: "ipencap", 6: "tcp", 17: "udp", 58: "ipv6-icmp", 132: "sctp", 50: "esp", 51: "ah", 47: "gre", 136: "udplite"}


def packet_proto_number(packet: Packet) -> int:
    return PROTO_NUMBERS.get(packet.proto, -1)


@dataclass(frozen=True, slots=True)
class Protocol_(Match):
    """``-p``: ``number`` is the IP protocol number (``-p all`` is no match at all)."""

    number: int
    negated: bool = False
    order: ClassVar[int] = 4

    @property
    def name(self) -> str:
        return PROTO_NAMES.get(self.number, str(self.number))

    def render(self) -> str:
        return f"{_neg(self.negated)}-p {self.name}"

    def test(self, env: Env) -> bool:
        return (packet_proto_number(env.packet) == self.number) != self.negated


@dataclass(frozen=True, slots=True)
class Fragment(Match):
    """``-f``: second and later fragments. The tracer's packets are whole, so never true."""

    negated: bool = False
    order: ClassVar[int] = 5

    def render(self) -> str:
        return f"{_neg(self.negated)}-f"

    def test(self, env: Env) -> bool:
        return self.negated


# --- protocol matches: tcp udp sctp icmp multiport -------------------------------------------
TCP_FLAGS = ("FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR")


def render_flags(flags: frozenset[str]) -> str:
    if flags == frozenset(TCP_FLAGS):
        return "FIN,SYN,RST,PSH,ACK,URG,ECE,CWR"
    if not flags:
        return "NONE"
    return ",".join(f for f in TCP_FLAGS if f in flags)


@dataclass(frozen=True, slots=True)
class Ports(Match):
    """``-m tcp`` / ``-m udp`` / ``-m sctp``: source/destination port (ranges), TCP flags."""

    proto: str  # tcp | udp | sctp
    sport: PortRange | None = None
    sport_negated: bool = False
    dport: PortRange | None = None
    dport_negated: bool = False
    flags: tuple[frozenset[str], frozenset[str]] | None = None  # (mask, comparison), tcp only
    flags_negated: bool = False

    @property
    def extension(self) -> str:
        return self.proto

    def render(self) -> str:
        parts = []
        if self.sport is not None:
            parts.append(f"{_neg(self.sport_negated)}--sport {self.sport}")
        if self.dport is not None:
            parts.append(f"{_neg(self.dport_negated)}--dport {self.dport}")
        if self.flags is not None:
            mask, comp = self.flags
            parts.append(f"{_neg(self.flags_negated)}--tcp-flags {render_flags(mask)} {render_flags(comp)}")
        return " ".join(parts)

    def test(self, env: Env) -> bool:
        pkt = env.packet
        if pkt.proto != self.proto:
            return False
        if self.sport is not None and (pkt.sport in self.sport) == self.sport_negated:
            return False
        if self.dport is not None and (pkt.dport in self.dport) == self.dport_negated:
            return False
        if self.flags is not None:
            mask, comp = self.flags
            if (pkt.tcp_flags & mask == comp) == self.flags_negated:
                return False
        return True


ICMP_TYPES = {
    "any": (255, None), "echo-reply": (0, None), "pong": (0, None), "destination-unreachable": (3, None),
    "network-unreachable": (3, 0), "host-unreachable": (3, 1), "protocol-unreachable": (3, 2),
    "port-unreachable": (3, 3), "fragmentation-needed": (3, 4), "source-quench": (4, None),
    "redirect": (5, None), "echo-request": (8, None), "ping": (8, None), "router-advertisement": (9, None),
    "router-solicitation": (10, None), "time-exceeded": (11, None), "ttl-exceeded": (11, None),
    "parameter-problem": (12, None), "timestamp-request": (13, None), "timestamp-reply": (14, None),
}


@dataclass(frozen=True, slots=True)
class Icmp(Match):
    """``-m icmp --icmp-type T[/C]`` (names are stored as numbers, as iptables-save prints)."""

    type: int  # 255 = any
    code: int | None = None
    negated: bool = False
    ext: ClassVar[str | None] = "icmp"

    def render(self) -> str:
        text = "any" if self.type == 255 else str(self.type) + ("" if self.code is None else f"/{self.code}")
        return f"{_neg(self.negated)}--icmp-type {text}"

    def test(self, env: Env) -> bool:
        pkt = env.packet
        if pkt.proto != "icmp":
            return False
        hit = self.type == 255 or (pkt.icmp_type == self.type and self.code in (None, 0))
        return hit != self.negated


@dataclass(frozen=True, slots=True)
class Icmp6(Match):
    """``-m icmp6 --icmpv6-type T[/C]`` (ip6tables)."""

    type: int
    code: int | None = None
    negated: bool = False
    ext: ClassVar[str | None] = "icmp6"

    def render(self) -> str:
        text = str(self.type) + ("" if self.code is None else f"/{self.code}")
        return f"{_neg(self.negated)}--icmpv6-type {text}"

    def test(self, env: Env) -> bool:
        pkt = env.packet
        if pkt.proto != "icmpv6":
            return False
        return (pkt.icmp_type == self.type and self.code in (None, 0)) != self.negated


@dataclass(frozen=True, slots=True)
class Multiport(Match):
    kind: str  # sports | dports | ports
    ports: tuple[PortRange, ...]
    negated: bool = False
    ext: ClassVar[str | None] = "multiport"

    def render(self) -> str:
        return f"{_neg(self.negated)}--{self.kind} " + ",".join(str(p) for p in self.ports)

    def test(self, env: Env) -> bool:
        pkt = env.packet
        if pkt.proto not in ("tcp", "udp", "sctp"):
            return False
        values = {"sports": (pkt.sport,), "dports": (pkt.dport,), "ports": (pkt.sport, pkt.dport)}[self.kind]
        hit = any(v in r for v in values for r in self.ports)
        return hit != self.negated


# --- addresses, comments, marks -----------------------------------------------------------------
ADDR_TYPES = ("UNSPEC", "UNICAST", "LOCAL", "BROADCAST", "ANYCAST", "MULTICAST", "BLACKHOLE",
              "UNREACHABLE", "PROHIBIT", "THROW", "NAT", "XRESOLVE")


def addr_type(ip: IPAddress, local: frozenset[IPAddress]) -> str:
    """The kernel's route type of an address, from what a namespace knows."""
    if ip in local:
        return "LOCAL"
    if isinstance(ip, ipaddress.IPv4Address):  # the same tests on the integer (on the hot path)
        value = int(ip)
        if value >> 24 == 127:
            return "LOCAL"
        if value >> 28 == 14:
            return "MULTICAST"
        if value == 0xFFFFFFFF:
            return "BROADCAST"
        return "UNSPEC" if value == 0 else "UNICAST"
    if ip.is_loopback:
        return "LOCAL"
    if ip.is_multicast:
        return "MULTICAST"
    if isinstance(ip, ipaddress.IPv4Address) and ip == ipaddress.IPv4Address("255.255.255.255"):
        return "BROADCAST"
    if ip.is_unspecified:
        return "UNSPEC"
    return "UNICAST"


@dataclass(frozen=True, slots=True)
class AddrType(Match):
    src_type: tuple[str, ...] = ()
    src_negated: bool = False
    dst_type: tuple[str, ...] = ()
    dst_negated: bool = False
    limit_iface_in: bool = False
    limit_iface_out: bool = False
    ext: ClassVar[str | None] = "addrtype"

    def render(self) -> str:
        parts = []
        if self.src_type:
            parts.append(f"{_neg(self.src_negated)}--src-type {','.join(self.src_type)}")
        if self.dst_type:
            parts.append(f"{_neg(self.dst_negated)}--dst-type {','.join(self.dst_type)}")
        if self.limit_iface_in:
            parts.append("--limit-iface-in")
        if self.limit_iface_out:
            parts.append("--limit-iface-out")
        return " ".join(parts)

    def test(self, env: Env) -> bool:
        # --limit-iface-*: we do not model per-interface routes; LOCAL stays namespace-wide.
        local = env.local_addresses
        pkt = env.packet
        if self.src_type and (addr_type(pkt.src, local) in self.src_type) == self.src_negated:
            return False
        return not (self.dst_type and (addr_type(pkt.dst, local) in self.dst_type) == self.dst_negated)


@dataclass(frozen=True, slots=True)
class Comment(Match):
    text: str
    ext: ClassVar[str | None] = "comment"

    def render(self) -> str:
        return f"--comment {quote(self.text)}"

    def test(self, env: Env) -> bool:
        return True


@dataclass(frozen=True, slots=True)
class Nfacct(Match):
    """``-m nfacct --nfacct-name N``: counts into a named accounting object; always matches."""

    name: str
    ext: ClassVar[str | None] = "nfacct"

    def render(self) -> str:
        return f"--nfacct-name {self.name}"

    def test(self, env: Env) -> bool:
        return True


def render_mark(value: int, mask: int) -> str:
    return f"0x{value:x}" if mask == 0xFFFFFFFF else f"0x{value:x}/0x{mask:x}"


@dataclass(frozen=True, slots=True)
class Mark(Match):
    value: int
    mask: int = 0xFFFFFFFF
    negated: bool = False
    ext: ClassVar[str | None] = "mark"

    def render(self) -> str:
        return f"{_neg(self.negated)}--mark {render_mark(self.value, self.mask)}"

    def test(self, env: Env) -> bool:
        return ((env.packet.mark & self.mask) == self.value) != self.negated


@dataclass(frozen=True, slots=True)
class ConnMark(Match):
    value: int
    mask: int = 0xFFFFFFFF
    negated: bool = False
    ext: ClassVar[str | None] = "connmark"

    def render(self) -> str:
        return f"{_neg(self.negated)}--mark {render_mark(self.value, self.mask)}"

    def test(self, env: Env) -> bool:
        return ((env.ct.ctmark & self.mask) == self.value) != self.negated


@dataclass(frozen=True, slots=True)
class SetMatch(Match):
    """``-m set --match-set NAME src[,dst…]`` against the ipsets in the context/state."""

    name: str
    flags: tuple[str, ...]
    negated: bool = False
    ext: ClassVar[str | None] = "set"

    def render(self) -> str:
        return f"{_neg(self.negated)}--match-set {self.name} {','.join(self.flags)}"

    def test(self, env: Env) -> bool:
        ipset = env.ipsets.get(self.name)
        hit = ipset is not None and ipset.contains(env.packet, self.flags)
        return hit != self.negated


@dataclass(frozen=True, slots=True)
class Physdev(Match):
    """``-m physdev``: the bridge ports of a bridged packet (``physdev_in``/``physdev_out`` of
    the hook context; both None for a routed packet)."""

    physdev_in: str | None = None
    in_negated: bool = False
    physdev_out: str | None = None
    out_negated: bool = False
    is_in: bool | None = None  # None: not given; False: negated
    is_out: bool | None = None
    is_bridged: bool | None = None
    ext: ClassVar[str | None] = "physdev"

    def render(self) -> str:
        parts = []
        if self.physdev_in is not None:
            parts.append(f"{_neg(self.in_negated)}--physdev-in {self.physdev_in}")
        if self.physdev_out is not None:
            parts.append(f"{_neg(self.out_negated)}--physdev-out {self.physdev_out}")
        for flag, value in (("is-in", self.is_in), ("is-out", self.is_out), ("is-bridged", self.is_bridged)):
            if value is not None:
                parts.append(f"{_neg(not value)}--physdev-{flag}")
        return " ".join(parts)

    def test(self, env: Env) -> bool:
        pin, pout = env.physdev_in, env.physdev_out
        if self.physdev_in is not None and iface_matches(self.physdev_in, pin) == self.in_negated:
            return False
        if self.physdev_out is not None and iface_matches(self.physdev_out, pout) == self.out_negated:
            return False
        bridged = pin is not None or pout is not None
        for wanted, actual in ((self.is_in, pin is not None), (self.is_out, pout is not None),
                               (self.is_bridged, bridged and pout is not None)):
            if wanted is not None and wanted != actual:
                return False
        return True


LIMIT_UNITS = ("sec", "min", "hour", "day")


@dataclass(frozen=True, slots=True)
class Limit(Match):
    """``-m limit``: rate limiting. A single traced packet is never over the limit, so this
    always matches (documented in docs/netfilter.md)."""

    rate: int = 3
    unit: str = "hour"
    burst: int = 5
    ext: ClassVar[str | None] = "limit"

    def render(self) -> str:
        burst = "" if self.burst == 5 else f" --limit-burst {self.burst}"
        return f"--limit {self.rate}/{self.unit}{burst}"

    def test(self, env: Env) -> bool:
        return True


def match_ext(match: Match) -> str | None:
    """The ``-m`` name iptables-save prints for a match (None for built-ins)."""
    if isinstance(match, Ports):
        return match.proto
    return match.ext
