"""Egress by device kind and the tunnels: veth/bridge crossing, the underlay segments, VXLAN,
IP-in-IP and TUN + userspace forwarder encapsulation, and decapsulation at the far end.

Called by the walker (``walker.py``) once a packet has a route and has passed the MTU check.
"""

from __future__ import annotations

from collections.abc import Callable

from overlaynet.dataplane.ir import (
    Forwarder,
    ForwarderEntry,
    FrameRoute,
    Interface,
    NetNamespace,
    NsRef,
    Route,
)
from overlaynet.dataplane.lookup import (
    connected_route,
    find_fdb,
    find_neighbor,
    lookup_route,
    select_source,
)
from overlaynet.dataplane.packet import Packet
from overlaynet.model.base import IPAddress
from overlaynet.trace.encap import (
    ETHERNET,
    esp_transport_bytes,
    flow_source_port,
    ip_header,
    outer_layers,
    overhead,
)
from overlaynet.trace.flight import Flight, Path
from overlaynet.trace.l2 import Crossing, L2Answer, bridge_station, resolve
from overlaynet.trace.model import Disposition, Encapsulation, Trace
from overlaynet.trace.steps import (
    BridgeStep,
    DecapStep,
    EncapStep,
    ForwardStep,
    NeighborStep,
    Port,
    RelayStep,
    UnderlayStep,
)

__all__ = ["send_on_device", "try_decap"]


def _unreachable(f: Flight, reason: str, dev: str, origin: str = "") -> list[Trace]:
    return [f.drop(Disposition.NEIGHBOR_UNREACHABLE, reason, dev=dev, origin=origin)]


def send_on_device(w: Path, f: Flight, ns: NetNamespace, iface: Interface, route: Route, nexthop: IPAddress) -> list[Trace]:
    kind = iface.kind
    if kind == "loopback":
        return w.deliver(f, iface.name)
    if kind == "dummy":
        reason = f"{iface.name} is a dummy device: it discards what it is given"
        return [f.drop(Disposition.NULL_ROUTED, reason, dev=iface.name)]
    if kind == "phys":
        return _send_phys(w, f, ns, iface, nexthop)
    if kind in ("veth", "bridge"):
        return _send_l2(w, f, ns, iface, nexthop)
    if kind == "vxlan":
        neigh = find_neighbor(ns, nexthop, iface.name)
        if neigh is None or neigh.lladdr is None:
            reason = f"no neighbour entry for {nexthop} on VXLAN device {iface.name} (learning is off: nobody answers ARP there)"
            return _unreachable(f, reason, iface.name)
        step = NeighborStep(nexthop, iface.name, neigh.lladdr, "table", None, neigh.origin)
        return _vxlan_encap(w, f.add(step), ns, iface, neigh.lladdr)
    if kind == "ipip":
        remote = iface.ipip.remote if iface.ipip is not None and iface.ipip.remote is not None else route.via
        if remote is None:
            return _unreachable(f, f"{iface.name} is a tunnel with no fixed remote and the route gives no gateway", iface.name)
        local = iface.ipip.local if iface.ipip is not None else None
        return _encap(w, f, ns, iface, "ipip", local, remote, None, None, None, 0, route.origin)
    if kind == "tun":
        return _send_tun(w, f, ns, iface)
    reason = f"cannot transmit on {iface.name} of kind {kind}"
    return [f.drop(Disposition.NO_ROUTE, reason, dev=iface.name)]


def _neighbor_step(nexthop: IPAddress, dev: str, ans: L2Answer) -> NeighborStep:
    who = f"{ans.member.ns}:{ans.member.iface.name}" if ans.member is not None else None
    return NeighborStep(nexthop, dev, ans.lladdr, ans.how, who, ans.origin)


def _send_phys(w: Path, f: Flight, ns: NetNamespace, iface: Interface, nexthop: IPAddress) -> list[Trace]:
    seg = w.dp.segments.get(iface.segment or "")
    if seg is None:
        g = f.wire(f"{iface.name} (to the outside)", iface.mac).add(ForwardStep(iface.name, "outside the topology", "uplink"))
        reason = f"leaves the topology through {ns.ref}'s {iface.name}"
        return [g.end(Disposition.EXITS_NETWORK, reason)]
    ans = resolve(w.dp, ns, iface.name, nexthop)
    if ans.member is None:
        return _unreachable(f, ans.reason, iface.name, ans.origin)
    member = ans.member
    g = f.add(_neighbor_step(nexthop, iface.name, ans)).wire(f"segment {seg.name}", iface.mac, ans.lladdr)
    frames = tuple(size + ETHERNET for size in f.pieces())
    out, into = Port(ns.ref, iface.name), Port(member.ns, member.iface.name)
    g = g.add(UnderlayStep(seg.name, seg.mtu, str(out), str(into), max(frames), frames, (out, into)))
    return w.receive(g.enter(member.ns), member.iface.name)


