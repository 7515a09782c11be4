"""Kernel agreement for Calico: its VXLAN (Always, CrossSubnet, own port/VNI) and native
modes materialized in namespaces and probed (reach, reply TTL, VXLAN frame sizes, Frag
needed, TCP), its pod plumbing checked in the kernel (proxy ARP for 169.254.1.1,
ee:ee:ee:ee:ee:ee, /32 routes, VTEP neighbour + FDB), NAT-outgoing, and its policy as ACLs:
for every ordered pod pair of ``topologies/calico-policy.yaml`` a real TCP connect succeeds
exactly when the tracer delivers it and ``reach`` allows it (and ICMP echoes agree too).

IP-in-IP needs the kernel's ``ipip`` link type; where it is missing that case is skipped
with the materializer's reason. A node without a route to 169.254.1.1 does not answer its
pods' ARP (projectcalico/calico#3270): the kernel and the tracer agree on that too.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from overlaynet.analysis.reach import ReachQuery, reach
from overlaynet.dataplane.ir import NsRef
from overlaynet.drivers.calico.program import veth_name
from overlaynet.materialize import list_namespaces, materialize
from overlaynet.materialize.naming import run_prefix
from overlaynet.materialize.probe import ping, tcp_connect_many
from overlaynet.materialize.verify import VerifyReport, verify
from overlaynet.model import Pod
from overlaynet.network import Network, assemble
from overlaynet.network.request import TraceRequest, run
from overlaynet.topology import load_cluster

pytestmark = [pytest.mark.root]

TOPOLOGIES = Path(__file__).parent / "topologies"
POLICY = Path(__file__).resolve().parents[2] / "topologies" / "calico-policy.yaml"
PORT = 8080
# the rack's gateway: a node needs some route to 169.254.1.1 for its proxy ARP to answer
# the pods (projectcalico/calico#3270); a real node has its default route
GATEWAY = "    routers:\n      - {name: gw, interfaces: {rack-a: 192.168.10.1}}\n"


def _network(name: str) -> Network:
    return assemble(load_cluster([TOPOLOGIES / name]))


def _by(report: VerifyReport, check: str) -> list[Any]:
    return [c for c in report.comparisons if c.check == check]


def _ref(pod: Pod) -> NsRef:
    return NsRef.of_pod(pod)


def _disagreements(report: VerifyReport) -> str:
    return "\n".join(f"{c.check} {c.src} -> {c.dst}: tracer {c.tracer} / kernel {c.kernel} ({c.detail})"
                     for c in report.disagreements)


@pytest.mark.tshark
def test_calico_vxlan_two_racks_agrees_with_the_kernel(run_id: str) -> None:
    network = _network("calico-vxlan-3node.yaml")
    node_of = {p.key: p.node for p in network.cluster.pods}
    report = verify(network, run_id=run_id, tcp_port=PORT)
    assert report.disagreements == [], _disagreements(report)
    # 3 nodes, 6 pods and the 2 CoreDNS pods every cluster has, core, 2 racks
    assert report.ok and report.pairs == 56 and report.namespaces == 14
    assert [c.kernel for c in _by(report, "reach")] == ["reply"] * 56
    assert [c.kernel for c in _by(report, "tcp")] == ["connected"] * 56
    assert all(c.agree for c in _by(report, "tcp_peer"))  # no NAT between pods in the pool
    # TTL: the node routes once between two of its pods (cali… → cali…), twice across
    # nodes (both hosts; `core` routes only the outer VXLAN packet)
    ttls = {(c.src, c.dst): int(c.kernel) for c in _by(report, "ttl")}
    assert len(ttls) == 56 and all(ttl == (63 if node_of[a] == node_of[b] else 62) for (a, b), ttl in ttls.items())
    # every cross-node echo and reply is one VXLAN frame of 84 + 50 + 14 bytes on the underlay
    wire = _by(report, "wire_bytes")
    def want(a: str, b: str) -> str:  # one frame per segment crossed: twice between racks, through `core`
        nodes = {node_of[a], node_of[b]}
        return "no frame" if len(nodes) == 1 else "2×148" if "node-3" in nodes else "148"

    assert wire and [c.kernel for c in wire] == [want(c.src, c.dst) for c in wire]
    assert all(c.detail.endswith("vxlan wire_bytes") for c in wire if c.kernel != "no frame")
    # Frag needed at the pod MTU: 1450 on rack-a, 8950 on rack-b (1500/9000 − 50); node-3's
    # pods reach rack-a pods through vxlan.calico (8950), and the receiving node refuses
    # 1451 bytes at its cali… veth (1450) with an ICMP from its own address
    frag = {(c.src, c.dst): c.kernel for c in _by(report, "frag_needed")}
    assert len(frag) == 56 and len(_by(report, "fits")) == 56
    for (a, b), got in frag.items():
        if node_of[a] != "node-3":
            assert got == "frag_needed mtu 1450 (local)"
        elif node_of[b] == "node-3":
            assert got == "frag_needed mtu 8950 (local)"
        else:
            assert re.fullmatch(r"frag_needed mtu 1450 \(from 10\.244\.\d+\.\d+\)", got), got
    assert list_namespaces(run_prefix(run_id)) == []


@pytest.mark.tshark
def test_calico_vxlan_crosssubnet_agrees_with_the_kernel(run_id: str, tmp_path: Path) -> None:
    # vxlanMode CrossSubnet: node-1 ↔ node-2 (rack-a) routed natively, node-3 (rack-b)
    # reached through vxlan.calico and the router
    text = (TOPOLOGIES / "calico-vxlan-3node.yaml").read_text()
    (tmp_path / "cs.yaml").write_text(text.replace("encapsulation: vxlan}", "encapsulation: vxlan, crossSubnet: true}"))
    network = assemble(load_cluster([tmp_path / "cs.yaml"]))
    node_of = {p.key: p.node for p in network.cluster.pods}
    report = verify(network, run_id=run_id)
    assert report.disagreements == [], _disagreements(report)
    assert report.ok and report.pairs == 56  # 6 pods and 2 CoreDNS pods
    for c in _by(report, "wire_bytes"):
        nodes = {node_of[c.src], node_of[c.dst]}
        want = "no frame" if len(nodes) == 1 else "2×148" if "node-3" in nodes else "98"
        assert c.kernel == want, c


@pytest.mark.tshark
def test_calico_vxlan_on_its_own_port_and_vni_agrees_with_the_kernel(run_id: str, tmp_path: Path) -> None:
    # Felix's vxlanPort/vxlanVNI options: the capture is decoded on the port the IR's VXLAN
    # devices use, so the frames are still recognised and measured
    text = (POLICY.parent / "calico-vxlan.yaml").read_text()
    assert "options: {encapsulation: vxlan}" in text
    text = text.replace("options: {encapsulation: vxlan}", "options: {encapsulation: vxlan, vxlanPort: 4790, vxlanVNI: 77}")
    (tmp_path / "port.yaml").write_text(text)
    network = assemble(load_cluster([tmp_path / "port.yaml"]))
    report = verify(network, run_id=run_id, mtu=False)
    assert report.disagreements == [], _disagreements(report)
    node_of = {p.key: p.node for p in network.cluster.pods}
    wire = _by(report, "wire_bytes")
    # rack-a, then rack-b: two frames between the racks; none within a node
    assert wire and [c.kernel for c in wire] == [
        "no frame" if node_of[c.src] == node_of[c.dst] else "2×148" for c in wire]


@pytest.mark.tshark
def test_calico_native_one_rack_agrees_with_the_kernel(run_id: str) -> None:
    network = _network("calico-native-1rack.yaml")
    node_of = {p.key: p.node for p in network.cluster.pods}
    report = verify(network, run_id=run_id, tcp_port=PORT)
    assert report.disagreements == [], _disagreements(report)
    assert report.ok and report.pairs == 30  # 4 pods and 2 CoreDNS pods
    assert [c.kernel for c in _by(report, "tcp")] == ["connected"] * 30
    ttls = {(c.src, c.dst): int(c.kernel) for c in _by(report, "ttl")}
    assert all(ttl == (63 if node_of[a] == node_of[b] else 62) for (a, b), ttl in ttls.items())
    # no encapsulation: the plain frame (84 + 14) between nodes, nothing within a node
    wire = _by(report, "wire_bytes")
    assert wire and Counter(c.kernel for c in wire) == Counter("98" if node_of[c.src] != node_of[c.dst] else "no frame" for c in wire)
    assert {c.kernel for c in _by(report, "frag_needed")} == {"frag_needed mtu 1500 (local)"}


def test_calico_native_across_racks_fails_where_the_tracer_says(run_id: str) -> None:
    # topologies/calico-native.yaml: node-3 is on another rack, BIRD cannot install the
    # native routes to and from it; the tracer sends those packets out the default route
    # (EXITS_NETWORK) and the kernel's echo and connect go unanswered
    network = assemble(load_cluster([POLICY.parent / "calico-native.yaml"]))
    report = verify(network, run_id=run_id, capture=False, tcp_port=PORT, timeout=0.5)
    assert report.disagreements == [], _disagreements(report)
    reach_ = {(c.src, c.dst): c for c in _by(report, "reach")}
    node_of = {p.key: p.node for p in network.cluster.pods}
    assert len(reach_) == 20  # 3 pods and the 2 CoreDNS pods
    for (a, b), c in reach_.items():
        crosses = (node_of[a] == "node-3") != (node_of[b] == "node-3")
        assert c.tracer.startswith("EXITS_NETWORK" if crosses else "DELIVERED"), c
        assert c.kernel.startswith("timeout" if crosses else "reply"), c
    assert sum(c.kernel == "connected" for c in _by(report, "tcp")) == sum(
        (node_of[a] == "node-3") == (node_of[b] == "node-3") for a, b in reach_)


def test_calico_pod_plumbing_works_in_the_kernel(run_id: str) -> None:
    network = _network("calico-vxlan-3node.yaml")
    network.build_all()
    pods = {p.key: p for p in network.cluster.pods}
    a1, b1 = pods["default/a1"], pods["default/b1"]
    hosts = ["node-1", "node-2", "core"]
    with materialize(network.dataplane, hosts=hosts, run_id=run_id) as m:
        host = m.namespace_name(NsRef("node-1"))
        veth = m.ifname(NsRef("node-1"), veth_name(a1))
        link = json.loads(m.exec(host, ["ip", "-j", "-d", "link", "show", "dev", veth]).stdout)[0]
        assert link["address"] == "ee:ee:ee:ee:ee:ee" and link["mtu"] == 1450
        sysctl = m.exec(host, ["cat", f"/proc/sys/net/ipv4/conf/{veth}/proxy_arp",
                               f"/proc/sys/net/ipv4/neigh/{veth}/proxy_delay"]).stdout.split()
        assert sysctl == ["1", "0"]
        routes = m.exec(host, ["ip", "-4", "route", "show"]).stdout
        assert f"{a1.ip} dev {veth} scope link" in routes
        assert re.search(r"blackhole 10\.244\.0\.0/26 proto bird", routes)
        remote = re.search(r"10\.244\.0\.64/26 via (\S+) dev vxlan\.calico proto \S+ onlink", routes)
        assert remote is not None, routes
        # the VTEP of node-2: a permanent neighbour (tunnel IP → MAC) and an FDB entry (MAC → node IP)
        neigh = m.exec(host, ["ip", "neigh", "show", "dev", "vxlan.calico"]).stdout
        mac = re.search(rf"{re.escape(remote.group(1))} lladdr (\S+) PERMANENT", neigh)
        assert mac is not None, neigh
        fdb = m.exec(host, ["bridge", "fdb", "show", "dev", "vxlan.calico"]).stdout
        assert f"{mac.group(1)} dst 192.168.10.12 self permanent" in fdb, fdb
        # the pod's gateway: link route to 169.254.1.1, default via it, answered by proxy ARP
        # with the host veth's MAC once the pod has sent something
        pod_ns = m.namespace_name(_ref(a1))
        assert "default via 169.254.1.1 dev eth0" in m.exec(pod_ns, ["ip", "route"]).stdout
        assert ping(m, _ref(a1), str(b1.ip), timeout=1.0).answered
        gw = m.exec(pod_ns, ["ip", "neigh", "show", "169.254.1.1"]).stdout
        assert re.match(r"169\.254\.1\.1 dev eth0 lladdr ee:ee:ee:ee:ee:ee (REACHABLE|STALE|DELAY)", gw), gw


def test_calico_nat_outgoing_agrees_with_the_kernel(run_id: str) -> None:
    # natOutgoing: a pod's connection to an address outside every pool (a node, the router)
    # leaves masqueraded to its node's address; the server sees what the tracer delivers
    network = _network("calico-vxlan-3node.yaml")
    pods = {p.key: p for p in network.cluster.pods}
    targets = {"192.168.10.12": NsRef("node-2"), "192.168.10.1": NsRef("core"), "192.168.20.1": NsRef("core")}
    probes = [(pods[k], ip) for k in ("default/a1", "default/c1") for ip in targets]
    traced = [run(network, TraceRequest(pod.key, ip, port=PORT, reply=True)) for pod, ip in probes]
    network.build_all()
    with materialize(network.dataplane, hosts=["node-1", "node-2", "node-3", "core"], run_id=run_id) as m:
        got = tcp_connect_many(m, [(_ref(pod), ip) for pod, ip in probes], PORT, listen_in=targets.values(), timeout=1.0)
    seen = []
    for (pod, ip), report, kernel in zip(probes, traced, got, strict=True):
        final = report.forward.trace.final_packet
        assert report.success and final is not None, (pod.key, ip, report.forward.trace.reason)
        assert kernel.connected and kernel.accepted_from == str(final.src), (pod.key, ip, kernel, final.src)
        seen.append((pod.key, kernel.accepted_from))
    assert set(seen) == {("default/a1", "192.168.10.11"), ("default/c1", "192.168.20.13")}


def _policy_network(tmp_path: Path, encapsulation: str) -> Network:
    text = POLICY.read_text()
    assert "options: {encapsulation: ipip}" in text
    text = text.replace("options: {encapsulation: ipip}", f"options: {{encapsulation: {encapsulation}}}")
    text = text.replace("      - {name: rack-a, cidr: 192.168.10.0/24}\n  nodes:",
                        "      - {name: rack-a, cidr: 192.168.10.0/24}\n" + GATEWAY + "  nodes:")
    path = tmp_path / f"calico-policy-{encapsulation}.yaml"
    path.write_text(text)
    return assemble(load_cluster([path]))


def _policy_agreement(network: Network, run_id: str, needles: tuple[str, ...] = ()) -> set[tuple[str, str]]:
    """Connect over TCP from every pod to every other pod's port 8080 in the kernel; fail
    on any pair where the kernel, the tracer and ``reach`` do not all say the same. Returns
    the pairs that connected."""
    pods = [p for p in network.cluster.pods if p.ips and not p.host_network]
    pairs = [(a, b) for a in pods for b in pods if a.key != b.key]
    traced = {(a.key, b.key): run(network, TraceRequest(a.key, b.key, port=PORT, reply=True)) for a, b in pairs}
    matrix = reach(network.cluster, ReachQuery(port=PORT), None, policies="calico")
    network.build_all()
    hosts = [n.name for n in network.cluster.nodes] + [r.name for r in network.cluster.underlay.routers]
    with materialize(network.dataplane, hosts=hosts, run_id=run_id) as m:
        # Felix's chains were loaded by iptables-restore: gotos, marks, conntrack, comments
        saved = m.exec(NsRef(pods[-1].node or ""), ["iptables-save", "-t", "filter"]).stdout
        for needle in ("-g cali-tw-cali", "-j MARK --set-xmark 0x10000/0x10000", "--ctstate RELATED,ESTABLISHED",
                       "-m mark --mark 0x0/0x20000 -j cali-pi-_", "policy: denied, no policy allows it", *needles):
            assert needle in saved, needle
        got = tcp_connect_many(m, [(_ref(a), b.ips[0]) for a, b in pairs], PORT,
                               listen_in=[_ref(p) for p in pods], timeout=0.7)
    wrong = []
    for (a, b), kernel in zip(pairs, got, strict=True):
        report = traced[(a.key, b.key)]
        allowed = bool(matrix.allowed[matrix.index(a.key), matrix.index(b.key)])
        if not report.success == kernel.connected == allowed:
            t = report.forward.trace
            wrong.append(f"{a.key} -> {b.key}:{PORT}: tracer {t.disposition} ({t.reason}); reach "
                         f"{'allowed' if allowed else 'denied'}; kernel {kernel.status} {kernel.message}")
        elif kernel.connected:  # pod to pod inside the pool: no NAT
            assert kernel.accepted_from == str(a.ips[0]), (a.key, b.key, kernel)
    assert wrong == [], "\n".join(wrong)
    return {(a.key, b.key) for (a, b), k in zip(pairs, got, strict=True) if k.connected}


def _kube_system_pairs(network: Network) -> list[tuple[str, str]]:
    keys = [p.key for p in network.cluster.pods if p.ips]
    return [(a, b) for a in keys for b in keys if a != b and "kube-system/" in a + b]


@pytest.mark.parametrize("encapsulation", ["none", "vxlan"])
def test_calico_policy_acls_agree_with_the_kernel(encapsulation: str, run_id: str, tmp_path: Path) -> None:
    network = _policy_network(tmp_path, encapsulation)
    ok = _policy_agreement(network, run_id)
    mine = {pair for pair in ok if not any(k.startswith("kube-system/") for k in pair)}
    assert len(mine) == 29  # of 72: the three policies deny the rest
    assert all((a, b) in ok for a, b in _kube_system_pairs(network) if b.startswith("kube-system/"))  # no policy there
    assert ("prod/frontend", "prod/api") in ok and ("qa/frontend", "prod/api") not in ok  # default deny + allow
    assert ("qa/api", "staging/db") not in ok  # staging admits qa, but qa's egress excludes node-3's block
    assert ("qa/db", "staging/api") in ok and ("prod/db", "staging/api") not in ok  # namespaceSelector
    assert ("prod/api", "qa/db") in ok  # qa limits its egress only
    denied = run(network, TraceRequest("qa/frontend", "prod/api", port=PORT)).forward.trace
    assert str(denied.disposition) == "DENIED" and "prod" in denied.reason


def test_calico_policy_icmp_agrees_with_the_kernel(run_id: str, tmp_path: Path) -> None:
    # the same policies seen by ICMP echoes: default-deny drops them, prod's allow is TCP
    # on the named port only, staging admits every protocol from qa
    report = verify(_policy_network(tmp_path, "none"), run_id=run_id, capture=False, mtu=False, timeout=0.5)
    assert report.disagreements == [], _disagreements(report)
    answered = {(c.src, c.dst) for c in _by(report, "reach") if c.kernel == "reply"}
    mine = {pair for pair in answered if not any(k.startswith("kube-system/") for k in pair)}
    assert report.pairs == 110 and len(mine) == 28  # 9 pods and 2 CoreDNS pods
    assert ("prod/frontend", "prod/api") not in answered and ("qa/db", "staging/api") in answered
    denied = next(c for c in _by(report, "reach") if (c.src, c.dst) == ("prod/frontend", "prod/api"))
    assert denied.tracer.startswith("DENIED") and denied.kernel.startswith("timeout")


CALICO_V3 = """---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: guard-b}
spec:
  order: 10
  selector: app == 'b'
  ingress:
    - {action: Log, protocol: TCP}
    - action: Deny
      protocol: TCP
      source: {selector: app == 'a'}
      destination: {ports: [8080]}
    - {action: Pass, protocol: TCP, source: {selector: app == 'b'}}
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: after-pass, namespace: default}
spec:
  order: 20
  selector: app == 'b'
  ingress:
    - {action: Deny, protocol: TCP}
