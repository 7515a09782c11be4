"""shared.ClusterView: what every node's kube-proxy reads alike, read once, gives each node
exactly the payload ``build_payload`` gives it (Local policies, endpoints on the node, the
same address in two slices, source ranges containing the node IP)."""

from __future__ import annotations

from ipaddress import ip_address, ip_network

from hypothesis import given, settings
from hypothesis import strategies as st

from overlaynet.dataplane.ir import NsRef
from overlaynet.dataplane.netfilter import render_save
from overlaynet.kubeproxy.generate import FragmentCache, build_payload, render_payload
from overlaynet.kubeproxy.node import config_for_node
from overlaynet.kubeproxy.program import KubeProxyCache, program_node
from overlaynet.kubeproxy.shared import ClusterView
from overlaynet.model import (
    Cluster,
    Endpoint,
    EndpointPort,
    EndpointSlice,
    KubeProxySpec,
    Node,
    Service,
    ServicePort,
)
from overlaynet.testing.strategies import clusters

from .proxier_cases import node_dataplane

NODES = ("node-1", "node-2", "node-3")


def _node_ip(i: int) -> str:
    return f"192.168.0.{11 + i}"


@st.composite
def _services_and_slices(draw: st.DrawFn) -> tuple[tuple[Service, ...], tuple[EndpointSlice, ...]]:
    services: list[Service] = []
    slices: list[EndpointSlice] = []
    for i in range(draw(st.integers(1, 5))):
        kind = draw(st.sampled_from(["ClusterIP", "NodePort", "LoadBalancer"]))
        extra: dict[str, object] = {}
        if kind != "ClusterIP":
            extra["external_traffic_policy"] = draw(st.sampled_from(["Cluster", "Local"]))
        if kind == "LoadBalancer":
            extra["load_balancer_ips"] = (ip_address(f"1.2.3.{i + 1}"),)
            if draw(st.booleans()):  # a range holding node-1 only, or every node
                extra["load_balancer_source_ranges"] = (ip_network(draw(st.sampled_from(["192.168.0.11/32", "192.168.0.0/24"]))),)
        if draw(st.booleans()):
            extra["internal_traffic_policy"] = "Local"
        port = ServicePort(port=80, name="http", node_port=30000 + i if kind != "ClusterIP" else None)
        services.append(Service(name=f"s{i}", namespace="default", type=kind, cluster_ips=(ip_address(f"10.96.0.{10 + i}"),),
                                ports=(port,), **extra))  # type: ignore[arg-type]
        for j in range(draw(st.integers(0, 2))):  # two slices may carry the same address
            endpoints = tuple(
                Endpoint(addresses=(ip_address(f"10.244.{i}.{draw(st.integers(1, 4))}"),),
                         node_name=draw(st.sampled_from([*NODES, None])),
                         ready=draw(st.booleans()), serving=draw(st.booleans()), terminating=draw(st.booleans()))
                for _ in range(draw(st.integers(0, 3)))
            )
            slices.append(EndpointSlice(name=f"s{i}-{j}", namespace="default", service=f"s{i}", endpoints=endpoints,
                                        ports=(EndpointPort(port=8080, name="http"),)))
    return tuple(services), tuple(slices)


def _cluster(services: tuple[Service, ...], slices: tuple[EndpointSlice, ...]) -> Cluster:
    nodes = tuple(Node(name=n, ip=ip_address(_node_ip(i)), segment="lan") for i, n in enumerate(NODES))
    return Cluster(nodes=nodes, services=services, endpoint_slices=slices,
                   pod_cidrs=(ip_network("10.244.0.0/16"),), kube_proxy=KubeProxySpec())


@settings(max_examples=40, deadline=None)
@given(_services_and_slices())
def test_each_nodes_payload_equals_build_payload(objects: tuple[tuple[Service, ...], tuple[EndpointSlice, ...]]) -> None:
    cluster = _cluster(*objects)
    view, cache = ClusterView(cluster.services, cluster.endpoint_slices), FragmentCache()
    for node in NODES:  # in turn, as a trace enters them: later nodes reuse what earlier ones built
        config = config_for_node(cluster, node)
        shared = view.family(4).payload(config, cache)
        reference = build_payload(cluster.services, cluster.endpoint_slices, config)
        assert shared.nat_chains == reference.nat_chains
        assert render_payload(shared) == render_payload(reference)


