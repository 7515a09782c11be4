"""The underlay part of the IR: segments as L2 domains, routers as forwarding namespaces, and
each node's root namespace (``lo``, ``eth0`` on its segment, connected and default routes).

``build_underlay`` runs once per dataplane (routers are few, so they are built eagerly);
``program_host`` runs lazily per node, before the driver programs that node.
"""

from __future__ import annotations

import hashlib
from collections import deque
from ipaddress import ip_address, ip_network

from overlaynet.dataplane.ir import (
    Address,
    Dataplane,
    Interface,
    L2Segment,
    NetNamespace,
    NsRef,
    Route,
)
from overlaynet.errors import Diagnostic, TopologyError
from overlaynet.model import Cluster, Node, Router, Service
from overlaynet.model.base import IPAddress, IPNetwork

__all__ = ["UPLINK", "build_underlay", "mac_for", "program_host", "routers_on"]

#: The interface through which the border router (the first router) reaches the outside world.
UPLINK = "uplink"


def mac_for(*parts: str) -> str:
    """A stable, locally administered unicast MAC for an interface named by ``parts``."""
    digest = hashlib.blake2b("/".join(parts).encode(), digest_size=5).digest()
    return "02:" + ":".join(f"{b:02x}" for b in digest)


def routers_on(cluster: Cluster, segment: str) -> list[Router]:
    """The routers with an interface on ``segment``, in file order."""
    return [r for r in cluster.underlay.routers if segment in r.interfaces]


def _segment(dp: Dataplane, cluster: Cluster, name: str, what: str) -> L2Segment:
    seg = dp.segments.get(name)
    if seg is None:
        source = cluster.source
        raise TopologyError(
            [
                Diagnostic(
                    file=source.file if source else "<cluster>",
                    line=source.line if source else 1,
                    column=source.column if source else 1,
                    path="spec.underlay.segments",
                    message=f"{what} is on segment {name!r}, which the underlay does not define",
                )
            ]
        )
    return seg


def _loopback(ns: NetNamespace) -> None:
    ns.add_interface(
        Interface(
            name="lo",
            kind="loopback",
            mtu=65536,
            addresses=[Address(ip_address("127.0.0.1"), 8)],
            origin="kernel: loopback",
        )
    )


def _port(seg: L2Segment, ref: NsRef, ifname: str, ips: tuple[IPAddress, ...]) -> None:
    seg.ports.append((ref, ifname))
    for ip in ips:
        seg.directory.setdefault(ip, (ref, ifname))


def build_underlay(cluster: Cluster) -> Dataplane:
    """A dataplane holding the segments and the routers; nodes are registered as segment
    ports (so ARP on a segment can find them) but their namespaces are built later."""
    dp = Dataplane()
    for s in cluster.underlay.segments:
        dp.segments[s.name] = L2Segment(name=s.name, cidr=s.cidr, mtu=s.mtu)
    for router in cluster.underlay.routers:
        _build_router(dp, cluster, router)
    _route_between_routers(dp, cluster)
    _route_load_balancers(dp, cluster)
    for node in cluster.nodes:
        seg = _segment(dp, cluster, node.segment, f"node {node.name}")
        _port(seg, NsRef(node.name), "eth0", node.ips)
    return dp


def _build_router(dp: Dataplane, cluster: Cluster, router: Router) -> None:
    ref = NsRef(router.name)
    ns = dp.add_namespace(ref, kind="router")
    dp.built_hosts.add(router.name)
    _loopback(ns)
    ns.sysctls["net.ipv4.ip_forward"] = "1"
    for i, (seg_name, ip) in enumerate(router.interfaces.items()):
        seg = _segment(dp, cluster, seg_name, f"router {router.name}")
        ifname = f"eth{i}"
        ns.add_interface(
            Interface(
                name=ifname,
                kind="phys",
                mtu=seg.mtu,
                mac=mac_for(router.name, ifname),
                addresses=[Address(ip, seg.cidr.prefixlen)],
                segment=seg.name,
                origin=f"underlay: router {router.name} on segment {seg.name}",
            )
        )
        ns.add_route(
            Route(
                dst=seg.cidr,
                dev=ifname,
                proto="kernel",
                scope="link",
                src=ip,
                origin=f"underlay: connected route of segment {seg.name}",
            )
        )
        _port(seg, ref, ifname, (ip,))


