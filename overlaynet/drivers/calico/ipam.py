"""Calico IPAM: pools cut into blocks (/26 by default) with affinity to a node.

A node allocates from its affine blocks, claims a new block when they are full (up to
``maxBlocksPerHost``), and, unless ``strictAffinity`` is on, borrows a single address from
another node's block when no block is left — that address then needs its own /32 route.
State is written to the KV store under Calico's key layout (``/calico/ipam/v2/...``), one
create-if-absent per block claim, as Calico's per-block CAS design does.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass, field

from overlaynet.errors import AddressExhausted
from overlaynet.kv.base import KVStore
from overlaynet.model import IPAddress, IPNetwork

IPAM_PREFIX = "/calico/ipam/v2"


def block_key(cidr: IPNetwork) -> str:
    return f"{IPAM_PREFIX}/assignment/ipv{cidr.version}/block/{cidr.network_address}-{cidr.prefixlen}"


def affinity_key(node: str, cidr: IPNetwork) -> str:
    return f"{IPAM_PREFIX}/host/{node}/ipv{cidr.version}/block/{cidr.network_address}-{cidr.prefixlen}"


@dataclass
class Block:
    cidr: IPNetwork
    affinity: str | None  # node name
    allocations: dict[int, str] = field(default_factory=dict)  # ordinal -> handle

    @property
    def size(self) -> int:
        return self.cidr.num_addresses

    def free_ordinal(self) -> int | None:
        for ordinal in range(self.size):
            if ordinal not in self.allocations:
                return ordinal
        return None

    def address(self, ordinal: int) -> IPAddress:
        return self.cidr.network_address + ordinal

    def to_json(self) -> str:
        ordinals = sorted(self.allocations)
        handles = sorted(set(self.allocations.values()))
        index = {h: i for i, h in enumerate(handles)}
        allocations: list[int | None] = [None] * self.size
        for o in ordinals:
            allocations[o] = index[self.allocations[o]]
        return json.dumps(
            {
                "cidr": str(self.cidr),
                "affinity": f"host:{self.affinity}" if self.affinity else None,
                "strictAffinity": False,
                "allocations": allocations,
                "unallocated": [o for o in range(self.size) if o not in self.allocations],
                "attributes": [{"handle_id": h, "secondary": None} for h in handles],
            },
            separators=(",", ":"),
        )


@dataclass(frozen=True, slots=True)
class Assignment:
    ip: IPAddress
    block: IPNetwork
    node: str
    borrowed: bool  # taken from a block affine to another node


class CalicoIPAM:
    """Block-based allocation over one or more pools, deterministic: lowest free block,
    lowest free ordinal (Calico picks among free blocks; we take the first, documented)."""

    def __init__(
        self,
        pools: tuple[IPNetwork, ...],
        *,
        block_size: int = 26,
        strict_affinity: bool = False,
        max_blocks_per_host: int = 20,
        kv: KVStore | None = None,
    ) -> None:
        self.pools = pools
        self.block_size = block_size
        self.strict_affinity = strict_affinity
        self.max_blocks_per_host = max_blocks_per_host
        self.kv = kv
        self.blocks: dict[IPNetwork, Block] = {}
        self.assignments: dict[str, Assignment] = {}  # handle -> assignment

    # --- blocks -------------------------------------------------------------------------
    def _block_size_for(self, pool: IPNetwork) -> int:
        return self.block_size if pool.version == 4 else max(self.block_size, 122)

    def _all_block_cidrs(self) -> list[IPNetwork]:
        out: list[IPNetwork] = []
        for pool in self.pools:
            size = self._block_size_for(pool)
            if size < pool.prefixlen:
                size = pool.prefixlen
            out.extend(pool.subnets(new_prefix=size))
        return out

    def node_blocks(self, node: str) -> list[Block]:
        return [b for b in self.blocks.values() if b.affinity == node]

    def _claim(self, node: str, version: int) -> Block | None:
        if self.max_blocks_per_host and len(self.node_blocks(node)) >= self.max_blocks_per_host:
            return None
        for cidr in self._all_block_cidrs():
            if cidr.version != version or cidr in self.blocks:
                continue
            block = Block(cidr=cidr, affinity=node)
            if self.kv is not None:
                created = self.kv.create(block_key(cidr), block.to_json())
                if not created:  # another writer holds it: skip, as Calico retries elsewhere
                    continue
                self.kv.put(affinity_key(node, cidr), json.dumps({"state": "confirmed", "deleted": False}))
            self.blocks[cidr] = block
            return block
        return None

    def _persist(self, block: Block) -> None:
        if self.kv is not None:
            self.kv.put(block_key(block.cidr), block.to_json())

    # --- allocation ---------------------------------------------------------------------
    def assign(self, node: str, handle: str, *, version: int = 4) -> Assignment:
        """Allocate one address for ``handle`` on ``node`` (Calico's AutoAssign)."""
        if handle in self.assignments:
            return self.assignments[handle]
        for block in sorted(self.node_blocks(node), key=lambda b: int(b.cidr.network_address)):
            if block.cidr.version == version and (ordinal := block.free_ordinal()) is not None:
                return self._record(block, ordinal, node, handle)
        claimed = self._claim(node, version)
        if claimed is not None:
            first = claimed.free_ordinal()
            assert first is not None
            return self._record(claimed, first, node, handle)
        if not self.strict_affinity:
            for block in sorted(self.blocks.values(), key=lambda b: int(b.cidr.network_address)):
                if block.cidr.version == version and (ordinal := block.free_ordinal()) is not None:
                    return self._record(block, ordinal, node, handle)
        pools = ", ".join(str(p) for p in self.pools if p.version == version) or "none"
        why = (
            "strictAffinity forbids borrowing from other nodes' blocks"
            if self.strict_affinity and self.blocks
            else "every block is claimed and full"
        )
        raise AddressExhausted(
            f"calico IPAM: no free IPv{version} address for {handle} on node {node} in pool(s) {pools} "
            f"({len(self.node_blocks(node))} block(s) of /{self.block_size} affine to {node}; {why})"
        )

    def assign_ip(self, ip: IPAddress, node: str, handle: str) -> Assignment:
        """Record an address the topology gave (Calico's AssignIP): claims its block for
        ``node`` when unclaimed; an address in another node's block is borrowed."""
        for pool in self.pools:
            if ip in pool:
                size = self._block_size_for(pool)
                cidr = ipaddress.ip_network(f"{ip}/{size}", strict=False)
                break
        else:
            pools = ", ".join(str(p) for p in self.pools)
            raise AddressExhausted(f"calico IPAM: {ip} of {handle} is in no IP pool ({pools})")
        existing = self.blocks.get(cidr)
        if existing is None:
            existing = Block(cidr=cidr, affinity=node)
            self.blocks[cidr] = existing
            if self.kv is not None:
                self.kv.put(affinity_key(node, cidr), json.dumps({"state": "confirmed", "deleted": False}))
        ordinal = int(ip) - int(cidr.network_address)
        holder = existing.allocations.get(ordinal)
        if holder is not None and holder != handle:
            raise AddressExhausted(f"calico IPAM: {ip} is already assigned to {holder}")
        return self._record(existing, ordinal, node, handle)

    def _record(self, block: Block, ordinal: int, node: str, handle: str) -> Assignment:
        block.allocations[ordinal] = handle
        self._persist(block)
        a = Assignment(ip=block.address(ordinal), block=block.cidr, node=node, borrowed=block.affinity != node)
        self.assignments[handle] = a
        return a

    def borrowed(self) -> list[Assignment]:
        return [a for a in self.assignments.values() if a.borrowed]
