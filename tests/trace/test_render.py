"""The text rendering of a trace: one row per step, one per hook's netfilter traversal, and
``brief``'s fold of that traversal to the jumps that decided."""

from __future__ import annotations

from overlaynet.trace.render import _decision
from overlaynet.trace.steps import NetfilterStep


def hit(table: str, chain: str, rule: int, verdict: str | None) -> NetfilterStep:
    return NetfilterStep("FORWARD", table, chain, rule, f"-A {chain} ...", verdict)


def test_brief_keeps_only_the_jumps_that_led_to_the_deciding_rule() -> None:
    hits = [
        hit("filter", "FORWARD", 1, "KUBE-PROXY-FIREWALL"),  # in and back out: not on the path
        hit("filter", "FORWARD", 2, "KUBE-FORWARD"),
        hit("filter", "KUBE-FORWARD", 1, "RETURN"),
        hit("filter", "FORWARD", 5, "FLANNEL-FWD"),
        hit("filter", "FLANNEL-FWD", 1, "ACCEPT"),
    ]
    assert _decision(hits) == "filter/FORWARD #5 → FLANNEL-FWD #1: ACCEPT (5 rules matched)"


def test_brief_names_each_table_that_decided_and_says_when_none_did() -> None:
    nat = [hit("nat", "PREROUTING", 1, "KUBE-SERVICES"), hit("nat", "KUBE-SERVICES", 2, "KUBE-SVC-X"),
           hit("nat", "KUBE-SVC-X", 1, "KUBE-SEP-Y"), hit("nat", "KUBE-SEP-Y", 1, "KUBE-MARK-MASQ"),
           hit("nat", "KUBE-MARK-MASQ", 1, "MARK"), hit("nat", "KUBE-SEP-Y", 2, "DNAT")]
    filt = [hit("filter", "FORWARD", 1, "cali-FORWARD"), hit("filter", "cali-FORWARD", 3, "DROP")]
    assert _decision(nat + filt) == (
        "nat/PREROUTING #1 → KUBE-SERVICES #2 → KUBE-SVC-X #1 → KUBE-SEP-Y #2: DNAT; "
        "filter/FORWARD #1 → cali-FORWARD #3: DROP (8 rules matched)"
    )
    assert _decision([hit("nat", "POSTROUTING", 1, "KUBE-POSTROUTING"), hit("nat", "KUBE-POSTROUTING", 1, "RETURN")]) == (
        "no rule decided, the chain policy applies (2 rules matched)"
    )


def test_brief_trace_has_one_short_netfilter_row_per_hook() -> None:
    from overlaynet.cli.trace import demo_request, demo_topology
    from overlaynet.network import assemble
    from overlaynet.network.request import TraceRequest, run
    from overlaynet.topology import load
    from overlaynet.trace.render import render_trace

    net = assemble(load([demo_topology()]).cluster)
    src = demo_request(net).source
    t = run(net, TraceRequest(src, "default/web")).forward.trace
    full, brief = render_trace(t, width=400), render_trace(t, width=400, brief=True)
    rows = [line for line in brief.splitlines() if "│ netfilter │" in line]
    assert len(rows) == len([line for line in full.splitlines() if "│ netfilter │" in line])
    dnat = next(r for r in rows if "PREROUTING" in r and "DNAT" in r)
    assert "nat/PREROUTING #1 → KUBE-SERVICES #" in dnat and "KUBE-SEP-" in dnat
    assert "KUBE-PROXY-FIREWALL" not in brief and "KUBE-PROXY-FIREWALL" in full
    assert len(brief) < len(full)
