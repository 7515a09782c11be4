"""Remembered walks give exactly what walking again gives: over generated rulesets and
packets, a run that walks each (pure) table once and then answers from the memo produces the
same verdicts, rules hit, NAT, packets and state as the plain rule-by-rule walk; and a rule,
chain or policy written after a remembered walk is seen by the next one."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from overlaynet.dataplane.netfilter import NetfilterState, Ruleset, parse_rule, parse_save, run_hook
from overlaynet.dataplane.netfilter.context import HookOutcome
from overlaynet.dataplane.netfilter.memo import Walked, pure_rule
from overlaynet.dataplane.netfilter.rules import Chain, Rule

from .conftest import make_ctx, tcp
from .strategies import CHAINS, rules

HOOKS = ("PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING")


def build(generated: list[Rule], table: str) -> Ruleset:
    """The rules spread over the table's built-in chains and three user chains, jumps only
    forward (no loops), as test_fuzz builds them."""
    ruleset = Ruleset()
    for name in CHAINS:
        ruleset.ensure_chain(table, name)
    builtins = [c for c in ruleset.table(table).chains if c not in CHAINS]
    for i, rule in enumerate(generated):
        chain = CHAINS[i % len(CHAINS)] if i % 3 == 1 else builtins[i % len(builtins)]
        target = getattr(rule.target, "chain", None)
        if chain in CHAINS and target is not None and CHAINS.index(target) <= CHAINS.index(chain):
            chain = builtins[0]
        ruleset.append(table, chain, rule)
    return ruleset


def outcome(out: HookOutcome) -> tuple[object, ...]:
    return (out.verdict, out.packet, out.probability, out.hits, out.nat, out.reject_with)


def state_of(state: NetfilterState) -> tuple[object, ...]:
    conntrack = sorted((repr(k), repr(e), d) for k, (e, d) in state.conntrack.items())
    return (conntrack, sorted(map(repr, state.nth_counters.items())), repr(sorted(state.recent.items())),
            sorted(map(repr, state.untracked)))


@settings(max_examples=150, deadline=None)
@given(st.lists(rules(), max_size=10), st.sampled_from(["mangle", "nat", "filter", "raw"]),
       st.lists(st.tuples(st.sampled_from(HOOKS), st.sampled_from([80, 443]), st.booleans(),
                          st.sampled_from(["10.1.2.3", "192.168.0.11"]), st.sampled_from([0, 1, 0x4000])),
                min_size=1, max_size=6),
       st.integers(0, 2**16))
def test_remembered_walks_equal_the_walk(generated: list[Rule], table: str,
                                         packets: list[tuple[str, int, bool, str, int]], seed: int) -> None:
    ruleset = build(generated, table)
    results = []
    for compiled in (False, None):  # None: the trace path (dispatch tables and the memo)
        seen = []
        for round_ in range(2):  # the second round finds every pure walk of the first remembered
            for k, (hook, port, reply, src, mark) in enumerate(packets):
                # a fresh state per packet, as each trace has; other random draws each round
                state = NetfilterState(seed=seed + 1000 * round_ + k)
                packet = tcp(src, "10.9.8.7", port, mark=mark).with_(reply=reply)
                ctx = make_ctx(hook, state, in_iface=None if hook in ("OUTPUT", "POSTROUTING") else "eth0",
                               out_iface=None if hook in ("PREROUTING", "INPUT") else "eth0")
                outs = [outcome(o) for o in run_hook(ruleset, packet, ctx, compiled=compiled)]
                seen.append((outs, state_of(state)))
        results.append(seen)
    assert results[0] == results[1]


def filter_ruleset() -> Ruleset:
    return parse_save("\n".join([
        "*filter", ":INPUT ACCEPT [0:0]", ":FORWARD ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]", ":KUBE-FORWARD - [0:0]",
        "-A FORWARD -m comment --comment \"kubernetes forwarding rules\" -j KUBE-FORWARD",
        "-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP",
        "-A KUBE-FORWARD -m mark --mark 0x4000/0x4000 -j ACCEPT",
        "-A KUBE-FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
        "COMMIT", ""]))


def forward(ruleset: Ruleset, dport: int = 80, mark: int = 0) -> list[tuple[str, int, str | None]]:
    [out] = run_hook(ruleset, tcp("10.1.2.3", "10.9.8.7", dport, mark=mark),
                     make_ctx("FORWARD", NetfilterState(), out_iface="eth1"))
    return [(h.chain, h.number, h.verdict) for h in out.hits] + [("verdict", 0, out.verdict)]


def test_a_pure_walk_is_remembered_and_given_again() -> None:
    ruleset = filter_ruleset()
    table = ruleset.tables["filter"]
    first = forward(ruleset, mark=0x4000)
    assert first == [("FORWARD", 1, "KUBE-FORWARD"), ("KUBE-FORWARD", 2, "ACCEPT"), ("verdict", 0, "ACCEPT")]
    [walked] = table.memo.values()
    assert isinstance(walked, Walked) and len(walked.rules) == 3
    assert forward(ruleset, mark=0x4000) == first and len(table.memo) == 1
    # another mark is another packet: walked, remembered beside the first
    assert forward(ruleset) == [("FORWARD", 1, "KUBE-FORWARD"), ("verdict", 0, "ACCEPT")] and len(table.memo) == 2


def test_writes_after_a_remembered_walk_are_seen() -> None:
    ruleset = filter_ruleset()
    chains = ruleset.tables["filter"].chains
    forward(ruleset, mark=0x4000)
    drop = parse_rule(["-p", "tcp", "-m", "tcp", "--dport", "80", "-j", "DROP"])
    ruleset.insert("filter", "KUBE-FORWARD", drop)  # a rule inserted
    assert forward(ruleset, mark=0x4000)[-2:] == [("KUBE-FORWARD", 1, "DROP"), ("verdict", 0, "DROP")]
    chains["KUBE-FORWARD"].rules[0] = parse_rule(["-p", "tcp", "-m", "tcp", "--dport", "81", "-j", "DROP"])  # replaced in place
    assert forward(ruleset, mark=0x4000)[-1] == ("verdict", 0, "ACCEPT")
    del chains["KUBE-FORWARD"].rules[0]
    chains["FORWARD"].policy = "DROP"
    assert forward(ruleset)[-1] == ("verdict", 0, "DROP")  # the policy changed
    chains["KUBE-FORWARD"] = Chain("KUBE-FORWARD", rules=[parse_rule(["-j", "REJECT"])])  # the chain replaced
    assert forward(ruleset)[-2:] == [("KUBE-FORWARD", 1, "REJECT"), ("verdict", 0, "REJECT")]


def test_stateful_rules_are_never_remembered() -> None:
    for words in (["-m", "statistic", "--mode", "random", "--probability", "0.5", "-j", "ACCEPT"],
                  ["-m", "recent", "--set", "--name", "x", "--mask", "255.255.255.255", "--rsource"],
                  ["-m", "connmark", "--mark", "0x1", "-j", "ACCEPT"],
                  ["-j", "CONNMARK", "--set-xmark", "0x1/0xffffffff"],
                  ["-p", "tcp", "-j", "DNAT", "--to-destination", "10.0.0.1:80"],
                  ["-m", "conntrack", "--ctorigdst", "10.0.0.1", "-j", "ACCEPT"]):
        assert not pure_rule(parse_rule(words)), words
    for words in (["-p", "tcp", "-m", "tcp", "--dport", "80", "-j", "ACCEPT"],
                  ["-m", "conntrack", "--ctstate", "INVALID", "-j", "DROP"],
                  ["-j", "MARK", "--set-xmark", "0x4000/0x4000"], ["-j", "RETURN"]):
        assert pure_rule(parse_rule(words)), words


def test_nat_walks_are_walked_every_time() -> None:
    """A DNAT or MASQUERADE changes conntrack: such walks are not remembered, and every
    packet gets its translation and its conntrack binding."""
    ruleset = parse_save("\n".join([
        "*nat", ":PREROUTING ACCEPT [0:0]", ":POSTROUTING ACCEPT [0:0]", ":SVC - [0:0]",
        "-A PREROUTING -d 172.30.0.1/32 -p tcp -m tcp --dport 80 -j SVC",
        "-A SVC -p tcp -j DNAT --to-destination 10.0.0.7:8080",
        "-A POSTROUTING -o eth1 -j MASQUERADE",
        "COMMIT", ""]))
    table = ruleset.tables["nat"]
    for _ in range(2):
        state = NetfilterState()
        [out] = run_hook(ruleset, tcp("10.1.2.3", "172.30.0.1", 80), make_ctx("PREROUTING", state))
        assert [(n.kind, str(n.after[0]), n.after[1]) for n in out.nat] == [("DNAT", "10.0.0.7", 8080)]
        [post] = run_hook(ruleset, out.packet, make_ctx("POSTROUTING", state, in_iface=None, out_iface="eth1"))
        assert [n.kind for n in post.nat] == ["MASQUERADE"] and post.packet.src == make_ctx("POSTROUTING", state).iface_address("eth1", 4)
        assert len(state.conntrack) >= 4  # the original, DNATed and masqueraded tuples of both directions
    assert not table.memo



def test_the_memos_are_bounded_together(monkeypatch: pytest.MonkeyPatch) -> None:
    """All tables' remembered walks count against one budget; when it is spent every table
    forgets, and walks that visit no rule are not kept at all."""
    from overlaynet.dataplane.netfilter import memo

    memo.forget_all()
    monkeypatch.setattr(memo, "MEMO_MAX", 3)
    a, b = filter_ruleset(), filter_ruleset()
    forward(a, dport=1)
    forward(a, dport=2)
    forward(b, dport=3)
    assert (len(a.tables["filter"].memo), len(b.tables["filter"].memo)) == (2, 1)
    forward(b, dport=4)  # the fourth: everything before is forgotten first
    assert (len(a.tables["filter"].memo), len(b.tables["filter"].memo)) == (0, 1)
    [out] = run_hook(a, tcp("10.1.2.3", "10.9.8.7", 80), make_ctx("INPUT", NetfilterState()))  # INPUT is empty
    assert out.verdict == "ACCEPT" and not a.tables["filter"].memo
