"""What each overlay costs, measured from traced packets: per mode of every registered
driver, the header bytes each layer adds (read off the scapy frames the tracer builds), the
pod MTU and TCP MSS, the largest packet that crosses unfragmented, the efficiency per
payload size and for a whole message, and what a misconfigured pod MTU does.

This module holds the report's values and the cost arithmetic. Topology variants and pair
choice live in ``overhead_topology``, frame measurement in ``overhead_frames``, the per-mode
measurement and the comparison in ``overhead_mode``; assembling the cluster once per driver
mode is the composition layer's (``overlaynet.network.overhead``), which hands the analysis
a ``build`` function; the CLI (``overlaynet overhead``) renders the report and
``overhead_plot`` draws it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "IMIX",
    "Message",
    "Misconfig",
    "Mode",
    "ModeResult",
    "OverheadReport",
    "Payload",
    "PayloadResult",
    "message_cost",
    "parse_payloads",
    "payload_cost",
    "segment_sizes",
]

#: The classic "simple IMIX": IP packets of 64, 576 and 1500 bytes in the ratio 7:4:1.
IMIX: tuple[tuple[int, int], ...] = ((64, 7), (576, 4), (1500, 1))
DEFAULT_PAYLOADS = "64,512,1400,imix"
DEFAULT_MESSAGE = 1_000_000


@dataclass(frozen=True, slots=True)
class Mode:
    """One option set of one driver, as the driver's ``modes()`` names it."""

    driver: str
    name: str
    options: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    @property
    def label(self) -> str:
        return f"{self.driver}:{self.name}"


@dataclass(frozen=True, slots=True)
class Payload:
    """A payload size to compare: application (TCP payload) bytes in a weighted mix of
    messages. A plain size is one message; IMIX is three sizes with weights 7:4:1 (IP
    packet sizes, so the TCP payload is the IP size minus the TCP/IP headers)."""

    label: str
    sizes: tuple[tuple[int, int], ...]  # (size, weight)
    ip_sizes: bool = False  # sizes are IP packet sizes (IMIX), not TCP payloads


def parse_payloads(text: str) -> list[Payload]:
    """``64,512,1400,imix``: TCP payload sizes in bytes, and ``imix``.

    >>> [p.label for p in parse_payloads("64,imix")]
    ['64', 'imix']
    """
    out: list[Payload] = []
    for item in (t.strip().lower() for t in text.split(",")):
        if not item:
            continue
        if item == "imix":
            out.append(Payload("imix", IMIX, ip_sizes=True))
            continue
        if not item.isdigit() or not 1 <= int(item) <= 65_000:
            raise ValueError(f"payload {item!r}: expected a TCP payload size of 1..65000 bytes or 'imix'")
        out.append(Payload(item, ((int(item), 1),)))
    if not out:
        raise ValueError("no payload sizes given")
    return out


def segment_sizes(app_bytes: int, mss: int) -> list[tuple[int, int]]:
    """``app_bytes`` cut into TCP segments of at most ``mss``: [(segment size, count)].

    >>> segment_sizes(3000, 1410)
    [(1410, 2), (180, 1)]
    """
    if app_bytes <= 0:
        return []
    full, rest = divmod(app_bytes, mss)
    out = [(mss, full)] if full else []
    return out + ([(rest, 1)] if rest else [])


@dataclass(frozen=True, slots=True)
class PayloadResult:
    label: str
    app_bytes: int  # application bytes in the mix
    packets: int  # TCP segments after cutting at the MSS
    wire_bytes: int  # their underlay frames (Ethernet header included)

    @property
    def efficiency(self) -> float:
        return self.app_bytes / self.wire_bytes if self.wire_bytes else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"payload": self.label, "app_bytes": self.app_bytes, "packets": self.packets,
                "wire_bytes": self.wire_bytes, "efficiency": round(self.efficiency, 4)}


@dataclass(frozen=True, slots=True)
class Message:
    bytes: int
    mss: int
    packets: int
    underlay_bytes: int

    @property
    def overhead_percent(self) -> float:
        """Underlay bytes beyond the application bytes, in percent of the application bytes."""
        return 100.0 * (self.underlay_bytes - self.bytes) / self.bytes if self.bytes else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"bytes": self.bytes, "mss": self.mss, "packets": self.packets,
                "underlay_bytes": self.underlay_bytes, "overhead_percent": round(self.overhead_percent, 2)}


