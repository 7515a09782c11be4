"""Small hand-built clusters for the Calico tests (no loader needed)."""

from __future__ import annotations

import ipaddress

from overlaynet.model import Cluster, FrozenDict, NetworkSpec, Node, Pod, Router, Segment, Underlay


def cluster(
    *,
    racks: int = 1,
    nodes_per_rack: int = 3,
    pods_per_node: int = 2,
    router: bool = True,
    options: dict[str, object] | None = None,
) -> Cluster:
    segments = tuple(
        Segment(f"rack-{chr(97 + r)}", ipaddress.ip_network(f"192.168.{10 * (r + 1)}.0/24")) for r in range(racks)
    )
    routers: tuple[Router, ...] = ()
    if router:  # one router joining every rack; with one rack, the hosts' default gateway
        routers = (
            Router(
                "core",
                FrozenDict({s.name: s.cidr.network_address + 1 for s in segments}),
            ),
        )
    nodes = []
    pods = []
    for r, seg in enumerate(segments):
        for i in range(nodes_per_rack):
            name = f"node-{r}{i}"
            nodes.append(Node(name, seg.cidr.network_address + 11 + i, seg.name))
            for p in range(pods_per_node):
                pods.append(Pod(f"p-{r}{i}-{p}", "default", FrozenDict({"app": "x"}), node=name, allocated=True))
    return Cluster(
        name="calico-test",
        pod_cidrs=(ipaddress.ip_network("10.244.0.0/16"),),
        service_cidrs=(ipaddress.ip_network("10.96.0.0/12"),),
        network=NetworkSpec("calico", FrozenDict(options or {})),
        underlay=Underlay(1500, segments, routers),
        nodes=tuple(nodes),
        pods=tuple(pods),
    )
