"""Option tables of the supported extensions and their builders: parsed options → typed value.

``parse.py`` tokenizes a rule line and dispatches each ``--option`` here; a builder raises
``ValueError`` with a message saying what was expected, which the parser locates.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache

from overlaynet.dataplane.netfilter import matches as m
from overlaynet.dataplane.netfilter import matches_ct as ct
from overlaynet.dataplane.netfilter import targets as t
from overlaynet.model.base import IPAddress, IPNetwork


@dataclass
class Options:
    """The options given to one extension instance, in order: name → (args, negated)."""

    ext: str
    given: dict[str, tuple[list[str], bool]] = field(default_factory=dict)

    def add(self, name: str, args: list[str], negated: bool) -> None:
        if name in self.given:
            raise ValueError(f"option --{name} given twice for {self.ext}")
        self.given[name] = (args, negated)

    def arg(self, name: str) -> str | None:
        got = self.given.get(name)
        return got[0][0] if got else None

    def has(self, name: str) -> bool:
        return name in self.given

    def neg(self, name: str) -> bool:
        got = self.given.get(name)
        return bool(got and got[1])

    def no_negation(self, *names: str) -> None:
        for name in names:
            if self.neg(name):
                raise ValueError(f"--{name} of {self.ext} cannot be negated with '!'")


# --- value parsers -----------------------------------------------------------------------------
def parse_int(text: str, what: str, lo: int = 0, hi: int = 0xFFFFFFFF) -> int:
    try:
        value = int(text, 0)
    except ValueError:
        raise ValueError(f"expected {what} (a number), found {text!r}") from None
    if not lo <= value <= hi:
        raise ValueError(f"{what} {value} out of range {lo}..{hi}")
    return value


def parse_port(text: str) -> int:
    return parse_int(text, "a port", 0, 65535) if text.isdigit() else _service_port(text)


def _service_port(text: str) -> int:
    import socket

    try:
        return socket.getservbyname(text)
    except OSError:
        raise ValueError(f"expected a port number or service name, found {text!r}") from None


@lru_cache(maxsize=65536)
def parse_port_range(text: str) -> m.PortRange:
    if not text or text == ":":
        raise ValueError(f"expected a port or a range a:b, found {text!r}")
    lo, sep, hi = text.partition(":")
    first = parse_port(lo) if lo else 0
    last = (parse_port(hi) if hi else 65535) if sep else first
    if first > last:
        raise ValueError(f"port range {text} is inverted")
    return m.PortRange(first, last)


@lru_cache(maxsize=65536)
def parse_net(text: str) -> IPNetwork:
    addr, sep, mask = text.partition("/")
    try:
        ip = ipaddress.ip_address(addr)
        if not sep:
            return ipaddress.ip_network(f"{ip}/{ip.max_prefixlen}")
        if mask.isdigit():
            return ipaddress.ip_network(f"{ip}/{mask}", strict=False)
        return ipaddress.ip_network(f"{ip}/{ipaddress.ip_address(mask)}", strict=False)
    except ValueError:
        if "," in text:
            raise ValueError(f"several addresses in one option ({text}) are not supported; write one rule per address") from None
        raise ValueError(f"expected an address or CIDR, found {text!r}") from None


def parse_ip(text: str) -> IPAddress:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        raise ValueError(f"expected an IP address, found {text!r}") from None


def parse_mark(text: str) -> tuple[int, int]:
    value, sep, mask = text.partition("/")
    return parse_int(value, "a mark"), (parse_int(mask, "a mask") if sep else 0xFFFFFFFF)


def parse_flags(text: str) -> frozenset[str]:
    if text == "ALL":
        return frozenset(m.TCP_FLAGS)
    if text == "NONE":
        return frozenset()
    flags = frozenset(text.split(","))
    bad = flags - set(m.TCP_FLAGS)
    if bad:
        raise ValueError(f"unknown TCP flag(s) {', '.join(sorted(bad))}; expected {','.join(m.TCP_FLAGS)}, ALL or NONE")
    return flags


def parse_states(text: str) -> frozenset[str]:
    states = frozenset(text.upper().split(","))
    bad = states - set(ct.CT_STATES)
    if bad:
        raise ValueError(f"unknown state(s) {', '.join(sorted(bad))}; expected {', '.join(ct.CT_STATES)}")
    return states


@lru_cache(maxsize=65536)
def parse_nat_range(text: str) -> t.NatRange:
    addr, ports = text, ""
    if text.startswith("["):
        addr, _, rest = text[1:].partition("]")
        ports = rest[1:] if rest.startswith(":") else ""
    elif text.count(":") == 1:
        addr, _, ports = text.partition(":")
    lo = hi = None
    if addr:
        first, _, last = addr.partition("-")
        lo = parse_ip(first)
        hi = parse_ip(last) if last else None
    port_range = None
    if ports:
        plo, _, phi = ports.partition("-")
        port_range = m.PortRange(parse_port(plo), parse_port(phi) if phi else parse_port(plo))
    if lo is None and port_range is None:
        raise ValueError(f"expected ip[-ip][:port[-port]], found {text!r}")
    return t.NatRange(lo, hi, port_range)


def parse_to_ports(text: str) -> m.PortRange:
    lo, _, hi = text.partition("-")
    return m.PortRange(parse_port(lo), parse_port(hi) if hi else parse_port(lo))


# --- match builders ----------------------------------------------------------------------------
def _ports(proto: str) -> Callable[[Options], m.Match]:
    def build(o: Options) -> m.Match:
        sport = o.arg("sport") or o.arg("source-port")
        dport = o.arg("dport") or o.arg("destination-port")
        flags = None
        flags_neg = False
        if o.has("tcp-flags"):
            mask, comp = o.given["tcp-flags"][0]
            flags, flags_neg = (parse_flags(mask), parse_flags(comp)), o.neg("tcp-flags")
        if o.has("syn"):
            flags, flags_neg = (frozenset({"FIN", "SYN", "RST", "ACK"}), frozenset({"SYN"})), o.neg("syn")
        return m.Ports(
            proto,
            sport=parse_port_range(sport) if sport else None,
            sport_negated=o.neg("sport") or o.neg("source-port"),
            dport=parse_port_range(dport) if dport else None,
            dport_negated=o.neg("dport") or o.neg("destination-port"),
            flags=flags,
            flags_negated=flags_neg,
        )

    return build


def _icmp(o: Options) -> m.Match:
    text = o.arg("icmp-type")
    if text is None:
        raise ValueError("icmp needs --icmp-type")
    if text in m.ICMP_TYPES:
        typ, code = m.ICMP_TYPES[text]
    else:
        first, sep, second = text.partition("/")
        typ = parse_int(first, "an ICMP type", 0, 255)
        code = parse_int(second, "an ICMP code", 0, 255) if sep else None
    return m.Icmp(typ, code, o.neg("icmp-type"))


_ICMP6_TYPES = {"destination-unreachable": 1, "packet-too-big": 2, "time-exceeded": 3, "parameter-problem": 4,
                "echo-request": 128, "echo-reply": 129, "router-solicitation": 133, "router-advertisement": 134,
                "neighbour-solicitation": 135, "neighbor-solicitation": 135, "neighbour-advertisement": 136,
                "neighbor-advertisement": 136, "redirect": 137}


def _icmp6(o: Options) -> m.Match:
    text = o.arg("icmpv6-type")
    if text is None:
        raise ValueError("icmp6 needs --icmpv6-type")
    if text in _ICMP6_TYPES:
        return m.Icmp6(_ICMP6_TYPES[text], None, o.neg("icmpv6-type"))
    first, sep, second = text.partition("/")
    return m.Icmp6(parse_int(first, "an ICMPv6 type", 0, 255),
                   parse_int(second, "an ICMPv6 code", 0, 255) if sep else None, o.neg("icmpv6-type"))


def _multiport(o: Options) -> m.Match:
    kinds = [k for k in ("sports", "dports", "ports", "source-ports", "destination-ports") if o.has(k)]
    if len(kinds) != 1:
        raise ValueError("multiport needs exactly one of --sports, --dports, --ports")
    kind = {"source-ports": "sports", "destination-ports": "dports"}.get(kinds[0], kinds[0])
    ports = tuple(parse_port_range(p) for p in (o.arg(kinds[0]) or "").split(","))
    if len(ports) > 15:
        raise ValueError("multiport takes at most 15 ports")
    return m.Multiport(kind, ports, o.neg(kinds[0]))


def _types(text: str | None) -> tuple[str, ...]:
    if text is None:
        return ()
    types = tuple(text.upper().split(","))
    bad = [x for x in types if x not in m.ADDR_TYPES]
    if bad:
        raise ValueError(f"unknown address type(s) {', '.join(bad)}; expected {', '.join(m.ADDR_TYPES)}")
    return types


def _addrtype(o: Options) -> m.Match:
    o.no_negation("limit-iface-in", "limit-iface-out")
    return m.AddrType(_types(o.arg("src-type")), o.neg("src-type"), _types(o.arg("dst-type")), o.neg("dst-type"),
                      o.has("limit-iface-in"), o.has("limit-iface-out"))


def _nfacct(o: Options) -> m.Match:
    o.no_negation("nfacct-name")
    name = o.arg("nfacct-name")
    if not name:
        raise ValueError("nfacct needs --nfacct-name")
    return m.Nfacct(name)


def _comment(o: Options) -> m.Match:
    o.no_negation("comment")
    text = o.arg("comment")
    if text is None:
        raise ValueError("comment needs --comment")
    if len(text) > 255:
        raise ValueError("a comment is at most 255 characters")
    return m.Comment(text)


def _mark(cls: type[m.Mark] | type[m.ConnMark]) -> Callable[[Options], m.Match]:
    def build(o: Options) -> m.Match:
        text = o.arg("mark")
        if text is None:
            raise ValueError("needs --mark value[/mask]")
        value, mask = parse_mark(text)
        return cls(value, mask, o.neg("mark"))

    return build


def _conntrack(o: Options) -> m.Match:
    nets: dict[str, IPNetwork | None] = {}
    for name in ("ctorigsrc", "ctorigdst", "ctreplsrc", "ctrepldst"):
        text = o.arg(name)
        nets[name] = parse_net(text) if text else None
    states = o.arg("ctstate")
    return ct.Conntrack(
        ctstate=parse_states(states) if states else None, ctstate_negated=o.neg("ctstate"),
        ctorigsrc=nets["ctorigsrc"], ctorigsrc_negated=o.neg("ctorigsrc"),
        ctorigdst=nets["ctorigdst"], ctorigdst_negated=o.neg("ctorigdst"),
        ctreplsrc=nets["ctreplsrc"], ctreplsrc_negated=o.neg("ctreplsrc"),
        ctrepldst=nets["ctrepldst"], ctrepldst_negated=o.neg("ctrepldst"),
    )


def _state(o: Options) -> m.Match:
    text = o.arg("state")
    if text is None:
        raise ValueError("state needs --state")
    return ct.State(parse_states(text), o.neg("state"))


def _statistic(o: Options) -> m.Match:
    mode = o.arg("mode")
    o.no_negation("mode")
    if mode == "random":
        text = o.arg("probability")
        if text is None:
            raise ValueError("--mode random needs --probability")
        return ct.Statistic("random", probability=ct.parse_probability(text), negated=o.neg("probability"))
    if mode == "nth":
        every = parse_int(o.arg("every") or "", "--every", 1)
        packet = parse_int(o.arg("packet") or "0", "--packet", 0, every - 1)
        return ct.Statistic("nth", every=every, packet=packet, negated=o.neg("every"))
    raise ValueError(f"statistic --mode must be random or nth, found {mode!r}")


def _recent(o: Options) -> m.Match:
    commands = [c for c in ("set", "rcheck", "update", "remove") if o.has(c)]
    if len(commands) != 1:
        raise ValueError("recent needs exactly one of --set, --rcheck, --update, --remove")
    side = "rdest" if o.has("rdest") else "rsource"
    seconds = o.arg("seconds")
    hitcount = o.arg("hitcount")
    if o.has("reap") and seconds is None:
        raise ValueError("recent --reap needs --seconds")
    mask = o.arg("mask")
    return ct.Recent(
        commands[0], name=o.arg("name") or "DEFAULT",
        seconds=parse_int(seconds, "--seconds") if seconds else None, reap=o.has("reap"),
        hitcount=parse_int(hitcount, "--hitcount", 1) if hitcount else None, rttl=o.has("rttl"),
        mask=parse_ip(mask) if mask else ipaddress.IPv4Address("255.255.255.255"),
        side=side, negated=o.neg(commands[0]),
    )


def _set(o: Options) -> m.Match:
    got = o.given.get("match-set")
    if got is None:
        raise ValueError("set needs --match-set NAME src|dst[,...]")
    name, flags = got[0]
    parts = tuple(flags.split(","))
    if not parts or any(p not in ("src", "dst") for p in parts):
        raise ValueError(f"expected --match-set flags src/dst separated by commas, found {flags!r}")
    return m.SetMatch(name, parts, got[1])


def _physdev(o: Options) -> m.Match:
    def flag(name: str) -> bool | None:
        return (not o.neg(name)) if o.has(name) else None

    return m.Physdev(o.arg("physdev-in"), o.neg("physdev-in"), o.arg("physdev-out"), o.neg("physdev-out"),
                     flag("physdev-is-in"), flag("physdev-is-out"), flag("physdev-is-bridged"))


_UNITS = {"s": "sec", "sec": "sec", "second": "sec", "m": "min", "min": "min", "minute": "min",
          "h": "hour", "hour": "hour", "d": "day", "day": "day"}


def _limit(o: Options) -> m.Match:
    o.no_negation("limit", "limit-burst")
    rate, unit = 3, "hour"
    text = o.arg("limit")
    if text is not None:
        number, _, unit_text = text.partition("/")
        rate = parse_int(number, "a rate", 1)
        lowered = (unit_text or "sec").lower()
        unit = _UNITS.get(lowered) or _UNITS.get(lowered.rstrip("s"), "")
        if not unit:
            raise ValueError(f"expected a rate like 5/min, found {text!r}")
    burst = o.arg("limit-burst")
    return m.Limit(rate, unit, parse_int(burst, "--limit-burst", 1) if burst else 5)


# ext name → (option → number of arguments, builder)
MATCHES: dict[str, tuple[dict[str, int], Callable[[Options], m.Match]]] = {
    "tcp": ({"sport": 1, "source-port": 1, "dport": 1, "destination-port": 1, "tcp-flags": 2, "syn": 0}, _ports("tcp")),
    "udp": ({"sport": 1, "source-port": 1, "dport": 1, "destination-port": 1}, _ports("udp")),
    "sctp": ({"sport": 1, "source-port": 1, "dport": 1, "destination-port": 1}, _ports("sctp")),
    "icmp": ({"icmp-type": 1}, _icmp),
    "icmp6": ({"icmpv6-type": 1}, _icmp6),
    "multiport": ({"sports": 1, "dports": 1, "ports": 1, "source-ports": 1, "destination-ports": 1}, _multiport),
    "addrtype": ({"src-type": 1, "dst-type": 1, "limit-iface-in": 0, "limit-iface-out": 0}, _addrtype),
    "comment": ({"comment": 1}, _comment),
    "nfacct": ({"nfacct-name": 1}, _nfacct),
    "mark": ({"mark": 1}, _mark(m.Mark)),
    "connmark": ({"mark": 1}, _mark(m.ConnMark)),
    "conntrack": ({"ctstate": 1, "ctorigsrc": 1, "ctorigdst": 1, "ctreplsrc": 1, "ctrepldst": 1}, _conntrack),
    "state": ({"state": 1}, _state),
    "statistic": ({"mode": 1, "probability": 1, "every": 1, "packet": 1}, _statistic),
    "recent": ({"set": 0, "rcheck": 0, "update": 0, "remove": 0, "seconds": 1, "reap": 0, "hitcount": 1,
                "rttl": 0, "name": 1, "mask": 1, "rsource": 0, "rdest": 0}, _recent),
    "set": ({"match-set": 2}, _set),
    "physdev": ({"physdev-in": 1, "physdev-out": 1, "physdev-is-in": 0, "physdev-is-out": 0,
                 "physdev-is-bridged": 0}, _physdev),
    "limit": ({"limit": 1, "limit-burst": 1}, _limit),
}


# --- target builders ---------------------------------------------------------------------------
def _reject(o: Options) -> t.Target:
    return t.Reject(o.arg("reject-with") or "icmp-port-unreachable")


def _dnat(o: Options) -> t.Target:
    text = o.arg("to-destination")
    if text is None:
        raise ValueError("DNAT needs --to-destination ip[:port]")
    return t.Dnat(parse_nat_range(text), o.has("random"), o.has("persistent"))


def _snat(o: Options) -> t.Target:
    text = o.arg("to-source")
    if text is None:
        raise ValueError("SNAT needs --to-source ip[:port]")
    return t.Snat(parse_nat_range(text), o.has("random"), o.has("random-fully"), o.has("persistent"))


def _masquerade(o: Options) -> t.Target:
    ports = o.arg("to-ports")
    return t.Masquerade(parse_to_ports(ports) if ports else None, o.has("random"), o.has("random-fully"))


def _redirect(o: Options) -> t.Target:
    ports = o.arg("to-ports")
    return t.Redirect(parse_to_ports(ports) if ports else None, o.has("random"))


def _xmark(o: Options, what: str) -> tuple[int, int]:
    """The (value, mask) of --set-xmark/--set-mark/--or-mark/--and-mark/--xor-mark."""
    given = [k for k in ("set-xmark", "set-mark", "or-mark", "and-mark", "xor-mark") if o.has(k)]
    if len(given) != 1:
        raise ValueError(f"{what} needs exactly one of --set-xmark, --set-mark, --or-mark, --and-mark, --xor-mark")
    kind, text = given[0], o.arg(given[0]) or ""
    value, mask = parse_mark(text)
    if kind == "set-xmark":
        return value, mask
    if kind == "set-mark":
        return value, (value | mask) & 0xFFFFFFFF
    if kind == "or-mark":
        return value, value
    if kind == "and-mark":
        return 0, ~value & 0xFFFFFFFF
    return value, 0


def _mark_target(o: Options) -> t.Target:
    return t.MarkTarget(*_xmark(o, "MARK"))


def _connmark_target(o: Options) -> t.Target:
    for mode in ("save", "restore"):
        if o.has(f"{mode}-mark"):
            mask = o.arg("mask")
            default = parse_int(mask, "--mask") if mask else 0xFFFFFFFF
            nf = o.arg("nfmask")
            ctm = o.arg("ctmask")
            return t.ConnMarkTarget(mode, nfmask=parse_int(nf, "--nfmask") if nf else default,
                                    ctmask=parse_int(ctm, "--ctmask") if ctm else default)
    xvalue, xmask = _xmark(o, "CONNMARK")
    return t.ConnMarkTarget("set", xvalue, xmask)


_LOG_LEVELS = {"emerg": 0, "alert": 1, "crit": 2, "error": 3, "err": 3, "warning": 4, "warn": 4,
               "notice": 5, "info": 6, "debug": 7}


def _log(o: Options) -> t.Target:
    level_text = o.arg("log-level")
    level = 4
    if level_text is not None:
        level = _LOG_LEVELS[level_text] if level_text in _LOG_LEVELS else parse_int(level_text, "a log level", 0, 7)
    flags = tuple(f for f in ("tcp-sequence", "tcp-options", "ip-options", "uid", "macdecode") if o.has(f"log-{f}"))
    prefix = o.arg("log-prefix")
    if prefix is not None and len(prefix) > 29:
        raise ValueError("--log-prefix is at most 29 characters")
    return t.Log(prefix, level, flags)


def _nflog(o: Options) -> t.Target:
    group = o.arg("nflog-group")
    size, rng, threshold = o.arg("nflog-size"), o.arg("nflog-range"), o.arg("nflog-threshold")
    prefix = o.arg("nflog-prefix")
    if prefix is not None and len(prefix) > 63:
        raise ValueError("--nflog-prefix is at most 63 characters")
    return t.Nflog(parse_int(group, "an NFLOG group", 0, 65535) if group else 0, prefix,
                   parse_int(size, "a size", 0, 2**32 - 1) if size is not None else None,
                   parse_int(rng, "a range", 0, 2**32 - 1) if rng is not None else None,
                   parse_int(threshold, "a threshold", 1, 65535) if threshold is not None else 1)


def _checksum(o: Options) -> t.Target:
    if not o.has("checksum-fill"):
        raise ValueError("CHECKSUM needs --checksum-fill")
    return t.Checksum()


def _ct(o: Options) -> t.Target:
    if not o.has("notrack"):
        raise ValueError("only CT --notrack is supported")
    return t.Notrack(ct=True)


TARGETS: dict[str, tuple[dict[str, int], Callable[[Options], t.Target]]] = {
    "ACCEPT": ({}, lambda o: t.Verdict_("ACCEPT")),
    "DROP": ({}, lambda o: t.Verdict_("DROP")),
    "RETURN": ({}, lambda o: t.Verdict_("RETURN")),
    "REJECT": ({"reject-with": 1}, _reject),
    "DNAT": ({"to-destination": 1, "random": 0, "persistent": 0}, _dnat),
    "SNAT": ({"to-source": 1, "random": 0, "random-fully": 0, "persistent": 0}, _snat),
    "MASQUERADE": ({"to-ports": 1, "random": 0, "random-fully": 0}, _masquerade),
    "REDIRECT": ({"to-ports": 1, "random": 0}, _redirect),
    "MARK": ({"set-xmark": 1, "set-mark": 1, "or-mark": 1, "and-mark": 1, "xor-mark": 1}, _mark_target),
    "CONNMARK": ({"set-xmark": 1, "set-mark": 1, "or-mark": 1, "and-mark": 1, "xor-mark": 1, "save-mark": 0,
                  "restore-mark": 0, "nfmask": 1, "ctmask": 1, "mask": 1}, _connmark_target),
    "LOG": ({"log-prefix": 1, "log-level": 1, "log-tcp-sequence": 0, "log-tcp-options": 0, "log-ip-options": 0,
             "log-uid": 0, "log-macdecode": 0}, _log),
    "NOTRACK": ({}, lambda o: t.Notrack()),
    "NFLOG": ({"nflog-group": 1, "nflog-prefix": 1, "nflog-size": 1, "nflog-range": 1, "nflog-threshold": 1}, _nflog),
    "CHECKSUM": ({"checksum-fill": 0}, _checksum),
    "CT": ({"notrack": 0, "zone": 1, "helper": 1, "ctevents": 1, "expevents": 1, "timeout": 1}, _ct),
}

# options of supported extensions that we cannot evaluate (named in UnsupportedExtension)
UNSUPPORTED_OPTIONS: dict[str, frozenset[str]] = {
    "tcp": frozenset({"tcp-option"}),
    "sctp": frozenset({"chunk-types"}),
    "conntrack": frozenset({"ctproto", "ctstatus", "ctexpire", "ctdir", "ctorigsrcport", "ctorigdstport",
                            "ctreplsrcport", "ctrepldstport"}),
    "set": frozenset({"return-nomatch", "update-counters", "update-subcounters", "packets-eq", "packets-lt",
                      "packets-gt", "bytes-eq", "bytes-lt", "bytes-gt"}),
}

# iptables targets and matches we know of but cannot evaluate (named in the error)
KNOWN_UNSUPPORTED_TARGETS = frozenset({
    "TPROXY", "NFQUEUE", "TCPMSS", "TOS", "DSCP", "TTL", "HL", "CLASSIFY", "SET", "AUDIT",
    "CLUSTERIP", "TEE", "IDLETIMER", "LED", "NETMAP", "SECMARK", "CONNSECMARK", "TRACE",
    "ULOG", "SYNPROXY", "HMARK", "RATEEST", "ECN", "MIRROR", "SAME", "NOTRACK6",
})
