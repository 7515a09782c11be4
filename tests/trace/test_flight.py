"""Flight: the packet in flight, copied on every change."""

from __future__ import annotations

from dataclasses import fields
from fractions import Fraction
from ipaddress import ip_address

import pytest

from overlaynet.dataplane.ir import NsRef
from overlaynet.dataplane.netfilter import NetfilterState
from overlaynet.dataplane.packet import Packet
from overlaynet.trace.flight import Flight
from overlaynet.trace.steps import WarningStep


def test_evolve_copies_every_field_and_changes_only_those_given() -> None:
    p = Packet(ip_address("10.0.0.1"), ip_address("10.0.0.2"), "tcp", 1234, 80)
    q = p.with_(dport=8080)
    f = Flight(p, p, NsRef("n1"), steps=(WarningStep("a"),), frag_mtu=1400, probability=Fraction(1, 3),
               seen=frozenset({"k"}), notes=("x",), nf_state=NetfilterState())
    g = f.evolve(packet=q, notes=("y",))
    for name in (fl.name for fl in fields(Flight)):
        expected = {"packet": q, "notes": ("y",)}.get(name, getattr(f, name))
        assert getattr(g, name) is expected, name
    assert f.packet is p and f.notes == ("x",)


def test_evolve_refuses_an_unknown_field() -> None:
    p = Packet(ip_address("10.0.0.1"), ip_address("10.0.0.2"))
    with pytest.raises(TypeError, match="no field colour"):
        Flight(p, p, NsRef("n1")).evolve(colour="red")


def test_packet_with_is_replace() -> None:
    p = Packet(ip_address("10.0.0.1"), ip_address("10.0.0.2"), "udp", 1, 53, mark=7)
    q = p.with_(dst=ip_address("10.0.0.3"), ttl=3)
    assert q == Packet(ip_address("10.0.0.1"), ip_address("10.0.0.3"), "udp", 1, 53, ttl=3, mark=7)
    with pytest.raises(TypeError, match="no field colour"):
        p.with_(colour="red")
