"""Scenarios mirroring kubernetes pkg/proxy/iptables/proxier_test.go (NewFakeProxier conventions:
pod IPs 10.0.0.0/8, ClusterIPs 172.30.0.0/16, node 192.168.0.2 "test-node", LB 1.2.3.4/5.6.7.8)."""

from __future__ import annotations

from ipaddress import ip_address, ip_network

from overlaynet.dataplane.ir import Address, Dataplane, Interface, NsRef
from overlaynet.kubeproxy import ProxierConfig
from overlaynet.model import Cluster, Endpoint, EndpointPort, EndpointSlice, Service, ServicePort

TEST_NODE = "test-node"
TEST_NODE_IP = ip_address("192.168.0.2")


def fake_config(**changes: object) -> ProxierConfig:
    """NewFakeProxier: detect-local 10.0.0.0/8, nfacct counters present, no --random-fully."""
    base: dict[str, object] = dict(
        node_name=TEST_NODE,
        node_ips=(TEST_NODE_IP,),
        cluster_cidrs=(ip_network("10.0.0.0/8"),),
        nfacct=True,
        random_fully=False,
    )
    base.update(changes)
    return ProxierConfig(**base)  # type: ignore[arg-type]


def as_fake(text: str) -> str:
    """The fake proxier injects the mark as "0x4000" where kube-proxy prints %#08x."""
    return text.replace("0x004000", "0x4000")


def svc(ns: str, name: str, ip: str, port: int = 80, pname: str = "p80", **kw: object) -> Service:
    node_port = kw.pop("node_port", None)
    return Service(
        name=name,
        namespace=ns,
        cluster_ips=(ip_address(ip),),
        ports=(ServicePort(port=port, name=pname, node_port=node_port),),  # type: ignore[arg-type]
        **kw,  # type: ignore[arg-type]
    )


def eps(ns: str, name: str, *endpoints: Endpoint, port: int = 80, pname: str = "p80") -> EndpointSlice:
    return EndpointSlice(
        name=f"{name}-1", namespace=ns, service=name, endpoints=endpoints,
        ports=(EndpointPort(port=port, name=pname),),
    )


def ep(ip: str, node: str | None = None, **kw: bool) -> Endpoint:
    return Endpoint(addresses=(ip_address(ip),), node_name=node, **kw)


def overall() -> tuple[list[Service], list[EndpointSlice]]:
    """TestOverallIPTablesRules."""
    services = [
        svc("ns1", "svc1", "172.30.0.41"),
        svc("ns2", "svc2", "172.30.0.42", type="LoadBalancer", external_traffic_policy="Local",
            node_port=3001, load_balancer_ips=(ip_address("1.2.3.4"),),
            external_ips=(ip_address("192.168.99.22"),), health_check_node_port=30000),
        svc("ns3", "svc3", "172.30.0.43", type="NodePort", node_port=3003),
        svc("ns4", "svc4", "172.30.0.44", type="NodePort", external_ips=(ip_address("192.168.99.33"),)),
        svc("ns5", "svc5", "172.30.0.45", type="LoadBalancer", node_port=3002,
            load_balancer_ips=(ip_address("5.6.7.8"),), health_check_node_port=30000,
            load_balancer_source_ranges=(ip_network("203.0.113.0/25"),),
            session_affinity="ClientIP", session_affinity_timeout=10800),
        svc("ns6", "svc6", "172.30.0.46"),
    ]
    slices = [
        eps("ns1", "svc1", ep("10.180.0.1")),
        eps("ns2", "svc2", ep("10.180.0.2")),
        eps("ns3", "svc3", ep("10.180.0.3")),
        eps("ns4", "svc4", ep("10.180.0.4"), ep("10.180.0.5", TEST_NODE)),
        eps("ns5", "svc5", ep("10.180.0.3")),
    ]
    return services, slices


def node_dataplane(cluster: Cluster) -> Dataplane:
    """A dataplane with each of ``cluster``'s nodes as a host namespace holding ``lo`` and an
    ``eth0`` with the node's address (/24): what kube-proxy's programming needs beneath it."""
    dp = Dataplane()
    for node in cluster.nodes:
        ns = dp.add_namespace(NsRef(node.name), kind="host")
        ns.add_interface(Interface("lo", "loopback", addresses=[Address(ip_address("127.0.0.1"), 8)]))
        ns.add_interface(Interface("eth0", "phys", addresses=[Address(node.ip, 24)]))
    return dp
