"""--detect-local-mode and --nodeport-addresses against the kernel: each ruleset loaded into
a real node namespace; a real TCP connection to the ClusterIP from a pod (on ``cni0`` or
``veth1a2b``) or from an outside client (on ``eth0``) is masqueraded exactly when the tracer
says, and a NodePort answers on exactly the node addresses the tracer says.

    pod  10.99.0.7   ── cni0 ─┐                 ┌─ kbe0 ── be0 10.180.0.1:8080
    pod2 10.98.0.7   ─ veth1a2b ─ node (rules) ─┤
    client 192.168.0.100 ─ eth0 ┘                └─ kbe1 ── be1 10.180.1.1:8080

Namespaces are ``onet-kp-<pid>-…``, created and removed here.
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
from overlaynet.kubeproxy.local import LocalMode

from .netns import ip, netns, run, wire
from .proxier_cases import ep, eps, svc
from .test_kernel_agreement import CLIENT, SERVER
from .trace_helpers import trace_inbound

pytestmark = [pytest.mark.root, pytest.mark.iptables]

NODE_IP = "192.168.0.2"
CLUSTER_IP = "172.30.0.41"
# role: (address, node-side address, node-side interface)
BACKENDS = {"be0": ("10.180.0.1", "10.180.0.254", "kbe0"), "be1": ("10.180.1.1", "10.180.1.254", "kbe1")}
CLIENTS = {
    "pod": ("10.99.0.7", "10.99.0.254", "cni0"),
    "pod2": ("10.98.0.7", "10.98.0.254", "veth1a2b"),
    "client": ("192.168.0.100", NODE_IP, "eth0"),
}
MODES: dict[str, dict[str, object]] = {
    "ClusterCIDR": dict(detect_local_mode=LocalMode.CLUSTER_CIDR, cluster_cidrs=(ip_network("10.99.0.0/16"),)),
    "NodeCIDR": dict(detect_local_mode=LocalMode.NODE_CIDR, node_pod_cidrs=(ip_network("10.98.0.0/24"),)),
    "BridgeInterface": dict(detect_local_mode=LocalMode.BRIDGE_INTERFACE, bridge_interface="cni0"),
    "InterfaceNamePrefix": dict(detect_local_mode=LocalMode.INTERFACE_NAME_PREFIX, interface_name_prefix="veth"),
    "none": dict(cluster_cidrs=()),
}





@pytest.fixture(scope="module")
def lab() -> Iterator[dict[str, str]]:
    with ExitStack() as stack:
        names = {role: stack.enter_context(netns(role)) for role in ("node", *BACKENDS, *CLIENTS)}
        node = names["node"]
        ip(node, "link", "set", "lo", "up")
        run(node, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        for role, (addr, gw, iface) in (*BACKENDS.items(), *CLIENTS.items()):
            wire(node, names[role], gw, addr, iface=iface)
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


def _rules(mode: str) -> str:
    services = [svc("ns1", "svc1", CLUSTER_IP)]
    slices = [eps("ns1", "svc1", *(ep(addr) for addr, _, _ in BACKENDS.values()), port=8080)]
    cfg = ProxierConfig("node", (ip_address(NODE_IP),), **MODES[mode])  # type: ignore[arg-type]
    return generate_full(services, slices, cfg)


@pytest.mark.parametrize(
    ("mode", "client", "masquerades"),
    [
        ("ClusterCIDR", "pod", False), ("ClusterCIDR", "pod2", True),
        ("NodeCIDR", "pod", True), ("NodeCIDR", "pod2", False),
        ("BridgeInterface", "pod", False), ("BridgeInterface", "pod2", True),
        ("InterfaceNamePrefix", "pod", True), ("InterfaceNamePrefix", "pod2", False),
        ("none", "pod", False), ("none", "client", False),
    ],
)
def test_kernel_masquerades_as_the_mode_and_the_tracer_say(
    lab: dict[str, str], mode: str, client: str, masquerades: bool
) -> None:
    text = _rules(mode)
    addr, _, iface = CLIENTS[client]
    local = {ip_address(gw) for _, gw, _ in (*BACKENDS.values(), *CLIENTS.values())} | {ip_address("127.0.0.1")}
    traced = trace_inbound(parse_save(text), Packet(ip_address(addr), ip_address(CLUSTER_IP), "tcp", 45000, 80),
                           local, in_iface=iface)
    assert {r.masquerade for r in traced} == {masquerades}
    run(lab["node"], "iptables-restore", input=text)
    for _ in range(3):
        out = run(lab[client], sys.executable, "-c", CLIENT, CLUSTER_IP, "80").stdout.split()
        peer, backend = out[0], out[1]
        gateway = next(gw for be, gw, _ in BACKENDS.values() if be == backend)
        assert peer == (gateway if masquerades else addr), (mode, client, peer)


SECOND_ADDRESS = "192.168.0.3"  # a second address on the node's client-side interface


@pytest.mark.parametrize(
    ("nodeport_addresses", "dst", "answers"),
    [
        ((), NODE_IP, True), ((), SECOND_ADDRESS, True),  # default: every local address
        (("192.168.0.3/32",), SECOND_ADDRESS, True), (("192.168.0.3/32",), NODE_IP, False),
        (("primary",), NODE_IP, True), (("primary",), SECOND_ADDRESS, False),
    ],
)
def test_kernel_answers_nodeports_where_nodeport_addresses_say(
    lab: dict[str, str], nodeport_addresses: tuple[str, ...], dst: str, answers: bool
) -> None:
    from overlaynet.kubeproxy.node import parse_nodeport_addresses

    node = lab["node"]
    if SECOND_ADDRESS not in run(node, "ip", "-4", "addr", "show", "dev", "eth0").stdout:
        ip(node, "addr", "add", f"{SECOND_ADDRESS}/24", "dev", "eth0")
    local = [ip_address(gw) for _, gw, _ in (*BACKENDS.values(), *CLIENTS.values())]
    interfaces = (*local, ip_address(SECOND_ADDRESS), ip_address("127.0.0.1"))
    cidrs = parse_nodeport_addresses(list(nodeport_addresses), [ip_address(NODE_IP)]) if nodeport_addresses else ()
    services = [svc("ns1", "svc1", CLUSTER_IP, type="NodePort", node_port=30080)]
    slices = [eps("ns1", "svc1", *(ep(addr) for addr, _, _ in BACKENDS.values()), port=8080)]
    cfg = ProxierConfig("node", (ip_address(NODE_IP),), (ip_network("10.99.0.0/16"),),
                        nodeport_addresses=cidrs, interface_ips=interfaces)
    text = generate_full(services, slices, cfg)
    traced = trace_inbound(parse_save(text), Packet(ip_address("192.168.0.100"), ip_address(dst), "tcp", 45000, 30080),
                           set(interfaces))
    assert {r.destination is not None for r in traced} == {answers}
    run(node, "iptables-restore", input=text)
    result = run(lab["client"], sys.executable, "-c", CLIENT, dst, "30080", check=False)
    if answers:
        assert result.returncode == 0 and result.stdout.split()[1] in {a for a, _, _ in BACKENDS.values()}
    else:  # nothing listens on the node itself: the connection is refused
        assert result.returncode != 0 and "ConnectionRefusedError" in result.stderr
