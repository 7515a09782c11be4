"""The topology variants the overhead comparison traces: the same cluster with only the
driver and its options swapped, every segment's MTU set, or the underlay re-addressed with
IPv6; and the choice of the pod pairs to trace.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, replace
from typing import Any

from overlaynet.model import Cluster, FrozenDict, NetworkSpec, Pod
from overlaynet.model.base import IPAddress, IPNetwork

__all__ = ["PodPair", "candidate_pairs", "same_node_pair", "with_driver", "with_ipv6_underlay", "with_underlay_mtu"]


def with_driver(cluster: Cluster, driver: str, options: dict[str, Any]) -> Cluster:
    """``cluster`` wired by ``driver`` with ``options`` on top of the topology's own options
    when the topology already uses that driver (its VNI, pools … stay), else ``options`` alone."""
    base = dict(cluster.network.options) if cluster.network.driver == driver else {}
    base.update(options)
    return replace(cluster, network=NetworkSpec(driver, FrozenDict(base), cluster.network.source))


def with_underlay_mtu(cluster: Cluster, mtu: int) -> Cluster:
    """Every segment (and the underlay default) at ``mtu``."""
    u = cluster.underlay
    segments = tuple(replace(s, mtu=mtu) for s in u.segments)
    return replace(cluster, underlay=replace(u, mtu=mtu, segments=segments))


def _v6_network(index: int) -> ipaddress.IPv6Network:
    return ipaddress.IPv6Network(f"fd00:0:0:{index + 1:x}::/64")


def with_ipv6_underlay(cluster: Cluster) -> Cluster:
    """The underlay re-addressed with IPv6: segment ``i`` becomes ``fd00:0:0:<i+1>::/64`` and
    each address keeps its offset in its segment (192.168.10.11 in 192.168.10.0/24 →
    fd00:0:0:1::b). Pod networks are left as they are."""
    u = cluster.underlay
    mapping: dict[str, tuple[IPNetwork, ipaddress.IPv6Network]] = {}
    segments = []
    for i, seg in enumerate(u.segments):
        v6 = _v6_network(i)
        mapping[seg.name] = (seg.cidr, v6)
        segments.append(replace(seg, cidr=v6))

    def move(ip: IPAddress, segment: str | None = None) -> IPAddress | None:
        for name, (old, new) in mapping.items():
            if (segment is None or segment == name) and ip.version == old.version and ip in old:
                return new[int(ip) - int(old.network_address)]
        return None

    routers = []
    for r in u.routers:
        moved = {seg: move(ip, seg) for seg, ip in r.interfaces.items()}
        routers.append(replace(r, interfaces=FrozenDict({k: v for k, v in moved.items() if v is not None})))
    nodes = []
    for n in cluster.nodes:
        ip = move(n.ip, n.segment) or move(n.ip)
        extra = tuple(x for x in (move(e) for e in n.extra_ips) if x is not None)
        nodes.append(replace(n, ip=ip if ip is not None else n.ip, extra_ips=extra))
    underlay = replace(u, segments=tuple(segments), routers=tuple(routers))
    return replace(cluster, underlay=underlay, nodes=tuple(nodes))


@dataclass(frozen=True, slots=True)
class PodPair:
    src: Pod
    dst: Pod
    same_segment: bool

    @property
    def label(self) -> str:
        return f"{self.src.key} → {self.dst.key}"


def _traceable(cluster: Cluster) -> list[Pod]:
    return sorted(
        (p for p in cluster.pods if p.node is not None and not p.host_network and p.ip is not None),
        key=lambda p: (p.node or "", p.key),
    )


def candidate_pairs(cluster: Cluster) -> tuple[PodPair | None, PodPair | None]:
    """(a pair on different segments, a pair on different nodes of one segment); either may
    be None. Deterministic: the first such pair in (node, pod) order."""
    pods = _traceable(cluster)
    seg = {n.name: n.segment for n in cluster.nodes}
    cross: PodPair | None = None
    local: PodPair | None = None
    for a in pods:
        for b in pods:
            if a.node == b.node:
                continue
            same = seg.get(a.node or "") == seg.get(b.node or "")
            if same and local is None:
                local = PodPair(a, b, True)
            if not same and cross is None:
                cross = PodPair(a, b, False)
    return cross, local


def same_node_pair(cluster: Cluster) -> PodPair | None:
    pods = _traceable(cluster)
    for i, a in enumerate(pods):
        for b in pods[i + 1 :]:
            if a.node == b.node:
                return PodPair(a, b, True)
    return None
