"""End to end: topology → assemble (flannel, fake) → trace, on the packaged demo and on
clusters built in code (smaller MTU racks, host-gw across segments, the udp backend)."""

from __future__ import annotations

from dataclasses import replace
from ipaddress import ip_address, ip_network
from pathlib import Path

import pytest

from overlaynet.cli.trace import demo_request, demo_topology
from overlaynet.dataplane.ir import NsRef
from overlaynet.model import Cluster, FrozenDict, NetworkSpec, Node, Pod, Router, Segment, Underlay
from overlaynet.network import Network, assemble
from overlaynet.network.request import TraceRequest, run
from overlaynet.topology import load
from overlaynet.trace import Disposition
from overlaynet.trace.encap import fragment_sizes
from overlaynet.trace.model import Trace
from overlaynet.trace.steps import (
    BridgeStep,
    DecapStep,
    DnatStep,
    DropStep,
    EncapStep,
    ForwardStep,
    FragmentStep,
    PolicyStep,
    RouteStep,
    SnatStep,
    UnderlayStep,
    WarningStep,
)

A = ip_address


def cluster(backend: str = "vxlan", rack_b_mtu: int = 1500, driver: str = "flannel", options: dict[str, object] | None = None) -> Cluster:
    if options is None:
        options = {"backend": backend} if driver == "flannel" else {}
    return Cluster(
        pod_cidrs=(ip_network("10.244.0.0/16"),),
        underlay=Underlay(
            segments=(Segment("rack-a", ip_network("192.168.10.0/24")), Segment("rack-b", ip_network("192.168.20.0/24"), rack_b_mtu)),
            routers=(Router("core", FrozenDict({"rack-a": A("192.168.10.1"), "rack-b": A("192.168.20.1")})),),
        ),
        nodes=(Node("node-1", A("192.168.10.11"), "rack-a"), Node("node-2", A("192.168.10.12"), "rack-a"), Node("node-3", A("192.168.20.13"), "rack-b")),
        pods=(Pod("a", node="node-1"), Pod("b", node="node-1"), Pod("c", node="node-2"), Pod("d", node="node-3")),
        network=NetworkSpec(driver, FrozenDict(options)),
    )


@pytest.fixture(scope="module")
def demo() -> Network:
    return assemble(load([demo_topology()]).cluster)


def test_demo_crosses_racks_with_vxlan(demo: Network) -> None:
    report = run(demo, demo_request(demo))
    t = report.forward.trace
    assert t.disposition is Disposition.DELIVERED
    kinds = [s.kind for s in t.steps()]
    for kind in ("route", "bridge", "encap", "underlay", "decap", "deliver"):
        assert kind in kinds
    encap = t.steps(EncapStep)[0]
    assert (encap.encapsulation, encap.dev, encap.vni, encap.outer_dport, encap.overhead_bytes) == ("vxlan", "flannel.1", 1, 8472, 50)
    assert 32768 <= encap.outer_sport <= 60999  # type: ignore[operator]
    assert encap.wire_bytes == t.packet.size + 64
    assert "core" in [h.host for h in t.hops]
    assert any(s.bridge == "cni0" for s in t.steps(BridgeStep))
    # the receiving pod sees the TTL after three routed hops: node-1, core forwards only the outer, node-3
    assert t.final_packet is not None and t.final_packet.ttl == 62


def test_demo_df_1480_stops_at_the_pods_own_eth0(demo: Network) -> None:
    t = run(demo, demo_request(demo, size=1480, df=True)).forward.trace
    assert t.disposition is Disposition.FRAG_NEEDED
    assert (t.hops[-1].ns.pod_key or "").startswith("default/frontend")
    drop = t.last_step
    assert (drop.dev, drop.size, drop.mtu) == ("eth0", 1480, 1450)  # type: ignore[union-attr]


def test_trace_builds_only_the_hosts_it_enters() -> None:
    net = assemble(cluster())
    assert net.dataplane.built_hosts == {"core"}
    t = run(net, TraceRequest("default/a", "default/c")).forward.trace
    assert t.disposition is Disposition.DELIVERED
    assert net.dataplane.built_hosts == {"core", "node-1", "node-2"}


