"""Weave's ring IPAM: consensus split, lowest-free allocation, donation, rmpeer."""

from __future__ import annotations

import ipaddress

from hypothesis import given, settings
from hypothesis import strategies as st

from overlaynet.drivers.weave.ipam import Ring, RingIPAM

NET = ipaddress.IPv4Network


def test_consensus_splits_in_halves_over_sorted_peers() -> None:
    ring = Ring.claim_for_peers(NET("10.32.0.0/12"), ["c", "a", "b"])
    assert [(str(ipaddress.IPv4Address(s)), o) for s, _, o in ring.ranges()] == [
        ("10.32.0.0", "a"), ("10.40.0.0", "b"), ("10.44.0.0", "c")]


def test_allocation_takes_the_lowest_free_host_address() -> None:
    ipam = RingIPAM(NET("10.32.0.0/12"), ["a", "b"])
    assert str(ipam.allocate("a", "x", ["b"]).ip) == "10.32.0.1"  # not the range's first address
    assert str(ipam.allocate("a", "y", ["b"]).ip) == "10.32.0.2"
    assert str(ipam.allocate("b", "z", ["a"]).ip) == "10.40.0.0"


def test_a_full_peer_gets_a_donation() -> None:
    ipam = RingIPAM(NET("10.0.0.0/28"), ["a", "b"])
    got = [ipam.allocate("a", str(i), ["b"]).ip for i in range(10)]
    assert len(set(got)) == 10
    assert ipam.donations and ipam.donations[0][:2] == ("b", "a")
    assert all(ipam.ring.owner(int(ip)) == "a" for ip in got)


def test_no_donor_reachable_is_an_error_naming_the_peer() -> None:
    import pytest

    from overlaynet.errors import AddressExhausted

    ipam = RingIPAM(NET("10.0.0.0/29"), ["a", "b"])
    for i in range(3):
        ipam.allocate("a", str(i), [])
    with pytest.raises(AddressExhausted, match="peer a has no free address for pod-x"):
        ipam.allocate("a", "pod-x", [])


def test_rmpeer_gives_the_gone_peers_ranges_to_the_caller() -> None:
    ipam = RingIPAM(NET("10.32.0.0/12"), ["a", "b", "c"])
    moved = ipam.rmpeer("c", "a")
    assert [str(n) for n in moved] == ["10.44.0.0/14"]
    assert [str(n) for n in ipam.ranges_of("a")] == ["10.32.0.0/13", "10.44.0.0/14"]
    assert ipam.ranges_of("c") == []


@settings(max_examples=60, deadline=None)
@given(
    prefix=st.integers(20, 29),
    peers=st.lists(st.text("abcdefgh", min_size=1, max_size=4), min_size=1, max_size=7, unique=True),
    asks=st.lists(st.integers(0, 6), max_size=40),
    seed=st.integers(0, 5),
)
def test_ranges_never_overlap_cover_the_range_and_hold_their_addresses(prefix: int, peers: list[str], asks: list[int], seed: int) -> None:
    net = NET(f"10.32.0.0/{prefix}")
    ipam = RingIPAM(net, peers, seed=seed)
    for i, k in enumerate(asks):
        peer = peers[k % len(peers)]
        try:
            ipam.allocate(peer, f"pod-{i}", peers)
        except Exception:  # noqa: BLE001 - exhaustion of a tiny range is allowed
            break
    spans = sorted((s, e) for s, e, _ in ipam.ring.ranges())
    assert spans[0][0] == int(net.network_address) and spans[-1][1] == int(net.broadcast_address) + 1
    for (_, e1), (s2, _) in zip(spans, spans[1:], strict=False):
        assert e1 == s2, "ranges are contiguous and never overlap"
    ips = [a.ip for a in ipam.used.values()]
    assert len(ips) == len(set(ips))
    for a in ipam.used.values():
        assert a.ip in net and a.ip not in (net.network_address, net.broadcast_address)
        assert ipam.ring.owner(int(a.ip)) == a.peer, "an allocated address lies in its peer's ranges"
