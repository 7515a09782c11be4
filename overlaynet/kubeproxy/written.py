"""How kube-proxy writes a rule: a typed netfilter ``Rule`` (what it means, for the IR) and
its ``Spelling`` (the order and form of its arguments in kube-proxy's restore payload).

proxier.go builds each rule as an argument list (``"-m", protocol, "-p", protocol, "-d", ip,
"--dport", port``), so its payload is not iptables-save's canonical text: matches in the
order written, host addresses without ``/32``, ``--or-mark 0x004000``. ``render`` prints a
rule in that spelling from its typed values; nothing here reads text. The IR receives the
``Rule`` itself. Helpers below build the matches and targets kube-proxy uses, sharing the
immutable values that recur (protocols, ports, jumps).
"""

from __future__ import annotations

import enum
import ipaddress
from collections.abc import Callable
from fractions import Fraction
from functools import cache, lru_cache
from typing import NamedTuple

from overlaynet.dataplane.netfilter.matches import (
    PROTO_NUMBERS,
    AddrType,
    Comment,
    Destination,
    InIface,
    Mark,
    Match,
    Nfacct,
    PortRange,
    Ports,
    Protocol_,
    Source,
)
from overlaynet.dataplane.netfilter.matches_ct import Conntrack, Recent, Statistic
from overlaynet.dataplane.netfilter.rules import Rule
from overlaynet.dataplane.netfilter.targets import (
    Dnat,
    Jump,
    MarkTarget,
    Masquerade,
    NatRange,
    Reject,
    Target,
    Verdict_,
)
from overlaynet.kubeproxy.names import address
from overlaynet.model.base import IPAddress, IPNetwork


class Arg(enum.Enum):
    """One argument group as kube-proxy writes it; the value comes from the rule's match."""

    COMMENT = "comment"  # -m comment --comment X (quoted when it holds a space)
    PROTO = "proto"  # -m tcp -p tcp
    DPORT = "dport"  # --dport N (of the protocol match)
    DST = "dst"  # [!] -d 10.96.0.1 (a host, without /32)
    DST_NET = "dst-net"  # [!] -d 127.0.0.0/8
    SRC = "src"  # [!] -s 10.244.0.3
    SRC_NET = "src-net"  # [!] -s 10.244.0.0/16
    IN_IFACE = "in-iface"  # [!] -i cbr0 / veth+
    ADDRTYPE = "addrtype"  # -m addrtype --src-type/--dst-type
    NFACCT = "nfacct"  # -m nfacct --nfacct-name N
    STATISTIC = "statistic"  # -m statistic --mode random --probability 0.3333333333
    RECENT = "recent"  # -m recent --name X --set | --rcheck --seconds N --reap
    MARK = "mark"  # -m mark [!] --mark 0x004000/0x004000
    CONNTRACK = "conntrack"  # -m conntrack [!] --ctstate A,B


Spelling = tuple[Arg, ...]


class Written(NamedTuple):
    """One rule kube-proxy writes: where, what it means, and how it is spelled."""

    table: str
    chain: str
    rule: Rule
    spelling: Spelling


# --- rendering ------------------------------------------------------------------------------


def _neg(negated: bool) -> str:
    return "! " if negated else ""


def _comment(m: Match) -> str:
    assert isinstance(m, Comment)
    text = m.text
    return f'-m comment --comment "{text}"' if " " in text else f"-m comment --comment {text}"


def _proto(m: Match) -> str:
    assert isinstance(m, Ports)
    return f"-m {m.proto} -p {m.proto}"


def _dport(m: Match) -> str:
    assert isinstance(m, Ports) and m.dport is not None
    return f"--dport {m.dport}"


def _dst(m: Match) -> str:
    assert isinstance(m, Destination)
    return f"{_neg(m.negated)}-d {address(m.net.network_address)}"


def _dst_net(m: Match) -> str:
    assert isinstance(m, Destination)
    return f"{_neg(m.negated)}-d {m.net}"


def _src(m: Match) -> str:
    assert isinstance(m, Source)
    return f"{_neg(m.negated)}-s {address(m.net.network_address)}"


