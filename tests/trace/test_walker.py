"""The walker on hand-built IRs: local delivery, route types, forwarding, TTL, MTU, ARP,
proxy ARP, loops, rp_filter and netfilter outcomes (with a stand-in engine)."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from ipaddress import ip_address

import pytest
from trace_irs import namespace, pod_and_host, route, two_routers_on_segment, veth

from overlaynet.dataplane.ir import Address, Dataplane, Interface, NetNamespace, NsRef
from overlaynet.dataplane.netfilter import ChainRole, HookOutcome, NatRecord, RuleHit, parse_save
from overlaynet.dataplane.packet import Packet
from overlaynet.errors import TraceError
from overlaynet.trace import Disposition, Injection, Trace, trace
from overlaynet.trace import walker as walker_mod
from overlaynet.trace.steps import (
    DnatStep,
    DropStep,
    FragmentStep,
    NeighborStep,
    NetfilterStep,
    PolicyStep,
    RouteStep,
)

A = ip_address


def pkt(src: str, dst: str, **kw: object) -> Packet:
    return Packet(A(src), A(dst), sport=40000, dport=80, **kw)  # type: ignore[arg-type]


def kinds(t: Trace) -> list[str]:
    return [s.kind for s in t.steps()]


def test_pod_to_host_is_accepted_after_a_veth_crossing() -> None:
    dp, host, pod = pod_and_host()
    t = trace(dp, pkt("10.0.0.2", "10.0.0.1"), pod.ref).trace
    assert t.disposition is Disposition.ACCEPTED
    assert [h.ns for h in t.hops] == [NsRef.pod("h1", "default/a"), NsRef("h1")]
    assert kinds(t) == ["route", "neighbor", "forward", "deliver"]
    neigh = t.steps(NeighborStep)[0]
    assert neigh.how == "arp" and neigh.answered_by == "h1:veth-a"


def test_host_to_pod_is_delivered() -> None:
    dp, host, pod = pod_and_host()
    t = trace(dp, pkt("10.0.0.1", "10.0.0.2"), host.ref).trace
    assert t.disposition is Disposition.DELIVERED
    assert t.last_step.kind == "deliver"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("rtype", "disposition"),
    [("blackhole", Disposition.NULL_ROUTED), ("unreachable", Disposition.NO_ROUTE), ("prohibit", Disposition.REJECTED)],
)
def test_route_types_end_the_trace(rtype: str, disposition: Disposition) -> None:
    dp, host, pod = pod_and_host()
    route(pod, "10.9.0.0/16", type=rtype, origin="test: special route")
    t = trace(dp, pkt("10.0.0.2", "10.9.1.1"), pod.ref).trace
    assert t.disposition is disposition
    drop = t.last_step
    assert drop.kind == "drop" and drop.origin == "test: special route"  # type: ignore[union-attr]
    assert rtype in t.reason


def test_longest_prefix_wins_over_default() -> None:
    dp, host, pod = pod_and_host()
    route(pod, "10.9.0.0/16", type="blackhole")
    route(pod, "10.9.1.0/24", via="10.0.0.1", dev="eth0")
    assert trace(dp, pkt("10.0.0.2", "10.9.1.1"), pod.ref).trace.disposition is not Disposition.NULL_ROUTED
    assert trace(dp, pkt("10.0.0.2", "10.9.2.1"), pod.ref).trace.disposition is Disposition.NULL_ROUTED


def test_no_route_when_nothing_matches() -> None:
    dp, host, pod = pod_and_host()
    t = trace(dp, pkt("10.0.0.1", "172.16.0.1"), host.ref).trace
    assert t.disposition is Disposition.NO_ROUTE
    assert "no route to 172.16.0.1" in t.reason


def test_forwarding_off_drops() -> None:
    dp, host, pod = pod_and_host()
    host.sysctls["net.ipv4.ip_forward"] = "0"
    route(host, "172.16.0.0/12", dev="veth-a")
    t = trace(dp, pkt("10.0.0.2", "172.16.0.1"), pod.ref).trace
    assert t.disposition is Disposition.NO_ROUTE
    assert "ip_forward=0" in t.reason


def test_ttl_decrements_per_forward_and_expires() -> None:
    dp, r1, r2 = two_routers_on_segment()
    route(r1, "10.9.0.0/16", via="192.168.1.2", dev="eth0")
    extra = namespace(dp, "r2", "inner", kind="other")
    veth(r2, "v0", "10.9.0.1/24", extra, "v1", "10.9.0.2/24")
    route(r2, "10.9.0.0/16", via="10.9.0.2", dev="v0")
    ok = trace(dp, pkt("192.168.1.1", "10.9.0.2", ttl=3), Injection(r1.ref, "eth0")).trace
    assert ok.disposition is Disposition.ACCEPTED
    assert [s.ttl for s in ok.steps(RouteStep)] == [2, 1]
    dead = trace(dp, pkt("192.168.1.1", "10.9.5.5", ttl=1), Injection(r1.ref, "eth0")).trace
    assert dead.disposition is Disposition.TTL_EXCEEDED


def test_routing_loop_is_detected() -> None:
    dp, r1, r2 = two_routers_on_segment()
    route(r1, "10.9.0.0/16", via="192.168.1.2", dev="eth0")
    route(r2, "10.9.0.0/16", via="192.168.1.1", dev="eth0")
    t = trace(dp, pkt("192.168.1.1", "10.9.0.5"), r1.ref).trace
    assert t.disposition is Disposition.LOOP
    assert t.reason == "the same packet came back to r2"
    assert [h.ns.host for h in t.hops] == ["r1", "r2", "r1", "r2"]
    assert t.steps(DropStep)[-1].reason == "packet revisits r2 unchanged"


def test_df_packet_larger_than_mtu_needs_fragmentation() -> None:
    dp, host, pod = pod_and_host()
    pod.interfaces["eth0"].mtu = 1450
    t = trace(dp, pkt("10.0.0.2", "10.0.0.1", size=1480, df=True), pod.ref).trace
    assert t.disposition is Disposition.FRAG_NEEDED
    drop = t.last_step
    assert (drop.size, drop.mtu, drop.dev) == (1480, 1450, "eth0")  # type: ignore[union-attr]
    assert "1450" in t.reason and "1480" in t.reason and "veth" in t.reason


def test_without_df_the_packet_is_fragmented_and_continues() -> None:
    dp, host, pod = pod_and_host()
    pod.interfaces["eth0"].mtu = 1000
    t = trace(dp, pkt("10.0.0.2", "10.0.0.1", size=2500), pod.ref).trace
    assert t.disposition is Disposition.ACCEPTED
    frag = t.steps(FragmentStep)[0]
    # 980 payload bytes per fragment (976 rounded to 8): 2480 bytes → 3 fragments
    assert (frag.size, frag.mtu, frag.fragments) == (2500, 1000, 3)


def test_nobody_answers_arp_on_a_segment() -> None:
    dp, r1, r2 = two_routers_on_segment()
    route(r1, "10.9.0.0/16", via="192.168.1.77", dev="eth0")
    t = trace(dp, pkt("192.168.1.1", "10.9.0.5"), r1.ref).trace
    assert t.disposition is Disposition.NEIGHBOR_UNREACHABLE
    assert "192.168.1.77" in t.reason


def test_gateway_not_on_a_connected_network_is_no_route() -> None:
    dp, r1, r2 = two_routers_on_segment()
    route(r1, "10.9.0.0/16", via="172.20.0.1", dev="eth0", origin="flannel host-gw: lease of node-9")
    t = trace(dp, pkt("192.168.1.1", "10.9.0.5"), r1.ref).trace
    assert t.disposition is Disposition.NO_ROUTE
    assert "not on a connected network" in t.reason and "L2-adjacent" in t.reason
    assert t.last_step.origin == "flannel host-gw: lease of node-9"  # type: ignore[union-attr]


def test_onlink_gateway_needs_no_connected_route() -> None:
    dp, r1, r2 = two_routers_on_segment()
    r2.interfaces["eth0"].addresses.append(r2.interfaces["eth0"].addresses[0].__class__(A("172.20.0.1"), 32))
    dp.segments["s"].directory[A("172.20.0.1")] = (r2.ref, "eth0")
    route(r1, "10.9.0.0/16", via="172.20.0.1", dev="eth0", onlink=True)
    route(r2, "10.9.0.0/16", type="blackhole")
    t = trace(dp, pkt("192.168.1.1", "10.9.0.5"), r1.ref).trace
    assert t.disposition is Disposition.NULL_ROUTED  # it reached r2
    assert [h.host for h in t.hops] == ["r1", "r2"]


def test_proxy_arp_answers_for_a_gateway_nobody_owns() -> None:
    dp, host, pod = pod_and_host()  # Calico style: pod default via 169.254.1.1, host veth proxy_arp
    pod.routes.clear()
    route(pod, "169.254.1.1/32", dev="eth0", scope="link")
    route(pod, "0.0.0.0/0", via="169.254.1.1", dev="eth0")
    host.interfaces["veth-a"].proxy_arp = True
    # the kernel answers by proxy only with a route to 169.254.1.1 out of another device
    # (arp_fwd_proxy): a host without a default route leaves its pods unanswered (calico#3270)
    unanswered = trace(dp, pkt("10.0.0.2", "8.8.8.8"), pod.ref).trace
    assert unanswered.disposition is Disposition.NEIGHBOR_UNREACHABLE
    host.add_interface(Interface("uplink", "phys", addresses=[Address(ip_address("192.0.2.2"), 24)]))
    route(host, "0.0.0.0/0", via="192.0.2.1", dev="uplink")
    t = trace(dp, pkt("10.0.0.2", "10.0.0.1"), pod.ref).trace
    assert t.disposition is Disposition.ACCEPTED
    pod2 = pkt("10.0.0.2", "10.0.0.1")
    t2 = trace(dp, pod2.with_(dst=A("10.0.0.1")), pod.ref).trace
    assert t2.steps(NeighborStep)[0].how in ("arp", "proxy_arp")
    t3 = trace(dp, pkt("10.0.0.2", "8.8.8.8"), pod.ref).trace
    assert t3.steps(NeighborStep)[0].how == "proxy_arp"


def test_strict_rp_filter_drops_a_spoofed_source() -> None:
    dp, host, pod = pod_and_host()
    host.sysctls["net.ipv4.conf.all.rp_filter"] = "1"
    route(host, "172.16.0.0/12", dev="lo")
    t = trace(dp, pkt("172.16.0.9", "10.0.0.1"), pod.ref).trace
    assert t.disposition is Disposition.DENIED
    assert "rp_filter (strict)" in t.reason


@dataclass
class _Rules:
    """Stands in for a non-empty ruleset; the stand-in engine below decides."""

    def is_empty(self) -> bool:
        return False


def test_netfilter_drop_is_denied_with_the_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    dp, host, pod = pod_and_host()
    host.netfilter = _Rules()  # type: ignore[assignment]
    hit = RuleHit("filter", "INPUT", 3, "-A INPUT -p tcp --dport 80 -j DROP", "DROP")

    def engine(ruleset: object, packet: Packet, ctx: object) -> list[HookOutcome]:
        verdict = "DROP" if ctx.hook == "INPUT" else "ACCEPT"  # type: ignore[attr-defined]
        return [HookOutcome(verdict, packet, hits=(hit,) if verdict == "DROP" else ())]  # type: ignore[arg-type]

    monkeypatch.setattr(walker_mod, "run_hook", engine)
    t = trace(dp, pkt("10.0.0.2", "10.0.0.1"), pod.ref).trace
    assert t.disposition is Disposition.DENIED
    assert kinds(t)[-2:] == ["netfilter", "drop"]
    assert "filter/INPUT #3" in t.reason


@pytest.mark.parametrize(("chain", "role"), [("acl-1", ChainRole.POLICY), ("cali-pi-lookalike", ChainRole.FILTER)])
def test_policy_steps_come_from_the_chain_role_not_its_name(chain: str, role: ChainRole) -> None:
    dp, host, pod = pod_and_host()
    host.netfilter = parse_save(
        f"*filter\n:INPUT ACCEPT [0:0]\n:{chain} - [0:0]\n-A INPUT -j {chain}\n"
        f'-A {chain} -p tcp -m tcp --dport 80 -m comment --comment "deny web" -j DROP\nCOMMIT\n'
    )
    host.netfilter.ensure_chain("filter", chain, origin="test-agent", role=role)
    t = trace(dp, pkt("10.0.0.2", "10.0.0.1"), pod.ref).trace
    assert t.disposition is Disposition.DENIED
    assert t.steps(NetfilterStep)[-1].role is role
    expected = [("deny web", "DROP", f"filter/{chain} #1")] if role is ChainRole.POLICY else []
    assert [(p.policy, p.verdict, p.detail) for p in t.steps(PolicyStep)] == expected


def test_all_branches_follow_each_dnat_with_its_probability(monkeypatch: pytest.MonkeyPatch) -> None:
    dp, host, pod = pod_and_host()
    other = namespace(dp, "h1", "default/b", kind="pod", forward=False)
    veth(other, "eth0", "10.0.1.2/24", host, "veth-b", "10.0.1.1/24")
    host.netfilter = _Rules()  # type: ignore[assignment]
    vip = (A("10.96.0.5"), 80)

    def engine(ruleset: object, packet: Packet, ctx: object) -> list[HookOutcome]:
        if ctx.hook != "PREROUTING" or packet.dst != vip[0]:  # type: ignore[attr-defined]
            return [HookOutcome("ACCEPT", packet)]
        outs = []
        for ip in ("10.0.0.1", "10.0.1.2"):
            nat = NatRecord("DNAT", vip, (A(ip), 8080), "dst", "KUBE-SEP-X")
            outs.append(HookOutcome("ACCEPT", packet.with_(dst=A(ip), dport=8080), Fraction(1, 2), nat=(nat,)))
        return outs if ctx.all_branches else outs[:1]  # type: ignore[attr-defined]

    monkeypatch.setattr(walker_mod, "run_hook", engine)
    pod.routes.append(pod.routes[0].__class__(dst=__import__("ipaddress").ip_network("10.96.0.0/12"), via=A("10.0.0.1"), dev="eth0"))
    result = trace(dp, pkt("10.0.0.2", "10.96.0.5"), pod.ref, all_branches=True)
    assert [t.disposition for t in result.traces] == [Disposition.ACCEPTED, Disposition.DELIVERED]
    assert sum(t.probability for t in result.traces) == 1
    assert all(t.steps(DnatStep)[0].after[1] == 8080 for t in result.traces)
    single = trace(dp, pkt("10.0.0.2", "10.96.0.5"), pod.ref)
    assert len(single.traces) == 1


def test_trace_to_dict_shape() -> None:
    dp, host, pod = pod_and_host()
    d = trace(dp, pkt("10.0.0.2", "10.0.0.1"), pod.ref).trace.to_dict()
    assert d["disposition"] == "ACCEPTED"
    assert [h["namespace"] for h in d["hops"]] == ["pod:default/a", "root"]
    assert all("kind" in s for h in d["hops"] for s in h["steps"])
    assert d["hops"][0]["steps"][0]["dst"] == "10.0.0.1"


def test_start_namespace_must_exist() -> None:
    dp, host, pod = pod_and_host()
    with pytest.raises(TraceError, match="no namespace nope"):
        trace(dp, pkt("10.0.0.2", "10.0.0.1"), NsRef("nope"))
    with pytest.raises(TraceError, match="no device"):
        trace(dp, pkt("10.0.0.2", "10.0.0.1"), Injection(host.ref, "eth9"))


def test_loose_rp_filter_drops_a_source_with_no_route_back() -> None:
    dp, host, pod = pod_and_host()
    host.sysctls["net.ipv4.conf.all.rp_filter"] = "2"
    t = trace(dp, pkt("172.16.0.9", "10.0.0.1"), pod.ref).trace
    assert t.disposition is Disposition.DENIED and "rp_filter (loose)" in t.reason
    route(host, "0.0.0.0/0", dev="veth-a")
    assert trace(dp, pkt("172.16.0.9", "10.0.0.1"), pod.ref).trace.disposition is Disposition.ACCEPTED


def _v6_pods() -> tuple[Dataplane, NetNamespace, NetNamespace]:
    dp = Dataplane()
    host = namespace(dp, "h1")
    a = namespace(dp, "h1", "default/a", kind="pod", forward=False)
    b = namespace(dp, "h1", "default/b", kind="pod", forward=False)
    veth(a, "eth0", "fd00::2/64", host, "veth-a", "fd00::1/64")
    veth(b, "eth0", "fd01::2/64", host, "veth-b", "fd01::1/64", mtu=1280)
    route(a, "::/0", via="fd00::1", dev="eth0")
    route(b, "::/0", via="fd01::1", dev="eth0")
    return dp, a, b


def test_an_ipv6_router_answers_packet_too_big_and_never_fragments() -> None:
    dp, a, _ = _v6_pods()
    t = trace(dp, pkt("fd00::2", "fd01::2", size=1400), a.ref).trace
    assert t.disposition is Disposition.FRAG_NEEDED and not t.steps(FragmentStep)
    drop = t.steps(DropStep)[-1]
    assert (drop.mtu, drop.icmp_from, drop.dev) == (1280, A("fd00::1"), "veth-b")
    assert "ICMPv6 packet too big, mtu 1280, from fd00::1 to fd00::2" in t.reason


def test_an_ipv6_source_fragments_with_the_fragment_header() -> None:
    dp, a, _ = _v6_pods()
    a.interfaces["eth0"].mtu = 1280
    t = trace(dp, pkt("fd00::2", "fd01::2", size=2000), a.ref).trace
    assert t.disposition is Disposition.DELIVERED, t.reason
    # 1232 payload bytes behind 40 + 8 (fragment header) per piece: 1960 = 1232 + 728
    assert [w.ip_sizes() for w in t.wires] == [(1280, 776), (1280, 776)]
    from overlaynet.trace.pcap import frames

    assert [tuple(len(f) for f in frames(w)) for w in t.wires] == [w.frame_sizes() for w in t.wires]
