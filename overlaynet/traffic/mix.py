"""A traffic mix: which workloads open how many connections to what, how big, for how long.

    apiVersion: overlaynet/v1
    kind: TrafficMix
    metadata: {name: shop}
    spec:
      duration: 60s                 # seconds, or 90s / 2m / 1h30m
      seed: 1                       # kube-proxy's choices are sampled with it
      linkCapacity: 1Gbps           # every underlay segment's capacity (bps, kbps, Mbps, Gbps)
      capacities: {rack-b: 10Gbps}  # per segment
      flows:
        - name: browse              # optional; the flow's label in the output
          from: {namespace: default, selector: {app: frontend}}   # or a pod (ns/name), a node, an IP
          to: web:80                # anything `trace --to` takes
          proto: tcp                # tcp (default), udp, icmp
          rate: 20                  # new connections per second, all sources together
          requests: 4               # packets client → server per connection (default 1)
          requestSize: 300          # IP bytes each (default 64)
          responses: 4              # packets server → client per connection (default: as requests)
          responseSize: 1400        # IP bytes each (default 64)

Read with the topology's line-numbered reader: every error with file:line:column.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from overlaynet.errors import Diagnostic, TrafficMixError
from overlaynet.model import LabelSelector
from overlaynet.topology import fields as f
from overlaynet.topology.fields import Ctx
from overlaynet.topology.yamlsrc import MAX_FILE_BYTES, Y, read_documents

__all__ = ["FlowSpec", "Mix", "read_mix", "read_mix_file"]

_DURATION = re.compile(r"(?:(\d+)h)?(?:(\d+)m(?!s))?(?:(\d+)s)?")
_RATE = re.compile(r"(\d+(?:\.\d+)?)\s*([kMG]?)(bps|bit/s)?", re.IGNORECASE)
_SPEC = ("duration", "seed", "linkCapacity", "capacities", "flows")
_FLOW = ("name", "from", "to", "proto", "rate", "requests", "requestSize", "responses", "responseSize", "port")


@dataclass(frozen=True, slots=True)
class Sources:
    """Who opens the connections: the pods a selector picks in a namespace, or one source
    in ``trace --from``'s words (``text``)."""

    namespace: str | None = None
    selector: LabelSelector | None = None
    text: str | None = None


@dataclass(frozen=True, slots=True)
class FlowSpec:
    name: str
    sources: Sources
    to: str
    proto: Literal["tcp", "udp", "icmp"]
    rate: float
    requests: int
    request_size: int
    responses: int
    response_size: int
    port: int | None
    line: int  # where the flow is written, for errors found when it runs
    column: int


@dataclass(frozen=True, slots=True)
class Mix:
    name: str
    file: str
    duration: int
    seed: int
    link_capacity: float  # bits per second
    capacities: dict[str, float]
    flows: tuple[FlowSpec, ...]


def _duration(ctx: Ctx, y: Y | None) -> int | None:
    if y is None:
        return None
    if isinstance(y.value, int) and not isinstance(y.value, bool) and y.value > 0:
        return int(y.value)
    if isinstance(y.value, str):
        m = _DURATION.fullmatch(y.value.strip())
        if m and any(m.groups()):
            h, mi, s = (int(g) if g else 0 for g in m.groups())
            if h * 3600 + mi * 60 + s > 0:
                return h * 3600 + mi * 60 + s
    ctx.error(y, f"expected a duration above 0 (seconds, or like 90s, 2m, 1h30m), found {f.describe(y)}")
    return None


def _bps(ctx: Ctx, y: Y | None) -> float | None:
    if y is None:
        return None
    if isinstance(y.value, int | float) and not isinstance(y.value, bool) and y.value > 0:
        return float(y.value)
    if isinstance(y.value, str):
        m = _RATE.fullmatch(y.value.strip())
        if m and float(m.group(1)) > 0:
            return float(m.group(1)) * {"": 1, "k": 1e3, "m": 1e6, "g": 1e9}[m.group(2).lower()]
    ctx.error(y, f"expected a link capacity in bits per second (like 1Gbps, 100Mbps, 10000000), found {f.describe(y)}")
    return None


def _positive(ctx: Ctx, y: Y | None, what: str) -> float | None:
    if y is None:
        return None
    if isinstance(y.value, int | float) and not isinstance(y.value, bool) and y.value > 0:
        return float(y.value)
    ctx.error(y, f"expected {what} above 0, found {f.describe(y)}")
    return None


def _sources(ctx: Ctx, y: Y) -> Sources | None:
    if isinstance(y.value, str):
        return Sources(text=y.value.strip())
    m = f.mapping(ctx, y, ("namespace", "selector"), what="a source: a pod, node or IP, or {namespace, selector}")
    if m is None:
        return None
    namespace = f.dns_label(ctx, m.get("namespace"), "a namespace") or "default"
    sel_y = m.get("selector")
    if sel_y is None:
        selector: LabelSelector | None = LabelSelector()
    elif isinstance(sel_y.value, dict) and not {"matchLabels", "matchExpressions"} & set(sel_y.value):
        selector = LabelSelector(f.label_map(ctx, sel_y, "labels to select"))  # {app: web}, as kubectl -l
    else:
        selector = f.label_selector(ctx, sel_y)
    if selector is None:
        return None
    return Sources(namespace=namespace, selector=selector)


