from __future__ import annotations

from dataclasses import replace
from ipaddress import IPv4Address

import pytest

from overlaynet.dataplane.ir import NsRef
from overlaynet.dataplane.underlay import build_underlay, program_host
from overlaynet.drivers.flannel import FlannelDriver
from overlaynet.errors import AddressExhausted, TopologyError
from overlaynet.model import Pod

from ..helpers import assemble, cluster

RACKS = (("rack-a", "192.168.10.0/24", 1500), ("rack-b", "192.168.20.0/24", 9000))
NODES = (("node-1", "192.168.10.11", "10.244.1.0/24"), ("node-2", "192.168.20.12", "10.244.2.0/24"))


def driver(**options: object) -> FlannelDriver:
    c = cluster(RACKS, NODES, options=options)
    return FlannelDriver(c, c.network.options)


@pytest.mark.parametrize(
    ("options", "node", "text"),
    [
        ({}, "node-1", "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n"),
        ({}, "node-2", "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.2.1/24\nFLANNEL_MTU=8950\nFLANNEL_IPMASQ=true\n"),
        ({"backend": "host-gw", "ipMasq": False}, "node-2", "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.2.1/24\nFLANNEL_MTU=9000\nFLANNEL_IPMASQ=false\n"),
        ({"backend": "udp"}, "node-1", "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_MTU=1472\nFLANNEL_IPMASQ=true\n"),
        ({"mtu": 1400}, "node-2", "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.2.1/24\nFLANNEL_MTU=1350\nFLANNEL_IPMASQ=true\n"),
    ],
)
def test_subnet_env_exact(options: dict[str, object], node: str, text: str) -> None:
    drv = driver(**options)
    drv.allocate()
    assert drv.subnet_env(node) == text


def test_subnet_env_follows_the_lease_length() -> None:
    c = cluster(nodes=(("node-1", "192.168.10.11", "10.244.1.64/26"),))
    drv = FlannelDriver(c)
    drv.allocate()
    assert "FLANNEL_SUBNET=10.244.1.65/26\n" in drv.subnet_env("node-1")


def test_pod_mtu_per_rack_and_modes() -> None:
    drv = driver()
    drv.allocate()
    assert [drv.pod_mtu(n) for n in drv.cluster.nodes] == [1450, 8950]
    assert FlannelDriver.modes() == {
        "vxlan": {"backend": "vxlan"}, "host-gw": {"backend": "host-gw"}, "udp": {"backend": "udp"},
    }


def test_pod_ipam_from_the_lease() -> None:
    c = cluster(RACKS, NODES, pods=(("a", "node-1", None), ("b", "node-1", "10.244.1.2"),
                                    ("c", "node-1", None), ("d", "node-2", None)))
    out = FlannelDriver(c).allocate()
    ips = {p.name: (str(p.ip), p.allocated) for p in out.pods}
    # .1 is cni0; .2 was given by the file, so IPAM continues at .3
    assert ips == {"a": ("10.244.1.3", True), "b": ("10.244.1.2", False),
                   "c": ("10.244.1.4", True), "d": ("10.244.2.2", True)}


def test_host_network_pods_keep_the_node_ip() -> None:
    c = cluster(nodes=NODES[:1], racks=RACKS[:1])
    hostnet = Pod("proxy", node="node-1", ips=(IPv4Address("192.168.10.11"),), host_network=True)
    c = replace(c, pods=(hostnet,))
    out = FlannelDriver(c).allocate()
    assert out.pods[0] == hostnet


@pytest.mark.parametrize(
    ("ip", "text"),
    [
        ("10.244.9.5", "outside 10.244.1.0/24, the pod subnet flannel gave node node-1"),
        ("10.244.1.1", "the network, gateway or broadcast address"),
        ("10.244.1.255", "the network, gateway or broadcast address"),
    ],
)
def test_file_pod_ip_must_fit_the_lease(ip: str, text: str) -> None:
    c = cluster(RACKS, NODES, pods=(("web", "node-1", ip),))
    with pytest.raises(TopologyError) as info:
        FlannelDriver(c).allocate()
    assert text in str(info.value)
    assert info.value.diagnostics[0].path == "status.podIP"


def test_duplicate_file_pod_ips_are_all_reported() -> None:
    c = cluster(RACKS, NODES, pods=(("a", "node-1", "10.244.1.9"), ("b", "node-1", "10.244.1.9"),
                                    ("c", "node-2", "10.244.7.1")))
    with pytest.raises(TopologyError) as info:
        FlannelDriver(c).allocate()
    assert len(info.value.diagnostics) == 2
    assert "already used by pod default/a" in str(info.value)


def test_lease_full() -> None:
    c = cluster(nodes=(("node-1", "192.168.10.11", "10.244.1.0/30"),),
                pods=(("a", "node-1", None), ("b", "node-1", None)))
    with pytest.raises(AddressExhausted, match="no free address left in 10.244.1.0/30 for pod default/b"):
        FlannelDriver(c).allocate()


def test_program_before_allocate_allocates() -> None:
    c = cluster(RACKS, NODES, pods=(("a", "node-1", None),))
    reference, _ = assemble(FlannelDriver(c))
    drv = FlannelDriver(c)
    dp = build_underlay(reference)
    program_host(dp, reference, reference.node("node-1"))
    drv.program_node(dp, c.node("node-1"))  # the file's node, before any allocate()
    assert dp.namespaces[NsRef.pod("node-1", "default/a")].interfaces["eth0"].addresses[0].ip == reference.pods[0].ip


def test_allocate_is_deterministic() -> None:
    c = cluster(RACKS, NODES, pods=tuple((f"p{i}", f"node-{1 + i % 2}", None) for i in range(6)),
                options={"subnetManager": "etcd"})
    a = FlannelDriver(c, c.network.options, seed=4).allocate()
    b = FlannelDriver(c, c.network.options, seed=4).allocate()
    assert a == b


def test_ipv6_node_address_is_refused() -> None:
    c = cluster(racks=(("v6", "fd00::/64", 1500),), nodes=(("node-1", "fd00::11", "10.244.1.0/24"),))
    with pytest.raises(TopologyError, match="flannel needs an IPv4 PublicIP, got fd00::11"):
        FlannelDriver(c).allocate()
