"""Public Hypothesis strategies for overlaynet models: clusters, nodes, pods, services,
network policies, label selectors and packets. Every drawn model is valid (see docs/testing.md).

>>> from hypothesis import given, settings
>>> from overlaynet.testing.strategies import clusters
>>> @settings(max_examples=5, deadline=None)
... @given(clusters(max_nodes=3))
... def test_pod_ips_unique(cluster):
...     ips = [ip for pod in cluster.pods for ip in pod.ips]
...     assert len(ips) == len(set(ips))
>>> test_pod_ips_unique()
"""

from __future__ import annotations

import ipaddress
from collections.abc import Collection, Mapping, Sequence
from typing import Any, Literal

from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from overlaynet.dataplane.packet import Packet
from overlaynet.model import (
    Cluster,
    IPAddress,
    IPNetwork,
    LabelSelector,
    NetworkPolicy,
    Node,
    Pod,
    Segment,
    Service,
)
from overlaynet.testing import _cluster, _objects
from overlaynet.testing._values import LABEL_KEYS, LABEL_VALUES, dns_labels, selectors, subnets_of

__all__ = [
    "clusters",
    "dns_labels",
    "label_selectors",
    "network_policies",
    "nodes",
    "packets",
    "pods",
    "services",
]

SERVICE_TYPES = ("ClusterIP", "NodePort", "LoadBalancer", "ExternalName")
DESTINATIONS = ("pods", "services", "nodeports", "nodes", "external")
PACKET_PROTOCOLS = ("tcp", "udp", "icmp", "sctp")
_DEFAULT_SEGMENT = Segment("default", ipaddress.ip_network("192.168.0.0/24"))
_DEFAULT_NODE = Node(
    "node-1", ipaddress.ip_address("192.168.0.2"), "default",
    pod_cidrs=(ipaddress.ip_network("10.244.1.0/24"),),
)


