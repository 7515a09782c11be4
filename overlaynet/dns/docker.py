"""Docker's embedded DNS server (127.0.0.11): what a container on a user-defined network
asks it and what it answers, from the model alone.

libnetwork answers from the service records of the networks the container is attached to
(``sandbox_dns_unix.go``, ``resolver.go``): a container's name, its network aliases and
``<name>.<network>``, each giving the address on that network; the container's networks are
searched in the order it joined them. A name no network knows is forwarded to the host's
resolvers (we report ``FORWARDED``). The records come from the allocated cluster
(``Cluster.extra["docker-endpoints"]``: per container, ``(network, address, aliases)``, which
the docker-overlay driver writes after its IPAM).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from overlaynet.model import Cluster, IPAddress, Pod

__all__ = ["EMBEDDED_DNS", "ENDPOINTS_EXTRA", "EmbeddedAnswer", "is_docker_container", "resolve_embedded"]

EMBEDDED_DNS = "127.0.0.11"
ENDPOINTS_EXTRA = "docker-endpoints"  # the key the docker-overlay driver writes


@dataclass(frozen=True, slots=True)
class EmbeddedAnswer:
    name: str
    addresses: tuple[IPAddress, ...]
    rcode: str  # NOERROR | FORWARDED
    network: str | None  # the network whose records answered


def _records(cluster: Cluster) -> dict[str, Sequence[tuple[str, IPAddress, Sequence[str]]]]:
    return dict(cluster.extra.get(ENDPOINTS_EXTRA, {}))


def is_docker_container(cluster: Cluster, pod: Pod) -> bool:
    """Does ``pod`` resolve through Docker's embedded DNS (a container on an overlay
    network, declared as a plain Docker ``Container``)?"""
    return pod.key in _records(cluster) and "docker.overlaynet.io/container" in pod.labels


def resolve_embedded(cluster: Cluster, pod: Pod, name: str) -> EmbeddedAnswer:
    """Resolve ``name`` (an A query) as Docker's embedded DNS does for ``pod``."""
    records = _records(cluster)
    wanted = name.rstrip(".").lower()
    mine = records.get(pod.key, ())
    for network, _, _ in mine:
        for key, endpoints in sorted(records.items()):
            container = key.partition("/")[2]
            for net, _ip, aliases in endpoints:
                if net != network:
                    continue
                names = {container.lower(), f"{container}.{network}".lower(), *(a.lower() for a in aliases),
                         *(f"{a}.{network}".lower() for a in aliases)}
                if wanted in names:
                    hits = _all_on(records, network, wanted)
                    return EmbeddedAnswer(name, hits, "NOERROR", network)
    return EmbeddedAnswer(name, (), "FORWARDED", None)


def _all_on(records: dict[str, Sequence[tuple[str, IPAddress, Sequence[str]]]], network: str, wanted: str) -> tuple[IPAddress, ...]:
    """Every address on ``network`` answering ``wanted`` (an alias several containers share
    gives them all, as Docker's round-robin DNS)."""
    out = []
    for key, endpoints in sorted(records.items()):
        container = key.partition("/")[2]
        for net, ip, aliases in endpoints:
            if net == network and wanted in {container.lower(), f"{container}.{network}".lower(),
                                             *(a.lower() for a in aliases), *(f"{a}.{network}".lower() for a in aliases)}:
                out.append(ip)
    return tuple(sorted(out, key=lambda a: (a.version, int(a))))
