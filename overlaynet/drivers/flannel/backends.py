"""What flanneld's backends write into a host's root namespace, per remote lease.

vxlan (``pkg/backend/vxlan``): ``flannel.<VNI>`` plus one onlink route, one permanent
neighbour and one FDB entry per remote lease, or a direct route with DirectRouting; with
EnableIPv6 the same three per remote IPv6 subnet on ``flannel-v6.<VNI>``, a second VXLAN
device whose local address is the PublicIPv6 (so its outer header is IPv6).
host-gw (``pkg/backend/hostgw``, ``route_network.go``): a route via each peer's PublicIP,
which the kernel refuses when the peer is not on a connected network. udp
(``pkg/backend/udp``): TUN ``flannel0`` plus the userspace proxy's table.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from overlaynet.dataplane.ir import (
    Address,
    Diagnosis,
    FdbEntry,
    Forwarder,
    ForwarderEntry,
    Interface,
    Neighbor,
    NetNamespace,
    Route,
    TunInfo,
    VxlanInfo,
)
from overlaynet.dataplane.lookup import connected_route, lookup_route
from overlaynet.model import Node

from .config import NetworkConfig
from .leases import Lease

__all__ = [
    "FORWARDER",
    "TUN",
    "HostContext",
    "PeerEntries",
    "ext_interface",
    "program_backend",
    "vxlan_device",
    "vxlan_v6_device",
]

IPv4Address = ipaddress.IPv4Address
TUN = "flannel0"
VXLAN6_HEADROOM = 70  # the kernel's outer IPv6 40 + UDP 8 + VXLAN 8 + inner Ethernet 14
FORWARDER = "flanneld"


def vxlan_device(vni: int) -> str:
    return f"flannel.{vni}"


def vxlan_v6_device(vni: int) -> str:
    """``flannel-v6.<VNI>`` (createVXLANDevice in pkg/backend/vxlan/vxlan.go)."""
    return f"flannel-v6.{vni}"


@dataclass(frozen=True, slots=True)
class HostContext:
    """One host as flanneld sees it: its namespace, node, own lease, the config, the MTU of
    its external interface (or the ``mtu`` option) and every remote lease, sorted."""

    root: NetNamespace
    node: Node
    ext: str
    lease: Lease
    config: NetworkConfig
    base_mtu: int
    peers: Sequence[Lease]
    entries: PeerEntries

    def why(self, text: str) -> str:
        return f"flannel {self.config.backend.type} on {self.node.name}: {text}"


class PeerEntries:
    """The entries a remote lease makes every host write; they do not depend on the host,
    so one frozen object per lease is shared by all hosts (a 5,000-node cluster would
    otherwise build 15,000 equal entries per host)."""

    def __init__(self, config: NetworkConfig, owners: Mapping[IPv4Address, str]) -> None:
        self.config = config
        self.owners = owners
        # keyed by the Lease object's id (LeaseReader hands out the same object until the
        # key changes); the value keeps the lease alive so its id cannot be reused
        self._cache: dict[tuple[object, ...], tuple[Lease, object]] = {}

    def _why(self, peer: Lease, text: str = "") -> str:
        owner = self.owners.get(peer.public_ip, "?")
        return f"flannel {self.config.backend.type}: lease {peer.subnet} of {owner} ({peer.public_ip}){text}"

    def vxlan(self, peer: Lease, dev: str) -> tuple[Route, Neighbor, FdbEntry]:
        key = ("vxlan", id(peer), dev)
        hit = self._cache.get(key)
        if hit is None:
            assert peer.vtep_mac is not None
            gw = peer.subnet.network_address
            hit = self._cache[key] = peer, (
                Route(dst=peer.subnet, via=gw, dev=dev, onlink=True, proto="boot", origin=self._why(peer)),
                Neighbor(ip=gw, dev=dev, lladdr=peer.vtep_mac, state="PERMANENT",
                         origin=self._why(peer, ": remote VTEP MAC")),
                FdbEntry(mac=peer.vtep_mac, dev=dev, dst=peer.public_ip, self_=True, permanent=True,
                         origin=self._why(peer, ": remote VTEP address")),
            )
        return hit[1]  # type: ignore[return-value]

    def vxlan6(self, peer: Lease, dev: str) -> tuple[Route, Neighbor, FdbEntry]:
        """The v6 triple of handleSubnetEvents: route ``<v6 subnet> via <its network address>
        dev flannel-v6.N onlink``, neighbour to the BackendV6Data VtepMAC, FDB to PublicIPv6."""
        key = ("vxlan6", id(peer), dev)
        hit = self._cache.get(key)
        if hit is None:
            assert peer.v6_vtep_mac is not None and peer.ipv6_subnet is not None
            assert peer.public_ipv6 is not None
            gw = peer.ipv6_subnet.network_address
            why = self._why6(peer)
            hit = self._cache[key] = peer, (
                Route(dst=peer.ipv6_subnet, via=gw, dev=dev, onlink=True, proto="boot", origin=why),
                Neighbor(ip=gw, dev=dev, lladdr=peer.v6_vtep_mac, state="PERMANENT",
                         origin=why + ": remote v6 VTEP MAC"),
                FdbEntry(mac=peer.v6_vtep_mac, dev=dev, dst=peer.public_ipv6, self_=True, permanent=True,
                         origin=why + ": remote v6 VTEP address (PublicIPv6)"),
            )
        return hit[1]  # type: ignore[return-value]

    def _why6(self, peer: Lease, text: str = "") -> str:
        owner = self.owners.get(peer.public_ip, "?")
        return (f"flannel {self.config.backend.type}: IPv6 lease {peer.ipv6_subnet} of {owner} "
                f"({peer.public_ipv6}){text}")

    def direct6(self, peer: Lease, ext: str, text: str = "") -> Route:
        key = ("direct6", id(peer), ext, text)
        hit = self._cache.get(key)
        if hit is None:
            assert peer.ipv6_subnet is not None
            hit = self._cache[key] = peer, Route(
                dst=peer.ipv6_subnet, via=peer.public_ipv6, dev=ext, proto="boot", origin=self._why6(peer, text))
        return hit[1]  # type: ignore[return-value]

    def direct(self, peer: Lease, ext: str, text: str = "") -> Route:
        key = ("direct", id(peer), ext, text)
        hit = self._cache.get(key)
        if hit is None:
            hit = self._cache[key] = peer, Route(
                dst=peer.subnet, via=peer.public_ip, dev=ext, proto="boot", origin=self._why(peer, text))
        return hit[1]  # type: ignore[return-value]

    def forward(self, peer: Lease, port: int) -> ForwarderEntry:
        key = ("udp", id(peer), port)
        hit = self._cache.get(key)
        if hit is None:
            hit = self._cache[key] = peer, ForwarderEntry(
                dst=peer.subnet, peer=peer.public_ip, port=port, origin=self._why(peer))
        return hit[1]  # type: ignore[return-value]


def ext_interface(root: NetNamespace, node: Node) -> str:
    """flanneld's external interface: the one holding the node's IP (``eth0`` by convention)."""
    for iface in root.interfaces.values():
        if any(a.ip == node.ip for a in iface.addresses):
            return iface.name
    return "eth0"


def _direct(root: NetNamespace, ip: IPv4Address | ipaddress.IPv6Address) -> bool:
    """flannel's ``ip.DirectRouting``: ``ip route get <ip>`` gives a route with no gateway."""
    route = lookup_route(root, ip)
    return route is not None and route.type == "unicast" and route.via is None


