"""MASQUERADE's address when the out device has none (Calico's address-less ``cali*`` veths):
the kernel's ``inet_select_addr`` takes the first global address of any device, in device
order. The kernel test builds exactly that and asks the receiver who the packet came from."""

from __future__ import annotations

import secrets
import subprocess
from ipaddress import ip_address

import pytest

from overlaynet.dataplane.ir import Address, Interface, NetNamespace, NsRef
from overlaynet.dataplane.lookup import iface_address

A = ip_address


def _node() -> NetNamespace:
    ns = NetNamespace(NsRef("node-1"), kind="host")
    ns.add_interface(Interface("lo", "loopback", addresses=[Address(A("127.0.0.1"), 8)]))
    ns.add_interface(Interface("up0", "veth", addresses=[Address(A("192.168.10.11"), 24)]))
    ns.add_interface(Interface("cali1", "veth"))
    ns.add_interface(Interface("vc", "veth", addresses=[Address(A("10.2.0.1"), 24)]))
    return ns


def test_device_with_an_address_gives_its_own() -> None:
    assert iface_address(_node(), "vc", 4) == A("10.2.0.1")


def test_device_without_an_address_borrows_the_first_global_one_in_device_order() -> None:
    # lo's 127.0.0.1 is host scope and is skipped; up0 comes before vc
    assert iface_address(_node(), "cali1", 4) == A("192.168.10.11")


def test_no_global_address_anywhere_means_none() -> None:
    ns = NetNamespace(NsRef("h"), kind="host")
    ns.add_interface(Interface("lo", "loopback", addresses=[Address(A("127.0.0.1"), 8)]))
    ns.add_interface(Interface("cali1", "veth"))
    assert iface_address(ns, "cali1", 4) is None
    assert iface_address(ns, "nosuch", 4) is None


def _sh(*cmd: str) -> str:
    return subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=20).stdout


@pytest.mark.root
@pytest.mark.iptables
def test_kernel_masquerades_through_an_addressless_veth_with_the_first_global_address() -> None:
    tag = secrets.token_hex(2)
    a, b, c, d = (f"onet-mq{tag}-{x}" for x in "abcd")
    try:
        for n in (a, b, c, d):
            _sh("ip", "netns", "add", n)
            _sh("ip", "-n", n, "link", "set", "lo", "up")
        _sh("ip", "-n", a, "link", "add", "up0", "type", "veth", "peer", "name", "eth0", "netns", d)
        _sh("ip", "-n", a, "addr", "add", "192.168.10.11/24", "dev", "up0")
        _sh("ip", "-n", a, "link", "set", "up0", "up")
        _sh("ip", "-n", a, "link", "add", "cali1", "type", "veth", "peer", "name", "eth0", "netns", b)
        _sh("ip", "-n", a, "link", "add", "vc", "type", "veth", "peer", "name", "eth0", "netns", c)
        _sh("ip", "-n", a, "addr", "add", "10.2.0.1/24", "dev", "vc")
        for dev in ("vc", "cali1"):
            _sh("ip", "-n", a, "link", "set", dev, "up")
        _sh("ip", "-n", a, "route", "add", "10.1.0.5/32", "dev", "cali1")
        _sh("ip", "netns", "exec", a, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        _sh("ip", "netns", "exec", a, "sysctl", "-qw", "net.ipv4.conf.cali1.proxy_arp=1")
        _sh("ip", "-n", b, "addr", "add", "10.1.0.5/32", "dev", "eth0")
        _sh("ip", "-n", b, "link", "set", "eth0", "up")
        _sh("ip", "-n", b, "route", "add", "169.254.1.1", "dev", "eth0")
        _sh("ip", "-n", b, "route", "add", "default", "via", "169.254.1.1", "dev", "eth0")
        _sh("ip", "-n", c, "addr", "add", "10.2.0.2/24", "dev", "eth0")
        _sh("ip", "-n", c, "link", "set", "eth0", "up")
        _sh("ip", "-n", c, "route", "add", "default", "via", "10.2.0.1")
        _sh("ip", "netns", "exec", a, "iptables", "-t", "nat", "-A", "POSTROUTING", "-o", "cali1", "-j", "MASQUERADE")
        listener = subprocess.Popen(
            ["ip", "netns", "exec", b, "python3", "-c",
             "import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('0.0.0.0', 9999));"
             "print('ready', flush=True); s.settimeout(10); d, peer = s.recvfrom(100); print(peer[0], flush=True)"],
            stdout=subprocess.PIPE, text=True)
        assert listener.stdout is not None
        assert listener.stdout.readline().strip() == "ready"
        _sh("ip", "netns", "exec", c, "python3", "-c",
            "import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'x', ('10.1.0.5', 9999))")
        seen = listener.stdout.readline().strip()
        listener.wait(timeout=15)
        assert seen == "192.168.10.11"
        # and the IR of the same namespace says the same
        assert str(iface_address(_node(), "cali1", 4)) == seen
    finally:
        for n in (a, b, c, d):
            subprocess.run(["ip", "netns", "del", n], capture_output=True, timeout=20)
