"""Hypothesis strategies for typed netfilter rules in the parser's normal form."""

from __future__ import annotations

import ipaddress
from fractions import Fraction

from hypothesis import strategies as st

from overlaynet.dataplane.netfilter import matches as m
from overlaynet.dataplane.netfilter import matches_ct as ct
from overlaynet.dataplane.netfilter import targets as t
from overlaynet.dataplane.netfilter.rules import Rule

CHAINS = ("KUBE-SVC-AAAA", "KUBE-SEP-BBBB", "USER")
names = st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_", min_size=1, max_size=20)
text = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=40)
ports = st.integers(0, 65535)
port_ranges = st.tuples(ports, ports).map(lambda p: m.PortRange(min(p), max(p)))
marks = st.integers(0, 0xFFFFFFFF)
ipv4 = st.integers(0, 2**32 - 1).map(ipaddress.IPv4Address)
nets = st.tuples(ipv4, st.integers(0, 32)).map(lambda a: ipaddress.ip_network(f"{a[0]}/{a[1]}", strict=False))
ifaces = st.tuples(st.text("abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=1), st.text("abcxyz019.", max_size=10), st.sampled_from(["", "+"])).map("".join)
flags = st.frozensets(st.sampled_from(m.TCP_FLAGS))
probabilities = st.one_of(st.integers(1, 1000).map(lambda n: Fraction(1, n)), st.sampled_from([Fraction(0), Fraction(1), Fraction(3, 4)]))


@st.composite
def rules(draw: st.DrawFn) -> Rule:
    found: list[m.Match] = []
    if draw(st.booleans()):
        found.append(m.Source(draw(nets), draw(st.booleans())))
    if draw(st.booleans()):
        found.append(m.Destination(draw(nets), draw(st.booleans())))
    if draw(st.booleans()):
        found.append(m.InIface(draw(ifaces), draw(st.booleans())))
    if draw(st.booleans()):
        found.append(m.OutIface(draw(ifaces), draw(st.booleans())))
    proto = draw(st.sampled_from([None, "tcp", "udp", "sctp", "icmp", "neg-udp", "gre"]))
    if proto == "neg-udp":
        found.append(m.Protocol_(17, negated=True))
    elif proto is not None:
        found.append(m.Protocol_(m.PROTO_NUMBERS[proto]))
    if draw(st.booleans()):
        found.append(m.Fragment(draw(st.booleans())))
    extensions = st.sampled_from(["comment", "mark", "connmark", "addrtype", "conntrack", "state", "statistic",
                                  "recent", "set", "physdev", "limit", "multiport", "proto"])
    for ext in draw(st.lists(extensions, max_size=4, unique=True)):
        found.extend(draw(_extension(ext, proto)))
    target = draw(targets(proto))
    return Rule(tuple(found), target)


@st.composite
def _extension(draw: st.DrawFn, ext: str, proto: str | None) -> list[m.Match]:
    b = st.booleans()
    if ext == "comment":
        return [m.Comment(draw(text))]
    if ext == "mark":
        return [m.Mark(draw(marks), draw(marks), draw(b))]
    if ext == "connmark":
        return [m.ConnMark(draw(marks), draw(marks), draw(b))]
    if ext == "addrtype":
        types = st.lists(st.sampled_from(m.ADDR_TYPES), min_size=1, max_size=3, unique=True).map(tuple)
        src, dst = draw(types | st.just(())), draw(types)
        return [m.AddrType(src, bool(src) and draw(b), dst, draw(b), draw(b), False)]
    if ext == "conntrack":
        states = st.frozensets(st.sampled_from(ct.CT_STATES), min_size=1)
        orig = draw(st.none() | nets)
        return [ct.Conntrack(draw(states), draw(b), ctorigdst=orig, ctorigdst_negated=orig is not None and draw(b))]
    if ext == "state":
        return [ct.State(draw(st.frozensets(st.sampled_from(ct.CT_STATES[:5]), min_size=1)), draw(b))]
    if ext == "statistic":
        if draw(b):
            return [ct.Statistic("random", probability=draw(probabilities), negated=draw(b))]
        every = draw(st.integers(1, 20))
        return [ct.Statistic("nth", every=every, packet=draw(st.integers(0, every - 1)), negated=draw(b))]
    if ext == "recent":
        return [ct.Recent(draw(st.sampled_from(["set", "rcheck", "update", "remove"])), name=draw(names),
                          seconds=draw(st.none() | st.integers(1, 100000)), hitcount=draw(st.none() | st.integers(1, 20)),
                          mask=draw(ipv4), side=draw(st.sampled_from(["rsource", "rdest"])), negated=draw(b))]
    if ext == "set":
        return [m.SetMatch(draw(names), draw(st.lists(st.sampled_from(["src", "dst"]), min_size=1, max_size=3).map(tuple)), draw(b))]
    if ext == "physdev":
        flag = st.none() | b
        pin, pout = draw(st.none() | ifaces), draw(st.none() | ifaces)
        return [m.Physdev(pin, pin is not None and draw(b), pout, pout is not None and draw(b), draw(flag), draw(flag), draw(flag))]
    if ext == "limit":
        return [m.Limit(draw(st.integers(1, 10000)), draw(st.sampled_from(m.LIMIT_UNITS)), draw(st.integers(1, 100)))]
    if ext == "multiport" and proto in ("tcp", "udp", "sctp"):
        kind = draw(st.sampled_from(["sports", "dports", "ports"]))
        return [m.Multiport(kind, tuple(draw(st.lists(port_ranges, min_size=1, max_size=15))), draw(b))]
    if ext == "proto" and proto in ("tcp", "udp", "sctp"):
        tcp_flags = draw(st.none() | st.tuples(flags, flags)) if proto == "tcp" else None
        sport, dport = draw(st.none() | port_ranges), draw(st.none() | port_ranges)
        return [m.Ports(proto, sport, sport is not None and draw(b), dport, dport is not None and draw(b),
                        tcp_flags, tcp_flags is not None and draw(b))]
    if ext == "proto" and proto == "icmp":
        typ = draw(st.integers(0, 255))
        return [m.Icmp(typ, None if typ == 255 else draw(st.none() | st.integers(0, 255)), draw(b))]
    return []


def targets(proto: str | None) -> st.SearchStrategy[t.Target | None]:
    with_ports = proto in ("tcp", "udp", "sctp")
    nat_range = st.builds(t.NatRange, ipv4, st.none(), port_ranges if with_ports else st.none())
    to_ports = (st.none() | port_ranges) if with_ports else st.none()
    return st.one_of(
        st.none(),
        st.sampled_from(["ACCEPT", "DROP", "RETURN"]).map(t.Verdict_),
        st.sampled_from(CHAINS).map(t.Jump),
        st.sampled_from(CHAINS).map(t.Goto),
        st.sampled_from(["icmp-port-unreachable", "icmp-host-prohibited", "tcp-reset"]).map(t.Reject),
        st.builds(t.Dnat, nat_range, st.booleans(), st.booleans()),
        st.builds(t.Snat, nat_range, st.booleans(), st.booleans(), st.booleans()),
        st.builds(t.Masquerade, to_ports, st.booleans(), st.booleans()),
        st.builds(t.Redirect, to_ports, st.booleans()),
        st.builds(t.MarkTarget, marks, marks),
        st.builds(t.ConnMarkTarget, st.just("set"), marks, marks),
        st.builds(t.ConnMarkTarget, st.sampled_from(["save", "restore"]), st.just(0), st.just(0xFFFFFFFF), marks, marks),
        st.builds(t.Log, st.none() | text.map(lambda s: s[:29]), st.integers(0, 7),
                  st.lists(st.sampled_from(["tcp-sequence", "tcp-options", "ip-options", "uid", "macdecode"]),
                           unique=True).map(lambda f: tuple(x for x in ("tcp-sequence", "tcp-options", "ip-options", "uid", "macdecode") if x in f))),
        st.builds(t.Notrack, st.booleans()),
    )
