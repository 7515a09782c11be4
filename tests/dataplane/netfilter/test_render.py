"""parse ∘ render is the identity on rules (Hypothesis) and render is stable."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from overlaynet.dataplane.netfilter import Ruleset, parse_save, render_save
from overlaynet.dataplane.netfilter.rules import Rule

from .strategies import CHAINS, rules


@settings(max_examples=60, deadline=None)
@given(st.lists(rules(), max_size=6))
def test_parse_of_render_is_identity(generated: list[Rule]) -> None:
    ruleset = Ruleset()
    for name in CHAINS:
        ruleset.ensure_chain("mangle", name)
    for i, rule in enumerate(generated):
        chain = CHAINS[i % len(CHAINS)] if i % 2 else "PREROUTING"
        target = getattr(rule.target, "chain", None)
        if chain in CHAINS and target is not None and CHAINS.index(target) <= CHAINS.index(chain):
            chain = "PREROUTING"  # jumps only go down the list: no loops (the kernel refuses them)
        ruleset.append("mangle", chain, rule)
    text = render_save(ruleset)
    parsed = parse_save(text, strict=False)  # all targets in one table: only the format is tested
    assert parsed == ruleset
    assert render_save(parsed) == text



def test_base_chains_are_always_rendered() -> None:
    ruleset = Ruleset()
    ruleset.table("nat")
    assert render_save(ruleset) == (
        "*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\nCOMMIT\n")
