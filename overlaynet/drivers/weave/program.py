"""What weaver, its CNI plugin and ``weave expose`` write into one node's kernel.

The layout is Weave's own (``net/bridge.go``): the ``weave`` bridge holding the pods and the
host's ``weave expose`` address; ``vethwe-bridge`` ↔ ``vethwe-datapath`` into the Open vSwitch
datapath ``datapath`` (fastdp), or ``vethwe-bridge`` ↔ ``vethwe-pcap`` where sleeve captures
(``noFastdp``). The router is a frame forwarder on ``vethwe-datapath``/``vethwe-pcap``: its
table maps each station's MAC to the next-hop peer and the connection's datapath. NAT is the
``WEAVE`` chain of ``net/expose.go`` and ``net/bridge.go``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from overlaynet.dataplane.ir import (
    Dataplane,
    Forwarder,
    FrameRoute,
    Interface,
    NetNamespace,
    NsRef,
    XfrmPolicy,
)
from overlaynet.dataplane.netfilter import ChainRole, Rule
from overlaynet.dataplane.netfilter.matches import Destination, InIface, OutIface, Source
from overlaynet.dataplane.netfilter.matches_ct import Conntrack
from overlaynet.dataplane.netfilter.targets import Jump, Masquerade, Verdict_
from overlaynet.drivers.cni import BridgeConf, local_mac, program_bridge
from overlaynet.model import Node, Pod

from .mesh import CONTROL_PORT, FASTDP_PORT, SLEEVE_FRAMING, SLEEVE_NACL, Mesh
from .options import WeaveOptions

if TYPE_CHECKING:
    from .npc import NpcRules

__all__ = ["BRIDGE", "DATAPATH", "ROUTER", "Station", "pod_mac", "program_host", "stations"]

IPv4Address = ipaddress.IPv4Address
BRIDGE = "weave"
DATAPATH = "datapath"
ROUTER = "weave"
VETH_BRIDGE = "vethwe-bridge"
VETH_DATAPATH = "vethwe-datapath"
VETH_PCAP = "vethwe-pcap"
CNI = "weave CNI plugin"
ESP_ICV = 16  # encrypted fastdp: AES-GCM with a 128-bit ICV (net/ipsec/ipsec.go)


@dataclass(frozen=True, slots=True)
class Station:
    """Something with a MAC on the Weave network: a pod, or a host's exposed bridge."""

    peer: str  # nickname of the peer it lives behind
    mac: str
    ip: IPv4Address
    what: str




def pod_mac(node: str, pod: Pod) -> str:
    """The MAC of a pod's eth0, as ``drivers.cni`` gives it (so the table names the same)."""
    return local_mac(f"pod:{node}:{pod.key}")


def bridge_mac(node: str) -> str:
    return local_mac(f"bridge:{node}:{BRIDGE}")


def stations(pods: Iterable[Pod], expose: Mapping[str, IPv4Address]) -> list[Station]:
    out = [Station(n, bridge_mac(n), ip, f"weave expose address of {n}") for n, ip in sorted(expose.items())]
    for pod in pods:
        if pod.node is None or pod.host_network:
            continue
        ip = next((a for a in pod.ips if isinstance(a, IPv4Address)), None)
        if ip is not None:
            out.append(Station(pod.node, pod_mac(pod.node, pod), ip, f"pod {pod.key}"))
    return out


def _route_text(mesh: Mesh, me: str, dst: str) -> str:
    path = mesh.path(me, dst)
    return " → ".join(path) if path else "?"


def _isolation(mesh: Mesh, me: str, dst: str) -> str:
    """Why no established path joins ``me`` and ``dst``: what each side reaches, and every
    connection of ``dst`` that is down."""
    mine = sorted(mesh.routes.get(me, {})) or ["no peer"]
    down = [c for c in mesh.connections.values() if dst in (c.a, c.b) and not c.established]
    up = sorted(mesh.routes.get(dst, {}))
    text = f"{me} reaches {', '.join(mine)}; {dst} reaches {', '.join(up) or 'no peer'}"
    if down:
        text += "; " + "; ".join(f"connection {c.a}–{c.b} failed: {c.reason}" for c in down)
    configured = {c.other(dst) for c in mesh.connections.values() if dst in (c.a, c.b)}
    missing = sorted(n for n in mine if n != "no peer" and n not in configured)
    if missing:
        text += f"; no connection configured between {dst} and {', '.join(missing)}"
    if me not in configured:
        text += f"; no connection configured between {me} and {dst}"
    return text


