"""Calico driver options (``spec.network.options``), validated with Calico's own defaults.

Defaults follow the reference manifest (``manifests/calico.yaml``): IP-in-IP Always, natOutgoing
on, /26 blocks, AS 64512, a full node-to-node mesh. See docs/calico.md.
"""

from __future__ import annotations

import difflib
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from overlaynet.errors import DriverOptionError
from overlaynet.model import IPNetwork

Encapsulation = Literal["ipip", "vxlan", "none"]

KNOWN = (
    "encapsulation",
    "crossSubnet",
    "blockSize",
    "asNumber",
    "routeReflectors",
    "strictAffinity",
    "natOutgoing",
    "pools",
    "maxBlocksPerHost",
    "vxlanVNI",
    "vxlanPort",
)

#: Bytes each encapsulation adds against the pod MTU (IPv4 underlay), per Felix's MTU logic.
OVERHEAD = {"ipip": 20, "vxlan": 50, "none": 0}


@dataclass(frozen=True, slots=True)
class CalicoOptions:
    encapsulation: Encapsulation = "ipip"
    cross_subnet: bool = False
    block_size: int = 26
    as_number: int = 64512
    route_reflectors: tuple[str, ...] = ()
    strict_affinity: bool = False
    nat_outgoing: bool = True
    pools: tuple[IPNetwork, ...] = ()  # empty: the cluster's pod CIDRs
    max_blocks_per_host: int = 20
    vxlan_vni: int = 4096
    vxlan_port: int = 4789

    @property
    def pool_mode(self) -> str:
        """The IPPool's ipipMode / vxlanMode value: Always, CrossSubnet or Never."""
        if self.encapsulation == "none":
            return "Never"
        return "CrossSubnet" if self.cross_subnet else "Always"

    def as_dict(self) -> dict[str, Any]:
        return {
            "encapsulation": self.encapsulation,
            "crossSubnet": self.cross_subnet,
            "blockSize": self.block_size,
            "asNumber": self.as_number,
            "routeReflectors": list(self.route_reflectors),
            "strictAffinity": self.strict_affinity,
            "natOutgoing": self.nat_outgoing,
            "pools": [str(p) for p in self.pools],
            "maxBlocksPerHost": self.max_blocks_per_host,
            "vxlanVNI": self.vxlan_vni,
            "vxlanPort": self.vxlan_port,
        }


def _bool(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise DriverOptionError("calico", name, f"expected true or false, found {value!r}")
    return value


def _int(name: str, value: object, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise DriverOptionError("calico", name, f"expected an integer, found {value!r}")
    if not lo <= value <= hi:
        raise DriverOptionError("calico", name, f"expected {lo}..{hi}, found {value}")
    return value


def parse_options(raw: Mapping[str, Any]) -> CalicoOptions:
    for key in raw:
        if key not in KNOWN:
            close = difflib.get_close_matches(str(key), KNOWN, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; known options: {', '.join(KNOWN)}"
            raise DriverOptionError("calico", str(key), "unknown option" + hint, unknown=True)
    encap = raw.get("encapsulation", "ipip")
    if encap not in ("ipip", "vxlan", "none"):
        close = difflib.get_close_matches(str(encap), ("ipip", "vxlan", "none"), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise DriverOptionError("calico", "encapsulation", f"expected ipip, vxlan or none, found {encap!r}{hint}")
    pools: list[IPNetwork] = []
    raw_pools = raw.get("pools", [])
    if isinstance(raw_pools, str):
        raw_pools = [raw_pools]
    if not isinstance(raw_pools, list | tuple):
        raise DriverOptionError("calico", "pools", f"expected a list of CIDRs, found {raw_pools!r}")
    for p in raw_pools:
        try:
            pools.append(ipaddress.ip_network(str(p)))
        except ValueError as exc:
            raise DriverOptionError("calico", "pools", f"expected a CIDR, found {p!r} ({exc})") from exc
    rrs = raw.get("routeReflectors", [])
    if not isinstance(rrs, list | tuple) or not all(isinstance(r, str) for r in rrs):
        raise DriverOptionError("calico", "routeReflectors", f"expected a list of node names, found {rrs!r}")
    block_size = _int("blockSize", raw.get("blockSize", 26), 20, 32)
    for pool in pools:
        if pool.version == 4 and block_size < pool.prefixlen:
            raise DriverOptionError(
                "calico", "blockSize", f"/{block_size} blocks do not fit in pool {pool} (/{pool.prefixlen})"
            )
    return CalicoOptions(
        encapsulation=encap,
        cross_subnet=_bool("crossSubnet", raw.get("crossSubnet", False)),
        block_size=block_size,
        as_number=_int("asNumber", raw.get("asNumber", 64512), 1, 4294967295),
        route_reflectors=tuple(rrs),
        strict_affinity=_bool("strictAffinity", raw.get("strictAffinity", False)),
        nat_outgoing=_bool("natOutgoing", raw.get("natOutgoing", True)),
        pools=tuple(pools),
        max_blocks_per_host=_int("maxBlocksPerHost", raw.get("maxBlocksPerHost", 20), 0, 1 << 20),
        vxlan_vni=_int("vxlanVNI", raw.get("vxlanVNI", 4096), 1, (1 << 24) - 1),
        vxlan_port=_int("vxlanPort", raw.get("vxlanPort", 4789), 1, 65535),
    )
