"""The composites behind ``clusters()`` and ``packets()``: whole clusters with every
uniqueness rule kept across objects, then EndpointSlices from the endpoints controller."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from hypothesis import strategies as st

from overlaynet.dataplane.packet import Packet
from overlaynet.model import (
    Cluster,
    DNSSpec,
    Endpoint,
    EndpointPort,
    EndpointSlice,
    FrozenDict,
    IPAddress,
    IPNetwork,
    KubeProxySpec,
    Namespace,
    NetworkPolicy,
    NetworkSpec,
    Node,
    Pod,
    ResourceQuota,
    Router,
    Segment,
    Service,
    Underlay,
)
from overlaynet.testing._objects import (
    EXTERNAL_NET,
    draw_network_policy,
    draw_node,
    draw_pod,
    draw_service,
    frozen_options,
)
from overlaynet.testing._values import dns_labels, draw_subnets, host_in
from overlaynet.topology.controllers import reconcile_endpoints

_net = ipaddress.ip_network
# Pod and service ranges that never overlap each other nor the 192.168.0.0/16 underlay.
POD_CIDRS_V4 = (_net("10.244.0.0/16"), _net("10.32.0.0/12"), _net("10.200.0.0/16"))
SERVICE_CIDRS_V4 = (_net("10.96.0.0/12"), _net("10.0.0.0/16"))
POD_CIDR_V6 = _net("fd00:10:244::/56")
SERVICE_CIDR_V6 = _net("fd00:10:96::/112")
UNDERLAY = _net("192.168.0.0/16")
ROUTER = "core"
SERVICE_TYPES = ("ClusterIP", "NodePort", "LoadBalancer", "ExternalName")


def _underlay(draw: st.DrawFn, segments: tuple[int, int]) -> Underlay:
    count = draw(st.integers(*segments))
    names = draw(st.lists(dns_labels(), min_size=count, max_size=count, unique=True))
    cidrs = draw_subnets(draw, UNDERLAY, 24, count=count)
    segs = tuple(
        Segment(name, cidr, draw(st.sampled_from((1500, 1500, 9000)))) for name, cidr in zip(names, cidrs, strict=True)
    )
    # one router at .1 of every segment: it joins the racks and is every host's default
    # gateway (a host without one breaks Calico's proxy ARP for 169.254.1.1, calico#3270)
    routers = (Router(ROUTER, FrozenDict({s.name: s.cidr[1] for s in segs})),)
    return Underlay(1500, segs, routers)


def _nodes(draw: st.DrawFn, counts: tuple[int, int], underlay: Underlay,
           pod_cidrs: tuple[IPNetwork, ...]) -> tuple[Node, ...]:
    count = draw(st.integers(*counts))
    names = draw(st.lists(dns_labels().filter(lambda n: n != ROUTER), min_size=count,
                          max_size=count, unique=True))
    per_family = [draw_subnets(draw, c, 24 if c.version == 4 else 64, count=count) for c in pod_cidrs]
    used: set[IPAddress] = set()
    out: list[Node] = []
    for i, name in enumerate(names):
        seg = draw(st.sampled_from(underlay.segments))
        node = draw_node(draw, segment=seg, pod_cidrs=tuple(f[i] for f in per_family), name=name, exclude_ips=used)
        used.add(node.ip)
        out.append(node)
    return tuple(out)


def _pods(draw: st.DrawFn, nodes: Sequence[Node], namespaces: Sequence[str], per_node: int) -> tuple[Pod, ...]:
    out: list[Pod] = []
    keys: set[str] = set()
    for node in nodes:
        used: set[IPAddress] = set()
        for _ in range(draw(st.integers(0, per_node))):
            pod = draw_pod(draw, node=node, namespaces=namespaces, name=None, exclude_ips=used)
            if pod.key not in keys:
                keys.add(pod.key)
                used.update(pod.ips)
                out.append(pod)
    return tuple(out)


def _services(draw: st.DrawFn, namespaces: Sequence[str], service_cidrs: tuple[IPNetwork, ...],
              node_port_range: tuple[int, int], dual_stack: bool, pods: Sequence[Pod]) -> tuple[Service, ...]:
    """Services; about half select an existing pod's labels, so endpoints are common."""
    out: list[Service] = []
    keys: set[str] = set()
    ips: set[IPAddress] = set()
    node_ports: set[int] = set()
    for _ in range(draw(st.integers(0, 4))):
        near: Pod | None = None
        if draw(st.booleans()) and pods:
            near = draw(st.sampled_from(pods))
        svc = draw_service(draw, namespaces=(near.namespace,) if near else namespaces,
                            hint=near.labels if near else None, service_cidrs=service_cidrs, types=SERVICE_TYPES,
                            node_port_range=node_port_range, exclude_ips=ips, exclude_node_ports=node_ports,
                            headless=True, selector_less=True, dual_stack=dual_stack, name=None)
        if svc.key in keys:
            continue
        keys.add(svc.key)
        ips.update(svc.cluster_ips)
        node_ports.update(p.node_port for p in svc.ports if p.node_port is not None)
        out.append(svc)
    return tuple(out)


