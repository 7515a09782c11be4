"""iproute2-style rendering of routes, links, neighbours and FDB entries."""

from __future__ import annotations

from ipaddress import ip_address, ip_network

from overlaynet.dataplane.iproute import format_fdb, format_link, format_neighbor, format_route
from overlaynet.dataplane.ir import Address, FdbEntry, Interface, Neighbor, NsRef, Route, VxlanInfo

A = ip_address


def test_routes_print_as_iproute2_does() -> None:
    assert format_route(Route(ip_network("10.244.3.0/24"), dev="flannel.1", via=A("10.244.3.0"), onlink=True, proto="boot")) == \
        "10.244.3.0/24 via 10.244.3.0 dev flannel.1 onlink"
    assert format_route(Route(ip_network("0.0.0.0/0"), via=A("192.168.10.1"), dev="eth0", proto="static")) == \
        "default via 192.168.10.1 dev eth0 proto static"
    assert format_route(Route(ip_network("192.168.10.0/24"), dev="eth0", proto="kernel", scope="link", src=A("192.168.10.11"))) == \
        "192.168.10.0/24 dev eth0 proto kernel scope link src 192.168.10.11"
    assert format_route(Route(ip_network("10.1.2.0/26"), type="blackhole", proto="bird")) == "blackhole 10.1.2.0/26 proto bird"
    assert format_route(Route(ip_network("10.1.2.3/32"), dev="cali1", scope="link", metric=100, table="local", proto="boot")) == \
        "10.1.2.3 dev cali1 table local scope link metric 100"


def test_links_neighbours_and_fdb() -> None:
    vx = Interface("flannel.1", "vxlan", mtu=1450, mac="22:ab:3d:e9:a5:ed", addresses=[Address(A("10.244.2.0"), 32)],
                   vxlan=VxlanInfo(vni=1, local=A("192.168.20.13"), dev="eth0"))
    lines = format_link(3, vx)
    assert lines[0] == "3: flannel.1: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1450 state UNKNOWN"
    assert lines[2] == "    vxlan id 1 local 192.168.20.13 dev eth0 srcport 0 0 dstport 8472 nolearning"
    veth = Interface("veth1", "veth", master="cni0", peer=(NsRef.pod("n", "default/a"), "eth0"))
    assert format_link(5, veth)[0].startswith("5: veth1@eth0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 master cni0 state UP")
    assert format_neighbor(Neighbor(A("10.244.3.0"), "flannel.1", "aa:bb:cc:dd:ee:ff")) == \
        "10.244.3.0 dev flannel.1 lladdr aa:bb:cc:dd:ee:ff PERMANENT"
    assert format_fdb(FdbEntry("aa:bb:cc:dd:ee:ff", "flannel.1", dst=A("192.168.20.13"))) == \
        "aa:bb:cc:dd:ee:ff dev flannel.1 dst 192.168.20.13 self permanent"
