"""Every mode's per-packet overhead, measured from the frames the tracer builds, against the
published values (``reference/drivers.md`` §5 "Per-packet encapsulation overhead", §1.4
and §2.3/§2.5):

- VXLAN 50 on an IPv4 underlay, 70 on IPv6 (flannel ``vxlan_network.go``, felix
  ``config_params.go`` / ``int_dataplane.go``, Calico ``mtu.mdx``);
- IP-in-IP 20 (flannel ``ipip.go``, felix ``ipip_mgr.go``);
- flannel udp 28 (``udp_network_amd64.go``);
- host-gw and Calico without encapsulation 0 (flannel ``hostgw.go``, Calico ``mtu.mdx``);
- Weave fastdp 50, sleeve 62, fastdp encrypted 84–87, sleeve encrypted 86 (pod MTU 1376);
  Docker overlay 50, encrypted 76 (MTU 1424).

The default pod MTU on a 1500 underlay is checked too (same sources: 1450, 1480, 1472, 1500).
"""

from __future__ import annotations

from ipaddress import IPv4Address
from pathlib import Path

import pytest

from overlaynet.analysis.overhead import OverheadReport, parse_payloads
from overlaynet.dataplane.ir import Dataplane, NsRef
from overlaynet.model import Cluster
from overlaynet.network.overhead import all_modes, compare_overhead, parse_modes
from overlaynet.topology import load

DEMO = Path(__file__).resolve().parents[2] / "topologies" / "demo.yaml"

#: mode → (encapsulation, bytes against the MTU on an IPv4 underlay, default pod MTU on 1500)
PUBLISHED: dict[str, tuple[str | None, int, int]] = {
    "flannel:vxlan": ("vxlan", 50, 1450),
    "flannel:host-gw": (None, 0, 1500),
    "flannel:udp": ("udp", 28, 1472),
    "calico:ipip": ("ipip", 20, 1480),
    "calico:ipip-crosssubnet": ("ipip", 20, 1480),  # the traced pair is on different subnets
    "calico:vxlan": ("vxlan", 50, 1450),
    "calico:vxlan-crosssubnet": ("vxlan", 50, 1450),
    "calico:none": (None, 0, 1500),
    "fake:default": (None, 0, 1500),  # the test driver: kubenet-style bridge, no encapsulation
    # Weave (router/sleeve.go, frame_crypto.go, net/bridge.go, docs/fastdp-crypto.md): pod MTU 1376
    "weave:fastdp": ("vxlan", 50, 1376),
    "weave:sleeve": ("udp", 62, 1376),  # one frame: UDP + sender name + frame header + inner Ethernet
    # 84-87 by ESP padding: a 64-byte inner packet makes a 96-byte ESP payload, a multiple of 4, so 84
    "weave:fastdp-encrypted": ("vxlan", 84, 1376),
    "weave:sleeve-encrypted": ("udp", 86, 1376),  # + seq/flags 8 + NaCl tag 16
    # libnetwork (overlay.go, encryption.go): VXLAN 50, encrypted + ESP with an 8-byte ICV 26
    "docker-overlay:vxlan": ("vxlan", 50, 1450),
    "docker-overlay:encrypted": ("vxlan", 76, 1424),
}
VXLAN_IPV6 = 70


@pytest.fixture(scope="module")
def demo() -> Cluster:
    return load([str(DEMO)]).cluster


@pytest.fixture(scope="module")
def report(demo: Cluster) -> OverheadReport:
    return compare_overhead(demo, payloads=parse_payloads("64"), message=10_000, misconfig=False)


@pytest.mark.parametrize("label", [m.label for m in all_modes()])
def test_overhead_matches_the_published_value(report: OverheadReport, label: str) -> None:
    if label not in PUBLISHED:
        pytest.skip(f"no published overhead for {label} in reference/drivers.md §5 yet: add it to PUBLISHED")
    m = next(r for r in report.modes if r.mode.label == label)
    assert m.ok, f"{label}: {m.status}: {m.reason}"
    encapsulation, published, mtu = PUBLISHED[label]
    assert m.encapsulation == encapsulation
    # computed from the scapy frame: every header outside the inner IP packet, minus the
    # outer Ethernet header (which does not count against an interface MTU)
    assert sum(b for _, b in m.layers) - m.layers[0][1] == published
    assert m.overhead_bytes == published
    assert m.frame_growth == published  # frame on the underlay minus the pod's own frame
    assert m.frames_agree, m.frame_mismatch
    assert m.pod_mtu == mtu and m.mss == mtu - 40


