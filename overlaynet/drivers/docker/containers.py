"""The plain-Docker objects of a topology (``Cluster.extra["docker"]``, written by
``overlaynet.topology.docker_kinds``): Containers with their networks, aliases and fixed
addresses, and networks pasted from ``docker network inspect``."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from overlaynet.model import Cluster

__all__ = ["ENDPOINTS_EXTRA", "ContainerSpec", "DockerObjects"]

#: where the allocated cluster keeps each container's (network, address, aliases), for DNS
ENDPOINTS_EXTRA = "docker-endpoints"

IPv4Address = ipaddress.IPv4Address


@dataclass(frozen=True, slots=True)
class ContainerSpec:
    name: str
    networks: tuple[str, ...]
    aliases: tuple[str, ...] = ()
    per_network: Mapping[str, tuple[tuple[str, ...], IPv4Address | None]] = field(default_factory=dict)


@dataclass
class DockerObjects:
    containers: dict[str, ContainerSpec] = field(default_factory=dict)  # by pod key (default/<name>)
    networks: list[dict[str, Any]] = field(default_factory=list)  # as docker network inspect gave them
    pinned: dict[tuple[str, str], IPv4Address] = field(default_factory=dict)  # (container, network) -> address

    @classmethod
    def of(cls, cluster: Cluster) -> DockerObjects:
        out = cls()
        for kind, record in cluster.extra.get("docker", ()):
            if kind == "Container":
                per = {n["name"]: (tuple(n.get("aliases") or ()), IPv4Address(n["ipv4Address"]) if n.get("ipv4Address") else None)
                       for n in record["networks"]}
                out.containers[f"default/{record['name']}"] = ContainerSpec(
                    record["name"], tuple(n["name"] for n in record["networks"]), tuple(record.get("aliases") or ()), per)
            elif kind == "Network":
                out.networks.append(_thaw(record["network"]))
                for name, ip in (record.get("containers") or {}).items():
                    out.pinned[(name, record["network"]["name"])] = IPv4Address(ip)
        return out

    def merged_options(self, options: Mapping[str, Any]) -> dict[str, Any]:
        """The driver options plus the networks pasted from ``docker network inspect`` (the
        options win for a name given in both). Without networks in the options, the pasted
        ones replace the default network."""
        merged = dict(options)
        given = [_thaw(n) for n in (options.get("networks") or ())]
        names = {n.get("name") for n in given}
        extra = [n for n in self.networks if n["name"] not in names]
        if extra:
            merged["networks"] = given + extra
        return merged

    def address(self, pod_key: str, network: str) -> IPv4Address | None:
        spec = self.containers.get(pod_key)
        if spec is None:
            return None
        fixed = spec.per_network.get(network, ((), None))[1]
        return fixed or self.pinned.get((spec.name, network))

    def aliases(self, pod_key: str, network: str) -> tuple[str, ...]:
        spec = self.containers.get(pod_key)
        if spec is None:
            return ()
        own = spec.per_network.get(network, ((), None))[0]
        return tuple(dict.fromkeys((*spec.aliases, *own)))


def _thaw(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _thaw(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [_thaw(v) for v in value]
    return value
