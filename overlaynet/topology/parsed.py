"""What the document readers produce before assembly: model objects plus file-order facts.

``assemble.py`` turns a ``Parsed`` into a ``Cluster`` (defaults, inference, controllers).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

from overlaynet.model import (
    DNSSpec,
    EndpointSlice,
    FrozenDict,
    IPAddress,
    IPNetwork,
    KubeProxySpec,
    KVSpec,
    Labels,
    Namespace,
    NetworkPolicy,
    NetworkSpec,
    Pod,
    ResourceQuota,
    Router,
    Segment,
    Service,
    Source,
    Taint,
    Workload,
)


class OwnerRef(NamedTuple):
    """One ``metadata.ownerReferences`` entry; ``controller`` marks the ControllerRef."""

    kind: str
    name: str
    uid: str | None = None
    controller: bool = False
    where: Source | None = None


@dataclass
class NodeEntry:
    """A node as written (Cluster kind entry or Node object); ip/segment may be unknown."""

    name: str
    ip: IPAddress | None
    labels: Labels
    pod_cidrs: tuple[IPNetwork, ...]
    segment: str | None
    extra_ips: tuple[IPAddress, ...]
    source: Source
    taints: tuple[Taint, ...] = ()
    unschedulable: bool = False


@dataclass
class PodEntry:
    pod: Pod
    order: int
    timestamp: str | None
    node_selector: Labels
    owner_refs: tuple[OwnerRef, ...] = ()  # metadata.ownerReferences
    host_ip: IPAddress | None = None  # status.hostIP: the node's address, in a live dump


@dataclass
class WorkloadEntry:
    workload: Workload
    template: Pod  # the pod template: labels, ports, probes, hostname...; name is ""
    order: int
    timestamp: str | None
    node_selector: Labels
    template_hash: str
    owner_refs: tuple[OwnerRef, ...] = ()
    uid: str | None = None  # metadata.uid: an ownerReference's uid must match it


@dataclass
class ServiceEntry:
    service: Service
    order: int
    timestamp: str | None
    ip_family_policy: str | None = None


@dataclass
class ClusterSpec:
    """Our overlaynet/v1 Cluster document; ``None`` fields were not given."""

    name: str
    source: Source
    domain: str | None = None
    pod_cidrs: tuple[IPNetwork, ...] | None = None
    service_cidrs: tuple[IPNetwork, ...] | None = None
    node_port_range: tuple[int, int] | None = None
    dns: DNSSpec = DNSSpec()
    kube_proxy: KubeProxySpec = KubeProxySpec()
    network: NetworkSpec = NetworkSpec()
    kv: KVSpec = KVSpec()
    mtu: int = 1500
    segments: tuple[Segment, ...] | None = None
    routers: tuple[Router, ...] = ()
    nodes: list[NodeEntry] = field(default_factory=list)


@dataclass
class Parsed:
    cluster: ClusterSpec | None = None
    nodes: list[NodeEntry] = field(default_factory=list)
    namespaces: list[Namespace] = field(default_factory=list)
    pods: list[PodEntry] = field(default_factory=list)
    workloads: list[WorkloadEntry] = field(default_factory=list)
    services: list[ServiceEntry] = field(default_factory=list)
    endpoint_slices: list[EndpointSlice] = field(default_factory=list)  # given (incl. from Endpoints)
    from_endpoints: set[tuple[str, str]] = field(default_factory=set)  # (namespace, slice) converted from Endpoints
    network_policies: list[NetworkPolicy] = field(default_factory=list)
    resource_quotas: list[ResourceQuota] = field(default_factory=list)
    calico: list[tuple[str, dict[str, Any], Source]] = field(default_factory=list)
    skipped_kinds: set[tuple[str, str]] = field(default_factory=set)  # (API group, kind) warned about once
    docker: list[tuple[str, dict[str, Any], Source]] = field(default_factory=list)  # Container, Network (inspect)
    order: int = 0

    def next_order(self) -> int:
        self.order += 1
        return self.order


def frozen_plain(value: Any) -> Any:
    """Plain YAML data → nested FrozenDict / tuple, hashable for the frozen model."""
    if isinstance(value, dict):
        return FrozenDict({k: frozen_plain(v) for k, v in value.items()})
    if isinstance(value, list):
        return tuple(frozen_plain(v) for v in value)
    return value
