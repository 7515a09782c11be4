"""Hook evaluation: walk the tables registered at a hook, in the kernel's priority order,
with jumps/gotos/RETURN, policies, marks, conntrack (NEW/ESTABLISHED, NAT bindings and
reverse NAT for replies) and statistic branching (sampled, or every branch with its exact
probability). The rule-by-rule walk is the reference; ``compile.py`` only skips rules that
cannot match (and finds the one that does).
"""

from __future__ import annotations

import hashlib
import ipaddress
import random
from collections.abc import Mapping
from fractions import Fraction

from overlaynet.dataplane.netfilter import targets as t
from overlaynet.dataplane.netfilter.compile import MIN_RUN, CompiledChain
from overlaynet.dataplane.netfilter.compile import compiled as compiled_chain
from overlaynet.dataplane.netfilter.context import (
    HookContext,
    HookOutcome,
    NatRecord,
    RuleHit,
    Verdict,
)
from overlaynet.dataplane.netfilter.matches import PortRange
from overlaynet.dataplane.netfilter.memo import ChainSeen, Walked, chain_seen, pure_rule, remember
from overlaynet.dataplane.netfilter.render import render_rule
from overlaynet.dataplane.netfilter.rules import Chain, Rule, Ruleset, Table
from overlaynet.dataplane.netfilter.state import ConnEntry, ConnInfo, IpSet, NetfilterState, Tuple5
from overlaynet.dataplane.packet import Packet
from overlaynet.errors import IptablesSyntaxError
from overlaynet.model.base import IPAddress

# tables at each hook in priority order: raw −300, (conntrack −200), mangle −150,
# nat DNAT −100 (PREROUTING/OUTPUT), filter 0, nat SNAT +100 (INPUT/POSTROUTING)
HOOK_TABLES: dict[str, tuple[str, ...]] = {
    "PREROUTING": ("raw", "mangle", "nat"),
    "INPUT": ("mangle", "filter", "nat"),
    "FORWARD": ("mangle", "filter"),
    "OUTPUT": ("raw", "mangle", "nat", "filter"),
    "POSTROUTING": ("mangle", "nat"),
}
FIRST_HOOKS = ("PREROUTING", "OUTPUT")  # conntrack lookup creates entries; DNAT happens here
COMPILE_THRESHOLD = MIN_RUN  # chains with at least this many rules use their dispatch tables, if any
MAX_STEPS = 1_000_000  # jumps in one walk: more is a chain loop
_ONE = Fraction(1)
_JUMPS = (t.Jump, t.Goto)
_TWO_53 = float(1 << 53)


def packet_tuple(packet: Packet) -> Tuple5:
    return (packet.proto, packet.src, packet.sport, packet.dst, packet.dport)


def _reverse(tup: Tuple5) -> Tuple5:
    return (tup[0], tup[3], tup[4], tup[1], tup[2])


def run_hook(ruleset: Ruleset, packet: Packet, ctx: HookContext, *, compiled: bool | None = None) -> list[HookOutcome]:
    """Evaluate ``packet`` at ``ctx.hook``; see the module docstring and docs/netfilter.md.

    ``compiled``: use the dispatch tables for long chains (None: when a chain has at least
    ``COMPILE_THRESHOLD`` rules; False: always walk rule by rule).
    """
    if not ctx.all_branches:
        run = _Run(ruleset, packet, ctx, ctx.state, (), compiled)
        return [run.execute()]
    outcomes: list[HookOutcome] = []
    pending: list[tuple[bool, ...]] = [()]
    while pending:
        prefix = pending.pop()
        run = _Run(ruleset, packet, ctx, ctx.state.copy(), prefix, compiled)
        outcome = run.execute()
        for k in range(len(prefix), len(run.choices)):
            taken, p = run.choices[k]
            if 0 < p < 1 and taken:
                pending.append(tuple(c for c, _ in run.choices[:k]) + (False,))
        if outcome.probability > 0:
            outcomes.append(outcome)
    if len(outcomes) == 1:  # nothing forked: the caller's state is the state
        only = outcomes[0]
        assert only.state is not None
        ctx.state.__dict__.update(only.state.__dict__)
        outcomes = [HookOutcome(only.verdict, only.packet, only.probability, only.hits, only.nat, ctx.state,
                                only.reject_with)]
    else:
        _merge_unambiguous(ctx.state, [o.state for o in outcomes if o.state is not None])
    return outcomes


