"""Flannel against a real etcd v3: the leases flanneld would write, where etcdctl finds them."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from kv.conftest import etcd_url  # noqa: F401  (the session's real etcd, from tests/kv)

from overlaynet.dataplane.ir import NsRef
from overlaynet.drivers.flannel import FlannelDriver
from overlaynet.kv import KVStore

from ..helpers import assemble, cluster

pytestmark = pytest.mark.etcd
PREFIX = "/onet-h4-test/network"
NODES = tuple((f"node-{i}", f"192.168.10.{10 + i}", None) for i in range(1, 4))


@pytest.fixture
def etcd(etcd_url: str) -> Iterator[KVStore]:  # noqa: F811
    from overlaynet.kv import EtcdKV

    store = EtcdKV([etcd_url])
    store.delete_prefix(PREFIX)
    try:
        yield store
    finally:
        store.delete_prefix(PREFIX)
        store.close()


def test_etcd_mode_on_real_etcd(etcd: KVStore) -> None:
    c = cluster(nodes=NODES, pods=(("a", "node-1", None), ("b", "node-3", None)),
                options={"subnetManager": "etcd", "etcdPrefix": PREFIX})
    drv = FlannelDriver(c, c.network.options, kv=etcd, seed=11)
    allocated, dp = assemble(drv)
    keys = etcd.list_prefix(f"{PREFIX}/subnets/")
    assert len(keys) == 3 and all(k.lease is not None for k in keys)  # 24 h etcd leases
    by_ip = {json.loads(k.value)["PublicIP"]: k.key for k in keys}
    for node in allocated.nodes:
        cidr = node.pod_cidr
        assert cidr is not None
        assert by_ip[str(node.ip)] == f"{PREFIX}/subnets/{cidr.network_address}-{cidr.prefixlen}"
    config = etcd.get(f"{PREFIX}/config")
    assert config is not None and json.loads(config.value)["Backend"]["Type"] == "vxlan"
    # the same seed on an empty etcd picks the same subnets as on the memory store
    memory = FlannelDriver(c, c.network.options, seed=11).allocate()
    assert [n.pod_cidr for n in memory.nodes] == [n.pod_cidr for n in allocated.nodes]
    root = dp.namespaces[NsRef("node-1")]
    assert len([r for r in root.routes if r.onlink]) == 2