def _walk_path(f: Flight, path: tuple[Crossing, ...], mac: str | None) -> Flight:
    g = f
    for c in path:
        if c.kind == "veth" and c.to_ns is not None and c.to_dev is not None:
            g = g.wire(f"veth {c.ns}:{c.dev} → {c.to_ns}:{c.to_dev}", None, mac)
            peer = Port(c.to_ns, c.to_dev)
            g = g.add(ForwardStep(c.dev, str(peer), "veth", peer))
            if c.to_ns != g.ns:
                g = g.enter(c.to_ns)
        elif c.kind == "bridge":
            if c.to_dev is None:
                g = g.wire(f"bridge {c.dev}", None, mac)
            g = g.add(BridgeStep(c.dev, c.in_port or "(host stack)", c.to_dev, mac, "local" if c.to_dev is None else "fdb"))
    return g


def _send_l2(w: Path, f: Flight, ns: NetNamespace, iface: Interface, nexthop: IPAddress) -> list[Trace]:
    ans = resolve(w.dp, ns, iface.name, nexthop)
    if ans.member is None and ans.vxlan_port is None and ans.forwarder is None:
        return _unreachable(f, ans.reason, iface.name, ans.origin)
    g = f.add(_neighbor_step(nexthop, iface.name, ans))
    if ans.vxlan_port is not None and ans.lladdr is not None:
        ref, port, path = ans.vxlan_port
        g = _walk_path(g, path, ans.lladdr)
        port_ns = w.dp.namespace(ref)
        return _vxlan_encap(w, g, port_ns, port_ns.interfaces[port], ans.lladdr)
    if ans.forwarder is not None:
        ref, name, path, entry = ans.forwarder
        fw_ns = w.dp.namespace(ref)
        fw = fw_ns.forwarders[name]

        def captured(h: Flight) -> list[Trace]:
            h = h.add(ForwardStep(fw.tun, f"frame forwarder {fw.name}, next hop {entry.peer}: {entry.origin}", "capture"))
            return _frame_encap(w, h, fw_ns, fw, entry, fw.ident)

        return _cross(w, g, path, entry.mac, captured)
    assert ans.member is not None
    member = ans.member
    return _cross(w, g, member.path, ans.lladdr, lambda h: w.receive(h, member.iface.name))


def _cross(w: Path, f: Flight, path: tuple[Crossing, ...], mac: str | None, then: Callable[[Flight], list[Trace]]) -> list[Trace]:
    """Walk an L2 ``path``, then ``then``. A frame a bridge forwards from one port to another:
    with br_netfilter (which Kubernetes requires) the IPv4 packet crosses iptables in the
    bridge's namespace on the way."""
    cut = next((i for i, c in enumerate(path) if c.kind == "bridge" and c.in_port is not None and c.to_dev is not None), None)
    if cut is None:
        return then(_walk_path(f, path, mac))
    bridge, rest = path[cut].dev, path[cut + 1:]
    g = _walk_path(f, path[: cut + 1], mac)
    ports = (path[cut].in_port, path[cut].to_dev)
    return w.bridged(g, bridge, lambda h: then(_walk_path(h, rest, mac)), ports)


