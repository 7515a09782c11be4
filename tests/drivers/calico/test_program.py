"""What the Calico driver writes into the IR, checked against reference/drivers.md §2.3–2.5."""

from __future__ import annotations

import ipaddress
from dataclasses import replace
from pathlib import Path

import pytest

from overlaynet.dataplane.ir import NsRef
from overlaynet.drivers.calico.program import veth_name
from overlaynet.errors import AddressExhausted, DriverOptionError
from overlaynet.model import FrozenDict, NetworkSpec
from overlaynet.network import assemble
from overlaynet.topology import load_cluster

from .helpers import cluster

TOPOLOGIES = Path(__file__).resolve().parents[3] / "topologies"


def _net(options: dict[str, object], **kw: object):  # type: ignore[no-untyped-def]
    c = cluster(options=options, **kw)  # type: ignore[arg-type]
    return assemble(c)


def test_ipip_always_routes_via_tunl0_onlink_and_blackholes_own_block() -> None:
    net = _net({"encapsulation": "ipip"}, racks=2, nodes_per_rack=1)
    root = net.dataplane.namespace(NsRef("node-00"))
    tunl = root.interfaces["tunl0"]
    assert tunl.kind == "ipip" and tunl.mtu == 1480
    assert str(tunl.addresses[0]) == "10.244.0.0/32"  # tunnel address: first of the block
    own = [r for r in root.routes if r.type == "blackhole"]
    assert [str(r.dst) for r in own] == ["10.244.0.0/26"]
    remote = [r for r in root.routes if r.dev == "tunl0"]
    assert len(remote) == 1 and remote[0].onlink and str(remote[0].via) == "192.168.20.11"
    assert str(remote[0].dst) == "10.244.0.64/26" and "BGP from node-10" in remote[0].origin


def test_pod_plumbing_is_calico_cni() -> None:
    net = _net({})
    pod = net.cluster.pods[0]
    root = net.dataplane.namespace(NsRef.root(pod.node or "?"))
    host_if = root.interfaces[veth_name(pod)]
    assert host_if.name.startswith("cali") and len(host_if.name) == 15
    assert host_if.mac == "ee:ee:ee:ee:ee:ee" and host_if.proxy_arp and host_if.mtu == 1480
    # the CNI plugin's sysctls on the host side (configureSysctls): proxy ARP answered at
    # once (the kernel's default proxy_delay holds the answer up to 0.8 s), forwarding on
    assert {k: v for k, v in root.sysctls.items() if host_if.name in k} == {
        f"net.ipv4.conf.{host_if.name}.proxy_arp": "1",
        f"net.ipv4.neigh.{host_if.name}.proxy_delay": "0",
        f"net.ipv4.conf.{host_if.name}.forwarding": "1",
    }
    assert any(str(r.dst) == f"{pod.ip}/32" and r.dev == host_if.name and r.scope == "link" for r in root.routes)
    ns = net.dataplane.namespace(NsRef.of_pod(pod))
    assert str(ns.interfaces["eth0"].addresses[0]) == f"{pod.ip}/32"
    gw = [r for r in ns.routes if r.via is not None]
    assert str(gw[0].via) == "169.254.1.1" and str(gw[0].dst) == "0.0.0.0/0"


def test_crosssubnet_is_native_on_the_same_rack_and_tunnelled_across() -> None:
    net = _net({"encapsulation": "ipip", "crossSubnet": True}, racks=2, nodes_per_rack=2)
    root = net.dataplane.namespace(NsRef("node-00"))
    by_via = {str(r.via): r.dev for r in root.routes if r.proto == "bird" and r.via is not None}
    assert by_via["192.168.10.12"] == "eth0"
    assert by_via["192.168.20.11"] == "tunl0" and by_via["192.168.20.12"] == "tunl0"


