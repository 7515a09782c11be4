"""Weave Net driver options (``spec.network.options``), named after weave-kube's settings.

Defaults are weave-kube's (``prog/weave-kube/launch.sh``): IPALLOC_RANGE 10.32.0.0/12,
CONN_LIMIT 200, fastdp on, no password, WEAVE_MTU 1376 (``net/bridge.go``). ``connections``
and ``blocked`` describe the mesh the peers can form: which pairs were told to connect, and
what an underlay firewall drops between two peers.
"""

from __future__ import annotations

import difflib
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from overlaynet.errors import DriverOptionError

__all__ = ["BLOCKABLE", "Block", "WeaveOptions", "parse_options"]

IPv4Network = ipaddress.IPv4Network

KNOWN = ("noFastdp", "password", "ipallocRange", "mtu", "connLimit", "connections", "blocked", "formerPeers", "rmpeer")

#: What a firewall between two peers can drop: Weave's control (TCP 6783), sleeve (UDP 6783),
#: fastdp (UDP 6784) and, for encrypted fastdp, IPsec ESP (IP protocol 50).
BLOCKABLE = ("tcp/6783", "udp/6783", "udp/6784", "esp")


@dataclass(frozen=True, slots=True)
class Block:
    """A firewall rule between two peers (``*`` for any): what it drops, and where it was given."""

    peers: tuple[str, str]
    ports: tuple[str, ...]
    index: int

    def between(self, a: str, b: str) -> bool:
        x, y = self.peers
        return (x in ("*", a) and y in ("*", b)) or (x in ("*", b) and y in ("*", a))

    def label(self) -> str:
        return f"blocked[{self.index}] ({self.peers[0]} ↔ {self.peers[1]}: {', '.join(self.ports)})"


@dataclass(frozen=True, slots=True)
class WeaveOptions:
    no_fastdp: bool = False
    password: str | None = None
    ipalloc_range: IPv4Network = IPv4Network("10.32.0.0/12")
    mtu: int = 1376
    conn_limit: int = 200
    connections: tuple[tuple[str, str], ...] | None = None  # None: full mesh
    blocked: tuple[Block, ...] = ()
    former_peers: tuple[str, ...] = ()  # took part in the consensus, gone since
    rmpeer: tuple[tuple[str, str], ...] = ()  # (gone peer, the node that ran weave rmpeer)

    @property
    def encrypted(self) -> bool:
        return self.password is not None

    def as_dict(self) -> dict[str, Any]:
        return {
            "noFastdp": self.no_fastdp,
            "password": self.password,
            "ipallocRange": str(self.ipalloc_range),
            "mtu": self.mtu,
            "connLimit": self.conn_limit,
            "connections": "full" if self.connections is None else [list(p) for p in self.connections],
            "blocked": [{"peers": list(b.peers), "ports": list(b.ports)} for b in self.blocked],
            "formerPeers": list(self.former_peers),
            "rmpeer": [list(p) for p in self.rmpeer],
        }


def _err(option: str, message: str, *, unknown: bool = False) -> DriverOptionError:
    return DriverOptionError("weave", option, message, unknown=unknown)


def _bool(options: Mapping[str, Any], key: str, default: bool) -> bool:
    value = options.get(key, default)
    if not isinstance(value, bool):
        raise _err(key, f"expected true or false, got {value!r}")
    return value


def _int(options: Mapping[str, Any], key: str, default: int, lo: int, hi: int) -> int:
    value = options.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise _err(key, f"expected an integer from {lo} to {hi}, got {value!r}")
    return value


def _pair(value: Any, key: str, where: str) -> tuple[str, str]:
    if not (isinstance(value, list | tuple) and len(value) == 2 and all(isinstance(v, str) and v for v in value)):
        raise _err(key, f"{where}: expected a pair of peer (node) names [a, b], got {value!r}")
    a, b = value
    if a == b:
        raise _err(key, f"{where}: a peer does not connect to itself ({a!r})")
    return (a, b)


def _connections(value: Any) -> tuple[tuple[str, str], ...] | None:
    if value is None or value == "full":
        return None
    if not isinstance(value, list | tuple):
        raise _err("connections", f"expected 'full' or a list of [peerA, peerB] pairs, got {value!r}")
    pairs = [_pair(v, "connections", f"connections[{i}]") for i, v in enumerate(value)]
    return tuple(sorted({(min(a, b), max(a, b)) for a, b in pairs}))


