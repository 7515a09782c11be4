"""What a trace returns: ``Trace(hops, disposition)``, ``Hop(ns, steps)``, the
``Disposition`` vocabulary, and the wire records the pcap writer turns into frames."""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, TypeVar, overload

from overlaynet.dataplane.ir import NsRef
from overlaynet.dataplane.netfilter import NetfilterState
from overlaynet.dataplane.packet import Packet
from overlaynet.trace.disposition import Disposition
from overlaynet.trace.steps import Step

S = TypeVar("S", bound=Step)

__all__ = ["Disposition", "Encapsulation", "Hop", "Trace", "TraceResult", "Wire", "packet_dict"]


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
        """The namespace's name on its host as traces print it (``root``, ``pod:ns/name``)."""
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
