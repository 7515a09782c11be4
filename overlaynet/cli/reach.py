"""CLI: ``reach`` (all-pairs pod reachability, policy and routing together) and ``diff``
(pod pairs whose reachability a change alters)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from overlaynet.cli._common import echo_json, load_network, plain_console

if TYPE_CHECKING:
    from overlaynet.analysis.reach import ReachMatrix, ReachQuery
    from overlaynet.network import Network


def _matrix(files: tuple[str, ...], query: ReachQuery, routing: bool) -> tuple[ReachMatrix, Network]:
    network = load_network(files)
    driver = network.driver
    if not driver.enforces_policy and (network.cluster.network_policies or network.cluster.extra.get("calico")):
        click.echo(
            f"warning: the {driver.name} driver does not enforce network policy: the matrix ignores "
            f"{len(network.cluster.network_policies)} NetworkPolicy object(s)",
            err=True,
        )
    matrix = network.reach(port=query.port, proto=query.proto, namespaces=query.namespaces, routing=routing)
    return matrix, network


@click.command(
    epilog="""
\b
Examples:
  overlaynet reach topologies/calico-policy.yaml --port 8080
  overlaynet reach topologies/calico-policy.yaml --namespace prod --json
  overlaynet reach topologies/calico-policy.yaml --explain qa/frontend prod/api --port 8080
"""
)
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--port", type=click.IntRange(1, 65535), help="Destination port (default: any port).")
@click.option("--proto", type=click.Choice(["tcp", "udp", "sctp"]), default="tcp", show_default=True)
@click.option("--namespace", "namespaces", multiple=True, help="Only pods of these namespaces (repeatable).")
@click.option("--no-routing", is_flag=True, help="Policy only: skip the per-node-pair routing traces.")
@click.option("--explain", nargs=2, metavar="SRC DST", help="Trace one pair and say why.")
@click.option("--json", "as_json", is_flag=True, help='Print {"pods": [...], "allowed": [[...]]}.')
def reach(
    files: tuple[str, ...], port: int | None, proto: str, namespaces: tuple[str, ...], no_routing: bool,
    explain: tuple[str, str] | None, as_json: bool,
) -> None:
    """All-pairs pod-to-pod reachability (NetworkPolicy and routing), by equivalence classes."""
    from overlaynet.analysis.reach import ReachQuery

    if explain:
        _explain(files, explain, port or 80, proto, as_json)
        return
    query = ReachQuery(port=port, proto=proto.upper(), namespaces=namespaces)
    m, _ = _matrix(files, query, routing=not no_routing)
    if as_json:
        echo_json(m.to_dict())
        return
    from rich.table import Table

    keys = [p.key for p in m.pods]
    table = Table(title=f"reachability ({proto}{'/' + str(port) if port else ''}): row → column; "
                        f"{len(keys)} pods in {m.classes} classes")
    table.add_column("from \\ to")
    for i in range(len(keys)):
        table.add_column(str(i + 1), justify="center")
    for i, k in enumerate(keys):
        table.add_row(f"{i + 1} {k}", *("✓" if m.allowed[i, j] else "·" for j in range(len(keys))))
    plain_console(width=max(100, 30 + 4 * len(keys))).print(table)


def _explain(files: tuple[str, ...], pair: tuple[str, str], port: int, proto: str, as_json: bool) -> None:
    from overlaynet.trace.render import render_result

    network = load_network(files)
    report = network.trace(pair[0], pair[1], port=port, proto=proto)  # type: ignore[arg-type]
    if as_json:
        echo_json(report.to_dict())
    else:
        click.echo(render_result(report.forward), nl=False)
    sys.exit(0 if report.success else 1)


@click.command(
    epilog="""
\b
Examples:
  overlaynet diff topologies/calico-native.yaml topologies/calico-vxlan.yaml --port 8080
"""
)
@click.argument("file_a", type=click.Path(exists=True))
@click.argument("file_b", type=click.Path(exists=True))
@click.option("--port", type=click.IntRange(1, 65535), help="Destination port (default: any port).")
@click.option("--proto", type=click.Choice(["tcp", "udp", "sctp"]), default="tcp", show_default=True)
@click.option("--no-routing", is_flag=True, help="Policy only.")
@click.option("--json", "as_json", is_flag=True)
def diff(file_a: str, file_b: str, port: int | None, proto: str, no_routing: bool, as_json: bool) -> None:
    """Pod pairs whose reachability differs between two topologies (a what-if for a change).

    Exit 0 when nothing changes, 1 when some pair changes."""
    from overlaynet.analysis.reach import ReachQuery
    from overlaynet.analysis.reach import diff as reach_diff

    query = ReachQuery(port=port, proto=proto.upper())
    a, _ = _matrix((file_a,), query, routing=not no_routing)
    b, _ = _matrix((file_b,), query, routing=not no_routing)
    changes = reach_diff(a, b)
    if as_json:
        echo_json([{"src": c.src, "dst": c.dst, "before": c.before, "after": c.after} for c in changes])
    else:
        word = {True: "allowed", False: "blocked", None: "absent"}
        for c in changes:
            click.echo(f"{c.src} → {c.dst}: {word[c.before]} → {word[c.after]}")
        click.echo(f"{len(changes)} pair(s) change")
    sys.exit(1 if changes else 0)
