"""overlaynet.analysis.overhead: parsing, cost arithmetic, and the per-mode measurement on the
demo topology (layers from frames, MTU, MSS, largest packet, same-node flow, misconfigured
MTU, underlay variants, modes discovered from the registry)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from overlaynet.analysis.overhead import (
    IMIX,
    Mode,
    OverheadReport,
    Payload,
    message_cost,
    parse_payloads,
    payload_cost,
    segment_sizes,
)
from overlaynet.analysis.overhead_frames import split_frame
from overlaynet.analysis.overhead_topology import (
    candidate_pairs,
    with_driver,
    with_ipv6_underlay,
    with_underlay_mtu,
)
from overlaynet.drivers import registry
from overlaynet.drivers.fake import FakeDriver
from overlaynet.errors import DriverOptionError, UnknownDriver
from overlaynet.model import Cluster
from overlaynet.network.overhead import all_modes, compare_overhead, parse_modes
from overlaynet.topology import load

DEMO = Path(__file__).resolve().parents[2] / "topologies" / "demo.yaml"


@pytest.fixture(scope="module")
def demo() -> Cluster:
    return load([str(DEMO)]).cluster


@pytest.fixture(scope="module")
def flannel(demo: Cluster) -> OverheadReport:
    return compare_overhead(demo, modes=parse_modes("flannel"), payloads=parse_payloads("64,1400,imix"), message=100_000)


def by_mode(report: OverheadReport, label: str) -> Any:
    return next(m for m in report.modes if m.mode.label == label)


# --- parsing and arithmetic -------------------------------------------------------------
def test_parse_modes_all_is_every_registered_mode() -> None:
    labels = [m.label for m in parse_modes("all")]
    assert {"flannel:vxlan", "flannel:host-gw", "flannel:udp", "calico:ipip", "calico:none"} <= set(labels)
    assert labels == [m.label for m in all_modes()]


def test_parse_modes_driver_alone_and_errors() -> None:
    assert [m.label for m in parse_modes("flannel")] == ["flannel:vxlan", "flannel:host-gw", "flannel:udp"]
    assert parse_modes("flannel:udp")[0].options == {"backend": "udp"}
    with pytest.raises(UnknownDriver, match="known drivers"):
        parse_modes("nosuch:vxlan")
    with pytest.raises(DriverOptionError, match="known modes: vxlan, host-gw, udp"):
        parse_modes("flannel:geneve")


def test_a_driver_registered_later_joins_without_changes() -> None:
    class TwoModes(FakeDriver):
        name: ClassVar[str] = "later"

        @classmethod
        def modes(cls) -> dict[str, dict[str, Any]]:
            return {"a": {}, "b": {}}

    registry.register("later", TwoModes)
    try:
        assert [m.label for m in all_modes() if m.driver == "later"] == ["later:a", "later:b"]
        assert [m.label for m in parse_modes("later")] == ["later:a", "later:b"]
    finally:
        registry.unregister("later")


def test_parse_payloads() -> None:
    p = parse_payloads("64, 1400,IMIX")
    assert [x.label for x in p] == ["64", "1400", "imix"]
    assert p[2].sizes == IMIX and p[2].ip_sizes
    for bad in ("", "abc", "0", "70000"):
        with pytest.raises(ValueError):
            parse_payloads(bad)


def test_segment_sizes_cut_at_the_mss() -> None:
    assert segment_sizes(1_000_000, 1460) == [(1460, 684), (1360, 1)]
    assert segment_sizes(1460, 1460) == [(1460, 1)]
    assert segment_sizes(0, 1460) == []


def test_costs_sum_segments() -> None:
    wire = lambda payload: payload + 40 + 14 + 50  # noqa: E731 - a VXLAN-like frame
    msg = message_cost(3000, 1410, wire)
    assert (msg.packets, msg.underlay_bytes) == (3, 3000 + 3 * 104)
    assert msg.overhead_percent == pytest.approx(100 * 312 / 3000)
    imix = payload_cost(Payload("imix", IMIX, ip_sizes=True), 1410, 40, wire)
    # 7 × 24 + 4 × 536 + 1 × 1460 (two segments at MSS 1410) application bytes
    assert imix.app_bytes == 7 * 24 + 4 * 536 + 1460
    assert imix.packets == 7 + 4 + 2
    assert imix.wire_bytes == imix.app_bytes + imix.packets * 104


# --- frames --------------------------------------------------------------------------------
def test_split_frame_reads_layers_off_a_scapy_frame() -> None:
    from scapy.layers.inet import IP, TCP, UDP
    from scapy.layers.l2 import Ether
    from scapy.layers.vxlan import VXLAN

    inner = IP(src="10.0.0.1", dst="10.0.0.2") / TCP() / (b"x" * 100)
    frame = Ether() / IP(src="1.1.1.1", dst="2.2.2.2") / UDP(dport=8472) / VXLAN(vni=1) / Ether() / inner
    layers, inner_len = split_frame(frame, 1)
    assert layers == (("outer Ethernet", 14), ("outer IPv4", 20), ("UDP", 8), ("VXLAN", 8), ("inner Ethernet", 14))
    assert inner_len == len(inner) == 140
    plain, size = split_frame(Ether() / inner, 0)
    assert plain == (("Ethernet", 14),) and size == 140


# --- the measurement on the demo topology ------------------------------------------------
def test_flannel_vxlan_from_frames(flannel: OverheadReport) -> None:
    m = by_mode(flannel, "flannel:vxlan")
    assert m.ok and m.frames_agree, m.frame_mismatch
    assert m.encapsulation == "vxlan" and "VNI 1" in m.tunnel and "UDP 8472" in m.tunnel
    assert [b for _, b in m.layers] == [14, 20, 8, 8, 14]
    assert m.overhead_bytes == 50 and m.frame_growth == 50
    assert (m.underlay_mtu, m.pod_mtu, m.driver_pod_mtu, m.mss) == (1500, 1450, 1450, 1410)
    assert (m.max_packet, m.max_payload) == (1450, 1410)
    assert "FRAG_NEEDED" in m.limit and "MTU 1450" in m.limit
    assert m.pair_note == "pods on different segments"
    assert m.same_node_encapsulated is False and "no encapsulation" in m.same_node
    eff = {p.label: p for p in m.payloads}
    assert eff["64"].wire_bytes == 64 + 40 + 14 + 50  # payload + TCP/IP + Ethernet + VXLAN
    assert eff["1400"].efficiency == pytest.approx(1400 / 1504)
    assert m.message is not None and m.message.mss == 1410 and m.message.packets == 71


def test_flannel_vxlan_misconfigured_pod_mtu(flannel: OverheadReport) -> None:
    m = by_mode(flannel, "flannel:vxlan")
    pod_only, both = m.misconfig
    assert pod_only.df_disposition == "FRAG_NEEDED" and pod_only.df_mtu == 1450 and "flannel.1" in pod_only.df_detail
    assert pod_only.nodf_disposition == "DELIVERED" and pod_only.nodf_fragments == 2
    # pod and tunnel at 1500: the VXLAN outer packet (DF unset) is fragmented on the underlay
    assert both.nodf_fragments == 2 and "outer packet" in both.nodf_detail and "eth0" in both.nodf_detail


def test_host_gw_uses_a_same_segment_pair(flannel: OverheadReport) -> None:
    m = by_mode(flannel, "flannel:host-gw")
    assert m.ok and m.encapsulation is None and m.overhead_bytes == 0 and m.frame_growth == 0
    assert m.pair_note.startswith("same-segment pair") and "L2 adjacency" in m.pair_note
    assert (m.pod_mtu, m.mss, m.max_packet) == (1500, 1460, 1500)
    assert m.misconfig == ()


def test_flannel_udp(flannel: OverheadReport) -> None:
    m = by_mode(flannel, "flannel:udp")
    assert m.encapsulation == "udp" and m.overhead_bytes == 28 and [b for _, b in m.layers] == [14, 20, 8]
    assert (m.pod_mtu, m.max_packet) == (1472, 1472)


def test_host_gw_without_a_same_segment_pair_is_not_applicable(demo: Cluster) -> None:
    from dataclasses import replace
    from ipaddress import ip_address, ip_network

    from overlaynet.model import FrozenDict, Segment

    # node-2 on a third rack: every pod pair on different nodes is on different segments
    u = demo.underlay
    router = u.routers[0]
    underlay = replace(u, segments=(*u.segments, Segment("rack-c", ip_network("192.168.30.0/24"))),
                       routers=(replace(router, interfaces=FrozenDict({**router.interfaces,
                                                                       "rack-c": ip_address("192.168.30.1")})),))
    nodes = tuple(replace(n, segment="rack-c", ip=ip_address("192.168.30.12")) if n.name == "node-2" else n
                  for n in demo.nodes)
    apart = replace(demo, nodes=nodes, underlay=underlay)
    cross, local = candidate_pairs(apart)
    assert cross is not None and local is None
    r = compare_overhead(apart, modes=parse_modes("flannel:host-gw"), payloads=parse_payloads("64"), message=1000)
    m = r.modes[0]
    assert m.status == "not applicable" and "L2 adjacency" in m.reason


def test_jumbo_underlay(demo: Cluster) -> None:
    r = compare_overhead(demo, modes=parse_modes("flannel:vxlan"), payloads=parse_payloads("8000"),
                         message=10_000, underlay_mtu=9000, misconfig=False)
    m = r.modes[0]
    assert (m.underlay_mtu, m.pod_mtu, m.mss, m.max_packet) == (9000, 8950, 8910, 8950)
    assert r.underlay == "IPv4, MTU 9000"


def test_ipv6_underlay(demo: Cluster) -> None:
    v6 = with_ipv6_underlay(demo)
    assert all(s.cidr.version == 6 for s in v6.underlay.segments)
    assert str(v6.node("node-1").ip) == "fd00:0:0:1::b"
    assert {str(ip) for ip in v6.underlay.routers[0].interfaces.values()} == {"fd00:0:0:1::1", "fd00:0:0:2::1"}
    r = compare_overhead(demo, modes=parse_modes("flannel:vxlan,calico:vxlan"), payloads=parse_payloads("64"),
                         message=1000, ipv6_underlay=True, misconfig=False)
    fl, ca = r.modes
    assert fl.status == "unsupported" and "IPv4 PublicIP" in fl.reason
    assert ca.status == "unsupported" and "IPv4 pools" in ca.reason


def test_with_driver_keeps_own_options_only_for_the_same_driver(demo: Cluster) -> None:
    assert dict(with_driver(demo, "flannel", {"backend": "udp"}).network.options) == {"backend": "udp"}
    assert dict(with_driver(demo, "calico", {"encapsulation": "none"}).network.options) == {"encapsulation": "none"}
    assert with_underlay_mtu(demo, 9000).segment("rack-a").mtu == 9000


def test_report_to_dict(flannel: OverheadReport) -> None:
    d = flannel.to_dict()
    assert d["payloads"] == ["64", "1400", "imix"] and d["message_bytes"] == 100_000
    vx = next(m for m in d["modes"] if m["mode"] == "flannel:vxlan")
    assert vx["layers"][3] == {"layer": "VXLAN", "bytes": 8}
    assert vx["misconfigured_mtu"][0]["df"]["disposition"] == "FRAG_NEEDED"
    assert {p["payload"] for p in vx["payloads"]} == {"64", "1400", "imix"}


def test_mode_equality_ignores_options() -> None:
    assert Mode("flannel", "vxlan", {"backend": "vxlan"}) == Mode("flannel", "vxlan")


def test_docstring_examples_run() -> None:
    import doctest

    import overlaynet.analysis.overhead as module
    import overlaynet.network.overhead as composed

    for mod, examples in ((module, 2), (composed, 1)):
        result = doctest.testmod(mod)
        assert result.attempted >= examples and result.failed == 0, mod.__name__


@pytest.fixture(scope="module")
def vxlan_probe(demo: Cluster) -> Any:
    from overlaynet.analysis.overhead_mode import Prober, choose_pair
    from overlaynet.network import assemble

    network = assemble(with_driver(demo, "flannel", {"backend": "vxlan"}))
    pair, _, _ = choose_pair(network, 0)
    assert pair is not None
    return Prober(network, pair)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.integers(min_value=1, max_value=1410))
def test_wire_bytes_grow_one_for_one_with_the_payload(vxlan_probe: Any, payload: int) -> None:
    """Any payload up to the MSS: one frame of payload + TCP/IP 40 + Ethernet 14 + VXLAN 50."""
    view = vxlan_probe.view(payload + 40)
    assert view.frames == 1 and not view.mismatch
    assert view.frame_bytes == payload + 40 + 14 + 50