def _src_net(m: Match) -> str:
    assert isinstance(m, Source)
    return f"{_neg(m.negated)}-s {m.net}"


def _in_iface(m: Match) -> str:
    assert isinstance(m, InIface)
    return f"{_neg(m.negated)}-i {m.name}"


def _ext(m: Match) -> str:
    return f"-m {m.ext} {m.render()}"


def _statistic(m: Match) -> str:
    assert isinstance(m, Statistic)
    p = m.probability
    text = probability_text(p.denominator) if p.numerator == 1 else f"{float(p):.10f}"
    return f"-m statistic --mode random --probability {text}"


@lru_cache(maxsize=4096)
def probability_text(n: int) -> str:
    """``--probability`` of 1/n: Go's %0.10f of 1/n, as computeProbability."""
    return f"{1.0 / n:.10f}"



def _recent(m: Match) -> str:
    assert isinstance(m, Recent)
    if m.command == "set":
        return f"-m recent --name {m.name} --set"
    return f"-m recent --name {m.name} --rcheck --seconds {m.seconds} --reap"


def _mark(m: Match) -> str:
    assert isinstance(m, Mark)
    return f"-m mark {_neg(m.negated)}--mark {m.value:#08x}/{m.mask:#08x}"


_RENDER: dict[Arg, tuple[type[Match], Callable[[Match], str]]] = {
    Arg.COMMENT: (Comment, _comment),
    Arg.PROTO: (Ports, _proto),
    Arg.DPORT: (Ports, _dport),
    Arg.DST: (Destination, _dst),
    Arg.DST_NET: (Destination, _dst_net),
    Arg.SRC: (Source, _src),
    Arg.SRC_NET: (Source, _src_net),
    Arg.IN_IFACE: (InIface, _in_iface),
    Arg.ADDRTYPE: (AddrType, _ext),
    Arg.NFACCT: (Nfacct, _ext),
    Arg.STATISTIC: (Statistic, _statistic),
    Arg.RECENT: (Recent, _recent),
    Arg.MARK: (Mark, _mark),
    Arg.CONNTRACK: (Conntrack, _ext),
}



def _dnat(target: Target) -> str:
    assert isinstance(target, Dnat)
    to = target.to
    if to.lo is not None and to.hi is None and to.ports is not None and to.ports.lo == to.ports.hi:
        host = address(to.lo) if to.lo.version == 4 else f"[{to.lo}]"
        return f"-j DNAT --to-destination {host}:{to.ports.lo}"
    return f"-j DNAT --to-destination {to}"


def _mark_target(target: Target) -> str:
    assert isinstance(target, MarkTarget)
    kind = "--or-mark" if target.value == target.mask else "--xor-mark"
    return f"-j MARK {kind} {target.value:#08x}"


def _masquerade(target: Target) -> str:
    assert isinstance(target, Masquerade)
    return "-j MASQUERADE --random-fully" if target.random_fully else "-j MASQUERADE"


_TARGETS: dict[type[Target], Callable[[Target], str]] = {
    Jump: lambda t: f"-j {t.chain}",  # type: ignore[attr-defined]
    Verdict_: lambda t: f"-j {t.verdict}",  # type: ignore[attr-defined]
    Reject: lambda t: "-j REJECT",
    Dnat: _dnat,
    Masquerade: _masquerade,
    MarkTarget: _mark_target,
}

Plan = tuple[tuple[Callable[[Match], str], int], ...]
_PLANS: dict[tuple[Spelling, tuple[type[Match], ...]], Plan] = {}  # a memo of a pure function


def _plan(spelling: Spelling, types: tuple[type[Match], ...]) -> Plan:
    """Which of a rule's matches each argument of ``spelling`` prints (rules of one shape
    have their matches in the same normal-form order)."""
    plan = []
    for arg in spelling:
        cls, fn = _RENDER[arg]
        if cls not in types:
            raise ValueError(f"spelling names {arg.value} but the rule has no {cls.__name__}")
        plan.append((fn, types.index(cls)))
    return tuple(plan)


