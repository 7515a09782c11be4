"""Counters that add up as the kernel's do, shares that follow kube-proxy's probabilities, and
the same answer for the same seed."""

from __future__ import annotations

from overlaynet.network import load
from overlaynet.traffic import read_mix, simulate
from overlaynet.traffic.counters import fragment_sizes

DEMO = load(["topologies/demo.yaml"])
FRONT = "default/frontend-dtz8lffdhv-blt7m"  # on node-1
BACK = "default/backend-lm568x9xcq-qjb4k"  # on node-3


def _mix(flows: str, duration: int = 10) -> str:
    return f"kind: TrafficMix\nspec:\n  duration: {duration}\n  seed: 3\n  flows:\n{flows}"


def test_bytes_out_of_one_hop_are_bytes_into_the_next_plus_the_encapsulation() -> None:
    mix = read_mix(_mix(f"    - {{from: {FRONT}, to: {BACK}:8080, rate: 5, requests: 2, requestSize: 1000, responses: 0}}\n"))
    r = simulate(DEMO, mix)
    c = r.counts
    pkts = 5 * 10 * 2
    pod = ("node-1", f"pod:{FRONT}", "eth0")
    assert (c.tx_packets[pod], c.tx_bytes[pod]) == (pkts, pkts * 1014)  # IP 1000 + Ethernet 14
    [veth] = [i for i in c.rx_bytes if i[0] == "node-1" and i[2].startswith("veth")]
    assert c.rx_bytes[veth] == c.tx_bytes[pod]  # one end of the veth to the other
    tunnel_tx = c.tx_bytes[("node-1", "root", "flannel.1")]
    assert tunnel_tx == pkts * 1014  # flannel.1 counts the inner Ethernet frame
    # the underlay frame is the tunnel's packet plus 50 bytes of VXLAN encapsulation plus 14 outer Ethernet
    assert c.tx_bytes[("node-1", "root", "eth0")] == tunnel_tx + pkts * 50 == pkts * 1064
    assert c.rx_bytes[("core", "root", "eth0")] == c.tx_bytes[("node-1", "root", "eth0")]
    assert c.tx_bytes[("core", "root", "eth1")] == c.rx_bytes[("node-3", "root", "eth0")] == pkts * 1064
    assert c.encap_bytes["rack-a"] == c.encap_bytes["rack-b"] == pkts * 50
    assert c.rx_bytes[("node-3", "root", "flannel.1")] == tunnel_tx
    assert c.rx_bytes[("node-3", f"pod:{BACK}", "eth0")] == pkts * 1014
    assert r.flows[0].by_endpoint == {BACK: 50}


def test_fragmented_packets_are_counted_per_fragment() -> None:
    assert fragment_sizes(4000, 1450) == [1444, 1444, 1152]
    mix = read_mix(_mix(f"    - {{from: {FRONT}, to: {BACK}:8080, rate: 1, requestSize: 4000, responses: 0}}\n", duration=1))
    c = simulate(DEMO, mix).counts
    assert c.tx_packets[("node-1", f"pod:{FRONT}", "eth0")] == 3  # pod MTU 1450: fragmented at its eth0
    assert c.segment_frames["rack-a"] == 3 and c.encap_bytes["rack-a"] == 150


def test_service_shares_follow_the_probabilities_and_replies_come_back() -> None:
    mix = read_mix(_mix("    - {from: {selector: {app: frontend}}, to: web:80, rate: 300, responses: 2, responseSize: 1400}\n"))
    r = simulate(DEMO, mix)
    shares = r.flows[0].by_endpoint
    assert sum(shares.values()) == 3000 and set(shares) == {p.key for p in DEMO.cluster.pods if p.labels.get("app") == "backend"}
    assert all(900 < n < 1100 for n in shares.values())  # 1/3 each, drawn with the seed
    front_rx = sum(n for (h, ns, d), n in r.counts.rx_packets.items() if "frontend" in ns)
    assert front_rx == 3000 * 2  # every reply packet reached its client
    assert simulate(DEMO, mix).to_dict() == r.to_dict()  # same seed, same counters


def test_drops_are_counted_by_reason() -> None:
    net = load(["topologies/calico-policy.yaml"])
    mix = read_mix(_mix("    - {from: qa/frontend, to: prod/api:8080, rate: 1}\n"))
    r = simulate(net, mix)
    assert r.flows[0].failed == {"DENIED": 10} and not r.flows[0].by_endpoint
    [((disposition, where, reason), n)] = r.counts.drops.items()
    assert (disposition, n) == ("DENIED", 10)
    assert "prod/default-deny-ingress" in reason
