"""Does the tracer agree with a real kernel? Materialize a network, probe pod pairs, compare.

For each ordered pod pair (ICMP echo of ``size`` bytes, DF clear) it compares:

* ``reach`` — the tracer delivers the echo and its reply ⇔ the kernel's ping is answered;
* ``ttl`` — the reply's TTL as the kernel reports it = the TTL the tracer gives the reply
  on arrival (``final_packet.ttl``): 64 minus one per namespace that routed the echo reply
  (bridging and the underlay under a tunnel do not touch the inner TTL);
* ``wire_bytes`` — per direction, the frames a capture on the underlay segments shows for
  this flow: for an encapsulated flow their size equals the ``encap`` step's ``wire_bytes``
  (outer Ethernet included); for a plain routed flow (host-gw) the ``underlay`` step's
  ``frame_bytes``; a flow the tracer keeps off the underlay shows no frame there;
* ``tcp``/``tcp_peer`` (with ``tcp_port``) — the SYN and the SYN-ACK are delivered ⇔ a
  TCP connect to a listener in the destination pod succeeds, and the source address the
  listener sees is the one the tracer's packet arrives with (after any NAT);
* ``frag_needed`` — the tracer's path MTU P for a DF echo (the largest size it delivers):
  a DF echo of P + 1 gets "Frag needed"/"message too long" with the MTU the tracer names,
  from the same place (the sender's own stack, or a host on the path), and a DF echo of P
  is answered.
"""

from __future__ import annotations

import random
import shutil
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from overlaynet.dataplane.ir import NsRef
from overlaynet.dataplane.lookup import lookup_route, select_source
from overlaynet.dataplane.netfilter import NetfilterState
from overlaynet.dataplane.packet import Packet
from overlaynet.errors import MaterializeError
from overlaynet.materialize.apply import Materialized, Skipped, materialize
from overlaynet.materialize.probe import (
    Capture,
    DecodedFrame,
    PingResult,
    ping_many,
    tcp_connect_many,
)
from overlaynet.model import Pod
from overlaynet.trace.steps import DropStep, EncapStep, RouteStep

if TYPE_CHECKING:
    from overlaynet.trace import Trace

__all__ = ["Comparison", "VerifyReport", "echo_frames", "routed_hops", "verify"]

MAX_PROBE = 9000 + 100  # no underlay here is above jumbo frames; the search starts above it


@dataclass(frozen=True, slots=True)
class Comparison:
    """One question asked of both the tracer and the kernel, and whether they agree.
    ``agree`` is None when the kernel here cannot answer it (``detail`` says why)."""

    check: str  # reach | ttl | wire_bytes | frag_needed | fits
    src: str  # pod key (ns/name) the probe went from
    dst: str
    tracer: str
    kernel: str
    agree: bool | None
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"check": self.check, "src": self.src, "dst": self.dst, "tracer": self.tracer,
                "kernel": self.kernel, "agree": self.agree, "detail": self.detail}