def program_backend(ctx: HostContext) -> None:
    {"vxlan": _vxlan, "host-gw": _host_gw, "udp": _udp}[ctx.config.backend.type](ctx)


def _skip_foreign(ctx: HostContext, peer: Lease, expected: str) -> bool:
    if peer.backend_type == expected:
        return False
    ctx.root.diagnostics.append(ctx.why(
        f"ignoring non-{expected} subnet {peer.subnet} of {peer.public_ip}: "
        f"type={peer.backend_type or ''}"))
    return True


def _vxlan(ctx: HostContext) -> None:
    be = ctx.config.backend
    assert be.vni is not None and be.port is not None
    dev = vxlan_device(be.vni)
    ctx.root.add_interface(Interface(
        name=dev, kind="vxlan", mtu=ctx.base_mtu - be.overhead, mac=ctx.lease.vtep_mac,
        addresses=[Address(ctx.lease.subnet.network_address, 32)],
        vxlan=VxlanInfo(vni=be.vni, local=ctx.node.ip, port=be.port, dev=ctx.ext, learning=False),
        origin=ctx.why(f"VTEP of lease {ctx.lease.subnet}, MTU {ctx.base_mtu} - 50"),
    ))
    # decide before writing: the routes written below never cover a PublicIP
    direct = {p.public_ip for p in ctx.peers if be.direct_routing and _direct(ctx.root, p.public_ip)}
    # written in one go at the end, in peer order (one write each to the counted lists)
    routes: list[Route] = []
    neighbors: list[Neighbor] = []
    fdbs: list[FdbEntry] = []
    for peer in ctx.peers:
        if _skip_foreign(ctx, peer, "vxlan"):
            continue
        if peer.vtep_mac is None:
            ctx.root.diagnostics.append(ctx.why(
                f"error decoding subnet lease JSON of {peer.subnet}: no VtepMAC; skipped"))
            continue
        if peer.public_ip in direct:
            routes.append(ctx.entries.direct(
                peer, ctx.ext, ": DirectRouting, on a connected network, no encapsulation"))
            continue
        route, neigh, fdb = ctx.entries.vxlan(peer, dev)
        neighbors.append(neigh)
        fdbs.append(fdb)
        routes.append(route)
    if ctx.config.ipv6 is not None:
        _vxlan6(ctx, routes, neighbors, fdbs)
    ctx.root.neighbors.extend(neighbors)
    ctx.root.fdb.extend(fdbs)
    ctx.root.routes.extend(routes)