def _frame_encap(w: Path, f: Flight, ns: NetNamespace, fw: Forwarder, entry: FrameRoute, src_ident: int | None) -> list[Trace]:
    """A frame forwarder sends a frame for ``entry`` to its next hop, encapsulated as the
    entry says (VXLAN with the forwarder's tunnel key, or UDP with its own framing)."""
    assert entry.peer is not None
    vni = None
    if entry.encap == "vxlan" and src_ident is not None and entry.dst_ident is not None:
        vni = (src_ident << fw.key_shifts[0]) | (entry.dst_ident << fw.key_shifts[1])
    sport = entry.sport if entry.sport is not None else flow_source_port(f.packet, w.seed)
    iface = ns.interfaces[fw.tun]
    g = f.wire(f"{fw.name} {entry.encap} frame", iface.mac, entry.mac)
    # an IPsec policy of the namespace may wrap the tunnel's UDP datagram in ESP (transport
    # mode): Weave's encrypted fastdp (net/ipsec)
    policy = next((x for x in ns.xfrm if x.selects(entry.peer, entry.port, None)), None)
    if policy is None:
        return _encap(w, g, ns, iface, entry.encap, None, entry.peer, sport, entry.port, vni, entry.framing_bytes,
                      entry.origin, inner_dst_mac=entry.mac, tag=src_ident, df=entry.df, cipher=entry.cipher)
    # the largest tunnel packet's datagram: one per fragment when the frame is an IP fragment
    datagram = max(g.pieces()) + overhead(entry.encap, entry.peer.version, entry.framing_bytes) - ip_header(entry.peer.version)
    esp = esp_transport_bytes(datagram, icv=policy.icv)
    cipher = f"IPsec ESP transport, AES-GCM ICV {policy.icv} (SPI {policy.spi:#x}; {policy.origin})"
    return _encap(w, g, ns, iface, entry.encap, None, entry.peer, sport, entry.port, vni, entry.framing_bytes,
                  entry.origin, inner_dst_mac=entry.mac, tag=src_ident, df=entry.df, cipher=cipher,
                  cipher_bytes=esp, esp_icv=policy.icv)


def _frame_receive(w: Path, f: Flight, ns: NetNamespace, fw: Forwarder, in_iface: str) -> list[Trace]:
    """A frame forwarder takes a tunnel packet: the frame is injected into its device when the
    station is local, else relayed toward the station's host."""
    enc, inner, inner_frag = f.stack[-1]
    p = f.packet
    pieces = len(f.pieces()) if f.frag_mtu else 1
    g = f.evolve(packet=inner, stack=f.stack[:-1], frag_mtu=inner_frag).add(
        DecapStep(enc.kind, f"{fw.tun} ({fw.name})", enc.vni, p.src, p.dst, pieces, len(f.datagrams())))
    entry = fw.station(enc.inner_dst_mac, inner.dst)
    if entry is None:
        reason = f"frame forwarder {fw.name} knows no station {enc.inner_dst_mac or inner.dst}: it drops the frame"
        return _unreachable(g, reason, fw.tun, fw.origin)
    if entry.peer is not None:
        station = f"{entry.mac} ({entry.ip})" if entry.ip is not None else entry.mac
        g = g.add(RelayStep(fw.name, station, entry.peer, entry.relay or entry.origin))
        return _frame_encap(w, g, ns, fw, entry, enc.tag)
    dev = ns.interfaces[fw.tun]
    if dev.peer is None:
        return w.receive(g, fw.tun)
    peer_ref, peer_name = dev.peer
    port = w.dp.namespace(peer_ref).interfaces.get(peer_name)
    hop = Crossing("veth", ns.ref, fw.tun, peer_ref, peer_name)
    if port is None or port.master is None:
        return w.receive(_walk_path(g, (hop,), entry.mac), peer_name)
    member = bridge_station(w.dp, w.dp.namespace(peer_ref), port.master, peer_name, inner.dst, entry.mac)
    if member is None:
        reason = f"bridge {port.master} has no port for {entry.mac} (frame injected by {fw.name})"
        return _unreachable(g, reason, fw.tun, entry.origin)
    return _cross(w, g, (hop, *member.path), entry.mac, lambda h: w.receive(h, member.iface.name))


