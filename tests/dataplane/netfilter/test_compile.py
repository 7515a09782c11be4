"""The compiled dispatch gives exactly the outcomes of the rule-by-rule walk."""

from __future__ import annotations

import ipaddress

from hypothesis import given, settings
from hypothesis import strategies as st

from overlaynet.dataplane.netfilter import NetfilterState, Ruleset, parse_rule, parse_save, run_hook
from overlaynet.dataplane.netfilter.compile import compile_chain, dispatch_key
from overlaynet.dataplane.netfilter.compile import compiled as compiled_chain

from .conftest import make_ctx, tcp

IPS = [f"172.30.0.{i}" for i in range(1, 7)]
PORTS = [80, 443, 53]


@st.composite
def service_chains(draw: st.DrawFn) -> str:
    lines = ["*nat", ":KUBE-SERVICES - [0:0]", ":SVC-A - [0:0]", ":SVC-B - [0:0]", ":NOOP - [0:0]",
             "-A PREROUTING -j KUBE-SERVICES",
             "-A SVC-A -p tcp -m statistic --mode random --probability 0.5000000000 -j DNAT --to-destination 10.0.0.1:80",
             "-A SVC-A -p tcp -j DNAT --to-destination 10.0.0.2:80",
             "-A SVC-B -p tcp -j DNAT --to-destination 10.0.0.3:8080",
             "-A NOOP -j MARK --or-mark 0x1"]
    for _ in range(draw(st.integers(0, 40))):
        ip, port = draw(st.sampled_from(IPS)), draw(st.sampled_from(PORTS))
        proto = draw(st.sampled_from(["tcp", "tcp", "udp"]))
        target = draw(st.sampled_from(["SVC-A", "SVC-B", "NOOP", "RETURN", "ACCEPT"]))
        kind = draw(st.integers(0, 9))
        if kind == 0:  # something the dispatch cannot take: breaks the run
            lines.append(f"-A KUBE-SERVICES -d {ip}/32 -p {proto} -m {proto} ! --dport {port} -j NOOP")
        elif kind == 1:
            lines.append("-A KUBE-SERVICES -m mark --mark 0x1 -j NOOP")
        else:
            lines.append(f'-A KUBE-SERVICES -d {ip}/32 -p {proto} -m comment --comment "svc {ip}" '
                         f"-m {proto} --dport {port} -j {target}")
    lines.append("-A KUBE-SERVICES -m addrtype --dst-type LOCAL -j SVC-B")
    return "\n".join(lines + ["COMMIT", ""])


@settings(max_examples=60, deadline=None)
@given(service_chains(), st.sampled_from(IPS + ["192.168.0.11", "8.8.8.8"]), st.sampled_from(PORTS + [22]))
def test_compiled_equals_walk(text: str, dst: str, port: int) -> None:
    ruleset = parse_save(text)
    chain = ruleset.tables["nat"].chains["KUBE-SERVICES"]
    results = []
    for compiled in (False, True):
        chain.compiled = None
        state = NetfilterState(seed=5)
        outs = run_hook(ruleset, tcp("10.180.0.9", dst, port), make_ctx("PREROUTING", state, all_branches=True),
                        compiled=compiled)
        results.append([(o.verdict, o.packet, o.probability, o.hits, o.nat) for o in outs])
    assert results[0] == results[1]


def test_long_runs_become_dispatch_tables() -> None:
    lines = ["*nat", ":KUBE-SERVICES - [0:0]", ":X - [0:0]"]
    lines += [f"-A KUBE-SERVICES -d 172.30.{i // 250}.{i % 250}/32 -p tcp -m tcp --dport 80 -j X" for i in range(1000)]
    lines += ["-A PREROUTING -j KUBE-SERVICES", "COMMIT", ""]
    ruleset: Ruleset = parse_save("\n".join(lines))
    chain = ruleset.tables["nat"].chains["KUBE-SERVICES"]
    assert dispatch_key(chain.rules[0]) == (ipaddress.ip_address("172.30.0.0"), 6, 80)
    compiled = compile_chain(chain)
    run = compiled.run_of[0]
    assert run is not None and run.start == 0 and run.end == 1000 and len(run.table) == 1000
    [out] = run_hook(ruleset, tcp("10.0.0.1", "172.30.3.249", 80), make_ctx("PREROUTING", NetfilterState()))
    assert [(h.chain, h.number) for h in out.hits] == [("PREROUTING", 1), ("KUBE-SERVICES", 1000)]


