from __future__ import annotations

import re
from ipaddress import IPv4Address, IPv4Network

import pytest

from overlaynet.drivers.cni import allocate_pod_ips, assign_node_cidrs, local_mac, veth_name
from overlaynet.errors import AddressExhausted, TopologyError
from overlaynet.model import Node, Pod, Source


def node(name: str, cidr: str | None = None) -> Node:
    return Node(name, IPv4Address("192.168.0.2"), "s", pod_cidrs=(IPv4Network(cidr),) if cidr else ())


def test_names_and_macs_are_stable() -> None:
    assert veth_name("default/web") == veth_name("default/web") != veth_name("default/web2")
    assert re.fullmatch(r"veth[0-9a-f]{8}", veth_name("x/y"))
    mac = local_mac("anything")
    assert re.fullmatch(r"([0-9a-f]{2}:){5}[0-9a-f]{2}", mac)
    assert int(mac[:2], 16) & 0b11 == 0b10  # locally administered, unicast


def test_assign_node_cidrs_skips_used_blocks() -> None:
    nodes = (node("a"), node("b", "10.244.0.0/24"), node("c"))
    out = assign_node_cidrs(nodes, IPv4Network("10.244.0.0/22"), 24, who="t")
    assert [str(n.pod_cidr) for n in out] == ["10.244.1.0/24", "10.244.0.0/24", "10.244.2.0/24"]
    assert [n.pod_cidrs_allocated for n in out] == [True, False, True]
    with pytest.raises(AddressExhausted, match="no free /24 left in 10.244.0.0/23 for node c"):
        assign_node_cidrs(nodes, IPv4Network("10.244.0.0/23"), 24, who="t")


def test_host_local_order_and_reservations() -> None:
    pods = (
        Pod("late", node="a", allocated=True, ips=(IPv4Address("10.1.0.99"),), creation_index=5),
        Pod("fixed", node="a", ips=(IPv4Address("10.1.0.2"),)),
        Pod("early", node="a", creation_index=1),
        Pod("elsewhere", node="z"),
    )
    out = allocate_pod_ips(pods, {"a": IPv4Network("10.1.0.0/24")}, who="t")
    assert [str(p.ip) if p.ip else None for p in out] == ["10.1.0.4", "10.1.0.2", "10.1.0.3", None]
    assert [p.allocated for p in out] == [True, False, True, False]


def test_errors_name_the_source_line() -> None:
    pod = Pod("web", node="a", ips=(IPv4Address("10.9.0.5"),), source=Source("pods.yaml", 12, 3))
    with pytest.raises(TopologyError) as info:
        allocate_pod_ips((pod,), {"a": IPv4Network("10.1.0.0/24")}, who="t")
    assert str(info.value).startswith("pods.yaml:12:3: status.podIP: pod default/web has IP 10.9.0.5")


def test_exhausted() -> None:
    pods = tuple(Pod(f"p{i}", node="a") for i in range(3))
    with pytest.raises(AddressExhausted, match="no free address left in 10.1.0.0/30 for pod default/p1"):
        allocate_pod_ips(pods, {"a": IPv4Network("10.1.0.0/30")}, who="t")