def _vxlan_encap(w: Path, f: Flight, ns: NetNamespace, iface: Interface, mac: str) -> list[Trace]:
    vx = iface.vxlan
    if vx is None:
        return _unreachable(f, f"{iface.name} has no VXLAN parameters", iface.name)
    entry = find_fdb(ns, mac, iface.name)
    if entry is None or entry.dst is None:
        reason = f"no FDB entry for {mac} on {iface.name}: the VXLAN device does not know the remote VTEP"
        return _unreachable(f, reason, iface.name)
    too_big = _bridged_pmtu(w, f, ns, iface, entry.dst)
    if too_big is not None:
        return [too_big]
    vni = entry.vni if entry.vni is not None else vx.vni
    sport = flow_source_port(f.packet, w.seed)
    g = f.wire(f"vxlan {iface.name}", iface.mac, mac)
    enc_origin = entry.origin
    # an IPsec policy of the namespace the device's socket sends from may wrap the UDP
    # datagram in ESP (transport mode): Docker's encrypted overlay networks
    sender = w.dp.namespace(vx.link_ns) if vx.link_ns is not None else ns
    policy = next((x for x in sender.xfrm if x.selects(entry.dst, vx.port, vni)), None)
    if policy is None:
        return _encap(w, g, ns, iface, "vxlan", vx.local, entry.dst, sport, vx.port, vni, 0, enc_origin, inner_dst_mac=mac)
    datagram = max(g.pieces()) + overhead("vxlan", entry.dst.version) - ip_header(entry.dst.version)
    esp = esp_transport_bytes(datagram, icv=policy.icv)
    cipher = f"IPsec ESP transport, AES-GCM ICV {policy.icv} (SPI {policy.spi:#x}; {policy.origin})"
    return _encap(w, g, ns, iface, "vxlan", vx.local, entry.dst, sport, vx.port, vni, 0, enc_origin, inner_dst_mac=mac,
                  cipher=cipher, cipher_bytes=esp, esp_icv=policy.icv)


def _bridged_pmtu(w: Path, f: Flight, ns: NetNamespace, iface: Interface, remote: IPAddress) -> Trace | None:
    """The kernel's PMTU check of a bridged tunnel (``skb_tunnel_check_pmtu`` with
    ``reply``, Linux >= 5.9): a DF inner packet bigger than the route to the remote VTEP
    minus the encapsulation is not sent; the VXLAN driver builds the ICMP fragmentation
    needed itself, from the inner destination's address, and hands it back into the bridge.
    Without DF the packet is encapsulated and the outer packet fragmented."""
    p = f.packet
    if iface.master is None or not p.df or iface.vxlan is None:
        return None
    sender = w.dp.namespace(iface.vxlan.link_ns) if iface.vxlan.link_ns is not None else ns
    route = lookup_route(sender, remote)
    if route is None:
        return None
    dev = route.dev
    if dev is None and route.via is not None:
        conn = connected_route(sender, route.via, None)
        dev = conn.dev if conn is not None else None
    out = sender.interfaces.get(dev or "")
    if out is None:
        return None
    room = out.mtu - overhead("vxlan", remote.version)
    if p.size <= room:
        return None
    reason = (
        f"the {p.size}-byte packet with DF set does not fit the tunnel to VTEP {remote}: MTU {out.mtu} of "
        f"{out.name} in {sender.ref} minus {out.mtu - room} bytes of VXLAN leaves {room} (the {iface.name} MTU "
        f"{iface.mtu} ignores the underlay); {iface.name} is a port of bridge {iface.master}, so the kernel's VXLAN "
        f"driver answers ICMP fragmentation needed, mtu {room}, from {p.dst} (the inner destination) back through "
        f"{iface.master} to {p.src}, whose kernel then caches path MTU {room} (the next DF send fails with EMSGSIZE); "
        f"kernels before 5.9, or ICMP filtered on the way back, drop it silently"
    )
    return f.drop(Disposition.FRAG_NEEDED, reason, dev=iface.name, size=p.size, mtu=room, origin=iface.origin,
                  icmp_from=p.dst)


def _send_tun(w: Path, f: Flight, ns: NetNamespace, iface: Interface) -> list[Trace]:
    fw = ns.forwarders.get(iface.tun.forwarder) if iface.tun is not None else None
    if fw is None:
        reason = f"TUN {iface.name} has no userspace forwarder attached"
        return [f.drop(Disposition.NO_ROUTE, reason, dev=iface.name)]
    dst = f.packet.dst
    best: ForwarderEntry | None = None
    for e in fw.table:
        if e.dst.version == dst.version and dst in e.dst and (best is None or e.dst.prefixlen > best.dst.prefixlen):
            best = e
    g = f.add(ForwardStep(iface.name, f"userspace forwarder {fw.name}", "tun"))
    if best is None:
        reason = f"forwarder {fw.name} has no peer for {dst} (it answers ICMP net unreachable)"
        return [g.drop(Disposition.NO_ROUTE, reason, dev=iface.name, origin=fw.origin)]
    g, expired = _forwarder_ttl(g, fw.name, fw.ttl_decrement, iface.name, "sends")
    if expired is not None:
        return [expired]
    return _encap(w, g, ns, iface, "udp", None, best.peer, fw.port, best.port, None, fw.framing_bytes, best.origin)