def test_reply_comes_back(demo: Network) -> None:
    report = run(demo, demo_request(demo, reply=True))
    assert report.reply is not None
    back = report.reply.trace
    assert back.disposition is Disposition.DELIVERED
    assert back.packet.src == report.forward.trace.packet.dst
    assert (back.hops[-1].ns.pod_key or "").startswith("default/frontend")


def test_smaller_underlay_mtu_fragments_the_outer_packet() -> None:
    net = assemble(cluster(rack_b_mtu=1400))
    t = run(net, TraceRequest("default/a", "default/d", size=1400, proto="udp")).forward.trace
    assert t.disposition is Disposition.DELIVERED
    outer = [s for s in t.steps(FragmentStep) if s.outer]
    assert outer and outer[0].mtu == 1400 and outer[0].size == 1450
    assert t.steps(DecapStep)[0].reassembled_from == 2


def _segment_frames(t: Trace) -> list[tuple[int, ...]]:
    return [w.frame_sizes() for w in t.wires if w.link.startswith("segment ")]


def test_a_big_packet_is_cut_before_vxlan_one_tunnel_packet_per_fragment(demo: Network) -> None:
    # the kernel (materialize verify --size 4000) sends three VXLAN packets of 1508, 1508 and
    # 1216 bytes per rack and never fragments them again
    t = run(demo, demo_request(demo, proto="icmp", size=4000)).forward.trace
    assert t.disposition is Disposition.DELIVERED
    encap = t.steps(EncapStep)[0]
    assert encap.fragments == (1444, 1444, 1152)
    assert (encap.outer_bytes, encap.wire_bytes) == (1494, 1508)
    assert not [s for s in t.steps(FragmentStep) if s.outer]
    assert _segment_frames(t) == [(1508, 1508, 1216), (1508, 1508, 1216)]
    assert [s.frames for s in t.steps(UnderlayStep)] == [(1508, 1508, 1216)] * 2
    decap = t.steps(DecapStep)[0]
    assert (decap.packets, decap.reassembled_from) == (3, 1)
    assert "one tunnel packet per fragment" in encap.summary()


TOPOLOGIES = Path(__file__).parents[2] / "topologies"


@pytest.mark.parametrize(
    ("where", "src", "dst"),
    [
        ("flannel vxlan", "default/a", "default/d"),
        ("flannel udp", "default/a", "default/d"),
        ("flannel host-gw", "default/a", "default/c"),
        ("calico-ipip-crosssubnet.yaml", "default/a1", "default/b1"),
        ("calico-vxlan.yaml", "default/client", "default/server"),
        ("calico-native.yaml", "default/a1", "default/a2"),
        ("weave", "default/a", "default/d"),
        ("weave noFastdp", "default/a", "default/d"),
        ("docker-overlay", "default/a", "default/d"),
    ],
)
def test_every_driver_sends_the_fragments_the_kernel_sends(where: str, src: str, dst: str) -> None:
    if where.endswith(".yaml"):
        net = assemble(load([TOPOLOGIES / where]).cluster)
    elif where.startswith("flannel"):
        net = assemble(cluster(where.split()[1]))
    else:
        driver, *flags = where.split()
        net = assemble(cluster(driver=driver, options={flag: True for flag in flags}))
    t = run(net, TraceRequest(src, dst, proto="icmp", size=4000)).forward.trace
    assert t.disposition is Disposition.DELIVERED, t.reason
    cut = t.steps(FragmentStep)[0]  # the pod's own eth0 cuts the packet first
    inner = fragment_sizes(4000, cut.mtu)
    assert len(inner) == 3 and not [s for s in t.steps(FragmentStep) if s.outer]
    encaps = t.steps(EncapStep)
    extra = encaps[0].overhead_bytes if encaps else 0
    if encaps:
        assert encaps[0].fragments == inner
        assert t.steps(DecapStep)[0].packets == 3
    frames = _segment_frames(t)
    assert frames and all(f == tuple(n + extra + 14 for n in inner) for f in frames)


