"""Header arithmetic: overheads, fragment counts, the outer source port, and that the
header-size function equals the length of the frame scapy builds."""

from __future__ import annotations

from ipaddress import ip_address

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from overlaynet.dataplane.packet import Packet
from overlaynet.trace.encap import (
    LOCAL_PORT_RANGE,
    flow_source_port,
    fragment_count,
    outer_layers,
    overhead,
)
from overlaynet.trace.model import Encapsulation, Wire
from overlaynet.trace.pcap import frame_bytes

A = ip_address


def test_overheads_match_the_reference_table() -> None:
    assert overhead("vxlan", 4) == 50
    assert overhead("vxlan", 6) == 70
    assert overhead("ipip", 4) == 20
    assert overhead("udp", 4) == 28
    assert [n for n, _ in outer_layers("vxlan", 4)] == ["Ethernet", "IPv4", "UDP", "VXLAN", "inner Ethernet"]


def test_fragment_count() -> None:
    assert fragment_count(1500, 1500) == 1
    assert fragment_count(1550, 1500) == 2
    assert fragment_count(2500, 1000) == 3  # 976 payload bytes per fragment
    assert fragment_count(4000, 1400) == 3


@given(st.integers(1, 65535), st.integers(1, 65535), st.sampled_from(["tcp", "udp"]), st.integers(0, 5))
@settings(max_examples=60)
def test_flow_source_port_is_in_range_and_deterministic(sport: int, dport: int, proto: str, seed: int) -> None:
    p = Packet(A("10.244.0.2"), A("10.244.2.3"), proto, sport, dport)  # type: ignore[arg-type]
    port = flow_source_port(p, seed)
    assert LOCAL_PORT_RANGE[0] <= port <= LOCAL_PORT_RANGE[1]
    assert port == flow_source_port(p, seed)


def test_different_flows_spread_over_ports() -> None:
    ports = {flow_source_port(Packet(A("10.0.0.1"), A("10.0.0.2"), "tcp", s, 80)) for s in range(40000, 40100)}
    assert len(ports) > 90


@pytest.mark.parametrize("kind", ["vxlan", "ipip", "udp"])
@pytest.mark.parametrize(("proto", "size"), [("tcp", 64), ("udp", 1400), ("icmp", 84)])
def test_wire_bytes_equal_the_scapy_frame(kind: str, proto: str, size: int) -> None:
    inner = Packet(A("10.244.0.2"), A("10.244.2.3"), proto, 40000 if proto != "icmp" else None, 80 if proto != "icmp" else None, size, icmp_type=8 if proto == "icmp" else None)  # type: ignore[arg-type]
    framing = 4 if kind == "udp" else 0
    outer = Packet(A("192.168.10.11"), A("192.168.20.13"), "udp" if kind != "ipip" else "ipip", 40001, 8472, size + overhead(kind, 4, framing))
    wire = Wire("segment", outer, ((Encapsulation(kind, "dev", outer, 1, framing_bytes=framing), inner),))
    assert frame_bytes(wire) == size + sum(b for _, b in outer_layers(kind, 4, framing))
    plain = Wire("veth", inner)
    assert frame_bytes(plain) == size + 14


@pytest.mark.parametrize("size", [4000, 4002, 4006])
def test_inner_fragments_each_get_their_own_tunnel_packet_and_esp_padding(size: int) -> None:
    # VXLAN + ESP (Weave fastdp encrypted): each fragment is wrapped on its own, and ESP pads
    # each tunnel packet to its own alignment
    from overlaynet.trace.encap import esp_transport_bytes, fragment_sizes
    from overlaynet.trace.pcap import frames

    inner = Packet(A("10.32.0.2"), A("10.40.0.1"), "icmp", size=size, icmp_type=8)
    pieces = fragment_sizes(size, 1376)
    esp = [esp_transport_bytes(n + 50 - 20, icv=16) for n in pieces]
    outer = Packet(A("192.168.10.11"), A("192.168.20.13"), "udp", 40001, 6784, max(pieces) + 50 + max(esp))
    enc = Encapsulation("vxlan", "vxlan-6784", outer, 1, cipher="esp", cipher_bytes=esp[0], esp_icv=16)
    wire = Wire("segment", outer, ((enc, inner),), stack_fragment_mtus=(1376,))
    assert wire.frame_sizes() == tuple(n + 50 + e + 14 for n, e in zip(pieces, esp, strict=True))
    assert tuple(len(f) for f in frames(wire)) == wire.frame_sizes()