def _table(mesh: Mesh, opts: WeaveOptions, me: str, all_stations: Sequence[Station]) -> list[FrameRoute]:
    """``me``'s router table: one entry per station, the why of each peer computed once."""
    why: dict[str, str] = {}
    out = []
    for st in all_stations:
        if st.peer != me and st.peer not in mesh.routes[me] and st.peer not in why:
            why[st.peer] = _isolation(mesh, me, st.peer)
        out.append(_entry(mesh, opts, me, st, why.get(st.peer, "")))
    return out


def _entry(mesh: Mesh, opts: WeaveOptions, me: str, st: Station, isolation: str) -> FrameRoute:
    """How ``me``'s router sends frames for ``st``."""
    if st.peer == me:
        return FrameRoute(st.mac, st.ip, None, origin=f"weave router on {me}: {st.what} is local (MAC learned on {BRIDGE})")
    nxt = mesh.routes.get(me, {}).get(st.peer)
    direct = mesh.connection(me, st.peer)
    if nxt is None:
        return FrameRoute(st.mac, st.ip, None, origin=f"weave router on {me}", unreachable=(
            f"peer {st.peer} ({st.what}) is unreachable from {me}: no path over established connections; "
            + isolation))
    conn = mesh.connection(me, nxt)
    assert conn is not None and conn.datapath is not None
    peer = mesh.peers[nxt]
    route = _route_text(mesh, me, st.peer)
    if nxt == st.peer:
        hop = f"direct connection {me}–{nxt} ({conn.datapath}: {conn.why_datapath})"
    else:
        why = direct.reason if direct is not None and not direct.established else "no connection configured between them"
        hop = (f"relayed via {nxt}: {me} has no direct connection to {st.peer} ({why}); "
               f"fewest hops over established connections: {route}")
    relay = f"the frame is for {st.peer}, not {me}: next hop {nxt}, route {route} ({conn.datapath})"
    origin = f"weave router on {me}: {st.what} on {st.peer}: {hop}"
    if conn.datapath == "fastdp":
        return FrameRoute(
            st.mac, st.ip, peer.ip, "vxlan", FASTDP_PORT, None, 0, mesh.peers[st.peer].short_id, df=True,
            via_ident=peer.short_id,
            relay=relay, origin=origin)
    framing = SLEEVE_FRAMING + (SLEEVE_NACL if conn.encrypted else 0)
    return FrameRoute(
        st.mac, st.ip, peer.ip, "udp", CONTROL_PORT, CONTROL_PORT, framing, mesh.peers[st.peer].short_id, df=True,
        via_ident=peer.short_id,
        cipher="NaCl secretbox (XSalsa20-Poly1305)" if conn.encrypted else "", relay=relay, origin=origin)


def _ipsec(root: NetNamespace, mesh: Mesh, me: str) -> None:
    """Encrypted fastdp (``net/ipsec/ipsec.go``): per encrypted fastdp connection an outbound
    ESP transport-mode SA and policy for the VXLAN datagrams to the peer, AES-GCM with a
    16-byte ICV; the SPI is per direction (Weave derives it in the connection's handshake)."""
    mine = mesh.peers[me]
    for conn in sorted(mesh.connections.values(), key=lambda c: (c.a, c.b)):
        if me not in (conn.a, conn.b) or conn.datapath != "fastdp" or not conn.encrypted:
            continue
        other = mesh.peers[conn.other(me)]
        spi = (mine.short_id << 12 | other.short_id) | 0x1000000  # distinct per direction
        root.xfrm.append(XfrmPolicy(
            dst=other.ip, src=mine.ip, dport=FASTDP_PORT, spi=spi, icv=ESP_ICV,
            origin=f"weave on {me}: encrypted fastdp to {conn.other(me)}"))


MULTICAST = ipaddress.IPv4Network("224.0.0.0/4")
#: ``Chain.origin`` of the chains weaver and weave-npc write
WEAVER = "weave"
WEAVE_NPC = "weave-npc"


def nat_rules(cidr: ipaddress.IPv4Network) -> list[tuple[str, Rule]]:
    """The nat rules of ``weave expose`` (``net/expose.go``) and ``net/bridge.go``."""
    masquerade = Masquerade()
    return [
        ("POSTROUTING", Rule((), Jump("WEAVE"))),
        ("WEAVE", Rule((Source(cidr), Destination(MULTICAST)), Verdict_("RETURN"))),
        ("WEAVE", Rule((Source(cidr, negated=True), Destination(cidr)), masquerade)),
        ("WEAVE", Rule((Source(cidr), Destination(cidr, negated=True)), masquerade)),
    ]


