"""The cluster reorganised for DNS lookups: services, ready endpoints, reverse maps, namespaces.

Built once per model by ``Resolver`` (``resolver.py``); every key is lower-case because all
comparisons between query data and Kubernetes data are case-insensitive (spec 2.1).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property

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

        # Built on first use: a trace resolving one name needs one Service's endpoints, not
        # every Service's (the reverse maps and pod addresses are built when a PTR or pod name
        # is asked).
        self.endpoints: Mapping[tuple[str, str], tuple[EndpointSubset, ...]] = _Subsets(cluster, self.services)
        self._cluster = cluster

    @cached_property
    def reverse_services(self) -> dict[IPAddress, Service]:
        """PTR: the first service owning a ClusterIP wins (CoreDNS reverse.go)."""
        out: dict[IPAddress, Service] = {}
        for svc in self.services.values():
            for ip in svc.cluster_ips:
                out.setdefault(ip, svc)
        return out

    @cached_property
    def reverse_endpoints(self) -> dict[IPAddress, list[ReverseTarget]]:
        """PTR for endpoint addresses, when no service owns the address."""
        out: dict[IPAddress, list[ReverseTarget]] = {}
        for (ns, name), subsets in self.endpoints.items():
            for subset in subsets:
                for addr in subset.addresses:
                    targets = out.setdefault(addr.ip, [])
                    target = ReverseTarget(addr.label, name, ns)
                    if target not in targets:
                        targets.append(target)
        return out

    @cached_property
    def pods_by_ip(self) -> dict[str, list[Pod]]:
        out: dict[str, list[Pod]] = {}
        for pod in self._cluster.pods:
            if pod.ip is not None:
                out.setdefault(str(pod.ip), []).append(pod)
        return out


class _Subsets(Mapping[tuple[str, str], tuple["EndpointSubset", ...]]):
    """Each Service's ready endpoint subsets, computed on first lookup and kept."""

    def __init__(self, cluster: Cluster, services: Mapping[tuple[str, str], Service]) -> None:
        self._cluster = cluster
        self._services = services
        self._done: dict[tuple[str, str], tuple[EndpointSubset, ...]] = {}

    def __getitem__(self, key: tuple[str, str]) -> tuple[EndpointSubset, ...]:
        found = self._done.get(key)
        if found is None:
            found = self._done[key] = _subsets(self._cluster, self._services[key])
        return found

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self._services)

    def __len__(self) -> int:
        return len(self._services)


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
