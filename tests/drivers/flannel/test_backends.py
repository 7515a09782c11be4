"""Per-backend IR contents, exactly as reference/drivers.md §1.4 describes them."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network

from overlaynet.dataplane.ir import Address, FdbEntry, Neighbor, NsRef, Route, VxlanInfo
from overlaynet.dataplane.underlay import build_underlay, program_host
from overlaynet.drivers.flannel import FlannelDriver
from overlaynet.drivers.flannel.leases import Lease, lease_key

from ..helpers import assemble, cluster

RACKS = (("rack-a", "192.168.10.0/24", 1500), ("rack-b", "192.168.20.0/24", 9000))
NODES = (
    ("node-1", "192.168.10.11", "10.244.1.0/24"),
    ("node-2", "192.168.20.12", "10.244.2.0/24"),
    ("node-3", "192.168.10.13", "10.244.3.0/24"),
)
PODS = (("a", "node-1", None), ("b", "node-1", None), ("c", "node-2", None))


def build(**options: object):  # type: ignore[no-untyped-def]
    c = cluster(RACKS, NODES, PODS, options=options)
    drv = FlannelDriver(c, c.network.options)
    allocated, dp = assemble(drv)
    return drv, allocated, dp


def net(text: str) -> IPv4Network:
    return IPv4Network(text)


def ip(text: str) -> IPv4Address:
    return IPv4Address(text)


def flannel_routes(ns) -> list[tuple[object, ...]]:  # type: ignore[no-untyped-def]
    return sorted(
        (str(r.dst), str(r.via), r.dev, r.onlink)
        for r in ns.routes if r.origin.startswith(("flannel vxlan", "flannel host-gw", "flannel udp"))
    )


def test_vxlan_device_and_entries_per_remote_lease() -> None:
    drv, c, dp = build()
    root = dp.namespaces[NsRef("node-1")]
    dev = root.interfaces["flannel.1"]
    assert dev.kind == "vxlan" and dev.mtu == 1450
    assert dev.addresses == [Address(ip("10.244.1.0"), 32)]
    assert dev.mac == drv.vtep_mac(c.node("node-1"))
    assert dev.vxlan == VxlanInfo(vni=1, local=ip("192.168.10.11"), port=8472, dev="eth0", learning=False)
    mac2, mac3 = drv.vtep_mac(c.node("node-2")), drv.vtep_mac(c.node("node-3"))
    assert flannel_routes(root) == [
        ("10.244.2.0/24", "10.244.2.0", "flannel.1", True),
        ("10.244.3.0/24", "10.244.3.0", "flannel.1", True),
    ]
    assert [(n.ip, n.dev, n.lladdr, n.state) for n in root.neighbors] == [
        (ip("10.244.2.0"), "flannel.1", mac2, "PERMANENT"),
        (ip("10.244.3.0"), "flannel.1", mac3, "PERMANENT"),
    ]
    assert [(f.mac, f.dev, f.dst, f.self_, f.permanent) for f in root.fdb] == [
        (mac2, "flannel.1", ip("192.168.20.12"), True, True),
        (mac3, "flannel.1", ip("192.168.10.13"), True, True),
    ]
    assert all(isinstance(x, Neighbor | FdbEntry | Route) and x.origin for x in [*root.neighbors, *root.fdb])
    assert root.diagnostics == []


def test_vtep_macs_are_stable_and_locally_administered() -> None:
    first, c, _ = build()
    again, _, _ = build()
    macs = [first.vtep_mac(n) for n in c.nodes]
    assert macs == [again.vtep_mac(n) for n in c.nodes]
    assert len(set(macs)) == len(macs)
    assert all(int(m[:2], 16) & 0b11 == 0b10 for m in macs)


def test_vxlan_mtu_follows_each_rack() -> None:
    _, _, dp = build()
    assert dp.namespaces[NsRef("node-2")].interfaces["flannel.1"].mtu == 8950
    assert dp.namespaces[NsRef("node-2")].interfaces["cni0"].mtu == 8950
    _, _, dp = build(mtu=1400)
    assert dp.namespaces[NsRef("node-2")].interfaces["flannel.1"].mtu == 1350


def test_vxlan_vni_and_port() -> None:
    _, _, dp = build(vni=42, port=4789)
    dev = dp.namespaces[NsRef("node-1")].interfaces["flannel.42"]
    assert dev.vxlan is not None and (dev.vxlan.vni, dev.vxlan.port) == (42, 4789)
    assert {r.dev for r in dp.namespaces[NsRef("node-1")].routes if r.onlink} == {"flannel.42"}


def test_direct_routing_on_the_same_segment_only() -> None:
    _, _, dp = build(directRouting=True)
    root = dp.namespaces[NsRef("node-1")]
    assert flannel_routes(root) == [
        ("10.244.2.0/24", "10.244.2.0", "flannel.1", True),  # other rack: still VXLAN
        ("10.244.3.0/24", "192.168.10.13", "eth0", False),  # same rack: plain route
    ]
    assert [n.ip for n in root.neighbors] == [ip("10.244.2.0")]
    assert [f.dst for f in root.fdb] == [ip("192.168.20.12")]


def test_host_gw_on_one_segment() -> None:
    c = cluster(RACKS[:1], (NODES[0], NODES[2]), options={"backend": "host-gw"})
    _, dp = assemble(FlannelDriver(c, c.network.options))
    root = dp.namespaces[NsRef("node-1")]
    assert flannel_routes(root) == [("10.244.3.0/24", "192.168.10.13", "eth0", False)]
    assert "flannel.1" not in root.interfaces and root.neighbors == [] and root.fdb == []
    assert root.interfaces["cni0"].mtu == 1500
    assert root.diagnostics == []


def test_host_gw_across_segments_explains_the_missing_route() -> None:
    _, _, dp = build(backend="host-gw")
    root = dp.namespaces[NsRef("node-1")]
    assert flannel_routes(root) == [("10.244.3.0/24", "192.168.10.13", "eth0", False)]
    assert [str(d) for d in root.diagnostics] == [
        "flannel host-gw on node-1: route 10.244.2.0/24 via 192.168.20.12 dev eth0 refused by the "
        "kernel (Nexthop has invalid gateway): host-gw needs L2 adjacency: 192.168.20.12 is not "
        "on a connected network of node-1"
    ]
    # it names the destinations it leaves without a route, so a trace shows it only for them
    assert [d.dst for d in root.diagnostics] == [net("10.244.2.0/24")]  # type: ignore[union-attr]


def test_udp_tun_and_forwarder() -> None:
    _, _, dp = build(backend="udp")
    root = dp.namespaces[NsRef("node-1")]
    tun = root.interfaces["flannel0"]
    assert tun.kind == "tun" and tun.mtu == 1472 and tun.tun is not None
    assert tun.addresses == [Address(ip("10.244.1.0"), 32)]
    assert flannel_routes(root) == [("10.244.0.0/16", "None", "flannel0", False)]
    fwd = root.forwarders[tun.tun.forwarder]
    assert (fwd.tun, fwd.port, fwd.framing_bytes) == ("flannel0", 8285, 0)
    assert [(e.dst, e.peer, e.port) for e in fwd.table] == [
        (net("10.244.2.0/24"), ip("192.168.20.12"), 8285),
        (net("10.244.3.0/24"), ip("192.168.10.13"), 8285),
    ]
    assert dp.namespaces[NsRef("node-2")].interfaces["flannel0"].mtu == 8972


def test_foreign_backend_leases_are_ignored_with_a_diagnostic() -> None:
    c = cluster(RACKS, NODES[:1])
    drv = FlannelDriver(c)
    allocated = drv.allocate()
    stray = Lease(net("10.244.9.0/24"), ip("192.168.20.99"), "host-gw")
    drv.kv.put(lease_key(drv.prefix, stray.subnet), stray.value())  # left by another flannel
    dp = build_underlay(allocated)
    program_host(dp, allocated, allocated.node("node-1"))
    drv.program_node(dp, allocated.node("node-1"))
    root = dp.namespaces[NsRef("node-1")]
    assert not any(r.dst == net("10.244.9.0/24") for r in root.routes)
    assert root.diagnostics == [
        "flannel vxlan on node-1: ignoring non-vxlan subnet 10.244.9.0/24 of 192.168.20.99: type=host-gw"
    ]


def test_cni_bridge_and_pods() -> None:
    _, c, dp = build()
    root = dp.namespaces[NsRef("node-1")]
    cni0 = root.interfaces["cni0"]
    assert cni0.kind == "bridge" and cni0.addresses == [Address(ip("10.244.1.1"), 24)] and cni0.mtu == 1450
    assert root.sysctls["net.ipv4.ip_forward"] == "1"
    pod = dp.namespaces[NsRef.pod("node-1", "default/a")]
    assert pod.kind == "pod" and pod.ref.pod_key == "default/a"
    eth0 = pod.interfaces["eth0"]
    assert eth0.kind == "veth" and eth0.mtu == 1450
    assert eth0.addresses == [Address(ip("10.244.1.2"), 24)]
    assert eth0.peer is not None and eth0.peer[0] == NsRef("node-1")
    host_end = root.interfaces[eth0.peer[1]]
    assert host_end.name.startswith("veth") and len(host_end.name) == 12
    assert host_end.master == "cni0" and host_end.peer == (NsRef.pod("node-1", "default/a"), "eth0")
    assert sorted((str(r.dst), str(r.via), r.dev) for r in pod.routes) == [
        ("0.0.0.0/0", "10.244.1.1", "eth0"),
        ("10.244.0.0/16", "10.244.1.1", "eth0"),
        ("10.244.1.0/24", "None", "eth0"),
    ]
    assert "lo" in pod.interfaces
    pods_on_1 = [ns for ns in dp.host_namespaces("node-1") if ns.kind == "pod"]
    assert len(pods_on_1) == 2
    assert len({root.interfaces[ns.interfaces["eth0"].peer[1]].name for ns in pods_on_1}) == 2  # type: ignore[index]
