"""Chain-name hashes and probability strings against the values kube-proxy's tests pin."""

from __future__ import annotations

import base64
import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from overlaynet.kubeproxy import names


@pytest.mark.parametrize(
    ("spn", "proto", "expected"),
    [
        ("ns1/svc1:p80", "tcp", "XPGD46QRK7WJZT7O"),
        ("ns1/svc1", "tcp", "AQI2S6QIMU7PVVRP"),
        ("ns1/svc1:p80", "sctp", "GFCIFIA5VTFSTMSM"),
        ("ns2/svc2:p80", "tcp", "GNZBNJ2PO5MGZ6GT"),
        ("ns5/svc5:p80", "tcp", "NUKIZ6OKUXPJNT4C"),
    ],
)
def test_port_proto_hash_matches_kube_proxy(spn: str, proto: str, expected: str) -> None:
    assert names.port_proto_hash(spn, proto) == expected
    assert names.svc_chain(spn, proto) == "KUBE-SVC-" + expected
    assert names.fw_chain(spn, proto) == "KUBE-FW-" + expected


def test_endpoint_chain_hash() -> None:
    assert names.sep_chain("ns1/svc1:p80", "tcp", "10.180.0.1:80") == "KUBE-SEP-SXIVWICOYRO3J4NJ"
    assert names.sep_chain("ns5/svc5:p80", "tcp", "10.180.0.3:80") == "KUBE-SEP-I77PXRDZVX7PMWMN"


def test_endpoint_string_brackets_ipv6() -> None:
    from ipaddress import ip_address

    assert names.endpoint_string(ip_address("fd00::1"), 80) == "[fd00::1]:80"
    assert names.endpoint_string(ip_address("10.0.0.1"), 80) == "10.0.0.1:80"


def test_probability_values_pinned_by_kube_proxy() -> None:
    # TestComputeProbability in proxier_test.go
    assert names.probability(1) == "1.0000000000"
    assert names.probability(2) == "0.5000000000"
    assert names.probability(10) == "0.1000000000"
    assert names.probability(100000) == "0.0000100000"
    assert names.probability(100001) == "0.0000099999"
    prev = 2.0
    for n in range(1, 2001):
        value = float(names.probability(n))
        assert value < prev
        prev = value


def test_masquerade_mark_is_go_hash_08x() -> None:
    assert names.masquerade_mark(14) == "0x004000"
    assert names.masquerade_mark(0) == "0x000001"
    with pytest.raises(ValueError):
        names.masquerade_mark(32)


@settings(max_examples=50)
@given(
    ns=st.from_regex(r"[a-z][a-z0-9-]{0,10}", fullmatch=True),
    name=st.from_regex(r"[a-z][a-z0-9-]{0,10}", fullmatch=True),
    port=st.one_of(st.none(), st.from_regex(r"[a-z][a-z0-9-]{0,8}", fullmatch=True)),
    proto=st.sampled_from(["tcp", "udp", "sctp"]),
)
def test_chain_names_fit_iptables_limit(ns: str, name: str, port: str | None, proto: str) -> None:
    spn = names.service_port_name(ns, name, port)
    for chain in (names.svc_chain(spn, proto), names.ext_chain(spn, proto), names.sep_chain(spn, proto, "10.0.0.1:80")):
        assert len(chain) <= 28
        assert chain.split("-")[-1].isalnum()


@settings(max_examples=200)
@given(spn=st.text(min_size=1, max_size=40), proto=st.sampled_from(["tcp", "udp", "sctp"]),
       endpoint=st.from_regex(r"[0-9.]{7,15}:[0-9]{1,5}", fullmatch=True))
def test_chain_hashes_are_the_base32_of_sha256(spn: str, proto: str, endpoint: str) -> None:
    def portproto(text: str) -> str:  # portProtoHash as proxier.go spells it
        return base64.b32encode(hashlib.sha256(text.encode()).digest()).decode()[:16]

    assert names.port_proto_hash(spn, proto) == portproto(spn + proto)
    assert names.sep_chain(spn, proto, endpoint) == "KUBE-SEP-" + portproto(spn + proto + endpoint)
    assert names.sep_chains(spn, proto, [endpoint, endpoint]) == {endpoint: names.sep_chain(spn, proto, endpoint)}