def test_drivers_refuse_an_ipv6_underlay_for_ipv4_pods(demo: Cluster) -> None:
    """Flannel needs an IPv4 PublicIP and Calico routes IPv4 pools between IPv4 node
    addresses: on an IPv6 underlay both are reported unsupported, never measured wrongly."""
    r = compare_overhead(demo, modes=parse_modes("flannel:vxlan,calico:vxlan"), payloads=parse_payloads("64"),
                         message=1000, ipv6_underlay=True, misconfig=False)
    assert [m.status for m in r.modes] == ["unsupported", "unsupported"]
    assert "IPv4 PublicIP" in r.modes[0].reason and "IPv4 pools" in r.modes[1].reason


def _vxlan_over_ipv6() -> tuple[Dataplane, NsRef, IPv4Address]:
    """Two hosts on an IPv6 segment with a VXLAN device each (local = the host's IPv6
    address), pods behind a plain gateway, remote pod subnet ``via <VTEP addr> onlink`` with
    a permanent neighbour and an FDB entry ``dst <remote IPv6>``: VXLAN with IPv6 outer
    headers, built by the tracer, without a driver."""
    from ipaddress import ip_address, ip_network

    from overlaynet.dataplane.ir import (
        Address,
        FdbEntry,
        Interface,
        L2Segment,
        Neighbor,
        Route,
        VxlanInfo,
    )

    dp = Dataplane()
    dp.segments["lan6"] = L2Segment("lan6", ip_network("fd00:60::/64"), 1500)
    for i in (1, 2):
        root = dp.add_namespace(NsRef(f"h{i}"), "host")
        root.sysctls["net.ipv4.ip_forward"] = "1"
        root.add_interface(Interface("lo", "loopback", mtu=65536, addresses=[Address(ip_address("127.0.0.1"), 8)]))
        me = ip_address(f"fd00:60::{i}")
        root.add_interface(Interface("eth0", "phys", segment="lan6", mac=f"02:00:00:00:66:0{i}", addresses=[Address(me, 64)]))
        dp.segments["lan6"].ports.append((root.ref, "eth0"))
        dp.segments["lan6"].directory[me] = (root.ref, "eth0")
        root.add_route(Route(ip_network("fd00:60::/64"), dev="eth0", proto="kernel", scope="link"))
        root.add_interface(Interface("vx", "vxlan", mtu=1430, mac=f"02:00:00:00:77:0{i}",
                                     vxlan=VxlanInfo(vni=1, local=me, port=4789, dev="eth0"),
                                     addresses=[Address(ip_address(f"10.9.{i}.0"), 32)]))
        root.add_interface(Interface("gw", "veth", mtu=1430, addresses=[Address(ip_address(f"10.9.{i}.1"), 24)],
                                     peer=(NsRef.pod(f"h{i}", "default/p"), "eth0"), mac=f"02:00:00:00:88:0{i}"))
        pod = dp.add_namespace(NsRef.pod(f"h{i}", "default/p"), "pod")
        pod.add_interface(Interface("lo", "loopback", mtu=65536, addresses=[Address(ip_address("127.0.0.1"), 8)]))
        pod.add_interface(Interface("eth0", "veth", mtu=1430, peer=(root.ref, "gw"), mac=f"02:00:00:00:99:0{i}",
                                    addresses=[Address(ip_address(f"10.9.{i}.5"), 24)]))
        pod.add_route(Route(ip_network("0.0.0.0/0"), dev="eth0", via=ip_address(f"10.9.{i}.1")))
        other = 3 - i
        vtep = ip_address(f"10.9.{other}.0")
        root.add_route(Route(ip_network(f"10.9.{other}.0/24"), dev="vx", via=vtep, onlink=True, origin="hand-built VXLAN/IPv6"))
        root.add_neighbor(Neighbor(vtep, "vx", f"02:00:00:00:77:0{other}"))
        root.add_fdb(FdbEntry(f"02:00:00:00:77:0{other}", "vx", dst=ip_address(f"fd00:60::{other}")))
    return dp, NsRef.pod("h1", "default/p"), IPv4Address("10.9.2.5")


def test_vxlan_on_an_ipv6_underlay_is_70_in_the_tracers_frames() -> None:
    from ipaddress import ip_address

    from overlaynet.analysis.overhead_frames import underlay_view
    from overlaynet.dataplane.packet import Packet
    from overlaynet.trace import trace

    dp, src, dst = _vxlan_over_ipv6()
    t = trace(dp, Packet(ip_address("10.9.1.5"), dst, "tcp", 40000, 80, 1000, df=True), src).trace
    assert t.success, t.reason
    view = underlay_view(t)
    assert view is not None and not view.mismatch, view
    assert [n for n, _ in view.layers] == ["outer Ethernet", "outer IPv6", "UDP", "VXLAN", "inner Ethernet"]
    assert view.overhead_bytes == VXLAN_IPV6 and view.frame_bytes == 1000 + 14 + VXLAN_IPV6


