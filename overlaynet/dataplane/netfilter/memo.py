"""Remembered walks: the outcome of walking one table for one packet, kept on the table and
given again when the same packet comes back in the same context (a warm trace walks the same
kube-proxy chains for the same packets again and again).

Only a *pure* walk is remembered: every rule it visited has matches that read nothing but the
packet, the hook context (devices, bridge ports, local addresses) and the connection's
conntrack state, and a target that changes nothing but the verdict, the packet's mark or the
REJECT reply. Such a walk is a function of its key (``walk_key``), so giving its recorded
hits, packet and verdict again is exactly what walking again would do. A walk that met a
statistic, recent, connmark or set match, or a NAT, CONNMARK or NOTRACK target, reads or
writes state and is walked every time.

A remembered walk is given again only while the chains it went through are the ones it saw:
the same chain objects in the table, the same rule lists of the same length, the same rule at
every position it visited, the same policy, role and origin (``Walked.valid``). So a rule
added, removed or replaced, a chain replaced or a policy changed is seen at once (as the
dispatch tables of ``compile.py``, a rule list replaced in place in a part the walk skipped by
a dispatch table needs ``chain.compiled = None``).
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

from overlaynet.dataplane.netfilter import matches as m
from overlaynet.dataplane.netfilter import matches_ct as ct
from overlaynet.dataplane.netfilter import targets as t
from overlaynet.dataplane.netfilter.context import RuleHit
from overlaynet.dataplane.netfilter.rules import Chain, ChainRole, Rule, Table
from overlaynet.dataplane.packet import Packet

__all__ = ["MEMO_MAX", "Walked", "chain_seen", "forget_all", "pure_rule", "remember"]

#: Remembered walks in all tables together (about 1 KB each); when full, every table's are
#: forgotten (a sweep tracing every pair of a big cluster must not grow without bound).
MEMO_MAX = 1 << 16
_LIVE = [0]  # remembered walks since the memos were last emptied
_TABLES: weakref.WeakValueDictionary[int, Table] = weakref.WeakValueDictionary()  # tables holding some

# matches whose test reads only the packet, the hook context and the conntrack state
_PURE_MATCHES: frozenset[type] = frozenset({
    m.Source, m.Destination, m.InIface, m.OutIface, m.Protocol_, m.Fragment, m.Ports, m.Icmp, m.Icmp6,
    m.Multiport, m.AddrType, m.Comment, m.Nfacct, m.Mark, m.Physdev, m.Limit, ct.State,
})
# targets that change nothing but the verdict, the packet's mark or the REJECT reply
_PURE_TARGETS: frozenset[type] = frozenset({
    t.Verdict_, t.Jump, t.Goto, t.Reject, t.MarkTarget, t.Log, t.Nflog, t.Checksum,
})
_PURE: dict[int, tuple[Rule, bool]] = {}  # by id of the (frozen) rule, holding it
_PURE_MAX = 1 << 16


def _pure_match(match: m.Match) -> bool:
    kind = type(match)
    if kind is ct.Conntrack:  # --ctstate reads the state; the tuple options read the entry
        assert isinstance(match, ct.Conntrack)
        return match.ctorigsrc is None and match.ctorigdst is None and match.ctreplsrc is None and match.ctrepldst is None
    return kind in _PURE_MATCHES


def pure_rule(rule: Rule) -> bool:
    """Does testing and applying ``rule`` read and write nothing but what a walk's key holds?"""
    entry = _PURE.get(id(rule))
    if entry is not None and entry[0] is rule:
        return entry[1]
    ok = (rule.target is None or type(rule.target) in _PURE_TARGETS) and all(_pure_match(x) for x in rule.matches)
    if len(_PURE) >= _PURE_MAX:
        _PURE.clear()
    _PURE[id(rule)] = (rule, ok)
    return ok


#: (chain name, chain, its rule list, length, policy, role, origin) of a chain a walk entered
ChainSeen = tuple[str, Chain, list[Rule], int, str | None, ChainRole, str | None]


@dataclass(frozen=True, slots=True)
class Walked:
    """One remembered walk: what it gave and what it went through."""

    verdict: str | None
    hits: tuple[RuleHit, ...]
    packet: Packet
    reject_with: str | None
    chains: tuple[ChainSeen, ...]
    rules: tuple[tuple[list[Rule], int, Rule], ...]  # (rule list, position, rule) of every rule visited

    def valid(self, table: Table) -> bool:
        chains = table.chains
        for name, chain, rules, length, policy, role, origin in self.chains:
            if (chains.get(name) is not chain or chain.rules is not rules or len(rules) != length
                    or chain.policy != policy or chain.role is not role or chain.origin != origin):
                return False
        return all(rules[i] is rule for rules, i, rule in self.rules)


def chain_seen(name: str, chain: Chain, rules: list[Rule]) -> ChainSeen:
    """What a walk saw of the chain it found under ``name`` in its table."""
    return (name, chain, rules, len(rules), chain.policy, chain.role, chain.origin)


def remember(table: Table, key: object, walked: Walked) -> None:
    """Keep ``walked`` on ``table`` under ``key``. A walk that visited no rule (an empty
    built-in chain) is not kept: walking it again costs nothing."""
    if not walked.rules:
        return
    if _LIVE[0] >= MEMO_MAX:
        forget_all()
    memo = table.memo
    if not memo:
        _TABLES[id(table)] = table
    if key not in memo:
        _LIVE[0] += 1
    memo[key] = walked


def forget_all() -> None:
    """Empty every table's remembered walks."""
    for table in list(_TABLES.values()):
        table.memo.clear()
    _TABLES.clear()
    _LIVE[0] = 0