@dataclass(frozen=True)
class VerifyReport:
    run_id: str
    namespaces: int
    pairs: int
    comparisons: tuple[Comparison, ...]
    skipped: tuple[Skipped, ...] = ()
    notes: tuple[str, ...] = ()
    seconds: float = 0.0

    @property
    def disagreements(self) -> list[Comparison]:
        return [c for c in self.comparisons if c.agree is False]

    @property
    def compared(self) -> int:
        return sum(1 for c in self.comparisons if c.agree is not None)

    @property
    def not_compared(self) -> list[Comparison]:
        """The questions the kernel here could not answer (``agree`` None, ``detail`` says
        why): neither agreements nor disagreements."""
        return [c for c in self.comparisons if c.agree is None]

    def summary(self) -> str:
        """One line: what was compared, what agreed, what could not be compared, the verdict
        (which never calls agreement what was not compared)."""
        bad, skipped = len(self.disagreements), len(self.not_compared)
        counts = (f"{self.pairs} pairs: {self.compared} compared, {self.compared - bad} agree, {bad} disagree, "
                  f"{skipped} not compared")
        if bad:
            verdict = "tracer and kernel DISAGREE"
        elif not self.compared:
            verdict = "nothing could be compared"
        elif skipped:
            verdict = f"tracer and kernel agree on the {self.compared} compared; {skipped} could not be compared (n/a)"
        else:
            verdict = "tracer and kernel agree"
        return f"{counts} in {self.seconds:.1f}s (run {self.run_id}): {verdict}"

    @property
    def ok(self) -> bool:
        """Everything compared agrees, and something was compared."""
        return self.compared > 0 and not self.disagreements

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "run_id": self.run_id, "namespaces": self.namespaces,
                "pairs": self.pairs, "compared": self.compared,
                "disagreements": len(self.disagreements), "not_compared": len(self.not_compared), "seconds": round(self.seconds, 3),
                "skipped": [str(s) for s in self.skipped], "notes": list(self.notes),
                "comparisons": [c.to_dict() for c in self.comparisons]}


@dataclass
class _Pair:
    a: Pod
    b: Pod
    src: NsRef
    dst: NsRef
    fwd: Trace  # the echo request
    rev: Trace | None = None  # the echo reply (None when the request is not delivered)
    pmtu: int | None = None  # the largest DF echo the tracer delivers
    too_big: Trace | None = None  # the DF echo of pmtu + 1
    results: dict[str, PingResult] = field(default_factory=dict)
    tcp_fwd: Trace | None = None  # the SYN
    tcp_rev: Trace | None = None  # the SYN-ACK


def _pod_ref(pod: Pod) -> NsRef:
    return NsRef.of_pod(pod)


def _ipv4(pod: Pod) -> Any:
    return next((ip for ip in pod.ips if ip.version == 4), None)


def _select_pairs(pods: Sequence[Pod], pairs: Iterable[tuple[str, str]] | None, sample: int | None, seed: int) -> list[tuple[Pod, Pod]]:
    usable = {p.key: p for p in pods if p.node and not p.host_network and _ipv4(p) is not None}
    if pairs is None:
        chosen = [(usable[a], usable[b]) for a in sorted(usable) for b in sorted(usable) if a != b]
    else:
        chosen = []
        for a, b in pairs:
            for key in (a, b):
                if key not in usable:
                    raise MaterializeError(f"pod {key!r}: not a pod with its own network namespace and an IPv4 address")
            chosen.append((usable[a], usable[b]))
    if sample is not None and sample < len(chosen):
        chosen = sorted(random.Random(seed).sample(chosen, sample), key=lambda p: (p[0].key, p[1].key))
    return chosen


def verify(network: Any, pairs: Iterable[tuple[str, str]] | None = None, *, run_id: str | None = None,
           size: int = 84, sample: int | None = None, seed: int = 0, capture: bool = True,
           mtu: bool = True, tcp_port: int | None = None, timeout: float = 1.0) -> VerifyReport:
    """Materialize ``network`` (an ``overlaynet.network.Network``), probe pod pairs, compare
    every probe with the tracer, tear everything down. ``pairs`` are (``ns/name``,
    ``ns/name``) pod keys (default: every ordered pair, or ``sample`` of them, chosen with
    ``seed``). ``capture`` needs tshark; without it the wire-size checks are left out.
    ``tcp_port``: also connect over TCP to a one-shot listener on that port of each
    destination pod (checks ``tcp`` and ``tcp_peer``)."""
    started = time.monotonic()
    cluster = network.cluster
    chosen = [_traced_pair(network, a, b, size, mtu, tcp_port) for a, b in _select_pairs(cluster.pods, pairs, sample, seed)]
    notes: list[str] = []
    hosts = [n.name for n in cluster.nodes] + [r.name for r in cluster.underlay.routers]
    network.build_all()
    if capture and shutil.which("tshark") is None:
        capture = False
        notes.append("tshark not found: wire sizes were not compared")
    m = materialize(network.dataplane, hosts=hosts, run_id=run_id)
    try:
        comparisons = _probe_and_compare(m, chosen, size, capture, mtu, timeout)
        if tcp_port is not None:
            comparisons += _tcp_compare(m, chosen, tcp_port, timeout)
        namespaces = len(m.namespaces)
    finally:
        m.teardown()
    return VerifyReport(run_id=m.run_id, namespaces=namespaces, pairs=len(chosen),
                        comparisons=tuple(comparisons), skipped=m.skipped, notes=tuple(notes),
                        seconds=time.monotonic() - started)