def _merge_unambiguous(state: NetfilterState, branches: list[NetfilterState]) -> None:
    """Give the caller's state the conntrack keys exactly one branch created (the translated
    tuples of that branch's connection and its replies), so a caller that goes on with
    ``ctx.state`` instead of ``outcome.state`` still finds each branch's NAT bindings. Keys
    several branches created (the shared original tuple) stay out: they are ambiguous."""
    created: dict[tuple[str, Tuple5], list[tuple[ConnEntry, str]]] = {}
    for branch in branches:
        for key, value in branch.conntrack.items():
            if key not in state.conntrack:
                created.setdefault(key, []).append(value)
    for key, values in created.items():
        if len(values) == 1:
            state.conntrack[key] = values[0]



#: The iptables-save text and comment of rules that matched, by ``id`` of the (frozen) rule;
#: each entry holds its rule, so the id is not reused while the entry lives. A warm trace
#: hits the same kube-proxy rules again and again; bounded, cleared when full.
_RULE_TEXT: dict[int, tuple[Rule, str, str, str | None]] = {}
_RULE_TEXT_MAX = 1 << 16
#: The last RuleHit each rule made, by ``id`` of the rule, holding it (see ``_Run.hit``).
_HITS: dict[int, tuple[Rule, RuleHit]] = {}


def _rule_text(chain: str, rule: Rule) -> tuple[str, str | None]:
    entry = _RULE_TEXT.get(id(rule))
    if entry is not None and entry[0] is rule and entry[1] == chain:
        return entry[2], entry[3]
    if len(_RULE_TEXT) >= _RULE_TEXT_MAX:
        _RULE_TEXT.clear()
    text, comment = render_rule(chain, rule), rule.comment
    _RULE_TEXT[id(rule)] = (rule, chain, text, comment)
    return text, comment


class _Trail:
    """What a walk went through, for ``memo.Walked``; ``pure`` until it visits a rule that
    reads or writes state (then nothing more is recorded)."""

    __slots__ = ("chains", "pure", "rules")

    def __init__(self) -> None:
        self.pure = True
        self.chains: list[ChainSeen] = []
        self.rules: list[tuple[list[Rule], int, Rule]] = []


