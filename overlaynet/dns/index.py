"""The cluster reorganised for DNS lookups: services, ready endpoints, reverse maps, namespaces.

Built once per model by ``Resolver`` (``resolver.py``); every key is lower-case because all
comparisons between query data and Kubernetes data are case-insensitive (spec 2.1).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import dns.name

from overlaynet.dns.records import dashed_ip
from overlaynet.model import Cluster, IPAddress, Pod, Service

# Namespaces every cluster has, whether or not the topology names them.
SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


@dataclass(frozen=True, slots=True)
class EndpointPortInfo:
    """A port of an EndpointSlice (or CoreDNS's ``-1`` sentinel when a slice has none)."""

    port: int
    name: str = ""
    protocol: str = ""


NO_PORT = EndpointPortInfo(-1)


@dataclass(frozen=True, slots=True)
class EndpointAddress:
    """One ready address of a Service with the DNS label CoreDNS gives it."""

    ip: IPAddress
    label: str  # hostname, else the dashed IP (lower-case)
    has_hostname: bool


@dataclass(frozen=True, slots=True)
class EndpointSubset:
    """The ready addresses of one EndpointSlice and its ports (their cartesian product)."""

    addresses: tuple[EndpointAddress, ...]
    ports: tuple[EndpointPortInfo, ...]


@dataclass(frozen=True, slots=True)
class ReverseTarget:
    """Where a PTR for an endpoint address points: ``<label>.<service>.<namespace>.svc``."""

    label: str
    service: str
    namespace: str


class ZoneIndex:
    """Lookup tables over one Cluster; build with ``ZoneIndex(cluster)``."""

    def __init__(self, cluster: Cluster) -> None:
        self.zone = dns.name.from_text(cluster.domain.strip(".").lower() + ".")
        namespaces = {n.name.lower() for n in cluster.namespaces}
        namespaces.update(SYSTEM_NAMESPACES)
        namespaces.update(p.namespace.lower() for p in cluster.pods)
        namespaces.update(s.namespace.lower() for s in cluster.services)
        self.namespaces: frozenset[str] = frozenset(namespaces)

        self.services: dict[tuple[str, str], Service] = {}
        for svc in cluster.services:
            self.services.setdefault((svc.namespace.lower(), svc.name.lower()), svc)

        self.endpoints: dict[tuple[str, str], tuple[EndpointSubset, ...]] = {}
        for key, svc in self.services.items():
            self.endpoints[key] = _subsets(cluster, svc)

        # PTR: the first service owning a ClusterIP wins (CoreDNS reverse.go), else endpoints.
        self.reverse_services: dict[IPAddress, Service] = {}
        self.reverse_endpoints: dict[IPAddress, list[ReverseTarget]] = {}
        for svc in self.services.values():
            for ip in svc.cluster_ips:
                self.reverse_services.setdefault(ip, svc)
        for (ns, name), subsets in self.endpoints.items():
            for subset in subsets:
                for addr in subset.addresses:
                    targets = self.reverse_endpoints.setdefault(addr.ip, [])
                    target = ReverseTarget(addr.label, name, ns)
                    if target not in targets:
                        targets.append(target)

        self.pods_by_ip: dict[str, list[Pod]] = {}
        for pod in cluster.pods:
            if pod.ip is not None:
                self.pods_by_ip.setdefault(str(pod.ip), []).append(pod)


def _subsets(cluster: Cluster, svc: Service) -> tuple[EndpointSubset, ...]:
    """Ready addresses per slice, as CoreDNS caches them: not-ready endpoints are dropped
    unless the Service publishes not-ready addresses; FQDN slices are ignored."""
    out: list[EndpointSubset] = []
    for slc in cluster.slices_for(svc):
        if slc.address_type == "FQDN":
            continue
        addresses: list[EndpointAddress] = []
        for ep in slc.endpoints:
            if not (ep.ready or svc.publish_not_ready_addresses):
                continue
            for ip in ep.addresses:
                if not isinstance(ip, ipaddress.IPv4Address | ipaddress.IPv6Address):
                    continue
                label = ep.hostname.lower() if ep.hostname else dashed_ip(ip)
                addresses.append(EndpointAddress(ip, label, bool(ep.hostname)))
        ports = tuple(
            EndpointPortInfo(p.port, (p.name or "").lower(), p.protocol.lower()) for p in slc.ports
        ) or (NO_PORT,)
        if addresses:
            out.append(EndpointSubset(tuple(addresses), ports))
    return tuple(out)
