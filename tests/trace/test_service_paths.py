"""Service paths a network engineer checks by hand, on a three-node flannel cluster with a
9000-MTU rack and a 1500-MTU rack: NodePorts on localhost and on the node's own address,
replies through DNAT and MASQUERADE (also per --all-branches branch, and pod to pod on one
bridge), MTU across racks, flanneld's TTL handling, packet sizes."""

from __future__ import annotations

from ipaddress import ip_address
from pathlib import Path
from typing import Any

import pytest

from overlaynet.network import Network, assemble
from overlaynet.network.request import TraceRequest, run
from overlaynet.topology import load
from overlaynet.trace import Disposition
from overlaynet.trace.steps import BridgeStep, DnatStep, FragmentStep, SnatStep

TOPOLOGY = """\
apiVersion: overlaynet/v1
kind: Cluster
metadata: {name: paths}
spec:
  podCIDR: 10.244.0.0/16
  serviceCIDR: 10.96.0.0/12
  dns: {clusterIP: 10.96.0.10}
  kubeProxy: {mode: iptables, clusterCIDR: 10.244.0.0/16}
  network: {driver: flannel, options: {backend: vxlan}}
  underlay:
    segments:
      - {name: rack-a, cidr: 192.168.10.0/24, mtu: 9000}
      - {name: rack-b, cidr: 192.168.20.0/24, mtu: 1500}
    routers:
      - {name: core, interfaces: {rack-a: 192.168.10.1, rack-b: 192.168.20.1}}
  nodes:
    - {name: node-1, ip: 192.168.10.11}
    - {name: node-2, ip: 192.168.10.12}
    - {name: node-3, ip: 192.168.20.13}
---
apiVersion: v1
kind: Pod
metadata: {name: a, labels: {app: a}}
spec:
  nodeName: node-1
  containers: [{name: c, image: x, ports: [{containerPort: 8080}]}]
---
apiVersion: v1
kind: Pod
metadata: {name: b, labels: {app: b}}
spec:
  nodeName: node-3
  containers: [{name: c, image: x, ports: [{containerPort: 8080}]}]
---
apiVersion: v1
kind: Service
metadata: {name: local}
spec:
  type: NodePort
  externalTrafficPolicy: Local
  selector: {app: a}
  ports: [{port: 80, targetPort: 8080, nodePort: 30100}]
---
apiVersion: v1
kind: Service
metadata: {name: aff}
spec:
  sessionAffinity: ClientIP
  selector: {app: b}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Pod
metadata: {name: c, labels: {app: c}}
spec:
  nodeName: node-1
  containers: [{name: c, image: x}]
"""


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Network:
    path = Path(tmp_path_factory.mktemp("paths")) / "paths.yaml"
    path.write_text(TOPOLOGY)
    return assemble(load([path]).cluster)


@pytest.mark.parametrize("node", ["node-1", "node-2"])
def test_localhost_nodeport_is_routed_again_after_the_dnat(net: Network, node: str) -> None:
    # curl 127.0.0.1:30100 on a node: the source is 127.0.0.1 (the local table's route),
    # OUTPUT DNATs to the endpoint, the kernel routes again (route_localnet=1, set by
    # kube-proxy) and KUBE-POSTROUTING masquerades; the pod gets it, not the node itself
    t = run(net, TraceRequest(node, "127.0.0.1:30100")).forward.trace
    assert t.packet.src == ip_address("127.0.0.1")
    assert t.disposition is Disposition.DELIVERED, t.reason
    assert t.hops[-1].ns.pod_key == "default/a"
    assert t.final_packet is not None
    assert t.final_packet.dst == ip_address("10.244.0.2") and t.final_packet.dport == 8080
    assert not t.final_packet.src.is_loopback
    assert [s.how for s in t.steps(SnatStep)] == ["MASQUERADE"]


def test_node_to_its_own_nodeport_sends_from_its_own_address(net: Network) -> None:
    t = run(net, TraceRequest("node-2", "192.168.10.12:30100")).forward.trace
    assert t.packet.src == ip_address("192.168.10.12")
    assert t.disposition is Disposition.DELIVERED, t.reason
    assert t.hops[-1].ns.pod_key == "default/a"