class _Run:
    """One walk of one hook along one sequence of statistic decisions (the Env of matches)."""

    def __init__(self, ruleset: Ruleset, packet: Packet, ctx: HookContext, state: NetfilterState,
                 prefix: tuple[bool, ...], compiled: bool | None) -> None:
        self.ruleset = ruleset
        self.packet = packet
        self.ctx = ctx
        self.state = state
        self.prefix = prefix
        self.compiled = compiled
        self.choices: list[tuple[bool, Fraction]] = []  # the decisions taken (all-branches runs)
        self.hits: list[RuleHit] = []
        self.nat: list[NatRecord] = []
        self.hook = ctx.hook
        self.in_iface = ctx.in_iface
        self.out_iface = ctx.out_iface
        self.local_addresses = ctx.local_addresses
        self.namespace = ctx.namespace
        self.physdev_in = ctx.physdev_in
        self.physdev_out = ctx.physdev_out
        self.ipsets: Mapping[str, IpSet] = {**state.ipsets, **ctx.ipsets} if ctx.ipsets else state.ipsets
        self.ct = ConnInfo("NEW")
        self.direction = "orig"
        self.untracked = False
        # where the walk is (table, chain, 1-based rule number): an nth counter is kept per rule
        self.at_table: Table | None = None
        self.at_chain: Chain | None = None
        self.at_rule = 0
        self.rng: random.Random | None = None  # the state's, once a sampled choice needs it
        self.all_branches = ctx.all_branches
        self.odds_num = self.odds_den = 1

    # --- Env -----------------------------------------------------------------------------------
    def decide(self, probability: Fraction, nth: tuple[int, int] | None = None) -> bool:
        num, den = probability.numerator, probability.denominator
        if self.all_branches:  # every branch: replay the prefix, then take each one
            k = len(self.choices)
            choice = self.prefix[k] if k < len(self.prefix) else num > 0
            self.choices.append((choice, probability))
        elif num == 0 or num == den:
            choice = num > 0
        elif nth is not None:
            every, packet = nth
            assert self.at_table is not None and self.at_chain is not None  # (decided inside a walk)
            key = (self.namespace, self.at_table.name, self.at_chain.name, self.at_rule)
            # as xt_statistic: the counter starts at (every-1) - packet and the rule matches
            # when it wraps, i.e. on evaluations packet, packet+every, ... (0-based)
            count = self.state.nth_counters.get(key, every - 1 - packet)
            choice = count == every - 1
            self.state.nth_counters[key] = 0 if choice else count + 1
        else:
            # random() is k / 2**53 exactly: compare k / 2**53 < num / den in integers (the
            # same answer as comparing with the Fraction, without converting the float)
            if self.rng is None:
                self.rng = self.state.rng
            choice = int(self.rng.random() * _TWO_53) * den < num << 53
        # this branch's probability so far, in integers (one Fraction at the end)
        self.odds_num *= num if choice else den - num
        self.odds_den *= den
        return choice

    # --- the hook ------------------------------------------------------------------------------
    def execute(self) -> HookOutcome:
        verdict: str = "ACCEPT"
        reject_with = None
        tables = HOOK_TABLES[self.hook]
        looked_up = False
        if self.hook in FIRST_HOOKS and not self.ctx.looped:  # a fresh traversal: forget an earlier NOTRACK
            if self.state.untracked:  # (hashing the tuple's addresses is dear: only when needed)
                self.state.untracked.discard((self.namespace, packet_tuple(self.packet)))
        else:
            self.conntrack_lookup()
            looked_up = True
        for name in tables:
            if name != "raw" and not looked_up:  # conntrack sits at −200, after raw
                self.conntrack_lookup()
                looked_up = True
            table = self.ruleset.tables.get(name)
            if name == "nat":
                result = self.nat_step(table)
            elif table is not None:
                result = self.walk(table)
            else:
                result = None
            if result in ("DROP", "REJECT"):
                verdict = result
                if result == "REJECT":
                    reject_with = self.reject_with
                break
        if verdict == "ACCEPT" and self.hook in ("INPUT", "POSTROUTING") and self.ct.entry is not None:
            self.ct.entry.confirmed = True
        probability = Fraction(self.odds_num, self.odds_den) if self.odds_den != 1 else _ONE
        final: Verdict = "DROP" if verdict == "DROP" else "REJECT" if verdict == "REJECT" else "ACCEPT"
        return HookOutcome(final, self.packet, probability, tuple(self.hits), tuple(self.nat), self.state, reject_with)

    # --- conntrack ----------------------------------------------------------------------------
    def conntrack_lookup(self) -> None:
        ns = self.namespace
        tup = packet_tuple(self.packet)
        if self.untracked or (self.state.untracked and (ns, tup) in self.state.untracked):
            self.ct = ConnInfo("UNTRACKED")
            self.untracked = True
            return
        found = self.state.lookup(ns, tup)
        if found is not None and self.hook in FIRST_HOOKS and found[1] == "orig" and not found[0].confirmed:
            self.state.forget(ns, found[0])  # an earlier packet never got through: its entry died
            found = None
        if found is None:
            if self.packet.reply:
                self.ct = ConnInfo("ESTABLISHED")  # a reply whose connection we were not shown
                self.direction = "reply"
                return
            entry = ConnEntry(orig=tup, reply=_reverse(tup), dst_done=self.hook not in FIRST_HOOKS)
            self.reindex(entry)
            self.ct = ConnInfo("NEW", entry)
            return
        entry, self.direction = found
        if self.direction == "reply":
            entry.seen_reply = True
            self.ct = ConnInfo("ESTABLISHED", entry)
        else:
            self.ct = ConnInfo("ESTABLISHED" if entry.seen_reply else "NEW", entry)

    def reindex(self, entry: ConnEntry) -> None:
        """Register every tuple a packet of this connection takes before/after each NAT."""
        o, r = entry.orig, entry.reply
        p = o[0]
        conntrack, ns = self.state.conntrack, self.namespace  # (as NetfilterState.register)
        for direction, (a, b, c) in (("orig", (o, (p, o[1], o[2], r[1], r[2]), _reverse(r))),
                                     ("reply", (r, (p, r[1], r[2], o[1], o[2]), _reverse(o)))):
            # without NAT the three are one tuple: register it once (hashing addresses is dear)
            value = (entry, direction)
            conntrack[(ns, a)] = value
            if b != a:
                conntrack[(ns, b)] = value
            if c != a and c != b:
                conntrack[(ns, c)] = value

    def nat_step(self, table: Table | None) -> str | None:
        entry = self.ct.entry
        if entry is None or self.untracked:
            return None
        dst_hook = self.hook in FIRST_HOOKS
        if self.direction == "reply":
            if dst_hook and entry.snat:
                self.translate("conntrack", dst=(entry.orig[1], entry.orig[2]))
            elif not dst_hook and entry.dnat:
                self.translate("conntrack", src=(entry.orig[3], entry.orig[4]))
            return None
        done = entry.dst_done if dst_hook else entry.src_done
        if not done:
            result = self.walk(table) if table is not None else None
            if dst_hook:
                entry.dst_done = True
            else:
                entry.src_done = True
            return result
        if dst_hook and entry.dnat:
            self.translate("conntrack", dst=(entry.reply[1], entry.reply[2]))
        elif not dst_hook and entry.snat:
            self.translate("conntrack", src=(entry.reply[3], entry.reply[4]))
        return None

    def translate(self, kind: str, *, dst: tuple[IPAddress, int | None] | None = None,
                  src: tuple[IPAddress, int | None] | None = None, chain: str = "") -> None:
        pkt = self.packet
        if kind == "conntrack" and (dst or src) == ((pkt.dst, pkt.dport) if dst is not None else (pkt.src, pkt.sport)):
            return  # already translated (a looped-back packet keeps its translated addresses)
        if dst is not None:
            before, after = (pkt.dst, pkt.dport), dst
            self.packet = pkt.with_(dst=dst[0], dport=dst[1])
        else:
            assert src is not None
            before, after = (pkt.src, pkt.sport), src
            self.packet = pkt.with_(src=src[0], sport=src[1])
        self.nat.append(NatRecord(kind, before, after, "dst" if dst is not None else "src", chain))  # type: ignore[arg-type]
        entry = self.ct.entry
        if kind != "conntrack" and entry is not None:
            r = entry.reply
            if dst is not None:
                entry.dnat = True
                entry.reply = (r[0], dst[0], dst[1], r[3], r[4])
            else:
                entry.snat = True
                entry.reply = (r[0], r[1], r[2], src[0], src[1])  # type: ignore[index]
            self.reindex(entry)

    # --- the walk -----------------------------------------------------------------------------
    def walk(self, table: Table) -> str | None:
        """Walk ``table`` from the hook's chain; a pure walk of the trace path (``compiled``
        None) is remembered and given again for the same key (``memo.py``)."""
        if self.compiled is not None:
            return self._walk(table, None)
        base = table.chains.get(self.hook)
        if base is None or not base.rules:  # nothing to walk (nor to remember)
            return None if base is None else base.policy
        entry = self.ct.entry
        key = (self.hook, self.packet, self.in_iface, self.out_iface, self.physdev_in, self.physdev_out,
               self.local_addresses, self.namespace, self.ct.state,
               None if entry is None else (entry.dnat, entry.snat))
        found = table.memo.get(key)
        if isinstance(found, Walked) and found.valid(table):
            self.hits.extend(found.hits)
            self.packet = found.packet
            if found.reject_with is not None:
                self.reject_with = found.reject_with
            return found.verdict
        trail = _Trail()
        start = len(self.hits)
        verdict = self._walk(table, trail)
        if trail.pure:
            walked = Walked(verdict, tuple(self.hits[start:]), self.packet,
                            self.reject_with if verdict == "REJECT" else None, tuple(trail.chains), tuple(trail.rules))
            remember(table, key, walked)
        return verdict

    def _walk(self, table: Table, trail: _Trail | None) -> str | None:
        base = table.chains.get(self.hook)
        if base is None:
            return None
        stack: list[tuple[Chain, int]] = []
        chain, i = base, 0
        self.at_table = table
        self.at_chain = chain
        rules = chain.rules  # read once per chain entered (a deferred chain builds it on first read)
        if trail is not None:
            trail.chains.append(chain_seen(self.hook, chain, rules))
        dispatch = self.dispatch_for(chain, rules)
        jumps = 0  # only jumps and gotos can make a walk go round for ever
        while True:
            if i >= len(rules):
                if stack:
                    chain, i = stack.pop()
                    self.at_chain = chain
                    rules = chain.rules
                    dispatch = self.dispatch_for(chain, rules)
                    continue
                return base.policy
            if dispatch is not None and (run := dispatch.run_of[i]) is not None:
                j = run.next_candidate(self.packet, i)
                if j is None:
                    i = run.end
                    continue
                i = j
                rule = rules[i]
                # the table's key is the whole of the rule's matches: the very rule it was
                # built from matches (one replaced in place since is tested as usual)
                keyed = rule is dispatch.rules_at_compile[i]
            else:
                rule = rules[i]
                keyed = False
            if trail is not None:
                if pure_rule(rule):
                    trail.rules.append((rules, i, rule))
                else:
                    trail.pure = False
                    trail = None
            i += 1
            self.at_rule = i
            if not keyed:
                matched = True
                for m in rule.matches:
                    if not m.test(self):  # type: ignore[arg-type]
                        matched = False
                        break
                if not matched:
                    continue
            target = rule.target
            outcome = self.apply(table, chain, i, rule, target)
            if outcome is None:
                continue
            if outcome == "RETURN":
                if stack:
                    chain, i = stack.pop()
                    self.at_chain = chain
                    rules = chain.rules
                    dispatch = self.dispatch_for(chain, rules)
                    continue
                return base.policy
            if isinstance(target, _JUMPS):
                jumps += 1
                if jumps > MAX_STEPS:
                    raise IptablesSyntaxError(f"table {table.name}: the walk from {self.hook} does not end (a chain loop)", line=0)
                if isinstance(target, t.Jump):
                    stack.append((chain, i))
                if target.chain not in table.chains:
                    raise IptablesSyntaxError(f"table {table.name}: {chain.name} rule {i} jumps to undefined chain "
                                              f"{target.chain}", line=rule.source_line or 0)
                chain, i = table.chains[target.chain], 0
                self.at_chain = chain
                rules = chain.rules
                if trail is not None:
                    trail.chains.append(chain_seen(target.chain, chain, rules))
                dispatch = self.dispatch_for(chain, rules)
                continue
            return outcome

    def dispatch_for(self, chain: Chain, rules: list[Rule]) -> CompiledChain | None:
        """The chain's dispatch tables when it has any and they are to be used."""
        if self.compiled is False or len(rules) < (MIN_RUN if self.compiled else COMPILE_THRESHOLD):
            return None
        found = compiled_chain(chain)
        return found if found.runs else None

    def hit(self, table: Table, chain: Chain, number: int, rule: Rule, verdict: str | None) -> None:
        # a RuleHit is a value of (rule, table, chain name, number, verdict, role, origin): the
        # one made the last time this rule hit with all of these equal is given again
        found = _HITS.get(id(rule))
        if found is not None and found[0] is rule:
            made = found[1]
            if (made.number == number and made.verdict == verdict and made.chain == chain.name
                    and made.table == table.name and made.role is chain.role and made.origin == chain.origin):
                self.hits.append(made)
                return
        text, comment = _rule_text(chain.name, rule)
        made = RuleHit(table.name, chain.name, number, text, verdict, comment, chain.role, chain.origin)
        if len(_HITS) >= _RULE_TEXT_MAX:
            _HITS.clear()
        _HITS[id(rule)] = (rule, made)
        self.hits.append(made)

    def apply(self, table: Table, chain: Chain, number: int, rule: Rule, target: t.Target | None) -> str | None:
        """Do what the rule's target does; return a verdict, RETURN, "JUMP", or None to go on."""
        if target is None:
            self.hit(table, chain, number, rule, None)
            return None
        if isinstance(target, t.Verdict_):
            self.hit(table, chain, number, rule, target.verdict)
            return target.verdict
        if isinstance(target, _JUMPS):
            self.hit(table, chain, number, rule, target.chain)
            return "JUMP"
        if isinstance(target, t.Reject):
            self.hit(table, chain, number, rule, "REJECT")
            self.reject_with = target.reject_with
            return "REJECT"
        self.hit(table, chain, number, rule, target.label)
        if isinstance(target, t.MarkTarget):
            self.packet = self.packet.with_(mark=target.apply(self.packet.mark))
            return None
        if isinstance(target, t.ConnMarkTarget):
            self.connmark(target)
            return None
        if isinstance(target, t.Log | t.Nflog | t.Checksum):
            return None  # logging and checksum filling change nothing the rules see
        if isinstance(target, t.Notrack):
            self.untracked = True
            self.state.untracked.add((self.namespace, packet_tuple(self.packet)))
            return None
        return self.nat_target(chain, target)

    def connmark(self, target: t.ConnMarkTarget) -> None:
        entry = self.ct.entry
        if entry is None:
            return
        if target.mode == "set":
            entry.ctmark = ((entry.ctmark & ~target.mask) ^ target.value) & 0xFFFFFFFF
        elif target.mode == "save":
            entry.ctmark = ((entry.ctmark & ~target.ctmask) ^ (self.packet.mark & target.nfmask)) & 0xFFFFFFFF
        else:
            mark = ((self.packet.mark & ~target.nfmask) ^ (entry.ctmark & target.ctmask)) & 0xFFFFFFFF
            self.packet = self.packet.with_(mark=mark)

    def source_port(self, ports: PortRange | None, randomize: bool) -> int | None:
        """The source port SNAT/MASQUERADE gives (``get_unique_tuple``): without ``--random``
        or ``--random-fully`` the original one when it is in ``ports`` (any port when none
        is given), else the range's first; with either flag one drawn from the range, or without a range from
        the original port's class (1–511, 600–1023, 1024–65535) as
        ``nf_nat_l4proto_unique_tuple`` does. The draw is a hash of the seed and the
        packet's tuple: deterministic per seed, as the rest of the engine."""
        sport = self.packet.sport
        if sport is None:
            return None
        if not randomize:
            if ports is None or ports.lo <= sport <= ports.hi:
                return sport
            return ports.lo  # the first port of the range (the kernel's rover starts there)
        if ports is not None:
            lo, size = ports.lo, ports.hi - ports.lo + 1
        elif sport < 512:
            lo, size = 1, 511
        elif sport < 1024:
            lo, size = 600, 424
        else:
            lo, size = 1024, 65535 - 1024 + 1
        digest = hashlib.blake2b(repr((self.state.seed, packet_tuple(self.packet))).encode(), digest_size=8).digest()
        return lo + int.from_bytes(digest, "big") % size

    def nat_target(self, chain: Chain, target: t.Target) -> str:
        pkt = self.packet
        if isinstance(target, t.Dnat):
            ip: IPAddress = target.to.lo or pkt.dst
            port = target.to.ports.lo if target.to.ports else pkt.dport
            self.translate("DNAT", dst=(ip, port), chain=chain.name)
        if isinstance(target, t.Snat):
            ip = target.to.lo or pkt.src
            port = self.source_port(target.to.ports, target.random or target.random_fully)
            self.translate("SNAT", src=(ip, port), chain=chain.name)
        addr: IPAddress | None
        if isinstance(target, t.Masquerade):
            addr = self.ctx.iface_address(self.out_iface, pkt.version) if self.out_iface else None
            if addr is None:
                return "DROP"  # the kernel drops what it cannot masquerade
            port = self.source_port(target.to_ports, target.random or target.random_fully)
            self.translate("MASQUERADE", src=(addr, port), chain=chain.name)
        elif isinstance(target, t.Redirect):
            if self.hook == "OUTPUT":
                addr = ipaddress.ip_address("127.0.0.1" if pkt.version == 4 else "::1")
            else:
                addr = self.ctx.iface_address(self.in_iface, pkt.version) if self.in_iface else None
            if addr is None:
                return "DROP"
            port = target.to_ports.lo if target.to_ports else pkt.dport
            self.translate("REDIRECT", dst=(addr, port), chain=chain.name)
        return "ACCEPT"

    reject_with: str | None = None
