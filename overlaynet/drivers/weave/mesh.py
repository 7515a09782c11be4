"""Weave's mesh: one peer per node, the connections they establish, the datapath each
connection uses (fastdp or sleeve) and the unicast routes every peer computes.

Sources (weaveworks/weave 8c847638): peer names are MAC-formatted 48-bit numbers and short
IDs 12 bits, deconflicted by gossip (``vendor/github.com/weaveworks/mesh/peer_name_mac.go``,
``peers.go``); routes are a breadth-first search over established connections whose worklist
is sorted by peer name, the first peer at a distance to reach a name fixing its next hop
(``mesh/peer.go`` ``routes``); a connection prefers fastdp and falls back to sleeve when its
heartbeats fail (``router/fastdp.go``, ``docs/fastdp.md``). Pure functions of the model.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from overlaynet.model import Cluster, Node

from .options import WeaveOptions

__all__ = [
    "CONTROL_PORT",
    "FASTDP_OVERHEAD",
    "FASTDP_PORT",
    "SLEEVE_FRAMING",
    "SLEEVE_NACL",
    "Connection",
    "Mesh",
    "Peer",
    "Routes",
    "build_mesh",
    "unicast_routes",
]

IPv4Address = ipaddress.IPv4Address
CONTROL_PORT = 6783  # TCP control and UDP sleeve (mesh router.go Port)
FASTDP_PORT = 6784  # fastdp VXLAN: the control port + 1 (router/fastdp.go)
FASTDP_OVERHEAD = 50  # outer IPv4 20 + UDP 8 + VXLAN 8 + inner Ethernet 14
#: Sleeve framing inside the UDP payload for one frame: sender peer name 6, then capturing
#: peer name 6 + destination peer name 6 + frame length 2 + the Ethernet header 14
#: (site/concepts/router-encapsulation.md; router/sleeve.go).
SLEEVE_FRAMING = 6 + 6 + 6 + 2 + 14
#: NaCl secretbox on sleeve: 8 bytes of sequence number and flags in clear + a 16-byte tag
#: (site/concepts/encryption-implementation.md; router/frame_crypto.go).
SLEEVE_NACL = 8 + 16
#: The worst ESP transport-mode cost encrypted fastdp must fit (AES-GCM, ICV 16: 34-37).
ESP_MAX = 37

Datapath = Literal["fastdp", "sleeve"]


@dataclass(frozen=True, slots=True)
class Peer:
    """A Weave router: its name (MAC-formatted), nickname (the node name, as weave-kube passes
    ``--nickname``), 12-bit short ID and underlay address."""

    name: str
    nickname: str
    short_id: int
    ip: IPv4Address

    def __str__(self) -> str:
        return f"{self.name}({self.nickname})"


@dataclass(frozen=True, slots=True)
class Connection:
    """A connection between two peers as ``weave status connections`` shows it: established
    or failed with the reason, its datapath and why, and whether it is encrypted."""

    a: str  # nicknames, sorted
    b: str
    state: Literal["established", "failed"]
    reason: str
    datapath: Datapath | None = None
    why_datapath: str = ""
    encrypted: bool = False
    path_mtu: int = 0

    @property
    def established(self) -> bool:
        return self.state == "established"

    def other(self, me: str) -> str:
        return self.b if me == self.a else self.a


@dataclass(frozen=True, slots=True)
class Mesh:
    """Every peer (by nickname), every connection (by sorted nickname pair) and each peer's
    unicast routes (destination → next hop; absent: unreachable)."""

    peers: Mapping[str, Peer]
    connections: Mapping[tuple[str, str], Connection]
    routes: Routes

    def connection(self, a: str, b: str) -> Connection | None:
        return self.connections.get((min(a, b), max(a, b)))

    def path(self, src: str, dst: str) -> list[str] | None:
        """The peers a frame from ``src`` to ``dst`` visits, both ends included."""
        hops = [src]
        while hops[-1] != dst:
            nxt = self.routes.get(hops[-1], {}).get(dst)
            if nxt is None or nxt in hops:
                return None
            hops.append(nxt)
        return hops


def peer_name(node: str) -> str:
    """A peer name derived from the node (weave derives it from the machine ID or the bridge
    MAC): a locally administered unicast MAC."""
    raw = bytearray(hashlib.sha256(f"weave-peer:{node}".encode()).digest()[:6])
    raw[0] = (raw[0] & 0xFC) | 0x02
    return ":".join(f"{b:02x}" for b in raw)


def _short_ids(names: Sequence[str]) -> dict[str, int]:
    """12-bit short IDs: a hash of the name, a clash resolved in name order by taking the next
    free ID (Weave picks at random and re-picks on a clash; the result is equally unique)."""
    taken: set[int] = set()
    out: dict[str, int] = {}
    for name in sorted(names):
        sid = int.from_bytes(hashlib.sha256(f"shortid:{name}".encode()).digest()[:2], "big") & 0xFFF
        while sid in taken:
            sid = (sid + 1) & 0xFFF
        taken.add(sid)
        out[name] = sid
    return out


def _segment_path(cluster: Cluster, a: str, b: str) -> list[str] | None:
    """The segments an underlay packet from segment ``a`` to ``b`` crosses (fewest routers)."""
    if a == b:
        return [a]
    links: dict[str, set[str]] = {}
    for router in cluster.underlay.routers:
        segs = list(router.interfaces)
        for s in segs:
            links.setdefault(s, set()).update(x for x in segs if x != s)
    prev: dict[str, str | None] = {a: None}
    todo = deque([a])
    while todo:
        cur = todo.popleft()
        for nxt in sorted(links.get(cur, ())):
            if nxt not in prev:
                prev[nxt] = cur
                if nxt == b:
                    path = [b]
                    while (p := prev[path[-1]]) is not None:
                        path.append(p)
                    return path[::-1]
                todo.append(nxt)
    return None


def _mtu(cluster: Cluster, segment: str) -> int:
    for seg in cluster.underlay.segments:
        if seg.name == segment:
            return seg.mtu
    return cluster.underlay.mtu


def unicast_routes(me: str, names: Mapping[str, str], links: Iterable[tuple[str, str]]) -> dict[str, str]:
    """``me``'s next hop to every peer it can reach, as mesh's ``routes``: breadth-first over
    ``links`` (established, symmetric connections), each level's worklist sorted by peer name
    (``names``: nickname → peer name), a peer's next hop fixed by the first that reaches it.

    >>> names = {"a": "01", "b": "02", "c": "03", "d": "04"}
    >>> unicast_routes("a", names, [("a", "b"), ("a", "c"), ("b", "d"), ("c", "d")])
    {'b': 'b', 'c': 'c', 'd': 'b'}
    """
    return _bfs(me, names, _adjacency(names, links))


def _adjacency(names: Mapping[str, str], links: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    """Each peer's connected peers, sorted by peer name (the order mesh visits them in)."""
    adj: dict[str, set[str]] = {}
    for x, y in links:
        adj.setdefault(x, set()).add(y)
        adj.setdefault(y, set()).add(x)
    return {p: sorted(ns, key=lambda n: names[n]) for p, ns in adj.items()}


