"""Compiled fast path: dictionary dispatch for runs of ``-d IP/32 -p P --dport N -j X`` rules
(kube-proxy's KUBE-SERVICES), as nftables' verdict maps do.

The rule-by-rule walk stays the reference: a run is replaced by a lookup of the packet's
(destination, protocol, port) giving the positions of the rules that match, in order. A
rule enters a table only when its key is the whole of its matches (``dispatch_key``), so
the rules the lookup gives are exactly those the walk would find matching: the walker takes
the first one's target without testing its matches again, and both give the same outcomes
(tests/dataplane/netfilter/test_compile.py holds them equal).
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, field

from overlaynet.dataplane.netfilter.matches import (
    PROTO_NUMBERS,
    Comment,
    Destination,
    Match,
    Ports,
    Protocol_,
)
from overlaynet.dataplane.netfilter.rules import Chain, Rule
from overlaynet.dataplane.packet import Packet
from overlaynet.model.base import IPAddress

MIN_RUN = 8  # shorter runs are walked
Key = tuple[IPAddress, int, int]
_PROTO = {6: "tcp", 17: "udp", 132: "sctp"}


@dataclass
class DispatchRun:
    start: int
    end: int  # exclusive
    table: dict[Key, list[int]] = field(default_factory=dict)

    def next_candidate(self, packet: Packet, position: int) -> int | None:
        """The first rule index >= position in this run that can match the packet."""
        if packet.dport is None:
            return None
        candidates = self.table.get((packet.dst, PROTO_NUMBERS.get(packet.proto, -1), packet.dport))
        if not candidates:
            return None
        if candidates[0] >= position:  # the usual case: the run is entered at its start
            return candidates[0]
        k = bisect_left(candidates, position)
        return candidates[k] if k < len(candidates) else None


@dataclass
class CompiledChain:
    rules: list[Rule]  # the very list compiled (held, so its identity cannot be reused)
    signature: tuple[int, int, int]
    run_of: list[DispatchRun | None]
    rules_at_compile: tuple[Rule, ...] = ()  # the rules the tables were built from
    runs: int = 0  # how many dispatch runs (0: the chain is walked rule by rule)


def dispatch_key(rule: Rule) -> Key | None:
    """The (destination, protocol, port) a rule stands for, if it is a pure dispatch rule."""
    dst: Destination | None = None
    proto: Protocol_ | None = None
    ports: Ports | None = None
    for match in rule.matches:
        if isinstance(match, Comment):
            continue
        if isinstance(match, Destination) and dst is None and not match.negated and match.net.prefixlen == match.net.max_prefixlen:
            dst = match
        elif isinstance(match, Protocol_) and proto is None and not match.negated and match.number in _PROTO:
            proto = match
        elif (isinstance(match, Ports) and ports is None and match.sport is None and match.flags is None
              and match.dport is not None and not match.dport_negated and match.dport.lo == match.dport.hi):
            ports = match
        else:
            return None
    if dst is None or proto is None or ports is None or ports.proto != _PROTO[proto.number] or ports.dport is None:
        return None
    return (dst.net.network_address, proto.number, ports.dport.lo)


def _signature(chain: Chain) -> tuple[int, int, int]:
    rules = chain.rules
    return (len(rules), id(rules[0]) if rules else 0, id(rules[-1]) if rules else 0)


def compile_chain(chain: Chain) -> CompiledChain:
    run_of: list[DispatchRun | None] = [None] * len(chain.rules)
    keys = [dispatch_key(rule) for rule in chain.rules]
    i = runs = 0
    while i < len(keys):
        if keys[i] is None:
            i += 1
            continue
        j = i
        while j < len(keys) and keys[j] is not None:
            j += 1
        if j - i >= MIN_RUN:
            runs += 1
            run = DispatchRun(i, j)
            for index in range(i, j):
                key = keys[index]
                assert key is not None
                run.table.setdefault(key, []).append(index)
                run_of[index] = run
        i = j
    return CompiledChain(chain.rules, _signature(chain), run_of, tuple(chain.rules), runs)


def compiled(chain: Chain) -> CompiledChain:
    """The chain's dispatch tables, rebuilt when its rule list changed: a new list, or a
    different length or first/last rule. (Replacing a rule in the middle of the same list
    in place is not seen: set ``chain.compiled = None`` after doing that.)"""
    cached = chain.compiled
    if isinstance(cached, CompiledChain) and cached.rules is chain.rules and cached.signature == _signature(chain):
        return cached
    result = compile_chain(chain)
    chain.compiled = result
    return result


def dispatchable(matches: tuple[Match, ...]) -> bool:
    return dispatch_key(Rule(matches)) is not None