def test_vxlan_has_device_neighbour_and_fdb_per_remote_node() -> None:
    net = _net({"encapsulation": "vxlan"}, racks=2, nodes_per_rack=1)
    root = net.dataplane.namespace(NsRef("node-00"))
    dev = root.interfaces["vxlan.calico"]
    assert dev.vxlan is not None and dev.vxlan.vni == 4096 and dev.vxlan.port == 4789 and dev.mtu == 1450
    route = next(r for r in root.routes if r.dev == "vxlan.calico")
    neigh = next(n for n in root.neighbors if n.ip == route.via)
    fdb = next(f for f in root.fdb if f.mac == neigh.lladdr)
    assert str(fdb.dst) == "192.168.20.11" and route.onlink


def test_native_mode_across_segments_cannot_install_and_says_why() -> None:
    net = _net({"encapsulation": "none"}, racks=2, nodes_per_rack=1)
    root = net.dataplane.namespace(NsRef("node-00"))
    assert not [r for r in root.routes if r.proto == "bird" and r.type == "unicast"]
    assert any("not on a connected network" in str(d) and "L2 adjacency" in str(d) for d in root.diagnostics)
    assert net.driver.pod_mtu(net.cluster.nodes[0]) == 1500


def test_bgp_session_down_is_a_diagnostic_and_routes_are_missing() -> None:
    net = _net({"encapsulation": "ipip"}, racks=2, nodes_per_rack=1, router=False)
    root = net.dataplane.namespace(NsRef("node-00"))
    assert not [r for r in root.routes if r.dev == "tunl0"]
    assert any("BGP session" in str(d) and "Active" in str(d) for d in root.diagnostics)


def test_borrowed_address_shows_up_as_a_32_route() -> None:
    # A /29 pool in /30 blocks holds two blocks; the third node must borrow from node-00's.
    opts = {"encapsulation": "none", "blockSize": 30}
    c = cluster(racks=1, nodes_per_rack=3, pods_per_node=2, options=opts)
    c = replace(c, pod_cidrs=(ipaddress.ip_network("10.244.0.0/29"),))
    net = assemble(c)
    borrowed = net.driver.ipam.borrowed()
    assert [(a.node, str(a.ip), str(a.block)) for a in borrowed] == [
        ("node-02", "10.244.0.2", "10.244.0.0/30"),
        ("node-02", "10.244.0.3", "10.244.0.0/30"),
    ]
    root = net.dataplane.namespace(NsRef("node-01"))
    r32 = {str(r.dst): str(r.via) for r in root.routes if r.proto == "bird" and r.dst.prefixlen == 32}
    assert r32 == {"10.244.0.2/32": "192.168.10.13", "10.244.0.3/32": "192.168.10.13"}
    strict = replace(c, network=NetworkSpec("calico", FrozenDict({**opts, "strictAffinity": True})))
    with pytest.raises(AddressExhausted, match="strictAffinity forbids borrowing"):
        assemble(strict)


def test_unknown_option_is_rejected_with_a_suggestion() -> None:
    with pytest.raises(DriverOptionError, match="did you mean 'crossSubnet'"):
        _net({"crosssubnet": True})
    with pytest.raises(DriverOptionError, match="expected ipip, vxlan or none"):
        _net({"encapsulation": "gre"})


@pytest.mark.parametrize("name", ["calico-mesh", "calico-rr", "calico-ipip-crosssubnet", "calico-vxlan", "calico-native", "calico-policy"])
def test_example_topologies_assemble(name: str) -> None:
    net = assemble(load_cluster([TOPOLOGIES / f"{name}.yaml"]))
    for node in net.cluster.nodes:
        net.dataplane.ensure_host(node.name)
    assert net.driver.name == "calico"


def test_route_reflector_session_counts() -> None:
    net = assemble(load_cluster([TOPOLOGIES / "calico-rr.yaml"]))
    n, k = 6, 2
    assert len(net.driver.bgp.sessions) == (n - k) * k + k * (k - 1) // 2
    mesh = assemble(load_cluster([TOPOLOGIES / "calico-mesh.yaml"]))
    assert len(mesh.driver.bgp.sessions) == 4 * 3 // 2
