"""Addresses, routes, neighbours and FDB entries, applied with netlink as ``ip addr``,
``ip route``, ``ip neigh`` and ``bridge fdb`` would. Entries on a skipped interface are
skipped too (with the reason); entries the kernel made itself (connected and local routes,
127.0.0.1 on lo) are accepted when the IR repeats them."""

from __future__ import annotations

from typing import Any

from overlaynet.dataplane.ir import FdbEntry, Neighbor, NsRef, Route
from overlaynet.materialize._state import ApplyState

_EEXIST = 17
RTNH_F_ONLINK = 4
NTF_SELF = 0x02
NTF_MASTER = 0x04
NUD = {"PERMANENT": 0x80, "NOARP": 0x40, "REACHABLE": 0x02, "STALE": 0x04}
TABLES = {"main": 254, "local": 255, "default": 253}
SCOPES = {"global": 0, "link": 253, "host": 254}
PROTOS = {"kernel": 2, "boot": 3, "static": 4, "bird": 12, "dhcp": 16}


def _dev_skipped(state: ApplyState, ref: NsRef, dev: str | None) -> bool:
    return dev is not None and (ref, dev) in state.skipped_ifaces


def apply_addresses(state: ApplyState) -> None:
    """Every address, one batch per namespace; lo's own 127.0.0.1 (and ::1) may be repeated."""
    for ref in state.refs:
        nsname = state.ns_names[ref]
        batch = state.batch(nsname)
        for ir_if, addr in state.ns(ref).addresses():
            obj = f"address {addr} dev {ir_if}"
            if _dev_skipped(state, ref, ir_if):
                state.skip(ref, obj, f"dev {ir_if} was not created")
                continue
            idx = state.index(nsname, state.ifname(ref, ir_if))
            own = ir_if == "lo" and addr.ip.is_loopback
            batch.addr_add(obj, idx, str(addr.ip), addr.prefixlen, _family(addr.ip.version),
                           tolerate=(lambda code: code == _EEXIST) if own else None)
        batch.flush()


def _family(version: int) -> int:
    return 2 if version == 4 else 10


def _route_desc(route: Route) -> str:
    parts = [route.type if route.type != "unicast" else "", str(route.dst)]
    if route.via is not None:
        parts.append(f"via {route.via}")
    if route.dev is not None:
        parts.append(f"dev {route.dev}")
    if route.onlink:
        parts.append("onlink")
    if route.table != "main":
        parts.append(f"table {route.table}")
    return "route " + " ".join(p for p in parts if p)


def _kernel_made(route: Route, state: ApplyState, ref: NsRef) -> bool:
    """Would the kernel have installed this route itself (a connected or local route)?"""
    if route.proto == "kernel" or route.type == "local" or route.table == "local":
        return True
    if route.via is not None or route.dev is None:
        return False
    iface = state.ns(ref).interfaces.get(route.dev)
    return iface is not None and any(a.network == route.dst for a in iface.addresses)


def apply_routes(state: ApplyState) -> None:
    """Every route, in the IR's order, one batch per namespace; a connected or local route
    the kernel made itself is accepted when the IR repeats it."""
    for ref in state.refs:
        nsname = state.ns_names[ref]
        batch = state.batch(nsname)
        for route in state.ns(ref).routes:
            obj = _route_desc(route)
            if _dev_skipped(state, ref, route.dev):
                state.skip(ref, obj, f"dev {route.dev} was not created")
                continue
            table = TABLES.get(route.table) or (int(route.table) if route.table.isdigit() else None)
            if table is None:
                state.skip(ref, obj, f"table {route.table!r} has no number (only main, local, default or a number)")
                continue
            scope = SCOPES[route.scope]
            if route.type == "local":
                scope = SCOPES["host"]
            elif route.type == "unicast" and route.via is None and route.scope == "global":
                scope = SCOPES["link"]  # as `ip route add X dev Y` does
            kernel_made = _kernel_made(route, state, ref)
            batch.route_add(
                obj, family=_family(route.dst.version), dst=str(route.dst.network_address),
                dst_len=route.dst.prefixlen, table=table, type=route.type,
                proto=PROTOS.get(route.proto, PROTOS["static"]), scope=scope,
                oif=state.index(nsname, state.ifname(ref, route.dev)) if route.dev is not None else None,
                gateway=str(route.via) if route.via is not None else None,
                flags=RTNH_F_ONLINK if route.onlink else 0,
                prefsrc=str(route.src) if route.src is not None else None,
                priority=route.metric or None,
                tolerate=(lambda code: code == _EEXIST) if kernel_made else None)
        batch.flush()


def apply_neighbors(state: ApplyState) -> None:
    for ref in state.refs:
        nsname = state.ns_names[ref]
        for neigh in state.ns(ref).neighbors:
            _apply_neighbor(state, ref, nsname, neigh)


def _apply_neighbor(state: ApplyState, ref: NsRef, nsname: str, neigh: Neighbor) -> None:
    obj = f"neighbour {neigh.ip} lladdr {neigh.lladdr} dev {neigh.dev} {neigh.state}"
    if _dev_skipped(state, ref, neigh.dev):
        state.skip(ref, obj, f"dev {neigh.dev} was not created")
        return
    if neigh.state not in NUD or neigh.lladdr is None:
        state.skip(ref, obj, "a FAILED/incomplete entry is the kernel's own ARP state; nothing to install")
        return
    idx = state.index(nsname, state.ifname(ref, neigh.dev))
    state.call(nsname, obj, state.ipr(nsname).neigh, "add", dst=str(neigh.ip), lladdr=neigh.lladdr,
               ifindex=idx, state=NUD[neigh.state], family=2 if neigh.ip.version == 4 else 10)


def apply_fdb(state: ApplyState) -> None:
    for ref in state.refs:
        nsname = state.ns_names[ref]
        for entry in state.ns(ref).fdb:
            _apply_fdb(state, ref, nsname, entry)


def _apply_fdb(state: ApplyState, ref: NsRef, nsname: str, entry: FdbEntry) -> None:
    obj = f"fdb {entry.mac} dev {entry.dev}" + (f" dst {entry.dst}" if entry.dst else "")
    if _dev_skipped(state, ref, entry.dev):
        state.skip(ref, obj, f"dev {entry.dev} was not created")
        return
    idx = state.index(nsname, state.ifname(ref, entry.dev))
    master = entry.master is not None or not entry.self_
    kwargs: dict[str, Any] = {
        "ifindex": idx, "lladdr": entry.mac,
        "flags": NTF_MASTER if master else NTF_SELF,
        # on a bridge port "permanent" would make the MAC the bridge's own (delivered
        # locally); an entry that does not age is ``static``, which is NOARP
        "state": NUD["PERMANENT"] if entry.permanent and not master else NUD["NOARP"],
    }
    if entry.dst is not None:
        kwargs["dst"] = str(entry.dst)
    if entry.vni is not None:
        kwargs["vni"] = entry.vni
    # ``append`` lets a VXLAN device hold several destinations for one MAC (flooding entries)
    state.call(nsname, obj, state.ipr(nsname).fdb, "add" if master else "append", **kwargs)