def _flow(ctx: Ctx, i: int, y: Y) -> FlowSpec | None:
    m = f.mapping(ctx, y, _FLOW, what="a flow")
    if m is None:
        return None
    src_y = f.required(ctx, y, m, "from", "the flow's sources (a pod, node or IP, or {namespace, selector})")
    to = f.string(ctx, f.required(ctx, y, m, "to", "the flow's destination, as trace --to takes it"), "a destination")
    rate = _positive(ctx, f.required(ctx, y, m, "rate", "new connections per second"), "connections per second")
    proto = f.choice(ctx, m.get("proto"), ("tcp", "udp", "icmp")) if m.get("proto") is not None else "tcp"
    requests = f.integer(ctx, m.get("requests"), 1, 1_000_000, "packets per connection") if m.get("requests") is not None else 1
    responses = f.integer(ctx, m.get("responses"), 0, 1_000_000, "packets per connection") if m.get("responses") is not None else requests
    req_size = f.integer(ctx, m.get("requestSize"), 28, 65535, "an IP packet size") if m.get("requestSize") is not None else 64
    resp_size = f.integer(ctx, m.get("responseSize"), 28, 65535, "an IP packet size") if m.get("responseSize") is not None else 64
    port = f.port(ctx, m.get("port")) if m.get("port") is not None else None
    name = (f.string(ctx, m.get("name"), "a flow name") if m.get("name") is not None else None) or f"flow-{i}"
    sources = _sources(ctx, src_y) if src_y is not None else None
    if None in (sources, to, rate, proto, requests, responses, req_size, resp_size):
        return None
    return FlowSpec(name, sources, to, proto, rate, requests, req_size, responses, resp_size, port,  # type: ignore[arg-type]
                    y.line, y.column)


def read_mix(text: str, filename: str = "<string>") -> Mix:
    """Parse a traffic mix; TrafficMixError with every problem found."""
    ctx = Ctx(file=filename)
    docs, diags = read_documents(filename, text)
    ctx.diagnostics.extend(diags)
    docs = [d for d in docs if d.value is not None]
    if not ctx.errors and len(docs) != 1:
        line = docs[1].line if len(docs) > 1 else 1
        ctx.diagnostics.append(Diagnostic(filename, line, 1, "", f"expected one TrafficMix document, found {len(docs)}"))
    mix = _mix(ctx, docs[0], filename) if len(docs) == 1 and not ctx.errors else None
    if ctx.errors or mix is None:
        raise TrafficMixError(ctx.errors or [Diagnostic(filename, 1, 1, "", "expected a TrafficMix")])
    return mix


def _mix(ctx: Ctx, doc: Y, filename: str) -> Mix | None:
    top = f.mapping(ctx, doc, ("apiVersion", "kind", "metadata", "spec"), what="a TrafficMix")
    if top is None:
        return None
    kind = f.string(ctx, f.required(ctx, doc, top, "kind", "kind: TrafficMix"))
    if kind is not None and kind != "TrafficMix":
        ctx.error(top["kind"], f"expected kind TrafficMix, found {kind!r}")
    if top.get("apiVersion") is not None and (api := f.string(ctx, top["apiVersion"])) != "overlaynet/v1":
        ctx.error(top["apiVersion"], f"expected apiVersion overlaynet/v1, found {api!r}")
    meta = f.mapping(ctx, top.get("metadata"), ("name",), strict=False, what="metadata") or {}
    name = f.string(ctx, meta.get("name")) or Path(filename).stem
    spec_y = f.required(ctx, doc, top, "spec", "the mix's spec with flows")
    spec = f.mapping(ctx, spec_y, _SPEC, what="a traffic mix spec")
    if spec is None or spec_y is None:
        return None
    duration = _duration(ctx, spec.get("duration")) if spec.get("duration") is not None else 60
    seed = f.integer(ctx, spec.get("seed"), 0, 2**32, "a seed") if spec.get("seed") is not None else 0
    link = _bps(ctx, spec.get("linkCapacity")) if spec.get("linkCapacity") is not None else 1e9
    caps: dict[str, float] = {}
    for seg, cy in (f.mapping(ctx, spec.get("capacities"), (), strict=False, what="capacities per segment") or {}).items():
        if (bps := _bps(ctx, cy)) is not None:
            caps[seg] = bps
    flows_y = f.required(ctx, spec_y, spec, "flows", "a list of flows")
    flows = [fl for i, item in enumerate(f.seq(ctx, flows_y, "a list of flows")) if (fl := _flow(ctx, i + 1, item)) is not None]
    if flows_y is not None and isinstance(flows_y.value, list) and not flows_y.value:
        ctx.error(flows_y, "expected at least one flow, found none")
    if duration is None or seed is None or link is None:
        return None
    return Mix(name, filename, duration, seed, link, caps, tuple(flows))


def read_mix_file(path: str) -> Mix:
    p = Path(path)
    try:
        if p.stat().st_size > MAX_FILE_BYTES:
            raise TrafficMixError([Diagnostic(path, 1, 1, "", "file too large: expected at most 10 MiB")])
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise TrafficMixError([Diagnostic(path, 1, 1, "", f"cannot read the mix: {exc.strerror or exc}")]) from exc
    except UnicodeDecodeError as exc:
        raise TrafficMixError([Diagnostic(path, 1, 1, "", f"expected UTF-8 text: {exc.reason}")]) from exc
    return read_mix(text, path)
