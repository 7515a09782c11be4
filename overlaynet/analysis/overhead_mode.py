"""Measure one mode: have the cluster built with the mode's driver and options (``build``,
given by the composition layer), choose a cross-node pod pair, trace packets of the sizes
the report needs and read their underlay frames; trace the largest packet that crosses, a
same-node flow, and a misconfigured pod MTU. ``compare_overhead`` does it for every mode.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Protocol

from overlaynet.analysis.overhead import (
    DEFAULT_MESSAGE,
    DEFAULT_PAYLOADS,
    Misconfig,
    Mode,
    ModeResult,
    OverheadReport,
    Payload,
    message_cost,
    parse_payloads,
    payload_cost,
)
from overlaynet.analysis.overhead_frames import FrameView, underlay_view
from overlaynet.analysis.overhead_topology import (
    PodPair,
    candidate_pairs,
    same_node_pair,
)
from overlaynet.dataplane.ir import Dataplane, NsRef
from overlaynet.dataplane.packet import Packet, ephemeral_port
from overlaynet.errors import OverlaynetError
from overlaynet.model import Cluster, Node, Pod
from overlaynet.trace.api import trace
from overlaynet.trace.model import Trace
from overlaynet.trace.steps import DropStep, EncapStep, FragmentStep

__all__ = ["Assembled", "Build", "Prober", "choose_pair", "compare_overhead", "measure_mode"]


class _PodMtu(Protocol):
    def pod_mtu(self, node: Node) -> int: ...


class Assembled(Protocol):
    """A cluster as a driver allocated it, with its programmed dataplane and the driver (an
    ``overlaynet.network.Network``)."""

    @property
    def cluster(self) -> Cluster: ...
    @property
    def dataplane(self) -> Dataplane: ...
    @property
    def driver(self) -> _PodMtu: ...


#: Builds ``cluster`` with ``mode``'s driver and options (the composition layer's job).
Build = Callable[[Cluster, Mode], Assembled]

_MIN_PACKET = 68  # the smallest IPv4 MTU (RFC 791); every link carries this


def _node_of(pod: Pod) -> str:
    if pod.node is None:
        raise OverlaynetError(f"pod {pod.key} is not scheduled on a node")
    return pod.node


def _pod_ref(pod: Pod) -> NsRef:
    return NsRef.of_pod(pod)


class Prober:
    """Traces TCP packets of a given IP size between one pod pair on one network (cached)."""

    def __init__(self, network: Assembled, pair: PodPair, seed: int = 0) -> None:
        self.network = network
        self.pair = pair
        self.seed = seed
        version = pair.src.ip.version if pair.src.ip is not None else 4
        self.header = (20 if version == 4 else 40) + 20  # inner IP + TCP
        self._cache: dict[tuple[int, bool], Trace] = {}
        self._views: dict[int, FrameView] = {}

    def trace(self, size: int, df: bool = True) -> Trace:
        """A TCP SYN of ``size`` bytes from the pair's source pod to its destination pod."""
        key = (size, df)
        if key not in self._cache:
            src, dst = self.pair.src, self.pair.dst
            if src.ip is None or dst.ip is None:
                raise OverlaynetError(f"{self.pair.label}: a pod of the pair has no address")
            packet = Packet(src.ip, dst.ip, "tcp", ephemeral_port(self.seed), self._port(), size, df)
            self._cache[key] = trace(self.network.dataplane, packet, NsRef.of_pod(src), seed=self.seed).trace
        return self._cache[key]

    def _port(self) -> int:
        tcp = [c.port for c in self.pair.dst.ports if c.protocol == "TCP"]
        return tcp[0] if tcp else 80

    def view(self, size: int) -> FrameView:
        """The underlay frame of a ``size``-byte IP packet (DF set); raises when it does not
        cross the underlay."""
        if size not in self._views:
            t = self.trace(size)
            v = underlay_view(t) if t.success else None
            if v is None:
                raise OverlaynetError(f"a {size}-byte packet {self.pair.label} did not cross the underlay: "
                                      f"{t.disposition}: {t.reason}")
            self._views[size] = v
        return self._views[size]

    def mismatches(self) -> list[str]:
        """Every disagreement between a scapy frame and the trace's steps seen so far."""
        return list(dict.fromkeys(v.mismatch for v in self._views.values() if v.mismatch))

    def wire_of_payload(self, payload: int) -> int:
        return self.view(payload + self.header).frame_bytes

    def crosses(self, size: int) -> bool:
        t = self.trace(size)
        return t.success and not t.steps(FragmentStep)

    def largest(self, hi: int = 65_535) -> int:
        """The largest IP packet that crosses with DF set and no fragment (binary search)."""
        lo = _MIN_PACKET
        if not self.crosses(lo):
            return 0
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self.crosses(mid):
                lo = mid
            else:
                hi = mid - 1
        return lo


