"""Small cluster builders and a dataplane assembler for the driver tests."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from overlaynet.dataplane.ir import Dataplane
from overlaynet.dataplane.underlay import build_underlay, program_host
from overlaynet.drivers.base import Driver
from overlaynet.model import (
    Cluster,
    FrozenDict,
    NetworkSpec,
    Node,
    Pod,
    Router,
    Segment,
    Underlay,
    ip_address,
    ip_network,
)


def cluster(
    racks: Sequence[tuple[str, str, int]] = (("rack-a", "192.168.10.0/24", 1500),),
    nodes: Sequence[tuple[str, str, str | None]] = (("node-1", "192.168.10.11", None),),
    pods: Sequence[tuple[str, str, str | None]] = (),
    *,
    driver: str = "flannel",
    options: Mapping[str, Any] | None = None,
    pod_cidr: str = "10.244.0.0/16",
) -> Cluster:
    """racks: (name, cidr, mtu); nodes: (name, ip, podCIDR or None); pods: (name, node, IP
    or None: IPAM chooses). The segment of a node is found from its IP; with several racks
    a router ``core`` joins them all at the first address of each."""
    segments = tuple(Segment(n, ip_network(c), m) for n, c, m in racks)
    routers: tuple[Router, ...] = ()
    if len(segments) > 1:
        routers = (Router("core", FrozenDict({s.name: s.cidr[1] for s in segments})),)

    def seg_of(ip: str) -> str:
        return next(s.name for s in segments if ip_address(ip) in s.cidr)

    model_nodes = tuple(
        Node(name, ip_address(ip), seg_of(ip),
             pod_cidrs=(ip_network(cidr),) if cidr else ())
        for name, ip, cidr in nodes
    )
    model_pods = tuple(
        Pod(name, node=node, ips=(ip_address(ip),) if ip else (), allocated=ip is None,
            creation_index=i)
        for i, (name, node, ip) in enumerate(pods)
    )
    return Cluster(
        pod_cidrs=(ip_network(pod_cidr),),
        network=NetworkSpec(driver=driver, options=FrozenDict(options or {})),
        underlay=Underlay(segments=segments, routers=routers),
        nodes=model_nodes,
        pods=model_pods,
    )


def assemble(driver: Driver) -> tuple[Cluster, Dataplane]:
    """allocate(), then every host's underlay and the driver's programming, eagerly."""
    allocated = driver.allocate()
    dp = build_underlay(allocated)
    for node in allocated.nodes:
        dp.built_hosts.add(node.name)
        program_host(dp, allocated, node)
        driver.program_node(dp, node)
    return allocated, dp
