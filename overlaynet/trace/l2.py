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
from overlaynet.dataplane.lookup import cached, find_fdb, find_neighbor, iface_stamp, lookup_route
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


@dataclass(frozen=True, slots=True)
class _Port:
    """A bridge port that is a veth, and the station at its peer end."""

    name: str
    peer_ref: NsRef
    peer_name: str
    peer: Interface


@dataclass(frozen=True, slots=True)
class _BridgeIndex:
    """The stations behind one bridge's veth ports, in port order, indexed by what ARP asks:
    positions of the ports whose station carries a MAC (any state) or owns an address (up),
    and of those that may answer by proxy. Built once per change of any interface instead
    of visiting every pod namespace behind the bridge on every lookup."""

    ports: tuple[_Port, ...]
    by_mac: dict[str, tuple[int, ...]]
    by_ip: dict[IPAddress, tuple[int, ...]]
    proxies: tuple[int, ...]

    @classmethod
    def build(cls, dp: Dataplane, ns: NetNamespace, bridge: str) -> _BridgeIndex:
        ports: list[_Port] = []
        by_mac: dict[str, list[int]] = {}
        by_ip: dict[IPAddress, list[int]] = {}
        proxies: list[int] = []
        for port in ns.interfaces.values():
            if port.master != bridge or port.kind != "veth" or port.peer is None:
                continue
            peer_ref, peer_name = port.peer
            peer = dp.namespace(peer_ref).interfaces.get(peer_name)
            if peer is None:
                continue
            at = len(ports)
            ports.append(_Port(port.name, peer_ref, peer_name, peer))
            if peer.mac is not None:
                by_mac.setdefault(peer.mac.lower(), []).append(at)
            if peer.up:
                for ip in dict.fromkeys(a.ip for a in peer.addresses):
                    by_ip.setdefault(ip, []).append(at)
                if peer.proxy_arp and peer.kind != "bridge":
                    proxies.append(at)
        return cls(
            tuple(ports),
            {k: tuple(v) for k, v in by_mac.items()},
            {k: tuple(v) for k, v in by_ip.items()},
            tuple(proxies),
        )


def _bridge_index(dp: Dataplane, ns: NetNamespace, bridge: str) -> _BridgeIndex:
    return cached(ns, f"bridge:{bridge}", iface_stamp(ns), lambda: _BridgeIndex.build(dp, ns, bridge))


def _first(positions: tuple[int, ...], ports: tuple[_Port, ...], in_port: str | None) -> int | None:
    for at in positions:
        if ports[at].name != in_port:
            return at
    return None


class _Bridge:
    """One bridge as an L2 domain seen from ``in_port`` (None: from the bridge's own stack),
    reached by ``path``; ``with_self``: the bridge's own interface is a station too."""

    def __init__(self, dp: Dataplane, ns: NetNamespace, bridge: str, in_port: str | None, path: tuple[Crossing, ...], with_self: bool) -> None:
        self.dp, self.ns, self.bridge, self.in_port, self.path = dp, ns, bridge, in_port, path
        self.with_self = with_self
        self.index = _bridge_index(dp, ns, bridge)

    def self_member(self) -> Member:
        return Member(self.ns.ref, self.ns.interfaces[self.bridge], (*self.path, Crossing("bridge", self.ns.ref, self.bridge, in_port=self.in_port)))

    def member(self, at: int) -> Member:
        port = self.index.ports[at]
        return Member(
            port.peer_ref,
            port.peer,
            (
                *self.path,
                Crossing("bridge", self.ns.ref, self.bridge, to_dev=port.name, in_port=self.in_port),
                Crossing("veth", self.ns.ref, port.name, port.peer_ref, port.peer_name),
            ),
        )

    def members(self) -> Iterator[Member]:
        if self.with_self:
            yield self.self_member()
        for at, port in enumerate(self.index.ports):
            if port.name != self.in_port:
                yield self.member(at)

    def with_mac(self, mac: str) -> Member | None:
        """The first station (in ``members`` order) whose MAC is ``mac``."""
        if self.with_self:
            me = self.ns.interfaces[self.bridge]
            if me.mac is not None and me.mac.lower() == mac:
                return self.self_member()
        at = _first(self.index.by_mac.get(mac, ()), self.index.ports, self.in_port)
        return self.member(at) if at is not None else None

    def answer(self, ip: IPAddress, lladdr: str | None) -> tuple[Member, str] | None:
        """``_answer`` over ``members()``, by index: the same station in the same order."""
        wanted = lladdr.lower() if lladdr is not None else None
        if self.with_self:
            me = self.ns.interfaces[self.bridge]
            if wanted is not None and me.mac is not None and me.mac.lower() == wanted:
                return self.self_member(), "table"
            if me.up and any(a.ip == ip for a in me.addresses):
                return self.self_member(), "table" if lladdr is not None else "arp"
        ports = self.index.ports
        by_mac = _first(self.index.by_mac.get(wanted, ()), ports, self.in_port) if wanted is not None else None
        by_ip = _first(self.index.by_ip.get(ip, ()), ports, self.in_port)
        if by_mac is not None and (by_ip is None or by_mac <= by_ip):
            return self.member(by_mac), "table"
        if by_ip is not None:
            return self.member(by_ip), "table" if lladdr is not None else "arp"
        # the bridge's own interface is never a proxy (its kind is "bridge")
        for at in self.index.proxies:
            if ports[at].name != self.in_port:
                m = self.member(at)
                if _proxies(self.dp, m, ip):
                    return m, "proxy_arp"
        return None


def _domain(dp: Dataplane, ns: NetNamespace, iface: Interface) -> _Bridge | Iterator[Member]:
    """Every station reachable at L2 from ``iface`` (not counting ``iface`` itself): a bridge
    domain (indexed), or the one station at a veth's peer end."""
    if iface.kind == "bridge":
        return _Bridge(dp, ns, iface.name, None, (), with_self=False)
    if iface.kind == "veth" and iface.peer is not None:
        peer_ref, peer_name = iface.peer
        peer_ns = dp.namespace(peer_ref)
        peer = peer_ns.interfaces.get(peer_name)
        if peer is None:
            return iter(())
        hop = (Crossing("veth", ns.ref, iface.name, peer_ref, peer_name),)
        if peer.master is not None and peer.master in peer_ns.interfaces:
            return _Bridge(dp, peer_ns, peer.master, peer_name, hop, with_self=True)
        return iter((Member(peer_ref, peer, hop),))
    return iter(())


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
        hit = _answer(dp, members, ip, lladdr)
    else:
        domain = _domain(dp, ns, iface)
        hit = domain.answer(ip, lladdr) if isinstance(domain, _Bridge) else _answer(dp, domain, ip, lladdr)
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
    domain = _Bridge(dp, ns, bridge, in_port, (), with_self=True)
    if mac is not None:
        found = domain.with_mac(mac.lower())
        if found is not None:
            return found
    hit = domain.answer(ip, None)
    return hit[0] if hit is not None else None
