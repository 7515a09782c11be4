"""The typed steps of a trace: one small frozen class per kind of thing the forwarding path
does to a packet. Each has ``kind`` (its JSON tag), ``to_dict()`` and ``summary()``."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from enum import Enum
from ipaddress import IPv4Address, IPv6Address
from typing import Any, ClassVar

from overlaynet.dataplane.ir import NsRef
from overlaynet.dataplane.netfilter.rules import ChainRole
from overlaynet.model.base import IPAddress
from overlaynet.trace.disposition import Disposition

__all__ = [
    "BridgeStep",
    "DecapStep",
    "DeliverStep",
    "DnatStep",
    "DnsStep",
    "DropStep",
    "EncapStep",
    "ForwardStep",
    "FragmentStep",
    "NeighborStep",
    "NetfilterStep",
    "PolicyStep",
    "RelayStep",
    "RouteStep",
    "SnatStep",
    "Step",
    "UnderlayStep",
    "WarningStep",
]


def _plain(value: object) -> Any:
    if hasattr(value, "to_dict") and not isinstance(value, type):  # a Trace embedded in a step
        return value.to_dict()
    if isinstance(value, IPv4Address | IPv6Address):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def _ep(ip: IPAddress, port: int | None) -> str:
    return f"{ip}:{port}" if port is not None else str(ip)


@dataclass(frozen=True, slots=True)
class Port:
    """A device in a namespace: where a frame leaves or arrives (``node-1:eth0``)."""

    ns: NsRef
    dev: str

    def __str__(self) -> str:
        return f"{self.ns}:{self.dev}"


@dataclass(frozen=True, slots=True)
class Step:
    """Base of every step kind."""

    kind: ClassVar[str] = "step"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind}
        for f in fields(self):
            if f.metadata.get("json", True):
                out[f.name] = _plain(getattr(self, f.name))
        return out

    def summary(self) -> str:
        return self.kind


@dataclass(frozen=True, slots=True)
class DnsStep(Step):
    """The client's resolver: every query it sent (search list order) and the answer."""

    kind: ClassVar[str] = "dns"
    name: str
    queries: tuple[tuple[str, str, str], ...]  # (name, type, rcode)
    answer: tuple[IPAddress, ...]
    rcode: str
    #: the server asked when it is not the cluster DNS (Docker's embedded 127.0.0.11)
    server: str = ""
    #: the DNS packets themselves: the trace of the UDP query to the pod's nameserver (the
    #: kube-dns Service, DNATed to a CoreDNS pod) and of its answer back; () when not traced
    exchange: tuple[Any, ...] = ()

    def summary(self) -> str:
        tried = ", ".join(f"{n} {t} → {r}" for n, t, r in self.queries)
        got = ", ".join(str(a) for a in self.answer) or self.rcode
        via = f" via {self.server}" if self.server else ""
        return f"resolve {self.name}{via}: {tried}; answer {got}{self._packets()}"

    def _packets(self) -> str:
        if not self.exchange or not hasattr(self.exchange[0], "packet"):
            return ""
        query = self.exchange[0]
        p = query.packet
        said = f"; the query: udp {p.src}:{p.sport} → {p.dst}:{p.dport} ({p.size} bytes) {query.disposition.value}"
        if query.hops:
            said += f" at {query.hops[-1].ns}"
        if len(self.exchange) > 1:
            back = self.exchange[1]
            final = back.final_packet or back.packet
            said += f"; the answer from {final.src}:{final.sport}: {back.disposition.value}"
        return said


@dataclass(frozen=True, slots=True)
class RouteStep(Step):
    """A route lookup and its result, printed as ``ip route`` prints the route."""

    kind: ClassVar[str] = "route"
    dst: IPAddress
    route: str
    dev: str | None
    via: IPAddress | None
    table: str
    origin: str
    ttl: int | None = None  # the TTL after a forwarding decrement, if forwarded
    #: whose TTL that is when a tunnel is involved: "outer" (a tunnel packet routed by the
    #: underlay; the inner TTL is untouched), "inner" (the packet a tunnel carries), or ""
    layer: str = ""

    def summary(self) -> str:
        ttl = ""
        if self.ttl is not None:
            which = f"{self.layer} TTL" if self.layer else "TTL"
            untouched = "; the inner packet's TTL is untouched" if self.layer == "outer" else ""
            ttl = f" (forwarded, {which} → {self.ttl}{untouched})"
        return f"route to {self.dst}: {self.route}{ttl}"


@dataclass(frozen=True, slots=True)
class NeighborStep(Step):
    """The next hop's link-layer address: from the neighbour table or answered by ARP."""

    kind: ClassVar[str] = "neighbor"
    ip: IPAddress
    dev: str
    lladdr: str | None
    how: str  # "table" | "arp" | "proxy_arp" | "none" (point-to-point)
    answered_by: str | None
    origin: str = ""

    def summary(self) -> str:
        who = f", answered by {self.answered_by}" if self.answered_by else ""
        mac = self.lladdr or "-"
        return f"neighbour {self.ip} dev {self.dev} lladdr {mac} ({self.how}{who})"


