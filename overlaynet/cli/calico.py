"""CLI: ``bgp`` — Calico's BGP sessions and each node's RIB."""

from __future__ import annotations

import click

from overlaynet.cli._common import echo_json, load_network, plain_console
from overlaynet.errors import TraceError


@click.command(
    epilog="""
\b
Examples:
  overlaynet bgp topologies/calico-mesh.yaml
  overlaynet bgp topologies/calico-rr.yaml --node node-2 --json
"""
)
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--node", help="Show only this node's sessions and RIB.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def bgp(files: tuple[str, ...], node: str | None, as_json: bool) -> None:
    """Calico's BGP: every session with its state, and each node's routes (as BIRD has them)."""
    network = load_network(files)
    driver = network.driver
    state = getattr(driver, "bgp", None)
    if state is None:
        raise TraceError(f"bgp: the topology uses the {driver.name} driver; only calico speaks BGP")
    names = [n.name for n in network.cluster.nodes]
    if node is not None and node not in names:
        raise TraceError(f"--node {node}: no such node; nodes: {', '.join(names)}")
    shown = [node] if node else names
    if as_json:
        data = state.to_dict()
        data["sessions"] = [s.to_dict() for s in state.sessions if node is None or node in (s.a, s.b)]
        data["ribs"] = {n: data["ribs"][n] for n in shown}
        echo_json(data)
        return
    from rich.table import Table

    console = plain_console(width=140)
    mode = "route reflectors " + ", ".join(state.reflectors) if state.reflectors else "full node-to-node mesh"
    sessions = [s for s in state.sessions if node is None or node in (s.a, s.b)]
    up = sum(1 for s in sessions if s.state == "Established")
    console.print(f"BGP sessions — AS {state.as_number}, {mode}: {len(sessions)} sessions, {up} established", soft_wrap=True)
    table = Table()
    for col in ("peer A", "peer B", "kind", "state", "why"):
        table.add_column(col)
    for s in sessions:
        table.add_row(s.a, s.b, s.kind, s.state, s.reason)
    console.print(table)
    cluster = network.cluster
    for n in shown:
        console.print(f"\n{n}: BIRD routing table (as birdc show route)", soft_wrap=True)
        rib = Table()
        for col in ("prefix", "via", "from", "protocol", "origin", "cluster list"):
            rib.add_column(col)
        for r in state.ribs[n]:
            if r.learned_from is None:
                rib.add_row(str(r.prefix), "blackhole", "-", "static (own block)", n, "")
                continue
            proto = next(
                (s.protocol_name(n, cluster) for s in state.sessions_of(n) if r.learned_from in (s.a, s.b)), "?"
            )
            rib.add_row(str(r.prefix), str(r.next_hop), r.learned_from, proto, r.originator, " ".join(r.cluster_list))
        console.print(rib)
