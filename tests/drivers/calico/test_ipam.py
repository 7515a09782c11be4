from __future__ import annotations

import ipaddress
import json

import pytest

from overlaynet.drivers.calico.ipam import CalicoIPAM, block_key
from overlaynet.errors import AddressExhausted
from overlaynet.kv import MemoryKV

POOL = (ipaddress.ip_network("10.244.0.0/24"),)


def test_first_block_lowest_ordinal_and_kv_layout() -> None:
    kv = MemoryKV()
    ipam = CalicoIPAM(POOL, block_size=26, kv=kv)
    a = ipam.assign("n1", "h1")
    assert str(a.ip) == "10.244.0.0" and str(a.block) == "10.244.0.0/26" and not a.borrowed
    b = ipam.assign("n2", "h2")
    assert str(b.block) == "10.244.0.64/26"
    stored = kv.get(block_key(ipaddress.ip_network("10.244.0.0/26")))
    assert stored is not None
    doc = json.loads(stored.value)
    assert doc["affinity"] == "host:n1" and doc["allocations"][0] == 0 and 0 not in doc["unallocated"]
    assert kv.get("/calico/ipam/v2/host/n1/ipv4/block/10.244.0.0-26") is not None


def test_node_claims_second_block_when_first_full() -> None:
    ipam = CalicoIPAM(POOL, block_size=30)  # 4 addresses per block
    ips = [ipam.assign("n1", f"h{i}").ip for i in range(6)]
    assert [str(i) for i in ips[:4]] == ["10.244.0.0", "10.244.0.1", "10.244.0.2", "10.244.0.3"]
    assert [str(b.cidr) for b in ipam.node_blocks("n1")] == ["10.244.0.0/30", "10.244.0.4/30"]


def test_borrowing_when_pool_has_no_free_block() -> None:
    ipam = CalicoIPAM(POOL, block_size=25)  # two blocks only
    ipam.assign("n1", "a")
    ipam.assign("n2", "b")
    c = ipam.assign("n3", "c")
    assert c.borrowed and str(c.block) == "10.244.0.0/25" and str(c.ip) == "10.244.0.1"
    assert ipam.borrowed() == [c]


def test_strict_affinity_refuses_to_borrow() -> None:
    ipam = CalicoIPAM(POOL, block_size=25, strict_affinity=True)
    ipam.assign("n1", "a")
    ipam.assign("n2", "b")
    with pytest.raises(AddressExhausted, match="strictAffinity forbids borrowing"):
        ipam.assign("n3", "c")


def test_pool_full_is_address_exhausted() -> None:
    ipam = CalicoIPAM((ipaddress.ip_network("10.244.0.0/30"),), block_size=30)
    for i in range(4):
        ipam.assign("n1", f"h{i}")
    with pytest.raises(AddressExhausted, match="10.244.0.0/30"):
        ipam.assign("n1", "h9")


def test_max_blocks_per_host_limits_claims() -> None:
    ipam = CalicoIPAM(POOL, block_size=30, max_blocks_per_host=1, strict_affinity=True)
    for i in range(4):
        ipam.assign("n1", f"h{i}")
    with pytest.raises(AddressExhausted):
        ipam.assign("n1", "h4")


def test_assign_ip_given_by_file_claims_block_and_detects_clash() -> None:
    ipam = CalicoIPAM(POOL, block_size=26)
    a = ipam.assign_ip(ipaddress.ip_address("10.244.0.70"), "n2", "x")
    assert str(a.block) == "10.244.0.64/26" and ipam.node_blocks("n2")[0].affinity == "n2"
    with pytest.raises(AddressExhausted, match="already assigned"):
        ipam.assign_ip(ipaddress.ip_address("10.244.0.70"), "n2", "y")
    with pytest.raises(AddressExhausted, match="in no IP pool"):
        ipam.assign_ip(ipaddress.ip_address("10.9.0.1"), "n2", "z")


def test_assignment_is_idempotent_per_handle() -> None:
    ipam = CalicoIPAM(POOL)
    assert ipam.assign("n1", "h") == ipam.assign("n1", "h")
