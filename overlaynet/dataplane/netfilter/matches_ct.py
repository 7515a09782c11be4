"""Stateful iptables matches: conntrack/state, statistic and recent.

Their tests read (and for ``recent`` write) the explicit ``NetfilterState``; ``statistic``
asks the evaluation environment to decide, which samples or branches (``evaluate.py``).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from functools import lru_cache
from math import floor
from typing import ClassVar

from overlaynet.dataplane.netfilter.matches import Env, Match, _neg, render_net
from overlaynet.model.base import IPAddress, IPNetwork

# iptables-save prints states in this order (libxt_conntrack / libxt_state)
CT_STATES = ("INVALID", "NEW", "RELATED", "ESTABLISHED", "UNTRACKED", "SNAT", "DNAT")


def render_states(states: frozenset[str]) -> str:
    return ",".join(s for s in CT_STATES if s in states)


@dataclass(frozen=True, slots=True)
class Conntrack(Match):
    """``-m conntrack``: --ctstate (incl. the SNAT/DNAT pseudo-states) and the original /
    reply tuple addresses."""

    ctstate: frozenset[str] | None = None
    ctstate_negated: bool = False
    ctorigsrc: IPNetwork | None = None
    ctorigsrc_negated: bool = False
    ctorigdst: IPNetwork | None = None
    ctorigdst_negated: bool = False
    ctreplsrc: IPNetwork | None = None
    ctreplsrc_negated: bool = False
    ctrepldst: IPNetwork | None = None
    ctrepldst_negated: bool = False
    ext: ClassVar[str | None] = "conntrack"

    def render(self) -> str:
        parts = []
        if self.ctstate is not None:
            parts.append(f"{_neg(self.ctstate_negated)}--ctstate {render_states(self.ctstate)}")
        for name in ("ctorigsrc", "ctorigdst", "ctreplsrc", "ctrepldst"):
            net = getattr(self, name)
            if net is not None:
                # iptables-save prints host addresses of these options without /32
                text = str(net.network_address) if net.prefixlen == net.max_prefixlen else render_net(net)
                parts.append(f"{_neg(getattr(self, name + '_negated'))}--{name} {text}")
        return " ".join(parts)

    def test(self, env: Env) -> bool:
        ct = env.ct
        if self.ctstate is not None and bool(ct.states() & self.ctstate) == self.ctstate_negated:
            return False
        tuples = {"ctorigsrc": ct.orig_src, "ctorigdst": ct.orig_dst, "ctreplsrc": ct.repl_src, "ctrepldst": ct.repl_dst}
        for name, value in tuples.items():
            net = getattr(self, name)
            if net is None:
                continue
            hit = value is not None and value.version == net.version and value in net
            if hit == getattr(self, name + "_negated"):
                return False
        return True


@dataclass(frozen=True, slots=True)
class State(Match):
    """``-m state --state``: the legacy spelling of ``conntrack --ctstate``."""

    states: frozenset[str]
    negated: bool = False
    ext: ClassVar[str | None] = "state"

    def render(self) -> str:
        return f"{_neg(self.negated)}--state {render_states(self.states)}"

    def test(self, env: Env) -> bool:
        return bool(env.ct.states() & self.states) != self.negated


# --- statistic ---------------------------------------------------------------------------------
PROBABILITY_TOLERANCE = Fraction(1, 10**9)


def simplest_between(lo: Fraction, hi: Fraction) -> Fraction:
    """The fraction with the smallest denominator in [lo, hi] (0 <= lo <= hi)."""
    fl = floor(lo)
    if fl == lo:
        return Fraction(fl)
    if fl + 1 <= hi:
        return Fraction(fl + 1)
    return fl + 1 / simplest_between(1 / (hi - fl), 1 / (lo - fl))


@lru_cache(maxsize=4096)
def parse_probability(text: str) -> Fraction:
    """A printed probability → the exact fraction it stands for.

    Rule: the fraction with the smallest denominator within 1e-9 of the printed decimal
    (``0.3333333333``, kube-proxy's ``%0.10f`` of 1/3, and ``0.33333333349``, iptables-save's
    ``%.11f`` of the kernel's 31-bit value, both give 1/3). Exact for 1/n up to n ≈ 30000.
    """
    try:
        value = Fraction(Decimal(text))
    except (InvalidOperation, ValueError, OverflowError) as exc:
        raise ValueError(f"bad probability {text!r}") from exc
    if not 0 <= value <= 1:
        raise ValueError(f"probability {text} is not between 0 and 1")
    lo = max(Fraction(0), value - PROBABILITY_TOLERANCE)
    hi = min(Fraction(1), value + PROBABILITY_TOLERANCE)
    return simplest_between(lo, hi)


@lru_cache(maxsize=4096)
def render_probability(p: Fraction) -> str:
    """As iptables-save prints it: the kernel keeps ``lround(p * 2^31)``, printed ``%.11f``."""
    kernel = floor(p * 0x80000000 + Fraction(1, 2))
    return "%.11f" % (kernel / 0x80000000)


@dataclass(frozen=True, slots=True)
class Statistic(Match):
    mode: str  # random | nth
    probability: Fraction = Fraction(1)
    every: int = 0
    packet: int = 0
    negated: bool = False
    ext: ClassVar[str | None] = "statistic"

    def render(self) -> str:
        if self.mode == "random":
            return f"--mode random {_neg(self.negated)}--probability {render_probability(self.probability)}"
        return f"--mode nth {_neg(self.negated)}--every {self.every} --packet {self.packet}"

    def branch_probability(self) -> Fraction:
        return self.probability if self.mode == "random" else Fraction(1, self.every)

    def test(self, env: Env) -> bool:
        if self.mode == "random":
            return env.decide(self.probability) != self.negated
        return env.decide(Fraction(1, self.every), (self.every, self.packet)) != self.negated


# --- recent ------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Recent(Match):
    """``-m recent``: per-name address lists with timestamps from the state's clock."""

    command: str  # set | rcheck | update | remove
    name: str = "DEFAULT"
    seconds: int | None = None
    reap: bool = False
    hitcount: int | None = None
    rttl: bool = False
    mask: IPAddress = ipaddress.IPv4Address("255.255.255.255")
    side: str = "rsource"  # rsource | rdest
    negated: bool = False
    ext: ClassVar[str | None] = "recent"

    def render(self) -> str:
        parts = [f"{_neg(self.negated)}--{self.command}"]
        if self.seconds is not None:
            parts.append(f"--seconds {self.seconds}")
        if self.reap:
            parts.append("--reap")
        if self.hitcount is not None:
            parts.append(f"--hitcount {self.hitcount}")
        if self.rttl:
            parts.append("--rttl")
        parts.append(f"--name {self.name} --mask {self.mask} --{self.side}")
        return " ".join(parts)

    def _key(self, env: Env) -> IPAddress:
        addr = env.packet.src if self.side == "rsource" else env.packet.dst
        if addr.version != self.mask.version:
            return addr
        return ipaddress.ip_address(int(addr) & int(self.mask))

    def test(self, env: Env) -> bool:
        table = env.state.recent_list(env.namespace, self.name)
        key = self._key(env)
        now = env.state.now()
        if self.command == "set":
            table.setdefault(key, []).append(now)
            return not self.negated
        stamps = table.get(key)
        if self.reap and self.seconds is not None:
            for addr in list(table):
                fresh = [t for t in table[addr] if now - t <= self.seconds]
                if fresh:
                    table[addr] = fresh
                else:
                    del table[addr]
            stamps = table.get(key)
        hit = False
        if stamps:
            window = [t for t in stamps if self.seconds is None or now - t <= self.seconds]
            hit = len(window) >= (self.hitcount or 1)
        if hit and self.command == "update":
            table.setdefault(key, []).append(now)
        if hit and self.command == "remove":
            table.pop(key, None)
        return hit != self.negated