@dataclass(frozen=True, slots=True)
class Misconfig:
    """A full-size packet from a pod whose MTU was set to the underlay MTU (``scenario``
    says what else was changed), traced with DF and without."""

    scenario: str
    pod_mtu: int
    packet_bytes: int
    df_disposition: str
    df_detail: str  # where FRAG_NEEDED happened and the MTUs involved, or what else happened
    df_mtu: int | None
    nodf_disposition: str
    nodf_fragments: int  # pieces the packet became (1: not fragmented)
    nodf_detail: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario, "pod_mtu": self.pod_mtu, "packet_bytes": self.packet_bytes,
            "df": {"disposition": self.df_disposition, "mtu": self.df_mtu, "detail": self.df_detail},
            "no_df": {"disposition": self.nodf_disposition, "fragments": self.nodf_fragments, "detail": self.nodf_detail},
        }


@dataclass(frozen=True, slots=True)
class ModeResult:
    """Everything measured for one mode. ``status``: ``ok``, ``not applicable`` (the topology
    cannot carry the mode, e.g. no L2-adjacent pair for host-gw), ``unsupported`` (the
    driver refuses the variant, e.g. an IPv6 underlay) or ``error`` (the trace failed)."""

    mode: Mode
    status: str
    reason: str = ""
    pair: str = ""
    pair_note: str = ""
    same_node: str = ""  # what a same-node flow does (it must not be encapsulated)
    same_node_encapsulated: bool | None = None
    encapsulation: str | None = None  # None: the packet crosses the underlay as it is
    tunnel: str = ""  # device, VNI, ports
    layers: tuple[tuple[str, int], ...] = ()  # every header outside the inner IP packet on the wire
    overhead_bytes: int = 0  # counted against the underlay MTU
    frame_growth: int = 0  # underlay frame minus the pod's own frame for the same packet
    frames_agree: bool = True
    frame_mismatch: str = ""
    underlay_mtu: int = 0
    pod_mtu: int = 0
    driver_pod_mtu: int = 0
    mss: int = 0
    max_packet: int = 0  # largest IP packet delivered with DF and no fragment
    max_payload: int = 0
    limit: str = ""  # what stops max_packet + 1
    payloads: tuple[PayloadResult, ...] = ()
    message: Message | None = None
    misconfig: tuple[Misconfig, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"mode": self.mode.label, "driver": self.mode.driver, "options": self.mode.options,
                               "status": self.status}
        if self.reason:
            out["reason"] = self.reason
        if not self.ok:
            return out
        out.update({
            "pair": self.pair, "pair_note": self.pair_note,
            "same_node": {"flow": self.same_node, "encapsulated": self.same_node_encapsulated},
            "encapsulation": self.encapsulation, "tunnel": self.tunnel,
            "layers": [{"layer": n, "bytes": b} for n, b in self.layers],
            "overhead_bytes": self.overhead_bytes, "frame_growth": self.frame_growth,
            "frames_agree": self.frames_agree,
            "underlay_mtu": self.underlay_mtu, "pod_mtu": self.pod_mtu, "driver_pod_mtu": self.driver_pod_mtu,
            "mss": self.mss, "max_unfragmented_packet": self.max_packet,
            "max_unfragmented_payload": self.max_payload, "limit": self.limit,
            "payloads": [p.to_dict() for p in self.payloads],
            "message": self.message.to_dict() if self.message else None,
            "misconfigured_mtu": [m.to_dict() for m in self.misconfig],
        })
        if self.frame_mismatch:
            out["frame_mismatch"] = self.frame_mismatch
        if self.warnings:
            out["warnings"] = list(self.warnings)
        return out


@dataclass(frozen=True, slots=True)
class OverheadReport:
    topology: str
    underlay: str  # "IPv4, MTU 1500" …
    payloads: tuple[str, ...]
    message_bytes: int
    modes: tuple[ModeResult, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"topology": self.topology, "underlay": self.underlay, "payloads": list(self.payloads),
                "message_bytes": self.message_bytes, "modes": [m.to_dict() for m in self.modes]}


def message_cost(message: int, mss: int, wire_of: Any) -> Message:
    """``message`` bytes sent as MSS-sized segments; ``wire_of(segment)`` gives the underlay
    bytes of one segment."""
    parts = segment_sizes(message, mss)
    packets = sum(n for _, n in parts)
    wire = sum(wire_of(size) * n for size, n in parts)
    return Message(message, mss, packets, wire)


def payload_cost(payload: Payload, mss: int, header: int, wire_of: Any) -> PayloadResult:
    """Application bytes, TCP segments and underlay bytes of one payload mix."""
    app = packets = wire = 0
    for size, weight in payload.sizes:
        body = max(size - header, 0) if payload.ip_sizes else size
        for seg, n in segment_sizes(body, mss) or [(0, 1)]:
            app += seg * n * weight
            packets += n * weight
            wire += wire_of(seg) * n * weight
    return PayloadResult(payload.label, app, packets, wire)

