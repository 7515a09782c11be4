"""Weave IPAM: the ring of address ranges owned by peers, split by the consensus the peers run
on their first allocation, with local allocation, donation and ``rmpeer``.

Sources (weaveworks/weave 8c847638): ``ipam/ring/ring.go`` (``ClaimForPeers`` subdivides the
range in halves over the sorted peer list; ``Transfer`` for rmpeer; ``ChoosePeersToAskForSpace``
weights peers by free space times a random number), ``ipam/allocator.go`` (``normalizeConsensus``
sorts the peer names), ``ipam/space/space.go`` (``Allocate`` takes the lowest free address,
``Donate`` gives the biggest free range, no more than half of what is free), and
``net/address`` (``HostRange`` leaves out the range's first and last address). Deterministic:
the random weighting uses a seeded generator.
"""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from overlaynet.errors import AddressExhausted

__all__ = ["Allocation", "Ring", "RingIPAM"]

IPv4Address = ipaddress.IPv4Address
IPv4Network = ipaddress.IPv4Network


@dataclass
class Ring:
    """Ownership of ``[start, end)``: sorted tokens, each owning up to the next token (or the
    end). A value that the IPAM mutates as the ring's gossip would."""

    start: int
    end: int
    tokens: list[tuple[int, str]] = field(default_factory=list)
    _ranges: list[tuple[int, int, str]] | None = field(default=None, repr=False, compare=False)
    _by_owner: tuple[list[tuple[int, int, str]], dict[str, list[tuple[int, int]]]] | None = field(
        default=None, repr=False, compare=False)

    @classmethod
    def claim_for_peers(cls, network: IPv4Network, peers: Sequence[str]) -> Ring:
        """The ring after consensus among ``peers`` (sorted and de-duplicated, as
        ``normalizeConsensus``), split as ``subdivide``: halves, recursively."""
        ring = cls(int(network.network_address), int(network.network_address) + network.num_addresses)
        names = sorted(set(peers))
        if names:
            ring._subdivide(ring.start, ring.end, names)
        return ring

    def _subdivide(self, lo: int, hi: int, peers: list[str]) -> None:
        share = hi - lo
        if share == 0:
            return
        if share == 1 or len(peers) == 1:
            self.tokens.append((lo, peers[0]))
            return
        mid = lo + share // 2
        self._subdivide(lo, mid, peers[: len(peers) // 2])
        self._subdivide(mid + share % 2, hi, peers[len(peers) // 2:])

    def ranges(self) -> list[tuple[int, int, str]]:
        """(start, end, owner) for every token, merged where neighbours share an owner
        (kept until the tokens change: ``grant`` and ``transfer`` replace them)."""
        if self._ranges is not None:
            return self._ranges
        out: list[tuple[int, int, str]] = []
        toks = sorted(self.tokens)
        for i, (tok, owner) in enumerate(toks):
            end = toks[i + 1][0] if i + 1 < len(toks) else self.end
            if out and out[-1][2] == owner and out[-1][1] == tok:
                out[-1] = (out[-1][0], end, owner)
            else:
                out.append((tok, end, owner))
        self._ranges = out
        return out

    def owned(self, peer: str) -> list[tuple[int, int]]:
        ranges = self.ranges()
        if self._by_owner is None or self._by_owner[0] is not ranges:
            index: dict[str, list[tuple[int, int]]] = {}
            for s, e, o in ranges:
                index.setdefault(o, []).append((s, e))
            self._by_owner = (ranges, index)
        return list(self._by_owner[1].get(peer, ()))

    def owner(self, addr: int) -> str | None:
        for s, e, o in self.ranges():
            if s <= addr < e:
                return o
        return None

    def grant(self, lo: int, hi: int, peer: str) -> None:
        """Give ``[lo, hi)`` to ``peer`` (``GrantRangeToHost``): tokens at both ends."""
        after = self.owner(hi) if hi < self.end else None
        kept = [(t, o) for t, o in self.tokens if not lo <= t < hi]
        kept.append((lo, peer))
        if hi < self.end and after is not None and all(t != hi for t, _ in kept):
            kept.append((hi, after))
        self.tokens = sorted(kept)
        self._ranges = None

    def transfer(self, gone: str, to: str) -> list[tuple[int, int]]:
        """``rmpeer``: every range of ``gone`` becomes ``to``'s; returns what moved."""
        moved = self.owned(gone)
        self.tokens = [(t, to if o == gone else o) for t, o in self.tokens]
        self._ranges = None
        return moved


@dataclass(frozen=True, slots=True)
class Allocation:
    ip: IPv4Address
    peer: str
    owner_id: str  # the pod key or "weave:expose"


class RingIPAM:
    """Allocation on the ring: each peer allocates the lowest free host address of its own
    ranges; a peer with none asks the others for a donation."""

    def __init__(self, network: IPv4Network, consensus: Iterable[str], *, seed: int = 0) -> None:
        self.network = network
        self.ring = Ring.claim_for_peers(network, list(consensus))
        self.first = int(network.network_address) + 1  # HostRange: not the first address
        self.last = int(network.broadcast_address) - 1  # nor the last
        self.used: dict[int, Allocation] = {}
        self.rng = random.Random(seed)
        self.donations: list[tuple[str, str, int, int]] = []  # (donor, taker, start, end)

    # --- queries ------------------------------------------------------------------------
    def free_in(self, lo: int, hi: int) -> int:
        lo, hi = max(lo, self.first), min(hi, self.last + 1)
        return max(0, hi - lo - sum(1 for a in self.used if lo <= a < hi))

    def free_of(self, peer: str) -> int:
        return sum(self.free_in(s, e) for s, e in self.ring.owned(peer))

    def ranges_of(self, peer: str) -> list[IPv4Network]:
        """``peer``'s ranges as CIDRs (what ``weave status ipam`` lists per peer)."""
        out: list[IPv4Network] = []
        for s, e in self.ring.owned(peer):
            out.extend(ipaddress.summarize_address_range(IPv4Address(s), IPv4Address(e - 1)))
        return out

    # --- allocation ---------------------------------------------------------------------
    def claim(self, ip: IPv4Address, owner_id: str) -> None:
        """A given address (the file set it): marked used wherever it lies."""
        addr = int(ip)
        peer = self.ring.owner(addr) or "?"
        self.used[addr] = Allocation(ip, peer, owner_id)

    def allocate(self, peer: str, owner_id: str, reachable: Iterable[str]) -> Allocation:
        """The lowest free address of ``peer``'s ranges; when it has none, a donation from a
        peer in ``reachable`` (weighted by free space, as ChoosePeersToAskForSpace)."""
        got = self._lowest(peer)
        if got is None:
            self._ask_for_space(peer, [p for p in reachable if p != peer])
            got = self._lowest(peer)
        if got is None:
            owned = ", ".join(str(r) for r in self.ranges_of(peer)) or "none"
            raise AddressExhausted(
                f"weave IPAM: peer {peer} has no free address for {owner_id} (its ranges: {owned}) and no "
                f"reachable peer could donate space from {self.network}")
        alloc = Allocation(IPv4Address(got), peer, owner_id)
        self.used[got] = alloc
        return alloc

    def _lowest(self, peer: str) -> int | None:
        for s, e in self.ring.owned(peer):
            for addr in range(max(s, self.first), min(e, self.last + 1)):
                if addr not in self.used:
                    return addr
        return None

    def _ask_for_space(self, taker: str, candidates: list[str]) -> None:
        weighted = [(self.free_of(p) * self.rng.random(), p) for p in sorted(candidates) if self.free_of(p) > 0]
        for _, donor in sorted(weighted, key=lambda wp: (-wp[0], wp[1])):
            span = self._donation(donor)
            if span is not None:
                self.ring.grant(span[0], span[1], taker)
                self.donations.append((donor, taker, span[0], span[1]))
                return

    def _donation(self, donor: str) -> tuple[int, int] | None:
        """``Donate``: the biggest free run of ``donor``'s space, its upper half when it is
        more than half of what ``donor`` has free."""
        best: tuple[int, int] | None = None
        for s, e in self.ring.owned(donor):
            lo, hi = max(s, self.first), min(e, self.last + 1)
            cur = lo
            for used in [*sorted(a for a in self.used if lo <= a < hi), hi]:
                if used > cur and (best is None or used - cur > best[1] - best[0]):
                    best = (cur, used)
                cur = max(cur, used + 1)
        if best is None:
            return None
        size = best[1] - best[0]
        if size > self.free_of(donor) // 2 and size > 1:
            best = (best[0] + size // 2, best[1])
        return best

    def rmpeer(self, gone: str, by: str) -> list[IPv4Network]:
        """``weave rmpeer gone`` run on ``by``: ``gone``'s ranges become ``by``'s."""
        moved = self.ring.transfer(gone, by)
        out: list[IPv4Network] = []
        for s, e in moved:
            out.extend(ipaddress.summarize_address_range(IPv4Address(s), IPv4Address(e - 1)))
        return out
