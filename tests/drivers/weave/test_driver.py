"""The Weave driver end to end: relays over a partial mesh (and the reason when there is no
relay), default IPAM, the pod MTU, the host layout, encryption on the trace, the fastdp pcap
decoded by tshark as VXLAN."""

from __future__ import annotations

import ipaddress
import subprocess
from pathlib import Path

import pytest

from overlaynet.dataplane.ir import NsRef
from overlaynet.errors import DriverOptionError, TopologyError
from overlaynet.network import Network, assemble
from overlaynet.network.request import TraceRequest, run
from overlaynet.topology import load_cluster
from overlaynet.trace.pcap import write_pcap
from overlaynet.trace.steps import DropStep, EncapStep, RelayStep

TOPOLOGIES = Path(__file__).resolve().parents[3] / "topologies"


def _net(name: str, text: str | None = None, tmp: Path | None = None) -> Network:
    path = TOPOLOGIES / name
    if text is not None:
        assert tmp is not None
        path = tmp / name
        path.write_text(text)
    return assemble(load_cluster([path]))


def test_pods_on_peers_without_a_connection_are_relayed_by_the_peer_between() -> None:
    net = _net("weave-partial-mesh.yaml")
    t = run(net, TraceRequest("default/a1", "default/c1")).forward.trace
    assert t.disposition.value == "DELIVERED", t.reason
    relays = t.steps(RelayStep)
    assert len(relays) == 1
    relay_hop = next(h for h in t.hops if any(isinstance(s, RelayStep) for s in h.steps))
    assert relay_hop.host == "node-2"
    assert relays[0].next_hop == ipaddress.IPv4Address("192.168.20.13")
    assert "route node-2 → node-3 (sleeve)" in relays[0].reason
    encaps = t.steps(EncapStep)
    # node-1 → node-2 by fastdp (VXLAN 6784), node-2 → node-3 by sleeve (UDP 6783, 62 bytes)
    assert [(e.encapsulation, e.outer_dport, e.overhead_bytes) for e in encaps] == [("vxlan", 6784, 50), ("udp", 6783, 62)]
    assert "relayed via node-2: node-1 has no direct connection to node-3" in encaps[0].origin
    # the VNI carries the first peer's short ID (low 12 bits) and the destination's (high 12)
    mesh = net.driver.mesh  # type: ignore[attr-defined]
    assert encaps[0].vni == mesh.peers["node-1"].short_id | mesh.peers["node-3"].short_id << 12


def test_without_the_only_relay_the_trace_says_why(tmp_path: Path) -> None:
    text = (TOPOLOGIES / "weave-partial-mesh.yaml").read_text().replace(
        "connections: [[node-1, node-2], [node-2, node-3]]", "connections: [[node-1, node-2]]")
    net = _net("weave-partial-mesh.yaml", text, tmp_path)
    t = run(net, TraceRequest("default/a1", "default/c1")).forward.trace
    assert t.disposition.value == "NEIGHBOR_UNREACHABLE"
    assert "peer node-3 (pod default/c1) is unreachable from node-1" in t.reason
    assert "node-3 reaches no peer" in t.reason and "no connection configured between node-1 and node-3" in t.reason
    assert not t.steps(RelayStep)


def test_pods_get_unique_addresses_in_the_default_range_and_the_weave_mtu() -> None:
    net = _net("weave-full-mesh.yaml")
    pods = [p for p in net.cluster.pods if not p.host_network]
    ips = [p.ip for p in pods]
    assert len(set(ips)) == len(ips) == 6  # 4 pods and the 2 CoreDNS pods
    assert all(ip in ipaddress.ip_network("10.32.0.0/12") for ip in ips)
    for pod in pods:
        peer = net.driver.mesh.peers[pod.node].name  # type: ignore[attr-defined]
        assert net.driver.ipam.ring.owner(int(pod.ip)) == peer  # type: ignore[attr-defined]
    t = run(net, TraceRequest("default/web-1", "default/web-2", size=1400, df=True)).forward.trace
    assert t.disposition.value == "FRAG_NEEDED"
    drop = t.steps(DropStep)[0]
    assert drop.mtu == 1376 and t.hops[0].ns == NsRef.pod("node-1", "default/web-1")


def test_host_layout_is_weaves() -> None:
    net = _net("weave-full-mesh.yaml")
    root = net.build_all().namespace(NsRef("node-1"))
    weave = root.interfaces["weave"]
    assert weave.kind == "bridge" and weave.mtu == 1376 and weave.proxy_arp
    expose = net.driver.expose["node-1"]  # type: ignore[attr-defined]
    assert [(a.ip, a.prefixlen) for a in weave.addresses] == [(expose, 12)]
    assert root.interfaces["vethwe-bridge"].master == "weave"
    assert root.interfaces["vethwe-datapath"].peer == (root.ref, "vethwe-bridge")
    assert root.interfaces["datapath"].mtu == 1376
    fw = root.forwarders["weave"]
    assert fw.frames and fw.tun == "vethwe-datapath" and ("vxlan", 6784) in fw.listen
    nat = root.netfilter.tables["nat"].chains["WEAVE"]
    assert nat.origin == "weave" and nat.role.value == "nat"
    from overlaynet.dataplane.netfilter import render_save

    text = render_save(root.netfilter)
    assert "-A WEAVE ! -s 10.32.0.0/12 -d 10.32.0.0/12 -j MASQUERADE" in text
    assert "-A WEAVE -s 10.32.0.0/12 ! -d 10.32.0.0/12 -j MASQUERADE" in text
    assert "-A POSTROUTING -j WEAVE" in text
    pod = net.build_all().namespace(NsRef.pod("node-1", "default/web-1"))
    default = next(r for r in pod.routes if r.dst.prefixlen == 0)
    assert default.via == expose