def _manual_slices(draw: st.DrawFn, services: Sequence[Service], pods: Sequence[Pod]) -> tuple[EndpointSlice, ...]:
    """Hand-written slices for selector-less services: pod or outside addresses."""
    out: list[EndpointSlice] = []
    for svc in services:
        if svc.selector is not None or svc.type == "ExternalName" or not draw(st.booleans()):
            continue
        family = svc.ip_families[0] if svc.ip_families else "IPv4"
        version = 4 if family == "IPv4" else 6
        candidates = sorted({ip for p in pods for ip in p.ips if ip.version == version}, key=str)
        if version == 4:
            candidates += [EXTERNAL_NET[i] for i in (10, 11, 12)]
        if not candidates:
            continue
        addrs = draw(st.lists(st.sampled_from(candidates), min_size=1, max_size=3, unique=True))
        readiness = draw(st.lists(st.booleans(), min_size=len(addrs), max_size=len(addrs)))
        endpoints = tuple(Endpoint((a,), ready=r, serving=r) for a, r in zip(addrs, readiness, strict=True))
        ports = tuple(EndpointPort(p.target_port if isinstance(p.target_port, int) else p.port, p.protocol, p.name)
                      for p in svc.ports)
        out.append(EndpointSlice(f"{svc.name}-manual", svc.namespace, svc.name, family,
                                 endpoints, ports, "user"))
    return tuple(out)


def _policies(draw: st.DrawFn, namespaces: Sequence[str]) -> tuple[NetworkPolicy, ...]:
    out: dict[str, NetworkPolicy] = {}
    for _ in range(draw(st.integers(0, 3))):
        pol = draw_network_policy(draw, namespaces=namespaces, name=None)
        out.setdefault(pol.key, pol)
    return tuple(out.values())


@st.composite
def clusters_(draw: st.DrawFn, *, nodes: tuple[int, int], segments: tuple[int, int], drivers: Sequence[str],
              driver_options: Mapping[str, Any], max_pods_per_node: int, services: bool, policies: bool,
              dual_stack: bool, ipam: bool = False) -> Cluster:
    pod_cidrs = (draw(st.sampled_from(POD_CIDRS_V4)),) + ((POD_CIDR_V6,) if dual_stack else ())
    service_cidrs = (draw(st.sampled_from(SERVICE_CIDRS_V4)),) + ((SERVICE_CIDR_V6,) if dual_stack else ())
    underlay = _underlay(draw, segments)
    node_list = _nodes(draw, nodes, underlay, pod_cidrs)
    extra = draw(st.lists(st.sampled_from(("team-a", "team-b")), unique=True))
    ns_names = sorted({"default", *extra})
    namespaces = tuple(
        Namespace(n, FrozenDict({"kubernetes.io/metadata.name": n, **({"team": n[-1]} if n != "default" else {})}))
        for n in ns_names
    )
    pod_list = _pods(draw, node_list, ns_names, max_pods_per_node) if node_list else ()
    node_port_range = (30000, 32767)
    svc_list = _services(draw, ns_names, service_cidrs, node_port_range, dual_stack, pod_list) if services else ()
    slices = _manual_slices(draw, svc_list, pod_list)
    pol_list = _policies(draw, ns_names) if policies else ()
    quotas: tuple[ResourceQuota, ...] = ()
    if draw(st.booleans()):
        ns = draw(st.sampled_from(ns_names))
        in_ns = sum(1 for p in pod_list if p.namespace == ns)
        quotas = (ResourceQuota("quota", ns, FrozenDict({"pods": str(in_ns + draw(st.integers(0, 5)))})),)
    driver = draw(st.sampled_from(drivers))
    opts = driver_options.get(driver, {})
    if isinstance(opts, st.SearchStrategy):
        opts = draw(opts)
    order = {id(obj): i for i, obj in enumerate([*pod_list, *svc_list])}
    cluster = Cluster(
        name=draw(dns_labels()),
        pod_cidrs=pod_cidrs,
        service_cidrs=service_cidrs,
        node_port_range=node_port_range,
        dns=DNSSpec(cluster_ip=service_cidrs[0][10], legacy_names=draw(st.booleans()),
                    pods=draw(st.sampled_from(("insecure", "verified", "disabled")))),
        kube_proxy=KubeProxySpec(masquerade_all=draw(st.booleans())),
        network=NetworkSpec(driver, frozen_options(opts)),  # type: ignore[arg-type]
        underlay=underlay,
        nodes=node_list,
        namespaces=namespaces,
        pods=tuple(_with_index(p, order[id(p)]) for p in pod_list),
        services=tuple(_with_index(s, order[id(s)]) for s in svc_list),
        endpoint_slices=slices,
        network_policies=pol_list,
        resource_quotas=quotas,
    )
    if ipam:  # no address given: the driver's IPAM chooses each when the cluster is assembled
        cluster = replace(cluster, pods=tuple(replace(p, ips=(), allocated=True) for p in cluster.pods))
    return reconcile_endpoints(cluster)  # the slices the loader's endpoints controller makes


