"""libnetwork's IPAM and VNI allocation over the KV store: key layout, values, properties."""

from __future__ import annotations

import json
from ipaddress import IPv4Address, IPv4Network

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from overlaynet.drivers.docker.bitseq import BitSequence
from overlaynet.drivers.docker.ipam import Allocator, IPAMError
from overlaynet.drivers.docker.options import NetworkConf
from overlaynet.drivers.docker.store import key
from overlaynet.kv import MemoryKV

H1, H2 = IPv4Address("192.168.1.11"), IPv4Address("192.168.1.12")


def test_key_layout_as_libnetwork_writes_it() -> None:
    kv = MemoryKV()
    alloc = Allocator(kv, cluster="c")
    net = alloc.create_network(NetworkConf("front"))
    ep = alloc.create_endpoint(net, "web-1", H1)
    keys = [k.key for k in kv.list_prefix("docker/network/v1.0/")]
    assert keys == sorted([
        f"docker/network/v1.0/endpoint/{net.id}/{ep.id}/",
        f"docker/network/v1.0/endpoint_count/{net.id}/",
        "docker/network/v1.0/idm/vxlan-id/",
        "docker/network/v1.0/ipam/default/config/GlobalDefault/",
        "docker/network/v1.0/ipam/default/data/GlobalDefault/10.0.0.0/24/",
        f"docker/network/v1.0/network/{net.id}/",
        f"docker/network/v1.0/overlay/network/{net.id}/",
    ])
    assert len(net.id) == 64 and (net.subnet, net.gateway, net.vni) == (IPv4Network("10.0.0.0/24"), IPv4Address("10.0.0.1"), 256)
    overlay = json.loads(kv.get(key("overlay", "network", net.id)).value)  # type: ignore[union-attr]
    assert overlay == {"mtu": 0, "secure": False, "subnets": [{"GwIP": "10.0.0.1/24", "SubnetIP": "10.0.0.0/24", "Vni": 256}]}
    endpoint = json.loads(kv.get(key("endpoint", net.id, ep.id)).value)  # type: ignore[union-attr]
    assert endpoint["ep_iface"]["addr"] == "10.0.0.2/24" and endpoint["ep_iface"]["mac"] == "02:42:0a:00:00:02"
    assert endpoint["locator"] == "192.168.1.11" and endpoint["name"] == "web-1"
    assert json.loads(kv.get(key("endpoint_count", net.id)).value) == {"Count": 1}  # type: ignore[union-attr]
    space = json.loads(kv.get(key("ipam/default/config/GlobalDefault")).value)  # type: ignore[union-attr]
    assert space["Subnets"]["GlobalDefault/10.0.0.0/24"]["Pool"] == "10.0.0.0/24"
    _, bits = BitSequence.from_json(kv.get(key("ipam/default/data", "GlobalDefault/10.0.0.0/24")).value)  # type: ignore[union-attr]
    assert [i for i in range(256) if bits.is_set(i)] == [0, 1, 2, 255]  # network, gateway, web-1, broadcast


def test_second_network_gets_next_pool_and_vni() -> None:
    alloc = Allocator(MemoryKV())
    a = alloc.create_network(NetworkConf("a"))
    b = alloc.create_network(NetworkConf("b"))
    c = alloc.create_network(NetworkConf("c", subnet=IPv4Network("10.0.2.0/24"), gateway=IPv4Address("10.0.2.254")))
    d = alloc.create_network(NetworkConf("d"))
    assert [str(n.subnet) for n in (a, b, c, d)] == ["10.0.0.0/24", "10.0.1.0/24", "10.0.2.0/24", "10.0.3.0/24"]
    assert [n.vni for n in (a, b, c, d)] == [256, 257, 258, 259]
    assert c.gateway == IPv4Address("10.0.2.254")
    assert alloc.create_network(NetworkConf("a")) == a  # another daemon finds it in the store


def test_swarm_mode_vnis_from_4096() -> None:
    alloc = Allocator(MemoryKV(), mode="swarm")
    assert [alloc.create_network(NetworkConf(n)).vni for n in ("ingress", "app")] == [4096, 4097]


def test_ip_range_and_given_addresses() -> None:
    alloc = Allocator(MemoryKV())
    net = alloc.create_network(NetworkConf("r", subnet=IPv4Network("10.5.0.0/16"), ip_range=IPv4Network("10.5.7.0/30")))
    assert net.gateway == IPv4Address("10.5.7.0")  # RequestAddress for the gateway uses the sub-pool too
    ips = [alloc.create_endpoint(net, f"c{i}", H1).ip for i in range(3)]
    assert ips == [IPv4Address("10.5.7.1"), IPv4Address("10.5.7.2"), IPv4Address("10.5.7.3")]
    with pytest.raises(Exception, match="no available IPv4 addresses"):
        alloc.create_endpoint(net, "c3", H1)
    assert alloc.create_endpoint(net, "pinned", H2, ip=IPv4Address("10.5.9.9")).ip == IPv4Address("10.5.9.9")
    with pytest.raises(IPAMError, match="Address already in use"):
        alloc.create_endpoint(net, "again", H2, ip=IPv4Address("10.5.9.9"))
    with pytest.raises(IPAMError, match="out of the network's range"):
        alloc.create_endpoint(net, "outside", H2, ip=IPv4Address("10.6.0.1"))
    assert alloc.create_endpoint(net, "c1", H2).ip == ips[1]  # the same container: its endpoint


def test_overlapping_pools_refused() -> None:
    alloc = Allocator(MemoryKV())
    alloc.create_network(NetworkConf("a", subnet=IPv4Network("10.0.0.0/16")))
    with pytest.raises(IPAMError, match="Pool overlaps"):
        alloc.create_network(NetworkConf("b", subnet=IPv4Network("10.0.3.0/24")))
    assert alloc.create_network(NetworkConf("c")).subnet == IPv4Network("10.1.0.0/24")  # skips the /16


@settings(max_examples=25, deadline=None)
@given(
    nets=st.lists(st.tuples(st.booleans(), st.integers(24, 28), st.integers(0, 3)), min_size=1, max_size=4),
    containers=st.lists(st.tuples(st.integers(0, 3), st.sampled_from([H1, H2])), max_size=30),
)
def test_endpoints_unique_inside_their_subnet_and_range(nets: list[tuple[bool, int, int]], containers: list[tuple[int, IPv4Address]]) -> None:
    alloc = Allocator(MemoryKV())
    records = []
    for i, (fixed, plen, rng) in enumerate(nets):
        subnet = IPv4Network((f"10.{100 + i}.0.0", plen)) if fixed else None
        ip_range = IPv4Network((f"10.{100 + i}.0.0", plen + rng)) if fixed and rng else None
        records.append(alloc.create_network(NetworkConf(f"n{i}", subnet=subnet, ip_range=ip_range)))
    assert len({n.vni for n in records}) == len(records) and min(n.vni for n in records) == 256
    for j, (which, host) in enumerate(containers):
        net = records[which % len(records)]
        try:
            alloc.create_endpoint(net, f"c{j}", host)
        except Exception as exc:  # a full pool is the only acceptable refusal
            assert "no available IPv4 addresses" in str(exc)
    for net in records:
        eps = alloc.endpoints(net.id)
        ips = [e.ip for e in eps] + [net.gateway]
        assert len(ips) == len(set(ips)), "no two endpoints (nor the gateway) share an address"
        for e in eps:
            assert e.ip in (net.ip_range or net.subnet) and e.ip not in (net.subnet.network_address, net.subnet.broadcast_address)