def test_inner_fragments_are_cut_again_when_the_underlay_is_smaller() -> None:
    # rack-b has MTU 1400: `core` fragments each 1494-byte VXLAN packet of an inner
    # fragment (DF is off on VXLAN), the 1202-byte one passes whole; checked against the
    # kernel with `materialize verify --size 4000` on this topology
    net = assemble(cluster(rack_b_mtu=1400))
    t = run(net, TraceRequest("default/a", "default/d", proto="icmp", size=4000)).forward.trace
    assert t.disposition is Disposition.DELIVERED
    assert _segment_frames(t) == [(1508, 1508, 1216), (1410, 132, 1410, 132, 1216)]
    outer = [s for s in t.steps(FragmentStep) if s.outer]
    assert [(s.size, s.packets, s.fragments) for s in outer] == [(1494, 3, 5)]
    decap = t.steps(DecapStep)[0]
    assert (decap.packets, decap.reassembled_from) == (3, 5)


def test_vni_mismatch_is_dropped_at_the_receiver() -> None:
    net = assemble(cluster())
    dp = net.dataplane
    from overlaynet.dataplane.ir import NsRef

    remote = dp.namespace(NsRef("node-3"))
    dev = remote.interfaces["flannel.1"]
    assert dev.vxlan is not None
    dev.vxlan = replace(dev.vxlan, vni=7)
    t = run(net, TraceRequest("default/a", "default/d")).forward.trace
    assert t.disposition is Disposition.NO_ROUTE and "VNI 7" in t.reason


def test_host_gw_across_segments_explains_l2_adjacency() -> None:
    net = assemble(cluster("host-gw"))
    t = run(net, TraceRequest("default/a", "default/d")).forward.trace
    # flanneld's route to the remote lease is refused, so the packet takes node-1's default
    # route out of the topology; the trace says why last
    assert t.disposition is Disposition.EXITS_NETWORK
    why = ("node-1: flannel host-gw on node-1: route 10.244.2.0/24 via 192.168.20.13 dev eth0 refused by the kernel "
           "(Nexthop has invalid gateway): host-gw needs L2 adjacency: 192.168.20.13 is not on a connected network of node-1")
    assert t.reason == f"leaves the topology through core's uplink; because {why}"
    assert t.last_step == WarningStep(f"why: {why}")
    same = run(net, TraceRequest("default/a", "default/c")).forward.trace
    assert same.disposition is Disposition.DELIVERED and not same.steps(EncapStep)


def test_udp_backend_goes_through_the_userspace_forwarder() -> None:
    net = assemble(cluster("udp"))
    t = run(net, TraceRequest("default/a", "default/d")).forward.trace
    assert t.disposition is Disposition.DELIVERED
    encap = t.steps(EncapStep)[0]
    assert (encap.encapsulation, encap.overhead_bytes, encap.outer_dport) == ("udp", 28, 8285)
    assert any(s.link == "tun" for s in t.steps(ForwardStep))


def test_fake_driver_routes_across_the_router() -> None:
    net = assemble(cluster(driver="fake"))
    t = run(net, TraceRequest("default/a", "default/d")).forward.trace
    assert t.disposition is Disposition.DELIVERED and not t.steps(EncapStep)


def test_outside_destination_exits_the_network(demo: Network) -> None:
    src = demo_request(demo).source
    t = run(demo, TraceRequest(src, "8.8.8.8", proto="icmp")).forward.trace
    assert t.disposition is Disposition.EXITS_NETWORK


def test_external_source_enters_at_the_border_router() -> None:
    net = assemble(cluster())
    t = run(net, TraceRequest("203.0.113.9", "192.168.20.13", proto="icmp")).forward.trace
    assert t.hops[0].host == "core"
    assert t.disposition is Disposition.ACCEPTED


def test_node_source_picks_its_source_address() -> None:
    net = assemble(cluster())
    t = run(net, TraceRequest("node-1", "default/d", proto="icmp")).forward.trace
    assert t.disposition is Disposition.DELIVERED
    assert t.packet.src == A("10.244.0.0") or str(t.packet.src).startswith("10.244.")


@pytest.mark.parametrize("client", ["203.0.113.9", "192.168.10.77"])
def test_nodeport_from_outside_and_its_reply(demo: Network, client: str) -> None:
    node3 = demo.cluster.node("node-3").ip
    report = run(demo, TraceRequest(client, f"{node3}:30080", reply=True))
    t = report.forward.trace
    assert t.disposition is Disposition.DELIVERED
    assert t.steps(DnatStep), "kube-proxy's DNAT"
    assert t.steps(SnatStep), "kube-proxy's masquerade"
    assert report.reply is not None
    back = report.reply.trace
    assert back.final_packet is not None and back.final_packet.src == node3 and back.final_packet.dport == t.packet.sport
    assert report.success and "outside client" in back.reason