@settings(max_examples=60, deadline=None)
@given(service_chains(), st.sampled_from(IPS + ["192.168.0.11"]), st.sampled_from(PORTS),
       st.sampled_from(["tcp", "udp"]), st.integers(0, 2**16), st.sampled_from(["PREROUTING", "OUTPUT"]))
def test_compiled_equals_walk_sampled(text: str, dst: str, port: int, proto: str, seed: int, hook: str) -> None:
    """One sampled choice per statistic rule (the tracer's default), at both hooks that run
    the nat table's DNAT: the same verdict, rules hit, NAT, packet and conntrack entries."""
    ruleset = parse_save(text.replace("-A PREROUTING -j KUBE-SERVICES", "-A PREROUTING -j KUBE-SERVICES\n-A OUTPUT -j KUBE-SERVICES"))
    chain = ruleset.tables["nat"].chains["KUBE-SERVICES"]
    packet = tcp("10.180.0.9", dst, port).with_(proto=proto)
    results = []
    for compiled in (False, True):
        chain.compiled = None
        state = NetfilterState(seed=seed)
        [out] = run_hook(ruleset, packet, make_ctx(hook, state, in_iface=None if hook == "OUTPUT" else "eth0"),
                         compiled=compiled)
        results.append((out.verdict, out.packet, out.probability, out.hits, out.nat, sorted(map(repr, state.conntrack))))
    assert results[0] == results[1]


def test_a_rule_replaced_in_place_is_tested_not_trusted() -> None:
    """The dispatch table takes the rule it was built from without testing it again; a rule
    put in its place since (the same list, the same length) is tested like any other."""
    lines = ["*nat", ":KUBE-SERVICES - [0:0]", ":X - [0:0]", ":Y - [0:0]"]
    lines += [f"-A KUBE-SERVICES -d 172.30.0.{i}/32 -p tcp -m tcp --dport 80 -j X" for i in range(1, 21)]
    lines += ["-A PREROUTING -j KUBE-SERVICES", "COMMIT", ""]
    ruleset = parse_save("\n".join(lines))
    chain = ruleset.tables["nat"].chains["KUBE-SERVICES"]

    def hits(dst: str) -> list[tuple[str, int, str | None]]:
        [out] = run_hook(ruleset, tcp("10.0.0.1", dst, 80), make_ctx("PREROUTING", NetfilterState()))
        return [(h.chain, h.number, h.verdict) for h in out.hits]

    assert hits("172.30.0.5") == [("PREROUTING", 1, "KUBE-SERVICES"), ("KUBE-SERVICES", 5, "X")]
    assert compiled_chain(chain).runs == 1
    # same key, another target; then a rule that no longer matches the key it was filed under
    chain.rules[4] = parse_rule(["-d", "172.30.0.5/32", "-p", "tcp", "-m", "tcp", "--dport", "80", "-j", "Y"])
    assert hits("172.30.0.5") == [("PREROUTING", 1, "KUBE-SERVICES"), ("KUBE-SERVICES", 5, "Y")]
    chain.rules[4] = parse_rule(["-d", "172.30.0.5/32", "-p", "tcp", "-m", "tcp", "--dport", "81", "-j", "Y"])
    assert hits("172.30.0.5") == [("PREROUTING", 1, "KUBE-SERVICES")]


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2**53 - 1), st.integers(0, 10**6), st.integers(1, 10**6))
def test_sampled_choice_in_integers_is_the_fraction_comparison(k: int, num: int, den: int) -> None:
    """``decide`` compares random() = k / 2**53 with num / den in integers: the same answer
    as comparing the float with the Fraction."""
    from fractions import Fraction

    r = k / 2**53
    assert (int(r * float(1 << 53)) * den < num << 53) == (r < Fraction(num, den))
