"""What one hook evaluation takes and gives: HookContext in; HookOutcome(s) with the rules
hit (RuleHit) and the address translations made (NatRecord) out."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import TYPE_CHECKING, Literal

from overlaynet.dataplane.netfilter.rules import ChainRole
from overlaynet.dataplane.packet import Packet
from overlaynet.model.base import IPAddress

if TYPE_CHECKING:
    from overlaynet.dataplane.netfilter.state import IpSet, NetfilterState

Hook = Literal["PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"]
Verdict = Literal["ACCEPT", "DROP", "REJECT"]


@dataclass(frozen=True, slots=True)
class RuleHit:
    table: str
    chain: str
    number: int  # 1-based position in the chain
    text: str  # the rule as iptables-save prints it
    verdict: str | None = None  # what the rule did, if it was a terminal or a jump
    comment: str | None = None
    #: what the rule's chain is for and who wrote it (``Chain.role``/``Chain.origin``)
    role: ChainRole = ChainRole.UNKNOWN
    origin: str | None = None

    def __str__(self) -> str:
        return f"{self.table} {self.chain} {self.number} {self.text}"


@dataclass(frozen=True, slots=True)
class NatRecord:
    kind: Literal["DNAT", "SNAT", "MASQUERADE", "REDIRECT", "conntrack"]
    before: tuple[IPAddress, int | None]
    after: tuple[IPAddress, int | None]
    #: which address it rewrote: "dst" (DNAT, REDIRECT, a reply's un-SNAT) or "src" (SNAT,
    #: MASQUERADE, a reply's un-DNAT)
    side: Literal["src", "dst"]
    chain: str = ""


@dataclass(frozen=True, slots=True)
class HookOutcome:
    """One possible result of a hook. ``state`` is the NetfilterState this branch leaves
    behind: ``ctx.state`` itself when there is one outcome, a private copy per branch when
    all-branches evaluation forked (``ctx.state`` is then left untouched)."""

    verdict: Verdict
    packet: Packet
    probability: Fraction = Fraction(1)
    hits: tuple[RuleHit, ...] = ()
    nat: tuple[NatRecord, ...] = ()
    state: NetfilterState | None = None
    reject_with: str | None = None


@dataclass
class HookContext:
    hook: Hook
    in_iface: str | None
    out_iface: str | None
    local_addresses: frozenset[IPAddress]
    iface_address: Callable[[str, int], IPAddress | None]  # (ifname, ip version) for MASQUERADE
    state: NetfilterState
    all_branches: bool = False
    namespace: str = ""  # conntrack and recent lists are kept per namespace under this key
    ipsets: Mapping[str, IpSet] = field(default_factory=dict)  # overrides state.ipsets by name
    physdev_in: str | None = None  # bridge port of a bridged packet (physdev match)
    physdev_out: str | None = None
    looped: bool = False  # a locally sent packet coming back in through lo (keeps its conntrack)
