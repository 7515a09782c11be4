"""Netfilter: typed rulesets (tables → chains → rules), the iptables-save parser and renderer,
and hook evaluation with explicit state (conntrack, recent lists, marks).

    Ruleset()                         an empty ruleset (tables created on demand)
    parse_save(text, *, file, strict) iptables-save / iptables-restore text → Ruleset
    parse_rule(tokens, *, line, file) one rule's options (after ``-A CHAIN``) → Rule
    render_save(ruleset, *, counters) Ruleset → iptables-save text (render_rule: one rule)
    run_hook(ruleset, packet, ctx, *, compiled=None) -> list[HookOutcome]
        walks every table registered at ctx.hook in the kernel's priority order
        (raw, mangle, nat, filter; nat only for NEW connections, conntrack translation for
        the others); one outcome unless ctx.all_branches follows several statistic branches.

The modules: rules (values), matches/matches_ct/targets (one class per extension),
extensions (option tables), parse, render, validate (commit-time kernel checks), state,
context, evaluate (the walk), compile (dispatch tables), flow (a packet through a host).
See docs/netfilter.md.
"""

from __future__ import annotations

from overlaynet.dataplane.netfilter.context import (
    Hook,
    HookContext,
    HookOutcome,
    NatRecord,
    RuleHit,
    Verdict,
)
from overlaynet.dataplane.netfilter.parse import parse_rule, parse_save
from overlaynet.dataplane.netfilter.render import render_rule, render_save
from overlaynet.dataplane.netfilter.rules import (
    BUILTIN_CHAINS,
    Chain,
    ChainRole,
    Rule,
    Ruleset,
    Table,
)
from overlaynet.dataplane.netfilter.state import ConnEntry, IpSet, NetfilterState
from overlaynet.dataplane.packet import Packet


def run_hook(ruleset: Ruleset, packet: Packet, ctx: HookContext, *, compiled: bool | None = None) -> list[HookOutcome]:
    """Evaluate ``packet`` at ``ctx.hook`` (see ``evaluate.run_hook``; ``compiled`` forces or
    forbids the dispatch tables, None uses them for long chains)."""
    if ruleset.is_empty():
        return [HookOutcome("ACCEPT", packet, state=ctx.state)]
    from overlaynet.dataplane.netfilter.evaluate import run_hook as _run

    return _run(ruleset, packet, ctx, compiled=compiled)


__all__ = [
    "BUILTIN_CHAINS",
    "Chain",
    "ChainRole",
    "ConnEntry",
    "Hook",
    "HookContext",
    "HookOutcome",
    "IpSet",
    "NatRecord",
    "NetfilterState",
    "Rule",
    "RuleHit",
    "Ruleset",
    "Table",
    "Verdict",
    "parse_rule",
    "parse_save",
    "render_rule",
    "render_save",
    "run_hook",
]
