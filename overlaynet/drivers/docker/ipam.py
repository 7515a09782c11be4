"""libnetwork's IPAM and VXLAN-ID manager over the KV store, with compare-and-swap retries.

Networks (``RequestPool`` from the global default pool 10.0.0.0/8 cut into /24s, the
gateway's ``RequestAddress``, the VNI's ``GetID``) and endpoints (``RequestAddress``) are
allocated as libnetwork allocates them (``ipam/allocator.go``, ``idm/idm.go``,
``drivers/overlay/ov_network.go``): read the objects with their store index, change a private
copy, write it back only if nobody wrote in between, else read again and retry.

Where we are stricter than libnetwork: libkv has no multi-key transaction, so a daemon that
dies between writing the address bitmask and the endpoint leaks the address until its
restart cleanup. Here each allocation is one etcd transaction over every object it touches
(``KVStore.compare_and_swap_many``): an endpoint is in the store with its address reserved,
or neither is. A retried request finds its endpoint (ids derive from the container name)
and returns it, so an answer lost with a dying etcd is not allocated twice.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass, field

from overlaynet.errors import AddressExhausted, KVError
from overlaynet.kv.base import KeyValue, KVStore

from .bitseq import BitAllocated, BitSequence
from .options import NetworkConf
from .store import (
    ADDRESS_SPACE,
    IPAM_CONFIG,
    IPAM_DATA,
    VNI_IDM,
    EndpointRecord,
    NetworkRecord,
    dumps,
    endpoint_id,
    key,
    mac_from_ip,
    network_id,
    pool_id,
)

__all__ = ["GLOBAL_DEFAULT_POOL", "RETRIES", "VNI_END", "Allocator", "IPAMError", "vni_start"]

IPv4Address = ipaddress.IPv4Address
IPv4Network = ipaddress.IPv4Network

#: ipamutils.globalScopeDefaultNetworks: 10.0.0.0/8 split into /24s
GLOBAL_DEFAULT_POOL = (IPv4Network("10.0.0.0/8"), 24)
VNI_END = (1 << 24) - 1  # vxlanIDEnd
#: CAS attempts before giving up (libnetwork retries forever; a bound keeps a broken store
#: from hanging a run)
RETRIES = 1000


def vni_start(mode: str) -> int:
    """vxlanIDStart: 256 for the classic driver (``overlay.go``), 4096 for the swarm
    manager (``ovmanager.go``)."""
    return 4096 if mode == "swarm" else 256


class IPAMError(KVError, ValueError):
    """A request the IPAM refuses (address outside the pool, already allocated)."""


@dataclass
class _Read:
    """Objects read for one attempt: their values and the revisions to compare against."""

    kv: KVStore
    revisions: dict[str, int] = field(default_factory=dict)

    def get(self, k: str) -> KeyValue | None:
        got = self.kv.get(k)
        self.revisions[k] = got.mod_revision if got is not None else 0
        return got


class Allocator:
    """One daemon's IPAM and VNI allocator (its serial cursors are its own, as libnetwork's
    ``Handle.curr`` is never stored)."""

    def __init__(self, kv: KVStore, *, cluster: str = "cluster", mode: str = "classic") -> None:
        self.kv = kv
        self.cluster = cluster
        self.mode = mode
        self._vni_cursor = 0

    # --- networks -------------------------------------------------------------------------
    def _vni_bits(self) -> tuple[int, int, int]:
        """(bits of the idm sequence, first ordinal to use, idm start): classic idm covers
        256..2^24-1 from ordinal 0; swarm's covers 0..2^24-1 and allocates from 4096."""
        if self.mode == "swarm":
            return VNI_END + 1, vni_start("swarm"), 0
        start = vni_start("classic")
        return VNI_END - start + 1, 0, start

    def create_network(self, conf: NetworkConf) -> NetworkRecord:
        """Create ``conf`` in the store (or return it when it is there already): pool,
        gateway, VNI, the network objects, in one transaction, retried on conflict."""
        nid = network_id(self.cluster, conf.name)
        for _ in range(RETRIES):
            read = _Read(self.kv)
            existing = self.network(nid)
            if existing is not None:
                return existing
            read.get(key("network", nid))
            space_kv = read.get(key(IPAM_CONFIG))
            subnets: dict[str, dict[str, object]] = json.loads(space_kv.value)["Subnets"] if space_kv else {}
            subnet = conf.subnet if conf.subnet is not None else self._predefined(subnets)
            self._check_overlap(subnet, subnets, conf)
            master = pool_id(subnet)
            subnets[master] = {"ParentKey": {"AddressSpace": "", "Subnet": "", "ChildSubnet": ""},
                               "Pool": str(subnet), "RefCount": 1}
            if conf.ip_range is not None:
                start = int(conf.ip_range.network_address) - int(subnet.network_address)
                subnets[pool_id(subnet, conf.ip_range)] = {
                    "ParentKey": {"AddressSpace": ADDRESS_SPACE, "Subnet": str(subnet), "ChildSubnet": ""},
                    "Pool": str(subnet), "RefCount": 1,
                    "Range": {"Sub": str(conf.ip_range), "Start": start, "End": start + conf.ip_range.num_addresses - 1},
                }
                subnets[master]["RefCount"] = 2
            bits_key = key(IPAM_DATA, master)
            read.get(bits_key)
            seq = BitSequence.empty(subnet.num_addresses)
            seq.set(0)  # insertBitMask reserves the network and broadcast addresses
            seq.set(subnet.num_addresses - 1)
            lo, hi = self._range(subnet, conf.ip_range)
            if conf.gateway is not None:
                seq.set(int(conf.gateway) - int(subnet.network_address))
                gateway = conf.gateway
            else:
                gateway = subnet.network_address + seq.set_any(lo, hi)
            vni, idm_value = self._take_vni(read, conf.vni)
            record = NetworkRecord(
                id=nid, name=conf.name, subnet=subnet, gateway=gateway, ip_range=conf.ip_range, vni=vni,
                encrypted=conf.encrypted, internal=conf.internal, attachable=conf.attachable, mtu=conf.mtu or 0,
            )
            for k in (key("overlay", "network", nid), key("endpoint_count", nid)):
                read.get(k)
            writes = [
                (key(IPAM_CONFIG), dumps({"Scope": "global", "Subnets": subnets}), read.revisions[key(IPAM_CONFIG)]),
                (bits_key, seq.to_json(master), read.revisions[bits_key]),
                (key(*VNI_IDM), idm_value, read.revisions[key(*VNI_IDM)]),
                (key("network", nid), record.libnetwork_value(), 0),
                (key("overlay", "network", nid), record.overlay_value(), read.revisions[key("overlay", "network", nid)]),
                (key("endpoint_count", nid), dumps({"Count": 0}), read.revisions[key("endpoint_count", nid)]),
            ]
            if self.kv.compare_and_swap_many(writes):
                return record
            self._vni_cursor = 0  # the write lost: the sequence moved under us
        raise KVError(f"docker-overlay: network {conf.name}: gave up after {RETRIES} conflicting writes")

    @staticmethod
    def _range(subnet: IPv4Network, ip_range: IPv4Network | None) -> tuple[int, int]:
        if ip_range is None:
            return 0, subnet.num_addresses - 1
        start = int(ip_range.network_address) - int(subnet.network_address)
        return start, start + ip_range.num_addresses - 1

    def _take_vni(self, read: _Read, wanted: int | None = None) -> tuple[int, str]:
        bits, first, base = self._vni_bits()
        got = read.get(key(*VNI_IDM))
        seq = BitSequence.from_json(got.value)[1] if got is not None else BitSequence.empty(bits)
        if wanted is not None:  # GetSpecificID: a VNI the network already has
            if not base <= wanted < base + bits:
                raise IPAMError(f"docker-overlay: VXLAN ID {wanted} is outside {base}-{base + bits - 1}")
            try:
                seq.set(wanted - base)
            except BitAllocated:
                raise IPAMError(f"docker-overlay: VXLAN ID {wanted} is already another network's") from None
            return wanted, seq.to_json(VNI_IDM[1])
        try:
            ordinal = seq.set_any(first, bits - 1, self._vni_cursor)  # GetID(serial=true)
        except AddressExhausted:
            raise AddressExhausted("docker-overlay: failed to allocate vxlan id: no bit available") from None
        self._vni_cursor = ordinal + 1
        return base + ordinal, seq.to_json(VNI_IDM[1])

    @staticmethod
    def _predefined(subnets: dict[str, dict[str, object]]) -> IPv4Network:
        """``getPredefinedPool``: the first default /24 no pool of the space overlaps."""
        base, size = GLOBAL_DEFAULT_POOL
        taken = [IPv4Network(str(p["Pool"])) for p in subnets.values()]
        for candidate in base.subnets(new_prefix=size):
            if not any(candidate.overlaps(t) for t in taken):
                return candidate
        raise AddressExhausted("could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network")

    @staticmethod
    def _check_overlap(subnet: IPv4Network, subnets: dict[str, dict[str, object]], conf: NetworkConf) -> None:
        for name, pool in subnets.items():
            if "Range" in pool:
                continue
            if IPv4Network(str(pool["Pool"])).overlaps(subnet):
                raise IPAMError(f"docker-overlay: network {conf.name}: Pool overlaps with other one on this "
                                f"address space ({subnet} and {name})")

    # --- endpoints ------------------------------------------------------------------------
    def create_endpoint(
        self,
        net: NetworkRecord,
        container: str,
        locator: IPv4Address,
        *,
        ip: IPv4Address | None = None,
        aliases: tuple[str, ...] = (),
    ) -> EndpointRecord:
        """Reserve an address for ``container`` on ``net`` (``ip`` when given, else the first
        free one of the pool or its ipRange) and write the endpoint, in one transaction."""
        epid = endpoint_id(net.id, container)
        ep_key = key("endpoint", net.id, epid)
        master = pool_id(net.subnet)
        bits_key = key(IPAM_DATA, master)
        count_key = key("endpoint_count", net.id)
        for _ in range(RETRIES):
            read = _Read(self.kv)
            existing = read.get(ep_key)
            if existing is not None:
                return EndpointRecord.parse(net.id, existing.value)
            bits = read.get(bits_key)
            count = read.get(count_key)
            if bits is None:
                raise IPAMError(f"docker-overlay: could not find bitmask in datastore for {master}")
            seq = BitSequence.from_json(bits.value)[1]
            if ip is not None:
                if ip not in net.subnet:
                    raise IPAMError(f"docker-overlay: requested address {ip} is out of the network's range {net.subnet}")
                try:
                    seq.set(int(ip) - int(net.subnet.network_address))
                except BitAllocated:
                    raise IPAMError(f"docker-overlay: Address already in use: {ip} on network {net.name}") from None
                addr = ip
            else:
                lo, hi = self._range(net.subnet, net.ip_range)
                try:
                    addr = net.subnet.network_address + seq.set_any(lo, hi)
                except AddressExhausted:
                    raise AddressExhausted(f"docker-overlay: no available IPv4 addresses on network {net.name} "
                                           f"({net.ip_range or net.subnet})") from None
            record = EndpointRecord(epid, net.id, container, addr, net.subnet.prefixlen, mac_from_ip(addr), locator, aliases)
            n = json.loads(count.value)["Count"] + 1 if count is not None else 1
            writes = [
                (bits_key, seq.to_json(master), read.revisions[bits_key]),
                (ep_key, record.value(net.pool), 0),
                (count_key, dumps({"Count": n}), read.revisions[count_key]),
            ]
            if self.kv.compare_and_swap_many(writes):
                return record
        raise KVError(f"docker-overlay: endpoint {container}: gave up after {RETRIES} conflicting writes")

    # --- reading back ---------------------------------------------------------------------
    def network(self, nid: str) -> NetworkRecord | None:
        lib = self.kv.get(key("network", nid))
        ov = self.kv.get(key("overlay", "network", nid))
        if lib is None or ov is None:
            return None
        return NetworkRecord.parse(lib.value, ov.value)

    def endpoints(self, nid: str) -> list[EndpointRecord]:
        """Every endpoint of network ``nid``, by address."""
        out = [EndpointRecord.parse(nid, kv.value) for kv in self.kv.list_prefix(key("endpoint", nid))]
        return sorted(out, key=lambda e: int(e.ip))
