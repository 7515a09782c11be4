"""The driver conformance suite: every registered driver, in each of its modes, must pass.

On clusters from ``overlaynet.testing.strategies.clusters``: IPAM gives unique pod addresses
inside the node's pod CIDR (lease), the IR carries them, MTUs are consistent with the
encapsulation the IR shows, and every pod reaches every other pod (tracer: DELIVERED).
Modes that need L2 adjacency between hosts are drawn on one segment only.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from overlaynet.dataplane.ir import NetNamespace, NsRef
from overlaynet.dataplane.netfilter import ChainRole
from overlaynet.dataplane.packet import Packet
from overlaynet.drivers import available_drivers, get_driver
from overlaynet.errors import DriverOptionError
from overlaynet.model import Cluster
from overlaynet.network import Network, assemble
from overlaynet.testing.strategies import clusters
from overlaynet.trace import trace

#: (driver, mode) pairs whose hosts must share an L2 segment (no encapsulation, and the
#: underlay routers know no pod routes). Add a mode here only with a reason.
L2_ONLY_MODES = {
    ("flannel", "host-gw"),  # route via the peer's IP, no onlink: reference/drivers.md §1.4
    ("calico", "none"),  # plain routes between hosts; the underlay routers do not peer BGP
}

#: Drivers whose pod addresses come from cluster-wide networks rather than per-node pod
#: CIDRs (Docker overlay: one subnet per network across all hosts). The generated clusters
#: give pods addresses from node CIDRs, which such a driver rightly refuses, so IPAM chooses.
#: Weave: its ring IPAM refuses to claim an address in another peer's range (ipam/claim.go).
CLUSTER_WIDE_IPAM = {"docker-overlay", "weave"}

#: Bytes a tunnel device of each kind costs against the underlay MTU (reference §5, IPv4).
TUNNEL_OVERHEAD = {"vxlan": 50, "ipip": 20}
UDP_FORWARDER_OVERHEAD = 28  # IPv4 20 + UDP 8, plus the forwarder's framing

CASES = [
    pytest.param(name, mode, options, id=f"{name}-{mode}")
    for name in available_drivers()
    for mode, options in sorted(get_driver(name).modes().items())
]


@st.composite
def conformance_clusters(draw: st.DrawFn, driver: str, mode: str, options: dict[str, Any]) -> Cluster:
    segments = (1, 1) if (driver, mode) in L2_ONLY_MODES else (1, 3)
    cluster = draw(clusters(
        max_nodes=3, segments=segments, drivers=(driver,), driver_options={driver: options},
        max_pods_per_node=3, services=False,
    ))
    ipam_only = driver in CLUSTER_WIDE_IPAM or draw(st.booleans())
    pods = []
    for pod in cluster.pods:
        node = cluster.node(pod.node) if pod.node else None
        cidr = node.pod_cidr if node else None
        reserved = cidr is not None and pod.ip is not None and pod.ip in (
            cidr.network_address, cidr.network_address + 1, cidr.broadcast_address)
        if ipam_only or reserved:  # let the driver's IPAM choose (it keeps .1 for the gateway)
            pod = replace(pod, ips=(), allocated=True)
        pods.append(pod)
    return replace(cluster, pods=tuple(pods))


def _tunnel_overhead(root: NetNamespace) -> int:
    worst = 0
    for iface in root.interfaces.values():
        if iface.kind in TUNNEL_OVERHEAD:
            worst = max(worst, TUNNEL_OVERHEAD[iface.kind])
        if iface.kind == "tun" and iface.tun is not None:
            fwd = root.forwarders[iface.tun.forwarder]
            worst = max(worst, UDP_FORWARDER_OVERHEAD + fwd.framing_bytes)
    return worst


def check_addresses(net: Network) -> None:
    cluster = net.cluster
    pods = [p for p in cluster.pods if p.node is not None and not p.host_network]
    ips = [p.ip for p in pods]
    assert None not in ips, "every scheduled pod has an address"
    assert len(ips) == len(set(ips)), "pod addresses are unique"
    for pod in pods:
        node = cluster.node(pod.node)  # type: ignore[arg-type]
        allowed = net.driver.pod_networks(node)
        assert any(pod.ip in c for c in allowed), f"{pod.key} {pod.ip} outside {allowed}"


def check_ir_and_mtu(net: Network) -> None:
    cluster, dp, drv = net.cluster, net.build_all(), net.driver
    for node in cluster.nodes:
        root = dp.namespace(NsRef(node.name))
        underlay = root.interfaces["eth0"].mtu
        assert underlay == cluster.segment(node.segment).mtu
        pod_mtu = drv.pod_mtu(node)
        assert pod_mtu <= underlay - _tunnel_overhead(root), node.name
        for iface in root.interfaces.values():
            if iface.kind in TUNNEL_OVERHEAD:
                assert iface.mtu <= underlay - TUNNEL_OVERHEAD[iface.kind]
        for pod in cluster.pods_on(node.name):
            if pod.host_network:
                continue
            eth0 = dp.namespace(NsRef.pod(node.name, pod.key)).interfaces["eth0"]
            assert pod.ip in {a.ip for a in eth0.addresses}
            assert eth0.mtu <= pod_mtu


def check_chain_roles(net: Network) -> None:
    """Every chain an agent writes says who wrote it and what it is for: the tracer reads
    policy and Service steps from the role, never from the chain's name."""
    for ns in net.build_all().namespaces.values():
        for table in ns.netfilter.tables.values():
            for chain in table.user_chains():
                where = f"{ns.ref} {table.name}/{chain.name}"
                assert chain.origin, f"{where} has no origin"
                assert chain.role is not ChainRole.UNKNOWN, f"{where} ({chain.origin}) has no role"


