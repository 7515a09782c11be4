"""What the kernel (or iptables itself) refuses when a table is committed: targets used in
the wrong table or reached from a hook they cannot serve, and DROP in the nat table.

``parse.py`` calls ``check_table`` at COMMIT, so a file iptables-restore would reject does
not trace either.
"""

from __future__ import annotations

from overlaynet.dataplane.netfilter import targets as t
from overlaynet.dataplane.netfilter.rules import BUILTIN_CHAINS, Rule, Table

# target class → (tables it may be used in (None: any), hooks it may be reached from)
_ALLOWED: dict[type, tuple[frozenset[str] | None, frozenset[str]]] = {
    t.Dnat: (frozenset({"nat"}), frozenset({"PREROUTING", "OUTPUT"})),
    t.Redirect: (frozenset({"nat"}), frozenset({"PREROUTING", "OUTPUT"})),
    t.Snat: (frozenset({"nat"}), frozenset({"POSTROUTING", "INPUT"})),
    t.Masquerade: (frozenset({"nat"}), frozenset({"POSTROUTING"})),
    t.Reject: (None, frozenset({"INPUT", "FORWARD", "OUTPUT"})),
    t.Notrack: (frozenset({"raw"}), frozenset({"PREROUTING", "OUTPUT"})),
    t.Checksum: (frozenset({"mangle"}), frozenset({"PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"})),
}


def reaching_hooks(table: Table) -> dict[str, set[str]]:
    """For every chain, the built-in chains (hooks) from which it can be reached."""
    hooks: dict[str, set[str]] = {name: set() for name in table.chains}
    for builtin in BUILTIN_CHAINS[table.name]:
        if builtin not in table.chains:
            continue
        stack = [builtin]
        while stack:
            name = stack.pop()
            if builtin in hooks[name]:
                continue
            hooks[name].add(builtin)
            for rule in table.chains[name].rules:
                target = rule.target
                if isinstance(target, t.Jump | t.Goto) and target.chain in table.chains:
                    stack.append(target.chain)
    return hooks


def check_table(table: Table) -> tuple[Rule, str] | None:
    """The first rule the kernel would refuse, with the reason; None if all is well."""
    hooks = reaching_hooks(table)
    for chain in table.ordered_chains():
        for rule in chain.rules:
            target = rule.target
            if table.name == "nat" and isinstance(target, t.Verdict_) and target.verdict == "DROP":
                return rule, 'the "nat" table is not intended for filtering, the use of DROP is therefore inhibited'
            allowed = _ALLOWED.get(type(target))
            if allowed is None:
                continue
            tables, ok_hooks = allowed
            name = target.label if target is not None else ""
            if tables is not None and table.name not in tables:
                return rule, f"{name} is only valid in the {'/'.join(sorted(tables))} table, not in {table.name}"
            bad = hooks[chain.name] - ok_hooks
            if bad:
                return rule, (f"{name} in chain {chain.name} is reached from {', '.join(sorted(bad))}; "
                              f"it is only usable from {', '.join(sorted(ok_hooks))}")
    return None
