"""The compiled dispatch gives exactly the outcomes of the rule-by-rule walk."""

from __future__ import annotations

import ipaddress

from hypothesis import given, settings
from hypothesis import strategies as st

from overlaynet.dataplane.netfilter import NetfilterState, Ruleset, parse_save, run_hook
from overlaynet.dataplane.netfilter.compile import compile_chain, dispatch_key

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
