"""This kernel is the judge of the MTU break: libnetwork's wiring (sandbox with br0 and a
vxlan0 created in the host namespace, then moved; container MTU 1450) on a 1400 underlay,
built in throwaway ``onet-dk-<random>-*`` namespaces (a suffix per run, so two runs at once
do not collide; removed even when a test fails), must do what the tracer says."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from overlaynet.network import assemble
from overlaynet.network.request import TraceRequest, run
from overlaynet.topology import load_cluster
from overlaynet.trace import Disposition

pytestmark = pytest.mark.root

ROLES = [f"{r}{i}" for r in "hsc" for i in (1, 2)]  # hosts, sandboxes, containers
# $P is this run's namespace prefix (onet-dk-<random>-)
SETUP = """
ip -n ${P}h1 link add eth0 type veth peer name eth0 netns ${P}h2
for i in 1 2; do
  ip -n ${P}h$i link set eth0 mtu 1400 up
  ip -n ${P}h$i addr add 192.168.50.1$i/24 dev eth0
  ip -n ${P}s$i link add br0 type bridge
  ip -n ${P}s$i addr add 10.0.0.1/24 dev br0
  ip -n ${P}h$i link add vx0 type vxlan id 256 dstport 4789 learning proxy l2miss l3miss
  ip -n ${P}h$i link set vx0 mtu 1450 netns ${P}s$i
  ip -n ${P}s$i link set vx0 name vxlan0 master br0 up
  ip -n ${P}c$i link add eth0 mtu 1450 address 02:42:0a:00:00:0$((i+1)) type veth peer name veth$i netns ${P}s$i
  ip -n ${P}s$i link set veth$i mtu 1450 master br0 up
  ip -n ${P}s$i link set br0 up
  ip -n ${P}c$i addr add 10.0.0.$((i+1))/24 dev eth0
  ip -n ${P}c$i link set eth0 up
done
ip -n ${P}s1 neigh add 10.0.0.3 lladdr 02:42:0a:00:00:03 dev vxlan0 nud permanent
bridge -n ${P}s1 fdb add 02:42:0a:00:00:03 dev vxlan0 dst 192.168.50.12 self permanent
ip -n ${P}s2 neigh add 10.0.0.2 lladdr 02:42:0a:00:00:02 dev vxlan0 nud permanent
bridge -n ${P}s2 fdb add 02:42:0a:00:00:02 dev vxlan0 dst 192.168.50.11 self permanent
"""
SEND = textwrap.dedent("""
    import socket, sys, time
    df = sys.argv[1] == "do"
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.IPPROTO_IP, 10, 2 if df else 0)  # IP_MTU_DISCOVER: DO / DONT
    s.connect(("10.0.0.3", 9999))
    s.send(b"x" * 1372)  # a 1400-byte IP packet
    time.sleep(0.5)
    try:
        s.send(b"x" * 1372); second = "sent"
    except OSError as e:
        second = e.errno
    print(s.getsockopt(socket.IPPROTO_IP, 14), second)  # IP_MTU
""")
RECV = textwrap.dedent("""
    import socket
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("0.0.0.0", 9999)); s.settimeout(3)
    print("ready", flush=True)
    try:
        print(len(s.recv(65535)))
    except OSError:
        print(0)
""")


@pytest.fixture
def wired() -> Iterator[str]:
    """Builds the wiring; yields this run's namespace prefix."""
    prefix = f"onet-dk-{secrets.token_hex(3)}-"
    names = [prefix + role for role in ROLES]
    try:
        for n in names:
            subprocess.run(["ip", "netns", "add", n], check=True)
            subprocess.run(["ip", "-n", n, "link", "set", "lo", "up"], check=True)
        subprocess.run(["sh", "-ec", SETUP], check=True, capture_output=True, env={**os.environ, "P": prefix})
        yield prefix
    finally:
        for n in names:
            subprocess.run(["ip", "netns", "del", n], capture_output=True)


def _exchange(prefix: str, df: str) -> tuple[int, str, int]:
    recv = subprocess.Popen(["ip", "netns", "exec", f"{prefix}c2", sys.executable, "-c", RECV], stdout=subprocess.PIPE, text=True)
    assert recv.stdout is not None and recv.stdout.readline().strip() == "ready"
    out = subprocess.run(["ip", "netns", "exec", f"{prefix}c1", sys.executable, "-c", SEND, df],
                         capture_output=True, text=True, check=True).stdout.split()
    got = int(recv.communicate(timeout=10)[0].strip() or 0)
    return int(out[0]), out[1], got


def _tracer(df: bool) -> object:
    root = Path(__file__).resolve().parents[3] / "topologies" / "docker-mtu1400.yaml"
    net = assemble(load_cluster([root]))
    return run(net, TraceRequest("default/web", "default/db", proto="udp", port=9999, size=1400, df=df)).forward.trace


def test_kernel_agrees_on_df(wired: str) -> None:
    mtu, second, received = _exchange(wired, "do")
    t = _tracer(df=True)
    assert t.disposition is Disposition.FRAG_NEEDED  # type: ignore[attr-defined]
    assert received == 0, "the DF packet must not arrive"
    assert mtu == t.last_step.mtu == 1350  # type: ignore[attr-defined]  # the ICMP's MTU, cached by the sender
    assert second == "90"  # EMSGSIZE for the next DF send


def test_kernel_agrees_without_df(wired: str) -> None:
    _, _, received = _exchange(wired, "dont")
    t = _tracer(df=False)
    assert t.disposition is Disposition.DELIVERED  # type: ignore[attr-defined]
    assert received == 1372