def filter_rules(bridge: str) -> list[tuple[str, Rule]]:
    """The FORWARD rules ``ConfigureIPTables`` puts at the top when NPC is off."""
    accept = Verdict_("ACCEPT")
    return [
        ("FORWARD", Rule((InIface(bridge), OutIface(bridge)), accept)),
        ("FORWARD", Rule((InIface(bridge), OutIface(bridge, negated=True)), accept)),
        ("FORWARD", Rule((OutIface(bridge), Conntrack(ctstate=frozenset({"RELATED", "ESTABLISHED"}))), accept)),
    ]


def install_rules(
    root: NetNamespace, table: str, rules: Sequence[tuple[str, Rule]], roles: Mapping[str, ChainRole], origin: str,
) -> None:
    """Append ``rules`` to ``root``'s ``table`` (each rule once per chain). Every chain of
    ``roles`` is created, with ``origin`` and its role, even without rules; built-in chains
    stay the kernel's."""
    nf = root.netfilter
    for name, role in roles.items():
        nf.ensure_chain(table, name, origin=origin, role=role)
    for name, rule in rules:
        target = nf.ensure_chain(table, name)
        if rule not in target.rules:
            nf.append(table, name, rule)


def program_host(
    dp: Dataplane, node: Node, mesh: Mesh, opts: WeaveOptions, pods: Sequence[Pod],
    all_stations: Sequence[Station], expose: IPv4Address | None, *, npc_rules: NpcRules | None,
) -> None:
    root = dp.namespaces[NsRef(node.name)]
    me = node.name
    mtu = opts.mtu
    fastdp = not opts.no_fastdp
    why = f"weave on {me}"
    if expose is None:
        root.diagnostics.append(f"{why}: no weave expose address: IPAM had no space for this peer")
        return
    program_bridge(dp, root, BridgeConf(BRIDGE, opts.ipalloc_range, mtu, CNI, gateway_ip=expose), pods)
    bridge = root.interfaces[BRIDGE]
    bridge.proxy_arp = True  # EnsureBridge sets net/ipv4/conf/weave/proxy_arp
    bridge.origin = f"{why}: the weave bridge, MTU {mtu}; {expose} is the weave expose address from IPAM"
    capture = VETH_DATAPATH if fastdp else VETH_PCAP
    root.add_interface(Interface(
        name=VETH_BRIDGE, kind="veth", mtu=mtu, mac=local_mac(f"{me}:{VETH_BRIDGE}"), master=BRIDGE,
        peer=(root.ref, capture), origin=f"{why}: bridge end of the veth to {'the datapath' if fastdp else 'sleeve'}"))
    root.add_interface(Interface(
        name=capture, kind="veth", mtu=mtu, mac=local_mac(f"{me}:{capture}"), peer=(root.ref, VETH_BRIDGE),
        origin=f"{why}: " + ("vport of the ODP datapath 'datapath'" if fastdp else "where sleeve captures and injects frames (pcap)")))
    if fastdp:
        root.add_interface(Interface(
            name=DATAPATH, kind="dummy", mtu=mtu, mac=local_mac(f"{me}:{DATAPATH}"),
            origin=f"{why}: the Open vSwitch datapath's internal port (its flows are the forwarder '{ROUTER}'), MTU {mtu}"))
    table = _table(mesh, opts, me, all_stations)
    listen: tuple[tuple[str, int], ...] = (("udp", CONTROL_PORT), ("vxlan", FASTDP_PORT)) if fastdp else (("udp", CONTROL_PORT),)
    root.forwarders[ROUTER] = Forwarder(
        name=ROUTER, tun=capture, port=CONTROL_PORT, frames=True, stations=table, listen=listen,
        ident=mesh.peers[me].short_id, key_shifts=(0, 12),
        origin=(f"{why}: weave router {mesh.peers[me]}, short ID {mesh.peers[me].short_id}; "
                + ("fastdp flows in the kernel datapath (VXLAN UDP 6784), sleeve on UDP 6783" if fastdp else "sleeve only (noFastdp)")))
    _ipsec(root, mesh, me)
    install_rules(root, "nat", nat_rules(opts.ipalloc_range), {"WEAVE": ChainRole.NAT}, WEAVER)
    if npc_rules is None:
        install_rules(root, "filter", filter_rules(BRIDGE), {}, WEAVER)
        return
    from .npc import ROLES

    install_rules(root, "filter", npc_rules.rules, ROLES, WEAVE_NPC)
    root.ipsets.update(npc_rules.ipsets)
