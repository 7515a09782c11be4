"""Small cluster builders and a dataplane assembler for the driver tests."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
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


def node_rules_text(net: Any, node: str) -> str:
    """Every netfilter table of every namespace of ``node`` as iptables-save text, each under
    a ``# <namespace>`` line and followed by its user chains' ``origin`` and ``role``: what a
    driver's golden file holds."""
    from overlaynet.dataplane.netfilter import render_save

    out = []
    for ref, ns in sorted(net.dataplane.namespaces.items(), key=lambda kv: str(kv[0])):
        if ref.host != node or not ns.netfilter.tables:
            continue
        out.append(f"# {ref}\n{render_save(ns.netfilter)}")
        for table in ns.netfilter.ordered_tables():
            out.extend(f"#   {table.name} {c.name}: origin={c.origin} role={c.role.value}\n"
                       for c in table.ordered_chains())
    return "".join(out)


def check_golden(path: Path, text: str) -> None:
    """Compare ``text`` with the golden file ``path``; OVERLAYNET_UPDATE_GOLDEN=1 rewrites it."""
    import os

    if os.environ.get("OVERLAYNET_UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return
    assert path.exists(), f"{path} missing: run with OVERLAYNET_UPDATE_GOLDEN=1 to create it"
    assert text == path.read_text(), f"{path} differs (OVERLAYNET_UPDATE_GOLDEN=1 regenerates it)"
