"""The underlay builder: segments, routers (connected routes, routes via other routers, the
border uplink) and a node's root namespace."""

from __future__ import annotations

from ipaddress import ip_address, ip_network

import pytest

from overlaynet.dataplane.iproute import format_route
from overlaynet.dataplane.ir import NsRef
from overlaynet.dataplane.underlay import UPLINK, build_underlay, program_host
from overlaynet.errors import TopologyError
from overlaynet.model import Cluster, FrozenDict, Node, Router, Segment, Underlay

A = ip_address


def chain() -> Cluster:
    """Segments a - b - c; router r1 joins a and b, r2 joins b and c."""
    return Cluster(
        underlay=Underlay(
            mtu=1500,
            segments=(
                Segment("a", ip_network("192.168.1.0/24")),
                Segment("b", ip_network("192.168.2.0/24"), 9000),
                Segment("c", ip_network("192.168.3.0/24"), 1400),
            ),
            routers=(
                Router("r1", FrozenDict({"a": A("192.168.1.1"), "b": A("192.168.2.1")})),
                Router("r2", FrozenDict({"b": A("192.168.2.2"), "c": A("192.168.3.1")})),
            ),
        ),
        nodes=(Node("n1", A("192.168.1.11"), "a"), Node("n3", A("192.168.3.13"), "c")),
    )


def test_routers_get_interfaces_and_routes_across_the_chain() -> None:
    dp = build_underlay(chain())
    r1 = dp.namespaces[NsRef("r1")]
    r2 = dp.namespaces[NsRef("r2")]
    assert r1.kind == "router" and r1.ip_forward
    assert [(i.name, i.segment, i.mtu) for i in r1.interfaces.values() if i.kind == "phys"] == [
        ("eth0", "a", 1500), ("eth1", "b", 9000), (UPLINK, None, 1500)]
    r1_routes = [format_route(r) for r in r1.routes]
    assert "192.168.3.0/24 via 192.168.2.2 dev eth1 proto static" in r1_routes
    assert "default dev uplink proto static" in r1_routes
    r2_routes = [format_route(r) for r in r2.routes]
    assert "192.168.1.0/24 via 192.168.2.1 dev eth0 proto static" in r2_routes
    assert "default via 192.168.2.1 dev eth0 proto static" in r2_routes
    assert dp.built_hosts == {"r1", "r2"}


def test_nodes_are_segment_ports_before_they_are_built() -> None:
    dp = build_underlay(chain())
    assert (NsRef("n1"), "eth0") in dp.segments["a"].ports
    assert dp.segments["c"].directory[A("192.168.3.13")] == (NsRef("n3"), "eth0")
    assert NsRef("n1") not in dp.namespaces


def test_program_host() -> None:
    cluster = chain()
    dp = build_underlay(cluster)
    ns = program_host(dp, cluster, cluster.node("n3"))
    eth0 = ns.interfaces["eth0"]
    assert (eth0.kind, eth0.segment, eth0.mtu, str(eth0.addresses[0])) == ("phys", "c", 1400, "192.168.3.13/24")
    assert "lo" in ns.interfaces
    assert [format_route(r) for r in ns.routes] == [
        "192.168.3.0/24 dev eth0 proto kernel scope link src 192.168.3.13",
        "default via 192.168.3.1 dev eth0 proto static",
    ]
    assert ns.ip_forward and ns.sysctls["net.ipv4.conf.all.rp_filter"] == "2"


def test_a_segment_without_router_gives_no_default_route() -> None:
    cluster = Cluster(underlay=Underlay(segments=(Segment("s", ip_network("10.0.0.0/24")),)), nodes=(Node("n", A("10.0.0.5"), "s"),))
    dp = build_underlay(cluster)
    ns = program_host(dp, cluster, cluster.node("n"))
    assert all(r.dst.prefixlen for r in ns.routes)


def test_unknown_segment_is_a_topology_error() -> None:
    cluster = Cluster(underlay=Underlay(segments=()), nodes=(Node("n", A("10.0.0.5"), "nowhere"),))
    with pytest.raises(TopologyError, match="nowhere"):
        build_underlay(cluster)
