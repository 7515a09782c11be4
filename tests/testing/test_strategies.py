"""The public strategies: option validation up front, and valid objects when used alone."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from overlaynet.dataplane.packet import Packet
from overlaynet.model import Cluster, NetworkPolicy, Node, Pod, Segment, Service
from overlaynet.testing import strategies as ost

FEW = settings(max_examples=25, deadline=None)
SEGMENT = Segment("rack-a", ipaddress.ip_network("192.168.10.0/24"))
NODE = Node("n1", ipaddress.ip_address("192.168.10.5"), "rack-a",
            pod_cidrs=(ipaddress.ip_network("10.244.7.0/24"), ipaddress.ip_network("fd00::/64")))


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: ost.clusters(min_nodes=3, max_nodes=2), "below min_nodes"),
        (lambda: ost.clusters(max_nodes=0), "max_nodes=0"),
        (lambda: ost.clusters(segments=(3, 1)), "maximum is below"),
        (lambda: ost.clusters(drivers=()), "non-empty sequence"),
        (lambda: ost.clusters(drivers="flannel"), "non-empty sequence"),
        (lambda: ost.clusters(driver_options={"calico": {}}), "not in drivers"),
        (lambda: ost.clusters(driver_options={"flannel": 3}), "mapping or a strategy"),  # type: ignore[dict-item]
        (lambda: ost.clusters(max_pods_per_node=-1), "max_pods_per_node"),
        (lambda: ost.services(types=("Ingress",)), "not one of"),
        (lambda: ost.services(node_port_range=(40000, 30000)), "node_port_range"),
        (lambda: ost.packets(protocols=("gre",)), "not one of"),
        (lambda: ost.packets(destinations=("moon",)), "not one of"),
        (lambda: ost.packets(Cluster()), "no nodes"),
        (lambda: ost.nodes(segment="rack-a"), "expected a Segment"),  # type: ignore[arg-type]
        (lambda: ost.pods(node=Node("bare", ipaddress.ip_address("10.0.0.1"), "s")), "no pod CIDR"),
    ],
)
def test_bad_options_fail_at_once(make: object, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        make()  # type: ignore[operator]


@FEW
@given(ost.nodes(segment=SEGMENT, exclude_ips=[ipaddress.ip_address("192.168.10.2")]))
def test_nodes_alone(node: Node) -> None:
    assert node.segment == "rack-a" and node.ip in SEGMENT.cidr
    assert node.ip != ipaddress.ip_address("192.168.10.2")
    assert node.pod_cidr is not None and node.pod_cidr.prefixlen == 24


@FEW
@given(ost.pods(node=NODE, namespaces=("a", "b")))
def test_pods_alone(pod: Pod) -> None:
    assert pod.node == "n1" and pod.namespace in ("a", "b")
    assert [ip in c for ip, c in zip(pod.ips, NODE.pod_cidrs, strict=True)] == [True, True]
    names = [p.name for p in pod.ports if p.name]
    assert len(names) == len(set(names))


@FEW
@given(ost.services(service_cidrs=(ipaddress.ip_network("10.0.0.0/24"),), types=("NodePort",),
                    node_port_range=(31000, 31010)))
def test_services_alone(svc: Service) -> None:
    assert svc.type == "NodePort"
    assert all(ip in ipaddress.ip_network("10.0.0.0/24") for ip in svc.cluster_ips)
    assert all(p.node_port is not None and 31000 <= p.node_port <= 31010 for p in svc.ports)
    if len(svc.ports) > 1:
        assert all(p.name for p in svc.ports)


@FEW
@given(ost.network_policies(namespaces=("prod",)))
def test_network_policies_alone(pol: NetworkPolicy) -> None:
    assert pol.namespace == "prod"
    assert bool(pol.ingress) <= ("Ingress" in pol.policy_types)
    assert bool(pol.egress) <= ("Egress" in pol.policy_types)
    for rule in (*pol.ingress, *pol.egress):
        for port in rule.ports:
            assert port.end_port is None or (isinstance(port.port, int) and port.end_port >= port.port)


@FEW
@given(st.data())
def test_packets_follow_the_cluster(data: st.DataObject) -> None:
    cluster: Cluster = data.draw(ost.clusters(max_nodes=3, dual_stack=data.draw(st.booleans())))
    pkt: Packet = data.draw(ost.packets(cluster, destinations=("pods", "services", "nodeports")))
    assert pkt.src.version == pkt.dst.version
    pod_ips = {ip for p in cluster.pods for ip in p.ips}
    assert pkt.src in pod_ips or pkt.src in {n.ip for n in cluster.nodes}
    listening = {(ip, p.port, p.protocol.lower()) for s in cluster.services for ip in s.cluster_ips for p in s.ports}
    listening |= {(n.ip, p.node_port, p.protocol.lower()) for s in cluster.services for p in s.ports
                  if p.node_port for n in cluster.nodes}
    if pkt.proto not in ("icmp", "icmpv6") and pkt.dst not in pod_ips:
        outside = (ipaddress.ip_network("203.0.113.0/24"), ipaddress.ip_network("2001:db8::/112"))
        assert (pkt.dst, pkt.dport, pkt.proto) in listening or any(pkt.dst in net for net in outside)


@FEW
@given(ost.packets(protocols=("udp",)))
def test_packets_without_a_cluster(pkt: Packet) -> None:
    assert pkt.proto == "udp" and pkt.src in ipaddress.ip_network("10.0.0.0/8")
    assert pkt.sport is not None and pkt.dport is not None


def test_clusters_are_reproducible() -> None:
    """The same seed gives the same clusters (models are deterministic values)."""

    def run() -> list[Cluster]:
        seen: list[Cluster] = []

        @settings(max_examples=5, database=None, derandomize=True, deadline=None)
        @given(ost.clusters(max_nodes=2))
        def collect(c: Cluster) -> None:
            seen.append(c)

        collect()
        return seen

    first = run()
    assert first and run() == first


def test_public_names() -> None:
    assert sorted(ost.__all__) == ost.__all__
    for name in ost.__all__:
        assert callable(getattr(ost, name))


@settings(max_examples=8, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(ost.clusters(max_nodes=3, drivers=("weave", "docker-overlay"), services=False, pod_ips="ipam"))
def test_ipam_pod_ips_let_drivers_with_their_own_range_assemble_and_deliver(cluster: Cluster) -> None:
    import overlaynet

    assert all(not p.ips and p.allocated for p in cluster.pods)
    net = overlaynet.assemble(cluster)
    pods = net.cluster.pods
    assert all(p.ips for p in pods if p.node is not None)
    for a in pods:
        for b in pods:
            if a != b:
                t = net.trace(a.key, b.key).trace
                assert t.disposition is overlaynet.Disposition.DELIVERED, (net.driver.name, a.key, b.key, t.reason)


def test_pod_ips_must_be_drawn_or_ipam() -> None:
    with pytest.raises(InvalidArgument, match="pod_ips='dhcp'"):
        ost.clusters(pod_ips="dhcp").example()  # type: ignore[arg-type]