def check_reachability(net: Network) -> None:
    pods = [p for p in net.cluster.pods if p.node is not None and not p.host_network]
    for src in pods:
        for dst in pods:
            if src is dst:
                continue
            packet = Packet(src.ip, dst.ip, "tcp", 40000, 8080)  # type: ignore[arg-type]
            result = trace(net, packet, NsRef.of_pod(src))
            t = result.trace
            assert t.disposition == "DELIVERED", (
                f"{src.key} ({src.ip}, {src.node}) → {dst.key} ({dst.ip}, {dst.node}): "
                f"{t.disposition} {t.reason}"
            )


@pytest.mark.parametrize(("driver", "mode", "options"), CASES)
def test_modes_validate(driver: str, mode: str, options: dict[str, Any]) -> None:
    cls = get_driver(driver)
    validated = cls.validate_options(options)
    assert {k: validated[k] for k in options} == options, "validation keeps what the mode asks for"
    with pytest.raises(DriverOptionError):
        cls.validate_options({**options, "no-such-option-anywhere": 1})


@pytest.mark.parametrize("driver", available_drivers())
def test_each_mode_is_a_different_configuration(driver: str) -> None:
    cls = get_driver(driver)
    validated = [cls.validate_options(o) for o in cls.modes().values()]
    assert all(a != b for i, a in enumerate(validated) for b in validated[i + 1:]), cls.modes()


@pytest.mark.parametrize(("driver", "mode", "options"), CASES)
def test_validated_options_validate_again(driver: str, mode: str, options: dict[str, Any]) -> None:
    """Checked options are a fixed point: ``reach``, ``diff`` and ``overhead`` hand a driver's
    validated options to a fresh driver (flannel host-gw refused its own ``vni: null``)."""
    cls = get_driver(driver)
    once = cls.validate_options(options)
    assert cls.validate_options(once) == once


@pytest.mark.parametrize(("driver", "mode", "options"), CASES)
def test_conformance(driver: str, mode: str, options: dict[str, Any]) -> None:
    @settings(max_examples=10, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(cluster=conformance_clusters(driver, mode, options), seed=st.integers(0, 3))
    def run(cluster: Cluster, seed: int) -> None:
        net = assemble(cluster, seed=seed)
        check_addresses(net)
        check_reachability(net)  # lazily builds only the hosts the traces enter
        check_ir_and_mtu(net)
        check_chain_roles(net)

    run()
