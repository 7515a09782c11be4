"""Bad input never escapes as anything but IptablesSyntaxError (no KeyError, IndexError…),
and any ruleset evaluates, its all-branches probabilities summing to exactly 1."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from overlaynet.dataplane.netfilter import NetfilterState, Ruleset, parse_save, run_hook
from overlaynet.dataplane.netfilter.rules import Rule
from overlaynet.errors import IptablesSyntaxError

from .conftest import make_ctx, tcp
from .strategies import CHAINS, rules

WORDS = ["-A", "-I", "-N", "-X", "-F", "-P", "INPUT", "X", "!", "-s", "-d", "-i", "-o", "-p", "-f", "-m", "-j", "-g",
         "-c", "tcp", "udp", "icmp", "all", "1", "0", "99999", "-1", "10.0.0.1", "10.0.0.0/8", "fd00::1", "eth+",
         "--dport", "--sport", "1:2", "2:1", "--syn", "--tcp-flags", "SYN", "ALL", "comment", "--comment", '"a b"',
         "'x'", "mark", "--mark", "0x10/0x10", "conntrack", "--ctstate", "NEW,BOGUS", "statistic", "--mode",
         "random", "nth", "--probability", "0.5", "2", "--every", "--packet", "recent", "--set", "--rcheck",
         "--seconds", "--reap", "--name", "--mask", "set", "--match-set", "src,dst", "multiport", "--dports",
         "1,2,3", "addrtype", "--dst-type", "LOCAL", "limit", "--limit", "5/min", "ACCEPT", "DROP", "REJECT",
         "--reject-with", "DNAT", "--to-destination", "1.2.3.4:80", "[fd00::1]:80", "SNAT", "--to-source",
         "MASQUERADE", "--to-ports", "1-2", "MARK", "--set-xmark", "--or-mark", "CONNMARK", "--save-mark",
         "LOG", "--log-prefix", "NOTRACK", "CT", "--notrack", "icmp6", "--icmpv6-type", "physdev",
         "--physdev-in", "[1:2]", '"', "\\", "inf", "nan", "x", ",", ":", "-", "0x", "1e-30", "300", "::"]
words = st.lists(st.sampled_from(WORDS), min_size=1, max_size=10).map(" ".join)
lines = st.one_of(words, words.map(lambda w: f"-A X {w}"), words.map(lambda w: f"-A X -p tcp -m {w}"))


@settings(max_examples=300, deadline=None)
@given(st.lists(lines, max_size=4), st.sampled_from(["filter", "nat", "raw", "mangle"]))
def test_parser_never_crashes(body: list[str], table: str) -> None:
    text = f"*{table}\n:X - [0:0]\n" + "\n".join(body) + "\nCOMMIT\n"
    try:
        parse_save(text)
    except IptablesSyntaxError as exc:
        assert exc.line >= 1 and str(exc).startswith("<input>:")


@settings(max_examples=100, deadline=None)
@given(st.lists(rules(), max_size=8), st.sampled_from(["PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"]),
       st.sampled_from(["mangle", "nat", "filter", "raw"]), st.integers(0, 65535), st.booleans())
def test_any_ruleset_evaluates_and_branch_probabilities_sum_to_one(
        generated: list[Rule], hook: str, table: str, port: int, reply: bool) -> None:
    ruleset = Ruleset()
    for name in CHAINS:
        ruleset.ensure_chain(table, name)
    builtin = {"raw": "PREROUTING", "mangle": hook, "nat": "PREROUTING", "filter": "INPUT"}[table]
    if builtin not in ruleset.table(table).chains:
        builtin = next(iter(ruleset.table(table).chains))
    for i, rule in enumerate(generated):
        chain = CHAINS[i % len(CHAINS)] if i % 2 else builtin
        target = getattr(rule.target, "chain", None)
        if chain in CHAINS and target is not None and CHAINS.index(target) <= CHAINS.index(chain):
            chain = builtin
        ruleset.append(table, chain, rule)
    packet = tcp("10.1.2.3", "10.9.8.7", port).with_(reply=reply)
    for all_branches in (True, False):
        outs = run_hook(ruleset, packet, make_ctx(hook, NetfilterState(seed=port), all_branches=all_branches,
                                                  out_iface="eth0"))
        assert outs and all(o.verdict in ("ACCEPT", "DROP", "REJECT") for o in outs)
        if all_branches:
            assert sum(o.probability for o in outs) == 1
