from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network

import pytest

from overlaynet.dataplane.ir import NsRef
from overlaynet.drivers.fake import FakeDriver
from overlaynet.errors import DriverOptionError, TopologyError

from .helpers import assemble, cluster

RACKS = (("rack-a", "192.168.10.0/24", 1500), ("rack-b", "192.168.20.0/24", 9000))
NODES = (
    ("node-1", "192.168.10.11", "10.244.1.0/24"),
    ("node-2", "192.168.20.12", None),
    ("node-3", "192.168.10.13", "10.244.3.0/24"),
)


def build():  # type: ignore[no-untyped-def]
    c = cluster(RACKS, NODES, (("a", "node-1", None), ("b", "node-2", None)), driver="fake")
    return assemble(FakeDriver(c))


def test_rejects_every_option() -> None:
    with pytest.raises(DriverOptionError, match="takes no options") as info:
        FakeDriver(cluster(driver="fake"), {"backend": "vxlan"})
    assert info.value.option == "backend"
    assert FakeDriver.validate_options({}) == {}
    assert FakeDriver.modes() == {"default": {}}


def test_ipam() -> None:
    c, _ = build()
    # node-2 had no podCIDR: first free /24 of the cluster CIDR, as the range allocator
    assert [str(n.pod_cidr) for n in c.nodes] == ["10.244.1.0/24", "10.244.0.0/24", "10.244.3.0/24"]
    assert c.node("node-2").pod_cidrs_allocated
    assert [str(p.ip) for p in c.pods] == ["10.244.1.2", "10.244.0.2"]


def test_bridge_pods_and_mtu() -> None:
    c, dp = build()
    root = dp.namespaces[NsRef("node-2")]
    cbr0 = root.interfaces["cbr0"]
    assert cbr0.kind == "bridge" and str(cbr0.addresses[0]) == "10.244.0.1/24" and cbr0.mtu == 9000
    pod = dp.namespaces[NsRef.pod("node-2", "default/b")]
    assert pod.interfaces["eth0"].mtu == 9000 == FakeDriver(c).pod_mtu(c.node("node-2"))
    assert {(str(r.dst), str(r.via)) for r in pod.routes} == {
        ("10.244.0.0/24", "None"), ("0.0.0.0/0", "10.244.0.1"),
    }
    assert not any(i.kind in ("vxlan", "tun", "ipip") for i in root.interfaces.values())


def test_routes_on_one_segment_and_via_routers_across() -> None:
    _, dp = build()
    node1 = dp.namespaces[NsRef("node-1")]
    fake_routes = [(r.dst, r.via, r.dev) for r in node1.routes if r.origin.startswith("fake:")]
    # node-3 shares rack-a: a plain route; node-2 (rack-b) is reached via the default route
    assert fake_routes == [(IPv4Network("10.244.3.0/24"), IPv4Address("192.168.10.13"), "eth0")]
    core = dp.namespaces[NsRef("core")]
    cloud = sorted((str(r.dst), str(r.via), r.dev) for r in core.routes if r.origin.startswith("fake cloud"))
    assert cloud == [
        ("10.244.0.0/24", "192.168.20.12", "eth1"),
        ("10.244.1.0/24", "192.168.10.11", "eth0"),
        ("10.244.3.0/24", "192.168.10.13", "eth0"),
    ]


def test_cloud_routes_are_written_once() -> None:
    _, dp = build()
    core = dp.namespaces[NsRef("core")]
    assert sum(r.origin.startswith("fake cloud") for r in core.routes) == 3  # not once per node


def test_file_pod_ip_outside_node_cidr() -> None:
    c = cluster(RACKS, NODES, (("a", "node-1", "10.244.3.9"),), driver="fake")
    with pytest.raises(TopologyError, match="outside 10.244.1.0/24, the pod subnet fake gave node node-1"):
        FakeDriver(c).allocate()
