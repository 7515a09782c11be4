"""Dataplane IRs built by hand, so the materializer is tested without any driver."""

from __future__ import annotations

from ipaddress import ip_address, ip_network

from overlaynet.dataplane.ir import (
    Address,
    Dataplane,
    FdbEntry,
    Interface,
    L2Segment,
    Neighbor,
    NetNamespace,
    NsRef,
    Route,
    VxlanInfo,
)
from overlaynet.model.base import IPNetwork


def addr(text: str) -> Address:
    ip, plen = text.split("/")
    return Address(ip_address(ip), int(plen))


def net(text: str) -> IPNetwork:
    return ip_network(text)


def _lo(ns: NetNamespace) -> None:
    ns.add_interface(Interface("lo", "loopback", mtu=65536, addresses=[addr("127.0.0.1/8")]))


def veth_pair(a: NetNamespace, a_name: str, b: NetNamespace, b_name: str, *, mtu: int = 1500) -> tuple[Interface, Interface]:
    ia = a.add_interface(Interface(a_name, "veth", mtu=mtu, peer=(b.ref, b_name)))
    ib = b.add_interface(Interface(b_name, "veth", mtu=mtu, peer=(a.ref, a_name)))
    return ia, ib


def two_namespaces() -> Dataplane:
    """Two namespaces joined by a veth: 10.0.0.1/24 ↔ 10.0.0.2/24, MTU 1400."""
    dp = Dataplane()
    a = dp.add_namespace(NsRef("a"), "host")
    b = dp.add_namespace(NsRef("b"), "host")
    _lo(a)
    _lo(b)
    ia, ib = veth_pair(a, "veth-a", b, "veth-b", mtu=1400)
    ia.addresses.append(addr("10.0.0.1/24"))
    ia.mac = "02:00:00:00:0a:01"
    ib.addresses.append(addr("10.0.0.2/24"))
    return dp


def bridge_with_ports(n: int = 3) -> Dataplane:
    """A host with bridge ``br-test`` (10.1.0.1/24) and ``n`` pod namespaces on its ports."""
    dp = Dataplane()
    host = dp.add_namespace(NsRef("h"), "host")
    _lo(host)
    host.add_interface(Interface("br-test", "bridge", mtu=1500, addresses=[addr("10.1.0.1/24")]))
    for i in range(1, n + 1):
        pod = dp.add_namespace(NsRef.pod("h", f"default/p{i}"), "pod")
        _lo(pod)
        hv, pv = veth_pair(host, f"vethp{i}", pod, "eth0")
        hv.master = "br-test"
        pv.addresses.append(addr(f"10.1.0.{i + 10}/24"))
        pod.add_route(Route(net("0.0.0.0/0"), dev="eth0", via=ip_address("10.1.0.1")))
    return dp


def vtep_mac(i: int) -> str:
    return f"02:42:c0:a8:32:{i:02x}"


def two_host_vxlan(*, underlay_mtu: int = 1500) -> Dataplane:
    """Two hosts on one segment, wired by hand as flannel vxlan does: per host a pod on
    ``cni0`` (10.244.<i>.2), ``flannel.1`` (VNI 1, UDP 8472, MTU underlay − 50) and, for the
    other host's subnet, a route via its network address onlink, a permanent neighbour to
    its VtepMAC and an FDB entry for that MAC to its underlay IP."""
    dp = Dataplane()
    dp.segments["lan"] = L2Segment("lan", net("192.168.50.0/24"), underlay_mtu)
    hosts = {1: "node-1", 2: "node-2"}
    for i, host in hosts.items():
        root = dp.add_namespace(NsRef(host), "host")
        _lo(root)
        root.sysctls["net.ipv4.ip_forward"] = "1"
        root.add_interface(Interface("eth0", "phys", mtu=underlay_mtu, segment="lan",
                                     addresses=[addr(f"192.168.50.{i}/24")]))
        dp.segments["lan"].ports.append((root.ref, "eth0"))
        root.add_route(Route(net("192.168.50.0/24"), dev="eth0", proto="kernel", scope="link"))
        root.add_interface(Interface(
            "flannel.1", "vxlan", mtu=underlay_mtu - 50, mac=vtep_mac(i),
            addresses=[addr(f"10.244.{i}.0/32")],
            vxlan=VxlanInfo(vni=1, local=ip_address(f"192.168.50.{i}"), port=8472, dev="eth0"),
        ))
        root.add_interface(Interface("cni0", "bridge", mtu=underlay_mtu - 50, addresses=[addr(f"10.244.{i}.1/24")]))
        pod = dp.add_namespace(NsRef.pod(host, "default/pod-a"), "pod")
        _lo(pod)
        hv, pv = veth_pair(root, f"veth{i}a", pod, "eth0", mtu=underlay_mtu - 50)
        hv.master = "cni0"
        pv.addresses.append(addr(f"10.244.{i}.2/24"))
        pod.add_route(Route(net("0.0.0.0/0"), dev="eth0", via=ip_address(f"10.244.{i}.1")))
    for i, host in hosts.items():
        root = dp.namespaces[NsRef(host)]
        for j in hosts:
            if j == i:
                continue
            origin = f"hand-built vxlan: subnet 10.244.{j}.0/24 of {hosts[j]}"
            root.add_route(Route(net(f"10.244.{j}.0/24"), dev="flannel.1", via=ip_address(f"10.244.{j}.0"),
                                 onlink=True, origin=origin))
            root.add_neighbor(Neighbor(ip_address(f"10.244.{j}.0"), "flannel.1", vtep_mac(j), origin=origin))
            root.add_fdb(FdbEntry(vtep_mac(j), "flannel.1", dst=ip_address(f"192.168.50.{j}"), origin=origin))
    return dp


def routed_pair(*, far_mtu: int = 1400) -> Dataplane:
    """``a`` — router ``r`` — ``b`` over two veths; the far link (r ↔ b) has ``far_mtu``."""
    dp = Dataplane()
    a = dp.add_namespace(NsRef("a"), "host")
    r = dp.add_namespace(NsRef("r"), "router")
    b = dp.add_namespace(NsRef("b"), "host")
    for ns in (a, r, b):
        _lo(ns)
    r.sysctls["net.ipv4.ip_forward"] = "1"
    ia, ra = veth_pair(a, "eth0", r, "eth0")
    rb, ib = veth_pair(r, "eth1", b, "eth0", mtu=far_mtu)
    ia.addresses.append(addr("10.0.1.2/24"))
    ra.addresses.append(addr("10.0.1.1/24"))
    rb.addresses.append(addr("10.0.2.1/24"))
    ib.addresses.append(addr("10.0.2.2/24"))
    a.add_route(Route(net("0.0.0.0/0"), dev="eth0", via=ip_address("10.0.1.1")))
    b.add_route(Route(net("0.0.0.0/0"), dev="eth0", via=ip_address("10.0.2.1")))
    return dp
