"""Kernel agreement of the overhead figures: for every mode of every registered driver that
the materializer can build here, the demo topology is materialized in namespaces
(``onet-ov<hex>-…``), real pings of several sizes and a TCP connection run between pods on
different nodes, the underlay is captured, and every captured frame's size must equal the
tracer's ``wire_bytes`` (the scapy frame of its underlay wire) for the same packet.

Modes the kernel here cannot carry are skipped with the materializer's own reason (IP-in-IP:
no ``ipip`` link type in this kernel; flannel udp: the userspace forwarder is not run; Docker
encrypted: a kernel without the rfc4106(gcm(aes)) AEAD refuses the SA).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from overlaynet.analysis.overhead import Mode
from overlaynet.analysis.overhead_frames import underlay_view
from overlaynet.analysis.overhead_mode import choose_pair
from overlaynet.analysis.overhead_topology import PodPair, with_driver
from overlaynet.dataplane.ir import NsRef
from overlaynet.dataplane.netfilter import NetfilterState
from overlaynet.dataplane.packet import Packet
from overlaynet.materialize import Materialized, materialize, remove_run
from overlaynet.materialize.probe import Capture, DecodedFrame, ping_many, tcp_connect
from overlaynet.network import Network, assemble
from overlaynet.network.overhead import all_modes
from overlaynet.topology import load
from overlaynet.trace.steps import EncapStep

pytestmark = [pytest.mark.root, pytest.mark.tshark]

DEMO = Path(__file__).resolve().parents[2] / "topologies" / "demo.yaml"
TCP_PORT = 8080


def _network(mode: Mode) -> Network:
    return assemble(with_driver(load([str(DEMO)]).cluster, mode.driver, mode.options))


@pytest.fixture
def ov_run() -> Iterator[str]:
    rid = "ov" + secrets.token_hex(3)
    try:
        yield rid
    finally:
        remove_run(rid)  # also after a failure; materialize() itself cleans up a failed apply


def _pod_ns(pod: Any) -> NsRef:
    return NsRef.of_pod(pod)


class TracerSizes:
    """The tracer's underlay frame size for a packet between the pair, by direction, protocol
    and IP size (a reply is traced as the reply of its request, with conntrack)."""

    def __init__(self, network: Network, pair: PodPair) -> None:
        self.network = network
        self.pair = pair
        self.cache: dict[tuple[bool, str, int], int | None] = {}

    def wire_bytes(self, forward: bool, proto: str, size: int) -> int | None:
        from overlaynet.trace import trace

        key = (forward, proto, size)
        if key not in self.cache:
            a, b = self.pair.src, self.pair.dst
            icmp = proto == "icmp"
            request = Packet(a.ip, b.ip, "icmp" if icmp else "tcp", None if icmp else 40000,  # type: ignore[arg-type]
                             None if icmp else TCP_PORT, size, icmp_type=8 if icmp else None)
            state = NetfilterState()
            t = trace(self.network, request, _pod_ns(a), state=state).trace
            if not forward:
                t = trace(self.network, request.reversed(), _pod_ns(b), state=state).trace
            view = underlay_view(t) if t.success else None
            assert view is None or not view.mismatch, view.mismatch
            self.cache[key] = view.frame_bytes if view is not None else None
        return self.cache[key]


def _skipped(m: Materialized) -> list[str]:
    """The devices the materializer could not create (the first reason per device kind)."""
    out: dict[str, str] = {}
    for s in m.skipped:
        kind = s.object.split()[0]
        if kind in ("ipip", "tun", "vxlan", "veth", "bridge", "userspace", "xfrm") and kind not in out:
            out[kind] = f"{s.object} on {s.namespace}: {s.reason}"
    return list(out.values())


def _tunnel_port(network: Network, pair: PodPair) -> int:
    from overlaynet.trace import trace

    a, b = pair.src, pair.dst
    t = trace(network, Packet(a.ip, b.ip, "icmp", size=84, icmp_type=8), _pod_ns(a)).trace  # type: ignore[arg-type]
    enc = next(iter(t.steps(EncapStep)), None)
    return getattr(enc, "outer_dport", None) or 4789


@pytest.mark.parametrize("mode", all_modes(), ids=lambda m: m.label)
def test_captured_frames_equal_the_tracers_wire_bytes(mode: Mode, ov_run: str) -> None:
    network = _network(mode)
    hosts = [n.name for n in network.cluster.nodes] + [r.name for r in network.cluster.underlay.routers]
    network.build_all()
    with materialize(network.dataplane, hosts=hosts, run_id=ov_run) as m:
        missing = _skipped(m)  # ask the materializer what this kernel could not build
        if missing:
            pytest.skip(f"{mode.label}: the kernel here cannot carry this mode: {'; '.join(missing)}")
        try:
            pair, note, why = choose_pair(network, 0)
            port = _tunnel_port(network, pair) if pair is not None else 0
        except KeyError as exc:  # a defect below the analysis (see the report)
            pytest.skip(f"{mode.label}: the tracer cannot trace this mode yet ({type(exc).__name__}: {exc})")
        if pair is None:
            pytest.skip(f"{mode.label}: no pod pair crosses in this topology: {why}")
        segments = sorted({network.cluster.node(str(p.node)).segment for p in (pair.src, pair.dst)})
        pod_mtu = network.dataplane.namespace(_pod_ns(pair.src)).interfaces["eth0"].mtu
        sizes = [84, 1000, pod_mtu]
        cap = Capture(m, segments)
        try:
            with cap:
                results = ping_many(m, _pod_ns(pair.src), [(str(pair.dst.ip), s, True) for s in sizes])
                tcp = tcp_connect(m, _pod_ns(pair.src), str(pair.dst.ip), TCP_PORT, listen_in=_pod_ns(pair.dst))
            frames = cap.decoded(port=port)
        finally:
            cap.close()
    assert [r.status for r in results] == ["reply"] * len(sizes), [r.message or r.status for r in results]
    assert tcp.connected, tcp.message
    _compare(network, pair, frames, sizes, note)


def _compare(network: Network, pair: PodPair, frames: list[DecodedFrame], sizes: list[int], note: str) -> None:
    sizes_of = TracerSizes(network, pair)
    a, b = str(pair.src.ip), str(pair.dst.ip)
    checked: list[tuple[str, int, int]] = []
    for f in frames:
        if {f.inner_src, f.inner_dst} != {a, b} or f.inner_proto not in ("icmp", "tcp"):
            continue
        forward = f.inner_src == a
        expected = sizes_of.wire_bytes(forward, f.inner_proto, f.inner_ip_len)
        what = f"{f.inner_proto} {f.inner_src} → {f.inner_dst}, IP {f.inner_ip_len} bytes"
        assert expected is not None, f"{what}: the kernel carried it, the tracer does not deliver it"
        assert f.frame_len == expected, f"{what}: captured frame {f.frame_len} bytes, tracer wire_bytes {expected} ({note})"
        checked.append((f.inner_proto, f.inner_ip_len, f.frame_len))
    # every echo request and reply of every size, and the TCP handshake, were seen and compared
    for size in sizes:
        assert sum(1 for p, n, _ in checked if p == "icmp" and n == size) >= 2, (size, checked)
    assert sum(1 for p, _, _ in checked if p == "tcp") >= 3, checked