def _two_host_ipip() -> tuple[Dataplane, NsRef, IPv4Address]:
    """Two hosts on one segment wired as Calico IPIP wires them (``tunl0``, remote block
    ``via <node IP> dev tunl0 onlink``), one pod each, no netfilter: the tracer's IP-in-IP
    frames without any driver."""
    from ipaddress import ip_address, ip_network

    from overlaynet.dataplane.ir import (
        Address,
        Dataplane,
        Interface,
        IpipInfo,
        L2Segment,
        NsRef,
        Route,
    )

    dp = Dataplane()
    dp.segments["lan"] = L2Segment("lan", ip_network("192.168.60.0/24"), 1500)
    for i in (1, 2):
        root = dp.add_namespace(NsRef(f"h{i}"), "host")
        root.sysctls["net.ipv4.ip_forward"] = "1"
        root.add_interface(Interface("lo", "loopback", mtu=65536, addresses=[Address(ip_address("127.0.0.1"), 8)]))
        root.add_interface(Interface("eth0", "phys", segment="lan", mac=f"02:00:00:00:60:0{i}",
                                     addresses=[Address(ip_address(f"192.168.60.{i}"), 24)]))
        dp.segments["lan"].ports.append((root.ref, "eth0"))
        dp.segments["lan"].directory[ip_address(f"192.168.60.{i}")] = (root.ref, "eth0")
        root.add_route(Route(ip_network("192.168.60.0/24"), dev="eth0", proto="kernel", scope="link"))
        # every Calico host has a default route: without one the kernel's proxy ARP never
        # answers the pods for 169.254.1.1 (projectcalico/calico#3270)
        root.add_route(Route(ip_network("0.0.0.0/0"), dev="eth0", via=ip_address("192.168.60.254")))
        root.add_interface(Interface("tunl0", "ipip", mtu=1480, ipip=IpipInfo(),
                                     addresses=[Address(ip_address(f"10.9.{i}.0"), 32)]))
        pod = dp.add_namespace(NsRef.pod(f"h{i}", "default/p"), "pod")
        pod.add_interface(Interface("lo", "loopback", mtu=65536, addresses=[Address(ip_address("127.0.0.1"), 8)]))
        pod.add_interface(Interface("eth0", "veth", mtu=1480, peer=(root.ref, "calip"), proxy_arp=False,
                                    addresses=[Address(ip_address(f"10.9.{i}.5"), 32)]))
        root.add_interface(Interface("calip", "veth", mtu=1480, peer=(pod.ref, "eth0"), proxy_arp=True,
                                     mac="ee:ee:ee:ee:ee:ee"))
        pod.add_route(Route(ip_network("169.254.1.1/32"), dev="eth0", scope="link"))
        pod.add_route(Route(ip_network("0.0.0.0/0"), dev="eth0", via=ip_address("169.254.1.1")))
        root.add_route(Route(ip_network(f"10.9.{i}.5/32"), dev="calip", scope="link"))
        other = 3 - i
        root.add_route(Route(ip_network(f"10.9.{other}.0/24"), dev="tunl0", via=ip_address(f"192.168.60.{other}"),
                             onlink=True, origin="hand-built Calico IPIP"))
    return dp, NsRef.pod("h1", "default/p"), IPv4Address("10.9.2.5")


def test_ip_in_ip_is_20_in_the_tracers_frames() -> None:
    """IP-in-IP from the tracer's frames on a hand-built IR, without any driver (the Calico
    driver's ipip modes are checked above)."""
    from ipaddress import ip_address

    from overlaynet.analysis.overhead_frames import underlay_view
    from overlaynet.dataplane.packet import Packet
    from overlaynet.trace import trace

    dp, src, dst = _two_host_ipip()
    t = trace(dp, Packet(ip_address("10.9.1.5"), dst, "tcp", 40000, 80, 1000, df=True), src).trace  # type: ignore[arg-type]
    assert t.success, t.reason
    view = underlay_view(t)
    assert view is not None and not view.mismatch, view
    assert view.layers == (("outer Ethernet", 14), ("outer IPv4", 20))
    assert view.overhead_bytes == 20 and view.frame_bytes == 1000 + 14 + 20
