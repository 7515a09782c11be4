"""A packet in flight (``Flight``: the packet, where it is, the hops and steps so far) and
the forwarding path as the device code sees it (``Path``), so that tunnels and L2 code
(``tunnels.py``) and the per-namespace path (``walker.py``) share types without importing
each other: the walker calls into the tunnels, the tunnels call back through ``Path``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from fractions import Fraction
from typing import Protocol

from overlaynet.dataplane.ir import Dataplane, NsRef
from overlaynet.dataplane.netfilter import NetfilterState
from overlaynet.dataplane.packet import Packet
from overlaynet.model.base import IPAddress
from overlaynet.trace.encap import fragment_sizes
from overlaynet.trace.model import Disposition, Encapsulation, Hop, Trace, Wire, datagram_sizes
from overlaynet.trace.steps import DropStep, Step, WarningStep

__all__ = ["Cont", "Flight", "Injection", "Path", "ident"]


@dataclass(frozen=True, slots=True)
class Injection:
    """A packet that arrives from the wire on ``iface`` of ``ns`` (instead of being sent by
    a process in ``ns``): how traffic from outside the cluster enters."""

    ns: NsRef
    iface: str


@dataclass(frozen=True, slots=True)
class Flight:
    """Everything a packet in flight carries; immutable so branches can share history."""

    first: Packet
    packet: Packet  # the outermost IP packet as it is now
    ns: NsRef
    hops: tuple[Hop, ...] = ()
    steps: tuple[Step, ...] = ()
    # (encap, inner, the MTU the inner packet was cut to before encapsulation: then each
    # fragment travels in its own tunnel packet); ``packet`` is the largest of those
    stack: tuple[tuple[Encapsulation, Packet, int | None], ...] = ()
    frag_mtu: int | None = None  # the outermost packet is in fragments of this MTU
    probability: Fraction = Fraction(1)
    seen: frozenset[object] = frozenset()
    wires: tuple[Wire, ...] = ()
    notes: tuple[str, ...] = ()  # namespace diagnostics met on the way (refused routes ...)
    nf_state: NetfilterState | None = None  # this branch's netfilter state once a hook forked

    def evolve(self, **changes: object) -> Flight:
        """A copy with ``changes``: ``dataclasses.replace`` without its per-call overhead
        (a trace makes dozens of these: the copy is spelt out field by field)."""
        if not changes.keys() <= _FLIGHT_FIELDS:
            raise TypeError(f"Flight has no field {', '.join(sorted(changes.keys() - _FLIGHT_FIELDS))}")
        new = object.__new__(Flight)
        _set(new, "first", self.first)
        _set(new, "packet", self.packet)
        _set(new, "ns", self.ns)
        _set(new, "hops", self.hops)
        _set(new, "steps", self.steps)
        _set(new, "stack", self.stack)
        _set(new, "frag_mtu", self.frag_mtu)
        _set(new, "probability", self.probability)
        _set(new, "seen", self.seen)
        _set(new, "wires", self.wires)
        _set(new, "notes", self.notes)
        _set(new, "nf_state", self.nf_state)
        for name, value in changes.items():
            _set(new, name, value)
        return new

    def add(self, *steps: Step) -> Flight:
        if not steps:
            return self
        new = self.evolve()
        _set(new, "steps", self.steps + steps)
        return new

    def enter(self, ref: NsRef) -> Flight:
        """Close the current hop and open one in ``ref``."""
        hop = Hop(self.ns, self.steps)
        return self.evolve(hops=(*self.hops, hop), ns=ref, steps=())

    def wire(self, link: str, src_mac: str | None = None, dst_mac: str | None = None) -> Flight:
        stack = tuple((e, p) for e, p, _ in self.stack)
        mtus = tuple(m for _, _, m in self.stack) if any(m is not None for _, _, m in self.stack) else ()
        w = Wire(link, self.packet, stack, src_mac, dst_mac, self.frag_mtu, mtus)
        return self.evolve(wires=(*self.wires, w))

    def datagrams(self) -> tuple[int, ...]:
        """The sizes of the outermost datagrams: one, or one tunnel packet per fragment of
        the inner packet."""
        return datagram_sizes(self.stack, self.packet)

    def pieces(self) -> tuple[int, ...]:
        """The sizes of the outermost IP packets as they travel (datagrams in fragments)."""
        return tuple(p for d in self.datagrams() for p in fragment_sizes(d, self.frag_mtu, self.packet.version))

    def drop(
        self,
        disposition: Disposition,
        reason: str,
        *steps: Step,
        detail: str | None = None,
        dev: str | None = None,
        size: int | None = None,
        mtu: int | None = None,
        origin: str = "",
        icmp_from: IPAddress | None = None,
    ) -> Trace:
        """End here without delivery: ``steps`` (the route or rule that decided), then the
        ``DropStep`` saying why (``detail`` when its words differ from the trace's reason)."""
        why = DropStep(disposition, reason if detail is None else detail, dev=dev, size=size, mtu=mtu, origin=origin,
                       icmp_from=icmp_from)
        return self.end(disposition, reason, *steps, why)

    def end(self, disposition: Disposition, reason: str, *steps: Step) -> Trace:
        if self.notes and not disposition.success:
            # what an agent failed to program explains the failure: say so last
            reason = f"{reason}; because {'; '.join(self.notes)}"
            steps = (*steps, WarningStep(f"why: {'; '.join(self.notes)}"))
        done = self.add(*steps)
        hop = Hop(done.ns, done.steps)
        return Trace(
            hops=(*done.hops, hop),
            disposition=disposition,
            packet=self.first,
            reason=reason,
            probability=self.probability,
            final_packet=self.stack[0][1] if self.stack else self.packet,
            wires=self.wires,
            nf_state=self.nf_state,
        )


def ident(p: Packet) -> tuple[object, ...]:
    """The packet state a loop repeats: everything but the TTL."""
    return (p.proto, p.src, p.sport, p.dst, p.dport, p.size, p.df, p.mark, p.reply)


_FLIGHT_FIELDS = frozenset(f.name for f in fields(Flight))
# ``evolve`` copies the fields by name: a field added to Flight must be added there too
# (tests/trace/test_flight.py holds it)
_set = object.__setattr__
Cont = Callable[[Flight], list[Trace]]


class Path(Protocol):
    """What the device code (tunnels, bridges, the underlay) needs of the forwarding path:
    hand a packet to a namespace's receive or local-output path, or deliver it there."""

    dp: Dataplane
    seed: int

    def receive(self, f: Flight, in_iface: str) -> list[Trace]: ...
    def local_out(self, f: Flight) -> list[Trace]: ...
    def deliver(self, f: Flight, in_iface: str) -> list[Trace]: ...
    def bridged(self, f: Flight, bridge: str, cont: Cont, ports: tuple[str | None, str | None] = (None, None)) -> list[Trace]: ...
