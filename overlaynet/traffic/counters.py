"""What the kernel and cAdvisor would count for one packet's trace: packets and bytes per
interface (transmitted on one end of a link, received on the other), bytes per underlay
segment and how many of them are encapsulation, and drops by reason.

Bytes are what Linux puts in ``/sys/class/net/<dev>/statistics/{tx,rx}_bytes``, which
cAdvisor and node_exporter report: the Ethernet frame without its FCS (IP length + 14) on a
veth or a physical port, the underlay frame as the tracer built it (outer headers included),
and on a tunnel device the packet it encapsulates (the inner Ethernet frame for VXLAN, the
inner IP packet for IP-in-IP and UDP tunnels).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from overlaynet.trace.model import Trace
from overlaynet.trace.steps import (
    DecapStep,
    DropStep,
    EncapStep,
    ForwardStep,
    FragmentStep,
    Port,
    UnderlayStep,
)

__all__ = ["Counts", "Iface", "count_trace", "fragment_sizes"]

ETH = 14
Iface = tuple[str, str, str]  # (host, namespace label, device)


@dataclass
class Counts:
    """Counters, each a Counter keyed as named; ``scaled`` multiplies all of them."""

    tx_packets: Counter[Iface] = field(default_factory=Counter)
    tx_bytes: Counter[Iface] = field(default_factory=Counter)
    rx_packets: Counter[Iface] = field(default_factory=Counter)
    rx_bytes: Counter[Iface] = field(default_factory=Counter)
    segment_bytes: Counter[str] = field(default_factory=Counter)
    segment_frames: Counter[str] = field(default_factory=Counter)
    encap_bytes: Counter[str] = field(default_factory=Counter)  # per segment: outer headers
    drops: Counter[tuple[str, str, str]] = field(default_factory=Counter)  # (disposition, where, reason)

    def add(self, other: Counts, times: int = 1) -> None:
        for name in ("tx_packets", "tx_bytes", "rx_packets", "rx_bytes", "segment_bytes", "segment_frames",
                     "encap_bytes", "drops"):
            mine: Counter[object] = getattr(self, name)
            for key, value in getattr(other, name).items():
                mine[key] += value * times


def fragment_sizes(size: int, mtu: int, header: int = 20) -> list[int]:
    """IPv4 fragments of a ``size``-byte packet for ``mtu``: each carries a multiple of 8
    payload bytes but the last (RFC 791)."""
    if size <= mtu:
        return [size]
    chunk = (mtu - header) // 8 * 8
    payload = size - header
    out = []
    while payload > 0:
        take = min(chunk, payload)
        out.append(header + take)
        payload -= take
    return out


def _iface(port: Port) -> Iface:
    return (port.ns.host, port.ns.label, port.dev)


def _tunnel_bytes(kind: str, sizes: list[int]) -> int:
    return sum(s + (ETH if kind == "vxlan" else 0) for s in sizes)


def count_trace(t: Trace) -> Counts:
    """The counters one packet of ``t`` moves (its size is the trace's packet size)."""
    c = Counts()
    sizes = [t.packet.size]
    stack: list[tuple[str, list[int]]] = []  # (encapsulation, inner sizes) for each open tunnel
    for hop in t.hops:
        here = hop.ns
        for s in hop.steps:
            if isinstance(s, FragmentStep) and not s.outer:
                sizes = [f for size in sizes for f in fragment_sizes(size, s.mtu)]
            elif isinstance(s, ForwardStep):
                me: Iface = (here.host, here.label, s.dev)
                c.tx_packets[me] += len(sizes)
                c.tx_bytes[me] += sum(x + ETH for x in sizes)
                if s.peer is not None:
                    peer = _iface(s.peer)
                    c.rx_packets[peer] += len(sizes)
                    c.rx_bytes[peer] += sum(x + ETH for x in sizes)
            elif isinstance(s, EncapStep):
                inner = list(s.fragments) or sizes
                dev: Iface = (here.host, here.label, s.dev)
                c.tx_packets[dev] += len(inner)
                c.tx_bytes[dev] += _tunnel_bytes(s.encapsulation, inner)
                stack.append((s.encapsulation, inner))
                sizes = [x + s.overhead_bytes for x in inner]
            elif isinstance(s, UnderlayStep):
                frames = list(s.frames) or [s.frame_bytes]
                if s.ports is None:
                    raise ValueError(f"underlay step without its ports: {s.summary()}")
                out, into = (_iface(p) for p in s.ports)
                c.tx_packets[out] += len(frames)
                c.tx_bytes[out] += sum(frames)
                c.rx_packets[into] += len(frames)
                c.rx_bytes[into] += sum(frames)
                c.segment_frames[s.segment] += len(frames)
                c.segment_bytes[s.segment] += sum(frames)
                if stack:
                    c.encap_bytes[s.segment] += sum(frames) - sum(x + ETH for x in stack[-1][1])
                sizes = [f - ETH for f in frames]
            elif isinstance(s, DecapStep):
                kind, inner = stack.pop() if stack else (s.encapsulation, sizes)
                dev = (here.host, here.label, s.dev)
                c.rx_packets[dev] += len(inner)
                c.rx_bytes[dev] += _tunnel_bytes(kind, inner)
                sizes = inner
            elif isinstance(s, DropStep):
                c.drops[(str(s.disposition), f"{here}", s.reason)] += len(sizes)
    return c
