"""pcap output decoded by the real tshark: every frame of every pcap these tests write
decodes (no malformed packets), VXLAN frames show the inner TCP/UDP/ICMP header, and the
underlay frame length equals the tracer's ``wire_bytes``."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from overlaynet.cli.trace import demo_request, demo_topology
from overlaynet.network import Network, assemble
from overlaynet.network.request import run
from overlaynet.topology import load
from overlaynet.trace.model import Trace
from overlaynet.trace.pcap import write_pcap
from overlaynet.trace.steps import EncapStep, FragmentStep

pytestmark = pytest.mark.tshark


@pytest.fixture(scope="module")
def demo() -> Network:
    return assemble(load([demo_topology()]).cluster)


def tshark(path: Path) -> list[tuple[int, str, str]]:
    """(frame length, protocols, expert severity) of every frame, as tshark decodes them."""
    out = subprocess.run(
        ["tshark", "-r", str(path), "-d", "udp.port==8472,vxlan", "-T", "fields", "-e", "frame.len", "-e", "frame.protocols", "-e", "_ws.expert.severity"],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout
    rows = []
    for line in out.splitlines():
        length, protocols, *rest = line.split("\t")
        rows.append((int(length), protocols, rest[0] if rest else ""))
    return rows


def check(t: Trace, path: Path, l4: str) -> list[tuple[int, str, str]]:
    written = write_pcap(path, [t])
    rows = tshark(path)
    assert len(rows) == written > 0
    for _length, protocols, _ in rows:
        assert "malformed" not in protocols and "_ws.malformed" not in protocols
    vx = [r for r in rows if ":vxlan:" in r[1]]
    for _, protocols, _ in vx:
        assert protocols.endswith(l4) or f":{l4}" in protocols.split("vxlan")[1]
    return rows


@pytest.mark.parametrize(("proto", "l4"), [("tcp", "tcp"), ("udp", "udp"), ("icmp", "icmp")])
def test_demo_pcap_decodes_with_inner_headers(demo: Network, tmp_path: Path, proto: str, l4: str) -> None:
    t = run(demo, demo_request(demo, proto=proto, size=300)).forward.trace
    rows = check(t, tmp_path / "demo.pcap", l4)
    encap = t.steps(EncapStep)[0]
    vx = [r for r in rows if ":vxlan:" in r[1]]
    assert len(vx) == 2  # rack-a and rack-b
    assert {r[0] for r in vx} == {encap.wire_bytes}
    plain = [r for r in rows if ":vxlan:" not in r[1]]
    assert {r[0] for r in plain} == {t.packet.size + 14}


def test_fragmented_outer_packets_decode(tmp_path: Path) -> None:
    from dataclasses import replace

    cluster = load([demo_topology()]).cluster
    segs = tuple(replace(s, mtu=1400) if s.name == "rack-b" else s for s in cluster.underlay.segments)
    net = assemble(replace(cluster, underlay=replace(cluster.underlay, segments=segs)))
    t = run(net, demo_request(net, size=1450, proto="udp")).forward.trace
    assert any(s.outer for s in t.steps(FragmentStep))
    rows = check(t, tmp_path / "frag.pcap", "udp")
    assert max(r[0] for r in rows) <= 1514


def test_cli_pcap_option_writes_a_decodable_file(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from overlaynet.cli import main

    out = tmp_path / "cli.pcap"
    res = CliRunner().invoke(main, ["demo", "--pcap", str(out), "--reply"])
    assert res.exit_code == 0, res.output
    rows = tshark(out)
    assert sum(1 for r in rows if ":vxlan:" in r[1]) == 4  # two segments each way


def test_inner_fragments_travel_in_tunnel_packets_of_their_own(demo: Network, tmp_path: Path) -> None:
    # 4000 bytes without DF: the pod cuts it to MTU 1450 and flannel.1 encapsulates each
    # fragment, as the kernel does: 1508, 1508 and 1216-byte VXLAN frames on each rack, no
    # outer fragment (before, the pcap held fragments of a 4050-byte VXLAN packet)
    t = run(demo, demo_request(demo, proto="icmp", size=4000)).forward.trace
    path = tmp_path / "inner.pcap"
    assert write_pcap(path, [t]) == sum(len(w.frame_sizes()) for w in t.wires)
    rows = tshark(path)
    assert not [r for r in rows if "malformed" in r[1]]
    vx = [r for r in rows if ":vxlan:eth:ethertype:ip:" in r[1]]
    assert [r[0] for r in vx] == [1508, 1508, 1216] * 2
    # tshark puts the inner fragments back together: the last one shows the echo
    assert [":icmp" in r[1] for r in vx] == [False, False, True] * 2
    assert all(":vxlan:" in r[1] for r in rows if r[0] > 1458)


@pytest.mark.parametrize(("rack_b_mtu", "size"), [(1500, 4000), (1400, 4000), (1400, 1450), (1500, 84)])
def test_every_written_frame_has_the_length_the_tracer_computes(rack_b_mtu: int, size: int) -> None:
    from dataclasses import replace

    from overlaynet.trace.pcap import frames

    cluster = load([demo_topology()]).cluster
    segs = tuple(replace(s, mtu=rack_b_mtu) if s.name == "rack-b" else s for s in cluster.underlay.segments)
    net = assemble(replace(cluster, underlay=replace(cluster.underlay, segments=segs)))
    t = run(net, demo_request(net, proto="icmp", size=size)).forward.trace
    assert t.wires
    for wire in t.wires:
        assert tuple(len(f) for f in frames(wire)) == wire.frame_sizes(), wire.link
