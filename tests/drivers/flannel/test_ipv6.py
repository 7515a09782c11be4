"""flannel dual stack (EnableIPv6): options, IPv6 leases and their KV layout, subnet.env,
flannel-v6.1's entries, host-gw's IPv6 routes, and the example's IPv6 trace."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from ipaddress import IPv6Address, IPv6Network, ip_address, ip_network
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from overlaynet.dataplane.ir import NsRef
from overlaynet.drivers.flannel import FlannelDriver
from overlaynet.drivers.flannel.config import resolve_config, validate_options
from overlaynet.drivers.flannel.leases import Lease, allocate_ipv6_subnet
from overlaynet.errors import DriverOptionError, TopologyError
from overlaynet.kv.memory import MemoryKV
from overlaynet.model import Segment, Underlay
from overlaynet.trace.steps import DecapStep, EncapStep

from ..helpers import assemble, cluster

EXAMPLE = Path(__file__).resolve().parents[3] / "topologies" / "flannel-dual-stack.yaml"
V6_RACK = ip_network("fd00:192:168:10::/64")
V6_NET = "fd00:10:244::/56"


def dual_cluster(n: int = 3, **options: object):  # type: ignore[no-untyped-def]
    """n nodes on one dual-stack segment, each with an IPv6 address ::1x; no pod CIDRs."""
    nodes = tuple((f"node-{i}", f"192.168.10.1{i}", None) for i in range(1, n + 1))
    opts = {"enableIPv6": True, "ipv6Network": V6_NET, **options}
    c = cluster(nodes=nodes, options=opts)
    seg = replace(c.underlay.segments[0], extra_cidrs=(V6_RACK,))
    new_nodes = tuple(replace(node, extra_ips=(V6_RACK[int(f"1{i}", 16)],))
                      for i, node in enumerate(c.nodes, start=1))
    return replace(c, underlay=Underlay(segments=(seg,)), nodes=new_nodes)


def driver(c, **kw: object) -> FlannelDriver:  # type: ignore[no-untyped-def]
    return FlannelDriver(c, c.network.options, **kw)  # type: ignore[arg-type]


# --- options ------------------------------------------------------------------------------
@pytest.mark.parametrize(("options", "option", "text"), [
    ({"ipv6Network": V6_NET}, "ipv6Network", "only read with enableIPv6: true"),
    ({"enableIPv6": True, "backend": "udp"}, "enableIPv6", "the udp backend has no IPv6 data path"),
    ({"enableIPv6": "yes"}, "enableIPv6", "expected true or false"),
    ({"enableIPv6": True, "ipv6Network": "10.244.0.0/16"}, "ipv6Network", "IPv6Network is IPv6"),
    ({"enableIPv6": True, "ipv6Network": "fd00::1/56"}, "ipv6Network", "expected an IPv6 CIDR"),
    ({"enableIPv6": True, "ipv6SubnetMin": "10.0.0.1"}, "ipv6SubnetMin", "expected an IPv6 address"),
    ({"network": "fd00::/56"}, "network", "IPv6 uses ipv6Network"),
])
def test_bad_ipv6_options(options: dict[str, object], option: str, text: str) -> None:
    with pytest.raises(DriverOptionError) as err:
        validate_options(options)
    assert err.value.option == option and text in str(err.value)


@pytest.mark.parametrize(("options", "option", "text"), [
    ({"ipv6Network": "fd00::/125"}, "ipv6Network", "IPv6Network is too small. Minimum useful network prefix is /124"),
    ({"ipv6SubnetLen": 127}, "ipv6SubnetLen", "SubnetLen must be less than /127"),
    ({"ipv6SubnetLen": 57}, "ipv6SubnetLen", "network must be able to accommodate at least four subnets"),
    ({"ipv6SubnetMin": "fd00:20::"}, "ipv6SubnetMin", "IPv6SubnetMin is not in the range of the IPv6Network"),
    ({"ipv6SubnetMax": "fd00:10:244:1::1"}, "ipv6SubnetMax", "IPv6SubnetMax is not on a SubnetLen boundary"),
    ({"ipv6SubnetMin": "fd00:10:244:9::", "ipv6SubnetMax": "fd00:10:244:2::"}, "ipv6SubnetMin", "is above"),
])
def test_check_network_config_ipv6(options: dict[str, object], option: str, text: str) -> None:
    c = dual_cluster()
    opts = validate_options({"enableIPv6": True, "ipv6Network": V6_NET, **options})
    with pytest.raises(DriverOptionError) as err:
        resolve_config(opts, c)
    assert err.value.option == option and text in str(err.value)


def test_ipv6_defaults_and_config_json() -> None:
    c = dual_cluster()
    cfg = resolve_config(validate_options({"enableIPv6": True, "ipv6Network": V6_NET}), c)
    assert cfg.ipv6 is not None
    assert (cfg.ipv6.subnet_len, str(cfg.ipv6.subnet_min), str(cfg.ipv6.subnet_max)) == (
        64, "fd00:10:244:1::", "fd00:10:244:ff::")
    assert json.loads(cfg.to_json()) == {
        "Network": "10.244.0.0/16", "SubnetLen": 24, "SubnetMin": "10.244.1.0", "SubnetMax": "10.244.255.0",
        "EnableIPv6": True, "IPv6Network": V6_NET, "IPv6SubnetLen": 64,
        "IPv6SubnetMin": "fd00:10:244:1::", "IPv6SubnetMax": "fd00:10:244:ff::",
        "Backend": {"Type": "vxlan", "VNI": 1, "Port": 8472, "DirectRouting": False},
    }
    small = resolve_config(validate_options({"enableIPv6": True, "ipv6Network": "fd00::/120"}), c)
    assert small.ipv6 is not None and small.ipv6.subnet_len == 122  # prefix + 2 above /62


def test_ipv6_network_defaults_to_the_cluster_v6_pod_cidr_or_fails() -> None:
    c = dual_cluster()
    with pytest.raises(DriverOptionError, match="please define a correct IPv6Network parameter"):
        resolve_config(validate_options({"enableIPv6": True}), c)
    c6 = replace(c, pod_cidrs=(*c.pod_cidrs, ip_network("fd00:77::/48")))
    cfg = resolve_config(validate_options({"enableIPv6": True}), c6)
    assert cfg.ipv6 is not None and str(cfg.ipv6.network) == "fd00:77::/48"


def test_node_without_ipv6_address_is_refused() -> None:
    c = dual_cluster()
    c = replace(c, nodes=(replace(c.nodes[0], extra_ips=()), *c.nodes[1:]))
    with pytest.raises(TopologyError, match="node-1: flannel has enableIPv6 and needs an IPv6 PublicIPv6: "
                                            "failed to find IPv6 address for interface eth0"):
        driver(c, kv=MemoryKV()).allocate()


# --- leases -------------------------------------------------------------------------------
def test_etcd_dual_stack_kv_layout_exact() -> None:
    c = dual_cluster(1, subnetManager="etcd")
    kv = MemoryKV()
    drv = driver(c, kv=kv, seed=0)
    drv.allocate()
    (entry,) = kv.list_prefix("/coreos.com/network/subnets/")
    lease = drv.lease("node-1")
    assert lease.ipv6_subnet is not None
    v4, v6 = lease.subnet, lease.ipv6_subnet
    assert entry.key == f"/coreos.com/network/subnets/{v4.network_address}-24&{v6.network_address}-64"
    assert entry.value == (
        '{"PublicIP":"192.168.10.11","PublicIPv6":"fd00:192:168:10::11","BackendType":"vxlan",'
        f'"BackendData":{{"VNI":1,"VtepMAC":"{drv.vtep_mac(c.nodes[0])}"}},'
        f'"BackendV6Data":{{"VNI":1,"VtepMAC":"{drv.v6_vtep_mac(c.nodes[0])}"}}}}'
    )
    assert drv.vtep_mac(c.nodes[0]) != drv.v6_vtep_mac(c.nodes[0])
    assert entry.lease is not None  # a 24 h lease, not a reservation


def test_kube_mode_lease_key_is_the_node_pod_cidrs() -> None:
    c = dual_cluster(2)
    cidrs = [(ip_network(f"10.244.{i}.0/24"), ip_network(f"fd00:10:244:{i}::/64")) for i in (1, 2)]
    c = replace(c, nodes=tuple(replace(n, pod_cidrs=p) for n, p in zip(c.nodes, cidrs, strict=True)))
    kv = MemoryKV()
    driver(c, kv=kv).allocate()
    assert [e.key for e in kv.list_prefix("/coreos.com/network/subnets/")] == [
        "/coreos.com/network/subnets/10.244.1.0-24&fd00:10:244:1::-64",
        "/coreos.com/network/subnets/10.244.2.0-24&fd00:10:244:2::-64",
    ]


def test_kube_mode_refuses_a_v6_pod_cidr_outside_ipv6network() -> None:
    c = dual_cluster(1)
    c = replace(c, nodes=(replace(c.nodes[0], pod_cidrs=(ip_network("10.244.1.0/24"), ip_network("fd00:99::/64"))),))
    with pytest.raises(TopologyError, match="doesn't contain \"fd00:99::/64\" PodCIDR"):
        driver(c, kv=MemoryKV()).allocate()


@settings(max_examples=25, deadline=None)
@given(nodes=st.integers(1, 12), seed=st.integers(0, 2**16), sublen=st.sampled_from([60, 62, 64, 120]))
def test_etcd_v6_leases_do_not_overlap_and_fit(nodes: int, seed: int, sublen: int) -> None:
    net = "fd00:10:244::/56" if sublen <= 64 else "fd00:10:244::/116"
    c = dual_cluster(nodes, subnetManager="etcd", ipv6Network=net, ipv6SubnetLen=sublen)
    drv = driver(c, kv=MemoryKV(), seed=seed)
    out = drv.allocate()
    subnets = [drv.lease(n).ipv6_subnet for n in out.nodes]
    assert all(s is not None and s.prefixlen == sublen and s.subnet_of(ip_network(net)) for s in subnets)
    assert all(s is not None and s.network_address != ip_network(net).network_address for s in subnets)  # SubnetMin skips the first
    for i, a in enumerate(subnets):
        for b in subnets[i + 1:]:
            assert a is not None and b is not None and not a.overlaps(b)
    # each node's pod CIDRs are now its two leases, and its pods' IPv6 comes from the v6 one
    assert all(n.pod_cidrs == (drv.lease(n).subnet, drv.lease(n).ipv6_subnet) for n in out.nodes)


def test_allocate_ipv6_subnet_skips_leased_and_runs_out() -> None:
    c = dual_cluster(1, ipv6Network="fd00::/124")
    cfg = resolve_config(validate_options(c.network.options), c)
    assert cfg.ipv6 is not None
    taken = [Lease(ip_network("10.244.1.0/24"), ip_address("192.168.10.11"),  # type: ignore[arg-type]
                   ipv6_subnet=IPv6Network(f"fd00::{k:x}/126")) for k in (4, 8)]
    assert allocate_ipv6_subnet(cfg.ipv6, taken, random.Random(0)) == IPv6Network("fd00::c/126")
    taken.append(replace(taken[0], ipv6_subnet=IPv6Network("fd00::c/126")))
    with pytest.raises(Exception, match="out of subnets"):
        allocate_ipv6_subnet(cfg.ipv6, taken, random.Random(0))


def test_subnet_env_dual_stack_exact() -> None:
    c = dual_cluster(1)
    c = replace(c, nodes=(replace(c.nodes[0], pod_cidrs=(ip_network("10.244.1.0/24"), ip_network("fd00:10:244:1::/64"))),))
    drv = driver(c, kv=MemoryKV())
    drv.allocate()
    assert drv.subnet_env("node-1") == (
        "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\n"
        "FLANNEL_IPV6_NETWORK=fd00:10:244::/56\nFLANNEL_IPV6_SUBNET=fd00:10:244:1::1/64\n"
        "FLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n"
    )


# --- what the backends write --------------------------------------------------------------
def _kube_dual(n: int, **options: object):  # type: ignore[no-untyped-def]
    c = dual_cluster(n, **options)
    return replace(c, nodes=tuple(
        replace(node, pod_cidrs=(ip_network(f"10.244.{i}.0/24"), ip_network(f"fd00:10:244:{i}::/64")))
        for i, node in enumerate(c.nodes, start=1)))


def test_flannel_v6_device_and_entries_exact() -> None:
    c = _kube_dual(3)
    drv = driver(c, kv=MemoryKV())
    _, dp = assemble(drv)
    root = dp.namespaces[NsRef("node-1")]
    dev = root.interfaces["flannel-v6.1"]
    # flanneld asks for 1500 - 50; the kernel clamps a VXLAN-over-IPv6 device to 1500 - 70
    assert dev.kind == "vxlan" and dev.mtu == 1430 and root.interfaces["flannel.1"].mtu == 1450 and dev.mac == drv.v6_vtep_mac(c.nodes[0])
    assert dev.vxlan is not None
    assert (dev.vxlan.vni, dev.vxlan.local, dev.vxlan.port, dev.vxlan.dev) == (1, IPv6Address("fd00:192:168:10::11"), 8472, "eth0")
    assert [(str(a.ip), a.prefixlen) for a in dev.addresses] == [("fd00:10:244:1::", 128)]
    v6_routes = [(str(r.dst), str(r.via), r.dev, r.onlink) for r in root.routes if r.dev == "flannel-v6.1"]
    assert v6_routes == [
        ("fd00:10:244:2::/64", "fd00:10:244:2::", "flannel-v6.1", True),
        ("fd00:10:244:3::/64", "fd00:10:244:3::", "flannel-v6.1", True),
    ]
    neigh = [(str(n.ip), n.lladdr, n.state) for n in root.neighbors if n.dev == "flannel-v6.1"]
    assert neigh == [("fd00:10:244:2::", drv.v6_vtep_mac(c.nodes[1]), "PERMANENT"),
                     ("fd00:10:244:3::", drv.v6_vtep_mac(c.nodes[2]), "PERMANENT")]
    fdb = [(f.mac, str(f.dst), f.self_, f.permanent) for f in root.fdb if f.dev == "flannel-v6.1"]
    assert fdb == [(drv.v6_vtep_mac(c.nodes[1]), "fd00:192:168:10::12", True, True),
                   (drv.v6_vtep_mac(c.nodes[2]), "fd00:192:168:10::13", True, True)]
    # the IPv4 device is untouched: still one triple per peer on flannel.1
    assert [str(r.dst) for r in root.routes if r.dev == "flannel.1"] == ["10.244.2.0/24", "10.244.3.0/24"]
    # cni0 carries both gateways; each pod has both families and an IPv6 default route
    assert [str(a.ip) for a in root.interfaces["cni0"].addresses] == ["10.244.1.1", "fd00:10:244:1::1"]


def test_vxlan_v6_direct_routing_on_a_shared_segment() -> None:
    c = _kube_dual(2, directRouting=True)
    _, dp = assemble(driver(c, kv=MemoryKV()))
    root = dp.namespaces[NsRef("node-1")]
    assert [(str(r.dst), str(r.via), r.dev) for r in root.routes if r.dst.version == 6 and r.via is not None] == [
        ("fd00:10:244:2::/64", "fd00:192:168:10::12", "eth0")]
    assert not [f for f in root.fdb if f.dev == "flannel-v6.1"]


def test_host_gw_ipv6_routes_exact() -> None:
    c = _kube_dual(3, backend="host-gw")
    _, dp = assemble(driver(c, kv=MemoryKV()))
    root = dp.namespaces[NsRef("node-2")]
    assert [(str(r.dst), str(r.via), r.dev) for r in root.routes if r.dst.version == 6 and r.via is not None
            and r.dev == "eth0"] == [("fd00:10:244:1::/64", "fd00:192:168:10::11", "eth0"),
                                      ("fd00:10:244:3::/64", "fd00:192:168:10::13", "eth0")]
    assert "flannel-v6.1" not in root.interfaces


def test_host_gw_ipv6_refused_without_l2_adjacency() -> None:
    c = _kube_dual(2, backend="host-gw")
    far = Segment("rack-b", ip_network("192.168.20.0/24"), extra_cidrs=(ip_network("fd00:192:168:20::/64"),))
    node2 = replace(c.nodes[1], ip=ip_address("192.168.20.12"), segment="rack-b",
                    extra_ips=(ip_address("fd00:192:168:20::12"),))
    c = replace(c, underlay=Underlay(segments=(*c.underlay.segments, far)), nodes=(c.nodes[0], node2))
    _, dp = assemble(driver(c, kv=MemoryKV()))
    root = dp.namespaces[NsRef("node-1")]
    assert not [r for r in root.routes if r.dst == ip_network("fd00:10:244:2::/64")]
    assert any("route fd00:10:244:2::/64 via fd00:192:168:20::12 dev eth0 refused by the kernel" in str(d)
               for d in root.diagnostics)


# --- the shipped example ------------------------------------------------------------------
def test_example_traces_pod_to_ipv6_pod_through_flannel_v6() -> None:
    from overlaynet.network import assemble as assemble_net
    from overlaynet.network.request import TraceRequest, run
    from overlaynet.topology import load_cluster

    net = assemble_net(load_cluster([EXAMPLE]))
    t = run(net, TraceRequest("default/a1", "fd00:10:244:2::2")).forward.trace
    assert t.disposition.value == "DELIVERED", t.reason
    steps = [s for hop in t.hops for s in hop.steps]
    encap = next(s for s in steps if isinstance(s, EncapStep))
    assert (encap.encapsulation, encap.dev, encap.vni) == ("vxlan", "flannel-v6.1", 1)
    assert (encap.outer_src, encap.outer_dst, encap.outer_dport) == (
        IPv6Address("fd00:192:168:10::11"), IPv6Address("fd00:192:168:10::12"), 8472)
    assert (encap.inner_bytes, encap.overhead_bytes, encap.outer_bytes, encap.wire_bytes) == (64, 70, 134, 148)
    assert encap.layers[:4] == (("Ethernet", 14), ("IPv6", 40), ("UDP", 8), ("VXLAN", 8))
    decap = next(s for s in steps if isinstance(s, DecapStep))
    assert decap.dev == "flannel-v6.1"
    assert [str(h.ns) for h in t.hops] == ["node-1/pod:default/a1", "node-1", "node-2", "node-2/pod:default/b1"]