@settings(max_examples=25, deadline=None)
@given(_services_and_slices())
def test_programming_with_the_shared_cache_gives_the_same_iptables_save(
    objects: tuple[tuple[Service, ...], tuple[EndpointSlice, ...]],
) -> None:
    cluster = _cluster(*objects)
    shared, alone = node_dataplane(cluster), node_dataplane(cluster)
    cache = KubeProxyCache()
    for node in cluster.nodes:
        program_node(shared, cluster, node, cache=cache)
        program_node(alone, cluster, node)
        assert render_save(shared.namespace(NsRef(node.name)).netfilter) == render_save(alone.namespace(NsRef(node.name)).netfilter)


def test_the_view_is_rebuilt_for_other_services() -> None:
    import dataclasses

    services = (Service(name="a", namespace="default", cluster_ips=(ip_address("10.96.0.10"),), ports=(ServicePort(port=80),)),)
    cluster = _cluster(services, ())
    cache = KubeProxyCache()
    first = cache.view_of(cluster)
    assert cache.view_of(cluster) is first
    changed = dataclasses.replace(cluster, services=())
    assert cache.view_of(changed) is not first
    assert cache.view_of(changed).family(4).sps == []


def test_deferred_chain_sets_every_field_of_a_chain() -> None:
    """DeferredChain's hand-written __init__ must keep up with Chain's fields."""
    import dataclasses

    from overlaynet.dataplane.netfilter.rules import Chain
    from overlaynet.kubeproxy.program import DeferredChain

    cluster = _cluster(*_two_services())
    dp = node_dataplane(cluster)
    program_node(dp, cluster, cluster.nodes[0], cache=KubeProxyCache())
    chain = next(c for c in dp.namespace(NsRef("node-1")).netfilter.tables["nat"].chains.values() if isinstance(c, DeferredChain))
    for f in dataclasses.fields(Chain):
        getattr(chain, f.name)  # set (AttributeError otherwise)
    assert chain.rules and chain.origin == "kube-proxy" and chain.policy is None


def _two_services() -> tuple[tuple[Service, ...], tuple[EndpointSlice, ...]]:
    services = tuple(Service(name=n, namespace="default", cluster_ips=(ip_address(f"10.96.0.{10 + i}"),),
                             ports=(ServicePort(port=80),)) for i, n in enumerate("ab"))
    slices = tuple(EndpointSlice(name=f"{s.name}-1", namespace="default", service=s.name, ports=(EndpointPort(port=8080),),
                                 endpoints=(Endpoint(addresses=(ip_address(f"10.244.0.{i + 2}"),), node_name="node-1"),))
                   for i, s in enumerate(services))
    return services, slices


@settings(max_examples=10, deadline=None)
@given(clusters(min_nodes=2, max_nodes=3, max_pods_per_node=3))
def test_traces_through_the_shared_view_equal_traces_through_build_payload(cluster: Cluster) -> None:
    """Every pod to every Service port, from the network as assembled (ClusterView) and from
    one whose kube-proxy builds each node's payload with ``build_payload``."""
    from overlaynet.network import assemble

    shared, reference = assemble(cluster), assemble(cluster)
    traced = 0
    reference.kube_proxy_cache = FragmentCache()  # type: ignore[assignment] # not a KubeProxyCache: build_payload
    for pod in shared.cluster.pods:
        for svc in cluster.services:
            if not svc.cluster_ips or not svc.ports:
                continue
            dst = f"{svc.cluster_ips[0]}:{svc.ports[0].port}"
            a = shared.trace(pod.key, dst, proto=svc.ports[0].protocol.lower(), all_branches=True)  # type: ignore[arg-type]
            b = reference.trace(pod.key, dst, proto=svc.ports[0].protocol.lower(), all_branches=True)  # type: ignore[arg-type]
            assert a.forward.to_dict() == b.forward.to_dict()
            traced += 1
    if traced:
        assert isinstance(shared.kube_proxy_cache, KubeProxyCache) and shared.kube_proxy_cache.view is not None
