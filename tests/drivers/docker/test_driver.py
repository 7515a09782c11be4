"""The docker-overlay driver end to end: traces across hosts, the MTU break on a small
underlay, north-south through docker_gwbridge, the store as libnetwork lays it out."""

from __future__ import annotations

import shutil
import subprocess
from ipaddress import ip_address
from pathlib import Path

import pytest

from overlaynet.analysis.overhead import parse_payloads
from overlaynet.dataplane.ir import NsKind, NsRef
from overlaynet.network import assemble
from overlaynet.network.request import TraceRequest, run
from overlaynet.topology import load_cluster as load
from overlaynet.trace import Disposition
from overlaynet.trace.pcap import write_pcap
from overlaynet.trace.steps import BridgeStep, DecapStep, DnsStep, EncapStep, FragmentStep, SnatStep

ROOT = Path(__file__).resolve().parents[3] / "topologies"


def _trace(name: str, src: str, dst: str, **kw: object):  # type: ignore[no-untyped-def]
    net = assemble(load([ROOT / name]))
    return net, run(net, TraceRequest(src, dst, **kw)).forward.trace  # type: ignore[arg-type]


def test_container_to_container_across_hosts() -> None:
    net, t = _trace("docker-k8s.yaml", "default/web-1", "default/db-0", proto="udp", port=5432)
    assert t.disposition is Disposition.DELIVERED, t.reason
    app = net.driver.networks[0]  # type: ignore[attr-defined]
    assert app.vni == 256
    sandbox = f"1-{app.id[:10]}"
    hops = [(h.host, h.ns.name if h.ns.kind is NsKind.NETWORK else h.ns.kind.value) for h in t.hops]
    assert hops == [("host-1", "pod"), ("host-1", sandbox), ("host-1", "root"), ("host-2", "root"), ("host-2", sandbox), ("host-2", "pod")]
    bridges = t.steps(BridgeStep)
    assert [(b.bridge, b.in_port, b.out_port) for b in bridges][0][::2] == ("br0", "vxlan0")  # type: ignore[attr-defined]
    assert bridges[-1].in_port == "vxlan0"  # type: ignore[attr-defined]
    encap = t.steps(EncapStep)[0]
    assert (encap.encapsulation, encap.vni, encap.outer_dport, encap.overhead_bytes) == ("vxlan", 256, 4789, 50)  # type: ignore[attr-defined]
    assert (encap.outer_src, encap.outer_dst) == (ip_address("192.168.10.11"), ip_address("192.168.10.12"))  # type: ignore[attr-defined]
    assert t.steps(DecapStep)[0].dev == "vxlan0"


@pytest.mark.tshark
def test_pcap_decodes_as_vxlan(tmp_path: Path) -> None:
    _, t = _trace("docker-k8s.yaml", "default/web-1", "default/db-0", proto="udp", port=5432)
    pcap = tmp_path / "t.pcap"
    write_pcap(pcap, [t])
    out = subprocess.run(
        [shutil.which("tshark") or "tshark", "-r", str(pcap), "-T", "fields", "-e", "frame.protocols", "-e", "vxlan.vni", "-e", "udp.dstport"],
        capture_output=True, text=True, check=True).stdout.split("\n")
    vxlan = [line.split("\t") for line in out if "vxlan" in line]
    assert len(vxlan) == 1 and vxlan[0][1] == "256" and vxlan[0][2].split(",")[0] == "4789", out
    assert "eth:ethertype:ip:udp:vxlan:eth:ethertype:ip:udp" in vxlan[0][0]


def test_df_packet_too_big_for_a_1400_underlay() -> None:
    """What this kernel does (6.x, checked in namespaces by test_mtu_kernel.py): the VXLAN
    driver of a bridge port answers ICMP frag needed, mtu 1350, from the inner destination."""
    _, t = _trace("docker-mtu1400.yaml", "default/web", "default/db", proto="udp", port=9999, size=1400, df=True)
    assert t.disposition is Disposition.FRAG_NEEDED
    drop = t.last_step
    assert (drop.dev, drop.size, drop.mtu) == ("vxlan0", 1400, 1350)  # type: ignore[union-attr]
    assert "from 10.0.0.3 (the inner destination)" in t.reason and "MTU 1400 of eth0" in t.reason
    assert t.hops[-1].ns.kind is NsKind.NETWORK  # dropped in the sandbox, before encapsulation


