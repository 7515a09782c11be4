"""One packet through one host's netfilter, hook after hook, as the kernel routes it:
PREROUTING → INPUT (destination local) or FORWARD → POSTROUTING; OUTPUT → POSTROUTING.

Used by ``overlaynet iptables trace`` on any iptables-save file; ``kube_proxy_jumps`` adds
the jumps kube-proxy installs outside its restore payload (proxier.go iptablesJumpChains).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

from overlaynet.dataplane.netfilter.context import Hook, HookContext, NatRecord, RuleHit, Verdict
from overlaynet.dataplane.netfilter.evaluate import run_hook
from overlaynet.dataplane.netfilter.matches import Comment, Match
from overlaynet.dataplane.netfilter.matches_ct import Conntrack
from overlaynet.dataplane.netfilter.rules import Rule, Ruleset
from overlaynet.dataplane.netfilter.state import NetfilterState
from overlaynet.dataplane.netfilter.targets import Goto, Jump
from overlaynet.dataplane.packet import Packet
from overlaynet.model.base import IPAddress

# (table, built-in chain, kube-proxy chain, comment, only ctstate NEW), in kube-proxy's
# iptablesJumpChains order; each is prepended (-I 1), so the last listed ends up first.
KUBE_PROXY_JUMPS: tuple[tuple[str, str, str, str, bool], ...] = (
    ("filter", "INPUT", "KUBE-EXTERNAL-SERVICES", "kubernetes externally-visible service portals", True),
    ("filter", "FORWARD", "KUBE-EXTERNAL-SERVICES", "kubernetes externally-visible service portals", True),
    ("filter", "INPUT", "KUBE-NODEPORTS", "kubernetes health check service ports", False),
    ("filter", "FORWARD", "KUBE-SERVICES", "kubernetes service portals", True),
    ("filter", "OUTPUT", "KUBE-SERVICES", "kubernetes service portals", True),
    ("filter", "FORWARD", "KUBE-FORWARD", "kubernetes forwarding rules", False),
    ("filter", "INPUT", "KUBE-PROXY-FIREWALL", "kubernetes load balancer firewall", True),
    ("filter", "OUTPUT", "KUBE-PROXY-FIREWALL", "kubernetes load balancer firewall", True),
    ("filter", "FORWARD", "KUBE-PROXY-FIREWALL", "kubernetes load balancer firewall", True),
    ("nat", "OUTPUT", "KUBE-SERVICES", "kubernetes service portals", False),
    ("nat", "PREROUTING", "KUBE-SERVICES", "kubernetes service portals", False),
    ("nat", "POSTROUTING", "KUBE-POSTROUTING", "kubernetes postrouting rules", False),
)


def kube_proxy_jumps(ruleset: Ruleset) -> list[str]:
    """Add, in place, each kube-proxy jump whose target chain exists and that no rule of
    the built-in chain already makes. Returns ``table/CHAIN -> TARGET`` for each added."""
    added = []
    for table_name, builtin, target, comment, new_only in KUBE_PROXY_JUMPS:
        table = ruleset.tables.get(table_name)
        if table is None or target not in table.chains:
            continue
        chain = table.ensure_chain(builtin)
        if any(isinstance(r.target, Jump | Goto) and r.target.chain == target for r in chain.rules):
            continue
        matches: list[Match] = [Conntrack(ctstate=frozenset({"NEW"}))] if new_only else []
        matches.append(Comment(comment))
        ruleset.insert(table_name, builtin, Rule(tuple(matches), Jump(target)), 1)
        added.append(f"{table_name}/{builtin} -> {target}")
    return added


@dataclass(frozen=True)
class FlowOutcome:
    """One way the packet can go through the host, with its probability."""

    verdict: Verdict
    probability: Fraction
    packet: Packet  # as it leaves (or is delivered / dropped)
    original: Packet
    hooks: tuple[str, ...]
    hits: tuple[RuleHit, ...]
    nat: tuple[NatRecord, ...]
    reject_with: str | None = None

    @property
    def destination(self) -> tuple[IPAddress, int | None] | None:
        """Where DNAT/REDIRECT sent the packet; None when its destination was not translated."""
        dnat = [n for n in self.nat if n.kind in ("DNAT", "REDIRECT")]
        return dnat[-1].after if dnat else None

    @property
    def masquerade(self) -> bool:
        return any(n.kind in ("MASQUERADE", "SNAT") for n in self.nat)


def trace_packet(ruleset: Ruleset, packet: Packet, *, hook: Literal["prerouting", "output"] = "prerouting",
                 in_iface: str | None = "eth0", out_iface: str | None = "eth0",
                 local_ips: Iterable[IPAddress] = (), all_branches: bool = False, seed: int = 0,
                 state: NetfilterState | None = None) -> list[FlowOutcome]:
    """Every outcome (one, unless ``all_branches``) of ``packet`` entering the host at ``hook``.

    MASQUERADE takes the first of ``local_ips`` of the packet's family as the source
    (0.0.0.0 / :: if none is given); a destination in ``local_ips`` is delivered (INPUT).
    """
    local = frozenset(local_ips)
    state = state if state is not None else NetfilterState(seed=seed)

    def iface_address(_name: str, version: int) -> IPAddress:
        mine = sorted(ip for ip in local if ip.version == version)
        return mine[0] if mine else ipaddress.ip_address("0.0.0.0" if version == 4 else "::")

    first: Hook = "PREROUTING" if hook == "prerouting" else "OUTPUT"
    pending: list[tuple[Hook, Packet, NetfilterState, Fraction, tuple[str, ...], tuple[RuleHit, ...], tuple[NatRecord, ...]]]
    pending = [(first, packet, state, Fraction(1), (), (), ())]
    results: list[FlowOutcome] = []
    while pending:
        name, pkt, st, prob, hooks, hits, nat = pending.pop(0)
        ctx = HookContext(name, in_iface if name in ("PREROUTING", "INPUT", "FORWARD") else None,  # type: ignore[arg-type]
                          out_iface if name in ("OUTPUT", "FORWARD", "POSTROUTING") else None,
                          local, iface_address, st, all_branches=all_branches, namespace="host")
        if first == "OUTPUT" and name in ("OUTPUT", "POSTROUTING") and (pkt.dst in local or pkt.dst.is_loopback):
            ctx.out_iface = "lo"  # a local process talking to this host: the loopback device
        outcomes = run_hook(ruleset, pkt, ctx)
        for out in outcomes:
            p = prob * out.probability
            path = (*hooks, name)
            seen = hits + out.hits
            done_nat = nat + out.nat
            nxt = _next_hook(name, out.packet, local)
            if out.verdict != "ACCEPT" or nxt is None:
                results.append(FlowOutcome(out.verdict, p, out.packet, packet, path, seen, done_nat, out.reject_with))
            else:
                pending.append((nxt, out.packet, out.state or st, p, path, seen, done_nat))
    return results


def _next_hook(hook: str, packet: Packet, local: frozenset[IPAddress]) -> Hook | None:
    if hook == "PREROUTING":
        return "INPUT" if packet.dst in local or packet.dst.is_loopback else "FORWARD"
    if hook == "FORWARD":
        return "POSTROUTING"
    if hook == "OUTPUT":
        return "POSTROUTING"
    return None  # INPUT: delivered; POSTROUTING: leaves (a looped-back packet's INPUT is not modelled)


def overall_verdict(outcomes: list[FlowOutcome]) -> Verdict:
    """The verdict when all outcomes agree; otherwise the most likely one (ties: ACCEPT,
    then REJECT, then DROP)."""
    totals: dict[str, Fraction] = {}
    for out in outcomes:
        totals[out.verdict] = totals.get(out.verdict, Fraction(0)) + out.probability
    order = ("ACCEPT", "REJECT", "DROP")
    best = max(order, key=lambda v: (totals.get(v, Fraction(-1)), -order.index(v)))
    return best  # type: ignore[return-value]