def _default(family: int) -> IPNetwork:
    return ip_network("0.0.0.0/0" if family == 4 else "::/0")


def _iface_on(ns: NetNamespace, segment: str) -> str:
    return next(i.name for i in ns.interfaces.values() if i.segment == segment)


def _route_between_routers(dp: Dataplane, cluster: Cluster) -> None:
    """Give every router a route to each segment it reaches only through other routers
    (shortest path in router hops), and a default route towards the border router.

    The border router (the first one) owns the ``uplink`` to the outside of the topology.
    """
    routers = cluster.underlay.routers
    if not routers:
        return
    border = routers[0]
    border_ns = dp.namespaces[NsRef(border.name)]
    border_ns.add_interface(
        Interface(
            name=UPLINK,
            kind="phys",
            mtu=cluster.underlay.mtu,
            mac=mac_for(border.name, UPLINK),
            origin="underlay: the border router's link to the outside of the topology",
        )
    )
    families = sorted({s.cidr.version for s in cluster.underlay.segments}) or [4]
    for family in families:
        border_ns.add_route(
            Route(
                dst=_default(family),
                dev=UPLINK,
                proto="static",
                origin=f"underlay: default route of border router {border.name} to the outside",
            )
        )
    for router in routers:
        ns = dp.namespaces[NsRef(router.name)]
        # BFS over routers; first_hop[r] = (segment shared with our first router, its ip there)
        first_hop: dict[str, tuple[str, IPAddress]] = {}
        queue: deque[str] = deque([router.name])
        seen = {router.name}
        by_name = {r.name: r for r in routers}
        while queue:
            current = by_name[queue.popleft()]
            for seg_name in current.interfaces:
                for other in routers_on(cluster, seg_name):
                    if other.name in seen:
                        continue
                    seen.add(other.name)
                    first_hop[other.name] = (
                        first_hop[current.name]
                        if current.name != router.name
                        else (seg_name, other.interfaces[seg_name])
                    )
                    queue.append(other.name)
        done = set(router.interfaces)
        for other_name in sorted(first_hop, key=lambda n: list(by_name).index(n)):
            seg_name, via = first_hop[other_name]
            for remote_seg in by_name[other_name].interfaces:
                if remote_seg in done:
                    continue
                done.add(remote_seg)
                ns.add_route(
                    Route(
                        dst=cluster.segment(remote_seg).cidr,
                        via=via,
                        dev=_iface_on(ns, seg_name),
                        proto="static",
                        origin=f"underlay: segment {remote_seg} via router {other_name}",
                    )
                )
        if router.name != border.name and border.name in first_hop:
            seg_name, via = first_hop[border.name]
            ns.add_route(
                Route(
                    dst=_default(via.version),
                    via=via,
                    dev=_iface_on(ns, seg_name),
                    proto="static",
                    origin=f"underlay: default route towards border router {border.name}",
                )
            )


def _lb_target(cluster: Cluster, svc: Service) -> Node | None:
    """The node a cloud load balancer sends ``svc``'s traffic to: with
    externalTrafficPolicy Local, the first node with a ready endpoint (what the health check
    on healthCheckNodePort admits); otherwise the first node."""
    if svc.external_traffic_policy != "Local":
        return cluster.nodes[0] if cluster.nodes else None
    ready = {
        ep.node_name
        for sl in cluster.slices_for(svc)
        for ep in sl.endpoints
        if ep.ready and ep.node_name is not None
    }
    return next((n for n in cluster.nodes if n.name in ready), None)


