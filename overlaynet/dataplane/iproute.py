"""Render IR entries the way iproute2 prints them (``ip -d link``, ``ip addr``, ``ip route``,
``ip neigh``, ``bridge fdb``): one render function per kind, used by the tracer and ``routes``.

Formats follow iproute2's ``print_route`` order: type (unless unicast), destination, ``via``,
``dev``, ``table`` (unless main), ``proto`` (unless boot, the netlink default), ``scope``
(unless global), ``src``, ``metric`` (unless 0), then flags such as ``onlink``.
"""

from __future__ import annotations

from overlaynet.dataplane.ir import FdbEntry, Interface, Neighbor, Route

__all__ = ["format_addresses", "format_fdb", "format_link", "format_neighbor", "format_route"]


def format_route(route: Route) -> str:
    parts: list[str] = []
    if route.type != "unicast":
        parts.append(route.type)
    dst = route.dst
    parts.append("default" if dst.prefixlen == 0 else (str(dst.network_address) if dst.prefixlen == dst.max_prefixlen else str(dst)))
    if route.via is not None:
        parts += ["via", str(route.via)]
    if route.dev is not None:
        parts += ["dev", route.dev]
    if route.table != "main":
        parts += ["table", route.table]
    if route.proto != "boot":
        parts += ["proto", route.proto]
    if route.scope != "global":
        parts += ["scope", route.scope]
    if route.src is not None:
        parts += ["src", str(route.src)]
    if route.metric:
        parts += ["metric", str(route.metric)]
    if route.onlink:
        parts.append("onlink")
    return " ".join(parts)


def _flags(iface: Interface) -> str:
    flags = ["LOOPBACK"] if iface.kind == "loopback" else ["BROADCAST", "MULTICAST"]
    if iface.kind == "tun":
        flags = ["POINTOPOINT", "MULTICAST", "NOARP"]
    if iface.kind == "ipip":
        flags = ["NOARP"]
    if iface.up:
        flags += ["UP", "LOWER_UP"]
    return ",".join(flags)


def format_link(index: int, iface: Interface) -> list[str]:
    """``ip -d link show`` lines for one interface."""
    name = iface.name
    if iface.kind == "veth" and iface.peer is not None:
        name = f"{iface.name}@{iface.peer[1]}"
    head = f"{index}: {name}: <{_flags(iface)}> mtu {iface.mtu}"
    if iface.master:
        head += f" master {iface.master}"
    head += " state " + ("UNKNOWN" if iface.kind in ("loopback", "vxlan", "tun", "ipip", "dummy") else "UP") if iface.up else " state DOWN"
    lines = [head]
    if iface.kind == "loopback":
        lines.append("    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00")
    elif iface.kind in ("tun",):
        lines.append("    link/none")
    elif iface.kind == "ipip":
        ip = iface.ipip
        lines.append(f"    link/ipip {ip.local if ip and ip.local else '0.0.0.0'} brd 0.0.0.0")
    else:
        lines.append(f"    link/ether {iface.mac or '00:00:00:00:00:00'} brd ff:ff:ff:ff:ff:ff")
    detail = _detail(iface)
    if detail:
        lines.append(f"    {detail}")
    return lines


def _detail(iface: Interface) -> str:
    if iface.kind == "vxlan" and iface.vxlan is not None:
        v = iface.vxlan
        out = f"vxlan id {v.vni}"
        if v.local is not None:
            out += f" local {v.local}"
        if v.dev is not None:
            out += f" dev {v.dev}"
        out += f" srcport 0 0 dstport {v.port}"
        out += " learning" if v.learning else " nolearning"
        return out + (" gbp" if v.gbp else "")
    if iface.kind == "veth":
        peer = f" peer {iface.peer[0]}:{iface.peer[1]}" if iface.peer else ""
        return f"veth{peer}"
    if iface.kind == "bridge":
        return "bridge"
    if iface.kind == "ipip" and iface.ipip is not None:
        remote = iface.ipip.remote or "any"
        return f"ipip remote {remote} local {iface.ipip.local or 'any'}"
    if iface.kind == "tun" and iface.tun is not None:
        return f"tun forwarder {iface.tun.forwarder}"
    if iface.kind == "phys" and iface.segment is not None:
        return f"segment {iface.segment}"
    if iface.kind == "dummy":
        return "dummy"
    return ""


def format_addresses(iface: Interface) -> list[str]:
    """``ip addr`` inet lines for one interface."""
    out = []
    for addr in iface.addresses:
        family = "inet" if addr.ip.version == 4 else "inet6"
        scope = "host" if iface.kind == "loopback" else "global"
        out.append(f"    {family} {addr} scope {scope} {iface.name}")
    return out


def format_neighbor(n: Neighbor) -> str:
    mac = f" lladdr {n.lladdr}" if n.lladdr else ""
    return f"{n.ip} dev {n.dev}{mac} {n.state}"


def format_fdb(e: FdbEntry) -> str:
    parts = [e.mac, "dev", e.dev]
    if e.dst is not None:
        parts += ["dst", str(e.dst)]
    if e.vni is not None:
        parts += ["vni", str(e.vni)]
    if e.master is not None:
        parts += ["master", e.master]
    if e.self_:
        parts.append("self")
    if e.permanent:
        parts.append("permanent")
    return " ".join(parts)
