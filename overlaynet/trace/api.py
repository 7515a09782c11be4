"""The tracer's entry point: ``trace(dataplane, packet, source)`` → ``TraceResult``."""

from __future__ import annotations

from typing import Protocol

from overlaynet.dataplane.ir import Dataplane, NsRef
from overlaynet.dataplane.netfilter import NetfilterState
from overlaynet.dataplane.packet import Packet
from overlaynet.trace.model import TraceResult
from overlaynet.trace.walker import Injection, Walker

__all__ = ["HasDataplane", "trace"]


class HasDataplane(Protocol):
    """Anything that holds a dataplane (an assembled ``overlaynet.network.Network``)."""

    @property
    def dataplane(self) -> Dataplane: ...


def trace(
    network_or_dp: Dataplane | HasDataplane,
    packet: Packet,
    source: NsRef | Injection,
    *,
    all_branches: bool = False,
    state: NetfilterState | None = None,
    seed: int = 0,
) -> TraceResult:
    """Walk ``packet`` through the dataplane from ``source``.

    ``source`` is the namespace whose process sends the packet (an ``NsRef``: the OUTPUT
    path) or an ``Injection`` (the packet arrives on a device: PREROUTING). With
    ``all_branches`` every netfilter branch (statistic matches) is followed and each trace
    carries its probability; else the engine's seeded choice is followed. ``state`` carries
    conntrack between calls (pass the same one to trace a reply).

    >>> from overlaynet.dataplane.ir import Address, Dataplane, Interface
    >>> from ipaddress import ip_address
    >>> dp = Dataplane()
    >>> ns = dp.add_namespace(NsRef("h1"), kind="host")
    >>> _ = ns.add_interface(Interface("lo", "loopback", addresses=[Address(ip_address("127.0.0.1"), 8)]))
    >>> trace(dp, Packet(ip_address("127.0.0.1"), ip_address("127.0.0.1")), NsRef("h1")).trace.disposition
    <Disposition.ACCEPTED: 'ACCEPTED'>
    """
    dp = network_or_dp if isinstance(network_or_dp, Dataplane) else network_or_dp.dataplane
    walker = Walker(dp, all_branches=all_branches, state=state, seed=seed)
    return TraceResult(tuple(walker.start(packet, source)))