def _route_load_balancers(dp: Dataplane, cluster: Cluster) -> None:
    """What a cloud load balancer (or MetalLB) does for LoadBalancer Services: their ingress
    IPs are routed by every router to one node, so a client outside the cluster reaches
    kube-proxy's rules there. One node is chosen deterministically (a real LB spreads over
    every healthy node)."""
    for svc in cluster.services:
        if svc.type != "LoadBalancer" or not svc.load_balancer_ips:
            continue
        node = _lb_target(cluster, svc)
        if node is None:
            continue
        for router in cluster.underlay.routers:
            ns = dp.namespaces[NsRef(router.name)]
            if node.segment in router.interfaces:
                via, dev = node.ip, _iface_on(ns, node.segment)
            else:
                seg_cidr = cluster.segment(node.segment).cidr
                hop = next((r for r in ns.routes if r.dst == seg_cidr and r.via is not None), None)
                if hop is None or hop.via is None or hop.dev is None:
                    continue
                via, dev = hop.via, hop.dev
            for ip in svc.load_balancer_ips:
                if ip.version != via.version:
                    continue
                ns.add_route(
                    Route(
                        dst=ip_network(f"{ip}/{ip.max_prefixlen}"),
                        via=via,
                        dev=dev,
                        proto="static",
                        origin=f"cloud load balancer: {svc.key} {ip} → node {node.name}"
                        + (" (externalTrafficPolicy Local: a node with a ready endpoint)"
                           if svc.external_traffic_policy == "Local" else ""),
                    )
                )


def program_host(dp: Dataplane, cluster: Cluster, node: Node) -> NetNamespace:
    """Create ``node``'s root namespace: ``lo``, ``eth0`` on its segment with the node's
    address(es), the connected route, a default route via the first router on the segment,
    ``ip_forward=1`` and loose reverse-path filtering."""
    seg = _segment(dp, cluster, node.segment, f"node {node.name}")
    ref = NsRef(node.name)
    ns = dp.add_namespace(ref, kind="host")
    _loopback(ns)
    cidrs = cluster.segment(node.segment).cidrs  # a dual-stack segment has one per family
    addresses = [
        Address(ip, next((c.prefixlen for c in cidrs if c.version == ip.version and ip in c), ip.max_prefixlen))
        for ip in node.ips
    ]
    ns.add_interface(
        Interface(
            name="eth0",
            kind="phys",
            mtu=seg.mtu,
            mac=mac_for(node.name, "eth0"),
            addresses=addresses,
            segment=seg.name,
            origin=f"underlay: node {node.name} on segment {seg.name}",
        )
    )
    ns.add_route(
        Route(
            dst=seg.cidr,
            dev="eth0",
            proto="kernel",
            scope="link",
            src=node.ip,
            origin=f"kernel: connected route of segment {seg.name}",
        )
    )
    for extra in cidrs[1:]:  # the dual-stack segment's other family, when the node has an address in it
        if any(ip.version == extra.version and ip in extra for ip in node.ips):
            # the kernel's IPv6 prefix route carries no prefsrc (`ip -6 route`: "proto kernel metric 256")
            ns.add_route(Route(
                dst=extra, dev="eth0", proto="kernel", scope="link",
                origin=f"kernel: connected route of segment {seg.name} ({extra})",
            ))
    gateways = routers_on(cluster, seg.name)
    if gateways:
        gw = gateways[0].interfaces[seg.name]
        ns.add_route(
            Route(
                dst=_default(gw.version),
                via=gw,
                dev="eth0",
                proto="static",
                origin=f"underlay: default route via router {gateways[0].name}",
            )
        )
    ns.sysctls["net.ipv4.ip_forward"] = "1"
    # Debian and Ubuntu hosts run with systemd's 50-default.conf: loose reverse-path filter.
    ns.sysctls["net.ipv4.conf.all.rp_filter"] = "2"
    ns.sysctls["net.ipv4.conf.default.rp_filter"] = "2"
    return ns