def _blocked(value: Any) -> tuple[Block, ...]:
    if value is None:
        return ()
    if not isinstance(value, list | tuple):
        raise _err("blocked", f"expected a list of {{peers: [a, b], ports: [...]}}, got {value!r}")
    out = []
    for i, item in enumerate(value):
        where = f"blocked[{i}]"
        if not isinstance(item, Mapping) or set(item) - {"peers", "ports"} or "peers" not in item:
            raise _err("blocked", f"{where}: expected {{peers: [a, b], ports: [...]}}, got {item!r}")
        peers = item["peers"]
        if not (isinstance(peers, list | tuple) and len(peers) == 2 and all(isinstance(p, str) and p for p in peers)):
            raise _err("blocked", f"{where}.peers: expected two peer names (or '*'), got {peers!r}")
        ports = item.get("ports", list(BLOCKABLE))
        if not isinstance(ports, list | tuple) or not ports:
            raise _err("blocked", f"{where}.ports: expected a list from {', '.join(BLOCKABLE)}, got {ports!r}")
        for port in ports:
            if port not in BLOCKABLE:
                hint = difflib.get_close_matches(str(port), BLOCKABLE, n=1)
                extra = f" (did you mean {hint[0]!r}?)" if hint else ""
                raise _err("blocked", f"{where}.ports: unknown {port!r}{extra}; expected {', '.join(BLOCKABLE)}")
        out.append(Block((peers[0], peers[1]), tuple(dict.fromkeys(ports)), i))
    return tuple(out)


def _former(options: Mapping[str, Any]) -> tuple[tuple[str, ...], tuple[tuple[str, str], ...]]:
    former = options.get("formerPeers") or ()
    if not isinstance(former, list | tuple) or not all(isinstance(n, str) and n for n in former):
        raise _err("formerPeers", f"expected a list of peer names, got {former!r}")
    raw = options.get("rmpeer") or ()
    if not isinstance(raw, list | tuple):
        raise _err("rmpeer", f"expected a list of [gone peer, node] pairs, got {raw!r}")
    pairs = []
    for i, value in enumerate(raw):
        gone, by = _pair(value, "rmpeer", f"rmpeer[{i}]")
        if gone not in former:
            raise _err("rmpeer", f"rmpeer[{i}]: {gone!r} is not in formerPeers ({', '.join(former) or 'none'})")
        pairs.append((gone, by))
    return tuple(dict.fromkeys(former)), tuple(pairs)


def parse_options(options: Mapping[str, Any]) -> WeaveOptions:
    """Validate ``options``; unknown keys name the closest known one.

    >>> parse_options({}).ipalloc_range, parse_options({}).mtu
    (IPv4Network('10.32.0.0/12'), 1376)
    """
    for key in options:
        if key not in KNOWN:
            hint = difflib.get_close_matches(str(key), KNOWN, n=1)
            extra = f" (did you mean {hint[0]!r}?)" if hint else ""
            raise _err(str(key), f"unknown option{extra}; known: {', '.join(KNOWN)}", unknown=True)
    password = options.get("password")
    if password is not None and (not isinstance(password, str) or not password):
        raise _err("password", f"expected a non-empty string, got {password!r}")
    raw_range = options.get("ipallocRange", "10.32.0.0/12")
    try:
        ipalloc = ipaddress.ip_network(str(raw_range))
    except ValueError as exc:
        raise _err("ipallocRange", f"expected an IPv4 CIDR such as 10.32.0.0/12: {exc}") from exc
    if not isinstance(ipalloc, IPv4Network) or ipalloc.prefixlen > 30:
        raise _err("ipallocRange", f"expected an IPv4 CIDR of /30 or larger, got {raw_range!r}")
    former, rmpeer = _former(options)
    return WeaveOptions(
        no_fastdp=_bool(options, "noFastdp", False),
        password=password,
        ipalloc_range=ipalloc,
        mtu=_int(options, "mtu", 1376, 576, 65535),
        conn_limit=_int(options, "connLimit", 200, 0, 100_000),
        connections=_connections(options.get("connections", "full")),
        blocked=_blocked(options.get("blocked")),
        former_peers=former,
        rmpeer=rmpeer,
    )
