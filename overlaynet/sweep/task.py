"""One sweep task: trace a chunk of flows on a network, return plain results.

Tasks are pure functions of (topology source, flows): a Dask worker that dies mid-sweep is
replaced by rescheduling its tasks elsewhere, with the same answer. The topology travels to
each worker once, as its files' text (``TopologySource``, scattered by the engine); each worker
process loads and assembles it on first use and keeps the network for the tasks that follow
(``network_for`` is a small LRU keyed by the source, so a worker never re-parses per task).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from overlaynet.sweep.flows import Flow

if TYPE_CHECKING:
    from overlaynet.network import Network
    from overlaynet.trace.model import Trace

__all__ = ["Branch", "FlowResult", "TopologySource", "network_for", "trace_flows"]


@dataclass(frozen=True, slots=True)
class TopologySource:
    """A topology as text: ``(file name, content)`` pairs, and the driver seed."""

    files: tuple[tuple[str, str], ...]
    seed: int = 0

    @classmethod
    def read(cls, paths: Sequence[str], seed: int = 0) -> TopologySource:
        """The files (directories: their ``*.yaml``) as the loader would read them."""
        from pathlib import Path

        out: list[tuple[str, str]] = []
        for raw in paths:
            p = Path(raw)
            found = sorted(q for q in p.iterdir() if q.suffix in (".yaml", ".yml")) if p.is_dir() else [p]
            for q in found:
                out.append((str(q), q.read_text(encoding="utf-8")))
        return cls(tuple(out), seed)

    @property
    def digest(self) -> str:
        h = hashlib.sha256(str(self.seed).encode())
        for name, text in self.files:
            h.update(name.encode() + b"\0" + text.encode() + b"\0")
        return h.hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class _Loaded:
    network: Network
    pod_by_ip: dict[Any, str]


@lru_cache(maxsize=2)
def _loaded(source: TopologySource) -> _Loaded:
    from overlaynet.drivers import check_network
    from overlaynet.network import assemble
    from overlaynet.topology.loader import load_texts

    network = assemble(load_texts(list(source.files), network_check=check_network).cluster, seed=source.seed)
    return _Loaded(network, {ip: p.key for p in network.cluster.pods for ip in p.ips})


def network_for(source: TopologySource) -> Network:
    """The assembled network of ``source``, built once per process."""
    return _loaded(source).network


@dataclass(frozen=True, slots=True)
class Branch:
    """One netfilter branch of a flow: its probability, how it ended, and where."""

    probability: str  # an exact fraction, "1/3"
    disposition: str
    endpoint: str  # the pod (ns/name) or address:port the packet reached or was headed to
    reason: str
    where: str  # "host namespace" of the last hop
    decisive: str  # the step that decided the outcome (the drop, the policy, the delivery)
    path: tuple[str, ...]  # every step, "host namespace: summary", for diffs

    def to_dict(self) -> dict[str, Any]:
        return {
            "p": self.probability, "disposition": self.disposition, "endpoint": self.endpoint,
            "reason": self.reason, "where": self.where, "decisive": self.decisive, "path": list(self.path),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Branch:
        return cls(str(d["p"]), str(d["disposition"]), str(d["endpoint"]), str(d["reason"]), str(d["where"]),
                   str(d["decisive"]), tuple(str(s) for s in d.get("path", ())))


@dataclass(frozen=True, slots=True)
class FlowResult:
    flow: Flow
    branches: tuple[Branch, ...]
    error: str | None = None  # the flow could not be traced (the tracer's words)

    @property
    def verdict(self) -> str:
        """DELIVERED / ACCEPTED when every branch succeeds, the one failure when all fail
        alike, PARTIAL when some branches fail, ERROR when the flow could not be traced."""
        if self.error is not None:
            return "ERROR"
        kinds = {b.disposition for b in self.branches}
        if len(kinds) == 1:
            return next(iter(kinds))
        ok = {"DELIVERED", "ACCEPTED"}
        return "PARTIAL" if kinds & ok else "FAILED"


def _decisive(t: Trace) -> str:
    from overlaynet.trace.steps import DeliverStep, DropStep, PolicyStep

    steps = [(h, s) for h in t.hops for s in h.steps]
    for hop, step in reversed(steps):
        if isinstance(step, PolicyStep) and step.verdict.lower() in ("deny", "drop", "reject", "denied"):
            return f"{hop.host} {hop.namespace}: {step.summary()}"
    for hop, step in reversed(steps):
        if isinstance(step, DropStep | DeliverStep):
            return f"{hop.host} {hop.namespace}: {step.summary()}"
    return t.reason


def _endpoint(pods: dict[Any, str], t: Trace) -> str:
    final = t.final_packet or t.packet
    if final.dst in pods:
        return pods[final.dst]
    host = f"[{final.dst}]" if final.dst.version == 6 else str(final.dst)
    return f"{host}:{final.dport}" if final.dport is not None else host


def _branch(pods: dict[Any, str], t: Trace) -> Branch:
    last = t.hops[-1] if t.hops else None
    where = f"{last.host} {last.namespace}" if last is not None else ""
    path = tuple(f"{h.host} {h.namespace}: {s.summary()}" for h in t.hops for s in h.steps)
    return Branch(str(t.probability), t.disposition.value, _endpoint(pods, t), t.reason, where, _decisive(t), path)


def trace_flows(source: TopologySource, flows: Sequence[Flow]) -> list[FlowResult]:
    """Trace every flow with all netfilter branches, in order."""
    from overlaynet.errors import OverlaynetError
    from overlaynet.network.request import TraceRequest, run

    loaded = _loaded(source)
    network = loaded.network
    out: list[FlowResult] = []
    for flow in flows:
        req = TraceRequest(flow.source, flow.target, port=flow.port, proto=flow.proto, all_branches=True, seed=source.seed)
        try:
            report = run(network, req)
        except OverlaynetError as exc:
            out.append(FlowResult(flow, (), error=str(exc)))
            continue
        out.append(FlowResult(flow, tuple(_branch(loaded.pod_by_ip, t) for t in report.forward.traces)))
    return out
