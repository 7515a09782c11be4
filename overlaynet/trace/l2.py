"""Link-layer resolution: who answers ARP for a next hop on an egress device, and the path
(veth crossings, bridge forwarding) a frame takes to reach it.

An L2 domain is a veth's peer, a bridge with its ports (each port's veth peer), or an
underlay segment with its phys ports. The answer is the interface owning the address, else
one with ``proxy_arp``; a permanent neighbour entry's MAC is matched first when set.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from overlaynet.dataplane.ir import (
    Dataplane,
    Forwarder,
    FrameRoute,
    Interface,
    L2Segment,
    NetNamespace,
    NsRef,
)
from overlaynet.dataplane.lookup import find_fdb, find_neighbor, lookup_route
from overlaynet.model.base import IPAddress

__all__ = ["Crossing", "L2Answer", "Member", "bridge_station", "frame_forwarder", "resolve"]


@dataclass(frozen=True, slots=True)
class Crossing:
    """One element of an L2 path: across a veth pair, or through a bridge (ports named)."""

    kind: str  # "veth" | "bridge"
    ns: NsRef  # where the element sits (veth: the sending end)
    dev: str  # veth: sending end; bridge: the bridge
    to_ns: NsRef | None = None  # veth: receiving end
    to_dev: str | None = None  # veth: receiving end; bridge: out port (None = the bridge itself)
    in_port: str | None = None  # bridge: in port


@dataclass(frozen=True, slots=True)
class Member:
    """A station of an L2 domain and the path to it."""

    ns: NsRef
    iface: Interface
    path: tuple[Crossing, ...]


@dataclass(frozen=True, slots=True)
class L2Answer:
    """The result of resolving ``ip`` on a device.

    ``member`` set: a station in the domain answers. ``vxlan_port`` set: a bridge FDB entry
    sends the MAC out a VXLAN port (then ``lladdr`` is the MAC to look up on it).
    ``forwarder`` set: a bridge port leads to a frame forwarder whose table knows the station
    (namespace, forwarder name, path to its device, the entry). None of them: unreachable,
    ``reason`` says why.
    """

    how: str  # "table" | "arp" | "proxy_arp" | "fdb" | "failed"
    lladdr: str | None
    member: Member | None = None
    vxlan_port: tuple[NsRef, str, tuple[Crossing, ...]] | None = None
    forwarder: tuple[NsRef, str, tuple[Crossing, ...], FrameRoute] | None = None
    reason: str = ""
    origin: str = ""


def _bridge_members(dp: Dataplane, ns: NetNamespace, bridge: str, in_port: str | None, path: tuple[Crossing, ...]) -> Iterator[Member]:
    """The bridge itself, then the veth peer of each other port (lazily: a caller that finds
    its station early does not visit every pod namespace behind the bridge)."""
    yield Member(ns.ref, ns.interfaces[bridge], (*path, Crossing("bridge", ns.ref, bridge, in_port=in_port)))
    for port in ns.interfaces.values():
        if port.master != bridge or port.name == in_port or port.kind != "veth" or port.peer is None:
            continue
        peer_ref, peer_name = port.peer
        peer = dp.namespace(peer_ref).interfaces.get(peer_name)
        if peer is None:
            continue
        yield Member(
            peer_ref,
            peer,
            (
                *path,
                Crossing("bridge", ns.ref, bridge, to_dev=port.name, in_port=in_port),
                Crossing("veth", ns.ref, port.name, peer_ref, peer_name),
            ),
        )


def _domain(dp: Dataplane, ns: NetNamespace, iface: Interface) -> Iterator[Member]:
    """Every station reachable at L2 from ``iface`` (not counting ``iface`` itself)."""
    if iface.kind == "bridge":
        members = _bridge_members(dp, ns, iface.name, None, ())
        next(members)  # the bridge's own stack is where the frame comes from
        yield from members
    elif iface.kind == "veth" and iface.peer is not None:
        peer_ref, peer_name = iface.peer
        peer_ns = dp.namespace(peer_ref)
        peer = peer_ns.interfaces.get(peer_name)
        if peer is None:
            return
        hop = (Crossing("veth", ns.ref, iface.name, peer_ref, peer_name),)
        if peer.master is not None and peer.master in peer_ns.interfaces:
            yield from _bridge_members(dp, peer_ns, peer.master, peer_name, hop)
        else:
            yield Member(peer_ref, peer, hop)


def _segment_members(dp: Dataplane, seg: L2Segment, ip: IPAddress, me: tuple[NsRef, str]) -> Iterator[Member]:
    """The stations of a segment: the directory's owner of ``ip`` first (builds only that
    host), then the ports of hosts already built (addresses a driver added later)."""
    seen: set[tuple[NsRef, str]] = {me}
    hint = seg.directory.get(ip)
    if hint is not None and hint not in seen:
        seen.add(hint)
        iface = dp.namespace(hint[0]).interfaces.get(hint[1])
        if iface is not None:
            yield Member(hint[0], iface, ())
    for ref, name in seg.ports:
        if (ref, name) in seen or ref.host not in dp.built_hosts:
            continue
        seen.add((ref, name))
        iface = dp.namespaces[ref].interfaces.get(name) if ref in dp.namespaces else None
        if iface is not None:
            yield Member(ref, iface, ())


def _proxies(dp: Dataplane, m: Member, ip: IPAddress) -> bool:
    """Does ``m``'s kernel answer ARP for ``ip`` by proxy? Only when it has a route to
    ``ip`` that leaves by another device (the kernel's arp_fwd_proxy): a Calico host without
    a default route never answers its pods for 169.254.1.1 (projectcalico/calico#3270)."""
    route = lookup_route(dp.namespace(m.ns), ip)
    return route is not None and route.type == "unicast" and route.dev not in (None, m.iface.name)


def _answer(dp: Dataplane, members: Iterator[Member], ip: IPAddress, lladdr: str | None) -> tuple[Member, str] | None:
    """The first station owning ``ip`` (or, with a neighbour entry, carrying its MAC); else
    the first with proxy ARP that has a route to ``ip`` out of another device."""
    proxy: Member | None = None
    wanted = lladdr.lower() if lladdr is not None else None
    for m in members:
        if wanted is not None and m.iface.mac is not None and m.iface.mac.lower() == wanted:
            return m, "table"
        if m.iface.up and any(a.ip == ip for a in m.iface.addresses):
            return m, "table" if lladdr is not None else "arp"
        if proxy is None and m.iface.up and m.iface.proxy_arp and m.iface.kind != "bridge" and _proxies(dp, m, ip):
            proxy = m
    return (proxy, "proxy_arp") if proxy is not None else None


def resolve(dp: Dataplane, ns: NetNamespace, dev: str, ip: IPAddress) -> L2Answer:
    """Resolve next hop ``ip`` on ``dev`` of ``ns`` (a veth, bridge or phys device)."""
    iface = ns.interfaces[dev]
    neigh = find_neighbor(ns, ip, dev)
    if neigh is not None and neigh.state == "FAILED":
        return L2Answer("failed", None, reason=f"neighbour entry {ip} dev {dev} is FAILED", origin=neigh.origin)
    lladdr = neigh.lladdr if neigh is not None else None
    origin = neigh.origin if neigh is not None else ""
    if iface.kind == "phys":
        seg = dp.segments.get(iface.segment or "")
        if seg is None:
            return L2Answer("failed", lladdr, reason=f"{dev} is not plugged into a segment", origin=origin)
        members: Iterator[Member] = _segment_members(dp, seg, ip, (ns.ref, dev))
    else:
        members = _domain(dp, ns, iface)
    hit = _answer(dp, members, ip, lladdr)
    if hit is not None:
        member, how = hit
        mac = lladdr or member.iface.mac
        return L2Answer(how, mac, member=member, origin=origin)
    # A bridge with a VXLAN port (Docker overlay's br0 + vxlan0): the MAC (from the sender's
    # neighbour table, or answered by the VXLAN port's own table: libnetwork sets "proxy")
    # leaves by that port when its FDB knows the remote VTEP.
    bridge_ns, bridge, path = _bridge_of(dp, ns, iface)
    if bridge_ns is not None and bridge is not None:
        for port in bridge_ns.interfaces.values():
            if port.master != bridge or port.kind != "vxlan":
                continue
            mac, how, why = lladdr, "fdb", origin
            if mac is None:
                proxied = find_neighbor(bridge_ns, ip, port.name)
                if proxied is None or proxied.lladdr is None:
                    continue
                mac, how, why = proxied.lladdr, "proxy_arp", proxied.origin
            entry = find_fdb(bridge_ns, mac, port.name)
            if entry is not None:
                in_port = path[-1].to_dev if path else None
                cross = Crossing("bridge", bridge_ns.ref, bridge, to_dev=port.name, in_port=in_port)
                return L2Answer(how, mac, vxlan_port=(bridge_ns.ref, port.name, (*path, cross)), origin=why or entry.origin)
        found = _forwarder_port(dp, bridge_ns, bridge, path, ip, lladdr)
        if found is not None:
            return found
    where = f"segment {iface.segment}" if iface.kind == "phys" else f"the L2 domain of {dev}"
    return L2Answer("failed", lladdr, reason=f"no station on {where} answers ARP for {ip}", origin=origin)


def frame_forwarder(ns: NetNamespace, dev: str) -> Forwarder | None:
    """The frame forwarder capturing on ``dev`` of ``ns``, if any."""
    for fw in ns.forwarders.values():
        if fw.frames and fw.tun == dev:
            return fw
    return None


def _forwarder_port(
    dp: Dataplane, ns: NetNamespace, bridge: str, path: tuple[Crossing, ...], ip: IPAddress, lladdr: str | None
) -> L2Answer | None:
    """A bridge port whose veth peer is captured by a frame forwarder that knows ``ip``: the
    ARP request is carried to the station's host and its answer comes back (the forwarder
    learned the station's MAC)."""
    in_port = path[-1].to_dev if path else None
    for port in ns.interfaces.values():
        if port.master != bridge or port.kind != "veth" or port.peer is None or port.name == in_port:
            continue
        peer_ref, peer_name = port.peer
        fw = frame_forwarder(dp.namespace(peer_ref), peer_name)
        if fw is None:
            continue
        entry = fw.station(lladdr, ip)
        if entry is not None and entry.unreachable:
            return L2Answer("failed", lladdr, reason=f"frame forwarder {fw.name}: {entry.unreachable}", origin=entry.origin)
        if entry is None or entry.peer is None:
            continue
        hops = (
            *path,
            Crossing("bridge", ns.ref, bridge, to_dev=port.name, in_port=in_port),
            Crossing("veth", ns.ref, port.name, peer_ref, peer_name),
        )
        how = "table" if lladdr is not None else "arp"
        return L2Answer(how, entry.mac, forwarder=(peer_ref, fw.name, hops, entry), origin=entry.origin)
    return None


def _bridge_of(dp: Dataplane, ns: NetNamespace, iface: Interface) -> tuple[NetNamespace | None, str | None, tuple[Crossing, ...]]:
    if iface.kind == "bridge":
        return ns, iface.name, ()
    if iface.kind == "veth" and iface.peer is not None:
        peer_ns = dp.namespace(iface.peer[0])
        peer = peer_ns.interfaces.get(iface.peer[1])
        if peer is not None and peer.master is not None:
            return peer_ns, peer.master, (Crossing("veth", ns.ref, iface.name, iface.peer[0], iface.peer[1]),)
    return None, None, ()


def bridge_station(dp: Dataplane, ns: NetNamespace, bridge: str, in_port: str, ip: IPAddress, mac: str | None) -> Member | None:
    """Where a bridge sends a frame that came in on ``in_port`` (a decapsulated VXLAN port):
    the station with the frame's destination MAC, else the one owning ``ip``."""
    members = list(_bridge_members(dp, ns, bridge, in_port, ()))
    if mac is not None:
        for m in members:
            if m.iface.mac is not None and m.iface.mac.lower() == mac.lower():
                return m
    hit = _answer(dp, iter(members), ip, None)
    return hit[0] if hit is not None else None
