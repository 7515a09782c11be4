"""Kernel agreement for flannel dual stack: topologies/flannel-dual-stack.yaml materialized in
namespaces has flannel-v6.1 as the IR says (VXLAN over IPv6, the kernel's MTU clamp, one
onlink route, neighbour and FDB entry per peer), and an ICMPv6 echo from a pod reaches the
other node's pod over it, as the tracer says."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from overlaynet.dataplane.ir import NsRef
from overlaynet.materialize import materialize
from overlaynet.network import assemble
from overlaynet.network.request import TraceRequest, run
from overlaynet.topology import load_cluster

pytestmark = [pytest.mark.root]

EXAMPLE = Path(__file__).resolve().parents[2] / "topologies" / "flannel-dual-stack.yaml"

# one ICMPv6 echo over a raw socket (the kernel fills the ICMPv6 checksum), retried while
# the new addresses finish duplicate address detection; prints the reply's type or "none"
_ECHO6 = """
import socket, sys, time
dst, size = sys.argv[1], int(sys.argv[2])  # size: the IPv6 packet's total length
deadline = time.time() + 8
while time.time() < deadline:
    s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
    s.settimeout(0.5)
    try:
        s.sendto(bytes([128, 0, 0, 0, 0x12, 0x34, 0, 1]) + bytes(size - 48), (dst, 0))
        while True:
            data, addr = s.recvfrom(4096)
            if data[0] == 129 and data[4:6] == bytes([0x12, 0x34]):
                print("reply", addr[0]); sys.exit(0)
            if data[0] == 2:  # Packet Too Big: its MTU, and who sent it
                print("ptb", int.from_bytes(data[4:8], "big"), addr[0]); sys.exit(0)
    except OSError:
        time.sleep(0.3)
print("none")
"""


def test_flannel_v6_device_and_ipv6_reach_in_the_kernel(run_id: str) -> None:
    network = assemble(load_cluster([EXAMPLE]))
    network.build_all()
    t = run(network, TraceRequest("default/a1", "fd00:10:244:2::2")).forward.trace
    assert t.disposition.value == "DELIVERED", t.reason
    pods = {p.key: p for p in network.cluster.pods}
    a1 = pods["default/a1"]
    b1_v6 = next(ip for ip in pods["default/b1"].ips if ip.version == 6)
    with materialize(network.dataplane, hosts=["node-1", "node-2"], run_id=run_id) as m:
        host = m.namespace_name(NsRef("node-1"))
        dev = m.ifname(NsRef("node-1"), "flannel-v6.1")
        link = json.loads(m.exec(host, ["ip", "-j", "-d", "link", "show", "dev", dev]).stdout)[0]
        info = link["linkinfo"]["info_data"]
        assert (link["mtu"], info["id"], info.get("local6", info.get("local")), info["port"]) == (1430, 1, "fd00:192:168:10::11", 8472)
        routes = m.exec(host, ["ip", "-6", "route", "show", "dev", dev]).stdout
        assert re.search(r"^fd00:10:244:2::/64 via fd00:10:244:2:: .*onlink", routes, re.M), routes
        neigh = m.exec(host, ["ip", "-6", "neigh", "show", "dev", dev]).stdout
        assert "fd00:10:244:2:: lladdr" in neigh and "PERMANENT" in neigh, neigh
        fdb = m.exec(host, ["bridge", "fdb", "show", "dev", dev]).stdout
        assert "dst fd00:192:168:10::12 self permanent" in fdb, fdb
        pod_ns = m.namespace_name(NsRef.pod("node-1", a1.key))
        out = m.exec(pod_ns, [sys.executable, "-c", _ECHO6, str(b1_v6), "64"], timeout=15).stdout
        assert out.split() == ["reply", str(b1_v6)], out
        # pods have FLANNEL_MTU 1450, flannel-v6.1 only 1430: a 1450-byte IPv6 packet gets a
        # Packet Too Big from the node, as the tracer says
        big = run(network, TraceRequest("default/a1", str(b1_v6), size=1450)).forward.trace
        assert big.disposition.value == "FRAG_NEEDED" and "MTU 1430 of flannel-v6.1" in big.reason, big.reason
        out = m.exec(pod_ns, [sys.executable, "-c", _ECHO6, str(b1_v6), "1450"], timeout=15).stdout
        assert out.split() == ["ptb", "1430", "fd00:10:244:1::1"], out
        out = m.exec(pod_ns, [sys.executable, "-c", _ECHO6, str(b1_v6), "1430"], timeout=15).stdout
        assert out.split() == ["reply", str(b1_v6)], out