def render_arg(arg: Arg, match: Match) -> str:
    """One argument group of a rule, as ``render`` prints it (``! -s 10.0.0.0/8``)."""
    cls, fn = _RENDER[arg]
    if not isinstance(match, cls):
        raise ValueError(f"{arg.value} is spelled from a {cls.__name__}, not a {type(match).__name__}")
    return fn(match)


def render(rule: Rule, spelling: Spelling) -> str:
    """The rule's text after ``-A CHAIN`` as kube-proxy writes it.

    >>> render(Rule((comment("ns/a:p"), *service_dst("tcp", HostNets()[ipaddress.ip_address("10.0.0.1")], 80)),
    ...             jump("KUBE-SVC-X")), CAPTURE)
    '-m comment --comment ns/a:p -m tcp -p tcp -d 10.0.0.1 --dport 80 -j KUBE-SVC-X'
    """
    matches = rule.matches
    key = (spelling, tuple(map(type, matches)))
    plan = _PLANS.get(key)
    if plan is None:
        plan = _PLANS[key] = _plan(*key)
    parts = [fn(matches[i]) for fn, i in plan]
    target = rule.target
    if target is not None:
        text = _TARGETS.get(type(target))
        if text is None:
            raise TypeError(f"kube-proxy writes no {type(target).__name__} target")
        parts.append(text(target))
    return " ".join(parts)


# --- the spellings kube-proxy uses ------------------------------------------------------------

CAPTURE: Spelling = (Arg.COMMENT, Arg.PROTO, Arg.DST, Arg.DPORT)  # cluster/external/LB IP
NODEPORT: Spelling = (Arg.COMMENT, Arg.PROTO, Arg.DPORT)
NODEPORT_LOCALHOST: Spelling = (Arg.COMMENT, Arg.PROTO, Arg.DST_NET, Arg.DPORT, Arg.NFACCT)
NODEPORT_REJECT: Spelling = (Arg.COMMENT, Arg.ADDRTYPE, Arg.PROTO, Arg.DPORT)
COMMENT_ONLY: Spelling = (Arg.COMMENT,)
COMMENT_SRC: Spelling = (Arg.COMMENT, Arg.SRC)
COMMENT_SRC_NET: Spelling = (Arg.COMMENT, Arg.SRC_NET)
COMMENT_ADDRTYPE: Spelling = (Arg.COMMENT, Arg.ADDRTYPE)
BARE: Spelling = ()
SRC: Spelling = (Arg.SRC,)
SEP_DNAT: Spelling = (Arg.PROTO,)
SEP_DNAT_AFFINITY: Spelling = (Arg.RECENT, Arg.PROTO)
RECENT: Spelling = (Arg.RECENT,)
STATISTIC: Spelling = (Arg.STATISTIC,)
MARK: Spelling = (Arg.MARK,)
COMMENT_MARK: Spelling = (Arg.COMMENT, Arg.MARK)
CONNTRACK: Spelling = (Arg.CONNTRACK,)
CONNTRACK_NFACCT: Spelling = (Arg.CONNTRACK, Arg.NFACCT)
COMMENT_CONNTRACK: Spelling = (Arg.COMMENT, Arg.CONNTRACK)
CONNTRACK_COMMENT: Spelling = (Arg.CONNTRACK, Arg.COMMENT)
TAIL_LOCAL: Spelling = (Arg.COMMENT, Arg.ADDRTYPE)
TAIL_LOCAL_EXCEPT: Spelling = (Arg.COMMENT, Arg.ADDRTYPE, Arg.DST_NET)
TAIL_ADDRESS: Spelling = (Arg.COMMENT, Arg.DST)
LOCALNET_FIREWALL: Spelling = (Arg.COMMENT, Arg.DST_NET, Arg.SRC_NET, Arg.CONNTRACK)


def with_comment(spelling: Spelling, commented: bool) -> Spelling:
    """``spelling`` with its leading comment kept or dropped (large-cluster mode)."""
    return spelling if commented else tuple(a for a in spelling if a is not Arg.COMMENT)


