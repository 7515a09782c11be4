"""Addresses in generated clusters: unique, and inside the range they belong to."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from overlaynet.model import Cluster
from overlaynet.testing.strategies import clusters

from . import PROPERTIES

any_cluster = st.booleans().flatmap(lambda dual: clusters(max_nodes=5, segments=(1, 3), dual_stack=dual))


@PROPERTIES
@given(any_cluster)
def test_host_and_pod_addresses(cluster: Cluster) -> None:
    """One drawn cluster per example checks every host-side address rule (generation is
    the costly part)."""
    pod_ips_unique_and_inside_their_node_pod_cidr(cluster)
    node_pod_cidrs_disjoint_and_inside_the_cluster_pod_cidr(cluster)
    node_ips_unique_and_inside_their_segment(cluster)


@PROPERTIES
@given(any_cluster)
def test_service_addresses(cluster: Cluster) -> None:
    cluster_ips_unique_and_inside_the_service_cidr(cluster)
    node_ports_unique_and_inside_the_range(cluster)


def pod_ips_unique_and_inside_their_node_pod_cidr(cluster: Cluster) -> None:
    ips = [ip for pod in cluster.pods for ip in pod.ips]
    assert len(ips) == len(set(ips))
    for pod in cluster.pods:
        assert pod.node is not None
        node = cluster.node(pod.node)
        assert pod.ips, pod
        for ip in pod.ips:
            cidr = next(c for c in node.pod_cidrs if c.version == ip.version)
            assert ip in cidr and ip not in (cidr.network_address, cidr[1]), (pod.key, ip, cidr)
        assert len({ip.version for ip in pod.ips}) == len(pod.ips)  # one address per family


def node_pod_cidrs_disjoint_and_inside_the_cluster_pod_cidr(cluster: Cluster) -> None:
    cidrs = [c for n in cluster.nodes for c in n.pod_cidrs]
    for i, a in enumerate(cidrs):
        assert any(a.subnet_of(p) for p in cluster.pod_cidrs if p.version == a.version)  # type: ignore[arg-type]
        assert not any(a.overlaps(b) for b in cidrs[i + 1 :])  # type: ignore[arg-type]


def node_ips_unique_and_inside_their_segment(cluster: Cluster) -> None:
    assert len({n.name for n in cluster.nodes}) == len(cluster.nodes)
    assert len({n.ip for n in cluster.nodes}) == len(cluster.nodes)
    routers = {ip for r in cluster.underlay.routers for ip in r.interfaces.values()}
    for node in cluster.nodes:
        assert node.ip in cluster.segment(node.segment).cidr
        assert node.ip not in routers


def cluster_ips_unique_and_inside_the_service_cidr(cluster: Cluster) -> None:
    ips = [ip for s in cluster.services for ip in s.cluster_ips]
    assert len(ips) == len(set(ips))
    assert cluster.dns_ip not in ips
    for svc in cluster.services:
        if svc.type == "ExternalName" or svc.headless:
            assert svc.cluster_ips == ()
            continue
        assert svc.cluster_ips
        fams = ["IPv4" if ip.version == 4 else "IPv6" for ip in svc.cluster_ips]
        assert tuple(fams) == svc.ip_families
        for ip in svc.cluster_ips:
            assert any(ip in c for c in cluster.service_cidrs), (svc.key, ip)


def node_ports_unique_and_inside_the_range(cluster: Cluster) -> None:
    lo, hi = cluster.node_port_range
    ports = [p.node_port for s in cluster.services for p in s.ports if p.node_port is not None]
    assert len(ports) == len(set(ports))
    assert all(lo <= p <= hi for p in ports)
    for svc in cluster.services:
        has = all(p.node_port is not None for p in svc.ports)
        assert has == (svc.type in ("NodePort", "LoadBalancer")) or not svc.ports
