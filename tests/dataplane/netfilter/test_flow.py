"""One packet through a host (flow.trace_packet): the loopback re-entry of a packet a node
sends to itself, and the source MASQUERADE takes."""

from __future__ import annotations

from ipaddress import ip_address
from pathlib import Path

from overlaynet.dataplane.netfilter import parse_save
from overlaynet.dataplane.netfilter.flow import trace_packet
from overlaynet.dataplane.netfilter.hostaddr import HostAddresses, parse_iface

from .conftest import tcp

DUMPS = Path(__file__).parent / "data" / "iptables-dumps"
BROKEN = parse_save((DUMPS / "helowd-master01-broken.iptables-save").read_text())
FIXED = parse_save((DUMPS / "helowd-master01-fixed.iptables-save").read_text())
NODE = HostAddresses.build([parse_iface("eth0=192.168.1.5/24")])


def test_a_node_reaching_its_own_nodeport_without_endpoints_is_rejected_at_input() -> None:
    """The packet leaves through lo and comes back: KUBE-EXTERNAL-SERVICES (filter INPUT)
    rejects the NodePort of a Service without endpoints (checked against the kernel in
    tests/materialize/test_rules_verify.py)."""
    [out] = trace_packet(BROKEN, tcp("192.168.1.5", "192.168.1.5", 31306), hook="output", host=NODE)
    assert out.hooks == ("OUTPUT", "POSTROUTING", "PREROUTING", "INPUT")
    assert (out.verdict, out.reject_with) == ("REJECT", "icmp-port-unreachable")
    assert (out.hits[-1].chain, out.hits[-1].comment) == (
        "KUBE-EXTERNAL-SERVICES", "ingress-nginx/ingress-nginx-controller:https has no endpoints")


def test_the_looped_packet_comes_in_on_lo_and_keeps_its_conntrack_entry() -> None:
    text = ("*raw\n-A OUTPUT -p tcp --dport 7 -j NOTRACK\nCOMMIT\n"
            "*nat\n-A PREROUTING -p tcp -j DNAT --to-destination 10.9.9.9\n"
            "-A OUTPUT -p tcp --dport 8 -j DNAT --to-destination 127.0.0.1:9\nCOMMIT\n"
            "*filter\n-A INPUT -i lo -p tcp --dport 9 -m conntrack --ctstate NEW,DNAT -j ACCEPT\n"
            "-A INPUT -i lo -p tcp --dport 7 -m conntrack --ctstate UNTRACKED -j ACCEPT\n-A INPUT -j DROP\nCOMMIT\n")
    rs = parse_save(text)
    [out] = trace_packet(rs, tcp("192.168.1.5", "192.168.1.5", 8), hook="output", host=NODE)
    # DNATed at OUTPUT; nat PREROUTING is not consulted again on the way back in
    assert out.verdict == "ACCEPT" and out.destination == (ip_address("127.0.0.1"), 9)
    assert out.hooks[-2:] == ("PREROUTING", "INPUT")
    assert [n.kind for n in out.nat] == ["DNAT"]
    [untracked] = trace_packet(rs, tcp("192.168.1.5", "192.168.1.5", 7), hook="output", host=NODE)
    assert untracked.verdict == "ACCEPT" and "UNTRACKED" in untracked.hits[-1].text  # NOTRACK survives lo


def test_a_packet_to_another_host_still_leaves_after_postrouting() -> None:
    [out] = trace_packet(FIXED, tcp("192.168.1.5", "10.2.73.220", 443), hook="output", host=NODE)
    assert out.hooks == ("OUTPUT", "POSTROUTING") and out.destination == (ip_address("10.1.0.66"), 443)


def test_masquerade_takes_the_out_interfaces_primary_address() -> None:
    """A NodePort from outside is masqueraded (KUBE-EXT → KUBE-MARK-MASQ) to the primary
    address of the interface it leaves by, not to the numerically smallest local one."""
    host = HostAddresses.build([parse_iface("eth0=192.168.1.9/24,192.168.1.5/24"),
                                parse_iface("flannel.1=10.1.0.0/32")])
    [out] = trace_packet(FIXED, tcp("192.168.1.77", "192.168.1.9", 31306), host=host, out_iface="eth0")
    assert out.masquerade and out.packet.src == ip_address("192.168.1.9")  # not the secondary .5, not 10.1.0.0
    [out] = trace_packet(FIXED, tcp("192.168.1.77", "192.168.1.9", 31306), host=host, out_iface="flannel.1")
    assert out.packet.src == ip_address("10.1.0.0")