def test_localhost_nodeport_reply_returns_to_the_loopback_client(net: Network) -> None:
    report = run(net, TraceRequest("node-1", "127.0.0.1:30100", reply=True))
    assert report.reply is not None
    back = report.reply.trace
    assert back.disposition is Disposition.ACCEPTED, back.reason
    assert back.final_packet is not None
    assert (back.final_packet.src, back.final_packet.sport) == (ip_address("127.0.0.1"), 30100)
    assert back.final_packet.dst == ip_address("127.0.0.1")


def test_pod_mtu_follows_its_own_rack_and_a_forwarded_df_packet_stops_before_forward(net: Network) -> None:
    # flanneld on each node subtracts VXLAN's 50 bytes from its own uplink: 8950 on the
    # 9000 rack, 1450 on the 1500 rack. 8000 bytes with DF leave pod a, the outer packet
    # (DF clear) is fragmented by core onto rack-b, node-3 reassembles and decapsulates,
    # and ip_forward() refuses the inner packet for cni0 (1450) before the FORWARD hook
    t = run(net, TraceRequest("default/a", "default/b", size=8000, df=True)).forward.trace
    assert t.disposition is Disposition.FRAG_NEEDED, t.reason
    drop = t.last_step
    assert (drop.dev, drop.size, drop.mtu) == ("cni0", 8000, 1450)  # type: ignore[union-attr]
    assert [s.outer for s in t.steps(FragmentStep)] == [True]
    last_hop = t.hops[-1]
    assert last_hop.host == "node-3"
    hooks_after_decap = [s.hook for s in last_hop.steps[[s.kind for s in last_hop.steps].index("decap"):] if s.kind == "netfilter"]  # type: ignore[attr-defined]
    assert "FORWARD" not in hooks_after_decap and "POSTROUTING" not in hooks_after_decap


@pytest.fixture(scope="module")
def udp_net(tmp_path_factory: pytest.TempPathFactory) -> Network:
    path = Path(tmp_path_factory.mktemp("udp")) / "udp.yaml"
    path.write_text(TOPOLOGY.replace("options: {backend: vxlan}", "options: {backend: udp}"))
    return assemble(load([path]).cluster)


@pytest.mark.parametrize(
    ("ttl", "disposition", "final_ttl"),
    [
        # node-1 forwards (63), flanneld sends (62) and receives (61), node-3 forwards (60)
        (64, Disposition.DELIVERED, 60),
        # 2 → node-1 forwards (1) → flanneld's tun_to_udp takes it to 0 and discards it
        (2, Disposition.TTL_EXCEEDED, 1),
        # 3 → 2 → 1 → flanneld's udp_to_tun on node-3 takes it to 0
        (3, Disposition.TTL_EXCEEDED, 1),
    ],
)
def test_flanneld_udp_proxy_decrements_the_ttl_each_way(udp_net: Network, ttl: int, disposition: Disposition, final_ttl: int) -> None:
    t = run(udp_net, TraceRequest("default/a", "default/b", ttl=ttl)).forward.trace
    assert t.disposition is disposition, t.reason
    assert t.final_packet is not None and t.final_packet.ttl == final_ttl
    if disposition is Disposition.TTL_EXCEEDED:
        assert "flanneld" in t.reason
        assert t.hops[-1].host == ("node-1" if ttl == 2 else "node-3")


def test_all_branches_reply_is_un_natted_with_its_own_branch_conntrack() -> None:
    # NodePort (eTP Cluster) from outside with --all-branches --reply: the reply of the
    # branch shown must be un-SNATed and un-DNATed by that branch's conntrack entry and
    # leave toward the client from the NodePort address, as without --all-branches
    net = assemble(load([Path(__file__).parents[2] / "topologies" / "demo.yaml"]).cluster)
    for all_branches in (False, True):
        report = run(net, TraceRequest("203.0.113.9", "192.168.10.12:30080", reply=True, all_branches=all_branches))
        assert report.reply is not None
        back = report.reply.trace
        assert back.disposition is Disposition.EXITS_NETWORK, (all_branches, back.reason)
        assert back.final_packet is not None
        assert (back.final_packet.src, back.final_packet.sport) == (ip_address("192.168.10.12"), 30080)
        assert back.final_packet.dst == ip_address("203.0.113.9")