def _describe_drop(t: Trace) -> tuple[str, int | None]:
    drops = t.steps(DropStep)
    hop = t.hops[-1] if t.hops else None
    where = f"{hop.host}:{hop.namespace}" if hop else "?"
    if drops and drops[-1].mtu is not None:
        d = drops[-1]
        return f"{d.disposition} at {where} dev {d.dev} (MTU {d.mtu}, packet {d.size})", d.mtu
    frags = t.steps(FragmentStep)
    if frags:
        f = frags[0]
        which = "outer packet" if f.outer else "packet"
        return f"{t.disposition}, {which} fragmented on {f.dev} (MTU {f.mtu}) into {f.fragments}", f.mtu
    return f"{t.disposition}: {t.reason}", None


def choose_pair(network: Assembled, seed: int) -> tuple[PodPair | None, str, str]:
    """(pair, note, reason when none works): a pair on different segments when it is
    delivered, else one on the same segment (modes that need L2 adjacency)."""
    cross, local = candidate_pairs(network.cluster)
    if cross is None and local is None:
        return None, "", "the topology has no two pods on different nodes"
    if cross is not None:
        t = Prober(network, cross, seed).trace(_MIN_PACKET)
        if t.success:
            return cross, "pods on different segments", ""
        if local is None:
            return None, "", f"{cross.label} on different segments: {t.disposition}: {t.reason}; no same-segment pair to try"
        lt = Prober(network, local, seed).trace(_MIN_PACKET)
        if lt.success:
            return local, f"same-segment pair: the cross-segment pair fails ({t.disposition}: {t.reason})", ""
        return None, "", f"{cross.label}: {t.disposition}: {t.reason}; {local.label}: {lt.disposition}: {lt.reason}"
    assert local is not None
    lt = Prober(network, local, seed).trace(_MIN_PACKET)
    if lt.success:
        return local, "pods on different nodes of one segment (the topology has one segment)", ""
    return None, "", f"{local.label}: {lt.disposition}: {lt.reason}"


def _same_node(network: Assembled, seed: int) -> tuple[str, bool | None]:
    pair = same_node_pair(network.cluster)
    if pair is None:
        return "no two pods share a node", None
    t = Prober(network, pair, seed).trace(_MIN_PACKET)
    encap = bool(t.steps(EncapStep))
    return f"{pair.label}: {t.disposition}, {'ENCAPSULATED' if encap else 'no encapsulation'}", encap


def _set_mtus(network: Assembled, pair: PodPair, mtu: int, tunnels: bool) -> None:
    """Set every pod veth (both ends) on the pair's nodes to ``mtu``; with ``tunnels`` also
    the nodes' bridges and tunnel devices (what a hand-set CNI MTU does)."""
    dp = network.dataplane
    for node in {_node_of(pair.src), _node_of(pair.dst)}:
        dp.ensure_host(node)
        for ref in list(dp.namespaces):
            if ref.host != node:
                continue
            ns = dp.namespace(ref)
            for iface in ns.interfaces.values():
                pod_side = ns.kind == "pod" and iface.kind == "veth"
                host_side = ns.kind == "host" and iface.kind == "veth"
                tunnel = tunnels and ns.kind == "host" and iface.kind in ("vxlan", "ipip", "tun", "bridge")
                if pod_side or host_side or tunnel:
                    iface.mtu = mtu


