"""Text rendering of traces: a rich table, one row per step, grouped by hop (host /
namespace), then the disposition line with its reason. Returns text; the CLI prints it."""

from __future__ import annotations

import io

from overlaynet.dataplane.netfilter import ChainRole
from overlaynet.trace.model import Trace, TraceResult, packet_dict
from overlaynet.trace.steps import NetfilterStep, Step

__all__ = ["render_result", "render_trace"]


def _packet_line(t: Trace) -> str:
    p = packet_dict(t.packet)
    ports = f" {p['sport']} → {p['dport']}" if p["dport"] is not None else ""
    df = " DF" if p["df"] else ""
    return f"{p['proto']} {p['src']} → {p['dst']}{ports}, {p['size']} bytes{df}, TTL {p['ttl']}"


def _rows(steps: tuple[Step, ...], brief: bool = False) -> list[tuple[str, str]]:
    """One row per step, except that consecutive netfilter rule hits of one hook share a
    row (``PREROUTING: nat/PREROUTING #1 → <dispatch chain>, ...``); ``brief`` folds that
    row to the path of jumps that decided (``_decision``). JSON keeps every hit."""
    rows: list[tuple[str, str]] = []
    run: list[NetfilterStep] = []

    def flush() -> None:
        if run:
            if brief:
                rows.append(("netfilter", f"{run[0].hook}: {_decision(run)}"))
            else:
                hits = ", ".join(f"{h.table}/{h.chain} #{h.rule} → {h.verdict or 'match'}" for h in run)
                rows.append(("netfilter", f"{run[0].hook}: {hits}"))
            run.clear()

    for step in steps:
        if isinstance(step, NetfilterStep) and (not run or run[0].hook == step.hook):
            run.append(step)
            continue
        flush()
        if isinstance(step, NetfilterStep):
            run.append(step)
        else:
            rows.append((step.kind, step.summary()))
    flush()
    return rows


#: Verdicts that end a table's traversal of a hook (every other one is a jump into a chain,
#: a RETURN, or a target that lets the packet go on, such as MARK or LOG).
_DECISIVE = frozenset({"ACCEPT", "DROP", "REJECT", "DNAT", "SNAT", "MASQUERADE", "REDIRECT", "QUEUE", "NFQUEUE"})


def _decision(hits: list[NetfilterStep]) -> str:
    """What one hook's rule hits come to, per table: the chain of jumps that led to the
    rule that decided (``filter/FORWARD #5 → FLANNEL-FWD #1: ACCEPT``), leaving out chains
    the packet went into and came back from; the hook's own policy when no rule decided."""
    tables: dict[str, list[NetfilterStep]] = {}
    for h in hits:
        tables.setdefault(h.table, []).append(h)
    said: list[str] = []
    for table, seen in tables.items():
        last = next((i for i in range(len(seen) - 1, -1, -1) if (seen[i].verdict or "") in _DECISIVE), None)
        if last is None:
            continue
        path = [seen[last]]
        for h in reversed(seen[:last]):  # the jump into each chain on the way, innermost first
            if h.verdict == path[0].chain:
                path.insert(0, h)
        said.append(f"{table}/" + " → ".join(f"{h.chain} #{h.rule}" for h in path) + f": {seen[last].verdict}")
    count = f"{len(hits)} rule{'s' if len(hits) != 1 else ''} matched"
    if not said:
        return f"no rule decided, the chain policy applies ({count})"
    return f"{'; '.join(said)} ({count})"


def render_trace(t: Trace, *, title: str = "", width: int = 140, color: bool = False, brief: bool = False) -> str:
    """The trace as a table; ``brief``: each hook's netfilter traversal on one short line."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title or _packet_line(t), title_justify="left", show_lines=False, expand=False)
    table.add_column("#", justify="right", style="dim")
    table.add_column("host / namespace", no_wrap=True)
    table.add_column("step", no_wrap=True)
    table.add_column("detail", overflow="fold")
    n = 0
    for i, hop in enumerate(t.hops):
        where = hop.host if hop.namespace == "root" else f"{hop.host} / {hop.namespace}"
        if i:
            table.add_section()
        for j, (kind, text) in enumerate(_rows(hop.steps, brief)):
            n += 1
            table.add_row(str(n), where if j == 0 else "", kind, text)
    buf = io.StringIO()
    console = Console(
        file=buf,
        width=width,
        color_system="standard" if color else None,
        force_terminal=color,
        markup=False,
        emoji=False,
        highlight=False,
    )
    console.print(table)
    for w in t.warnings:
        console.print(f"warning: {w}")
    prob = f" (probability {t.probability})" if t.probability != 1 else ""
    console.print(f"{t.disposition.value}{prob}: {t.reason}", highlight=False)
    return buf.getvalue()


def render_result(result: TraceResult, *, label: str = "", width: int = 140, color: bool = False, brief: bool = False) -> str:
    parts = []
    many = len(result.traces) > 1
    for i, t in enumerate(result.traces, 1):
        title = _packet_line(t)
        if label:
            title = f"{label}: {title}"
        if many:
            title = f"branch {i}/{len(result.traces)} (p={t.probability}) {title}"
        parts.append(render_trace(t, title=title, width=width, color=color, brief=brief))
    if many:
        parts.append(_outcomes(result))
    return "\n".join(parts)


#: The chains that tell one branch from another: a Service's choice and its endpoint.
_BRANCH_ROLES = frozenset({ChainRole.SERVICE, ChainRole.SERVICE_EXTERNAL, ChainRole.SERVICE_FIREWALL, ChainRole.ENDPOINT})


def _outcomes(result: TraceResult) -> str:
    """One line per branch: probability, disposition, where it ended, the Service and
    endpoint chains it took (by the role their agent gave them)."""
    lines = [f"{len(result.traces)} outcomes:"]
    for t in result.traces:
        chains: list[str] = []
        for step in t.steps(NetfilterStep):
            if step.role in _BRANCH_ROLES and step.chain not in chains:
                chains.append(step.chain)
        dest = t.final_packet.dst if t.final_packet is not None else "-"
        via = f" via {' → '.join(chains)}" if chains else ""
        lines.append(f"  {str(t.probability):>6}  {t.disposition.value:<12} {dest}{via}: {t.reason}")
    return "\n".join(lines) + "\n"