# --- the tracer's side ---------------------------------------------------------------------
def _traced_pair(network: Any, a: Pod, b: Pod, size: int, mtu: bool, tcp_port: int | None) -> _Pair:
    """What the tracer says about a pair: the echo and its reply, the path MTU, TCP."""
    from overlaynet.trace import trace

    state = NetfilterState()
    request = Packet(_source(network, a, _ipv4(b)), _ipv4(b), proto="icmp", icmp_type=8, size=size)
    pair = _Pair(a, b, _pod_ref(a), _pod_ref(b), trace(network, request, _pod_ref(a), state=state).trace)
    if pair.fwd.success:
        pair.rev = trace(network, request.reversed(), pair.dst, state=state).trace
    if tcp_port is not None:
        _trace_tcp(network, pair, tcp_port)
    if mtu and pair.fwd.success:
        _trace_path_mtu(network, pair, request)
    return pair


def _source(network: Any, pod: Pod, dst: Any) -> Any:
    """The address the kernel sends from in ``pod`` to ``dst``: the source its route gives
    (a pod on several networks, such as a Docker container, has one per network), else the
    pod's first IPv4 address."""
    ns = network.dataplane.namespace(_pod_ref(pod))
    route = lookup_route(ns, dst)
    chosen = select_source(ns, route, dst) if route is not None and route.type == "unicast" else None
    return chosen if chosen is not None and chosen.version == 4 else _ipv4(pod)


def _trace_path_mtu(network: Any, pair: _Pair, request: Packet) -> None:
    from overlaynet.trace import trace

    # the path MTU: lower a DF echo to each MTU the tracer reports until it is delivered
    probe, last_drop = MAX_PROBE, None
    for _ in range(16):
        t = trace(network, request.with_(size=probe, df=True), pair.src).trace
        if t.success:
            pair.pmtu = probe
            break
        drop_mtu = getattr(t.last_step, "mtu", None)
        if t.disposition.value != "FRAG_NEEDED" or drop_mtu is None or drop_mtu >= probe:
            return
        probe, last_drop = drop_mtu, t
    if pair.pmtu is not None and last_drop is not None:
        pair.too_big = trace(network, request.with_(size=pair.pmtu + 1, df=True), pair.src).trace


def _trace_tcp(network: Any, pair: _Pair, port: int) -> None:
    from overlaynet.trace import trace

    state = NetfilterState()
    syn = Packet(pair.fwd.packet.src, _ipv4(pair.b), proto="tcp", sport=43210, dport=port, size=60)
    pair.tcp_fwd = trace(network, syn, pair.src, state=state).trace
    if pair.tcp_fwd.success:
        pair.tcp_rev = trace(network, syn.reversed(), pair.dst, state=state).trace


