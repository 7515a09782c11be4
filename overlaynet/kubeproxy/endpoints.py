"""What kube-proxy knows of Services and EndpointSlices, for one IP family.

``service_ports`` mirrors ``newBaseServiceInfo`` (pkg/proxy/serviceport.go),
``endpoints_map`` mirrors the EndpointSliceCache (pkg/proxy/endpointslicecache.go: one
endpoint per address string, sorted by "ip:port") and ``categorize`` mirrors
``CategorizeEndpoints`` (pkg/proxy/topology.go: ready endpoints, else serving-terminating
ones, decided separately for Cluster and Local policy). Topology hints are not modelled.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address
from typing import Literal, NamedTuple

from overlaynet.kubeproxy import names
from overlaynet.kubeproxy.names import address
from overlaynet.model.base import IPAddress, IPNetwork
from overlaynet.model.services import EndpointSlice, Service

SvcKey = tuple[str, str, str, str]  # namespace, service, port name, protocol (upper case)


@dataclass(frozen=True, slots=True)
class ServicePortInfo:
    """One port of one Service as a single-family proxier sees it."""

    namespace: str
    service: str
    port_name: str
    protocol: str  # lower case: tcp, udp, sctp
    cluster_ip: IPAddress
    port: int
    node_port: int = 0
    external_ips: tuple[IPAddress, ...] = ()
    load_balancer_vips: tuple[IPAddress, ...] = ()
    load_balancer_source_ranges: tuple[IPNetwork, ...] = ()
    health_check_node_port: int = 0
    client_ip_affinity: bool = False
    sticky_seconds: int = 0
    external_policy_local: bool = False
    internal_policy_local: bool = False

    @property
    def key(self) -> SvcKey:
        return (self.namespace, self.service, self.port_name, self.protocol.upper())

    @property
    def name(self) -> str:
        return names.service_port_name(self.namespace, self.service, self.port_name)

    @property
    def externally_accessible(self) -> bool:
        return bool(self.node_port or self.load_balancer_vips or self.external_ips)

    @property
    def uses_cluster_endpoints(self) -> bool:
        return not self.internal_policy_local or self.externally_accessible

    @property
    def uses_local_endpoints(self) -> bool:
        return self.internal_policy_local or (
            self.external_policy_local and self.externally_accessible
        )


class EndpointInfo(NamedTuple):
    """One endpoint of one service port (``BaseEndpointInfo``); ``string`` is "ip:port"
    and ``host`` the address as printed (both made by ``of``). A named tuple: a node at
    10,000 Services holds 100,000 of these, and a tuple is several times cheaper to make."""

    ip: IPAddress
    port: int
    node: str | None
    is_local: bool
    ready: bool
    serving: bool
    terminating: bool
    string: str
    host: str

    @classmethod
    def of(cls, ip: IPAddress, port: int, node: str | None = None, is_local: bool = False, ready: bool = True,
           serving: bool = True, terminating: bool = False) -> EndpointInfo:
        host = names.address(ip)
        return cls(ip, port, node, is_local, ready, serving, terminating,
                   names.join_host_port(host, ip.version, port), host)


def _externally_accessible(svc: Service) -> bool:
    return svc.type in ("LoadBalancer", "NodePort") or (
        svc.type == "ClusterIP" and bool(svc.external_ips)
    )


def service_ports(services: Iterable[Service], family: Literal[4, 6]) -> list[ServicePortInfo]:
    """Every proxied service port of this family, sorted by service-port name.

    Headless and ExternalName services, and services without a cluster IP of the family,
    are skipped (``ShouldSkipService``/``GetClusterIPByFamily``).
    """
    out: list[ServicePortInfo] = []
    for svc in services:
        if svc.type == "ExternalName" or svc.headless:
            continue
        cluster_ip = next((ip for ip in svc.cluster_ips if ip.version == family), None)
        if cluster_ip is None:
            continue
        etp_local = _externally_accessible(svc) and svc.external_traffic_policy == "Local"
        hc_port = (
            svc.health_check_node_port or 0
            if svc.type == "LoadBalancer" and etp_local
            else 0
        )
        for port in svc.ports:
            out.append(
                ServicePortInfo(
                    namespace=svc.namespace,
                    service=svc.name,
                    port_name=port.name or "",
                    protocol=port.protocol.lower(),
                    cluster_ip=cluster_ip,
                    port=port.port,
                    node_port=port.node_port or 0,
                    external_ips=tuple(ip for ip in svc.external_ips if ip.version == family),
                    load_balancer_vips=tuple(
                        ip for ip in svc.load_balancer_ips if ip.version == family
                    ),
                    load_balancer_source_ranges=tuple(
                        c for c in svc.load_balancer_source_ranges if c.version == family
                    ),
                    health_check_node_port=hc_port,
                    client_ip_affinity=svc.session_affinity == "ClientIP",
                    sticky_seconds=(
                        svc.session_affinity_timeout if svc.session_affinity == "ClientIP" else 0
                    ),
                    external_policy_local=etp_local,
                    internal_policy_local=svc.internal_traffic_policy == "Local",
                )
            )
    out.sort(key=lambda sp: (sp.name, sp.protocol))
    return out


Group = list[tuple[EndpointSlice, int]]  # the slices naming one service port (with its port number), in order


def slice_groups(slices: Iterable[EndpointSlice]) -> dict[SvcKey, Group]:
    """The slices of each service port (namespace, service, port name, protocol), in the
    order the EndpointSliceCache merges them (slices by name, ports by number)."""
    groups: dict[SvcKey, Group] = {}
    for eps in sorted(slices, key=lambda s: (s.namespace, s.service, s.name)):
        if eps.address_type == "FQDN":
            continue  # kube-proxy only handles IPv4 and IPv6 slices
        for port in sorted(eps.ports, key=lambda p: p.port):
            if port.port:
                groups.setdefault((eps.namespace, eps.service, port.name or "", port.protocol), []).append(
                    (eps, port.port))
    return groups


def group_endpoints(group: Group, family: Literal[4, 6], node_name: str) -> list[EndpointInfo]:
    """The endpoints of one service port, sorted by their "ip:port" string; an address
    appearing twice keeps the local copy. Made when the service port's rules are: a node at
    10,000 Services has 100,000, and none needs to outlive its rules."""
    bucket: dict[str, EndpointInfo] = {}
    kind = IPv4Address if family == 4 else IPv6Address  # a type test: ``version`` is a property
    new = tuple.__new__  # EndpointInfo(...) without the named tuple's Python-level __new__
    for eps, number in group:
        for ep in eps.endpoints:
            addresses = ep.addresses
            if not addresses:
                continue
            ip = addresses[0]
            if not isinstance(ip, kind):
                continue
            host = address(ip)
            string = f"{host}:{number}" if family == 4 else f"[{host}]:{number}"  # names.join_host_port, inlined (100,000 a node)
            is_local = ep.node_name == node_name and bool(node_name)
            if is_local or string not in bucket:
                bucket[string] = new(EndpointInfo, (ip, number, ep.node_name, is_local, ep.ready, ep.serving,
                                                    ep.terminating, string, host))
    return [bucket[s] for s in sorted(bucket)]


def count_endpoints(group: Group, family: Literal[4, 6]) -> int:
    """``len(group_endpoints(group, …))`` without making them."""
    return len({(ep.addresses[0], number) for eps, number in group for ep in eps.endpoints
                if ep.addresses and ep.addresses[0].version == family})


def endpoints_map(
    slices: Iterable[EndpointSlice], family: Literal[4, 6], node_name: str
) -> dict[SvcKey, list[EndpointInfo]]:
    """Endpoints per service port (namespace, service, port name, protocol), sorted by
    their "ip:port" string; an address appearing twice keeps the local copy."""
    out = {key: group_endpoints(group, family, node_name) for key, group in slice_groups(slices).items()}
    return {key: eps for key, eps in out.items() if eps}


@dataclass(frozen=True, slots=True)
class Categorized:
    cluster: tuple[EndpointInfo, ...]
    local: tuple[EndpointInfo, ...]
    reachable: tuple[EndpointInfo, ...]
    has_any: bool


def categorize(endpoints: list[EndpointInfo], sp: ServicePortInfo) -> Categorized:
    """``CategorizeEndpoints`` without topology hints."""
    if not endpoints:
        return Categorized((), (), (), False)
    cluster: tuple[EndpointInfo, ...] = ()
    has_any = False
    if sp.uses_cluster_endpoints:
        cluster = tuple(e for e in endpoints if e.ready)
        if not cluster:
            cluster = tuple(e for e in endpoints if e.serving and e.terminating)
        has_any = bool(cluster)
    if not sp.uses_local_endpoints:
        return Categorized(cluster, (), cluster, has_any)

    local_ready = local_st = False
    for e in endpoints:
        if e.ready:
            has_any = True
            local_ready = local_ready or e.is_local
        elif e.serving and e.terminating:
            has_any = True
            local_st = local_st or e.is_local
    local: tuple[EndpointInfo, ...] = ()
    use_terminating = False
    if local_ready:
        local = tuple(e for e in endpoints if e.is_local and e.ready)
    elif local_st:
        use_terminating = True
        local = tuple(e for e in endpoints if e.is_local and e.serving and e.terminating)
    if not sp.uses_cluster_endpoints:
        return Categorized((), local, local, has_any)
    if not use_terminating:
        return Categorized(cluster, local, cluster, has_any)
    merged = {e.string: e for e in (*cluster, *local)}
    return Categorized(cluster, local, tuple(merged[k] for k in sorted(merged)), has_any)