def _with_index(obj: Any, index: int) -> Any:
    return replace(obj, creation_index=index)


# --- packets -----------------------------------------------------------------------------
def packet_to(src: st.SearchStrategy[IPAddress], dst: st.SearchStrategy[IPAddress],
              protocols: Sequence[str], dport: int | None = None) -> st.SearchStrategy[Packet]:
    @st.composite
    def build(draw: st.DrawFn) -> Packet:
        s, d = draw(src), draw(dst)
        proto = draw(st.sampled_from(protocols))
        if proto == "icmp":
            return Packet(s, d, "icmpv6" if s.version == 6 else "icmp", icmp_type=128 if s.version == 6 else 8,
                          size=draw(st.integers(28, 1500)), tcp_flags=frozenset())
        return Packet(s, d, proto, sport=draw(st.integers(1024, 65535)),  # type: ignore[arg-type]
                      dport=dport if dport is not None else draw(st.integers(1, 65535)),
                      size=draw(st.integers(40, 1500)), df=draw(st.booleans()))

    return build()


def packets_(cluster: Cluster, protocols: Sequence[str], destinations: Sequence[str]) -> st.SearchStrategy[Packet]:
    """Pick a source, then a destination kind that has a target of the source's family."""
    sources = [ip for p in cluster.pods if not p.host_network for ip in p.ips] or [n.ip for n in cluster.nodes]

    @st.composite
    def build(draw: st.DrawFn) -> Packet:
        src = draw(st.sampled_from(sources))
        options: list[st.SearchStrategy[Packet]] = []
        same = [ip for p in cluster.pods for ip in p.ips if ip.version == src.version and ip != src]
        if "pods" in destinations and same:
            options.append(packet_to(st.just(src), st.sampled_from(same), protocols))
        if "nodes" in destinations:
            node_ips = [ip for n in cluster.nodes for ip in n.ips if ip.version == src.version]
            if node_ips:
                options.append(packet_to(st.just(src), st.sampled_from(node_ips), protocols))
        for svc in cluster.services:
            for port in svc.ports:
                proto = port.protocol.lower()
                if proto not in protocols:
                    continue
                if "services" in destinations:
                    options += [packet_to(st.just(src), st.just(ip), [proto], port.port)
                                for ip in svc.cluster_ips if ip.version == src.version]
                if "nodeports" in destinations and port.node_port is not None:
                    options += [packet_to(st.just(src), st.just(n.ip), [proto], port.node_port)
                                for n in cluster.nodes if n.ip.version == src.version]
        if "external" in destinations or not options:
            outside = EXTERNAL_NET if src.version == 4 else ipaddress.ip_network("2001:db8::/112")
            options.append(packet_to(st.just(src), host_in(outside, first=1), protocols))
        return draw(st.one_of(options))

    return build()