def _forwarder_ttl(f: Flight, name: str, decrement: int, dev: str, when: str) -> tuple[Flight, Trace | None]:
    """A userspace forwarder that lowers the inner TTL (flanneld's ``decrement_ttl``): the
    flight with the new TTL, or the trace ending where the TTL reached 0 (discarded, no ICMP)."""
    if decrement <= 0:
        return f, None
    ttl = f.packet.ttl - decrement
    if ttl <= 0:
        reason = f"TTL {f.packet.ttl} reaches 0 when {name} {when} on {dev}: it discards the packet without an ICMP error"
        return f, f.drop(Disposition.TTL_EXCEEDED, reason, dev=dev)
    return f.evolve(packet=f.packet.with_(ttl=ttl)), None


def _encap(
    w: Path,
    f: Flight,
    ns: NetNamespace,
    iface: Interface,
    kind: str,
    local: IPAddress | None,
    remote: IPAddress,
    sport: int | None,
    dport: int | None,
    vni: int | None,
    framing: int,
    origin: str,
    inner_dst_mac: str | None = None,
    tag: int | None = None,
    df: bool | None = None,
    cipher: str = "",
    cipher_bytes: int = 0,
    esp_icv: int = 0,
) -> list[Trace]:
    inner = f.packet
    # the kernel encapsulates what the tunnel device was given: each fragment of an inner
    # packet cut to the device's MTU goes in its own tunnel packet, never fragmented again
    # unless that packet is itself too big for the underlay
    pieces = f.pieces()
    src = local
    link_ns = iface.vxlan.link_ns if iface.vxlan is not None else None
    sender = w.dp.namespace(link_ns) if link_ns is not None else ns
    if src is None:
        route = lookup_route(sender, remote)
        src = select_source(sender, route, remote) if route is not None else None
    if src is None:
        reason = f"{iface.name}: no route to the remote tunnel end {remote}, so no source address"
        return [f.drop(Disposition.NO_ROUTE, reason, dev=iface.name)]
    extra = overhead(kind, remote.version, framing, cipher_bytes)
    layers = outer_layers(kind, remote.version, framing, cipher_bytes)
    outer = Packet(
        src=src,
        dst=remote,
        proto="udp" if kind != "ipip" else "ipip",  # IP protocol 4
        sport=sport,
        dport=dport,
        size=max(pieces) + extra,  # the largest tunnel packet (ESP: ``cipher_bytes`` is its)
        df=df if df is not None else (inner.df if kind == "ipip" else False),  # vxlan/udp: the kernel's default "df unset"
        ttl=inner.ttl if kind == "ipip" else 64,  # ipip inherits; vxlan uses the route hop limit
        tcp_flags=frozenset(),
    )
    enc = Encapsulation(kind, iface.name, outer, vni, iface.mac, inner_dst_mac, framing, tag, cipher, cipher_bytes, esp_icv)
    step = EncapStep(
        encapsulation=kind,
        dev=iface.name,
        vni=vni,
        outer_src=src,
        outer_dst=remote,
        outer_sport=sport,
        outer_dport=dport,
        inner_bytes=inner.size,
        outer_bytes=outer.size,
        overhead_bytes=extra,
        wire_bytes=max(pieces) + sum(b for _, b in layers),
        layers=layers,
        origin=origin,
        cipher=cipher,
        fragments=pieces if len(pieces) > 1 else (),
    )
    g = f.evolve(packet=outer, stack=(*f.stack, (enc, inner, f.frag_mtu)), frag_mtu=None).add(step)
    link_ns = iface.vxlan.link_ns if iface.vxlan is not None else None
    if link_ns is not None and link_ns != ns.ref:
        g = g.enter(link_ns)  # the device's socket sends from the namespace it was created in
    return w.local_out(g)


