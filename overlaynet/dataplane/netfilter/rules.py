"""Rules as values: Ruleset → Table → Chain → Rule(matches, target).

Tables exist with their built-in chains (as the kernel registers them); user chains are
added with ``ensure_chain``. Text is produced by ``render.py`` and read by ``parse.py``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from overlaynet.dataplane.netfilter.matches import Match
from overlaynet.dataplane.netfilter.targets import Target

# built-in chains per table, in the order iptables-save declares them
BUILTIN_CHAINS: dict[str, tuple[str, ...]] = {
    "raw": ("PREROUTING", "OUTPUT"),
    "mangle": ("PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"),
    "nat": ("PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"),
    "filter": ("INPUT", "FORWARD", "OUTPUT"),
}
TABLE_ORDER = ("raw", "mangle", "filter", "nat")  # iptables(-nft)-save's table order


@dataclass(frozen=True, slots=True)
class Rule:
    """One rule. ``target`` is None for a rule without ``-j`` (it only counts packets).

    Built-in matches (-s -d -i -o -p -f) are kept first, in iptables-save's order; extension
    matches keep their order. ``comment``/``source_line`` are not part of equality.
    """

    matches: tuple[Match, ...] = ()
    target: Target | None = None
    counters: tuple[int, int] | None = field(default=None, compare=False)
    source_line: int | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        last = -1
        for m in self.matches:  # one pass: already in normal form (the parser's output is)?
            order = m.order
            if order < last:
                break
            last = order
        else:
            return
        basic = sorted((m for m in self.matches if _is_basic(m)), key=lambda m: m.order)
        rest = [m for m in self.matches if not _is_basic(m)]
        object.__setattr__(self, "matches", tuple(basic) + tuple(rest))

    @property
    def comment(self) -> str | None:
        from overlaynet.dataplane.netfilter.matches import Comment

        texts = [m.text for m in self.matches if isinstance(m, Comment)]
        return " ".join(texts) if texts else None


def _is_basic(match: Match) -> bool:
    return match.order < 99


class ChainRole(enum.Enum):
    """What a chain is for, as the agent that wrote it knows it. The tracer turns hits in a
    chain into steps from this field (a policy verdict, a Service's dispatch, an endpoint's
    DNAT), never from the chain's name; chains read from a dump have ``UNKNOWN`` unless a
    reader classifies them."""

    UNKNOWN = "unknown"
    SERVICE_DISPATCH = "service-dispatch"  # the table of all Services (KUBE-SERVICES)
    SERVICE = "service"  # one Service port's choice of endpoint (KUBE-SVC-*, KUBE-SVL-*)
    SERVICE_EXTERNAL = "service-external"  # external traffic policy / LB / NodePort entry
    SERVICE_FIREWALL = "service-firewall"  # loadBalancerSourceRanges (KUBE-FW-*)
    ENDPOINT = "endpoint"  # one endpoint's DNAT (KUBE-SEP-*)
    NODEPORTS = "nodeports"  # the NodePort dispatch (KUBE-NODEPORTS)
    MASQUERADE = "masquerade"  # marking and source NAT (KUBE-MARK-MASQ, KUBE-POSTROUTING)
    POLICY = "policy"  # one network policy's rules (cali-pi-*, WEAVE-NPC-INGRESS, ...)
    POLICY_DISPATCH = "policy-dispatch"  # per-workload/per-direction entry to policies
    FILTER = "filter"  # other filtering an agent installs (KUBE-FORWARD, cali-FORWARD)
    NAT = "nat"  # other NAT an agent installs (flannel's ipMasq, WEAVE, cali-nat-outgoing)


@dataclass
class Chain:
    """A chain: its rules and, for built-ins, its policy. ``origin`` names the agent that
    wrote it (``"kube-proxy"``, ``"calico-felix"``, ``"flanneld"``; None when read from a
    dump or written by hand) and ``role`` says what it is for; neither is part of the
    iptables text, so both are kept off equality."""

    name: str
    policy: str | None = None  # ACCEPT/DROP for built-in chains, None for user chains
    rules: list[Rule] = field(default_factory=list)
    origin: str | None = field(default=None, compare=False)
    role: ChainRole = field(default=ChainRole.UNKNOWN, compare=False)
    packets: int = 0
    bytes: int = 0
    # cache of compile.py's dispatch tables; never part of equality
    compiled: object | None = field(default=None, compare=False, repr=False)

    @property
    def builtin(self) -> bool:
        return self.policy is not None


@dataclass
class Table:
    name: str
    chains: dict[str, Chain] = field(default_factory=dict)
    #: remembered walks of this table (``netfilter.memo``); never part of equality
    memo: dict[object, object] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def empty(cls, name: str) -> Table:
        if name not in BUILTIN_CHAINS:
            raise ValueError(f"unknown table {name!r}; known: {', '.join(BUILTIN_CHAINS)}")
        return cls(name, {c: Chain(c, "ACCEPT") for c in BUILTIN_CHAINS[name]})

    def ensure_chain(self, name: str, *, origin: str | None = None, role: ChainRole | None = None) -> Chain:
        """The chain, created on first use; ``origin``/``role`` are set when given."""
        chain = self.chains.get(name)
        if chain is None:
            chain = self.chains[name] = Chain(name)
        if origin is not None:
            chain.origin = origin
        if role is not None:
            chain.role = role
        return chain

    def user_chains(self) -> list[Chain]:
        return sorted((c for c in self.chains.values() if not c.builtin), key=lambda c: c.name)

    def ordered_chains(self) -> list[Chain]:
        """Built-in chains in the kernel's order, then user chains by name (as iptables-save)."""
        builtin = [self.chains[n] for n in BUILTIN_CHAINS[self.name] if n in self.chains]
        return builtin + self.user_chains()


@dataclass
class Ruleset:
    """Tables by name; ``Ruleset()`` is empty (no table: everything is accepted)."""

    tables: dict[str, Table] = field(default_factory=dict)

    def is_empty(self) -> bool:
        return not any(chain.rules or chain.policy not in (None, "ACCEPT")
                       for table in self.tables.values() for chain in table.chains.values())

    def table(self, name: str) -> Table:
        """The table, created with its built-in chains on first use."""
        table = self.tables.get(name)
        if table is None:
            table = self.tables[name] = Table.empty(name)
        return table

    def ensure_chain(
        self, table: str, chain: str, *, origin: str | None = None, role: ChainRole | None = None
    ) -> Chain:
        return self.table(table).ensure_chain(chain, origin=origin, role=role)

    def append(self, table: str, chain: str, rule: Rule) -> Rule:
        target = self.ensure_chain(table, chain)
        target.rules.append(rule)
        target.compiled = None
        return rule

    def insert(self, table: str, chain: str, rule: Rule, position: int = 1) -> Rule:
        """Insert at a 1-based position, as ``iptables -I CHAIN n``."""
        target = self.ensure_chain(table, chain)
        target.rules.insert(position - 1, rule)
        target.compiled = None
        return rule

    def ordered_tables(self) -> list[Table]:
        return [self.tables[n] for n in TABLE_ORDER if n in self.tables]
