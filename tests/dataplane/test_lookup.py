"""Route LPM against the naive scan, kernel prefix routes, source selection, neighbour and
FDB lookups, and index rebuilds when the tables change."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network, ip_address, ip_network

from hypothesis import given, settings
from hypothesis import strategies as st

from overlaynet.dataplane.ir import (
    Address,
    FdbEntry,
    Interface,
    Neighbor,
    NetNamespace,
    NsRef,
    Route,
)
from overlaynet.dataplane.lookup import (
    connected_route,
    effective_routes,
    find_fdb,
    find_neighbor,
    is_local,
    linear_lookup_route,
    lookup_route,
    select_source,
)

A = ip_address


def host() -> NetNamespace:
    ns = NetNamespace(NsRef("h"), kind="host")
    ns.add_interface(Interface("lo", "loopback", addresses=[Address(A("127.0.0.1"), 8)]))
    ns.add_interface(Interface("eth0", "phys", addresses=[Address(A("192.168.10.11"), 24)]))
    ns.add_interface(Interface("flannel.1", "vxlan", addresses=[Address(A("10.244.1.0"), 32)]))
    return ns


def test_kernel_adds_prefix_routes_for_addresses() -> None:
    ns = host()
    routes = effective_routes(ns)
    assert [(str(r.dst), r.dev, r.proto) for r in routes] == [("192.168.10.0/24", "eth0", "kernel")]


def test_explicit_route_replaces_the_kernel_one() -> None:
    ns = host()
    ns.add_route(Route(ip_network("192.168.10.0/24"), dev="eth0", proto="kernel", origin="underlay"))
    assert [r.origin for r in effective_routes(ns)] == ["underlay"]


def test_longest_prefix_then_metric() -> None:
    ns = host()
    ns.add_route(Route(ip_network("0.0.0.0/0"), via=A("192.168.10.1"), dev="eth0"))
    ns.add_route(Route(ip_network("10.244.0.0/16"), dev="flannel.1", metric=20))
    ns.add_route(Route(ip_network("10.244.0.0/16"), dev="eth0", metric=10))
    ns.add_route(Route(ip_network("10.244.3.0/24"), via=A("10.244.3.0"), dev="flannel.1", onlink=True))
    assert lookup_route(ns, A("10.244.3.7")).dst == ip_network("10.244.3.0/24")  # type: ignore[union-attr]
    assert lookup_route(ns, A("10.244.4.7")).dev == "eth0"  # type: ignore[union-attr]
    assert lookup_route(ns, A("8.8.8.8")).via == A("192.168.10.1")  # type: ignore[union-attr]


def test_index_follows_route_changes() -> None:
    ns = host()
    assert lookup_route(ns, A("10.1.2.3")) is None
    ns.add_route(Route(ip_network("10.1.0.0/16"), dev="eth0"))
    assert lookup_route(ns, A("10.1.2.3")) is not None
    ns.routes.clear()
    assert lookup_route(ns, A("10.1.2.3")) is None


def test_routes_through_a_down_device_are_ignored() -> None:
    ns = host()
    ns.add_route(Route(ip_network("10.1.0.0/16"), dev="flannel.1"))
    ns.interfaces["flannel.1"].up = False
    assert lookup_route(ns, A("10.1.0.1")) is None


def key(route: Route | None) -> tuple[object, int] | None:
    return None if route is None else (route.dst, route.metric)


routes_st = st.lists(
    st.tuples(st.integers(0, 2**32 - 1), st.integers(0, 32), st.integers(0, 3)), min_size=1, max_size=40
)


@given(routes_st, st.lists(st.integers(0, 2**32 - 1), min_size=1, max_size=20))
@settings(max_examples=80)
def test_lpm_agrees_with_the_linear_scan(entries: list[tuple[int, int, int]], probes: list[int]) -> None:
    ns = host()
    for value, plen, metric in entries:
        net = IPv4Network((value, plen), strict=False)
        ns.add_route(Route(net, dev="eth0", metric=metric))
    for value in probes:
        dst = IPv4Address(value)
        fast, slow = lookup_route(ns, dst), linear_lookup_route(ns, dst)
        assert key(fast) == key(slow)


def test_connected_route_and_locality() -> None:
    ns = host()
    assert connected_route(ns, A("192.168.10.99"), "eth0") is not None
    assert connected_route(ns, A("192.168.20.13"), "eth0") is None
    assert is_local(ns, A("10.244.1.0")) and is_local(ns, A("127.0.0.5"))
    assert not is_local(ns, A("10.244.1.1"))


def test_source_selection() -> None:
    ns = host()
    ns.add_route(Route(ip_network("10.244.3.0/24"), via=A("10.244.3.0"), dev="flannel.1", onlink=True))
    ns.add_route(Route(ip_network("0.0.0.0/0"), via=A("192.168.10.1"), dev="eth0"))
    r = lookup_route(ns, A("10.244.3.5"))
    assert r is not None and select_source(ns, r, A("10.244.3.5")) == A("10.244.1.0")
    r = lookup_route(ns, A("8.8.8.8"))
    assert r is not None and select_source(ns, r, A("8.8.8.8")) == A("192.168.10.11")
    pinned = Route(ip_network("10.9.0.0/16"), dev="eth0", src=A("192.168.10.11"))
    assert select_source(ns, pinned, A("10.9.0.1")) == A("192.168.10.11")


def test_neighbour_and_fdb_lookup() -> None:
    ns = host()
    ns.add_neighbor(Neighbor(A("10.244.3.0"), "flannel.1", "aa:bb:cc:00:00:03"))
    ns.add_fdb(FdbEntry("AA:BB:CC:00:00:03", "flannel.1", dst=A("192.168.20.13")))
    n = find_neighbor(ns, A("10.244.3.0"), "flannel.1")
    assert n is not None and n.lladdr == "aa:bb:cc:00:00:03"
    assert find_neighbor(ns, A("10.244.3.0"), "eth0") is None
    e = find_fdb(ns, "aa:bb:cc:00:00:03", "flannel.1")
    assert e is not None and e.dst == A("192.168.20.13")
    assert find_fdb(ns, "aa:bb:cc:00:00:04", "flannel.1") is None
    ns.add_fdb(FdbEntry("00:00:00:00:00:00", "flannel.1", dst=A("192.168.20.99")))
    flood = find_fdb(ns, "aa:bb:cc:00:00:04", "flannel.1")
    assert flood is not None and flood.dst == A("192.168.20.99")


def test_prefix_route_index_follows_every_kind_of_interface_edit() -> None:
    """The route indexes are cached; each edit of a device below must be seen at once."""
    ns = host()
    target = A("10.9.0.5")
    assert lookup_route(ns, target) is None
    ns.interfaces["eth0"].addresses.append(Address(A("10.9.0.1"), 24))
    assert lookup_route(ns, target).dev == "eth0"  # type: ignore[union-attr]
    ns.interfaces["eth0"].up = False
    assert lookup_route(ns, target) is None
    ns.interfaces["eth0"].up = True
    assert lookup_route(ns, target).dev == "eth0"  # type: ignore[union-attr]
    del ns.interfaces["eth0"].addresses[-1]
    assert lookup_route(ns, target) is None
    ns.interfaces["flannel.1"].addresses = [Address(A("10.9.0.2"), 16)]
    assert lookup_route(ns, target).dst == ip_network("10.9.0.0/16")  # type: ignore[union-attr]
    ns.interfaces["flannel.1"].addresses[0] = Address(A("10.8.0.2"), 16)
    assert lookup_route(ns, target) is None
    ns.add_interface(Interface("dummy0", "dummy", addresses=[Address(A("10.9.0.3"), 28)]))
    assert lookup_route(ns, target).dev == "dummy0"  # type: ignore[union-attr]


def test_route_indexes_follow_every_kind_of_route_list_write() -> None:
    """Routes are indexed by the list's write counter: each write below must be seen at once,
    also after the indexes were built (a warm trace)."""
    ns = host()
    target = A("10.9.0.5")
    wide, narrow = Route(ip_network("10.9.0.0/16"), dev="eth0"), Route(ip_network("10.9.0.0/24"), dev="flannel.1")
    assert lookup_route(ns, target) is None
    ns.routes.append(wide)
    assert lookup_route(ns, target) is wide
    ns.routes.insert(0, narrow)
    assert lookup_route(ns, target) is narrow and connected_route(ns, target, "flannel.1") is narrow
    ns.routes.remove(narrow)
    assert lookup_route(ns, target) is wide and connected_route(ns, target, "flannel.1") is None
    ns.routes[0] = narrow  # replaced in place: same list, same length
    assert lookup_route(ns, target) is narrow
    del ns.routes[0]
    assert lookup_route(ns, target) is None
    ns.routes += [wide]
    assert lookup_route(ns, target) is wide
    ns.routes.pop()
    assert lookup_route(ns, target) is None and all(r.proto == "kernel" for r in effective_routes(ns))
    ns.routes = [narrow]  # a new list: kept as a counted one
    assert lookup_route(ns, target) is narrow
    ns.routes.extend([wide])
    ns.routes.sort(key=lambda r: r.dst.prefixlen)
    assert [r.dst.prefixlen for r in ns.routes[:2]] == [16, 24] and lookup_route(ns, target) is narrow


def test_neighbour_and_fdb_indexes_follow_writes() -> None:
    ns = host()
    ip, mac = A("10.244.3.0"), "aa:bb:cc:00:00:03"
    assert find_neighbor(ns, ip, "flannel.1") is None
    first = Neighbor(ip, "flannel.1", mac)
    ns.neighbors.append(first)
    assert find_neighbor(ns, ip, "flannel.1") is first
    second = Neighbor(ip, "flannel.1", "aa:bb:cc:00:00:09")
    ns.neighbors[0] = second
    assert find_neighbor(ns, ip, "flannel.1") is second
    ns.neighbors.clear()
    assert find_neighbor(ns, ip, "flannel.1") is None
    entry = FdbEntry(mac, "flannel.1", dst=A("192.168.20.13"))
    ns.fdb.append(entry)
    assert find_fdb(ns, mac, "flannel.1") is entry
    moved = FdbEntry(mac, "flannel.1", dst=A("192.168.20.14"))
    ns.fdb = [moved]
    assert find_fdb(ns, mac, "flannel.1") is moved
    ns.fdb.remove(moved)
    assert find_fdb(ns, mac, "flannel.1") is None


def test_device_map_writes_move_the_indexes() -> None:
    """Devices added, replaced or removed through the namespace's dict (not add_interface)
    are seen by the route index, the local addresses and the bridge index."""
    from overlaynet.dataplane.lookup import local_addresses

    ns = host()
    target = A("10.9.0.5")
    assert lookup_route(ns, target) is None and target not in local_addresses(ns)
    ns.interfaces["dummy0"] = Interface("dummy0", "dummy", addresses=[Address(target, 24)])
    assert lookup_route(ns, target).dev == "dummy0" and target in local_addresses(ns)  # type: ignore[union-attr]
    ns.interfaces["dummy0"] = Interface("dummy0", "dummy", addresses=[Address(A("10.8.0.5"), 24)])
    assert lookup_route(ns, target) is None and target not in local_addresses(ns)
    del ns.interfaces["dummy0"]
    assert lookup_route(ns, A("10.8.0.9")) is None
    ns.interfaces.update({"dummy1": Interface("dummy1", "dummy", addresses=[Address(target, 16)])})
    assert lookup_route(ns, target).dev == "dummy1"  # type: ignore[union-attr]
    ns.interfaces.pop("dummy1")
    assert lookup_route(ns, target) is None