@dataclass(frozen=True, slots=True)
class BridgeStep(Step):
    kind: ClassVar[str] = "bridge"
    bridge: str
    in_port: str
    out_port: str | None  # None: the frame is for the bridge itself (up to the IP stack)
    mac: str | None = None
    how: str = "fdb"  # "fdb" | "local"

    def summary(self) -> str:
        out = self.out_port or f"{self.bridge} itself (local)"
        return f"bridge {self.bridge}: in {self.in_port} → out {out}"


@dataclass(frozen=True, slots=True)
class ForwardStep(Step):
    """The frame leaves by a device: across a veth to its peer, or out of the topology."""

    kind: ClassVar[str] = "forward"
    dev: str
    to: str
    link: str  # "veth" | "tun" | "uplink" | ...
    #: a veth's receiving end as values (``to`` is its rendering): what counts bytes in reads these
    peer: Port | None = field(default=None, compare=False, metadata={"json": False})

    def summary(self) -> str:
        return f"out {self.dev} ({self.link}) → {self.to}"


@dataclass(frozen=True, slots=True)
class RelayStep(Step):
    """A frame forwarder passes on a frame whose station lives on another host: it is not
    for this host, so the forwarder sends it on toward its next hop, and says why that hop."""

    kind: ClassVar[str] = "relay"
    forwarder: str
    station: str  # the destination MAC (and address)
    next_hop: IPAddress
    reason: str

    def summary(self) -> str:
        return f"{self.forwarder} relays the frame for {self.station} to {self.next_hop}: {self.reason}"


@dataclass(frozen=True, slots=True)
class NetfilterStep(Step):
    """One rule hit; ``role`` is what its chain is for, as the agent that wrote it said."""

    kind: ClassVar[str] = "netfilter"
    hook: str
    table: str
    chain: str
    rule: int
    text: str
    verdict: str | None
    comment: str | None = None
    role: ChainRole = ChainRole.UNKNOWN

    def summary(self) -> str:
        verdict = f" → {self.verdict}" if self.verdict else ""
        return f"{self.hook} {self.table}/{self.chain} #{self.rule}: {self.text}{verdict}"


@dataclass(frozen=True, slots=True)
class DnatStep(Step):
    kind: ClassVar[str] = "dnat"
    before: tuple[IPAddress, int | None]
    after: tuple[IPAddress, int | None]
    chain: str
    how: str = "DNAT"

    def summary(self) -> str:
        chain = f" ({self.chain})" if self.chain else ""
        return f"{self.how} {_ep(*self.before)} → {_ep(*self.after)}{chain}"


@dataclass(frozen=True, slots=True)
class SnatStep(Step):
    kind: ClassVar[str] = "snat"
    before: tuple[IPAddress, int | None]
    after: tuple[IPAddress, int | None]
    chain: str
    how: str = "SNAT"

    def summary(self) -> str:
        chain = f" ({self.chain})" if self.chain else ""
        return f"{self.how} {_ep(*self.before)} → {_ep(*self.after)}{chain}"


@dataclass(frozen=True, slots=True)
class PolicyStep(Step):
    """A network-policy decision (a rule in a policy chain, or a warning that none applies)."""

    kind: ClassVar[str] = "policy"
    policy: str
    verdict: str
    detail: str = ""

    def summary(self) -> str:
        return f"policy {self.policy}: {self.verdict} {self.detail}".rstrip()


@dataclass(frozen=True, slots=True)
class EncapStep(Step):
    """An encapsulation: the outer headers as they go on the wire.

    ``overhead_bytes`` counts against the underlay MTU (outer IP + UDP + tunnel header + inner
    Ethernet); ``wire_bytes`` is the whole underlay frame a capture shows (outer Ethernet 14
    included); ``layers`` lists every header outside the inner IP packet with its size.
    """

    kind: ClassVar[str] = "encap"
    encapsulation: str  # "vxlan" | "ipip" | "udp"
    dev: str
    vni: int | None
    outer_src: IPAddress
    outer_dst: IPAddress
    outer_sport: int | None
    outer_dport: int | None
    inner_bytes: int
    outer_bytes: int
    overhead_bytes: int
    wire_bytes: int
    layers: tuple[tuple[str, int], ...]
    origin: str = ""
    cipher: str = ""  # what encrypts the tunnel packet ("" when nothing does)
    #: the inner packet's fragments, each sent in a tunnel packet of its own (empty when the
    #: inner packet is whole); ``outer_bytes`` and ``wire_bytes`` are then the largest's
    fragments: tuple[int, ...] = ()

    def summary(self) -> str:
        vni = f" VNI {self.vni}" if self.vni is not None else ""
        if self.cipher:
            vni += f", encrypted ({self.cipher})"
        ports = f" UDP {self.outer_sport} → {self.outer_dport}" if self.outer_dport else ""
        layers = " + ".join(f"{n} {b}" for n, b in self.layers)
        if self.fragments:
            headers = sum(b for _, b in self.layers)
            inner = ", ".join(str(n) for n in self.fragments)
            outer = ", ".join(str(n + self.overhead_bytes) for n in self.fragments)
            wire = ", ".join(str(n + headers) for n in self.fragments)
            return (
                f"{self.encapsulation} encap on {self.dev}{vni}: outer {self.outer_src} → "
                f"{self.outer_dst}{ports}, one tunnel packet per fragment of the "
                f"{self.inner_bytes}-byte packet, +{self.overhead_bytes} bytes each "
                f"({inner} → {outer}; wire frames {wire} = {layers} + inner)"
            )
        return (
            f"{self.encapsulation} encap on {self.dev}{vni}: outer {self.outer_src} → "
            f"{self.outer_dst}{ports}, +{self.overhead_bytes} bytes "
            f"({self.inner_bytes} → {self.outer_bytes}; wire frame {self.wire_bytes} = {layers} "
            f"+ inner {self.wire_bytes - sum(b for _, b in self.layers)})"
        )