def test_reply_un_dnat_is_a_source_rewrite_even_when_source_and_destination_ip_agree(net: Network) -> None:
    # pod a reaches itself through the NodePort of its own node: the reply 10.244.0.2:8080 →
    # 10.244.0.1 is un-SNATed (destination → 10.244.0.2:45113) and then un-DNATed; that
    # second rewrite changes the SOURCE (10.244.0.2:8080 → 192.168.10.11:30100) although
    # the old source IP equals the destination IP
    report = run(net, TraceRequest("default/a", "192.168.10.11:30100", reply=True))
    assert report.reply is not None
    back = report.reply.trace
    assert back.disposition is Disposition.DELIVERED, back.reason
    dnats = [(s.before, s.after) for s in back.steps(DnatStep)]
    snats = [(s.before, s.after) for s in back.steps(SnatStep)]
    assert [b[0] for b, _ in dnats] == [ip_address("10.244.0.1")]
    assert snats == [((ip_address("10.244.0.2"), 8080), (ip_address("192.168.10.11"), 30100))]


@pytest.mark.parametrize(("proto", "size", "ok"), [("tcp", 39, False), ("tcp", 40, True), ("udp", 27, False), ("udp", 28, True), ("icmp", 28, True)])
def test_size_must_hold_the_ip_and_transport_headers(net: Network, proto: str, size: int, ok: bool) -> None:
    # a 30-byte "TCP packet" cannot exist: the pcap would write 40 bytes for it
    from overlaynet.errors import TraceError

    req = TraceRequest("default/a", "default/b", proto=proto, size=size)  # type: ignore[arg-type]
    if ok:
        assert run(net, req).forward.trace.packet.size == size
    else:
        with pytest.raises(TraceError, match="packet is"):
            run(net, req)


def test_same_node_reply_across_the_bridge_is_un_dnatted_by_br_netfilter(tmp_path: Path) -> None:
    # pod c → ClusterIP of "local" → pod a, both on node-1: the reply a → c is bridged port
    # to port on cni0 (c is on a connected route of a), and br_netfilter's FORWARD /
    # POSTROUTING un-DNAT it to 10.96.0.2:80. Without that the client sees 10.244.0.2:8080
    # and resets the connection.
    path = tmp_path / "paths.yaml"
    path.write_text(TOPOLOGY)
    net = assemble(load([path]).cluster)
    report = run(net, TraceRequest("default/c", "default/local", reply=True))
    assert report.forward.trace.disposition is Disposition.DELIVERED
    back = report.reply.trace  # type: ignore[union-attr]
    assert back.disposition is Disposition.DELIVERED, back.reason
    assert [(s.bridge, s.in_port is not None, s.out_port is not None) for s in back.steps(BridgeStep)] == [("cni0", True, True)]
    assert back.final_packet is not None
    assert (back.final_packet.src, back.final_packet.sport) == (ip_address("10.96.0.2"), 80)
    assert back.packet.ttl == back.final_packet.ttl  # bridged, not routed

    # a node that turned bridge-nf-call-iptables off bridges the reply untouched
    from overlaynet.dataplane.ir import NsRef

    net.dataplane.namespace(NsRef("node-1")).sysctls["net.bridge.bridge-nf-call-iptables"] = "0"
    raw = run(net, TraceRequest("default/c", "default/local", reply=True)).reply.trace  # type: ignore[union-attr]
    assert raw.final_packet is not None and raw.final_packet.src == ip_address("10.244.0.2")


@pytest.mark.parametrize(
    ("source", "target", "what"),
    [
        ("127.0.0.1", "192.168.10.12:30100", "martian source 127.0.0.1"),
        ("0.0.0.0", "default/b", "martian source 0.0.0.0"),
        ("224.0.0.1", "default/b", "martian source 224.0.0.1"),
        ("203.0.113.9", "127.0.0.1:30100", "martian destination 127.0.0.1"),
    ],
)
def test_martian_packets_are_dropped_by_the_first_router(net: Network, source: str, target: str, what: str) -> None:
    # ip_route_input_slow: such a packet from the wire is never routed (core has no
    # route_localnet); before, core forwarded them into the cluster
    t = run(net, TraceRequest(source, target)).forward.trace
    assert t.disposition is Disposition.DENIED
    assert what in t.reason and t.hops[-1].host == "core"