def _vxlan6(ctx: HostContext, routes: list[Route], neighbors: list[Neighbor], fdbs: list[FdbEntry]) -> None:
    """``flannel-v6.<VNI>``: local = PublicIPv6, MTU = base - 50 as for the v4 device
    (device.go creates both with ``MTU - 50``), address = the v6 lease's network address/128,
    and the v6 triple (or a direct v6 route) per remote lease with an IPv6 subnet."""
    be = ctx.config.backend
    own6 = ctx.lease.ipv6_subnet
    assert be.vni is not None and be.port is not None
    assert own6 is not None and ctx.lease.public_ipv6 is not None
    dev = vxlan_v6_device(be.vni)
    # flanneld asks for base - 50 (device.go), but the kernel clamps a VXLAN device with an
    # IPv6 local address to its lower device's MTU - 70 (VXLAN6_HEADROOM) at creation: on a
    # 1500 link flannel-v6.1 gets 1430 (measured: `ip link add … mtu 1450 type vxlan local
    # <v6> dev eth0` shows mtu 1430, and a later `mtu 1450` is EINVAL).
    ext = ctx.root.interfaces.get(ctx.ext)
    asked = ctx.base_mtu - be.overhead
    mtu = min(asked, ext.mtu - VXLAN6_HEADROOM) if ext is not None else asked
    ctx.root.add_interface(Interface(
        name=dev, kind="vxlan", mtu=mtu, mac=ctx.lease.v6_vtep_mac,
        addresses=[Address(own6.network_address, 128)],
        vxlan=VxlanInfo(vni=be.vni, local=ctx.lease.public_ipv6, port=be.port, dev=ctx.ext, learning=False),
        origin=ctx.why(
            f"v6 VTEP of lease {own6}, local {ctx.lease.public_ipv6}, MTU {ctx.base_mtu} - 50"
            + (f", clamped by the kernel to {ctx.ext} MTU {ext.mtu} - 70 = {mtu}" if mtu != asked and ext else "")),
    ))
    peers = [p for p in ctx.peers if p.backend_type == "vxlan"]
    direct = {p.public_ipv6 for p in peers
              if be.direct_routing and p.public_ipv6 is not None and _direct(ctx.root, p.public_ipv6)}
    for peer in peers:
        if peer.ipv6_subnet is None or peer.public_ipv6 is None:
            continue  # a v4-only lease: handleSubnetEvents adds no v6 entries
        if peer.v6_vtep_mac is None:
            ctx.root.diagnostics.append(ctx.why(
                f"error decoding v6 subnet lease JSON of {peer.ipv6_subnet}: no VtepMAC; skipped"))
            continue
        if peer.public_ipv6 in direct:
            routes.append(ctx.entries.direct6(
                peer, ctx.ext, ": DirectRouting, on a connected network, no encapsulation"))
            continue
        route, neigh, fdb = ctx.entries.vxlan6(peer, dev)
        neighbors.append(neigh)
        fdbs.append(fdb)
        routes.append(route)