def _bfs(me: str, names: Mapping[str, str], adj: Mapping[str, Sequence[str]]) -> dict[str, str]:
    routes: dict[str, str | None] = {me: None}
    worklist = [me]
    while worklist:
        nxt: list[str] = []
        for cur in sorted(worklist, key=lambda n: names[n]):
            hop = routes[cur]
            for remote in adj.get(cur, ()):
                if remote in routes:
                    continue
                routes[remote] = remote if hop is None else hop
                nxt.append(remote)
        worklist = nxt
    return {dst: h for dst, h in routes.items() if h is not None}


class Routes(Mapping[str, Mapping[str, str]]):
    """Every peer's unicast routes, each computed the first time it is asked for (a trace
    needs those of the peers on its path, not all of them)."""

    def __init__(self, names: Mapping[str, str], links: Iterable[tuple[str, str]]) -> None:
        self._names = names
        self._adj = _adjacency(names, links)
        self._cache: dict[str, dict[str, str]] = {}

    def __getitem__(self, me: str) -> dict[str, str]:
        if me not in self._names:
            raise KeyError(me)
        hit = self._cache.get(me)
        if hit is None:
            hit = self._cache[me] = _bfs(me, self._names, self._adj)
        return hit

    def reachable(self, me: str) -> set[str]:
        """The peers ``me`` can reach (itself included), without computing next hops."""
        seen = {me}
        todo = [me]
        while todo:
            for nxt in self._adj.get(todo.pop(), ()):
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return seen

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


