"""Flannel's subnet leases in the KV store: key and value format, and the two subnet managers.

Keys are ``<prefix>/subnets/<a.b.c.d>-<len>`` (dual stack: ``…&<v6 addr>-<len>``); values are the JSON of flannel's LeaseAttrs
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

from .config import IPv6Config, NetworkConfig

__all__ = [
    "RACE_RETRIES",
    "SUBNET_TTL",
    "Lease",
    "LeaseReader",
    "acquire_etcd",
    "acquire_kube",
    "allocate_ipv6_subnet",
    "allocate_subnet",
    "key_of",
    "lease_key",
]

IPv4Network = ipaddress.IPv4Network
IPv4Address = ipaddress.IPv4Address
IPv6Network = ipaddress.IPv6Network
IPv6Address = ipaddress.IPv6Address

SUBNET_TTL = 24 * 3600  # subnetTTL in local_manager.go
RACE_RETRIES = 10  # raceRetries in local_manager.go
MAX_CANDIDATES = 100  # allocateSubnet collects at most this many free subnets


@dataclass(frozen=True, slots=True)
class Lease:
    """One subnet lease: the subnet, the owner's PublicIP and its backend attributes.

    ``backend_type`` is None when the backend leaves it out (udp); ``vni``/``vtep_mac`` are
    vxlan's BackendData. ``kv_lease`` is the KV lease id, None for a reservation. With
    EnableIPv6 the lease also carries ``ipv6_subnet``, the owner's ``public_ipv6`` and (vxlan)
    the MAC of its ``flannel-v6.<VNI>`` in BackendV6Data (``v6_vtep_mac``).
    """

    subnet: IPv4Network
    public_ip: IPv4Address
    backend_type: str | None = None
    vni: int | None = None
    vtep_mac: str | None = None
    kv_lease: int | None = None
    ipv6_subnet: IPv6Network | None = None
    public_ipv6: IPv6Address | None = None
    v6_vtep_mac: str | None = None

    def value(self) -> str:
        """The JSON value as flanneld's registry writes it (Go field order, compact).

        >>> Lease(IPv4Network("10.5.52.0/24"), IPv4Address("192.168.64.3"), "vxlan", 1,
        ...       "c6:d2:32:6f:8f:44").value()
        '{"PublicIP":"192.168.64.3","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"c6:d2:32:6f:8f:44"}}'
        """
        out: dict[str, object] = {
            "PublicIP": str(self.public_ip),
            "PublicIPv6": None if self.public_ipv6 is None else str(self.public_ipv6),
        }
        if self.backend_type:
            out["BackendType"] = self.backend_type
        if self.vtep_mac is not None:
            out["BackendData"] = {"VNI": self.vni, "VtepMAC": self.vtep_mac}
        if self.v6_vtep_mac is not None:
            out["BackendV6Data"] = {"VNI": self.vni, "VtepMAC": self.v6_vtep_mac}
        return json.dumps(out, separators=(",", ":"))


def lease_key(prefix: str, subnet: IPv4Network, ipv6_subnet: IPv6Network | None = None) -> str:
    """``<prefix>/subnets/<a.b.c.d>-<len>``, with ``&<v6 addr>-<len>`` appended for a
    dual-stack lease (flannel's MakeSubnetKey).

    >>> lease_key("/coreos.com/network", IPv4Network("10.5.52.0/24"))
    '/coreos.com/network/subnets/10.5.52.0-24'
    >>> lease_key("/coreos.com/network", IPv4Network("10.5.52.0/24"), IPv6Network("fd00:5:0:34::/64"))
    '/coreos.com/network/subnets/10.5.52.0-24&fd00:5:0:34::-64'
    """
    key = f"{prefix}/subnets/{subnet.network_address}-{subnet.prefixlen}"
    if ipv6_subnet is not None:
        key += f"&{ipv6_subnet.network_address}-{ipv6_subnet.prefixlen}"
    return key


def key_of(prefix: str, lease: Lease) -> str:
    return lease_key(prefix, lease.subnet, lease.ipv6_subnet)


def parse_lease(prefix: str, kv: KeyValue) -> Lease | None:
    """Read a lease back from its key and value; None for a malformed entry (flanneld logs
    and skips those)."""
    name = kv.key[len(prefix) + len("/subnets/"):]
    try:
        v4_part, _, v6_part = name.partition("&")
        addr, length = v4_part.split("-", 1)
        subnet = IPv4Network(f"{addr}/{length}")
        ipv6_subnet = None
        if v6_part:
            addr6, length6 = v6_part.rsplit("-", 1)
            ipv6_subnet = IPv6Network(f"{addr6}/{length6}")
        attrs = json.loads(kv.value)
        data = attrs.get("BackendData") or {}
        data6 = attrs.get("BackendV6Data") or {}
        public6 = attrs.get("PublicIPv6")
        return Lease(
            subnet=subnet,
            public_ip=IPv4Address(attrs["PublicIP"]),
            backend_type=attrs.get("BackendType"),
            vni=data.get("VNI", data6.get("VNI")),
            vtep_mac=data.get("VtepMAC"),
            kv_lease=kv.lease,
            ipv6_subnet=ipv6_subnet,
            public_ipv6=None if public6 is None else IPv6Address(public6),
            v6_vtep_mac=data6.get("VtepMAC"),
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


def _free_slots(lo: int, hi: int, size: int, leased: Iterable[IPv4Network | IPv6Network]) -> list[int]:
    """The first 100 ``size``-blocks from ``lo`` to ``hi`` (block starts) no leased network
    overlaps, as allocateSubnet's loops collect them."""
    blocked: set[int] = set()
    for net in leased:  # candidate slots each lease overlaps
        start = max(int(net.network_address), lo)
        end = min(int(net.broadcast_address), hi + size - 1)
        if start <= end:
            blocked.update(range((start - lo) // size, (end - lo) // size + 1))
    available: list[int] = []
    slot = 0
    while lo + slot * size <= hi and len(available) < MAX_CANDIDATES:
        if slot not in blocked:
            available.append(lo + slot * size)
        slot += 1
    return available


def allocate_subnet(config: NetworkConfig, leases: Iterable[Lease], rng: random.Random) -> IPv4Network:
    """flanneld's allocateSubnet: walk SubnetMin..SubnetMax, collect up to 100 subnets no
    lease overlaps, pick one at random. ``AddressExhausted`` ("out of subnets") if none."""
    size = 1 << (32 - config.subnet_len)
    available = _free_slots(int(config.subnet_min), int(config.subnet_max), size, (le.subnet for le in leases))
    if not available:
        raise AddressExhausted(
            f"flannel: out of subnets: every /{config.subnet_len} in "
            f"{config.subnet_min}..{config.subnet_max} of {config.network} is leased"
        )
    return IPv4Network((available[rng.randrange(len(available))], config.subnet_len))


def allocate_ipv6_subnet(config: IPv6Config, leases: Iterable[Lease], rng: random.Random) -> IPv6Network:
    """allocateSubnet's IPv6 loop: IPv6SubnetMin..IPv6SubnetMax, up to 100 free subnets no
    lease's IPv6Subnet overlaps, one at random; "out of subnets" when none is free."""
    size = 1 << (128 - config.subnet_len)
    leased = (le.ipv6_subnet for le in leases if le.ipv6_subnet is not None)
    available = _free_slots(int(config.subnet_min), int(config.subnet_max), size, leased)
    if not available:
        raise AddressExhausted(
            f"flannel: out of subnets: every /{config.subnet_len} in "
            f"{config.subnet_min}..{config.subnet_max} of {config.network} is leased"
        )
    return IPv6Network((available[rng.randrange(len(available))], config.subnet_len))


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
        cidr6 = _kube_v6(config, node)
        lease = replace(attr, subnet=cidr, ipv6_subnet=cidr6, kv_lease=kv.grant_lease(SUBNET_TTL))
        if not kv.create(key_of(prefix, lease), lease.value(), lease=lease.kv_lease):
            raise _node_error(node, f"node {node.name}: pod CIDR {cidr} is already another node's")
        out.append(lease)
    return out


def v6_cidr(node: Node) -> IPv6Network | None:
    """The node's first IPv6 pod CIDR."""
    return next((c for c in node.pod_cidrs if isinstance(c, IPv6Network)), None)


def _kube_v6(config: NetworkConfig, node: Node) -> IPv6Network | None:
    """kube mode's IPv6 lease: the node's IPv6 pod CIDR (spec.podCIDRs), checked as
    kube.go checks it against IPv6Network."""
    if config.ipv6 is None:
        return None
    cidr6 = v6_cidr(node)
    if cidr6 is None:
        raise _node_error(node, f'node "{node.name}" pod cidr not assigned (no IPv6 podCIDR; enableIPv6 is on)')
    net6 = config.ipv6.network
    if not (net6.prefixlen <= cidr6.prefixlen and cidr6.subnet_of(net6)):
        raise _node_error(node, (
            f'subnet "{net6}" specified in the flannel net config doesn\'t contain '
            f'"{cidr6}" PodCIDR of the "{node.name}" node'))
    return cidr6


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
            cidr6 = v6_cidr(node) if config.ipv6 is not None else None
            reserved = replace(attr, subnet=cidr, ipv6_subnet=cidr6)
            kv.put(key_of(prefix, reserved), reserved.value())
    return [_try_acquire(kv, prefix, config, attr, reader, rng) for attr in attrs]


def _v6_compatible(config: NetworkConfig, lease: Lease) -> bool:
    """isIPv6SubnetConfigCompat: with IPv6 on, the lease's IPv6Subnet fits the config;
    with it off, a lease without one."""
    if config.ipv6 is None:
        return lease.ipv6_subnet is None
    return lease.ipv6_subnet is not None and config.ipv6.compatible(lease.ipv6_subnet)


def _try_acquire(
    kv: KVStore, prefix: str, config: NetworkConfig, attr: Lease, reader: LeaseReader, rng: random.Random
) -> Lease:
    for _ in range(RACE_RETRIES):
        leases = reader.leases()
        mine = next((lease for lease in leases if lease.public_ip == attr.public_ip), None)
        if mine is not None:
            key = key_of(prefix, mine)
            if config.compatible(mine.subnet) and _v6_compatible(config, mine):  # reuse; a reservation stays without TTL
                kv_lease = kv.grant_lease(SUBNET_TTL) if mine.kv_lease is not None else None
                lease = replace(attr, subnet=mine.subnet, ipv6_subnet=mine.ipv6_subnet, kv_lease=kv_lease)
                kv.put(key, lease.value(), lease=kv_lease)
                return lease
            kv.delete(key)  # "not compatible with current config, deleting"
            leases = [lease for lease in leases if lease is not mine]
        subnet = allocate_subnet(config, leases, rng)
        subnet6 = allocate_ipv6_subnet(config.ipv6, leases, rng) if config.ipv6 is not None else None
        kv_lease = kv.grant_lease(SUBNET_TTL)
        lease = replace(attr, subnet=subnet, ipv6_subnet=subnet6, kv_lease=kv_lease)
        if kv.create(key_of(prefix, lease), lease.value(), lease=kv_lease):
            return lease
        kv.revoke_lease(kv_lease)
    raise KVError("flannel: Max retries reached trying to acquire a subnet")
