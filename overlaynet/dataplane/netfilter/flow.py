"""One packet through one host's netfilter, hook after hook, as the kernel routes it:
PREROUTING → INPUT (destination local) or FORWARD → POSTROUTING; OUTPUT → POSTROUTING, and
for a local destination on through lo: PREROUTING → INPUT.

Used by ``overlaynet iptables trace`` on any iptables-save file; ``kube_proxy_jumps`` adds
the jumps kube-proxy installs outside its restore payload (proxier.go iptablesJumpChains).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

from overlaynet.dataplane.netfilter.context import Hook, HookContext, NatRecord, RuleHit, Verdict
from overlaynet.dataplane.netfilter.evaluate import run_hook
from overlaynet.dataplane.netfilter.hostaddr import HostAddresses
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
                 local_ips: Iterable[IPAddress] = (), host: HostAddresses | None = None,
                 all_branches: bool = False, seed: int = 0,
                 state: NetfilterState | None = None) -> list[FlowOutcome]:
    """Every outcome (one, unless ``all_branches``) of ``packet`` entering the host at ``hook``.

    ``host`` gives the interfaces and their addresses (``HostAddresses``); ``local_ips`` are
    more addresses of the host on an interface not named. A destination among them (or a
    loopback one) is local: it is delivered through INPUT. MASQUERADE takes the source the
    kernel takes (``HostAddresses.masquerade_source``: the out-interface's primary address),
    REDIRECT the in-interface's first address.

    A packet a local process sends to a local address leaves through ``lo`` and comes back:
    OUTPUT → POSTROUTING → (lo) → PREROUTING → INPUT. It keeps its conntrack entry on the
    way round, so the nat table is not consulted again and it is still NEW at INPUT.
    """
    addrs = HostAddresses.build(host.interfaces if host is not None else (), extra=local_ips)
    local = addrs.local()
    state = state if state is not None else NetfilterState(seed=seed)
    first: Hook = "PREROUTING" if hook == "prerouting" else "OUTPUT"
    pending: list[_Leg] = [_Leg(first, packet, state, Fraction(1), (), (), (), False)]
    results: list[FlowOutcome] = []
    while pending:
        leg = pending.pop(0)
        name, pkt = leg.hook, leg.packet
        looped = leg.looped
        is_local = pkt.dst in local or pkt.dst.is_loopback
        inbound = "lo" if looped else in_iface
        outbound = "lo" if first == "OUTPUT" and is_local else out_iface
        nexthop = pkt.dst

        def iface_address(dev: str, version: int, _hook: str = name, _hop: IPAddress = nexthop) -> IPAddress | None:
            if _hook == "PREROUTING":
                return addrs.redirect_target(dev, version)
            return addrs.masquerade_source(dev, version, _hop)

        ctx = HookContext(name, inbound if name in ("PREROUTING", "INPUT", "FORWARD") else None,
                          outbound if name in ("OUTPUT", "FORWARD", "POSTROUTING") else None,
                          local, iface_address, leg.state, all_branches=all_branches, namespace="host",
                          looped=looped)
        for out in run_hook(ruleset, pkt, ctx):
            p = leg.probability * out.probability
            path = (*leg.hooks, name)
            seen = leg.hits + out.hits
            done_nat = leg.nat + out.nat
            nxt = _next_hook(name, out.packet, local, first == "OUTPUT")
            if out.verdict != "ACCEPT" or nxt is None:
                results.append(FlowOutcome(out.verdict, p, out.packet, packet, path, seen, done_nat, out.reject_with))
            else:
                again = looped or (name == "POSTROUTING" and nxt == "PREROUTING")
                pending.append(_Leg(nxt, out.packet, out.state or leg.state, p, path, seen, done_nat, again))
    return results


@dataclass(frozen=True)
class _Leg:
    """A packet on its way to one more hook, with what happened to it so far."""

    hook: Hook
    packet: Packet
    state: NetfilterState
    probability: Fraction
    hooks: tuple[str, ...]
    hits: tuple[RuleHit, ...]
    nat: tuple[NatRecord, ...]
    looped: bool  # it went out through lo and is coming back in


def _next_hook(hook: str, packet: Packet, local: frozenset[IPAddress], from_output: bool) -> Hook | None:
    is_local = packet.dst in local or packet.dst.is_loopback
    if hook == "PREROUTING":
        return "INPUT" if is_local else "FORWARD"
    if hook in ("FORWARD", "OUTPUT"):
        return "POSTROUTING"
    if hook == "POSTROUTING" and from_output and is_local:
        return "PREROUTING"  # sent to this host's own address: out through lo and back in
    return None  # INPUT: delivered; POSTROUTING: it leaves the host


def overall_verdict(outcomes: list[FlowOutcome]) -> Verdict:
    """The verdict when all outcomes agree; otherwise the most likely one (ties: ACCEPT,
    then REJECT, then DROP)."""
    totals: dict[str, Fraction] = {}
    for out in outcomes:
        totals[out.verdict] = totals.get(out.verdict, Fraction(0)) + out.probability
    order = ("ACCEPT", "REJECT", "DROP")
    best = max(order, key=lambda v: (totals.get(v, Fraction(-1)), -order.index(v)))
    return best  # type: ignore[return-value]
