"""A host's addresses: which are local, MASQUERADE's source and REDIRECT's target, as the
kernel's inet_select_addr / nf_nat_redirect choose them."""

from __future__ import annotations

from ipaddress import ip_address, ip_interface

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from overlaynet.dataplane.netfilter.hostaddr import HostAddresses, parse_iface


def host(**ifaces: str) -> HostAddresses:
    return HostAddresses.build([parse_iface(f"{name}={addrs}") for name, addrs in ifaces.items()])


def test_masquerade_takes_the_primary_address_not_the_smallest_nor_a_secondary() -> None:
    h = host(eth0="10.0.0.9/24,10.0.0.5/24")  # 10.0.0.5 is secondary (same subnet and length)
    assert h.primaries("eth0", 4) == [ip_interface("10.0.0.9/24")]
    assert h.masquerade_source("eth0", 4, ip_address("8.8.8.8")) == ip_address("10.0.0.9")
    assert h.local() >= {ip_address("10.0.0.9"), ip_address("10.0.0.5"), ip_address("127.0.0.1")}


def test_masquerade_prefers_the_primary_whose_subnet_holds_the_next_hop() -> None:
    h = host(eth0="10.0.0.9/24,192.168.1.5/24")
    assert h.masquerade_source("eth0", 4, ip_address("192.168.1.77")) == ip_address("192.168.1.5")
    assert h.masquerade_source("eth0", 4, ip_address("8.8.8.8")) == ip_address("10.0.0.9")


def test_an_interface_without_address_borrows_the_first_global_one_in_device_order() -> None:
    h = host(eth0="10.0.0.9/24", eth1="172.16.0.1/16")
    assert h.masquerade_source("cni0", 4, ip_address("10.244.1.5")) == ip_address("10.0.0.9")
    assert h.masquerade_source("lo", 4, ip_address("10.0.0.9")) == ip_address("10.0.0.9")  # 127/8 is host scope
    assert HostAddresses.build().masquerade_source("eth0", 4, None) is None  # the kernel drops it
    assert h.redirect_target("cni0", 4) is None and h.redirect_target("eth1", 4) == ip_address("172.16.0.1")


def test_ipv6_link_local_only_for_a_link_local_next_hop() -> None:
    h = host(eth0="fe80::1/64,2001:db8::5/64")
    assert h.masquerade_source("eth0", 6, ip_address("2001:db8:1::9")) == ip_address("2001:db8::5")
    assert h.masquerade_source("eth0", 6, ip_address("fe80::99")) == ip_address("fe80::1")


def test_extra_addresses_come_after_the_named_interfaces_in_their_order() -> None:
    h = HostAddresses.build(extra=[ip_address("192.168.0.12"), ip_address("192.168.0.11")])
    assert h.masquerade_source("eth0", 4, ip_address("8.8.8.8")) == ip_address("192.168.0.12")


@pytest.mark.parametrize(("text", "needle"), [
    ("eth0", "expected NAME=ADDR/PLEN"),
    ("=10.0.0.1/24", "expected NAME=ADDR/PLEN"),
    ("averyveryverylongname=10.0.0.1", "not an interface name"),
    ("eth0=10.0.0.300/24", "'10.0.0.300/24' is not an address"),
    ("eth0=10.0.0.1/24,", "'' is not an address"),
])
def test_parse_iface_names_what_is_wrong(text: str, needle: str) -> None:
    with pytest.raises(ValueError, match=needle):
        parse_iface(text)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(1, 250), st.sampled_from([8, 16, 24, 32])),
                min_size=1, max_size=6),
       st.integers(0, 3), st.integers(1, 250))
def test_masquerade_source_is_a_primary_address_of_the_interface(addrs: list[tuple[int, int, int]],
                                                                  subnet: int, last: int) -> None:
    """Whatever was added in whatever order: the source is one of the out-interface's
    primary addresses (never a secondary one), one whose subnet holds the next hop when
    there is such an address."""
    given_addrs = tuple(ip_interface(f"10.{s}.0.{h}/{plen}") for s, h, plen in addrs)
    h = HostAddresses.build([("eth0", given_addrs)])
    nexthop = ip_address(f"10.{subnet}.0.{last}")
    primaries = h.primaries("eth0", 4)
    source = h.masquerade_source("eth0", 4, nexthop)
    assert source in [p.ip for p in primaries]
    on_link = [p.ip for p in primaries if nexthop in p.network]
    assert source == (on_link[0] if on_link else primaries[0].ip)
    secondaries = [a for i, a in enumerate(given_addrs)
                   if any(b.network == a.network for b in given_addrs[:i]) and a not in given_addrs[:i]]
    assert all(a not in primaries for a in secondaries)
