"""Hypothesis strategies for kube-proxy's tests: a few Services of every kind with their
EndpointSlices, and proxier configurations, IPv4 only or dual-stack."""

from __future__ import annotations

from ipaddress import ip_address, ip_network

from hypothesis import strategies as st

from overlaynet.kubeproxy import ProxierConfig
from overlaynet.model import Endpoint, EndpointPort, EndpointSlice, Service, ServicePort

from .proxier_cases import TEST_NODE, TEST_NODE_IP

NODE_IP6 = ip_address("fd00::2")
PROTOCOLS = ("TCP", "UDP", "SCTP")
_RANGES4 = (ip_network("203.0.113.0/25"), ip_network("192.168.0.0/16"), ip_network("198.51.100.7/32"))
_RANGES6 = (ip_network("2001:db8::/64"), ip_network("fd00::/64"))


@st.composite
def service_sets(draw: st.DrawFn, *, dual_stack: bool = False) -> tuple[list[Service], list[EndpointSlice]]:
    """One to four Services of every kind (ClusterIP, NodePort, LoadBalancer with or without
    ingress IPs and source ranges, Local policies, ClientIP affinity), with endpoints on this
    node, another node or none, ready/serving/terminating in every combination. With
    ``dual_stack`` each Service is IPv4, IPv6 or both (in either order) and has one slice per
    family."""
    services: list[Service] = []
    slices: list[EndpointSlice] = []
    for i in range(draw(st.integers(1, 4))):
        name = draw(st.sampled_from((f"svc{i}", f"svc{i}-b", f"a{i}"))) if dual_stack else f"svc{i}"
        kind = draw(st.sampled_from(("ClusterIP", "NodePort", "LoadBalancer")))
        external = kind != "ClusterIP"
        protocol = draw(st.sampled_from(PROTOCOLS))
        port_name = draw(st.sampled_from(("", "http")))
        stacks: tuple[int, ...] = draw(st.sampled_from(((4,), (6,), (4, 6), (6, 4)))) if dual_stack else (4,)
        cluster_ips = tuple(ip_address(f"172.30.0.{i + 1}" if f == 4 else f"fd00:30::{i + 1}") for f in stacks)
        lb_ips: tuple[object, ...] = ()
        if kind == "LoadBalancer" and draw(st.booleans()):
            lb_ips = (ip_address(f"1.2.3.{i + 1}"), ip_address(f"2001:db8::{i + 1}")) if dual_stack \
                else (ip_address(f"1.2.3.{i + 1}"),)
        pool = _RANGES4 + _RANGES6 if dual_stack else _RANGES4
        ranges = tuple(draw(st.lists(st.sampled_from(pool), max_size=2, unique=True))) if kind == "LoadBalancer" else ()
        etp_local = external and draw(st.booleans())
        affinity = draw(st.booleans())
        external_ips = (ip_address(f"192.168.99.{i + 1}"), ip_address(f"fd00:99::{i + 1}")) if dual_stack \
            else (ip_address(f"192.168.99.{i + 1}"),)
        services.append(Service(
            name=name, namespace="ns", type=kind, cluster_ips=cluster_ips,
            ports=(ServicePort(port=draw(st.integers(1, 65535)), name=port_name, protocol=protocol,
                               node_port=30000 + i if external else None),),
            external_ips=external_ips if draw(st.booleans()) else (),
            load_balancer_ips=lb_ips, load_balancer_source_ranges=ranges,  # type: ignore[arg-type]
            external_traffic_policy="Local" if etp_local else "Cluster",
            internal_traffic_policy="Local" if draw(st.booleans()) else "Cluster",
            health_check_node_port=32000 + i if etp_local and kind == "LoadBalancer" else None,
            session_affinity="ClientIP" if affinity else "None",
            session_affinity_timeout=draw(st.sampled_from((10800, 60))),
        ))
        for family in stacks:
            endpoints = tuple(
                Endpoint(addresses=(ip_address(f"10.180.{i}.{j + 1}" if family == 4 else f"fd00:180::{i}:{j + 1}"),),
                         node_name=draw(st.sampled_from((TEST_NODE, "other", None))),
                         ready=draw(st.booleans()), serving=draw(st.booleans()), terminating=draw(st.booleans()))
                for j in range(draw(st.integers(0, 4)))
            )
            suffix = family if dual_stack else 1
            slices.append(EndpointSlice(name=f"{name}-{suffix}", namespace="ns", service=name, endpoints=endpoints,
                                        address_type=f"IPv{family}",
                                        ports=(EndpointPort(port=8080, name=port_name, protocol=protocol),)))
    return services, slices


def proxier_configs(*, dual_stack: bool = False) -> st.SearchStrategy[ProxierConfig]:
    """This node's kube-proxy configuration with every flag drawn; ``dual_stack`` gives the
    node an IPv6 address too and draws the family the proxier runs for."""
    cidrs = (ip_network("10.0.0.0/8"), ip_network("fd00:180::/64")) if dual_stack else (ip_network("10.0.0.0/8"),)
    return st.builds(
        ProxierConfig,
        node_name=st.just(TEST_NODE),
        node_ips=st.just((TEST_NODE_IP, NODE_IP6) if dual_stack else (TEST_NODE_IP,)),
        cluster_cidrs=st.sampled_from(((), cidrs)),
        masquerade_all=st.booleans(),
        nodeport_addresses=st.sampled_from(((), (ip_network("192.168.0.0/16"),), (ip_network("127.0.0.0/8"),))),
        localhost_nodeports=st.booleans(),
        family=st.sampled_from((4, 6)) if dual_stack else st.just(4),
        random_fully=st.booleans(),
        nfacct=st.booleans(),
        conntrack_tcp_be_liberal=st.booleans(),
    )