def test_without_df_the_outer_packet_is_fragmented_and_arrives() -> None:
    _, t = _trace("docker-mtu1400.yaml", "default/web", "default/db", proto="udp", port=9999, size=1400)
    assert t.disposition is Disposition.DELIVERED, t.reason
    frag = t.steps(FragmentStep)[0]
    assert (frag.dev, frag.mtu, frag.size, frag.fragments, frag.outer) == ("eth0", 1400, 1450, 2, True)  # type: ignore[attr-defined]


def test_mtu_option_fixes_it() -> None:
    net = assemble(load([ROOT / "docker-mtu1400.yaml"]))
    tuned = net.driver.networks[1]  # type: ignore[attr-defined]
    eth0 = net.dataplane.namespace(NsRef.pod("host-1", "default/web-tuned")).interfaces["eth0"]
    assert (tuned.mtu, eth0.mtu) == (1400, 1350)
    for size in (eth0.mtu, 1000, 68):  # the biggest packet the container can send, and smaller
        t = run(net, TraceRequest("default/web-tuned", "default/db-tuned", proto="udp", port=9, size=size, df=True)).forward.trace
        assert t.disposition is Disposition.DELIVERED, (size, t.reason)
        assert not t.steps(FragmentStep)


def test_north_south_through_gwbridge_with_masquerade() -> None:
    net, t = _trace("docker-k8s.yaml", "default/web-1", "1.1.1.1", proto="tcp", port=443)
    assert t.disposition is Disposition.EXITS_NETWORK, t.reason
    assert t.packet.src == ip_address("172.18.0.2")  # eth1 on docker_gwbridge, not the overlay
    snat = t.steps(SnatStep)[0]
    assert snat.after[0] == ip_address("192.168.10.11")  # type: ignore[attr-defined]
    root = net.dataplane.namespace(NsRef("host-1"))
    assert root.netfilter.tables["filter"].chains["DOCKER-ISOLATION-STAGE-1"].origin == "dockerd"


def test_internal_network_has_no_gateway_bridge() -> None:
    net = assemble(load([ROOT / "docker-k8s.yaml"]))
    db = net.dataplane.namespace(NsRef.pod("host-2", "default/db-0"))
    # eth0 on app, eth1 on docker_gwbridge (app is not internal), eth2 on the internal data network
    assert sorted(db.interfaces) == ["eth0", "eth1", "eth2", "lo"]
    assert str(db.interfaces["eth2"].addresses[0]) == "10.10.0.2/24"
    data = net.driver.networks[1]  # type: ignore[attr-defined]
    assert (data.internal, data.encrypted, data.vni) == (True, True, 257)
    only_internal = assemble(load([ROOT / "docker-k8s.yaml"]), driver_options={"networks": [{"name": "i", "internal": True}]})
    ns = only_internal.dataplane.namespace(NsRef.pod("host-1", "default/web-1"))
    assert sorted(ns.interfaces) == ["eth0", "lo"]
    assert not any(r.dst.prefixlen == 0 for r in ns.routes)
    assert "docker_gwbridge" not in only_internal.dataplane.namespace(NsRef("host-1")).interfaces


def test_peers_are_per_endpoint() -> None:
    net = assemble(load([ROOT / "docker-k8s.yaml"]))
    app = net.driver.networks[0]  # type: ignore[attr-defined]
    sb = net.dataplane.namespace(NsRef.network("host-1", f"1-{app.id[:10]}"))
    remote = {str(n.ip): n.lladdr for n in sb.neighbors}
    # the remote endpoints of `app`, the CoreDNS pod on host-3 (10.0.0.7) among them
    assert remote == {"10.0.0.3": "02:42:0a:00:00:03", "10.0.0.4": "02:42:0a:00:00:04", "10.0.0.5": "02:42:0a:00:00:05",
                      "10.0.0.7": "02:42:0a:00:00:07"}
    fdb = {e.mac: str(e.dst) for e in sb.fdb}
    assert fdb == {"02:42:0a:00:00:03": "192.168.20.13", "02:42:0a:00:00:04": "192.168.10.12", "02:42:0a:00:00:05": "192.168.20.13",
                   "02:42:0a:00:00:07": "192.168.20.13"}
    vx = sb.interfaces["vxlan0"]
    assert vx.vxlan is not None and (vx.vxlan.vni, vx.vxlan.port, vx.vxlan.link_ns, vx.mtu, vx.master) == (256, 4789, NsRef("host-1"), 1450, "br0")


