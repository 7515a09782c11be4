"""A node's complete kube-proxy ruleset: the restore payload plus what kube-proxy installs
outside it (``iptablesJumpChains``/``iptablesKubeletJumpChains`` via EnsureRule(Prepend), and
the KUBE-PROXY-CANARY chains its iptables monitor creates), with built-in chains declared,
so the text loads into an empty namespace with plain ``iptables-restore``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

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
    build_payload,
    render_table,
)
from overlaynet.model.services import EndpointSlice, Service

BUILTIN_CHAINS: dict[str, tuple[str, ...]] = {
    "mangle": ("PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"),
    "filter": ("INPUT", "FORWARD", "OUTPUT"),
    "nat": ("PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"),
}
TABLE_ORDER = ("mangle", "filter", "nat")

_NEW = "-m conntrack --ctstate NEW "


@dataclass(frozen=True, slots=True)
class Jump:
    """One rule kube-proxy ensures in a built-in chain (in iptablesJumpChains order)."""

    table: str
    chain: str  # the built-in chain
    target: str
    comment: str
    new_only: bool = False

    @property
    def text(self) -> str:
        comment = f'-m comment --comment "{self.comment}" ' if self.comment else ""
        return f"{_NEW if self.new_only else ''}{comment}-j {self.target}"


JUMPS: tuple[Jump, ...] = (
    Jump("filter", "INPUT", KUBE_EXTERNAL_SERVICES, "kubernetes externally-visible service portals", True),
    Jump("filter", "FORWARD", KUBE_EXTERNAL_SERVICES, "kubernetes externally-visible service portals", True),
    Jump("filter", "INPUT", KUBE_NODEPORTS, "kubernetes health check service ports"),
    Jump("filter", "FORWARD", KUBE_SERVICES, "kubernetes service portals", True),
    Jump("filter", "OUTPUT", KUBE_SERVICES, "kubernetes service portals", True),
    Jump("filter", "FORWARD", KUBE_FORWARD, "kubernetes forwarding rules"),
    Jump("filter", "INPUT", KUBE_PROXY_FIREWALL, "kubernetes load balancer firewall", True),
    Jump("filter", "OUTPUT", KUBE_PROXY_FIREWALL, "kubernetes load balancer firewall", True),
    Jump("filter", "FORWARD", KUBE_PROXY_FIREWALL, "kubernetes load balancer firewall", True),
    Jump("nat", "OUTPUT", KUBE_SERVICES, "kubernetes service portals"),
    Jump("nat", "PREROUTING", KUBE_SERVICES, "kubernetes service portals"),
    Jump("nat", "POSTROUTING", KUBE_POSTROUTING, "kubernetes postrouting rules"),
    # kube-proxy's copy of kubelet's firewall chain jumps (iptablesKubeletJumpChains)
    Jump("filter", "INPUT", KUBE_FIREWALL, ""),
    Jump("filter", "OUTPUT", KUBE_FIREWALL, ""),
)


def builtin_jumps() -> dict[tuple[str, str], list[str]]:
    """The rules in each (table, built-in chain) after every EnsureRule(Prepend) on an empty
    chain: each is inserted at position 1, so the last ensured ends up first."""
    out: dict[tuple[str, str], list[str]] = {}
    for jump in JUMPS:
        out.setdefault((jump.table, jump.chain), []).insert(0, jump.text)
    return out


def render_full(payload: Payload) -> str:
    """``payload`` plus built-in chains, kube-proxy's jumps and the canary chains."""
    jumps = builtin_jumps()
    out: list[str] = []
    for table in TABLE_ORDER:
        builtins = BUILTIN_CHAINS[table]
        out.append(f"*{table}")
        out.extend(f":{c} ACCEPT [0:0]" for c in builtins)
        if table == "mangle":
            out.append(f":{KUBE_PROXY_CANARY} - [0:0]")
            out.append("COMMIT")
            continue
        chains = payload.filter_chains if table == "filter" else payload.nat_chains
        extra = [KUBE_PROXY_CANARY]
        if table == "filter" and KUBE_FIREWALL not in chains:
            extra.append(KUBE_FIREWALL)  # EnsureChain'd for the kubelet jumps
        body = render_table(table, (*chains, *extra), payload.lines)
        declarations = [line for line in body if line.startswith(":")]
        rules = [line for line in body if line.startswith("-A ")]
        out.extend(declarations)
        for chain in builtins:
            out.extend(f"-A {chain} {text}" for text in jumps.get((table, chain), ()))
        out.extend(rules)
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
    return render_full(build_payload(services, endpoint_slices, config, cache=cache))