# --- validation ------------------------------------------------------------------------
def _check_int(name: str, value: object, lo: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < lo:
        raise InvalidArgument(f"{name}={value!r}: expected an integer >= {lo}")
    return value


def _check_names(name: str, values: object, known: Collection[str] | None = None) -> tuple[str, ...]:
    if isinstance(values, str) or not isinstance(values, Sequence) or not values:
        raise InvalidArgument(f"{name}={values!r}: expected a non-empty sequence of strings")
    for v in values:
        if not isinstance(v, str) or not v:
            raise InvalidArgument(f"{name}={values!r}: {v!r} is not a non-empty string")
        if known is not None and v not in known:
            raise InvalidArgument(f"{name}={values!r}: {v!r} is not one of {', '.join(known)}")
    return tuple(values)


def _check_range(name: str, value: int | tuple[int, int]) -> tuple[int, int]:
    lo, hi = (value, value) if isinstance(value, int) else tuple(value)
    _check_int(f"{name} (minimum)", lo, 1)
    if _check_int(f"{name} (maximum)", hi, 1) < lo:
        raise InvalidArgument(f"{name}={value!r}: the maximum is below the minimum")
    return lo, hi


# --- objects -----------------------------------------------------------------------------
def label_selectors(
    *, keys: Sequence[str] = LABEL_KEYS, values: Sequence[str] = LABEL_VALUES, expressions: bool = True
) -> st.SearchStrategy[LabelSelector]:
    """LabelSelectors over a small label vocabulary (so they often match generated pods):
    ``matchLabels`` plus, with ``expressions``, In/NotIn/Exists/DoesNotExist requirements."""
    return selectors(_check_names("keys", keys), _check_names("values", values), expressions=expressions)


def nodes(
    *,
    segment: Segment | None = None,
    pod_cidrs: Sequence[IPNetwork] | None = None,
    name: str | None = None,
    exclude_ips: Collection[IPAddress] = (),
) -> st.SearchStrategy[Node]:
    """A Node with an address inside ``segment`` (default ``192.168.0.0/24``) and the given
    pod CIDRs (default: one /24 of 10.244.0.0/16)."""
    seg = segment or _DEFAULT_SEGMENT
    if not isinstance(seg, Segment):
        raise InvalidArgument(f"segment={segment!r}: expected a Segment")
    if pod_cidrs is not None:
        return _objects.node_(segment=seg, pod_cidrs=tuple(pod_cidrs), name=name, exclude_ips=exclude_ips)
    return subnets_of(ipaddress.ip_network("10.244.0.0/16"), 24, count=1).flatmap(
        lambda cidrs: _objects.node_(segment=seg, pod_cidrs=tuple(cidrs), name=name, exclude_ips=exclude_ips)
    )


def pods(
    *,
    node: Node | None = None,
    namespaces: Sequence[str] = ("default",),
    name: str | None = None,
    exclude_ips: Collection[IPAddress] = (),
) -> st.SearchStrategy[Pod]:
    """A Pod on ``node`` with one address in each of the node's pod CIDRs (never the network
    address, the gateway ``.1`` or ``exclude_ips``), labels from the shared vocabulary,
    container ports (some named), random readiness."""
    target = node or _DEFAULT_NODE
    if not target.pod_cidrs:
        raise InvalidArgument(f"node {target.name!r} has no pod CIDR to take pod addresses from")
    return _objects.pod_(node=target, namespaces=_check_names("namespaces", namespaces),
                         name=name, exclude_ips=exclude_ips)


def services(
    *,
    namespaces: Sequence[str] = ("default",),
    service_cidrs: Sequence[IPNetwork] = (ipaddress.ip_network("10.96.0.0/12"),),
    types: Sequence[str] = SERVICE_TYPES,
    node_port_range: tuple[int, int] = (30000, 32767),
    headless: bool = True,
    selector_less: bool = True,
    dual_stack: bool = False,
    name: str | None = None,
    exclude_ips: Collection[IPAddress] = (),
    exclude_node_ports: Collection[int] = (),
) -> st.SearchStrategy[Service]:
    """A Service of one of ``types``, with a ClusterIP per family inside ``service_cidrs``
    (from the 11th address on: ``.1`` is the ``kubernetes`` Service, ``.10`` cluster DNS),
    NodePorts in ``node_port_range`` for NodePort/LoadBalancer, a selector over the shared
    label vocabulary (or none, with ``selector_less``), sometimes headless."""
    lo, hi = node_port_range
    if not 1 <= lo <= hi <= 65535:
        raise InvalidArgument(f"node_port_range={node_port_range!r}: expected 1 <= low <= high <= 65535")
    if not service_cidrs:
        raise InvalidArgument("service_cidrs=(): expected at least one service CIDR")
    return _objects.service_(
        namespaces=_check_names("namespaces", namespaces), service_cidrs=tuple(service_cidrs),
        types=_check_names("types", types, SERVICE_TYPES), node_port_range=(lo, hi),
        exclude_ips=exclude_ips, exclude_node_ports=exclude_node_ports, headless=headless,
        selector_less=selector_less, dual_stack=dual_stack, name=name,
    )


def network_policies(
    *, namespaces: Sequence[str] = ("default",), name: str | None = None
) -> st.SearchStrategy[NetworkPolicy]:
    """A networking.k8s.io/v1 NetworkPolicy: pod selector, policy types, ingress/egress rules
    with pod, namespace and ipBlock peers and numbered, named or ranged ports."""
    return _objects.network_policy_(namespaces=_check_names("namespaces", namespaces), name=name)


# --- clusters ----------------------------------------------------------------------------
def clusters(
    *,
    min_nodes: int = 1,
    max_nodes: int = 4,
    segments: int | tuple[int, int] = (1, 2),
    drivers: Sequence[str] = ("flannel",),
    driver_options: Mapping[str, Mapping[str, Any] | st.SearchStrategy[Mapping[str, Any]]] | None = None,
    max_pods_per_node: int = 3,
    services: bool = True,
    policies: bool = False,
    dual_stack: bool = False,
    pod_ips: Literal["drawn", "ipam"] = "drawn",
) -> st.SearchStrategy[Cluster]:
    """Whole, valid clusters.

    ``segments`` is a count or a ``(min, max)`` range of underlay segments (a router joins
    them when there are several); ``drivers`` the network drivers to pick from, each with its
    ``driver_options`` (a mapping or a strategy of mappings, keyed by driver name). Nodes get
    unique names, an address inside their segment and a /24 pod CIDR (plus an IPv6 /64 with
    ``dual_stack``); pods unique names and addresses inside their node's pod CIDR; services
    unique ClusterIPs inside the service CIDR and unique NodePorts; EndpointSlices are those
    the endpoints controller makes from the selectors (selector-less services get
    hand-written slices). ``pod_ips="ipam"`` leaves every pod's address to the driver's IPAM
    (what a topology file without ``status.podIP`` does): needed for drivers whose pod
    network is their own range, not the cluster's podCIDR (weave, docker-overlay); the
    EndpointSlices follow the addresses the driver gives when the cluster is assembled.
    """
    _check_int("min_nodes", min_nodes, 0)
    if _check_int("max_nodes", max_nodes, 1) < min_nodes:
        raise InvalidArgument(f"max_nodes={max_nodes} is below min_nodes={min_nodes}")
    if max_nodes > 200:
        raise InvalidArgument(f"max_nodes={max_nodes}: at most 200 (one /24 pod CIDR each)")
    seg_range = _check_range("segments", segments)
    if seg_range[1] > 50:
        raise InvalidArgument(f"segments={segments!r}: at most 50")
    driver_names = _check_names("drivers", drivers)
    options = dict(driver_options or {})
    for key, value in options.items():
        if key not in driver_names:
            raise InvalidArgument(f"driver_options names {key!r}, which is not in drivers={driver_names!r}")
        if not isinstance(value, Mapping | st.SearchStrategy):
            raise InvalidArgument(f"driver_options[{key!r}]={value!r}: expected a mapping or a strategy")
    _check_int("max_pods_per_node", max_pods_per_node, 0)
    if pod_ips not in ("drawn", "ipam"):
        raise InvalidArgument(f"pod_ips={pod_ips!r}: expected 'drawn' or 'ipam'")
    return _cluster.clusters_(
        nodes=(min_nodes, max_nodes), segments=seg_range, drivers=driver_names, driver_options=options,
        max_pods_per_node=max_pods_per_node, services=services, policies=policies, dual_stack=dual_stack,
        ipam=pod_ips == "ipam",
    )


# --- packets -----------------------------------------------------------------------------
def packets(
    cluster: Cluster | None = None,
    *,
    protocols: Sequence[str] = ("tcp", "udp", "icmp"),
    destinations: Sequence[str] = DESTINATIONS,
) -> st.SearchStrategy[Packet]:
    """Packets to trace. With a ``cluster``: from a pod (or a node when there are no pods) to
    one of ``destinations`` — ``pods``, ``services`` (ClusterIP and service port),
    ``nodeports`` (node IP and NodePort), ``nodes``, ``external`` (TEST-NET-3) — of the same
    address family, with a protocol the destination listens on. Without: between addresses
    of 10.0.0.0/8."""
    protos = _check_names("protocols", protocols, PACKET_PROTOCOLS)
    dests = _check_names("destinations", destinations, DESTINATIONS)
    if cluster is not None and not isinstance(cluster, Cluster):
        raise InvalidArgument(f"cluster={cluster!r}: expected a Cluster (draw one first)")
    if cluster is None:
        net = ipaddress.ip_network("10.0.0.0/8")
        addr = st.integers(1, net.num_addresses - 2).map(lambda i: net[i])
        return _cluster.packet_to(addr, addr, protos)
    if not cluster.nodes:
        raise InvalidArgument(f"cluster {cluster.name!r} has no nodes (and so no pods) to send packets from")
    return _cluster.packets_(cluster, protos, dests)

