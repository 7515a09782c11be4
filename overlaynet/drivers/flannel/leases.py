"""Flannel's subnet leases in the KV store: key and value format, and the two subnet managers.

Keys are ``<prefix>/subnets/<a.b.c.d>-<len>``; values are the JSON of flannel's LeaseAttrs
(``pkg/lease/lease.go``) attached to a 24 h lease (none for a reservation). ``acquire_etcd``
is flanneld's LocalManager (``pkg/subnet/etcd/local_manager.go``): reuse the lease carrying
our PublicIP, else pick one of up to 100 free subnets at random (seeded here).
``acquire_kube`` mirrors ``--kube-subnet-mgr``: each node's spec.podCIDR is its lease.
"""

from __future__ import annotations

import ipaddress
import json
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from overlaynet.drivers.cni import v4_cidr
from overlaynet.errors import AddressExhausted, Diagnostic, KVError, TopologyError
from overlaynet.kv.base import KeyValue, KVStore
from overlaynet.model import Node

from .config import NetworkConfig

__all__ = [
    "RACE_RETRIES",
    "SUBNET_TTL",
    "Lease",
    "LeaseReader",
    "acquire_etcd",
    "acquire_kube",
    "allocate_subnet",
    "lease_key",
]

IPv4Network = ipaddress.IPv4Network
IPv4Address = ipaddress.IPv4Address

SUBNET_TTL = 24 * 3600  # subnetTTL in local_manager.go
RACE_RETRIES = 10  # raceRetries in local_manager.go
MAX_CANDIDATES = 100  # allocateSubnet collects at most this many free subnets


@dataclass(frozen=True, slots=True)
class Lease:
    """One subnet lease: the subnet, the owner's PublicIP and its backend attributes.

    ``backend_type`` is None when the backend leaves it out (udp); ``vni``/``vtep_mac`` are
    vxlan's BackendData. ``kv_lease`` is the KV lease id, None for a reservation.
    """

    subnet: IPv4Network
    public_ip: IPv4Address
    backend_type: str | None = None
    vni: int | None = None
    vtep_mac: str | None = None
    kv_lease: int | None = None

    def value(self) -> str:
        """The JSON value as flanneld's registry writes it (Go field order, compact).

        >>> Lease(IPv4Network("10.5.52.0/24"), IPv4Address("192.168.64.3"), "vxlan", 1,
        ...       "c6:d2:32:6f:8f:44").value()
        '{"PublicIP":"192.168.64.3","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"c6:d2:32:6f:8f:44"}}'
        """
        out: dict[str, object] = {"PublicIP": str(self.public_ip), "PublicIPv6": None}
        if self.backend_type:
            out["BackendType"] = self.backend_type
        if self.vtep_mac is not None:
            out["BackendData"] = {"VNI": self.vni, "VtepMAC": self.vtep_mac}
        return json.dumps(out, separators=(",", ":"))


def lease_key(prefix: str, subnet: IPv4Network) -> str:
    """``<prefix>/subnets/<a.b.c.d>-<len>`` (flannel's MakeSubnetKey).

    >>> lease_key("/coreos.com/network", IPv4Network("10.5.52.0/24"))
    '/coreos.com/network/subnets/10.5.52.0-24'
    """
    return f"{prefix}/subnets/{subnet.network_address}-{subnet.prefixlen}"