def _tcp_compare(m: Materialized, pairs: list[_Pair], port: int, timeout: float) -> list[Comparison]:
    """Every pair's connection at once: a listener in each destination, one agent per source
    (``tcp_connect_many``), so unanswered SYNs cost ``timeout`` once."""
    got = tcp_connect_many(m, [(p.src, _ipv4(p.b)) for p in pairs], port, listen_in=[p.dst for p in pairs],
                           timeout=timeout)
    out = []
    for pair, res in zip(pairs, got, strict=True):
        a, b = pair.a.key, pair.b.key
        why_not = _crossed_skipped(pair.tcp_fwd, m.skipped_interfaces) or _crossed_skipped(pair.tcp_rev, m.skipped_interfaces)
        assert pair.tcp_fwd is not None  # traced when tcp_port is given
        delivered = pair.tcp_fwd.success and pair.tcp_rev is not None and pair.tcp_rev.success
        said = str(pair.tcp_fwd.disposition) + (f", SYN-ACK {pair.tcp_rev.disposition}" if pair.tcp_rev is not None else "")
        out.append(Comparison("tcp", a, b, said, res.status + (f" ({res.message})" if res.message else ""),
                              None if why_not else delivered == res.connected, why_not or f"port {port}"))
        if delivered and res.connected and not why_not:
            final = pair.tcp_fwd.final_packet or pair.tcp_fwd.packet
            out.append(Comparison("tcp_peer", a, b, str(final.src), str(res.accepted_from),
                                  str(final.src) == res.accepted_from, "the source address the server sees"))
    return out


def _crossed_skipped(trace: Any, skipped: frozenset[tuple[NsRef, str]]) -> str | None:
    """Why the kernel cannot answer for this trace: it uses a device that was not created."""
    if trace is None:
        return None
    for hop in trace.hops:
        ref = hop.ns
        for step in hop.steps:
            dev = getattr(step, "dev", None)
            if dev is not None and (ref, dev) in skipped:
                return f"the path uses {dev} in {ref}, which the kernel here does not have"
    return None


# --- the kernel's side ---------------------------------------------------------------------
def _probe_and_compare(m: Materialized, pairs: list[_Pair], size: int, capture: bool, mtu: bool, timeout: float) -> list[Comparison]:
    by_src: dict[NsRef, list[_Pair]] = {}
    for pair in pairs:
        by_src.setdefault(pair.src, []).append(pair)
    segments = [seg for seg in sorted(m.dataplane.segments) if _has_segment(m, seg)] if capture else []
    cap = Capture(m, segments) if segments else None

    def echo(p: _Pair) -> list[tuple[str, Probe]]:
        return [("echo", (_ipv4(p.b), size, False))]

    frames: dict[tuple[str, str, int], list[int]] = {}
    try:
        if cap is not None:
            with cap:
                _ping_all(m, by_src, echo, timeout)
            frames = echo_frames(cap.decoded(port=_vxlan_ports(m)))
        else:
            _ping_all(m, by_src, echo, timeout)
    finally:
        if cap is not None:
            cap.close()
    if mtu:
        def sized(p: _Pair) -> list[tuple[str, Probe]]:
            if p.pmtu is None or p.too_big is None:
                return []
            return [("too_big", (_ipv4(p.b), p.pmtu + 1, True)), ("fits", (_ipv4(p.b), p.pmtu, True))]

        _ping_all(m, by_src, sized, timeout)
    out: list[Comparison] = []
    for pair in pairs:
        out += _compare(m, pair, frames if capture else None)
    return out


Probe = tuple[Any, int, bool]  # (destination, size, DF)


def _ping_all(m: Materialized, by_src: dict[NsRef, list[_Pair]],
              probes_of: Callable[[_Pair], list[tuple[str, Probe]]], timeout: float) -> None:
    """Run each source's labelled probes in one agent, the sources side by side (the
    threads only wait for subprocesses); each result lands in ``pair.results[label]``."""
    def run(src: NsRef) -> None:
        group = [(p, probes_of(p)) for p in by_src[src]]
        results = iter(ping_many(m, src, [probe for _, labelled in group for _, probe in labelled],
                                 timeout=timeout))
        for pair, labelled in group:
            for label, _ in labelled:
                pair.results[label] = next(results)

    with ThreadPoolExecutor(max_workers=max(1, min(len(by_src), 12))) as pool:
        list(pool.map(run, list(by_src)))


