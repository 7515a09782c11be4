"""The iptables-save writer: Ruleset → text in iptables-save's canonical order and format.

Tables in ``TABLE_ORDER``, built-in chains then user chains by name, each rule as
``-A CHAIN <-s -d -i -o -p -f> <-m ext opts>… -j TARGET opts``. ``parse.py`` reads it back.
"""

from __future__ import annotations

from overlaynet.dataplane.netfilter.matches import match_ext
from overlaynet.dataplane.netfilter.rules import Rule, Ruleset, Table


def render_rule(chain: str, rule: Rule, *, counters: bool = False) -> str:
    """One rule as iptables-save prints it (``-A CHAIN …``)."""
    parts = [f"-A {chain}"]
    if counters:
        packets, nbytes = rule.counters or (0, 0)
        parts.insert(0, f"[{packets}:{nbytes}]")
    for match in rule.matches:
        name = match_ext(match)
        text = match.render()
        if name is None:
            parts.append(text)
        else:
            parts.append(f"-m {name}" + (f" {text}" if text else ""))
    if rule.target is not None:
        parts.append(rule.target.render())
    return " ".join(parts)


def render_table(table: Table, *, counters: bool = False) -> str:
    lines = [f"*{table.name}"]
    chains = table.ordered_chains()
    for chain in chains:
        counts = f"[{chain.packets}:{chain.bytes}]" if counters else "[0:0]"
        lines.append(f":{chain.name} {chain.policy or '-'} {counts}")
    for chain in chains:
        lines.extend(render_rule(chain.name, rule, counters=counters) for rule in chain.rules)
    lines.append("COMMIT")
    return "\n".join(lines) + "\n"


def render_save(ruleset: Ruleset, *, counters: bool = False, tables: tuple[str, ...] | None = None) -> str:
    """The whole ruleset (or only ``tables``) as iptables-save text, ready for iptables-restore."""
    return "".join(render_table(t, counters=counters) for t in ruleset.ordered_tables()
                   if tables is None or t.name in tables)
