"""Run a traffic mix over a network: every flow's connections routed by the tracer, kube-proxy's
choice sampled from its exact branch probabilities, and what the kernel and cAdvisor would
count accumulated per interface, per pod, per underlay segment, with drops by reason.

Each (flow, source) pair is traced once with all branches (request size forward; for every
delivered branch the reply, response size, through that branch's conntrack); the flow's
connections are spread over its sources evenly and over the branches by a seeded multinomial
draw. Counters are then exact multiples of the per-packet counts (``counters.count_trace``),
so they add up as the kernel's would: bytes out of one end of a veth are bytes into the other,
and an underlay frame is the tunnel device's packet plus the encapsulation.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from overlaynet.dataplane.ir import NsRef
from overlaynet.dataplane.netfilter import NetfilterState
from overlaynet.errors import Diagnostic, OverlaynetError, TrafficMixError
from overlaynet.traffic.counters import Counts, count_trace
from overlaynet.traffic.mix import FlowSpec, Mix

if TYPE_CHECKING:
    from overlaynet.network import Network
    from overlaynet.trace.model import Trace

__all__ = ["FlowOutcome", "TrafficResult", "simulate"]


@dataclass
class FlowOutcome:
    name: str
    connections: int
    by_endpoint: Counter[str] = field(default_factory=Counter)  # delivered connections per endpoint
    failed: Counter[str] = field(default_factory=Counter)  # failed connections per disposition


@dataclass
class TrafficResult:
    mix: Mix
    counts: Counts
    flows: list[FlowOutcome]
    capacities: dict[str, float]  # bits/s per segment
    pods: dict[tuple[str, str], str]  # (host, namespace label) → pod key, for cAdvisor labels

    def utilisation(self) -> dict[str, float]:
        """Per segment: mean bits/s over the mix's duration divided by the capacity."""
        return {seg: self.counts.segment_bytes[seg] * 8 / self.mix.duration / cap
                for seg, cap in sorted(self.capacities.items())}

    def pod_bytes(self, direction: str = "tx") -> Counter[str]:
        out: Counter[str] = Counter()
        for (host, ns, _dev), n in getattr(self.counts, f"{direction}_bytes").items():
            pod = self.pods.get((host, ns))
            if pod is not None:
                out[pod] += n
        return out

    def to_dict(self) -> dict[str, Any]:
        c = self.counts
        ifaces = sorted(set(c.tx_bytes) | set(c.rx_bytes))
        return {
            "mix": self.mix.name, "duration": self.mix.duration, "seed": self.mix.seed,
            "flows": [{"name": f.name, "connections": f.connections, "delivered": dict(sorted(f.by_endpoint.items())),
                       "failed": dict(sorted(f.failed.items()))} for f in self.flows],
            "interfaces": [{"host": h, "namespace": ns, "device": d, "pod": self.pods.get((h, ns)),
                            "tx_packets": c.tx_packets[(h, ns, d)], "tx_bytes": c.tx_bytes[(h, ns, d)],
                            "rx_packets": c.rx_packets[(h, ns, d)], "rx_bytes": c.rx_bytes[(h, ns, d)]}
                           for h, ns, d in ifaces],
            "segments": [{"segment": s, "bytes": c.segment_bytes[s], "frames": c.segment_frames[s],
                          "encapsulation_bytes": c.encap_bytes[s], "capacity_bps": self.capacities.get(s),
                          "utilisation": self.utilisation().get(s)} for s in sorted(self.capacities)],
            "drops": [{"disposition": d, "where": w, "reason": r, "packets": n}
                      for (d, w, r), n in sorted(c.drops.items())],
            "top_talkers": [{"pod": p, "tx_bytes": n} for p, n in self.pod_bytes("tx").most_common(10)],
        }


def _sources(network: Network, flow: FlowSpec, file: str) -> list[str]:
    src = flow.sources
    if src.text is not None:
        return [src.text]
    assert src.selector is not None
    pods = sorted(p.key for p in network.cluster.pods
                  if p.namespace == src.namespace and src.selector.matches(p.labels) and p.ips and p.node is not None)
    if not pods:
        raise TrafficMixError([Diagnostic(file, flow.line, flow.column, "",
                                          f"flow {flow.name!r}: no running pod in namespace {src.namespace} matches its selector")])
    return pods


def _split(total: int, parts: int) -> list[int]:
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


def _draw(rng: random.Random, n: int, traces: Sequence[Trace]) -> list[int]:
    """A multinomial draw of ``n`` connections over the branches' exact probabilities."""
    counts = [0] * len(traces)
    weights = [float(t.probability) for t in traces]
    for i in rng.choices(range(len(traces)), weights=weights, k=n):
        counts[i] += 1
    return counts


def _reply(network: Network, t: Trace, size: int, state: NetfilterState) -> Trace | None:
    from overlaynet.trace.api import trace

    if not t.success or t.final_packet is None or not t.hops:
        return None
    back = t.final_packet.reversed().with_(ttl=64, size=size, df=False)
    result = trace(network, back, t.hops[-1].ns, state=t.nf_state if t.nf_state is not None else state)
    return result.trace


def _endpoint(pods_by_ip: dict[Any, str], t: Trace) -> str:
    final = t.final_packet or t.packet
    return pods_by_ip.get(final.dst) or f"{final.dst}"


def simulate(network: Network, mix: Mix) -> TrafficResult:
    """Route every connection of ``mix`` through ``network`` and count what crosses where."""
    rng = random.Random(mix.seed)
    total = Counts()
    outcomes: list[FlowOutcome] = []
    pods_by_ip = {ip: p.key for p in network.cluster.pods for ip in p.ips}
    for flow in mix.flows:
        sources = _sources(network, flow, mix.file)
        connections = round(flow.rate * mix.duration)
        outcome = FlowOutcome(flow.name, connections)
        for source, n in zip(sources, _split(connections, len(sources)), strict=True):
            if n == 0:
                continue
            state = NetfilterState(seed=mix.seed)
            try:
                report = network.trace(source, flow.to, port=flow.port, proto=flow.proto, size=flow.request_size,
                                       all_branches=True, state=state, seed=mix.seed)
            except OverlaynetError as exc:
                raise TrafficMixError([Diagnostic(mix.file, flow.line, flow.column, "", f"flow {flow.name!r} from {source}: {exc}")]) from exc
            branches = report.forward.traces
            for t, k in zip(branches, _draw(rng, n, branches), strict=True):
                if k == 0:
                    continue
                total.add(count_trace(t), k * flow.requests)
                if t.success:
                    outcome.by_endpoint[_endpoint(pods_by_ip, t)] += k
                    back = _reply(network, t, flow.response_size, state) if flow.responses else None
                    if back is not None:
                        total.add(count_trace(back), k * flow.responses)
                else:
                    outcome.failed[t.disposition.value] += k
        outcomes.append(outcome)
    caps = {seg.name: mix.capacities.get(seg.name, mix.link_capacity) for seg in network.cluster.underlay.segments}
    pods: dict[tuple[str, str], str] = {}
    for p in network.cluster.pods:
        if p.node is not None and not p.host_network:
            ref = NsRef.of_pod(p)
            pods[(ref.host, ref.label)] = p.key
    return TrafficResult(mix, total, outcomes, caps, pods)