@dataclass(frozen=True, slots=True)
class DecapStep(Step):
    kind: ClassVar[str] = "decap"
    encapsulation: str
    dev: str
    vni: int | None
    outer_src: IPAddress
    outer_dst: IPAddress
    reassembled_from: int = 1  # how many outer fragments were put back together
    packets: int = 1  # tunnel packets decapsulated: one per fragment of the inner packet

    def summary(self) -> str:
        vni = f" VNI {self.vni}" if self.vni is not None else ""
        frag = f", reassembled from {self.reassembled_from} fragments" if self.reassembled_from > self.packets else ""
        each = f", {self.packets} tunnel packets, each an inner fragment" if self.packets > 1 else ""
        return f"{self.encapsulation} decap on {self.dev}{vni} (outer {self.outer_src} → {self.outer_dst}){frag}{each}"


@dataclass(frozen=True, slots=True)
class UnderlayStep(Step):
    """The frame crosses an underlay segment from one port to another."""

    kind: ClassVar[str] = "underlay"
    segment: str
    mtu: int
    from_port: str
    to_port: str
    frame_bytes: int  # the largest frame
    frames: tuple[int, ...] = ()  # every frame's length, in order (fragments, tunnel packets)
    #: the two ports as values (``from_port``/``to_port`` are their rendering)
    ports: tuple[Port, Port] | None = field(default=None, compare=False, metadata={"json": False})

    def summary(self) -> str:
        sizes = self.frames or (self.frame_bytes,)
        what = f"{sizes[0]}-byte frame" if len(sizes) == 1 else f"{len(sizes)} frames of {', '.join(map(str, sizes))} bytes"
        return f"segment {self.segment} (MTU {self.mtu}): {self.from_port} → {self.to_port}, {what}"


@dataclass(frozen=True, slots=True)
class FragmentStep(Step):
    kind: ClassVar[str] = "fragment"
    dev: str
    mtu: int
    size: int
    fragments: int
    outer: bool = False
    packets: int = 1  # datagrams cut (tunnel packets each carrying an inner fragment)

    def summary(self) -> str:
        which = "outer packet" if self.outer else "packet"
        if self.packets > 1:
            return f"{self.packets} {which}s of up to {self.size} bytes > MTU {self.mtu} of {self.dev}: {self.fragments} fragments"
        return f"{which} of {self.size} bytes > MTU {self.mtu} of {self.dev}: {self.fragments} fragments"


@dataclass(frozen=True, slots=True)
class DeliverStep(Step):
    kind: ClassVar[str] = "deliver"
    dev: str
    address: IPAddress
    port: int | None
    proto: str
    to: str  # "pod ns/name" or "host node-1"

    def summary(self) -> str:
        return f"delivered to {self.to}: {self.proto} {_ep(self.address, self.port)} via {self.dev}"


@dataclass(frozen=True, slots=True)
class DropStep(Step):
    """Why the packet stops: the reason in words, what dropped it, and for MTU both sizes."""

    kind: ClassVar[str] = "drop"
    disposition: Disposition
    reason: str
    dev: str | None = None
    size: int | None = None
    mtu: int | None = None
    origin: str = ""
    #: the address the ICMP error comes from: a forwarding namespace's own (its source for
    #: the route back), or the inner destination's when a bridged VXLAN port answers; None
    #: when the sender's own stack refuses the packet or no error is sent
    icmp_from: IPAddress | None = None

    def summary(self) -> str:
        origin = f" [{self.origin}]" if self.origin else ""
        return f"{self.disposition.value}: {self.reason}{origin}"


@dataclass(frozen=True, slots=True)
class WarningStep(Step):
    kind: ClassVar[str] = "warning"
    message: str

    def summary(self) -> str:
        return f"warning: {self.message}"
