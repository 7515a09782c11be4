"""Netfilter: typed rulesets (tables → chains → rules), the iptables-save parser and renderer,
and hook evaluation with explicit state (conntrack, recent lists, marks).

INTERFACE CONTRACT (the tracer depends on exactly this; the full engine replaces the bodies):

    Ruleset()                         an empty ruleset (tables created on demand)
    run_hook(ruleset, packet, ctx) -> list[HookOutcome]
        walks every table registered at ctx.hook in the kernel's priority order
        (raw, mangle, nat, filter; nat only for NEW connections, conntrack translation for
        the others); one outcome unless ctx.all_branches follows several statistic branches.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Literal

from overlaynet.dataplane.packet import Packet
from overlaynet.model.base import IPAddress

Hook = Literal["PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"]
Verdict = Literal["ACCEPT", "DROP", "REJECT"]


@dataclass
class Ruleset:
    """Placeholder until the engine lands: tables name → object."""

    tables: dict[str, object] = field(default_factory=dict)

    def is_empty(self) -> bool:
        return not self.tables


@dataclass
class NetfilterState:
    """Mutable state a stateful trace carries between packets (conntrack, recent, marks)."""

    conntrack: dict[object, object] = field(default_factory=dict)
    seed: int = 0


@dataclass(frozen=True, slots=True)
class RuleHit:
    table: str
    chain: str
    number: int  # 1-based position in the chain
    text: str  # the rule as iptables-save prints it
    verdict: str | None = None  # what the rule did, if it was a terminal or a jump
    comment: str | None = None


@dataclass(frozen=True, slots=True)
class NatRecord:
    kind: Literal["DNAT", "SNAT", "MASQUERADE", "REDIRECT", "conntrack"]
    before: tuple[IPAddress, int | None]
    after: tuple[IPAddress, int | None]
    chain: str = ""


@dataclass(frozen=True, slots=True)
class HookOutcome:
    verdict: Verdict
    packet: Packet
    probability: Fraction = Fraction(1)
    hits: tuple[RuleHit, ...] = ()
    nat: tuple[NatRecord, ...] = ()


@dataclass
class HookContext:
    hook: Hook
    in_iface: str | None
    out_iface: str | None
    local_addresses: frozenset[IPAddress]
    iface_address: Callable[[str, int], IPAddress | None]  # (ifname, ip version) for MASQUERADE
    state: NetfilterState
    all_branches: bool = False
    namespace: str = ""  # for messages


def run_hook(ruleset: Ruleset, packet: Packet, ctx: HookContext) -> list[HookOutcome]:
    if ruleset.is_empty():
        return [HookOutcome("ACCEPT", packet)]
    raise NotImplementedError("netfilter engine not yet built")


__all__ = [
    "Hook",
    "HookContext",
    "HookOutcome",
    "NatRecord",
    "NetfilterState",
    "RuleHit",
    "Ruleset",
    "Verdict",
    "run_hook",
]
