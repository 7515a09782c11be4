"""Read-side helpers over one namespace of the IR: route lookup (longest prefix match),
local addresses, source address selection, neighbour and FDB lookups.

The tracer and the ``routes`` command use these; nothing here forwards a packet. Indexes are
kept in ``NetNamespace.cache`` and rebuilt whenever the lists they index change.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Network, ip_network
from typing import Any, TypeVar

from overlaynet.dataplane.ir import (
    Address,
    FdbEntry,
    Interface,
    Neighbor,
    NetNamespace,
    Route,
    interface_edits,
)
from overlaynet.model.base import IPAddress, IPNetwork

__all__ = [
    "RouteIndex",
    "by_list",
    "cached",
    "connected_route",
    "effective_routes",
    "find_fdb",
    "find_neighbor",
    "iface_address",
    "iface_key",
    "iface_stamp",
    "is_local",
    "linear_lookup_route",
    "local_addresses",
    "lookup_route",
    "select_source",
]

T = TypeVar("T")


def cached(ns: NetNamespace, name: str, key: object, build: Callable[[], T]) -> T:
    """Return ``ns.cache[name]`` if it was built from an equal ``key``, else rebuild it."""
    entry = ns.cache.get(name)
    if isinstance(entry, tuple) and entry[0] == key:
        return entry[1]
    value = build()
    ns.cache[name] = (key, value)
    return value


def by_list(ns: NetNamespace, name: str, entries: list[Any], key: object, build: Callable[[], T]) -> T:
    """``ns.cache[name]`` if it was built from this very ``entries`` list (an ``EntryList``:
    ``ns.routes``, ``ns.neighbors``, ``ns.fdb``) at its current write count and an equal
    ``key``, else rebuilt. The entry holds the list, so its identity is not reused while the
    index lives; a plain list is copied and compared instead (as ``cached`` does)."""
    edits = getattr(entries, "edits", None)
    if edits is None:
        return cached(ns, name, (tuple(entries), key), build)
    entry = ns.cache.get(name)
    if isinstance(entry, tuple) and len(entry) == 4 and entry[0] is entries and entry[1] == edits and entry[2] == key:
        return entry[3]
    value = build()
    ns.cache[name] = (entries, edits, key, value)
    return value


def iface_stamp(ns: NetNamespace) -> int:
    """Changes whenever ``ns``'s devices might have: the write counter every change to any
    device (a field set, its address list changed) or to any namespace's device map moves
    (``ir.interface_edits``). One integer to compare, but it moves with edits in other
    namespaces too (a host being built)."""
    return interface_edits()


def iface_key(ns: NetNamespace) -> tuple[object, ...]:
    """What the route indexes derive from ``ns``'s devices: name, state and addresses of
    each. Re-read only when ``iface_stamp`` moved; when the content is what it was (an edit
    elsewhere), the same tuple is returned so the indexes keyed on it are kept."""
    stamp = iface_stamp(ns)
    memo = ns.cache.get("iface")
    if isinstance(memo, tuple) and memo[0] == stamp:
        return memo[1]
    content = tuple((i.name, i.up, tuple(i.addresses)) for i in ns.interfaces.values())
    if isinstance(memo, tuple) and memo[1] == content:
        content = memo[1]
    ns.cache["iface"] = (stamp, content)
    return content


def local_addresses(ns: NetNamespace) -> frozenset[IPAddress]:
    """``ns.local_ips()``, kept until ``iface_stamp`` moves (a warm trace re-reads it often)."""
    return cached(ns, "local-ips", iface_stamp(ns), ns.local_ips)


def _prefix_routes(ns: NetNamespace, explicit: tuple[Route, ...]) -> list[Route]:
    """The routes the kernel adds by itself for each address with a prefix (proto kernel)."""
    have = {(r.dst, r.dev) for r in explicit}
    out: list[Route] = []
    for iface in ns.interfaces.values():
        if iface.kind == "loopback":
            continue
        for addr in iface.addresses:
            if addr.prefixlen >= addr.ip.max_prefixlen:
                continue
            net = addr.network
            if (net, iface.name) in have:
                continue
            have.add((net, iface.name))
            out.append(
                Route(
                    dst=net,
                    dev=iface.name,
                    proto="kernel",
                    scope="link",
                    src=addr.ip,
                    origin=f"kernel: prefix route of address {addr} on {iface.name}",
                )
            )
    return out


def effective_routes(ns: NetNamespace, table: str = "main") -> tuple[Route, ...]:
    """The routes of ``table`` as ``ip route`` lists them: the written ones plus the prefix
    routes the kernel adds for interface addresses (unless written explicitly)."""
    return _effective_routes(ns, table, iface_key(ns))


def _effective_routes(ns: NetNamespace, table: str, devices: tuple[object, ...]) -> tuple[Route, ...]:
    def build() -> tuple[Route, ...]:
        mine = tuple(r for r in ns.routes if r.table == table)
        return mine + tuple(_prefix_routes(ns, mine)) if table == "main" else mine

    # (devices,): a 1-tuple, so the devices tuple is compared by identity first
    return by_list(ns, f"routes:{table}", ns.routes, (devices,), build)


@dataclass(frozen=True, slots=True)
class RouteIndex:
    """Routes bucketed by (family, prefix length) and masked network address.

    A lookup probes at most 33 (129) buckets from the longest prefix down, instead of scanning
    every route: the flannel route table of a 5,000-node cluster has 5,000 entries.
    """

    buckets: dict[tuple[int, int], dict[int, tuple[Route, ...]]]
    lengths: dict[int, tuple[int, ...]]  # family -> prefix lengths present, longest first

    @classmethod
    def build(cls, routes: tuple[Route, ...], up: Callable[[str | None], bool]) -> RouteIndex:
        buckets: dict[tuple[int, int], dict[int, list[Route]]] = {}
        for route in routes:
            if route.dev is not None and not up(route.dev):
                continue  # the kernel ignores routes through a down device (linkdown)
            key = (route.dst.version, route.dst.prefixlen)
            buckets.setdefault(key, {}).setdefault(int(route.dst.network_address), []).append(route)
        lengths: dict[int, list[int]] = {}
        for version, plen in buckets:
            lengths.setdefault(version, []).append(plen)
        return cls(
            buckets={
                k: {net: tuple(sorted(rs, key=lambda r: r.metric)) for net, rs in v.items()}
                for k, v in buckets.items()
            },
            lengths={v: tuple(sorted(ls, reverse=True)) for v, ls in lengths.items()},
        )

    def lookup(self, dst: IPAddress) -> Route | None:
        value = int(dst)
        bits = dst.max_prefixlen
        for plen in self.lengths.get(dst.version, ()):
            mask = ((1 << plen) - 1) << (bits - plen) if plen else 0
            found = self.buckets[(dst.version, plen)].get(value & mask)
            if found:
                return found[0]
        return None


def _up(ns: NetNamespace) -> Callable[[str | None], bool]:
    def up(dev: str | None) -> bool:
        iface = ns.interfaces.get(dev) if dev is not None else None
        return iface is None or iface.up

    return up


def lookup_route(ns: NetNamespace, dst: IPAddress, table: str = "main") -> Route | None:
    """The route the kernel picks for ``dst``: longest prefix, then lowest metric."""
    devices = iface_key(ns)
    # the index also depends on which devices are up (it leaves out linkdown routes)
    index = by_list(ns, f"lpm:{table}", ns.routes, (devices,),
                    lambda: RouteIndex.build(_effective_routes(ns, table, devices), _up(ns)))
    return index.lookup(dst)


def linear_lookup_route(ns: NetNamespace, dst: IPAddress, table: str = "main") -> Route | None:
    """The naive reference: scan every route. Tests and the benchmark compare it with LPM."""
    up = _up(ns)
    best: Route | None = None
    for route in effective_routes(ns, table):
        if route.dst.version != dst.version or dst not in route.dst:
            continue
        if route.dev is not None and not up(route.dev):
            continue
        if (
            best is None
            or route.dst.prefixlen > best.dst.prefixlen
            or (route.dst.prefixlen == best.dst.prefixlen and route.metric < best.metric)
        ):
            best = route
    return best


def connected_route(ns: NetNamespace, ip: IPAddress, dev: str | None) -> Route | None:
    """A link-scope route (no gateway) covering ``ip`` on ``dev`` (any dev when None): what
    the kernel requires of a gateway that is not ``onlink``."""
    routes = effective_routes(ns)
    # keyed on the routes tuple itself (a 1-tuple: compared by identity, not element-wise)
    links = cached(ns, "link-routes", (routes,), lambda: tuple(
        r for r in routes if r.via is None and r.type == "unicast" and r.dev is not None))
    best: Route | None = None
    for route in links:
        if dev is not None and route.dev != dev:
            continue
        if route.dst.version == ip.version and ip in route.dst and (
            best is None or route.dst.prefixlen > best.dst.prefixlen
        ):
            best = route
    return best


_LOOPBACK_V4 = ip_network("127.0.0.0/8")


def is_local(ns: NetNamespace, ip: IPAddress, addresses: frozenset[IPAddress] | None = None) -> bool:
    """Is ``ip`` an address of this namespace (the kernel's local table)? ``addresses``:
    ``ns.local_ips()`` when the caller already has it."""
    if ip in (addresses if addresses is not None else ns.local_ips()):
        return True
    if isinstance(ip, IPv4Address) and ip in _LOOPBACK_V4:
        return any(i.kind == "loopback" and i.up for i in ns.interfaces.values())
    route = lookup_route(ns, ip)
    return route is not None and route.type == "local"


def iface_address(ns: NetNamespace, ifname: str, version: int, nexthop: IPAddress | None = None) -> IPAddress | None:
    """The address MASQUERADE gives a packet leaving through ``ifname``: the kernel's
    ``inet_select_addr`` over this namespace's devices (``HostAddresses.masquerade_source``,
    the one implementation ``iptables trace`` uses too) — the device's primary address (the
    one on the next hop's subnet first), else, for a device with none such as Calico's
    address-less ``cali*`` veths, the first global address of any device in device order.
    None when the namespace has no such address (the kernel then drops the packet)."""
    import ipaddress

    from overlaynet.dataplane.netfilter.hostaddr import HostAddresses

    if ifname not in ns.interfaces:
        return None
    hosts = HostAddresses.build(
        (i.name, [ipaddress.ip_interface(f"{a.ip}/{a.prefixlen}") for a in i.addresses]) for i in ns.interfaces.values()
    )
    return hosts.masquerade_source(ifname, version, nexthop)


def _matching(addrs: list[Address], target: IPAddress) -> Address | None:
    for addr in addrs:
        if addr.ip.version == target.version and target in addr.network:
            return addr
    return None


def select_source(ns: NetNamespace, route: Route, dst: IPAddress) -> IPAddress | None:
    """Source address selection for a locally generated packet (simplified RFC 1122 / the
    kernel's ``inet_select_addr``): the route's ``src``, else an address of the egress device
    (one on the destination's subnet first), else any global address of the namespace."""
    if route.src is not None:
        return route.src
    iface: Interface | None = ns.interfaces.get(route.dev) if route.dev else None
    if iface is not None:
        nexthop = route.via or dst
        hit = _matching(iface.addresses, nexthop)
        if hit is not None:
            return hit.ip
        for addr in iface.addresses:
            if addr.ip.version == dst.version:
                return addr.ip
    for other in ns.interfaces.values():
        if other.kind == "loopback":
            continue
        for addr in other.addresses:
            if addr.ip.version == dst.version:
                return addr.ip
    return None


def find_neighbor(ns: NetNamespace, ip: IPAddress, dev: str) -> Neighbor | None:
    """The neighbour entry for ``ip`` on ``dev`` (``ip neigh``), if one is written."""
    def build() -> dict[tuple[IPAddress, str], Neighbor]:
        out: dict[tuple[IPAddress, str], Neighbor] = {}
        for n in ns.neighbors:
            out.setdefault((n.ip, n.dev), n)
        return out

    return by_list(ns, "neigh", ns.neighbors, None, build).get((ip, dev))


def find_fdb(ns: NetNamespace, mac: str, dev: str) -> FdbEntry | None:
    """The FDB entry for ``mac`` on ``dev`` (``bridge fdb``), falling back to the all-zeros
    default entry a VXLAN device floods to."""
    def build() -> dict[tuple[str, str], FdbEntry]:
        out: dict[tuple[str, str], FdbEntry] = {}
        for e in ns.fdb:
            out.setdefault((e.mac.lower(), e.dev), e)
        return out

    index = by_list(ns, "fdb", ns.fdb, None, build)
    return index.get((mac.lower(), dev)) or index.get(("00:00:00:00:00:00", dev))


def covering(networks: list[IPNetwork], ip: IPAddress) -> IPNetwork | None:
    """The most specific of ``networks`` containing ``ip``."""
    best: IPv4Network | IPv6Network | None = None
    for net in networks:
        if net.version == ip.version and ip in net and (best is None or net.prefixlen > best.prefixlen):
            best = net
    return best
