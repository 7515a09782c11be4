"""Frame forwarders in the kernel: the IR's L2 forwarder (Weave's router and its Open vSwitch
flows) has no kernel counterpart here, so its VXLAN entries are built from kernel parts that
put the same frames on the wire.

Per next-hop peer, one VXLAN device on the forwarder's bridge: same UDP port and MTU; it takes
the tunnel key the peer sends (``peer << shift0 | own << shift1``), and its FDB sends each
station's MAC to the peer with ``own << shift0 | peer << shift1``; ``proxy`` answers ARP from
its neighbour table (the stations behind that peer), so no broadcast crosses the underlay.
The bridge's static FDB sends each station's MAC to its next hop's port, so a relay is the
bridge forwarding between two VXLAN ports. What differs from the forwarder, said in the
skipped list: a relayed frame's tunnel key names the hop (the forwarder keeps the first and
last forwarder), UDP-framed entries (Weave sleeve) are stood in for by VXLAN on their
port, so their wire bytes differ by their framing minus VXLAN's. ESP (encrypted fastdp) is
the namespace's IPsec policies (``xfrm.py``), set up where the kernel has the cipher.
"""

from __future__ import annotations

from dataclasses import replace

from overlaynet.dataplane.ir import (
    Dataplane,
    FdbEntry,
    Forwarder,
    FrameRoute,
    Interface,
    Neighbor,
    NetNamespace,
    NsRef,
    VxlanInfo,
)
from overlaynet.materialize._state import Skipped

__all__ = ["kernel_view"]


def _bridge_of(ns: NetNamespace, dp: Dataplane, fw: Forwarder) -> str | None:
    dev = ns.interfaces.get(fw.tun)
    if dev is None or dev.peer is None:
        return None
    peer_ref, peer_name = dev.peer
    port = dp.namespaces[peer_ref].interfaces.get(peer_name) if peer_ref in dp.namespaces else None
    return port.master if port is not None and peer_ref == ns.ref else None


def _mac(ref: NsRef, name: str) -> str:
    import hashlib

    raw = bytearray(hashlib.sha256(f"{ref}:{name}".encode()).digest()[:6])
    raw[0] = (raw[0] & 0xFC) | 0x02
    return ":".join(f"{b:02x}" for b in raw)


def _rebuild(ns: NetNamespace, dp: Dataplane, skipped: list[Skipped]) -> NetNamespace:
    frames = [fw for fw in ns.forwarders.values() if fw.frames and fw.ident is not None]
    if not frames:
        return ns
    out = replace(ns, interfaces=dict(ns.interfaces), fdb=list(ns.fdb), neighbors=list(ns.neighbors),
                  forwarders={k: v for k, v in ns.forwarders.items() if v not in frames}, cache={})
    for fw in frames:
        bridge = _bridge_of(ns, dp, fw)
        if bridge is None:
            skipped.append(Skipped(str(ns.ref), f"frame forwarder {fw.name}", f"{fw.tun} is not the peer of a bridge port here"))
            continue
        assert fw.ident is not None
        s0, s1 = fw.key_shifts
        mtu = ns.interfaces[fw.tun].mtu
        by_hop: dict[tuple[int, int], list[FrameRoute]] = {}
        for entry in fw.stations:
            if entry.peer is None or entry.unreachable or entry.via_ident is None:
                continue
            by_hop.setdefault((entry.via_ident, entry.port), []).append(entry)
        for (via, port), entries in sorted(by_hop.items()):
            name = f"vx{fw.name[:5]}-{via}"[:15]
            peer_ip = entries[0].peer
            out.interfaces[name] = Interface(
                name=name, kind="vxlan", mtu=mtu, mac=_mac(ns.ref, name), master=bridge, proxy_arp=True,
                vxlan=VxlanInfo(vni=(via << s0) | (fw.ident << s1), local=None, port=port),
                origin=f"materialize: frame forwarder {fw.name}'s hop to {peer_ip}",
            )
            tx = (fw.ident << s0) | (via << s1)
            for e in entries:
                out.fdb.append(FdbEntry(mac=e.mac, dev=name, dst=peer_ip, vni=tx, origin="materialize"))
                out.fdb.append(FdbEntry(mac=e.mac, dev=name, master=bridge, self_=False, origin="materialize"))
                if e.ip is not None:
                    out.neighbors.append(Neighbor(ip=e.ip, dev=name, lladdr=e.mac, origin="materialize"))
            udp = [e for e in entries if e.encap != "vxlan"]
            if udp:
                skipped.append(Skipped(str(ns.ref), f"userspace {fw.name} {udp[0].encap} to {peer_ip}:{port}", (
                    f"stood in for by VXLAN device {name} on UDP {port}: the kernel here has no such userspace "
                    f"datapath, so frames carry VXLAN's 50 bytes instead of {20 + 8 + udp[0].framing_bytes}"), peer_ip))
            relayed = [e for e in entries if e.dst_ident != via]
            if relayed:
                skipped.append(Skipped(str(ns.ref), f"{fw.name} relay through {peer_ip}", (
                    f"built as bridge forwarding between VXLAN ports: the tunnel key names each hop "
                    f"({tx} here) where {fw.name} keeps the first and the last forwarder")))
        skipped.append(Skipped(str(ns.ref), f"frame forwarder {fw.name}", (
            f"built as VXLAN ports of {bridge} (one per next hop, proxy ARP, static FDB); {fw.tun} carries nothing")))
    return out


def kernel_view(dp: Dataplane, refs: list[NsRef]) -> tuple[Dataplane, list[Skipped]]:
    """``dp`` with every frame forwarder of ``refs`` replaced by kernel VXLAN ports, and
    what that changes; ``dp`` itself is left as it is (the tracer keeps walking it)."""
    skipped: list[Skipped] = []
    if not any(fw.frames for r in refs for fw in dp.namespaces[r].forwarders.values()):
        return dp, skipped
    namespaces = dict(dp.namespaces)
    for ref in refs:
        namespaces[ref] = _rebuild(dp.namespaces[ref], dp, skipped)
    view = Dataplane(namespaces=namespaces, segments=dp.segments, built_hosts=set(dp.built_hosts), builder=None)
    return view, skipped
