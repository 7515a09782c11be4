"""Kernel agreement: the generated rules, loaded into a real namespace, DNAT a real TCP
connection to an endpoint of the tracer's set and masquerade exactly when the tracer says.

Topology (all namespaces ``onet-kp-<pid>-…``, created and removed here):

    client 192.168.0.100 ─┐                  ┌─ be0 10.180.0.1:8080
    pod    10.99.0.7     ─┼─ node 192.168.0.2 ┼─ be1 10.180.1.1:8080
                          │  (kube-proxy rules, ip_forward)

Each backend runs a tiny TCP server that answers with the peer address it saw and its own
address; the client connects to the ClusterIP and to the NodePort.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from ipaddress import ip_address, ip_network

import pytest

from overlaynet.dataplane.netfilter import parse_save
from overlaynet.dataplane.packet import Packet
from overlaynet.kubeproxy import ProxierConfig, generate_full

from .netns import ip, netns, run, wire
from .proxier_cases import ep, eps, svc
from .trace_helpers import Result, trace_inbound

pytestmark = [pytest.mark.root, pytest.mark.iptables]

NODE_IP = "192.168.0.2"
CLUSTER_IP = "172.30.0.41"
NODE_PORT = 30080
BACKENDS = {"be0": ("10.180.0.1", "10.180.0.254"), "be1": ("10.180.1.1", "10.180.1.254")}
CLIENTS = {"client": ("192.168.0.100", NODE_IP), "pod": ("10.99.0.7", "10.99.0.254")}

SERVER = """
import socket
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 8080)); s.listen(16)
print("ready", flush=True)
while True:
    c, peer = s.accept()
    local = c.getsockname()
    c.sendall(f"{peer[0]} {local[0]} {local[1]}\\n".encode()); c.close()
"""

CLIENT = """
import socket, sys
c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3)
print(c.recv(200).decode().strip())
"""





@pytest.fixture(scope="module")
def lab() -> Iterator[dict[str, str]]:
    with ExitStack() as stack:
        names = {role: stack.enter_context(netns(role)) for role in ("node", *BACKENDS, *CLIENTS)}
        node = names["node"]
        ip(node, "link", "set", "lo", "up")
        run(node, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        for role, (addr, gw) in BACKENDS.items():
            wire(node, names[role], gw, addr)
        for role, (addr, gw) in CLIENTS.items():
            wire(node, names[role], gw, addr)
        servers = []
        try:
            for role in BACKENDS:
                proc = subprocess.Popen(["ip", "netns", "exec", names[role], sys.executable, "-c", SERVER],
                                        stdout=subprocess.PIPE, text=True)
                servers.append(proc)
                assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
            yield names
        finally:
            for proc in servers:
                proc.kill()
                proc.wait(timeout=5)


def _rules() -> str:
    services = [svc("ns1", "svc1", CLUSTER_IP, type="NodePort", node_port=NODE_PORT)]
    slices = [eps("ns1", "svc1", *(ep(addr) for addr, _ in BACKENDS.values()), port=8080)]
    cfg = ProxierConfig("node", (ip_address(NODE_IP),), (ip_network("10.0.0.0/8"),))
    return generate_full(services, slices, cfg)


def _connect(names: dict[str, str], client: str, dst: str, port: int) -> tuple[str, str, int]:
    out = run(names[client], sys.executable, "-c", CLIENT, dst, str(port)).stdout.split()
    return out[0], out[1], int(out[2])


def _tracer(client: str, dst: str, port: int) -> list[Result]:
    local = {ip_address(NODE_IP), ip_address("127.0.0.1"), *(ip_address(gw) for _, gw in BACKENDS.values()),
             *(ip_address(gw) for _, gw in CLIENTS.values())}
    packet = Packet(ip_address(CLIENTS[client][0]), ip_address(dst), "tcp", 45000, port)
    return trace_inbound(parse_save(_rules()), packet, local)


@pytest.mark.parametrize(
    ("client", "dst", "port", "masquerades"),
    [
        ("client", CLUSTER_IP, 80, True),  # off-cluster source to a ClusterIP
        ("pod", CLUSTER_IP, 80, False),  # pod source: client IP preserved
        ("client", NODE_IP, NODE_PORT, True),  # NodePort, eTP Cluster
        ("pod", NODE_IP, NODE_PORT, True),
    ],
)
def test_kernel_dnat_and_masquerade_agree_with_tracer(
    lab: dict[str, str], client: str, dst: str, port: int, masquerades: bool
) -> None:
    run(lab["node"], "iptables-restore", input=_rules())
    expected = _tracer(client, dst, port)
    destinations = {(str(r.destination[0]), r.destination[1]) for r in expected if r.destination}
    assert destinations == {(addr, 8080) for addr, _ in BACKENDS.values()}
    masq = {r.masquerade for r in expected}
    assert masq == {masquerades}
    for _ in range(4):
        peer, local, local_port = _connect(lab, client, dst, port)
        assert (local, local_port) in destinations  # the kernel DNATed into the tracer's set
        gateway = next(gw for addr, gw in BACKENDS.values() if addr == local)
        assert peer == (gateway if masq == {True} else CLIENTS[client][0])
