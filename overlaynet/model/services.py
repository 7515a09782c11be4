"""Services, their ports, and EndpointSlices (given, or made by the endpoints controller)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from overlaynet.model.base import EMPTY_LABELS, IPAddress, IPNetwork, Labels, Source

ServiceType = Literal["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"]
TrafficPolicy = Literal["Cluster", "Local"]


@dataclass(frozen=True, slots=True)
class ServicePort:
    port: int
    protocol: Literal["TCP", "UDP", "SCTP"] = "TCP"
    name: str | None = None
    target_port: int | str | None = None  # None: same as port; str: a named container port
    node_port: int | None = None
    app_protocol: str | None = None


@dataclass(frozen=True, slots=True)
class Service:
    """A Service. ``cluster_ips`` is empty for headless (``clusterIP: None``) and ExternalName.

    ``selector`` is None for a selector-less service (endpoints written by hand).
    """

    name: str
    namespace: str = "default"
    type: ServiceType = "ClusterIP"
    selector: Labels | None = None
    ports: tuple[ServicePort, ...] = ()
    cluster_ips: tuple[IPAddress, ...] = ()
    headless: bool = False
    ip_families: tuple[Literal["IPv4", "IPv6"], ...] = ()
    session_affinity: Literal["None", "ClientIP"] = "None"
    session_affinity_timeout: int = 10800
    external_traffic_policy: TrafficPolicy = "Cluster"
    internal_traffic_policy: TrafficPolicy = "Cluster"
    external_ips: tuple[IPAddress, ...] = ()
    load_balancer_ips: tuple[IPAddress, ...] = ()  # spec.loadBalancerIP + status ingress IPs
    load_balancer_source_ranges: tuple[IPNetwork, ...] = ()
    external_name: str | None = None
    health_check_node_port: int | None = None
    publish_not_ready_addresses: bool = False
    labels: Labels = EMPTY_LABELS
    creation_index: int = 0
    creation_timestamp: str | None = None
    source: Source | None = field(default=None, compare=False)

    @property
    def cluster_ip(self) -> IPAddress | None:
        return self.cluster_ips[0] if self.cluster_ips else None

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True, slots=True)
class ObjectRef:
    kind: str
    name: str
    namespace: str


@dataclass(frozen=True, slots=True)
class Endpoint:
    addresses: tuple[IPAddress, ...]
    ready: bool = True
    serving: bool = True
    terminating: bool = False
    node_name: str | None = None
    hostname: str | None = None
    target_ref: ObjectRef | None = None
    zone: str | None = None


@dataclass(frozen=True, slots=True)
class EndpointPort:
    port: int
    protocol: Literal["TCP", "UDP", "SCTP"] = "TCP"
    name: str | None = None
    app_protocol: str | None = None


@dataclass(frozen=True, slots=True)
class EndpointSlice:
    """A discovery.k8s.io/v1 EndpointSlice; ``service`` is its kubernetes.io/service-name."""

    name: str
    namespace: str
    service: str
    address_type: Literal["IPv4", "IPv6", "FQDN"] = "IPv4"
    endpoints: tuple[Endpoint, ...] = ()
    ports: tuple[EndpointPort, ...] = ()
    managed_by: str = "endpointslice-controller.k8s.io"
    source: Source | None = field(default=None, compare=False)
