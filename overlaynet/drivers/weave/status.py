"""``weave status``: a peer's connections and the IPAM ring, as ``weave status connections``
and ``weave status ipam`` print them (``prog/weaveutil``, ``router/status.go``,
``ipam/status.go``), plus the same as data for ``--json``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .mesh import CONTROL_PORT, SLEEVE_FRAMING, SLEEVE_NACL

if TYPE_CHECKING:
    from . import WeaveDriver

__all__ = ["connections", "ipam", "render", "status"]


def connections(drv: WeaveDriver, me: str) -> list[dict[str, Any]]:
    """``me``'s connections: direction, remote, state, datapath, encryption, MTU, reason."""
    mesh = drv.mesh
    out: list[dict[str, Any]] = []
    for conn in sorted(mesh.connections.values(), key=lambda c: (c.other(me) if me in (c.a, c.b) else "")):
        if me not in (conn.a, conn.b):
            continue
        other = mesh.peers[conn.other(me)]
        outbound = mesh.peers[me].name < other.name  # the lower name dials (deterministic)
        mtu = None
        if conn.datapath == "fastdp":
            mtu = drv.opts.mtu
        elif conn.datapath == "sleeve":
            mtu = conn.path_mtu - 28 - SLEEVE_FRAMING - (SLEEVE_NACL if conn.encrypted else 0)
        out.append({
            "direction": "->" if outbound else "<-",
            "remote": f"{other.ip}:{CONTROL_PORT}",
            "peer": other.name,
            "nickname": other.nickname,
            "state": conn.state,
            "datapath": conn.datapath,
            "encrypted": conn.encrypted,
            "mtu": mtu,
            "reason": conn.reason,
            "why_datapath": conn.why_datapath,
        })
    return out


def ipam(drv: WeaveDriver, me: str) -> list[dict[str, Any]]:
    """Every peer's share of the ring as ``me`` sees it: ranges, size, percentage, active
    addresses, and whether ``me`` can reach the peer (weave prints "unreachable!")."""
    total = drv.opts.ipalloc_range.num_addresses
    rows: list[dict[str, Any]] = []
    for nick in drv.consensus:
        name = drv.peer_names[nick]
        ranges = drv.ipam.ranges_of(name)
        size = sum(r.num_addresses for r in ranges)
        active = sum(1 for a in drv.ipam.used.values() if a.peer == name)
        rows.append({
            "peer": name, "nickname": nick, "ranges": [str(r) for r in ranges], "ips": size,
            "percent": round(100.0 * size / total, 1), "active": active,
            "reachable": nick == me or nick in drv.mesh.routes.get(me, {}),
            "gone": nick in drv.opts.former_peers,
        })
    return rows


def status(drv: WeaveDriver, node: str | None = None) -> dict[str, Any]:
    """The whole status: range, consensus, donations, and per peer its connections."""
    shown = [node] if node is not None else sorted(drv.mesh.peers)
    nick = {p: n for n, p in drv.peer_names.items()}
    return {
        "ipallocRange": str(drv.opts.ipalloc_range),
        "consensus": [drv.peer_names[n] for n in drv.consensus],
        "rmpeer": [{"gone": g, "by": by, "ranges": [str(r) for r in moved]} for g, (by, moved) in drv.reclaimed.items()],
        "donations": [
            {"from": nick.get(d, d), "to": nick.get(t, t), "range": f"{_ip(s)}-{_ip(e - 1)}"}
            for d, t, s, e in drv.ipam.donations
        ],
        "peers": [
            {
                "name": drv.mesh.peers[n].name, "nickname": n, "short_id": drv.mesh.peers[n].short_id,
                "address": str(drv.mesh.peers[n].ip), "expose": str(drv.expose.get(n)),
                "routes": dict(sorted(drv.mesh.routes.get(n, {}).items())),
                "connections": connections(drv, n),
            }
            for n in shown
        ],
        "ipam": ipam(drv, shown[0]),
    }


def _ip(value: int) -> str:
    from ipaddress import IPv4Address

    return str(IPv4Address(value))


def render(data: dict[str, Any]) -> str:
    """Text as ``weave status connections`` (per peer) and ``weave status ipam``."""
    lines: list[str] = []
    for peer in data["peers"]:
        lines.append(f"{peer['name']}({peer['nickname']}) short ID {peer['short_id']}, "
                     f"{peer['address']}, weave expose {peer['expose']}")
        lines.append("  weave status connections")
        for c in peer["connections"]:
            who = f"{c['peer']}({c['nickname']})"
            if c["state"] == "established":
                enc = " encrypted" if c["encrypted"] else ""
                lines.append(f"  {c['direction']} {c['remote']:<21} established {c['datapath']} {who}{enc} mtu={c['mtu']}")
                if c["datapath"] == "sleeve":
                    lines.append(f"       ({c['why_datapath']})")
            else:
                lines.append(f"  {c['direction']} {c['remote']:<21} failed      {who}: {c['reason']}")
        routes = ", ".join(f"{d} via {h}" if d != h else d for d, h in peer["routes"].items()) or "none"
        lines.append(f"  unicast routes: {routes}")
        lines.append("")
    viewer = data["peers"][0]["nickname"] if data["peers"] else "?"
    lines.append(f"weave status ipam on {viewer} ({data['ipallocRange']})")
    for row in data["ipam"]:
        lines.append(f"  {row['peer']}({row['nickname']})  {row['ips']} IPs ({row['percent']}% of total) "
                     f"({row['active']} active){'' if row['reachable'] else ' - unreachable!'}  {' '.join(row['ranges'])}")
    for r in data["rmpeer"]:
        lines.append(f"  weave rmpeer {r['gone']} on {r['by']}: {' '.join(r['ranges']) or 'nothing'} reclaimed")
    for d in data["donations"]:
        lines.append(f"  donated {d['range']} from {d['from']} to {d['to']}")
    return "\n".join(lines)
