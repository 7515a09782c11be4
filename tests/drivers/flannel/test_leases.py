from __future__ import annotations

import json
import random
from ipaddress import IPv4Address, IPv4Network

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from overlaynet.drivers.flannel import FlannelDriver
from overlaynet.drivers.flannel.config import resolve_config, validate_options
from overlaynet.drivers.flannel.leases import (
    SUBNET_TTL,
    Lease,
    allocate_subnet,
    lease_key,
    parse_lease,
)
from overlaynet.errors import AddressExhausted, TopologyError
from overlaynet.kv import KeyValue, MemoryKV
from overlaynet.model import Cluster, ip_network

from ..helpers import cluster

PREFIX = "/coreos.com/network"
NODES = tuple((f"node-{i}", f"192.168.10.{10 + i}", None) for i in range(1, 6))


def config(**options: object):  # type: ignore[no-untyped-def]
    return resolve_config(validate_options(options), Cluster(pod_cidrs=(ip_network("10.244.0.0/16"),)))


def lease(subnet: str, ip: str = "192.168.10.1") -> Lease:
    return Lease(IPv4Network(subnet), IPv4Address(ip), "vxlan", 1, "02:00:00:00:00:01")


def etcd_leases(seed: int, kv: MemoryKV | None = None) -> dict[str, str]:
    c = cluster(nodes=NODES, options={"subnetManager": "etcd"})
    drv = FlannelDriver(c, c.network.options, kv=kv, seed=seed)
    return {n.name: str(n.pod_cidr) for n in drv.allocate().nodes}


def test_allocate_subnet_is_seeded() -> None:
    cfg = config()
    picks = {allocate_subnet(cfg, [], random.Random(seed)) for seed in range(20)}
    assert allocate_subnet(cfg, [], random.Random(7)) == allocate_subnet(cfg, [], random.Random(7))
    assert len(picks) > 1
    # only the first 100 free subnets are candidates (flanneld stops collecting there)
    assert all(IPv4Network("10.244.1.0/24").network_address <= p.network_address
               <= IPv4Network("10.244.100.0/24").network_address for p in picks)


def test_allocate_subnet_skips_overlapping_leases() -> None:
    cfg = config(subnetMax="10.244.4.0")
    taken = [lease("10.244.1.0/24"), lease("10.244.2.0/23")]  # covers 2 and 3
    assert {allocate_subnet(cfg, taken, random.Random(s)) for s in range(10)} == {
        IPv4Network("10.244.4.0/24")
    }


def test_out_of_subnets() -> None:
    cfg = config(subnetMax="10.244.2.0")
    with pytest.raises(AddressExhausted, match="out of subnets"):
        allocate_subnet(cfg, [lease("10.244.1.0/24"), lease("10.244.2.0/24")], random.Random(0))


def test_etcd_mode_cluster_out_of_subnets() -> None:
    c = cluster(nodes=NODES, options={"subnetManager": "etcd", "subnetMax": "10.244.3.0"})
    with pytest.raises(AddressExhausted, match="out of subnets"):
        FlannelDriver(c, c.network.options).allocate()


def test_etcd_mode_same_seed_same_leases() -> None:
    first = etcd_leases(1)
    assert first == etcd_leases(1)
    assert len(set(first.values())) == len(first)
    assert any(etcd_leases(seed) != first for seed in range(2, 6))
    assert all(IPv4Network(v).prefixlen == 24 and v != "10.244.0.0/24" for v in first.values())


def test_etcd_mode_reuses_the_lease_of_its_public_ip() -> None:
    kv = MemoryKV()
    first = etcd_leases(1, kv)
    assert etcd_leases(99, kv) == first  # restart: same PublicIP, same subnet


def test_leases_carry_a_24h_ttl_and_expire() -> None:
    now = [0.0]
    kv = MemoryKV(clock=lambda: now[0])
    etcd_leases(3, kv)
    keys = kv.list_prefix(f"{PREFIX}/subnets/")
    assert len(keys) == len(NODES) and all(k.lease is not None for k in keys)
    now[0] = SUBNET_TTL - 1
    assert len(kv.list_prefix(f"{PREFIX}/subnets/")) == len(NODES)
    now[0] = SUBNET_TTL
    assert kv.list_prefix(f"{PREFIX}/subnets/") == []
    assert kv.get(f"{PREFIX}/config") is not None  # the config has no TTL


def test_file_pod_cidr_is_a_reservation_in_etcd_mode() -> None:
    c = cluster(nodes=(("node-1", "192.168.10.11", "10.244.77.0/24"), ("node-2", "192.168.10.12", None)),
                options={"subnetManager": "etcd"})
    kv = MemoryKV()
    out = FlannelDriver(c, c.network.options, kv=kv, seed=5).allocate()
    assert str(out.node("node-1").pod_cidr) == "10.244.77.0/24"
    assert out.node("node-1").pod_cidrs_allocated is False
    assert out.node("node-2").pod_cidrs_allocated is True
    reserved = kv.get(lease_key(PREFIX, IPv4Network("10.244.77.0/24")))
    assert reserved is not None and reserved.lease is None  # no TTL: a reservation


def test_incompatible_reservation_is_replaced() -> None:
    # a /25 does not fit SubnetLen 24: flanneld deletes it and allocates anew
    c = cluster(nodes=(("node-1", "192.168.10.11", "10.244.77.0/25"),), options={"subnetManager": "etcd"})
    kv = MemoryKV()
    out = FlannelDriver(c, c.network.options, kv=kv).allocate()
    assert out.node("node-1").pod_cidr.prefixlen == 24  # type: ignore[union-attr]
    assert kv.get(lease_key(PREFIX, IPv4Network("10.244.77.0/25"))) is None


