"""Differential reachability: which flows changed verdict between two sweeps, and why.

Flows are matched by their key (source class, Service, port, kind, address). A flow changed
when its set of (endpoint, disposition, probability) branches differs. Changes are grouped by
cause: for a flow that now fails, the step that now decides it (the policy that denies, the
rule or route that drops); for one that now succeeds, where it is now delivered; for a flow
only one side has, that it appeared or disappeared.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from overlaynet.sweep.task import FlowResult

__all__ = ["Change", "SweepDiff", "diff_results"]

_OK = ("DELIVERED", "ACCEPTED")


@dataclass(frozen=True, slots=True)
class Change:
    key: tuple[Any, ...]
    before: str  # verdict, or "absent"
    after: str
    cause: str

    def to_dict(self) -> dict[str, Any]:
        src, svc, pname, kind, addr, port, proto = self.key
        return {"source_class": src, "service": svc, "port_name": pname, "kind": kind, "address": addr,
                "port": port, "proto": proto, "before": self.before, "after": self.after, "cause": self.cause}


@dataclass(frozen=True, slots=True)
class SweepDiff:
    changes: tuple[Change, ...]
    unchanged: int

    def groups(self) -> dict[str, list[Change]]:
        out: dict[str, list[Change]] = {}
        for c in self.changes:
            out.setdefault(c.cause, []).append(c)
        return dict(sorted(out.items(), key=lambda kv: (-len(kv[1]), kv[0])))

    def to_dict(self) -> dict[str, Any]:
        return {
            "changed": len(self.changes),
            "unchanged": self.unchanged,
            "groups": [{"cause": cause, "flows": [c.to_dict() for c in cs]} for cause, cs in self.groups().items()],
        }


def _signature(r: FlowResult) -> tuple[Any, ...]:
    if r.error is not None:
        return ("error", r.error)
    return tuple(sorted((b.endpoint, b.disposition, b.probability) for b in r.branches))


def _cause(old: FlowResult | None, new: FlowResult | None) -> str:
    if old is None:
        return "new flow (a Service port or source class that was not there before)"
    if new is None:
        return "flow gone (its Service port or source class no longer exists)"
    if new.error is not None:
        return f"not traceable now: {new.error}"
    failing = [b for b in new.branches if b.disposition not in _OK]
    if failing:
        b = failing[0]
        return f"now {b.disposition} at {b.decisive}"
    endpoints = sorted({b.endpoint for b in new.branches})
    return f"now {new.verdict} to {', '.join(endpoints)}"


def diff_results(before: Sequence[FlowResult], after: Sequence[FlowResult]) -> SweepDiff:
    """The flows whose verdict differs, in the order of ``after`` then ``before``."""
    old = {r.flow.key: r for r in before}
    new = {r.flow.key: r for r in after}
    changes: list[Change] = []
    unchanged = 0
    for key in [*new, *(k for k in old if k not in new)]:
        a, b = old.get(key), new.get(key)
        if a is not None and b is not None and _signature(a) == _signature(b):
            unchanged += 1
            continue
        changes.append(Change(key, a.verdict if a else "absent", b.verdict if b else "absent", _cause(a, b)))
    return SweepDiff(tuple(changes), unchanged)