def _vxlan_target(ns: NetNamespace, p: Packet, vni: int | None, socket_ns: NsRef | None = None) -> tuple[str | None, str]:
    """The VXLAN device of ``ns`` taking UDP packet ``p`` with ``vni``, or why none does.
    ``socket_ns``: only devices whose socket lives there (moved devices, ``link_ns``)."""
    mismatch = ""
    for iface in ns.interfaces.values():
        vx = iface.vxlan
        if iface.kind != "vxlan" or vx is None or vx.port != p.dport or (vx.local is not None and vx.local != p.dst):
            continue
        if (vx.link_ns or ns.ref) != (socket_ns or ns.ref):
            continue
        if vx.vni != vni:
            mismatch = f"VXLAN devices on UDP {p.dport} here carry VNI {vx.vni}, not {vni}"
            continue
        return iface.name, ""
    return None, mismatch


def try_decap(w: Path, f: Flight, in_iface: str) -> list[Trace] | None:
    """If ``f.packet`` is a tunnel packet for a device of this namespace, decapsulate it and
    continue with the inner packet entering through that device; else None.

    A VXLAN device moved into another namespace of the same host (Docker overlay's vxlan0,
    ``VxlanInfo.link_ns``) keeps its UDP socket in the namespace where it was created: it
    takes the packet there, and the inner frame continues in the device's namespace.
    """
    if not f.stack:
        return None
    ns = w.dp.namespace(f.ns)
    enc, inner, inner_frag = f.stack[-1]
    p = f.packet
    target: str | None = None
    receiver: Forwarder | None = None
    target_ns = ns
    mismatch = ""
    if p.proto == "udp" and enc.kind in ("vxlan", "udp"):
        for fw in ns.forwarders.values():
            if fw.frames and (enc.kind, p.dport) in fw.listen and fw.tun in ns.interfaces:
                return _frame_receive(w, f, ns, fw, in_iface)
    if enc.kind == "vxlan" and p.proto == "udp":
        target, mismatch = _vxlan_target(ns, p, enc.vni)
        if target is None:
            for other in w.dp.host_namespaces(ns.ref.host):
                if other.ref != ns.ref and other.kind != "pod":
                    found, _ = _vxlan_target(other, p, enc.vni, ns.ref)
                    if found is not None:
                        target, target_ns = found, other
                        break
    elif enc.kind == "ipip" and p.proto == "ipip":
        for iface in ns.interfaces.values():
            ip = iface.ipip
            if iface.kind != "ipip":
                continue
            if ip is not None and ((ip.local is not None and ip.local != p.dst) or (ip.remote is not None and ip.remote != p.src)):
                continue
            target = iface.name
            break
    elif enc.kind == "udp" and p.proto == "udp":
        for fw in ns.forwarders.values():
            if fw.port == p.dport and fw.tun in ns.interfaces:
                target = fw.tun
                receiver = fw
                break
    if target is None:
        if mismatch:
            reason = f"the kernel drops the tunnel packet: {mismatch}"
            return [f.drop(Disposition.NO_ROUTE, reason, dev=in_iface)]
        return None
    datagrams = f.datagrams()
    pieces = len(f.pieces()) if f.frag_mtu else 1
    step = DecapStep(enc.kind, target, enc.vni, p.src, p.dst, pieces, len(datagrams))
    g = f.evolve(packet=inner, stack=f.stack[:-1], frag_mtu=inner_frag).add(step)
    if receiver is not None:
        g, expired = _forwarder_ttl(g, receiver.name, receiver.ttl_decrement, target, "writes it to the TUN")
        if expired is not None:
            return [expired]
    if target_ns.ref != ns.ref:
        g = g.enter(target_ns.ref)
    device = target_ns.interfaces[target]
    if not device.up:
        reason = f"{target} is down"
        return [g.drop(Disposition.NO_ROUTE, reason, dev=target)]
    if device.master is not None and device.master in target_ns.interfaces:
        return _bridge_ingress(w, g, target_ns, device, enc.inner_dst_mac)
    return w.receive(g, target)


def _bridge_ingress(w: Path, f: Flight, ns: NetNamespace, port: Interface, mac: str | None) -> list[Trace]:
    """A decapsulated frame entering a bridge through its VXLAN port: bridged, not routed."""
    assert port.master is not None
    member = bridge_station(w.dp, ns, port.master, port.name, f.packet.dst, mac)
    if member is None:
        reason = f"bridge {port.master} has no port for {mac or f.packet.dst} (frame from {port.name})"
        return _unreachable(f, reason, port.name)
    g = _walk_path(f, member.path, mac)
    return w.receive(g, member.iface.name)