# --- typed values kube-proxy writes (shared where they recur) --------------------------------


def host_net(ip: IPAddress) -> IPNetwork:
    """``ip`` as the /32 (/128) network iptables stores for ``-s ip``/``-d ip``."""
    if ip.version == 4:
        return ipaddress.IPv4Network((int(ip), 32))
    return ipaddress.IPv6Network((int(ip), 128))


class HostNets(dict[IPAddress, IPNetwork]):
    """Host networks by address, made once: a network names the same ClusterIPs and
    endpoint addresses on every node and in every port of a Service (an ipaddress network
    is costly to build and to keep)."""

    def __missing__(self, ip: IPAddress) -> IPNetwork:
        net = self[ip] = host_net(ip)
        return net


@cache
def _proto_matches(proto: str) -> tuple[Protocol_, Ports]:
    return Protocol_(PROTO_NUMBERS[proto]), Ports(proto)


def proto(protocol: str) -> tuple[Match, ...]:
    """``-m P -p P`` without ports."""
    return _proto_matches(protocol)


@lru_cache(maxsize=65536)
def _dport_match(protocol: str, port: int) -> Ports:
    return Ports(protocol, dport=_port_range(port))


def service_dst(protocol: str, dst: IPNetwork | None, port: int) -> tuple[Match, ...]:
    """``-m P -p P [-d dst] --dport port`` as matches (in normal form: -d, -p, then -m)."""
    number = _proto_matches(protocol)[0]
    ports = _dport_match(protocol, port)
    if dst is None:
        return (number, ports)
    return (Destination(dst), number, ports)


def comment(text: str) -> Comment:
    return Comment(text)


def jump(chain: str) -> Jump:
    return Jump(chain)


@cache
def verdict(name: str) -> Target:
    """``-j ACCEPT``/``DROP``/``RETURN``/``REJECT`` (kube-proxy's REJECT takes the default)."""
    return Reject() if name == "REJECT" else Verdict_(name)


def dnat(ip: IPAddress, port: int) -> Dnat:
    return Dnat(NatRange(ip, None, _port_range(port)))


@lru_cache(maxsize=65536)
def _port_range(port: int) -> PortRange:
    return PortRange(port, port)


@lru_cache(maxsize=4096)
def statistic_only(remaining: int) -> tuple[Match, ...]:
    """The matches of an uncommented cascade rule (large-cluster mode), shared."""
    return (statistic(remaining),)


@lru_cache(maxsize=4096)
def statistic(remaining: int) -> Statistic:
    """The cascade's ``--probability 1/remaining``, exactly (iptables reads the same value
    back from kube-proxy's 10 decimals for every cascade kube-proxy caches, up to 1000)."""
    return Statistic("random", Fraction(1, remaining))


def recent_set(name: str) -> Recent:
    return Recent("set", name)


def recent_check(name: str, seconds: int) -> Recent:
    return Recent("rcheck", name, seconds=seconds, reap=True)


ADDRTYPE_DST_LOCAL = AddrType(dst_type=("LOCAL",))
ADDRTYPE_SRC_LOCAL = AddrType(src_type=("LOCAL",))


def source(net: IPNetwork) -> Source:
    """``-s net`` (an address is given as its /32 or /128, see ``HostNets``)."""
    return Source(net)


def destination(value: IPAddress | IPNetwork, *, negated: bool = False) -> Destination:
    net = value if isinstance(value, ipaddress.IPv4Network | ipaddress.IPv6Network) else host_net(value)
    return Destination(net, negated)


LOOPBACK_NET = ipaddress.IPv4Network("127.0.0.0/8")
LOOPBACK_NET6 = ipaddress.IPv6Network("::1/128")
NFACCT_LOCALHOST_NODEPORTS = Nfacct("localhost_nps_accepted_pkts")
NFACCT_INVALID_DROPPED = Nfacct("ct_state_invalid_dropped_pkts")
MARK_MASQ = Jump("KUBE-MARK-MASQ")