def test_encrypted_network_wraps_vxlan_in_esp(tmp_path: Path) -> None:
    """libnetwork's encryption.go: ESP transport, AES-GCM with an 8-byte ICV: 26 bytes more
    than VXLAN's 50 for a container's full 1424-byte packet (no padding at that size)."""
    net, t = _trace("docker-k8s.yaml", "default/db-0", "10.10.0.3", proto="udp", port=5432, size=1424)
    assert t.disposition is Disposition.DELIVERED, t.reason
    encap = t.steps(EncapStep)[0]
    assert (encap.vni, encap.overhead_bytes, encap.outer_bytes) == (257, 76, 1500)
    assert "ESP" in encap.cipher and encap.outer_dst == ip_address("192.168.20.13")
    root = net.dataplane.namespace(NsRef("host-2"))
    assert [(str(x.dst), x.vni, x.icv) for x in root.xfrm] == [("192.168.20.13", 257, 8)]
    # the app network (VNI 256) between the same hosts stays in clear
    _, clear = _trace("docker-k8s.yaml", "default/db-0", "default/web-2", proto="udp", port=53, size=1424)
    assert clear.steps(EncapStep)[0].overhead_bytes == 50
    if shutil.which("tshark"):
        pcap = tmp_path / "esp.pcap"
        write_pcap(pcap, [t])
        protos = subprocess.run(["tshark", "-r", str(pcap), "-T", "fields", "-e", "frame.protocols", "-e", "ip.proto"],
                                capture_output=True, text=True, check=True).stdout
        assert "esp" in protos and "\t50" in protos


def test_overhead_modes_from_frames() -> None:
    from overlaynet.network.overhead import compare_overhead, parse_modes

    cluster = load([ROOT / "demo.yaml"])
    report = compare_overhead(cluster, modes=parse_modes("docker-overlay"), payloads=parse_payloads("64,1400"), message=100_000)
    got = {m["mode"]: (m["overhead_bytes"], m["pod_mtu"], m["mss"]) for m in report.to_dict()["modes"]}
    assert got == {"docker-overlay:vxlan": (50, 1450, 1410), "docker-overlay:encrypted": (76, 1424, 1384)}


def test_plain_docker_trace_shows_the_embedded_dns_lookup() -> None:
    net, t = _trace("docker-plain.yaml", "api-1", "db", proto="tcp", port=5432)
    assert t.disposition is Disposition.DELIVERED, t.reason
    dns = t.steps(DnsStep)[0]
    assert dns.server.startswith("127.0.0.11") and dns.answer == (ip_address("10.2.0.7"),)
    back = next(n for n in net.driver.networks if n.name == "back")  # type: ignore[attr-defined]
    assert (back.vni, str(back.subnet)) == (4097, "10.2.0.0/24")  # as docker network inspect said
    assert t.steps(EncapStep)[0].vni == 4097
    api = net.dataplane.namespace(NsRef.pod("host-2", "default/api-1"))
    assert sorted((n, str(i.addresses[0])) for n, i in api.interfaces.items() if n != "lo") == [
        ("eth0", "10.1.0.4/24"), ("eth1", "172.18.0.2/16"), ("eth2", "10.2.0.2/24")]


def test_reach_tells_networks_apart_on_one_host() -> None:
    """web-2 and db share host-3 but not a network: reach's routing must not lump them."""
    net = assemble(load([ROOT / "docker-plain.yaml"]))
    m = net.reach(port=80)
    ok = {(a.key, b.key) for i, a in enumerate(m.pods) for j, b in enumerate(m.pods) if m.allowed[i, j]}
    assert ("default/web-1", "default/web-2") in ok and ("default/api-1", "default/db") in ok
    assert ("default/web-1", "default/db") not in ok and ("default/db", "default/web-2") not in ok
