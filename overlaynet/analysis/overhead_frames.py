"""Header bytes read off the frames the tracer builds: the scapy frame of a trace's underlay
wire (``overlaynet.trace.pcap.frames``) split layer by layer, cross-checked against the
``EncapStep`` / ``UnderlayStep`` the walker recorded for the same packet.

scapy is imported inside functions only (``import overlaynet`` stays fast).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from overlaynet.trace.model import Trace, Wire
from overlaynet.trace.steps import EncapStep, UnderlayStep

__all__ = ["FrameView", "split_frame", "underlay_view"]


@dataclass(frozen=True, slots=True)
class FrameView:
    """One packet as it crosses the underlay.

    ``layers``: every header outside the inner IP packet, outermost first, (name, bytes), as
    measured on the scapy frame; ``frame_bytes``: the frames' total length on the wire
    (several when fragmented); ``mismatch``: empty when frame and trace steps agree, else what
    differs.
    """

    segment: str
    layers: tuple[tuple[str, int], ...]
    frame_bytes: int
    frames: int
    inner_bytes: int
    encap: EncapStep | None
    mismatch: str = ""

    @property
    def overhead_bytes(self) -> int:
        """Bytes counted against the underlay MTU: all outer headers but the outer Ethernet."""
        return sum(b for _, b in self.layers[1:])


def _names(layer: Any, outer_ip: bool) -> str:
    name = str(layer.name)
    if name == "IP":
        return "outer IPv4" if outer_ip else "IPv4"
    if name == "IPv6":
        return "outer IPv6" if outer_ip else "IPv6"
    if name == "Raw":
        return "framing"
    return name


def split_frame(frame: Any, stack_depth: int) -> tuple[tuple[tuple[str, int], ...], int]:
    """(layers outside the innermost IP packet, that packet's length) of a scapy frame with
    ``stack_depth`` encapsulations. Each layer's size is its length minus its payload's."""
    from scapy.layers.inet import IP
    from scapy.layers.inet6 import IPv6
    from scapy.packet import NoPayload

    chain: list[Any] = []
    layer = frame
    while layer is not None and not isinstance(layer, NoPayload):
        chain.append(layer)
        layer = layer.payload
    lengths = [len(layer) for layer in chain] + [0]  # one build per layer
    out: list[tuple[str, int]] = []
    ips_seen = ether_seen = 0
    for i, layer in enumerate(chain):
        is_ip = isinstance(layer, IP | IPv6)
        if is_ip:
            if ips_seen == stack_depth:
                # a trailer after the inner packet (ESP's): the IP header's own length says
                # where the packet ends
                own = getattr(layer, "len", None) if isinstance(layer, IP) else None
                if own is not None and own < lengths[i]:
                    return (*out, ("ESP trailer", lengths[i] - own)), own
                return tuple(out), lengths[i]
            ips_seen += 1
        size = lengths[i] - lengths[i + 1]
        name = _names(layer, is_ip)
        if name == "framing" and i > 0 and isinstance(chain[i - 1], IP) and chain[i - 1].proto == 50:
            name = "ESP"  # SPI, sequence number and IV right after an IP header of protocol 50
        if name == "Ethernet":
            name = "inner Ethernet" if ether_seen else ("outer Ethernet" if stack_depth else "Ethernet")
            ether_seen += 1
        if size:
            out.append((name, size))
    raise ValueError(f"no inner IP packet found in frame {frame.summary()}")


def _segment_wire(t: Trace) -> Wire | None:
    return next((w for w in t.wires if w.link.startswith("segment ")), None)


def underlay_view(t: Trace) -> FrameView | None:
    """The first underlay frame of ``t`` (None when the trace never reaches a segment),
    measured on the scapy frames and compared with the trace's steps."""
    from overlaynet.trace.pcap import frames

    wire = _segment_wire(t)
    if wire is None:
        return None
    built = frames(wire)
    layers, inner = split_frame(built[0], len(wire.stack))
    total = sum(len(f) for f in built)
    encaps = t.steps(EncapStep)
    under = next(iter(t.steps(UnderlayStep)), None)
    # the encapsulation that made this wire's outermost packet: before the first segment
    # only nesting happens, so it is the one at this wire's stack depth (a relayed frame is
    # encapsulated again later, for its next hop)
    depth = len(wire.stack)
    enc = encaps[depth - 1] if 0 < depth <= len(encaps) else (encaps[-1] if encaps else None)
    problems: list[str] = []
    if enc is not None:
        if len(built) == 1 and len(built[0]) != enc.wire_bytes:
            problems.append(f"scapy frame {len(built[0])} bytes, EncapStep.wire_bytes {enc.wire_bytes}")
        if tuple(b for _, b in layers) != tuple(b for _, b in enc.layers):
            problems.append(f"scapy layers {list(layers)}, EncapStep.layers {list(enc.layers)}")
    if under is not None and len(built) == 1 and len(built[0]) != under.frame_bytes:
        problems.append(f"scapy frame {len(built[0])} bytes, underlay step {under.frame_bytes}")
    seg = wire.link.removeprefix("segment ")
    return FrameView(seg, layers, total, len(built), inner, enc, "; ".join(problems))
