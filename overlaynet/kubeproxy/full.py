"""A node's complete kube-proxy ruleset: the restore payload plus what kube-proxy installs
outside it (``iptablesJumpChains``/``iptablesKubeletJumpChains`` via EnsureRule(Prepend), and
the KUBE-PROXY-CANARY chains its iptables monitor creates), with built-in chains declared,
so the text loads into an empty namespace with plain ``iptables-restore``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from overlaynet.dataplane.netfilter.matches import Match
from overlaynet.dataplane.netfilter.matches_ct import Conntrack
from overlaynet.dataplane.netfilter.rules import Rule
from overlaynet.kubeproxy import written as w
from overlaynet.kubeproxy.config import ProxierConfig
from overlaynet.kubeproxy.generate import (
    KUBE_EXTERNAL_SERVICES,
    KUBE_FIREWALL,
    KUBE_FORWARD,
    KUBE_NODEPORTS,
    KUBE_POSTROUTING,
    KUBE_PROXY_CANARY,
    KUBE_PROXY_FIREWALL,
    KUBE_SERVICES,
    FragmentCache,
    Payload,
    build_text,
    declarations,
    group_tables,
    rule_lines,
)
from overlaynet.model.services import EndpointSlice, Service

BUILTIN_CHAINS: dict[str, tuple[str, ...]] = {
    "mangle": ("PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"),
    "filter": ("INPUT", "FORWARD", "OUTPUT"),
    "nat": ("PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"),
}
TABLE_ORDER = ("mangle", "filter", "nat")

_NEW = Conntrack(ctstate=frozenset({"NEW"}))


@dataclass(frozen=True, slots=True)
class EnsuredJump:
    """One rule kube-proxy ensures in a built-in chain (in iptablesJumpChains order)."""

    table: str
    chain: str  # the built-in chain
    target: str
    comment: str
    new_only: bool = False

    @property
    def written(self) -> w.Written:
        """The rule, typed, with kube-proxy's spelling (``-m conntrack --ctstate NEW
        -m comment --comment "…" -j TARGET``)."""
        matches: tuple[Match, ...] = ((_NEW,) if self.new_only else ()) + (
            (w.comment(self.comment),) if self.comment else ())
        spelling = tuple(a for a, on in ((w.Arg.CONNTRACK, self.new_only), (w.Arg.COMMENT, bool(self.comment))) if on)
        return w.Written(self.table, self.chain, Rule(matches, w.jump(self.target)), spelling)


JUMPS: tuple[EnsuredJump, ...] = (
    EnsuredJump("filter", "INPUT", KUBE_EXTERNAL_SERVICES, "kubernetes externally-visible service portals", True),
    EnsuredJump("filter", "FORWARD", KUBE_EXTERNAL_SERVICES, "kubernetes externally-visible service portals", True),
    EnsuredJump("filter", "INPUT", KUBE_NODEPORTS, "kubernetes health check service ports"),
    EnsuredJump("filter", "FORWARD", KUBE_SERVICES, "kubernetes service portals", True),
    EnsuredJump("filter", "OUTPUT", KUBE_SERVICES, "kubernetes service portals", True),
    EnsuredJump("filter", "FORWARD", KUBE_FORWARD, "kubernetes forwarding rules"),
    EnsuredJump("filter", "INPUT", KUBE_PROXY_FIREWALL, "kubernetes load balancer firewall", True),
    EnsuredJump("filter", "OUTPUT", KUBE_PROXY_FIREWALL, "kubernetes load balancer firewall", True),
    EnsuredJump("filter", "FORWARD", KUBE_PROXY_FIREWALL, "kubernetes load balancer firewall", True),
    EnsuredJump("nat", "OUTPUT", KUBE_SERVICES, "kubernetes service portals"),
    EnsuredJump("nat", "PREROUTING", KUBE_SERVICES, "kubernetes service portals"),
    EnsuredJump("nat", "POSTROUTING", KUBE_POSTROUTING, "kubernetes postrouting rules"),
    # kube-proxy's copy of kubelet's firewall chain jumps (iptablesKubeletJumpChains)
    EnsuredJump("filter", "INPUT", KUBE_FIREWALL, ""),
    EnsuredJump("filter", "OUTPUT", KUBE_FIREWALL, ""),
)


def builtin_jumps() -> dict[tuple[str, str], list[w.Written]]:
    """The rules in each (table, built-in chain) after every EnsureRule(Prepend) on an empty
    chain: each is inserted at position 1, so the last ensured ends up first."""
    out: dict[tuple[str, str], list[w.Written]] = {}
    for jump in JUMPS:
        out.setdefault((jump.table, jump.chain), []).insert(0, jump.written)
    return out


def render_full(payload: Payload) -> str:
    """``payload`` plus built-in chains, kube-proxy's jumps and the canary chains."""
    jumps = builtin_jumps()
    # the canaries, and KUBE-FIREWALL EnsureChain'd for the kubelet jumps
    grouped = group_tables(payload, {"filter": (KUBE_PROXY_CANARY, KUBE_FIREWALL), "nat": (KUBE_PROXY_CANARY,)})
    out: list[str] = []
    for table in TABLE_ORDER:
        builtins = BUILTIN_CHAINS[table]
        out.append(f"*{table}")
        out.extend(f":{c} ACCEPT [0:0]" for c in builtins)
        if table == "mangle":
            out.append(f":{KUBE_PROXY_CANARY} - [0:0]")
            out.append("COMMIT")
            continue
        out.extend(declarations(grouped[table]))
        for chain in builtins:
            out.extend(f"-A {chain} {w.render(j.rule, j.spelling)}" for j in jumps.get((table, chain), ()))
        out.extend(rule_lines(grouped[table]))
        out.append("COMMIT")
    return "\n".join(out) + "\n"


def generate_full(
    services: Iterable[Service],
    endpoint_slices: Iterable[EndpointSlice],
    config: ProxierConfig,
    *,
    cache: FragmentCache | None = None,
) -> str:
    """A complete ruleset for one node and family, as ``iptables-save`` would list it after
    kube-proxy's first full sync on an empty host (loads with plain ``iptables-restore``)."""
    return render_full(build_text(services, endpoint_slices, config, cache=cache))
