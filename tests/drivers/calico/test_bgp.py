from __future__ import annotations

import ipaddress

from overlaynet.drivers.calico.bgp import compute_bgp

from .helpers import cluster


def _originated(c):  # one /26 per node
    return {n.name: [ipaddress.ip_network(f"10.244.{i}.0/26")] for i, n in enumerate(c.nodes)}


def test_full_mesh_has_n_choose_2_sessions_and_every_route() -> None:
    c = cluster(racks=2, nodes_per_rack=3)
    state = compute_bgp(c, _originated(c))
    n = len(c.nodes)
    assert len(state.sessions) == n * (n - 1) // 2
    assert all(s.state == "Established" and s.kind == "mesh" for s in state.sessions)
    for node in c.nodes:
        learned = state.learned(node.name)
        assert len(learned) == n - 1
        for r in learned:
            assert r.learned_from == r.originator  # direct from the originator in a mesh
            assert r.next_hop == c.node(r.originator).ip
            assert r.as_path == ()


def test_route_reflectors_session_count_and_reflection() -> None:
    c = cluster(racks=2, nodes_per_rack=3)
    rrs = ["node-00", "node-10"]
    state = compute_bgp(c, _originated(c), reflectors=rrs)
    n, k = len(c.nodes), len(rrs)
    assert len(state.sessions) == (n - k) * k + k * (k - 1) // 2
    kinds = sorted({s.kind for s in state.sessions})
    assert kinds == ["rr-client", "rr-rr"]
    # A client learns every other node's block, through a reflector, next hop unchanged.
    client = "node-01"
    learned = {str(r.prefix): r for r in state.learned(client)}
    assert len(learned) == n - 1
    other = learned["10.244.5.0/26"]  # node-12's block, a client on the other rack
    assert other.learned_from in rrs and other.cluster_list and other.next_hop == c.node("node-12").ip
    # A reflector learns its clients' routes directly.
    rr_learned = {str(r.prefix): r for r in state.learned("node-00")}
    assert rr_learned["10.244.1.0/26"].learned_from == "node-01"
    assert len(rr_learned) == n - 1


def test_unreachable_peer_session_down_and_routes_missing() -> None:
    c = cluster(racks=2, nodes_per_rack=2, router=False)
    state = compute_bgp(c, _originated(c))
    down = [s for s in state.sessions if s.state != "Established"]
    assert len(down) == 4  # every cross-rack pair
    assert "no router joins" in down[0].reason
    learned = {str(r.prefix) for r in state.learned("node-00")}
    assert learned == {"10.244.1.0/26"}  # only the same-rack peer's block
