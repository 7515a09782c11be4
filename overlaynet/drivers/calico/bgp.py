"""Calico's BGP control plane: who peers with whom, and what each node's BIRD learns.

Sessions come from a networkx graph: a full iBGP node-to-node mesh (n(n−1)/2 sessions) or,
with route reflectors, RRs meshed among themselves and every other node peering with every
RR ((n−k)·k + k(k−1)/2 sessions). A session is Established only when the two node IPs reach
each other on the underlay (same segment, or segments joined by routers). Routes propagate
by iBGP rules: a plain speaker never re-advertises iBGP-learned routes; an RR reflects client
routes to everyone and non-client routes to its clients, stamping its cluster ID (loops are
cut by CLUSTER_LIST / ORIGINATOR_ID, RFC 4456). Next hop is the originating node's IP.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import networkx as nx

from overlaynet.model import Cluster, IPAddress, IPNetwork, Node

RR_CLUSTER_ID = "244.0.0.1"  # the routeReflectorClusterID Calico's docs use


@dataclass(frozen=True, slots=True)
class Session:
    a: str
    b: str
    kind: Literal["mesh", "rr-client", "rr-rr"]
    state: Literal["Established", "Active"]
    reason: str = ""

    def protocol_name(self, local: str, cluster: Cluster) -> str:
        """BIRD's protocol name for this session on ``local`` (as calico's confd names them)."""
        peer = self.b if local == self.a else self.a
        ip = str(cluster.node(peer).ip).replace(".", "_").replace(":", "_")
        return f"Mesh_{ip}" if self.kind == "mesh" else f"Node_{ip}"

    def to_dict(self) -> dict[str, Any]:
        return {"a": self.a, "b": self.b, "kind": self.kind, "state": self.state, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class BGPRoute:
    prefix: IPNetwork
    next_hop: IPAddress
    originator: str  # node name
    learned_from: str | None  # peer node name; None when originated locally
    as_path: tuple[int, ...] = ()  # empty: iBGP inside one AS ("i")
    cluster_list: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "prefix": str(self.prefix),
            "next_hop": str(self.next_hop),
            "originator": self.originator,
            "learned_from": self.learned_from,
            "as_path": list(self.as_path),
            "cluster_list": list(self.cluster_list),
        }


@dataclass(frozen=True, slots=True)
class BGPState:
    as_number: int
    reflectors: tuple[str, ...]
    sessions: tuple[Session, ...]
    ribs: Mapping[str, tuple[BGPRoute, ...]]  # node -> best routes (own and learned)

    def sessions_of(self, node: str) -> tuple[Session, ...]:
        return tuple(s for s in self.sessions if node in (s.a, s.b))

    def learned(self, node: str) -> tuple[BGPRoute, ...]:
        return tuple(r for r in self.ribs.get(node, ()) if r.learned_from is not None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "as_number": self.as_number,
            "route_reflectors": list(self.reflectors),
            "sessions": [s.to_dict() for s in self.sessions],
            "ribs": {n: [r.to_dict() for r in rs] for n, rs in self.ribs.items()},
        }


def underlay_components(cluster: Cluster) -> dict[str, int]:
    """Segment name → id of the group of segments that routers join together."""
    g: nx.Graph = nx.Graph()
    for seg in cluster.underlay.segments:
        g.add_node(("s", seg.name))
    for node in cluster.nodes:
        g.add_node(("s", node.segment))
    for router in cluster.underlay.routers:
        for seg_name in router.interfaces:
            g.add_edge(("r", router.name), ("s", seg_name))
    out: dict[str, int] = {}
    for i, comp in enumerate(nx.connected_components(g)):
        for kind, name in comp:
            if kind == "s":
                out[name] = i
    return out


def reachability_reason(cluster: Cluster, a: Node, b: Node, comps: Mapping[str, int]) -> str:
    """Empty when ``a`` reaches ``b`` on the underlay, else why not."""
    if a.segment == b.segment or comps.get(a.segment) == comps.get(b.segment):
        return ""
    return (
        f"no underlay path from {a.ip} ({a.segment}) to {b.ip} ({b.segment}): no router joins "
        "the two segments, so TCP 179 cannot connect"
    )


def session_graph(cluster: Cluster, reflectors: Iterable[str]) -> nx.Graph:
    """The BGP session graph: nodes are Kubernetes nodes, edges carry ``kind``."""
    rrs = [n.name for n in cluster.nodes if n.name in set(reflectors)]
    g: nx.Graph = nx.Graph()
    g.add_nodes_from(n.name for n in cluster.nodes)
    names = [n.name for n in cluster.nodes]
    if not rrs:
        for i, a in enumerate(names):
            for b in names[i + 1 :]:
                g.add_edge(a, b, kind="mesh")
        return g
    for i, a in enumerate(rrs):
        for b in rrs[i + 1 :]:
            g.add_edge(a, b, kind="rr-rr")
    for n in names:
        if n not in rrs:
            for rr in rrs:
                g.add_edge(rr, n, kind="rr-client")
    return g


def compute_bgp(
    cluster: Cluster,
    originated: Mapping[str, Iterable[IPNetwork]],
    *,
    as_number: int = 64512,
    reflectors: Iterable[str] = (),
) -> BGPState:
    """Sessions and converged RIBs for ``originated`` prefixes (node → blocks and /32s)."""
    rrs = tuple(n.name for n in cluster.nodes if n.name in set(reflectors))
    g = session_graph(cluster, rrs)
    comps = underlay_components(cluster)
    sessions: list[Session] = []
    up: dict[str, list[str]] = {n.name: [] for n in cluster.nodes}
    for a, b, data in sorted(g.edges(data=True), key=lambda e: (e[0], e[1])):
        na, nb = cluster.node(a), cluster.node(b)
        reason = reachability_reason(cluster, na, nb, comps)
        sessions.append(Session(a, b, data["kind"], "Active" if reason else "Established", reason))
        if not reason:
            up[a].append(b)
            up[b].append(a)

    rib: dict[str, dict[IPNetwork, BGPRoute]] = {n.name: {} for n in cluster.nodes}
    for node in cluster.nodes:
        for prefix in originated.get(node.name, ()):
            rib[node.name][prefix] = BGPRoute(prefix, node.ip, node.name, None)

    def is_client(rr: str, peer: str) -> bool:
        return rr in rrs and peer not in rrs

    def better(new: BGPRoute, old: BGPRoute | None) -> bool:
        if old is None:
            return True
        if old.learned_from is None:
            return False
        key_new = (len(new.cluster_list), int(new.next_hop), new.learned_from or "")
        key_old = (len(old.cluster_list), int(old.next_hop), old.learned_from or "")
        return key_new < key_old

    changed = True
    rounds = 0
    while changed and rounds <= len(cluster.nodes) + 2:
        changed = False
        rounds += 1
        for sender in sorted(rib):
            for route in list(rib[sender].values()):
                for receiver in sorted(up[sender]):
                    if route.learned_from is not None:
                        if sender not in rrs:
                            continue  # iBGP split horizon
                        from_client = is_client(sender, route.learned_from)
                        if not from_client and not is_client(sender, receiver):
                            continue
                        if receiver == route.learned_from:
                            continue
                        out = BGPRoute(
                            route.prefix,
                            route.next_hop,
                            route.originator,
                            sender,
                            route.as_path,
                            (RR_CLUSTER_ID, *route.cluster_list),
                        )
                    else:
                        out = BGPRoute(route.prefix, route.next_hop, route.originator, sender)
                    if out.originator == receiver:
                        continue  # ORIGINATOR_ID loop check
                    if receiver in rrs and RR_CLUSTER_ID in out.cluster_list:
                        continue  # CLUSTER_LIST loop check
                    if better(out, rib[receiver].get(out.prefix)):
                        rib[receiver][out.prefix] = out
                        changed = True
    ribs = {
        n: tuple(sorted(routes.values(), key=lambda r: (r.prefix.version, int(r.prefix.network_address), r.prefix.prefixlen)))
        for n, routes in rib.items()
    }
    return BGPState(as_number=as_number, reflectors=rrs, sessions=tuple(sessions), ribs=ribs)
