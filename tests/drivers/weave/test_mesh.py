"""Weave's mesh: connections only where the underlay and firewall allow, fastdp or sleeve per
connection with the reason, and mesh's breadth-first unicast routes (no loops, every peer)."""

from __future__ import annotations

import ipaddress

from hypothesis import given, settings
from hypothesis import strategies as st

from overlaynet.drivers.weave.mesh import build_mesh, unicast_routes
from overlaynet.drivers.weave.options import parse_options

from ..helpers import cluster

THREE_RACKS = (("rack-a", "192.168.10.0/24", 1500), ("rack-b", "192.168.20.0/24", 1500))
NODES = (("node-1", "192.168.10.11", None), ("node-2", "192.168.10.12", None), ("node-3", "192.168.20.13", None))


def _mesh(**options: object):  # type: ignore[no-untyped-def]
    c = cluster(THREE_RACKS, NODES, driver="weave", options=options)
    return build_mesh(c, parse_options(options))


def test_full_mesh_is_fastdp_everywhere() -> None:
    mesh = _mesh()
    assert {k: (c.state, c.datapath) for k, c in mesh.connections.items()} == {
        ("node-1", "node-2"): ("established", "fastdp"),
        ("node-1", "node-3"): ("established", "fastdp"),
        ("node-2", "node-3"): ("established", "fastdp"),
    }
    assert mesh.routes["node-1"] == {"node-2": "node-2", "node-3": "node-3"}


def test_blocked_udp_6784_falls_back_to_sleeve_and_says_why() -> None:
    mesh = _mesh(blocked=[{"peers": ["node-1", "node-3"], "ports": ["udp/6784"]}])
    conn = mesh.connection("node-3", "node-1")
    assert conn is not None and conn.established and conn.datapath == "sleeve"
    assert "fastdp off: UDP 6784 blocked by blocked[0]" in conn.why_datapath


def test_blocked_control_port_leaves_the_connection_down_and_routes_relay() -> None:
    mesh = _mesh(blocked=[{"peers": ["node-1", "node-3"], "ports": ["tcp/6783"]}])
    conn = mesh.connection("node-1", "node-3")
    assert conn is not None and conn.state == "failed" and "TCP 6783 blocked by blocked[0]" in conn.reason
    assert mesh.routes["node-1"]["node-3"] == "node-2"
    assert mesh.path("node-1", "node-3") == ["node-1", "node-2", "node-3"]


def test_small_underlay_mtu_turns_fastdp_off() -> None:
    racks = (("rack-a", "192.168.10.0/24", 1500), ("rack-b", "192.168.20.0/24", 1400))
    c = cluster(racks, NODES, driver="weave")
    mesh = build_mesh(c, parse_options({}))
    conn = mesh.connection("node-1", "node-3")
    assert conn is not None and conn.datapath == "sleeve"
    assert "underlay path MTU 1400 < 1426" in conn.why_datapath
    assert mesh.connection("node-1", "node-2").datapath == "fastdp"  # type: ignore[union-attr]


def test_encrypted_fastdp_needs_esp() -> None:
    mesh = _mesh(password="x", blocked=[{"peers": ["*", "node-3"], "ports": ["esp"]}])
    assert mesh.connection("node-1", "node-2").datapath == "fastdp"  # type: ignore[union-attr]
    conn = mesh.connection("node-2", "node-3")
    assert conn is not None and conn.datapath == "sleeve" and conn.encrypted
    assert "IPsec ESP (IP protocol 50) blocked" in conn.why_datapath


def test_conn_limit_refuses_connections_beyond_it() -> None:
    mesh = _mesh(connLimit=1)
    states = {k: c.state for k, c in mesh.connections.items()}
    assert states == {("node-1", "node-2"): "established", ("node-1", "node-3"): "failed", ("node-2", "node-3"): "failed"}
    assert "connection limit reached on node-1 (connLimit 1)" in mesh.connections[("node-1", "node-3")].reason


def test_ties_are_broken_by_peer_name() -> None:
    names = {"a": "0a", "b": "0c", "c": "0b", "d": "0d"}
    # b and c both reach d in two hops; c's name sorts first, so every peer relays through c
    assert unicast_routes("a", names, [("a", "b"), ("a", "c"), ("b", "d"), ("c", "d")])["d"] == "c"


@st.composite
def connected_meshes(draw: st.DrawFn) -> tuple[dict[str, str], list[tuple[str, str]]]:
    n = draw(st.integers(2, 9))
    nodes = [f"p{i}" for i in range(n)]
    names = {p: f"{draw(st.integers(0, 2**48 - 1)):012x}" for p in nodes}
    links = {(nodes[i], nodes[draw(st.integers(0, i - 1))]) for i in range(1, n)}  # a spanning tree
    extra = draw(st.lists(st.tuples(st.sampled_from(nodes), st.sampled_from(nodes)), max_size=10))
    links |= {(a, b) for a, b in extra if a != b}
    return names, sorted(links)


@settings(max_examples=60, deadline=None)
@given(connected_meshes())
def test_routes_on_a_connected_partial_mesh_reach_every_peer_without_loops(mesh: tuple[dict[str, str], list[tuple[str, str]]]) -> None:
    names, links = mesh
    routes = {p: unicast_routes(p, names, links) for p in names}
    adj = {p: set() for p in names}  # type: dict[str, set[str]]
    for a, b in links:
        adj[a].add(b)
        adj[b].add(a)
    for src in names:
        assert set(routes[src]) == set(names) - {src}
        for dst in names:
            if dst == src:
                continue
            seen, cur = [src], src
            while cur != dst:
                nxt = routes[cur][dst]
                assert nxt in adj[cur], "a next hop is always a direct connection"
                assert nxt not in seen, f"loop {seen + [nxt]}"
                seen.append(nxt)
                cur = nxt
            # fewest hops: the path is a shortest path
            dist = {src: 0}
            todo = [src]
            while todo:
                x = todo.pop(0)
                for y in adj[x]:
                    if y not in dist:
                        dist[y] = dist[x] + 1
                        todo.append(y)
            assert len(seen) - 1 == dist[dst]


def test_peer_short_ids_are_unique() -> None:
    mesh = _mesh()
    ids = [p.short_id for p in mesh.peers.values()]
    assert len(set(ids)) == len(ids) and all(0 <= i < 4096 for i in ids)
    assert all(isinstance(p.ip, ipaddress.IPv4Address) for p in mesh.peers.values())


def test_conn_limit_on_a_full_mesh_leaves_it_connected() -> None:
    nodes = tuple((f"node-{i}", f"192.168.10.{10 + i}", None) for i in range(8))
    c = cluster((("rack-a", "192.168.10.0/24", 1500),), nodes, driver="weave", options={"connLimit": 2})
    mesh = build_mesh(c, parse_options({"connLimit": 2}))
    up = [k for k, conn in mesh.connections.items() if conn.established]
    assert len(up) == 8  # a ring: two connections each
    for me in mesh.peers:
        assert set(mesh.routes[me]) == set(mesh.peers) - {me}