def _host_gw(ctx: HostContext) -> None:
    # the kernel accepts a gateway only on a network connected through the interface
    on_link = {p.public_ip for p in ctx.peers if connected_route(ctx.root, p.public_ip, ctx.ext)}
    for peer in ctx.peers:
        if _skip_foreign(ctx, peer, "host-gw"):
            continue
        if peer.public_ip in on_link:
            ctx.root.add_route(ctx.entries.direct(peer, ctx.ext))
            continue
        # RouteNetwork calls RouteAdd; the kernel answers EINVAL because the gateway is not
        # on a network connected through the interface; flanneld logs it and goes on.
        ctx.root.diagnostics.append(Diagnosis(ctx.why(
            f"route {peer.subnet} via {peer.public_ip} dev {ctx.ext} refused by the kernel "
            f"(Nexthop has invalid gateway): host-gw needs L2 adjacency: {peer.public_ip} is "
            f"not on a connected network of {ctx.node.name}"), peer.subnet))
    if ctx.config.ipv6 is not None:
        _host_gw6(ctx)


def _host_gw6(ctx: HostContext) -> None:
    """hostgw.go with EnableIPv6: ``<v6 subnet> via <PublicIPv6> dev <ext>`` per remote lease."""
    for peer in ctx.peers:
        if peer.backend_type != "host-gw" or peer.ipv6_subnet is None or peer.public_ipv6 is None:
            continue
        if connected_route(ctx.root, peer.public_ipv6, ctx.ext):
            ctx.root.add_route(ctx.entries.direct6(peer, ctx.ext))
            continue
        ctx.root.diagnostics.append(Diagnosis(ctx.why(
            f"route {peer.ipv6_subnet} via {peer.public_ipv6} dev {ctx.ext} refused by the kernel "
            f"(Nexthop has invalid gateway): host-gw needs L2 adjacency: {peer.public_ipv6} is "
            f"not on a connected network of {ctx.node.name}"), peer.ipv6_subnet))


def _udp(ctx: HostContext) -> None:
    be = ctx.config.backend
    assert be.port is not None
    ctx.root.add_interface(Interface(
        name=TUN, kind="tun", mtu=ctx.base_mtu - be.overhead,
        addresses=[Address(ctx.lease.subnet.network_address, 32)], tun=TunInfo(forwarder=FORWARDER),
        origin=ctx.why(f"TUN of lease {ctx.lease.subnet}, MTU {ctx.base_mtu} - 28"),
    ))
    ctx.root.add_route(Route(
        dst=ctx.config.network, dev=TUN, proto="boot",
        origin=ctx.why(f"the whole flannel network {ctx.config.network} into the TUN"),
    ))
    ctx.root.forwarders[FORWARDER] = Forwarder(
        name=FORWARDER, tun=TUN, port=be.port, framing_bytes=0,
        table=[ctx.entries.forward(p, be.port) for p in ctx.peers],
        origin=ctx.why(f"userspace proxy on UDP {be.port}: the inner IP packet is the payload"),
        ttl_decrement=1,  # proxy_amd64.c decrement_ttl() in tun_to_udp and udp_to_tun
    )