def _vxlan_ports(m: Materialized) -> set[int]:
    """The UDP ports of the VXLAN devices applied (flannel 8472, Calico 4789, options)."""
    return {i.vxlan.port for ref in m.refs for i in m.dataplane.namespaces[ref].interfaces.values()
            if i.vxlan is not None}


def _has_segment(m: Materialized, segment: str) -> bool:
    try:
        m.segment_namespace(segment)
    except MaterializeError:
        return False
    return True


def _compare(m: Materialized, pair: _Pair, frames: dict[tuple[str, str, int], list[int]] | None) -> list[Comparison]:
    a, b = pair.a.key, pair.b.key
    why_not = _crossed_skipped(pair.fwd, m.skipped_interfaces) or _crossed_skipped(pair.rev, m.skipped_interfaces)
    echo = pair.results["echo"]
    delivered = pair.fwd.success and pair.rev is not None and pair.rev.success
    tracer_says = str(pair.fwd.disposition) + (f", reply {pair.rev.disposition}" if pair.rev is not None else "")
    kernel_says = echo.status + (f" ({echo.message})" if echo.message else "")
    out = [Comparison("reach", a, b, tracer_says, kernel_says,
                      None if why_not else delivered == echo.answered, why_not or pair.fwd.reason)]
    if why_not:
        return out
    if delivered and echo.answered:
        out.append(_compare_ttl(pair.rev, b, a, echo))
    if frames is not None:
        for label, t, src, dst in (("request", pair.fwd, pair.a, pair.b), ("reply", pair.rev, pair.b, pair.a)):
            if t is None or not t.success:
                continue
            out.append(_compare_wire(label, t, src, dst, frames, m.unlike_wire))
    if "too_big" in pair.results:
        out += _compare_mtu(pair)
    return out


def routed_hops(trace: Any) -> int:
    """How many namespaces routed (and so decremented the TTL of) the packet the trace
    started with: its ``route`` steps that record a forwarding TTL for that destination.
    A router on the underlay routes only the outer packet of a tunnel (another
    destination), and a bridge does not route."""
    dst = trace.packet.dst
    return sum(1 for s in trace.steps(RouteStep) if s.ttl is not None and s.dst == dst)


def _compare_ttl(rev: Any, src: str, dst: str, echo: PingResult) -> Comparison:
    hops = routed_hops(rev)
    want = rev.packet.ttl - hops
    detail = "TTL of the echo reply on arrival"
    final = rev.final_packet.ttl if rev.final_packet is not None else want
    if final != want:
        detail += f"; the tracer's own final TTL is {final}"
    return Comparison("ttl", src, dst, f"{want} ({hops} routed hops)", str(echo.ttl),
                      want == echo.ttl == final, detail)


def _compare_wire(label: str, trace: Any, src: Pod, dst: Pod, frames: dict[tuple[str, str, int], list[int]],
                  unlike: frozenset[tuple[str, Any]] = frozenset()) -> Comparison:
    """Every frame the trace puts on an underlay segment (``Wire.frame_sizes``: fragments and
    one tunnel packet per inner fragment counted one by one, once per segment crossed)
    against the frames of this echo the capture saw (found by the addresses ``trace.packet``
    was sent with). Not comparable when a tunnel packet of the trace is one the kernel here
    builds otherwise (``unlike``: a stand-in, a refused SA)."""
    expected = sorted(n for w in trace.wires if w.link.startswith("segment ") for n in w.frame_sizes())
    encaps = trace.steps(EncapStep)
    how = f"{label}: {encaps[0].encapsulation} wire_bytes" if encaps else f"{label}: underlay frame_bytes"
    if not expected:
        how = f"{label}: stays off the underlay"
    icmp_type = 8 if label == "request" else 0
    seen = sorted(frames.get((str(trace.packet.src), str(trace.packet.dst), icmp_type), []))
    for hop in trace.hops:
        for step in hop.steps:
            if isinstance(step, EncapStep) and (hop.ns.host, step.outer_dst) in unlike:
                why = (f"{how}; {step.encapsulation} packets from {hop.ns.host} to {step.outer_dst} are built "
                       f"otherwise by the kernel here (see skipped)")
                return Comparison("wire_bytes", src.key, dst.key, _sizes(expected), _sizes(seen), None, why)
    return Comparison("wire_bytes", src.key, dst.key, _sizes(expected), _sizes(seen), seen == expected, how)