def test_host_to_clusterip_is_dnatted_in_output_and_rerouted(demo: Network) -> None:
    t = run(demo, TraceRequest("node-1", "default/web")).forward.trace
    assert t.disposition is Disposition.DELIVERED
    first = t.hops[0]
    kinds = [s.kind for s in first.steps]
    assert kinds.index("dnat") < max(i for i, k in enumerate(kinds) if k == "route")  # routed again after DNAT
    assert t.final_packet is not None and t.final_packet.dport == 8080


def test_each_forwarding_hop_says_which_ttl_it_lowered(demo: Network) -> None:
    t = run(demo, demo_request(demo)).forward.trace
    routed = [(h.ns.host, s.layer, s.ttl) for h in t.hops for s in h.steps if isinstance(s, RouteStep) and s.ttl is not None]
    # node-1 routes the pod's packet into flannel.1, core only the VXLAN packet, node-3 the
    # unwrapped packet on to cni0
    assert routed == [("node-1", "inner", 63), ("core", "outer", 63), ("node-3", "inner", 62)]
    core = next(s for h in t.hops if h.ns.host == "core" for s in h.steps if isinstance(s, RouteStep))
    assert "(forwarded, outer TTL → 63; the inner packet's TTL is untouched)" in core.summary()


def test_frag_needed_names_where_the_icmp_comes_from() -> None:
    # rack-b MTU 1400: node-3's flannel.1 and cni0 get 1350; a 1351-byte DF packet from
    # rack-a is refused where node-3 forwards it, and the kernel's ICMP comes from node-3's
    # flannel.1 address (its source for the route back), as materialize verify shows
    net = assemble(cluster(rack_b_mtu=1400))
    t = run(net, TraceRequest("default/a", "default/d", proto="icmp", size=1351, df=True)).forward.trace
    assert t.disposition is Disposition.FRAG_NEEDED
    drop = t.steps(DropStep)[-1]
    flannel = net.dataplane.namespace(NsRef("node-3")).interfaces["flannel.1"].addresses[0].ip
    assert (drop.mtu, drop.icmp_from) == (1350, flannel)
    assert f"ICMP fragmentation needed, mtu 1350, from {flannel} to {t.packet.src}" in t.reason
    # the sender's own eth0: no ICMP at all, the send fails
    own = run(net, TraceRequest("default/a", "default/d", proto="icmp", size=1451, df=True)).forward.trace
    assert own.steps(DropStep)[-1].icmp_from is None and "message too long, mtu 1450" in own.reason


def test_a_policy_step_does_not_say_policy_twice() -> None:
    from overlaynet.trace.render import render_trace

    net = assemble(load([TOPOLOGIES / "calico-policy.yaml"]).cluster)
    t = run(net, TraceRequest("prod/frontend", "prod/api")).forward.trace
    policies = t.steps(PolicyStep)
    assert policies and not [p for p in policies if p.policy.lower().startswith("policy")]
    text = render_trace(t, width=400)
    assert "policy policy" not in text and "policy denied, no policy allows it" in text


def test_host_gw_why_names_only_the_route_that_would_have_carried_the_packet() -> None:
    # two nodes on rack-b: node-1 refuses a route to each; a packet to node-3's pod is
    # explained by node-3's route alone
    base = cluster("host-gw")
    nodes = (*base.nodes, Node("node-4", A("192.168.20.14"), "rack-b"))
    net = assemble(replace(base, nodes=nodes, pods=(*base.pods, Pod("e", node="node-4"))))
    root = net.dataplane.namespace(NsRef("node-1"))
    refused = [d for d in root.diagnostics if "refused by the kernel" in str(d)]
    assert len(refused) == 2
    t = run(net, TraceRequest("default/a", "default/d")).forward.trace
    d_subnet = next(str(d.dst) for d in refused if t.packet.dst in d.dst)  # type: ignore[union-attr, operator]
    why = [s.message for s in t.steps(WarningStep) if s.message.startswith("why: ")]
    assert len(why) == 1 and d_subnet in why[0] and "192.168.20.13" in why[0] and "192.168.20.14" not in why[0]
    assert t.reason.count("refused by the kernel") == 1
