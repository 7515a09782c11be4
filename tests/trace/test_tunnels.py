"""Tunnels on hand-built IRs: IP-in-IP between two hosts, and a Docker-overlay-style bridge
with a VXLAN port in a per-network namespace (socket in the host's root namespace)."""

from __future__ import annotations

from ipaddress import ip_address

from trace_irs import addr, namespace, plug, route, segment, veth

from overlaynet.dataplane.ir import (
    Dataplane,
    FdbEntry,
    Interface,
    IpipInfo,
    Neighbor,
    NsRef,
    VxlanInfo,
)
from overlaynet.dataplane.packet import Packet
from overlaynet.trace import Disposition, trace
from overlaynet.trace.steps import BridgeStep, DecapStep, EncapStep, NeighborStep

A = ip_address


def test_ipip_between_two_hosts() -> None:
    dp = Dataplane()
    seg = segment(dp, "s", "192.168.1.0/24")
    h1, h2 = namespace(dp, "h1"), namespace(dp, "h2")
    plug(dp, h1, "eth0", seg, "192.168.1.11/24")
    plug(dp, h2, "eth0", seg, "192.168.1.12/24")
    for h in (h1, h2):
        h.add_interface(Interface("tunl0", "ipip", mtu=1480, ipip=IpipInfo()))
    h2.add_interface(Interface("dummy0", "dummy", addresses=[addr("10.2.0.1/24")]))
    route(h1, "10.2.0.0/24", via="192.168.1.12", dev="tunl0", onlink=True, origin="calico: block of h2")
    t = trace(dp, Packet(A("192.168.1.11"), A("10.2.0.1"), "tcp", 40000, 80, 100), h1.ref).trace
    assert t.disposition is Disposition.ACCEPTED, t.reason
    encap = t.steps(EncapStep)[0]
    assert (encap.encapsulation, encap.overhead_bytes, encap.outer_dst, encap.outer_bytes) == ("ipip", 20, A("192.168.1.12"), 120)
    assert t.steps(DecapStep)[0].dev == "tunl0"
    big = trace(dp, Packet(A("192.168.1.11"), A("10.2.0.1"), "tcp", 40000, 80, 1500, df=True), h1.ref).trace
    assert big.disposition is Disposition.FRAG_NEEDED and big.last_step.mtu == 1480  # type: ignore[union-attr]


def overlay_host(dp: Dataplane, name: str, ip: str, seg: object, container_ip: str, mac: str) -> None:
    root = namespace(dp, name)
    plug(dp, root, "eth0", seg, ip)  # type: ignore[arg-type]
    ov = namespace(dp, name, "ovnet-1", kind="other")
    ov.add_interface(Interface("br0", "bridge", mtu=1450, addresses=[addr("10.0.9.1/24")]))
    ov.add_interface(Interface("vxlan0", "vxlan", mtu=1450, master="br0", vxlan=VxlanInfo(vni=256, local=None, port=4789, link_ns=root.ref)))
    c = namespace(dp, name, f"default/c-{name}", kind="pod", forward=False)
    veth(c, "eth0", container_ip, ov, f"veth-{name}", None, mtu=1450, master="br0")
    c.interfaces["eth0"].mac = mac
    route(c, "0.0.0.0/0", via="10.0.9.1", dev="eth0")


def test_docker_overlay_bridge_with_vxlan_port() -> None:
    dp = Dataplane()
    seg = segment(dp, "s", "192.168.1.0/24")
    overlay_host(dp, "h1", "192.168.1.11/24", seg, "10.0.9.2/24", "02:42:0a:00:09:02")
    overlay_host(dp, "h2", "192.168.1.12/24", seg, "10.0.9.3/24", "02:42:0a:00:09:03")
    ov1 = dp.namespaces[NsRef.network("h1", "ovnet-1")]
    ov1.add_neighbor(Neighbor(A("10.0.9.3"), "vxlan0", "02:42:0a:00:09:03", origin="libnetwork: peer c-h2"))
    ov1.add_fdb(FdbEntry("02:42:0a:00:09:03", "vxlan0", dst=A("192.168.1.12"), origin="libnetwork: peer c-h2 on h2"))
    src = NsRef.pod("h1", "default/c-h1")
    t = trace(dp, Packet(A("10.0.9.2"), A("10.0.9.3"), "udp", 40000, 53, 100), src).trace
    assert t.disposition is Disposition.DELIVERED, t.reason
    ovnet = [NsRef.network("h1", "ovnet-1"), NsRef.network("h2", "ovnet-1")]
    assert [h.ns for h in t.hops] == [src, ovnet[0], NsRef("h1"), NsRef("h2"), ovnet[1], NsRef.pod("h2", "default/c-h2")]
    assert t.steps(NeighborStep)[0].how == "proxy_arp"
    encap = t.steps(EncapStep)[0]
    assert (encap.vni, encap.outer_dport, encap.outer_dst) == (256, 4789, A("192.168.1.12"))
    bridges = t.steps(BridgeStep)
    assert bridges[0].out_port == "vxlan0" and bridges[-1].in_port == "vxlan0"
