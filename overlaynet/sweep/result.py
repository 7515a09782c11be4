"""A sweep's result, as values and as JSON, and back: the file ``overlaynet sweep -o`` writes
and ``sweep diff`` reads. Version 1 of the format:

    {"format": "overlaynet-sweep/1", "topology": [...], "digest": "...", "engine": {...},
     "classes": [{"name", "kind", "source", "members"}], "skipped": [...],
     "summary": {"flows": N, "by_verdict": {...}},
     "flows": [{"source_class", "source", "service", "port_name", "kind", "address", "port",
                "proto", "verdict", "error", "branches": [{"p", "disposition", "endpoint",
                "reason", "where", "decisive", "path"}]}]}
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from overlaynet.errors import SweepError
from overlaynet.sweep.flows import Flow, Plan
from overlaynet.sweep.task import Branch, FlowResult

__all__ = ["FORMAT", "SweepResult", "flow_dict", "read_results", "result_dict"]

FORMAT = "overlaynet-sweep/1"


@dataclass(frozen=True)
class SweepResult:
    topology: tuple[str, ...]
    digest: str
    plan: Plan
    results: tuple[FlowResult, ...]
    engine: dict[str, Any] = field(default_factory=dict, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return result_dict(self)


_FLOW_FIELDS = ("source_class", "source", "service", "port_name", "kind", "address", "port", "proto")


def flow_dict(r: FlowResult) -> dict[str, Any]:
    f = r.flow
    out: dict[str, Any] = {name: getattr(f, name) for name in _FLOW_FIELDS}
    out["verdict"] = r.verdict
    if r.error is not None:
        out["error"] = r.error
    out["branches"] = [b.to_dict() for b in r.branches]
    return out


def result_dict(result: SweepResult) -> dict[str, Any]:
    verdicts = Counter(r.verdict for r in result.results)
    return {
        "format": FORMAT,
        "topology": list(result.topology),
        "digest": result.digest,
        "engine": dict(result.engine),
        "classes": [
            {"name": c.name, "kind": c.kind, "source": c.source, "members": list(c.members)} for c in result.plan.classes
        ],
        "skipped": list(result.plan.skipped),
        "summary": {"flows": len(result.results), "by_verdict": dict(sorted(verdicts.items()))},
        "flows": [flow_dict(r) for r in result.results],
    }


def read_results(path: str) -> list[FlowResult]:
    """The flows of a sweep result file; a clear SweepError for anything else."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise SweepError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except json.JSONDecodeError as exc:
        raise SweepError(f"{path}:{exc.lineno}:{exc.colno}: not JSON: {exc.msg}") from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        found = data.get("format") if isinstance(data, dict) else type(data).__name__
        raise SweepError(f"{path}: expected a sweep result (format {FORMAT!r}, as 'overlaynet sweep --json' writes), found {found!r}")
    out: list[FlowResult] = []
    for i, d in enumerate(data.get("flows", [])):
        try:
            flow = Flow(*(d[name] for name in _FLOW_FIELDS))
            branches = tuple(Branch.from_dict(b) for b in d.get("branches", []))
            out.append(FlowResult(flow, branches, d.get("error")))
        except (KeyError, TypeError) as exc:
            raise SweepError(f"{path}: flows[{i}]: expected the fields {', '.join(_FLOW_FIELDS)} and branches, missing {exc}") from exc
    return out