def parse_lease(prefix: str, kv: KeyValue) -> Lease | None:
    """Read a lease back from its key and value; None for a malformed entry (flanneld logs
    and skips those)."""
    name = kv.key[len(prefix) + len("/subnets/"):]
    try:
        addr, length = name.split("-", 1)
        subnet = IPv4Network(f"{addr}/{length}")
        attrs = json.loads(kv.value)
        data = attrs.get("BackendData") or {}
        return Lease(
            subnet=subnet,
            public_ip=IPv4Address(attrs["PublicIP"]),
            backend_type=attrs.get("BackendType"),
            vni=data.get("VNI"),
            vtep_mac=data.get("VtepMAC"),
            kv_lease=kv.lease,
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


class LeaseReader:
    """Lists the leases under a prefix sorted by subnet, as a watch's cache would: each
    key/revision is parsed once, and the list is reused while the store's revision stays."""

    def __init__(self, kv: KVStore, prefix: str) -> None:
        self.kv = kv
        self.prefix = prefix
        self._cache: dict[str, tuple[int, Lease | None]] = {}
        self._listed: tuple[int, list[Lease]] | None = None

    def leases(self) -> list[Lease]:
        revision = self.kv.revision()
        if self._listed is not None and self._listed[0] == revision:
            return self._listed[1]
        out: list[Lease] = []
        for kv in self.kv.list_prefix(f"{self.prefix}/subnets/"):
            hit = self._cache.get(kv.key)
            if hit is None or hit[0] != kv.mod_revision:
                hit = (kv.mod_revision, parse_lease(self.prefix, kv))
                self._cache[kv.key] = hit
            if hit[1] is not None:
                out.append(hit[1])
        out.sort(key=lambda lease: (int(lease.subnet.network_address), lease.subnet.prefixlen))
        self._listed = (revision, out)
        return out


def allocate_subnet(config: NetworkConfig, leases: Iterable[Lease], rng: random.Random) -> IPv4Network:
    """flanneld's allocateSubnet: walk SubnetMin..SubnetMax, collect up to 100 subnets no
    lease overlaps, pick one at random. ``AddressExhausted`` ("out of subnets") if none."""
    size = 1 << (32 - config.subnet_len)
    lo, hi = int(config.subnet_min), int(config.subnet_max)
    blocked: set[int] = set()
    for lease in leases:  # candidate slots each lease overlaps
        start = max(int(lease.subnet.network_address), lo)
        end = min(int(lease.subnet.broadcast_address), hi + size - 1)
        blocked.update(range((start - lo) // size, (end - lo) // size + 1) if start <= end else ())
    available: list[int] = []
    slot = 0
    while lo + slot * size <= hi and len(available) < MAX_CANDIDATES:
        if slot not in blocked:
            available.append(lo + slot * size)
        slot += 1
    if not available:
        raise AddressExhausted(
            f"flannel: out of subnets: every /{config.subnet_len} in "
            f"{config.subnet_min}..{config.subnet_max} of {config.network} is leased"
        )
    return IPv4Network((available[rng.randrange(len(available))], config.subnet_len))


def _node_error(node: Node, message: str) -> TopologyError:
    src = node.source
    where = (src.file, src.line, src.column) if src else ("<cluster>", 0, 0)
    return TopologyError([Diagnostic(*where, "spec.podCIDR", message)])


def acquire_kube(
    kv: KVStore, prefix: str, config: NetworkConfig, nodes: Sequence[Node], attrs: Sequence[Lease]
) -> list[Lease]:
    """``--kube-subnet-mgr``: each node's (IPv4) pod CIDR is its lease. The leases are
    rewritten under ``prefix`` (as the node annotations flannel keeps in kube mode), so
    subnet.env and every host's routes read one source."""
    kv.delete_prefix(f"{prefix}/subnets/")
    out: list[Lease] = []
    for node, attr in zip(nodes, attrs, strict=True):
        cidr = v4_cidr(node)
        if cidr is None:
            raise _node_error(node, f'node "{node.name}" pod cidr not assigned')
        if not (config.network.prefixlen <= cidr.prefixlen and cidr.subnet_of(config.network)):
            raise _node_error(node, (
                f'subnet "{config.network}" specified in the flannel net config doesn\'t contain '
                f'"{cidr}" PodCIDR of the "{node.name}" node'))
        lease = replace(attr, subnet=cidr, kv_lease=kv.grant_lease(SUBNET_TTL))
        if not kv.create(lease_key(prefix, cidr), lease.value(), lease=lease.kv_lease):
            raise _node_error(node, f"node {node.name}: pod CIDR {cidr} is already another node's")
        out.append(lease)
    return out


def acquire_etcd(
    kv: KVStore,
    prefix: str,
    config: NetworkConfig,
    nodes: Sequence[Node],
    attrs: Sequence[Lease],
    rng: random.Random,
) -> list[Lease]:
    """flanneld's LocalManager, node by node in order. A pod CIDR the file gave a node is
    first written as a reservation (a lease key without TTL, reservations.md), which that
    node then reuses when it fits the config; leases IPAM chose are ignored."""
    reader = LeaseReader(kv, prefix)
    for node, attr in zip(nodes, attrs, strict=True):
        cidr = v4_cidr(node)
        if cidr is not None and not node.pod_cidrs_allocated:
            kv.put(lease_key(prefix, cidr), replace(attr, subnet=cidr).value())
    return [_try_acquire(kv, prefix, config, attr, reader, rng) for attr in attrs]


def _try_acquire(
    kv: KVStore, prefix: str, config: NetworkConfig, attr: Lease, reader: LeaseReader, rng: random.Random
) -> Lease:
    for _ in range(RACE_RETRIES):
        leases = reader.leases()
        mine = next((lease for lease in leases if lease.public_ip == attr.public_ip), None)
        if mine is not None:
            key = lease_key(prefix, mine.subnet)
            if config.compatible(mine.subnet):  # reuse; a reservation stays without TTL
                kv_lease = kv.grant_lease(SUBNET_TTL) if mine.kv_lease is not None else None
                lease = replace(attr, subnet=mine.subnet, kv_lease=kv_lease)
                kv.put(key, lease.value(), lease=kv_lease)
                return lease
            kv.delete(key)  # "not compatible with current config, deleting"
            leases = [lease for lease in leases if lease is not mine]
        subnet = allocate_subnet(config, leases, rng)
        kv_lease = kv.grant_lease(SUBNET_TTL)
        lease = replace(attr, subnet=subnet, kv_lease=kv_lease)
        if kv.create(lease_key(prefix, subnet), lease.value(), lease=kv_lease):
            return lease
        kv.revoke_lease(kv_lease)
    raise KVError("flannel: Max retries reached trying to acquire a subnet")