def _misconfig(cluster: Cluster, mode: Mode, pair: PodPair, underlay_mtu: int, seed: int, build: Build) -> list[Misconfig]:
    out = []
    scenarios = (
        (False, f"pod MTU {underlay_mtu}, tunnel device as the driver set it"),
        (True, f"pod and tunnel MTU {underlay_mtu} (nothing left for the headers)"),
    )
    for tunnels, text in scenarios:
        network = build(cluster, mode)
        same = PodPair(network.cluster.pod(pair.src.namespace, pair.src.name),
                       network.cluster.pod(pair.dst.namespace, pair.dst.name), pair.same_segment)
        _set_mtus(network, same, underlay_mtu, tunnels)
        probe = Prober(network, same, seed)
        with_df = probe.trace(underlay_mtu, df=True)
        without = probe.trace(underlay_mtu, df=False)
        df_detail, df_mtu = _describe_drop(with_df)
        frags = without.steps(FragmentStep)
        pieces = frags[0].fragments if frags else 1
        nodf_detail, _ = _describe_drop(without)
        out.append(Misconfig(text, underlay_mtu, underlay_mtu, str(with_df.disposition), df_detail, df_mtu,
                             str(without.disposition), pieces, nodf_detail))
    return out


def measure_mode(cluster: Cluster, mode: Mode, payloads: Sequence[Payload], message: int, *,
                 build: Build, misconfig: bool = True, seed: int = 0) -> ModeResult:
    """Every figure of ``ModeResult`` for ``mode`` on ``cluster`` (``build`` assembles it)."""
    try:
        network = build(cluster, mode)
    except OverlaynetError as exc:
        return ModeResult(mode, "unsupported", f"the driver refuses this topology: {exc}")
    try:
        return _measure(network, cluster, mode, payloads, message, seed, misconfig, build)
    except OverlaynetError as exc:
        return ModeResult(mode, "error", str(exc))
    except (KeyError, ValueError, TypeError, AttributeError) as exc:
        # a defect below us (driver, netfilter, tracer): report it for this mode, keep the rest
        return ModeResult(mode, "error", f"the trace failed: {type(exc).__name__}: {exc}")


def _measure(network: Assembled, cluster: Cluster, mode: Mode, payloads: Sequence[Payload], message: int, seed: int,
             misconfig: bool, build: Build) -> ModeResult:
    pair, note, why = choose_pair(network, seed)
    if pair is None:
        return ModeResult(mode, "not applicable", why)
    probe = Prober(network, pair, seed)
    small = probe.view(_MIN_PACKET)
    own_frame = _pod_frame_bytes(probe.trace(_MIN_PACKET))
    enc = small.encap
    if enc is not None and enc.encapsulation == "ipip" and enc.outer_dst.version == 6:
        # Linux's ipip device carries IPv4 in IPv4 only (an IPv6 outer header is ip6tnl,
        # which no driver here programs): an IPv6-outer IP-in-IP packet is no real packet
        return ModeResult(mode, "unsupported", f"IP-in-IP on {enc.dev} would need an IPv6 outer header "
                          f"({enc.outer_src} → {enc.outer_dst}); the kernel's ipip device is IPv4-only")
    dp = network.dataplane
    src_node = network.cluster.node(_node_of(pair.src))
    dst_node = network.cluster.node(_node_of(pair.dst))
    underlay_mtu = min(cluster.segment(src_node.segment).mtu, cluster.segment(dst_node.segment).mtu)
    pod_mtu = dp.namespace(_pod_ref(pair.src)).interfaces["eth0"].mtu
    mss = pod_mtu - probe.header
    largest = probe.largest()
    limit, _ = _describe_drop(probe.trace(largest + 1)) if largest else ("nothing crosses", None)
    same_text, same_encap = _same_node(network, seed)
    warnings = _warnings(pod_mtu, largest, limit, same_encap)
    try:
        results = tuple(payload_cost(p, mss, probe.header, probe.wire_of_payload) for p in payloads)
        cost = message_cost(message, mss, probe.wire_of_payload)
    except OverlaynetError as exc:
        return ModeResult(mode, "error", f"pod MTU {pod_mtu}, MSS {mss}: {exc}")
    mis = _misconfig(cluster, mode, pair, underlay_mtu, seed, build) if misconfig and pod_mtu < underlay_mtu else []
    mismatches = probe.mismatches()
    return ModeResult(
        mode,
        "ok",
        pair=pair.label,
        pair_note=note,
        same_node=same_text,
        same_node_encapsulated=same_encap,
        encapsulation=enc.encapsulation if enc else None,
        tunnel=_tunnel_text(enc),
        layers=small.layers,
        overhead_bytes=small.overhead_bytes if enc else 0,
        frame_growth=small.frame_bytes - own_frame,
        frames_agree=not mismatches,
        frame_mismatch="; ".join(mismatches),
        underlay_mtu=underlay_mtu,
        pod_mtu=pod_mtu,
        driver_pod_mtu=network.driver.pod_mtu(src_node),
        mss=mss,
        max_packet=largest,
        max_payload=max(largest - probe.header, 0),
        limit=limit,
        payloads=results,
        message=cost,
        misconfig=tuple(mis),
        warnings=tuple(warnings),
    )