@pytest.mark.parametrize("target", ["255.255.255.255", "224.0.0.5", "0.0.0.1"])
def test_broadcast_and_multicast_targets_are_refused(net: Network, target: str) -> None:
    from overlaynet.errors import TraceError

    with pytest.raises(TraceError, match="only unicast"):
        run(net, TraceRequest("default/a", target, proto="udp"))


def test_a_pods_dns_packet_reaches_a_coredns_pod_and_the_answer_comes_from_the_service_ip(net: Network) -> None:
    """Every cluster has kube-dns on CoreDNS: before, 10.96.0.10:53 had no Service and the
    query left the cluster through the gateway's uplink."""
    report = run(net, TraceRequest("default/a", "10.96.0.10:53", proto="udp", reply=True))
    t = report.forward.trace
    coredns = {p.key: p for p in net.cluster.pods if p.owner == "Deployment/coredns"}
    assert t.disposition == Disposition.DELIVERED and t.hops[-1].namespace.removeprefix("pod:") in coredns
    dnat = next(s for h in t.hops for s in h.steps if s.kind == "dnat")
    assert dnat.before == (ip_address("10.96.0.10"), 53) and dnat.after[1] == 53  # type: ignore[attr-defined]
    assert dnat.after[0] in {p.ip for p in coredns.values()}  # type: ignore[attr-defined]
    assert report.reply is not None
    back = report.reply.trace
    assert back.disposition == Disposition.DELIVERED and back.hops[-1].namespace == "pod:default/a"
    assert back.final_packet is not None and (str(back.final_packet.src), back.final_packet.sport) == ("10.96.0.10", 53)


def test_the_apiserver_service_reaches_the_first_node(net: Network) -> None:
    t = run(net, TraceRequest("default/b", "kubernetes.default:443")).forward.trace
    assert t.disposition in (Disposition.ACCEPTED, Disposition.DELIVERED), t.reason
    assert t.final_packet is not None and (str(t.final_packet.dst), t.final_packet.dport) == ("192.168.10.11", 6443)


def test_a_trace_of_a_name_carries_the_dns_packet_to_coredns_and_back(net: Network) -> None:
    """The DNS step holds the trace of the UDP query to the pod's nameserver (kube-dns,
    DNATed to a CoreDNS pod) and of the answer back from the Service address."""
    report = run(net, TraceRequest("default/a", "aff:80"))
    t = report.forward.trace
    dns_step = t.hops[0].steps[0]
    assert dns_step.kind == "dns"
    query, answer = dns_step.exchange  # type: ignore[attr-defined]
    assert (str(query.packet.dst), query.packet.dport, query.packet.proto) == ("10.96.0.10", 53, "udp")
    coredns = {f"pod:{p.key}" for p in net.cluster.pods if p.owner == "Deployment/coredns"}
    assert query.disposition == Disposition.DELIVERED and query.hops[-1].namespace in coredns
    # 20 IP + 8 UDP + the question for aff.default.svc.cluster.local. A (47 bytes)
    assert query.packet.size == 20 + 8 + 47
    assert answer.disposition == Disposition.DELIVERED and answer.hops[-1].namespace == "pod:default/a"
    assert answer.final_packet is not None and (str(answer.final_packet.src), answer.final_packet.sport) == ("10.96.0.10", 53)
    assert "the query: udp 10.244." in dns_step.summary() and "DELIVERED at" in dns_step.summary()
    step_json: Any = report.to_dict()["hops"][0]["steps"][0]  # type: ignore[call-overload]  # --json carries both traces whole
    assert [x["disposition"] for x in step_json["exchange"]] == ["DELIVERED", "DELIVERED"]
    assert step_json["exchange"][0]["hops"][-1]["namespace"] in coredns