"""


def test_calico_v3_log_deny_pass_agree_with_the_kernel(run_id: str, tmp_path: Path) -> None:
    # Log (the LOG target must load in a namespace), Deny from app a, Pass for app b, which
    # skips the rest of the tier: the later Deny-all never sees b's traffic, and with no
    # further tier the profile allows it
    path = tmp_path / "v3.yaml"
    path.write_text((TOPOLOGIES / "calico-native-1rack.yaml").read_text() + CALICO_V3)
    ok = _policy_agreement(assemble(load_cluster([path])), run_id,
                           ('-j LOG --log-prefix "calico-packet: "', "-j MARK --set-xmark 0x20000/0x20000"))
    ok = {pair for pair in ok if not any(k.startswith("kube-system/") for k in pair)}  # CoreDNS's own
    assert ok == {("default/a1", "default/a2"), ("default/a2", "default/a1"),
                  ("default/b1", "default/b2"), ("default/b2", "default/b1"),
                  ("default/b1", "default/a1"), ("default/b1", "default/a2"),
                  ("default/b2", "default/a1"), ("default/b2", "default/a2")}


def test_calico_ipip_agrees_or_is_skipped_without_the_ipip_link_type(run_id: str, tmp_path: Path) -> None:
    text = (TOPOLOGIES / "calico-vxlan-3node.yaml").read_text().replace("encapsulation: vxlan", "encapsulation: ipip")
    (tmp_path / "ipip.yaml").write_text(text)
    network = assemble(load_cluster([tmp_path / "ipip.yaml"]))
    network.build_all()
    with materialize(network.dataplane, hosts=["node-1"], run_id=run_id) as m:
        missing = [s for s in m.skipped if s.object.startswith("ipip ")]
    assert list_namespaces(run_prefix(run_id)) == []
    if missing:
        pytest.skip(f"IP-in-IP cannot be materialized here: {missing[0]}")
    report = verify(network, run_id=run_id, tcp_port=PORT)  # wire sizes too where tshark is
    assert report.disagreements == [], _disagreements(report)
    assert report.ok and report.pairs == 56  # 6 pods and 2 CoreDNS pods


def _no_gateway(tmp_path: Path) -> Network:
    text = (TOPOLOGIES / "calico-native-1rack.yaml").read_text()
    assert GATEWAY in text
    (tmp_path / "nogw.yaml").write_text(text.replace(GATEWAY, ""))
    return assemble(load_cluster([tmp_path / "nogw.yaml"]))


def test_a_node_without_a_default_route_does_not_proxy_arp_for_its_pods(run_id: str, tmp_path: Path) -> None:
    # the kernel answers a proxied ARP only for an address it has a route to (out another
    # device): with no default route, 169.254.1.1 stays unresolved and nothing leaves the pod
    network = _no_gateway(tmp_path)
    network.build_all()
    pods = {p.key: p for p in network.cluster.pods}
    with materialize(network.dataplane, hosts=["node-1"], run_id=run_id) as m:
        assert m.exec(NsRef("node-1"), ["ip", "route", "show", "default"]).stdout.strip() == ""
        assert ping(m, _ref(pods["default/a1"]), str(pods["default/a2"].ip), timeout=0.5).status == "timeout"
        gw = m.exec(_ref(pods["default/a1"]), ["ip", "neigh", "show", "169.254.1.1"]).stdout
        assert "lladdr" not in gw and re.search(r"INCOMPLETE|FAILED", gw), gw


def test_the_tracer_agrees_on_a_node_without_a_default_route(run_id: str, tmp_path: Path) -> None:
    report = verify(_no_gateway(tmp_path), [("default/a1", "default/a2")], run_id=run_id, capture=False,
                    mtu=False, timeout=0.5)
    [c] = report.comparisons
    assert c.agree, f"tracer {c.tracer} / kernel {c.kernel}"