def _warnings(pod_mtu: int, largest: int, limit: str, same_encap: bool | None) -> list[str]:
    out = []
    if 0 < largest < pod_mtu:
        out.append(f"the pod MTU {pod_mtu} is larger than the largest packet that crosses unfragmented "
                   f"({largest}): full-size segments are fragmented or dropped ({limit})")
    if same_encap:
        out.append("a same-node flow is encapsulated")
    return out


def _pod_frame_bytes(t: Trace) -> int:
    """The frame the pod itself sends (the first wire: its veth), measured with scapy."""
    from overlaynet.trace.pcap import frames

    return sum(len(f) for f in frames(t.wires[0])) if t.wires else 0


def _tunnel_text(enc: EncapStep | None) -> str:
    if enc is None:
        return ""
    parts = [enc.dev]
    if enc.vni is not None:
        parts.append(f"VNI {enc.vni}")
    if enc.outer_dport is not None:
        parts.append(f"UDP {enc.outer_dport}")
    parts.append(f"outer {enc.outer_src} → {enc.outer_dst}")
    return ", ".join(parts)


def compare_overhead(
    cluster: Cluster,
    *,
    modes: Sequence[Mode],
    build: Build,
    payloads: Iterable[Payload] | None = None,
    message: int = DEFAULT_MESSAGE,
    underlay_mtu: int | None = None,
    ipv6_underlay: bool = False,
    misconfig: bool = True,
    seed: int = 0,
) -> OverheadReport:
    """Trace every mode on ``cluster`` (only the driver and its options swapped: ``build``
    assembles it per mode) and measure its overhead; ``misconfig`` False skips the
    misconfigured-MTU traces."""
    from overlaynet.analysis.overhead_topology import with_ipv6_underlay, with_underlay_mtu

    if message < 1:
        raise ValueError(f"message size {message}: expected at least 1 byte")
    if underlay_mtu is not None and not 576 <= underlay_mtu <= 65_535:
        raise ValueError(f"underlay MTU {underlay_mtu}: expected 576..65535")
    base = cluster
    if underlay_mtu is not None:
        base = with_underlay_mtu(base, underlay_mtu)
    if ipv6_underlay:
        base = with_ipv6_underlay(base)
    chosen = list(modes)
    mix = list(payloads) if payloads is not None else parse_payloads(DEFAULT_PAYLOADS)
    results = tuple(measure_mode(base, m, mix, message, build=build, misconfig=misconfig, seed=seed) for m in chosen)
    mtus = sorted({s.mtu for s in base.underlay.segments} or {base.underlay.mtu})
    family = "IPv6" if ipv6_underlay else "IPv4"
    mtu_text = "/".join(str(m) for m in mtus)
    return OverheadReport(base.name, f"{family}, MTU {mtu_text}", tuple(p.label for p in mix), message, results)
