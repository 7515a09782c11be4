"""The issue's kernel cross-check: Flannel topologies materialized and probed, every answer
compared with the tracer's (reach, reply TTL, underlay frame sizes, Frag needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from overlaynet.dataplane.ir import Dataplane, NsRef
from overlaynet.errors import MaterializeError
from overlaynet.materialize import list_namespaces, materialize
from overlaynet.materialize.naming import run_prefix
from overlaynet.materialize.verify import VerifyReport, verify
from overlaynet.network import Network, assemble
from overlaynet.topology import load_cluster

pytestmark = [pytest.mark.root, pytest.mark.tshark]

TOPOLOGIES = Path(__file__).parent / "topologies"


def _network(name: str) -> Network:
    return assemble(load_cluster([TOPOLOGIES / name]))


def _by(report: VerifyReport, check: str) -> list[Any]:
    return [c for c in report.comparisons if c.check == check]


def test_flannel_vxlan_three_nodes_two_racks_agrees_with_the_kernel(run_id: str) -> None:
    network = _network("flannel-vxlan-3node.yaml")
    node_of = {p.key: p.node for p in network.cluster.pods}
    report = verify(network, run_id=run_id)
    assert report.disagreements == [], "\n".join(map(str, report.disagreements))
    # 3 nodes, 6 pods and the 2 CoreDNS pods every cluster has, core, 2 racks
    assert report.ok and report.pairs == 56 and report.namespaces == 14
    # every pair is delivered by the tracer and answered by the kernel
    assert [c.kernel for c in _by(report, "reach")] == ["reply"] * 56
    # TTL: 64 on the same node (cni0 bridges), 62 across nodes (both hosts route; `core`
    # routes only the outer packet)
    ttls = {(c.src, c.dst): int(c.kernel) for c in _by(report, "ttl")}
    assert len(ttls) == 56
    assert all(ttl == (64 if node_of[a] == node_of[b] else 62) for (a, b), ttl in ttls.items())
    # the underlay shows each cross-node echo and reply as a VXLAN frame of 84 + 64 bytes
    wire = _by(report, "wire_bytes")
    def want(a: str, b: str) -> str:  # one frame per segment crossed: twice between racks, through `core`
        nodes = {node_of[a], node_of[b]}
        return "no frame" if len(nodes) == 1 else "2×148" if "node-3" in nodes else "148"

    assert wire and [c.kernel for c in wire] == [want(c.src, c.dst) for c in wire]
    assert all(c.detail.endswith("vxlan wire_bytes") for c in wire if c.kernel != "no frame")
    # DF one byte above the tracer's path MTU: refused with the path's MTU, 8950 between
    # pods of rack-b's node-3 (9000 − 50), 1450 on every path that touches rack-a (1500 − 50)
    frag = _by(report, "frag_needed")
    assert len(frag) == 56 and len(_by(report, "fits")) == 56
    mtus = {(c.src, c.dst): c.kernel.split()[2] for c in frag}
    wrong = {k: m for k, m in mtus.items() if m != ("8950" if node_of[k[0]] == node_of[k[1]] == "node-3" else "1450")}
    assert wrong == {}, wrong
    assert list_namespaces(run_prefix(run_id)) == []


def test_flannel_host_gw_on_one_segment_agrees_with_the_kernel(run_id: str) -> None:
    network = _network("flannel-hostgw-1segment.yaml")
    node_of = {p.key: p.node for p in network.cluster.pods}
    report = verify(network, run_id=run_id)
    assert report.disagreements == [], "\n".join(map(str, report.disagreements))
    assert report.ok and report.pairs == 20  # 3 pods and 2 CoreDNS pods
    across = [c for c in _by(report, "ttl") if node_of[c.src] != node_of[c.dst]]
    assert across and {c.kernel for c in across} == {"62"}
    # no encapsulation: the plain frame, 84 + 14 bytes of Ethernet
    assert {(c.kernel, c.detail.split(": ")[1]) for c in _by(report, "wire_bytes")
            if node_of[c.src] != node_of[c.dst]} == {("98", "underlay frame_bytes")}
    assert {c.kernel for c in _by(report, "frag_needed")} == {"frag_needed mtu 1500 (local)"}


class _Sabotaged:
    """A network whose dataplane loses node-2's route to node-1's pods after the tracer has
    answered, so the kernel must disagree: verify has to be able to say no."""

    def __init__(self, network: Network) -> None:
        self.cluster = network.cluster
        self.dataplane = network.dataplane
        self._network = network

    def build_all(self) -> Dataplane:
        dp = self._network.build_all()
        node1 = next(n for n in self.cluster.nodes if n.name == "node-1")
        ns = dp.namespaces[NsRef("node-2")]
        ns.routes = [r for r in ns.routes if r.dst != node1.pod_cidr]
        ns.cache.clear()
        return dp


def test_verify_reports_a_kernel_that_disagrees(run_id: str) -> None:
    network = _network("flannel-hostgw-1segment.yaml")
    report = verify(_Sabotaged(network), [("default/a1", "default/b1"), ("default/a1", "default/c1")],
                    run_id=run_id, capture=False, mtu=False, timeout=0.5)
    assert not report.ok
    [diff] = report.disagreements
    assert (diff.check, diff.src, diff.dst, diff.tracer) == ("reach", "default/a1", "default/b1", "DELIVERED, reply DELIVERED")
    assert diff.kernel.startswith(("timeout", "unreachable"))
    assert list_namespaces(run_prefix(run_id)) == []


def test_a_failure_in_the_last_phase_leaves_nothing_behind(run_id: str, monkeypatch: pytest.MonkeyPatch) -> None:
    network = _network("flannel-hostgw-1segment.yaml")
    dp = network.build_all()
    assert not dp.namespaces[NsRef("node-2")].netfilter.is_empty()  # kube-proxy and flannel rules
    import overlaynet.dataplane.netfilter as netfilter

    monkeypatch.setattr(netfilter, "render_save", lambda ruleset, **_: "*filter\n-A NOSUCHCHAIN -j ACCEPT\nCOMMIT\n")
    hosts = [n.name for n in network.cluster.nodes]
    with pytest.raises(MaterializeError, match=f"onet-{run_id}-node-1: netfilter ruleset: iptables-restore refused it"):
        materialize(dp, hosts=hosts, run_id=run_id)
    assert list_namespaces(run_prefix(run_id)) == []


def test_unknown_pairs_are_refused_before_anything_is_created(run_id: str) -> None:
    with pytest.raises(MaterializeError, match="pod 'default/zz'"):
        verify(_network("flannel-hostgw-1segment.yaml"), [("default/a1", "default/zz")], run_id=run_id)
    assert list_namespaces(run_prefix(run_id)) == []


def test_flannel_udp_paths_are_not_comparable(run_id: str, tmp_path: Path) -> None:
    # flannel's udp backend forwards through a userspace daemon the kernel cannot run: the
    # pairs it carries are reported as not comparable, not as agreeing or disagreeing
    text = (TOPOLOGIES / "flannel-hostgw-1segment.yaml").read_text().replace("backend: host-gw", "backend: udp")
    (tmp_path / "udp.yaml").write_text(text)
    network = assemble(load_cluster([tmp_path / "udp.yaml"]))
    report = verify(network, [("default/a1", "default/b1")], run_id=run_id, capture=False)
    [reach] = report.comparisons
    assert (reach.check, reach.agree, reach.tracer) == ("reach", None, "DELIVERED, reply DELIVERED")
    assert "flannel0" in reach.detail and not report.ok and report.compared == 0
    assert any(s.object == "tun flannel0" for s in report.skipped)


SHIPPED = Path(__file__).parents[2] / "topologies"


def test_a_4000_byte_echo_on_the_demo_agrees_frame_by_frame(run_id: str) -> None:
    # issue 13: 4000 bytes without DF leave the pod in fragments of 1444, 1444 and 1152
    # bytes; flannel.1 wraps each in a VXLAN packet of its own (1508, 1508, 1216-byte
    # frames), which nothing fragments again; the tracer used to fragment one 4050-byte
    # VXLAN packet instead (32 disagreements)
    network = assemble(load_cluster([SHIPPED / "demo.yaml"]))
    node_of = {p.key: p.node for p in network.cluster.pods}
    report = verify(network, run_id=run_id, size=4000, mtu=False)
    assert report.disagreements == [], "\n".join(map(str, report.disagreements))
    assert report.ok and report.pairs == 42  # 5 pods and the 2 CoreDNS pods
    racks = {"node-1": "a", "node-2": "a", "node-3": "b"}
    for c in _by(report, "wire_bytes"):
        a, b = node_of[c.src], node_of[c.dst]
        want = "no frame" if a == b else "2×1508, 1216" if racks[a] == racks[b] else "4×1508, 2×1216"
        assert (c.tracer, c.kernel) == (want, want), c


def test_echo_frames_follow_fragments_into_and_out_of_tunnels() -> None:
    from overlaynet.materialize.probe import DecodedFrame
    from overlaynet.materialize.verify import echo_frames

    def frame(length: int, outer: tuple[str, str, int, int], inner: tuple[str, str, int, int] | None,
              proto: str = "icmp", icmp: int | None = None) -> DecodedFrame:
        src, dst, ident, offset = inner or outer
        return DecodedFrame(length, 0, outer[0], outer[1], None, None, src, dst, 0, proto, outer[2], outer[3],
                            ident, offset, icmp)

    tunnel = ("192.168.10.11", "192.168.20.13")
    frames = [
        frame(1508, (*tunnel, 7, 0), ("10.244.0.2", "10.244.2.3", 1, 0), icmp=8),  # first inner fragment
        frame(1508, (*tunnel, 8, 0), ("10.244.0.2", "10.244.2.3", 1, 178)),  # a later inner fragment
        frame(1410, (*tunnel, 9, 0), ("10.244.0.2", "10.244.2.3", 1, 356)),  # ... whose tunnel packet is cut
        frame(132, (*tunnel, 9, 172), None, proto="udp"),  # the tunnel packet's later fragment
        frame(98, ("10.244.2.3", "10.244.0.2", 5, 0), None, icmp=0),  # a plain echo reply
        frame(98, ("10.244.2.3", "10.244.0.2", 6, 0), None, icmp=3),  # not an echo
        frame(60, (*tunnel, 10, 172), None, proto="udp"),  # nobody's fragment
    ]
    assert echo_frames(frames) == {("10.244.0.2", "10.244.2.3", 8): [1508, 1508, 1410, 132],
                                   ("10.244.2.3", "10.244.0.2", 0): [98]}


def test_the_summary_counts_what_was_not_compared_and_calls_only_the_rest_agreement() -> None:
    from overlaynet.materialize.verify import Comparison

    def report(*agree: bool | None) -> VerifyReport:
        rows = tuple(Comparison("reach", "default/a", "default/b", "DELIVERED", "reply", a) for a in agree)
        return VerifyReport("r1", 5, 2, rows, seconds=1.0)

    mixed = report(True, True, None, None)
    assert mixed.summary() == ("2 pairs: 2 compared, 2 agree, 0 disagree, 2 not compared in 1.0s (run r1): "
                               "tracer and kernel agree on the 2 compared; 2 could not be compared (n/a)")
    assert mixed.ok and mixed.to_dict()["not_compared"] == 2
    assert report(True, True).summary().endswith("0 not compared in 1.0s (run r1): tracer and kernel agree")
    assert report(None).summary().endswith("1 not compared in 1.0s (run r1): nothing could be compared")
    assert report(True, False, None).summary().endswith("1 disagree, 1 not compared in 1.0s (run r1): tracer and kernel DISAGREE")


def test_a_container_on_two_networks_sends_from_the_address_its_route_gives(run_id: str) -> None:
    # api-1 is on `front` (10.1.0.0/24, its first address) and `back`; db only on `back`.
    # The kernel pings db from api-1's `back` address, so the tracer must too: from the
    # first address the reply had no route back (a disagreement on the shipped example)
    network = assemble(load_cluster([SHIPPED / "docker-plain.yaml"]))
    report = verify(network, [("default/api-1", "default/db")], run_id=run_id, mtu=False)
    assert report.disagreements == [], "\n".join(map(str, report.disagreements))
    [reach] = _by(report, "reach")
    assert (reach.tracer, reach.kernel, reach.agree) == ("DELIVERED, reply DELIVERED", "reply", True)
    [wire] = [c for c in _by(report, "wire_bytes") if c.detail.startswith("request")]
    assert wire.agree and wire.kernel == "148"  # the echo, found by the addresses really sent