def _configured(opts: WeaveOptions, nodes: Sequence[str]) -> list[tuple[str, str]]:
    """The pairs told to connect, in the order their connections come up. A full mesh comes
    up nearest neighbours first around the ring of nodes (each peer dials its peers in
    turn), so when ``connLimit`` stops it every peer still has connections and the mesh
    stays connected, as Weave's randomly ordered dialling leaves it."""
    if opts.connections is None:
        n = len(nodes)
        pairs = [(i, (i + k) % n, k) for k in range(1, n // 2 + 1) for i in range(n) if not (2 * k == n and i >= k)]
        return [(min(nodes[i], nodes[j]), max(nodes[i], nodes[j])) for i, j, _ in pairs]
    return [(min(a, b), max(a, b)) for a, b in opts.connections]


def _blocked(opts: WeaveOptions, a: str, b: str, what: str) -> str | None:
    for block in opts.blocked:
        if what in block.ports and block.between(a, b):
            return block.label()
    return None


def _datapath(opts: WeaveOptions, a: str, b: str, path_mtu: int) -> tuple[Datapath | None, str]:
    """The datapath of an established control connection, and why; None: neither works."""
    sleeve_block = _blocked(opts, a, b, "udp/6783")
    reasons: list[str] = []
    if opts.no_fastdp:
        reasons.append("fastdp off: noFastdp is set")
    elif (block := _blocked(opts, a, b, "udp/6784")) is not None:
        reasons.append(f"fastdp off: UDP {FASTDP_PORT} blocked by {block}: heartbeats get no ack")
    elif opts.encrypted and (block := _blocked(opts, a, b, "esp")) is not None:
        reasons.append(f"fastdp off: IPsec ESP (IP protocol 50) blocked by {block}")
    else:
        need = opts.mtu + FASTDP_OVERHEAD + (ESP_MAX if opts.encrypted else 0)
        if path_mtu < need:
            reasons.append(
                f"fastdp off: underlay path MTU {path_mtu} < {need} (mtu {opts.mtu} + VXLAN {FASTDP_OVERHEAD}"
                + (f" + ESP {ESP_MAX}" if opts.encrypted else "") + "): the MTU-sized heartbeats are lost")
        else:
            return "fastdp", f"fastdp: VXLAN on UDP {FASTDP_PORT}, heartbeats of {opts.mtu} bytes acknowledged"
    if sleeve_block is not None:
        reasons.append(f"sleeve off: UDP {CONTROL_PORT} blocked by {sleeve_block}")
        return None, "; ".join(reasons)
    return "sleeve", "; ".join(reasons) + f"; sleeve: UDP {CONTROL_PORT} in userspace"


def build_mesh(cluster: Cluster, opts: WeaveOptions) -> Mesh:
    """Peers, connections (in the order peers would dial them), and routes, for ``cluster``."""
    nodes = [n for n in cluster.nodes if isinstance(n.ip, IPv4Address)]
    names = {n.name: peer_name(n.name) for n in nodes}
    ids = _short_ids(list(names.values()))
    peers = {n.name: Peer(names[n.name], n.name, ids[names[n.name]], IPv4Address(n.ip)) for n in nodes}
    by_name: dict[str, Node] = {n.name: n for n in nodes}
    counts: dict[str, int] = dict.fromkeys(by_name, 0)
    conns: dict[tuple[str, str], Connection] = {}
    paths: dict[tuple[str, str], tuple[list[str] | None, int]] = {}
    for a, b in _configured(opts, sorted(by_name)):
        na, nb = by_name[a], by_name[b]
        key = (na.segment, nb.segment)
        if key not in paths:  # segments are few; pairs are many
            found = _segment_path(cluster, *key)
            paths[key] = (found, min(_mtu(cluster, x) for x in found) if found else 0)
        segs, mtu = paths[key]
        enc = opts.encrypted
        if segs is None:
            conns[(a, b)] = Connection(a, b, "failed", (
                f"no underlay route between segment {na.segment} and segment {nb.segment}: "
                f"TCP {CONTROL_PORT} to {nb.ip} gets no answer"))
            continue
        if (block := _blocked(opts, a, b, "tcp/6783")) is not None:
            conns[(a, b)] = Connection(a, b, "failed", f"TCP {CONTROL_PORT} blocked by {block}: connect: connection timed out")
            continue
        full = a if counts[a] >= opts.conn_limit else (b if counts[b] >= opts.conn_limit else None)
        if full is not None:
            conns[(a, b)] = Connection(a, b, "failed", f"connection limit reached on {full} (connLimit {opts.conn_limit})")
            continue
        datapath, why = _datapath(opts, a, b, mtu)
        if datapath is None:
            conns[(a, b)] = Connection(a, b, "failed", f"no working forwarder: {why}", why_datapath=why, path_mtu=mtu)
            continue
        counts[a] += 1
        counts[b] += 1
        conns[(a, b)] = Connection(a, b, "established", "", datapath, why, enc, mtu)
    links = [k for k, c in conns.items() if c.established]
    return Mesh(peers, conns, Routes(names, links))
