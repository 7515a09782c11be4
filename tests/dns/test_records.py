"""Record values and the name helpers (dashed IPs, reverse names)."""

from __future__ import annotations

import ipaddress

import dns.name
from hypothesis import given, settings
from hypothesis import strategies as st

from overlaynet.dns.records import (
    AAAARecord,
    SOARecord,
    SRVRecord,
    TXTRecord,
    address_from_reverse,
    address_record,
    dashed_ip,
    reverse_name,
)

N = dns.name.from_text


def test_dashed_ip() -> None:
    assert dashed_ip(ipaddress.ip_address("10.244.1.5")) == "10-244-1-5"
    assert dashed_ip(ipaddress.ip_address("2001:db8::1")) == "2001-db8--1"
    assert dashed_ip(ipaddress.ip_address("2001:db8::")) == "2001-db8--0"  # CoreDNS appends 0


@settings(max_examples=200)
@given(st.one_of(st.ip_addresses(v=4), st.ip_addresses(v=6)))
def test_reverse_name_roundtrip(addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> None:
    assert address_from_reverse(reverse_name(addr)) == addr


def test_partial_reverse_names_are_not_addresses() -> None:
    assert address_from_reverse(N("0.96.10.in-addr.arpa.")) is None
    assert address_from_reverse(N("999.0.96.10.in-addr.arpa.")) is None
    assert address_from_reverse(N("x.1.1.1.in-addr.arpa.")) is None


def test_record_text_and_dict() -> None:
    rec = address_record(N("web.default.svc.cluster.local."), 30, ipaddress.ip_address("fd00::1"))
    assert isinstance(rec, AAAARecord)
    assert rec.to_text() == "web.default.svc.cluster.local. 30 IN AAAA fd00::1"
    srv = SRVRecord(N("_http._tcp.web.default.svc.cluster.local."), 30, 0, 100, 80, N("web.default.svc.cluster.local."))
    assert srv.to_dict() == {"name": "_http._tcp.web.default.svc.cluster.local.", "type": "SRV", "ttl": 30,
                             "data": "0 100 80 web.default.svc.cluster.local."}
    assert TXTRecord(N("dns-version.cluster.local."), 28800, "1.1.0").data == '"1.1.0"'
    soa = SOARecord(N("cluster.local."), 30, N("ns.dns.cluster.local."), N("hostmaster.cluster.local."), 7)
    assert soa.data == "ns.dns.cluster.local. hostmaster.cluster.local. 7 7200 1800 86400 30"


def test_public_surface() -> None:
    import overlaynet.dns as pkg
    import overlaynet.dns.resolver as resolver

    for module in (pkg, resolver):
        for name in module.__all__:
            assert getattr(module, name) is not None, name
    assert not hasattr(resolver, "client_resolve")  # the client builds on the resolver, not back
