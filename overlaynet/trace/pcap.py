"""pcap output: the packet as it is on every wire a trace crosses (veths, bridges, VXLAN
devices, underlay segments with the outer headers), built with scapy, in order.

Frames are Ethernet; payload bytes are zeros padded so each IP packet has the size the
tracer computed. VXLAN frames decode with ``tshark -d udp.port==8472,vxlan``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from overlaynet.dataplane.packet import Packet
from overlaynet.trace.model import Encapsulation, Trace, Wire

__all__ = ["frame_bytes", "frames", "write_pcap"]

_DEFAULT_SRC = "02:00:00:00:00:01"
_DEFAULT_DST = "02:00:00:00:00:02"


def _l4(p: Packet, payload: Any | None) -> Any:
    from scapy.layers.inet import ICMP, TCP, UDP
    from scapy.packet import Raw

    head: Any
    size: int
    if p.proto == "tcp":
        flags = "".join(f[0] for f in sorted(p.tcp_flags)) if p.tcp_flags else ""
        head, size = TCP(sport=p.sport or 0, dport=p.dport or 0, flags=flags), 20
    elif p.proto == "udp":
        head, size = UDP(sport=p.sport or 0, dport=p.dport or 0), 8
    elif p.proto == "icmp":
        head, size = ICMP(type=p.icmp_type if p.icmp_type is not None else 8), 8
    else:
        head, size = None, 0
    body = payload
    if body is None:
        pad = p.size - (20 if p.version == 4 else 40) - size
        body = Raw(b"\x00" * max(pad, 0))
    return body if head is None else head / body


def _ip(p: Packet, payload: Any, ident: int = 1, proto: int | None = None) -> Any:
    from scapy.layers.inet import IP
    from scapy.layers.inet6 import IPv6

    if p.version == 6:
        return IPv6(src=str(p.src), dst=str(p.dst), hlim=p.ttl) / payload
    kw: dict[str, Any] = {"src": str(p.src), "dst": str(p.dst), "ttl": p.ttl, "id": ident}
    if p.df:
        kw["flags"] = "DF"
    if p.proto == "ipip":
        kw["proto"] = 4
    if proto is not None:
        kw["proto"] = proto
    return IP(**kw) / payload


def _fragments(datagram: Any, mtu: int | None) -> list[Any]:
    """``datagram`` cut to ``mtu`` as ``ip_do_fragment`` cuts it (see ``fragment_sizes``)."""
    from scapy.layers.inet import IP, fragment
    from scapy.layers.inet6 import IPv6ExtHdrFragment, fragment6

    if mtu is None or len(datagram) <= mtu:
        return [datagram]
    if isinstance(datagram, IP):
        return list(fragment(datagram, fragsize=(mtu - 20) // 8 * 8))
    head = datagram.copy()
    head.remove_payload()
    return list(fragment6(head / IPv6ExtHdrFragment() / datagram.payload, mtu))


def _wrap(enc: Encapsulation, outer: Packet, inner: Any, ident: int) -> Any:
    """One tunnel packet: ``inner`` (an IP packet or fragment) in ``enc``'s headers."""
    from scapy.layers.inet import UDP
    from scapy.layers.l2 import Ether
    from scapy.layers.vxlan import VXLAN
    from scapy.packet import Raw

    size = len(inner)
    if enc.cipher_bytes and getattr(inner, "version", 0) == 4:
        # ESP transport mode: the datagram sits between ESP's header (SPI, sequence, IV) and
        # its trailer (padding, pad length, next header, ICV); lengths are fixed explicitly
        # so the trailer is not counted in the inner packet or the UDP datagram
        inner.len = size
    if enc.kind == "vxlan":
        frame = Ether(src=enc.inner_src_mac or _DEFAULT_SRC, dst=enc.inner_dst_mac or _DEFAULT_DST) / inner
        udp = UDP(sport=outer.sport or 0, dport=outer.dport or 4789)
        payload = udp / VXLAN(vni=enc.vni or 0, flags=0x08) / frame
        datagram = 8 + 8 + 14 + size
    elif enc.kind == "ipip":
        payload = inner
        datagram = size
    else:
        udp = UDP(sport=outer.sport or 0, dport=outer.dport or 0)
        payload = udp / Raw(b"\x00" * enc.framing_bytes) / inner
        datagram = 8 + enc.framing_bytes + size
    if enc.cipher_bytes:
        from overlaynet.trace.encap import ESP_HEADER, overhead

        if enc.kind != "ipip":
            udp.len = datagram
        spi_seq_iv = (0x100).to_bytes(4, "big") + (1).to_bytes(4, "big") + b"\x00" * (ESP_HEADER - 8)
        esp = enc.overhead_for(size) - overhead(enc.kind, outer.version, enc.framing_bytes)
        payload = Raw(spi_seq_iv) / payload / Raw(b"\x00" * (esp - ESP_HEADER))
        return _ip(outer, payload, ident, proto=50)
    return _ip(outer, payload, ident)


def _datagrams(p: Packet, layers: tuple[tuple[Encapsulation, Packet, int | None], ...]) -> list[Any]:
    """The IP datagrams of ``p``'s layer with, inside, the rest of ``layers`` (innermost
    first): one, or one tunnel packet per fragment of an inner packet cut before it was
    encapsulated."""
    if not layers:
        return [_ip(p, _l4(p, None))]
    enc, inner, mtu = layers[-1]
    pieces = [piece for d in _datagrams(inner, layers[:-1]) for piece in _fragments(d, mtu)]
    return [_wrap(enc, p, piece, i + 1) for i, piece in enumerate(pieces)]


def frames(wire: Wire) -> list[Any]:
    """The scapy frames on ``wire``: one per IP packet (``Wire.frame_sizes`` gives their
    lengths without scapy)."""
    from scapy.layers.l2 import Ether

    eth = Ether(src=wire.src_mac or _DEFAULT_SRC, dst=wire.dst_mac or _DEFAULT_DST)
    return [eth / piece for d in _datagrams(wire.packet, wire.layers()) for piece in _fragments(d, wire.fragment_mtu)]


def frame_bytes(wire: Wire) -> int:
    """Length of the (first) frame on ``wire``, as a capture shows it."""
    return len(frames(wire)[0])


def write_pcap(path: str | os.PathLike[str], traces: Iterable[Trace]) -> int:
    """Write every wire of every trace to ``path`` (Ethernet linktype); returns frames written."""
    from scapy.utils import PcapWriter

    count = 0
    writer = PcapWriter(os.fspath(path), linktype=1, sync=True)
    try:
        for t in traces:
            for wire in t.wires:
                for f in frames(wire):
                    f.time = 1_700_000_000 + count / 1_000_000
                    writer.write(f)
                    count += 1
    finally:
        writer.close()
    return count