def _sizes(lengths: list[int]) -> str:
    """``2×1508, 1216``: frame lengths with their counts, largest first."""
    if not lengths:
        return "no frame"
    counts = Counter(lengths)
    return ", ".join(f"{counts[n]}×{n}" if counts[n] > 1 else str(n) for n in sorted(counts, reverse=True))


def echo_frames(frames: list[DecodedFrame]) -> dict[tuple[str, str, int], list[int]]:
    """The lengths of the captured frames of each ICMP echo datagram, by (source,
    destination, ICMP type) of the echo: its fragments, the tunnel packets carrying them, and
    the later fragments of those tunnel packets (tshark decodes nothing inside a later
    fragment: it is matched to its datagram by the outer IP identification)."""
    kinds: dict[tuple[str, str, int], int] = {}
    inside: dict[tuple[str, str, int], tuple[str, str, int]] = {}
    for f in frames:
        inner, outer = (f.inner_src, f.inner_dst, f.inner_id), (f.outer_src, f.outer_dst, f.outer_id)
        if f.inner_proto == "icmp" and f.icmp_type is not None:
            kinds[inner] = f.icmp_type
        if inner != outer and f.outer_frag_offset == 0:
            inside[outer] = inner
    out: dict[tuple[str, str, int], list[int]] = {}
    for f in frames:
        inner = (f.inner_src, f.inner_dst, f.inner_id)
        if f.inner_proto != "icmp":
            found = inside.get(inner)  # a later fragment of a tunnel packet
            if found is None:
                continue
            inner = found
        kind = kinds.get(inner)
        if kind in (0, 8):
            out.setdefault((inner[0], inner[1], kind), []).append(f.frame_len)
    return out


def _compare_mtu(pair: _Pair) -> list[Comparison]:
    a, b = pair.a.key, pair.b.key
    big, fits = pair.results["too_big"], pair.results["fits"]
    t = pair.too_big
    assert t is not None  # probed only when traced
    drops = t.steps(DropStep)
    drop = drops[-1] if drops else None
    want_mtu = drop.mtu if drop is not None else None
    # where the error arises: the sender's own stack (EMSGSIZE) or a host on the path, whose
    # ICMP error comes from the address the tracer names
    where = t.hops[-1].ns if t.hops else None
    local = where == pair.src
    # the address the ICMP error comes from, when the tracer names it (a bridged VXLAN port
    # answers in the inner destination's name): then the kernel's sender must match it
    icmp_from = getattr(drop, "icmp_from", None)
    if icmp_from is not None:
        local = False
    said = (f"{t.disposition} mtu {want_mtu} at size {pair.pmtu + 1}" if pair.pmtu is not None else "?") + \
        (" (local)" if local else f" (from {icmp_from if icmp_from is not None else where.host if where else '?'})")
    got = f"{big.status} mtu {big.mtu}" + (" (local)" if big.local else f" (from {big.reply_from})")
    agree = (t.disposition.value == "FRAG_NEEDED" and big.status == "frag_needed" and big.mtu == want_mtu
             and big.local == local and (icmp_from is None or big.reply_from == str(icmp_from)))
    return [
        Comparison("frag_needed", a, b, said, got, agree, big.message),
        Comparison("fits", a, b, f"DELIVERED at size {pair.pmtu} DF", f"{fits.status} at size {fits.size}",
                   fits.answered, "the largest DF echo the tracer delivers"),
    ]