def test_kube_mode_uses_node_pod_cidrs() -> None:
    c = cluster(nodes=(("node-1", "192.168.10.11", "10.244.7.0/24"), ("node-2", "192.168.10.12", None)))
    kv = MemoryKV()
    out = FlannelDriver(c, kv=kv).allocate()
    assert str(out.node("node-1").pod_cidr) == "10.244.7.0/24"
    # a node without podCIDR gets one as kube-controller-manager's range allocator would
    assert str(out.node("node-2").pod_cidr) == "10.244.0.0/24"
    keys = [k.key for k in kv.list_prefix(f"{PREFIX}/subnets/")]
    assert keys == [f"{PREFIX}/subnets/10.244.0.0-24", f"{PREFIX}/subnets/10.244.7.0-24"]
    assert all(k.lease is not None for k in kv.list_prefix(f"{PREFIX}/subnets/"))


def test_kube_mode_pod_cidr_outside_network() -> None:
    c = cluster(nodes=(("node-1", "192.168.10.11", "10.99.1.0/24"),))
    with pytest.raises(TopologyError, match=r"doesn't contain \"10.99.1.0/24\" PodCIDR of the \"node-1\" node"):
        FlannelDriver(c).allocate()


def test_kube_mode_duplicate_pod_cidr() -> None:
    c = cluster(nodes=(("node-1", "192.168.10.11", "10.244.1.0/24"), ("node-2", "192.168.10.12", "10.244.1.0/24")))
    with pytest.raises(TopologyError, match="already another node's"):
        FlannelDriver(c).allocate()


@pytest.mark.parametrize(
    ("backend", "value"),
    [
        ("vxlan", {"PublicIP": "192.168.10.11", "PublicIPv6": None, "BackendType": "vxlan",
                   "BackendData": {"VNI": 1, "VtepMAC": "__mac__"}}),
        ("host-gw", {"PublicIP": "192.168.10.11", "PublicIPv6": None, "BackendType": "host-gw"}),
        ("udp", {"PublicIP": "192.168.10.11", "PublicIPv6": None}),
    ],
)
def test_kv_layout_exact(backend: str, value: dict[str, object]) -> None:
    c = cluster(nodes=(("node-1", "192.168.10.11", "10.244.1.0/24"),), options={"backend": backend})
    kv = MemoryKV()
    drv = FlannelDriver(c, c.network.options, kv=kv)
    drv.allocate()
    entry = kv.get("/coreos.com/network/subnets/10.244.1.0-24")
    assert entry is not None
    if backend == "vxlan":
        value["BackendData"] = {"VNI": 1, "VtepMAC": drv.vtep_mac(c.node("node-1"))}
    assert entry.value == json.dumps(value, separators=(",", ":"))
    config = kv.get("/coreos.com/network/config")
    assert config is not None and json.loads(config.value)["Backend"]["Type"] == backend


def test_custom_prefix() -> None:
    c = cluster(nodes=(("node-1", "192.168.10.11", "10.244.1.0/24"),), options={"etcdPrefix": "/x/net"})
    kv = MemoryKV()
    FlannelDriver(c, c.network.options, kv=kv).allocate()
    assert [k.key for k in kv.list_prefix("/")] == ["/x/net/config", "/x/net/subnets/10.244.1.0-24"]


def test_parse_lease_round_trip_and_malformed() -> None:
    original = lease("10.5.52.0/24", "192.168.64.3")
    kv = KeyValue(lease_key(PREFIX, original.subnet), original.value(), 2, 2, 1, 7)
    back = parse_lease(PREFIX, kv)
    assert back is not None and back.subnet == original.subnet and back.kv_lease == 7
    assert (back.public_ip, back.vtep_mac, back.vni) == (original.public_ip, original.vtep_mac, 1)
    assert parse_lease(PREFIX, KeyValue(f"{PREFIX}/subnets/10.5.52.0-24", "{not json", 2, 2, 1)) is None
    assert parse_lease(PREFIX, KeyValue(f"{PREFIX}/subnets/garbage", "{}", 2, 2, 1)) is None


@settings(max_examples=25, deadline=None)
@given(count=st.integers(1, 14), subnet_len=st.integers(24, 28), seed=st.integers(0, 2**16))
def test_etcd_leases_property(count: int, subnet_len: int, seed: int) -> None:
    nodes = tuple((f"n{i}", f"192.168.10.{10 + i}", None) for i in range(count))
    options = {"subnetManager": "etcd", "network": "10.7.0.0/22", "subnetLen": subnet_len}
    c = cluster(nodes=nodes, options=options, pod_cidr="10.7.0.0/22")
    cfg = resolve_config(validate_options(options), c)
    free = (int(cfg.subnet_max) - int(cfg.subnet_min)) // (1 << (32 - subnet_len)) + 1
    if count > free:
        with pytest.raises(AddressExhausted, match="out of subnets"):
            FlannelDriver(c, options, seed=seed).allocate()
        return
    out = FlannelDriver(c, options, seed=seed).allocate()
    subnets = [n.pod_cidr for n in out.nodes]
    assert len(set(subnets)) == count
    for s in subnets:
        assert s is not None and s.prefixlen == subnet_len and cfg.compatible(s)  # type: ignore[arg-type]
    assert [n.pod_cidr for n in FlannelDriver(c, options, seed=seed).allocate().nodes] == subnets
