"""The composites behind ``nodes()``, ``pods()``, ``services()`` and ``network_policies()``.

Each draws one object valid on its own; callers pass what must stay unique across a cluster
(``exclude_ips``, ``exclude_node_ports``). Options are validated in ``strategies.py``.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Collection, Sequence
from typing import Literal

from hypothesis import strategies as st

from overlaynet.model import (
    ContainerPort,
    FrozenDict,
    IPAddress,
    IPBlock,
    IPNetwork,
    Labels,
    NetworkPolicy,
    Node,
    Pod,
    PolicyPeer,
    PolicyPort,
    PolicyRule,
    Probe,
    Segment,
    Service,
    ServicePort,
)
from overlaynet.testing._values import (
    PORT_NAMES,
    dns_labels,
    draw_host,
    label_maps,
    selectors,
)

PROTOCOLS: tuple[Literal["TCP", "UDP", "SCTP"], ...] = ("TCP", "UDP", "SCTP")
WELL_KNOWN_PORTS = (53, 80, 443, 8080, 9090)
EXTERNAL_NET = ipaddress.ip_network("203.0.113.0/24")  # TEST-NET-3: outside every cluster range
_MAYBE_NAME = st.none() | dns_labels()
_POLICY_TYPES: tuple[tuple[Literal["Ingress", "Egress"], ...], ...] = (("Ingress",), ("Egress",), ("Ingress", "Egress"))


@functools.cache
def port_numbers() -> st.SearchStrategy[int]:
    return st.one_of(st.sampled_from(WELL_KNOWN_PORTS), st.integers(1, 65535))


@st.composite
def container_ports(draw: st.DrawFn) -> tuple[ContainerPort, ...]:
    """Up to three container ports, unique by (port, protocol) and by name."""
    names = draw(st.lists(st.sampled_from(PORT_NAMES), max_size=3, unique=True))
    out: list[ContainerPort] = []
    seen: set[tuple[int, str]] = set()
    for name in [*names, *([None] * draw(st.integers(0, 1)))]:
        number, proto = draw(port_numbers()), draw(st.sampled_from(PROTOCOLS))
        if (number, proto) not in seen:
            seen.add((number, proto))
            out.append(ContainerPort(number, proto, name))
    return tuple(out)


def draw_node(draw: st.DrawFn, *, segment: Segment, pod_cidrs: tuple[IPNetwork, ...],
          name: str | None, exclude_ips: Collection[IPAddress]) -> Node:
    return Node(
        name=name if name is not None else draw(dns_labels()),
        ip=draw_host(draw, segment.cidr, exclude=exclude_ips),
        segment=segment.name,
        labels=draw(label_maps(("zone", "rack"), ("a", "b"), max_size=2)),
        pod_cidrs=pod_cidrs,
    )


@st.composite
def _probes(draw: st.DrawFn) -> Probe | None:
    kind = draw(st.sampled_from(("none", "none", "httpGet", "tcpSocket", "exec")))
    if kind == "none":
        return None
    port = draw(port_numbers() | st.sampled_from(PORT_NAMES)) if kind != "exec" else None
    path = draw(st.sampled_from(("/healthz", "/ready"))) if kind == "httpGet" else None
    return Probe(kind, port, path, draw(st.sampled_from((0, 5))), draw(st.sampled_from((10, 3))))  # type: ignore[arg-type]


def draw_pod(draw: st.DrawFn, *, node: Node, namespaces: Sequence[str], name: str | None,
             exclude_ips: Collection[IPAddress]) -> Pod:
    ready = draw(st.booleans())
    return Pod(
        name=name if name is not None else draw(dns_labels()),
        namespace=draw(st.sampled_from(namespaces)),
        labels=draw(label_maps(min_size=1)),
        node=node.name,
        ips=tuple(draw_host(draw, cidr, exclude=exclude_ips) for cidr in node.pod_cidrs),
        ports=draw(_CONTAINER_PORTS),
        ready=ready,
        terminating=draw(st.booleans()) if not ready else False,
        hostname=draw(_MAYBE_NAME),
        subdomain=draw(_MAYBE_NAME),
        readiness_probe=draw(_PROBES),
        liveness_probe=draw(_PROBES),
    )


def draw_service_ports(draw: st.DrawFn, *, node_ports: bool, node_port_range: tuple[int, int],
                       exclude_node_ports: Collection[int], named_targets: bool) -> tuple[ServicePort, ...]:
    count = draw(st.integers(1, 3))
    names = draw(st.lists(dns_labels(6), min_size=count, max_size=count, unique=True))
    out: list[ServicePort] = []
    used: set[tuple[int, str]] = set()
    taken = set(exclude_node_ports)
    for i in range(count):
        number, proto = draw(port_numbers()), draw(st.sampled_from(PROTOCOLS))
        if (number, proto) in used:
            continue
        used.add((number, proto))
        targets: st.SearchStrategy[int | str | None] = st.none() | port_numbers()
        if named_targets:
            targets = targets | st.sampled_from(PORT_NAMES)
        node_port = None
        if node_ports:
            node_port = draw(st.integers(*node_port_range).filter(lambda p: p not in taken))
            taken.add(node_port)
        app = draw(st.sampled_from((None, None, "http", "kubernetes.io/h2c")))
        out.append(ServicePort(number, proto, names[i] if count > 1 or draw(st.booleans()) else None,
                               draw(targets), node_port, app))
    return tuple(out)


def draw_service(draw: st.DrawFn, *, namespaces: Sequence[str], service_cidrs: Sequence[IPNetwork],
             types: Sequence[str], node_port_range: tuple[int, int], exclude_ips: Collection[IPAddress],
             exclude_node_ports: Collection[int], headless: bool, selector_less: bool,
             dual_stack: bool, name: str | None, hint: Labels | None = None) -> Service:
    """``hint``: labels of an existing pod; the selector is then a non-empty part of them."""
    kind = draw(st.sampled_from(types))
    name = name if name is not None else draw(dns_labels())
    namespace = draw(st.sampled_from(namespaces))
    if kind == "ExternalName":
        ports = draw_service_ports(draw, node_ports=False, node_port_range=node_port_range, exclude_node_ports=(),
                                   named_targets=False) if draw(st.booleans()) else ()
        return Service(name, namespace, "ExternalName", ports=ports,
            external_name=draw(st.sampled_from(("example.com", "db.example.org"))),
            labels=draw(label_maps(max_size=1)))
    selector: Labels | None
    if selector_less and draw(st.integers(0, 3)) == 0:
        selector = None
    elif hint:
        keys = draw(st.lists(st.sampled_from(sorted(hint)), min_size=1, max_size=len(hint), unique=True))
        selector = FrozenDict({k: hint[k] for k in sorted(keys)})
    else:
        selector = draw(label_maps(min_size=1, max_size=2))
    is_headless = kind == "ClusterIP" and headless and draw(st.integers(0, 4)) == 0
    node_ports = kind in ("NodePort", "LoadBalancer")
    ports = draw_service_ports(draw, node_ports=node_ports, node_port_range=node_port_range,
                               exclude_node_ports=exclude_node_ports, named_targets=selector is not None)
    v4: list[IPNetwork] = [c for c in service_cidrs if c.version == 4]
    v6: list[IPNetwork] = [c for c in service_cidrs if c.version == 6]
    cidrs = [v4[0]] if v4 else [v6[0]]
    if dual_stack and v4 and v6 and draw(st.booleans()):
        cidrs = [v4[0], v6[0]] if draw(st.booleans()) else [v6[0], v4[0]]
    cluster_ips: tuple[IPAddress, ...] = ()
    if not is_headless:
        # index 1 is the `kubernetes` Service and index 10 cluster DNS by convention
        cluster_ips = tuple(draw_host(draw, c, exclude=exclude_ips, first=11) for c in cidrs)
    families = tuple("IPv4" if c.version == 4 else "IPv6" for c in cidrs)
    lb_ips: tuple[IPAddress, ...] = ()
    ranges: tuple[IPNetwork, ...] = ()
    if kind == "LoadBalancer" and draw(st.booleans()):
        lb_ips = (draw_host(draw, EXTERNAL_NET),)
        ranges = (ipaddress.ip_network("198.51.100.0/24"),) if draw(st.booleans()) else ()
    external: tuple[IPAddress, ...] = ()
    if kind != "ExternalName" and not is_headless and draw(st.integers(0, 4)) == 0:
        external = (draw_host(draw, EXTERNAL_NET, first=200),)
    affinity = draw(st.sampled_from(("None", "ClientIP")))
    return Service(
        name=name,
        namespace=namespace,
        type=kind,  # type: ignore[arg-type]
        selector=selector,
        ports=ports,
        cluster_ips=cluster_ips,
        headless=is_headless,
        ip_families=families,  # type: ignore[arg-type]
        session_affinity=affinity,  # type: ignore[arg-type]
        session_affinity_timeout=draw(st.sampled_from((10800, 600))) if affinity == "ClientIP" else 10800,
        external_traffic_policy=draw(st.sampled_from(("Cluster", "Local"))) if kind == "NodePort" else "Cluster",
        internal_traffic_policy=draw(st.sampled_from(("Cluster", "Local"))),
        external_ips=external,
        load_balancer_ips=lb_ips,
        load_balancer_source_ranges=ranges,
        publish_not_ready_addresses=draw(st.booleans()) if selector is not None else False,
        labels=draw(label_maps(max_size=1)),
    )


@st.composite
def _peers(draw: st.DrawFn) -> PolicyPeer:
    shape = draw(st.sampled_from(("pods", "namespaces", "both", "ipBlock")))
    if shape == "ipBlock":
        cidr = draw(st.sampled_from(("0.0.0.0/0", "10.0.0.0/8", "203.0.113.0/24")))
        net = ipaddress.ip_network(cidr)
        excepts: tuple[IPNetwork, ...] = ()
        if net.prefixlen < 28 and draw(st.booleans()):
            excepts = (ipaddress.ip_network((int(net.network_address), net.prefixlen + 4)),)
        return PolicyPeer(ip_block=IPBlock(net, excepts))
    pods = draw(selectors()) if shape in ("pods", "both") else None
    namespaces = draw(selectors(("team", "kubernetes.io/metadata.name"), ("a", "b", "default"))) if shape in ("namespaces", "both") else None
    return PolicyPeer(pod_selector=pods, namespace_selector=namespaces)


@st.composite
def _policy_ports(draw: st.DrawFn) -> PolicyPort:
    proto = draw(st.sampled_from(PROTOCOLS))
    port: int | str | None = draw(st.none() | port_numbers() | st.sampled_from(PORT_NAMES))
    end = None
    if isinstance(port, int) and draw(st.booleans()):
        end = draw(st.integers(port, 65535))
    return PolicyPort(proto, port, end)


@functools.cache
def _rules() -> st.SearchStrategy[tuple[PolicyRule, ...]]:
    rule = st.builds(lambda peers, ports: PolicyRule(tuple(peers), tuple(ports)),
                     st.lists(_peers(), max_size=2), st.lists(_policy_ports(), max_size=2))
    return st.lists(rule, max_size=2).map(tuple)


def draw_network_policy(draw: st.DrawFn, *, namespaces: Sequence[str], name: str | None) -> NetworkPolicy:
    types: tuple[Literal["Ingress", "Egress"], ...] = draw(st.sampled_from(_POLICY_TYPES))
    return NetworkPolicy(
        name=name if name is not None else draw(dns_labels()),
        namespace=draw(st.sampled_from(namespaces)),
        pod_selector=draw(selectors()),
        policy_types=types,
        ingress=draw(_rules()) if "Ingress" in types else (),
        egress=draw(_rules()) if "Egress" in types else (),
    )


def frozen_options(options: object) -> object:
    """Plain driver options → FrozenDict/tuple, as the loader stores them."""
    if isinstance(options, dict | FrozenDict):
        return FrozenDict({str(k): frozen_options(v) for k, v in options.items()})
    if isinstance(options, list | tuple):
        return tuple(frozen_options(v) for v in options)
    return options


_CONTAINER_PORTS = container_ports()
node_ = st.composite(draw_node)
pod_ = st.composite(draw_pod)
service_ = st.composite(draw_service)
network_policy_ = st.composite(draw_network_policy)
_PROBES = _probes()