def test_sleeve_only_layout_uses_vethwe_pcap(tmp_path: Path) -> None:
    text = (TOPOLOGIES / "weave-full-mesh.yaml").read_text().replace("driver: weave", "driver: weave\n    options: {noFastdp: true}")
    net = _net("weave-full-mesh.yaml", text, tmp_path)
    root = net.build_all().namespace(NsRef("node-1"))
    assert "datapath" not in root.interfaces and "vethwe-pcap" in root.interfaces
    t = run(net, TraceRequest("default/web-1", "default/web-3")).forward.trace
    assert t.success
    assert [(e.encapsulation, e.outer_sport, e.outer_dport, e.overhead_bytes) for e in t.steps(EncapStep)] == [("udp", 6783, 6783, 62)]


def test_encrypted_connections_name_their_cipher_and_bytes() -> None:
    net = _net("weave-encrypted.yaml")
    fast = run(net, TraceRequest("default/a1", "default/b1")).forward.trace.steps(EncapStep)[0]
    assert fast.cipher.startswith("IPsec ESP transport") and 84 <= fast.overhead_bytes <= 87
    assert ("ESP", 16) in fast.layers
    sleeve = run(net, TraceRequest("default/a1", "default/c1")).forward.trace.steps(EncapStep)[0]
    assert sleeve.cipher.startswith("NaCl") and sleeve.overhead_bytes == 86
    # encrypted fastdp is the host's IPsec policies, as weave's net/ipsec programs them
    root = net.build_all().namespace(NsRef("node-1"))
    assert [(str(x.dst), x.dport, x.icv) for x in root.xfrm] == [("192.168.10.12", 6784, 16)]


@pytest.mark.parametrize("size", [100, 101, 102, 103])
def test_esp_padding_makes_84_to_87(size: int) -> None:
    net = _net("weave-encrypted.yaml")
    enc = run(net, TraceRequest("default/a1", "default/b1", size=size)).forward.trace.steps(EncapStep)[0]
    # VXLAN 50, ESP 34-37: the UDP datagram + 2 is padded to a multiple of 4
    datagram = size + 8 + 8 + 14
    assert enc.overhead_bytes == 50 + 16 + (-(datagram + 2) % 4) + 2 + 16


def test_bad_options_and_file_addresses_are_clear_errors(tmp_path: Path) -> None:
    text = (TOPOLOGIES / "weave-partial-mesh.yaml").read_text().replace("[node-2, node-3]]", "[node-2, node-9]]")
    with pytest.raises(DriverOptionError, match="no node 'node-9'"):
        _net("weave-partial-mesh.yaml", text, tmp_path).build_all()
    text = (TOPOLOGIES / "weave-full-mesh.yaml").read_text().replace(
        "metadata: {name: web-1, namespace: default, labels: {app: web}}",
        "metadata: {name: web-1, namespace: default, labels: {app: web}}\nstatus: {podIP: 10.244.0.5}")
    with pytest.raises(TopologyError, match="outside weave's ipallocRange 10.32.0.0/12"):
        _net("weave-full-mesh.yaml", text, tmp_path)


@pytest.mark.tshark
def test_tshark_decodes_the_fastdp_pcap_as_vxlan(tmp_path: Path) -> None:
    net = _net("weave-full-mesh.yaml")
    t = run(net, TraceRequest("default/web-1", "default/web-3")).forward.trace
    path = tmp_path / "fastdp.pcap"
    write_pcap(path, [t])
    out = subprocess.run(
        ["tshark", "-r", str(path), "-d", "udp.port==6784,vxlan", "-T", "fields", "-e", "frame.len", "-e", "frame.protocols", "-e", "vxlan.vni"],
        capture_output=True, text=True, check=True, timeout=60).stdout
    vx = [line.split("\t") for line in out.splitlines() if ":vxlan:" in line]
    enc = t.steps(EncapStep)[0]
    assert vx and all(p.endswith(":tcp") for _, p, _ in vx)
    assert {int(n) for _, _, n in vx} == {enc.vni} and {int(n) for n, _, _ in vx} == {enc.wire_bytes}


def test_a_gone_peer_keeps_its_ranges_until_rmpeer(tmp_path: Path) -> None:
    base = (TOPOLOGIES / "weave-full-mesh.yaml").read_text()
    kept = _net("weave-full-mesh.yaml", base.replace("driver: weave", "driver: weave\n    options: {formerPeers: [old-node]}"), tmp_path)
    drv = kept.driver
    gone = drv.peer_names["old-node"]  # type: ignore[attr-defined]
    assert [str(r) for r in drv.ipam.ranges_of(gone)] == ["10.32.0.0/14"]  # type: ignore[attr-defined]
    assert all(p.ip not in ipaddress.ip_network("10.32.0.0/14") for p in kept.cluster.pods if p.ips)
    rm = _net("weave-full-mesh.yaml", base.replace(
        "driver: weave", "driver: weave\n    options: {formerPeers: [old-node], rmpeer: [[old-node, node-1]]}"), tmp_path)
    drv = rm.driver
    assert drv.ipam.ranges_of(drv.peer_names["old-node"]) == []  # type: ignore[attr-defined]
    assert "10.32.0.0/14" in [str(r) for r in drv.ipam.ranges_of(drv.peer_names["node-1"])]  # type: ignore[attr-defined]
    with pytest.raises(DriverOptionError, match="'nope' is not in formerPeers"):
        _net("weave-full-mesh.yaml", base.replace("driver: weave", "driver: weave\n    options: {rmpeer: [[nope, node-1]]}"), tmp_path)
