"""The engine agrees with the kernel on DNAT, ``statistic --mode nth`` and ``recent``
(session affinity) across new connections: two throwaway namespaces ``onet-nf-<pid>-a`` (client) and ``-b`` (server with the
rules), a veth between them, four TCP connections to a virtual IP; the ports the kernel
delivered them to must be the engine's sampled sequence for the same four connections."""

from __future__ import annotations

import ipaddress
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from overlaynet.dataplane.netfilter import HookContext, NetfilterState, parse_save, run_hook
from overlaynet.dataplane.packet import Packet

RULES = """*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A PREROUTING -d 10.99.9.9/32 -p tcp -m tcp --dport 80 -m statistic --mode nth --every 3 --packet 1 -j DNAT --to-destination 10.99.0.2:8081
-A PREROUTING -d 10.99.9.9/32 -p tcp -m tcp --dport 80 -j DNAT --to-destination 10.99.0.2:8082
COMMIT
"""
AFFINITY = """*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A PREROUTING -d 10.99.9.9/32 -p tcp -m recent --rcheck --seconds 100 --reap --name AFF --mask 255.255.255.255 --rsource -j DNAT --to-destination 10.99.0.2:8081
-A PREROUTING -d 10.99.9.9/32 -p tcp -m statistic --mode nth --every 2 --packet 0 -m recent --set --name AFF --mask 255.255.255.255 --rsource -j DNAT --to-destination 10.99.0.2:8081
-A PREROUTING -d 10.99.9.9/32 -p tcp -j DNAT --to-destination 10.99.0.2:8082
COMMIT
"""
SERVER = """
import selectors, socket, sys
sel = selectors.DefaultSelector()
for port in (8081, 8082):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port)); s.listen(8); sel.register(s, selectors.EVENT_READ, port)
print("ready", flush=True)
for _ in range(int(sys.argv[1])):
    (key, _),  = sel.select(timeout=20)
    conn, _ = key.fileobj.accept(); conn.sendall(str(key.data).encode()); conn.close()
"""
CLIENT = """
import socket, sys
for sport in map(int, sys.argv[1:]):
    c = socket.socket(); c.settimeout(10); c.bind(("10.99.0.1", sport)); c.connect(("10.99.9.9", 80))
    print(c.recv(16).decode(), flush=True); c.close()
"""
SPORTS = [41001, 41002, 41003, 41004, 41005, 41006]


def sh(*cmd: str, input: str | None = None) -> str:
    return subprocess.run(cmd, check=True, capture_output=True, text=True, input=input, timeout=60).stdout


@pytest.fixture
def pair() -> Iterator[tuple[str, str]]:
    a, b = f"onet-nf-{os.getpid()}-a", f"onet-nf-{os.getpid()}-b"
    try:
        sh("ip", "netns", "add", a)
        sh("ip", "netns", "add", b)
        sh("ip", "link", "add", "onf-a", "netns", a, "type", "veth", "peer", "name", "onf-b", "netns", b)
        for ns, dev, addr in ((a, "onf-a", "10.99.0.1/24"), (b, "onf-b", "10.99.0.2/24")):
            sh("ip", "-n", ns, "addr", "add", addr, "dev", dev)
            sh("ip", "-n", ns, "link", "set", dev, "up")
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        sh("ip", "-n", a, "route", "add", "10.99.9.9/32", "via", "10.99.0.2")
        yield a, b
    finally:
        for ns in (a, b):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)


@pytest.mark.root
@pytest.mark.iptables
@pytest.mark.parametrize(("rules", "expected"), [
    (RULES, ["8082", "8081", "8082", "8082", "8081", "8082"]),  # --every 3 --packet 1: the 2nd, 5th
    (AFFINITY, ["8081"] * 6),  # the first connection is nth's and --set; --rcheck keeps the rest there
], ids=["nth", "recent-affinity"])
def test_kernel_and_engine_pick_the_same_backends(pair: tuple[str, str], rules: str, expected: list[str]) -> None:
    a, b = pair
    sh("ip", "netns", "exec", b, "iptables-restore", input=rules)
    server = subprocess.Popen(["ip", "netns", "exec", b, sys.executable, "-c", SERVER, str(len(SPORTS))],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None and server.stdout.readline().strip() == "ready"
        kernel = sh("ip", "netns", "exec", a, sys.executable, "-c", CLIENT, *map(str, SPORTS)).split()
    finally:
        server.kill()
        server.wait()
    ruleset = parse_save(rules)
    state = NetfilterState()
    engine = []
    for sport in SPORTS:
        syn = Packet(ipaddress.ip_address("10.99.0.1"), ipaddress.ip_address("10.99.9.9"), "tcp", sport, 80)
        ctx = HookContext("PREROUTING", "onf-b", None, frozenset({ipaddress.ip_address("10.99.0.2")}),
                          lambda name, version: None, state, namespace=b)
        [out] = run_hook(ruleset, syn, ctx)
        engine.append(str(out.packet.dport))
    assert kernel == engine == expected
