"""Explicit netfilter state a stateful trace carries between packets: conntrack entries,
``recent`` lists, ipsets, the nth counters, a seeded RNG and a clock. Per-namespace data
is keyed by the namespace name the hook context gives."""

from __future__ import annotations

import copy
import random
from collections.abc import Callable
from dataclasses import dataclass, field, fields

from overlaynet.dataplane.packet import Packet
from overlaynet.model.base import IPAddress, IPNetwork

Tuple5 = tuple[str, IPAddress, int | None, IPAddress, int | None]


@dataclass
class ConnEntry:
    """One conntrack entry: the original tuple and the reply tuple (after NAT)."""

    orig: Tuple5
    reply: Tuple5
    dnat: bool = False
    snat: bool = False
    dst_done: bool = False  # the destination NAT binding is decided (nat was consulted)
    src_done: bool = False
    confirmed: bool = False
    seen_reply: bool = False
    ctmark: int = 0


@dataclass
class ConnInfo:
    """What matches see of the packet's connection (conntrack / state / connmark)."""

    state: str  # NEW | ESTABLISHED | RELATED | INVALID | UNTRACKED
    entry: ConnEntry | None = None

    def states(self) -> frozenset[str]:
        result = {self.state}
        if self.entry is not None:
            if self.entry.dnat:
                result.add("DNAT")
            if self.entry.snat:
                result.add("SNAT")
        return frozenset(result)

    @property
    def ctmark(self) -> int:
        return self.entry.ctmark if self.entry else 0

    @property
    def orig_src(self) -> IPAddress | None:
        return self.entry.orig[1] if self.entry else None

    @property
    def orig_dst(self) -> IPAddress | None:
        return self.entry.orig[3] if self.entry else None

    @property
    def repl_src(self) -> IPAddress | None:
        return self.entry.reply[1] if self.entry else None

    @property
    def repl_dst(self) -> IPAddress | None:
        return self.entry.reply[3] if self.entry else None


@dataclass(frozen=True)
class IpSet:
    """An ipset: ``type`` as ipset names it (hash:ip, hash:net, hash:ip,port, hash:net,port,
    hash:ip,port,ip, hash:ip,port,net, bitmap:port …) and its members, one tuple per entry
    whose elements are IP networks (ip/net dimensions) or (proto, port) pairs."""

    name: str
    type: str
    members: frozenset[tuple[IPNetwork | tuple[str, int], ...]] = frozenset()

    def contains(self, packet: Packet, flags: tuple[str, ...]) -> bool:
        dims = self.type.split(":", 1)[-1].split(",")
        values: list[object] = []
        for i, dim in enumerate(dims):
            side = flags[i] if i < len(flags) else flags[-1]
            if dim in ("ip", "net"):
                values.append(packet.src if side == "src" else packet.dst)
            elif dim == "port":
                values.append((packet.proto, packet.sport if side == "src" else packet.dport))
            else:
                return False
        for member in self.members:
            if len(member) == len(values) and all(_element_has(e, v) for e, v in zip(member, values, strict=True)):
                return True
        return False


def _element_has(element: object, value: object) -> bool:
    if isinstance(element, tuple):
        return element == value
    try:
        return value in element  # type: ignore[operator]
    except TypeError:
        return False


#: ``random.Random(seed).getstate()`` by seed (see ``NetfilterState.rng``)
_SEEDED: dict[object, tuple[object, ...]] = {}


@dataclass
class NetfilterState:
    """Mutable state a stateful trace carries between packets.

    ``conntrack`` maps (namespace, tuple) → (entry, direction) for every tuple a packet of the
    connection takes on its way (before/after each translation). ``recent`` holds the lists
    of ``-m recent`` per (namespace, name); timestamps come from ``now()``: ``clock`` if set,
    else the logical ``time`` a caller advances (``advance``). ``seed`` seeds ``rng`` for the
    sampled ``statistic`` choice, so the same seed gives the same choices.
    """

    conntrack: dict[tuple[str, Tuple5], tuple[ConnEntry, str]] = field(default_factory=dict)
    seed: int = 0
    recent: dict[tuple[str, str], dict[IPAddress, list[float]]] = field(default_factory=dict)
    ipsets: dict[str, IpSet] = field(default_factory=dict)
    nth_counters: dict[tuple[object, ...], int] = field(default_factory=dict)
    untracked: set[tuple[str, Tuple5]] = field(default_factory=set)
    time: float = 0.0
    clock: Callable[[], float] | None = None
    #: ``rng``, seeded on first use (seeding costs more than most traces' netfilter work)
    _rng: random.Random | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def rng(self) -> random.Random:
        if self._rng is None:
            # seeding is dear (a hash of the seed): start from a copy of the seeded state
            seeded = _SEEDED.get(self.seed)
            if seeded is None:
                if len(_SEEDED) >= 1024:
                    _SEEDED.clear()
                seeded = _SEEDED[self.seed] = random.Random(self.seed).getstate()
            rng = random.Random.__new__(random.Random)
            rng.setstate(seeded)
            self._rng = rng
        return self._rng

    @rng.setter
    def rng(self, value: random.Random) -> None:
        self._rng = value

    def now(self) -> float:
        return self.clock() if self.clock is not None else self.time

    def advance(self, seconds: float) -> None:
        self.time += seconds

    def recent_list(self, namespace: str, name: str) -> dict[IPAddress, list[float]]:
        return self.recent.setdefault((namespace, name), {})

    def lookup(self, namespace: str, tup: Tuple5) -> tuple[ConnEntry, str] | None:
        return self.conntrack.get((namespace, tup))

    def register(self, namespace: str, tup: Tuple5, entry: ConnEntry, direction: str) -> None:
        self.conntrack[(namespace, tup)] = (entry, direction)

    def forget(self, namespace: str, entry: ConnEntry) -> None:
        for key in [k for k, (e, _) in self.conntrack.items() if k[0] == namespace and e is entry]:
            del self.conntrack[key]

    def copy(self) -> NetfilterState:
        """An independent copy: what a hook run or a forked branch may change without
        touching this state. Conntrack entries shared between index keys stay shared (one
        copy each); immutable values (addresses, tuples, frozen ipsets) are shared, not
        copied — the evaluator copies the state at every hook, so this is on the hot path."""
        memo: dict[int, ConnEntry] = {}

        def entry(e: ConnEntry) -> ConnEntry:
            dup = memo.get(id(e))
            if dup is None:
                dup = memo[id(e)] = copy.copy(e)
            return dup

        out = NetfilterState.__new__(NetfilterState)
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "conntrack":
                value = {k: (entry(e), d) for k, (e, d) in value.items()}
            elif f.name == "recent":
                value = {k: {ip: list(ts) for ip, ts in v.items()} for k, v in value.items()}
            elif f.name in ("ipsets", "nth_counters"):
                value = dict(value)
            elif f.name == "untracked":
                value = set(value)
            elif f.name == "_rng" and value is not None:
                rng = random.Random()
                rng.setstate(value.getstate())
                value = rng
            elif f.name not in ("seed", "time", "clock", "_rng"):
                value = copy.deepcopy(value)  # a field this method does not know yet
            setattr(out, f.name, value)
        return out
