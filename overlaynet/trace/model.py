"""What a trace returns: ``Trace(hops, disposition)``, ``Hop(ns, steps)``, the
``Disposition`` vocabulary, and the wire records the pcap writer turns into frames."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, TypeVar, overload

from overlaynet.dataplane.ir import NsRef
from overlaynet.dataplane.netfilter import NetfilterState
from overlaynet.dataplane.packet import Packet
from overlaynet.trace.disposition import Disposition
from overlaynet.trace.encap import (
    ETHERNET,
    esp_transport_bytes,
    fragment_sizes,
    ip_header,
    overhead,
)
from overlaynet.trace.steps import Step

S = TypeVar("S", bound=Step)

__all__ = [
    "Disposition",
    "Encapsulation",
    "Hop",
    "Trace",
    "TraceResult",
    "Wire",
    "datagram_sizes",
    "packet_dict",
]


def packet_dict(p: Packet) -> dict[str, Any]:
    return {
        "src": str(p.src),
        "dst": str(p.dst),
        "proto": p.proto,
        "sport": p.sport,
        "dport": p.dport,
        "size": p.size,
        "df": p.df,
        "ttl": p.ttl,
    }


@dataclass(frozen=True, slots=True)
class Hop:
    """One network namespace on one host and what happened to the packet there."""

    ns: NsRef
    steps: tuple[Step, ...]

    @property
    def host(self) -> str:
        return self.ns.host

    @property
    def namespace(self) -> str:
        """The namespace's name on its host as traces print it (``NsRef.label``)."""
        return self.ns.label

    def to_dict(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "namespace": self.namespace,
            "steps": [s.to_dict() for s in self.steps],
        }


@dataclass(frozen=True, slots=True)
class Encapsulation:
    """One tunnel header around a packet: the outer IP packet and what sits between it and
    the inner one (VXLAN header + inner Ethernet, nothing for IPIP, framing for udp)."""

    kind: str  # "vxlan" | "ipip" | "udp"
    dev: str
    outer: Packet
    vni: int | None = None
    inner_src_mac: str | None = None
    inner_dst_mac: str | None = None
    framing_bytes: int = 0
    #: the identity of the frame forwarder that first captured the frame (Weave's source
    #: peer short ID), kept when another forwarder relays it
    tag: int | None = None
    #: the cipher wrapping this tunnel packet on the wire ("" when none) and its bytes
    cipher: str = ""
    cipher_bytes: int = 0

    #: the ESP ICV size when ``cipher_bytes`` is ESP's: then the trailer's padding depends
    #: on each wrapped packet's size (``overhead_for``)
    esp_icv: int = 0

    @property
    def overhead(self) -> int:
        """Bytes this header adds to the IP packet it wraps (``outer``)."""
        return overhead(self.kind, self.outer.version, self.framing_bytes, self.cipher_bytes)

    def overhead_for(self, size: int) -> int:
        """Bytes this header adds to an IP packet (or fragment) of ``size`` bytes: ESP pads
        each datagram to its own alignment."""
        if not self.esp_icv:
            return self.overhead
        version = self.outer.version
        plain = overhead(self.kind, version, self.framing_bytes)
        return plain + esp_transport_bytes(size + plain - ip_header(version), icv=self.esp_icv)


def datagram_sizes(stack: Sequence[tuple[Encapsulation, Packet, int | None]], outer: Packet) -> tuple[int, ...]:
    """The IP total lengths of the datagrams of the outermost layer, as the kernel builds
    them: an inner packet in fragments (``stack`` holds each layer's fragment MTU, innermost
    first) is encapsulated fragment by fragment, one tunnel packet per fragment; with no
    fragmented layer it is ``(outer.size,)``."""
    sizes: tuple[int, ...] = ()
    for enc, inner, mtu in stack:
        whole = sizes or (inner.size,)
        sizes = tuple(piece + enc.overhead_for(piece) for d in whole for piece in fragment_sizes(d, mtu, inner.version))
    return sizes or (outer.size,)


@dataclass(frozen=True, slots=True)
class Wire:
    """The packet as it is on one wire: ``packet`` is the outermost IP packet; ``stack`` holds
    (encapsulation, inner packet) from the innermost out (its last item wraps into ``packet``)."""

    link: str  # "veth eth0 → cni0", "segment rack-a", ...
    packet: Packet
    stack: tuple[tuple[Encapsulation, Packet], ...] = ()
    src_mac: str | None = None
    dst_mac: str | None = None
    fragment_mtu: int | None = None  # the outermost packet travels in fragments of this MTU
    #: per item of ``stack``: the MTU its inner packet was cut to before it was encapsulated
    #: (one tunnel packet per fragment), or None; empty means no inner layer was fragmented
    stack_fragment_mtus: tuple[int | None, ...] = ()

    def layers(self) -> tuple[tuple[Encapsulation, Packet, int | None], ...]:
        mtus = self.stack_fragment_mtus or (None,) * len(self.stack)
        return tuple((e, p, m) for (e, p), m in zip(self.stack, mtus, strict=True))

    def ip_sizes(self) -> tuple[int, ...]:
        """The IP total length of every packet on this wire, in the order they are sent."""
        version = self.packet.version
        return tuple(
            piece for d in datagram_sizes(self.layers(), self.packet) for piece in fragment_sizes(d, self.fragment_mtu, version)
        )

    def frame_sizes(self) -> tuple[int, ...]:
        """The length of every Ethernet frame on this wire (header included), as a capture
        shows them."""
        return tuple(size + ETHERNET for size in self.ip_sizes())


@dataclass(frozen=True, slots=True)
class Trace:
    hops: tuple[Hop, ...]
    disposition: Disposition
    packet: Packet  # as first sent
    reason: str = ""
    probability: Fraction = Fraction(1)
    final_packet: Packet | None = None  # as it was when the trace ended (after any NAT)
    warnings: tuple[str, ...] = ()
    wires: tuple[Wire, ...] = ()
    #: the netfilter state (conntrack, recent lists) this trace's branch ended with, when a
    #: hook forked it (``--all-branches``); a reply to this branch is traced with it
    nf_state: NetfilterState | None = field(default=None, compare=False, repr=False)

    @property
    def success(self) -> bool:
        return self.disposition.success

    @property
    def last_step(self) -> Step | None:
        for hop in reversed(self.hops):
            if hop.steps:
                return hop.steps[-1]
        return None

    @overload
    def steps(self) -> list[Step]: ...
    @overload
    def steps(self, kind: type[S]) -> list[S]: ...

    def steps(self, kind: type[Any] = Step) -> list[Any]:
        """Every step of the trace in order, or only those of one kind:
        ``t.steps(NeighborStep)`` is a ``list[NeighborStep]``."""
        return [s for h in self.hops for s in h.steps if isinstance(s, kind)]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "disposition": self.disposition.value,
            "reason": self.reason,
            "probability": str(self.probability),
            "packet": packet_dict(self.packet),
            "hops": [h.to_dict() for h in self.hops],
        }
        if self.final_packet is not None:
            out["final_packet"] = packet_dict(self.final_packet)
        if self.warnings:
            out["warnings"] = list(self.warnings)
        return out


@dataclass(frozen=True, slots=True)
class TraceResult:
    """One trace per branch (several only with ``all_branches``); probabilities sum to 1."""

    traces: tuple[Trace, ...]

    @property
    def trace(self) -> Trace:
        return self.traces[0]

    @property
    def success(self) -> bool:
        return all(t.success for t in self.traces)

    def to_dict(self) -> list[dict[str, Any]]:
        return [t.to_dict() for t in self.traces]
