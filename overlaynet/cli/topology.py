"""``overlaynet validate | show | graph``: check topology files, print what they load to, draw them."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from overlaynet.cli._common import plain_console
from overlaynet.errors import OverlaynetError, TopologyError
from overlaynet.model import Cluster
from overlaynet.topology import load
from overlaynet.topology.export import draw_png, graph_data, summary, to_dot, to_json
from overlaynet.topology.system import is_system

_PATHS = click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=True, path_type=str))


@click.command("validate")
@_PATHS
@click.option("--each", is_flag=True, help="Judge each FILE (or directory) as a topology of its own.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list with one object per topology instead of text.")
def validate(files: tuple[str, ...], each: bool, as_json: bool) -> None:
    """Check topology files: every error with file:line:column, YAML path, expected and found.

    All FILES together make one topology, as for show and trace (a Service in one file
    selecting pods of another); --each judges every FILE alone. The network driver and its
    options are checked too. Errors and warnings go to stderr; "FILES: OK: N nodes, N pods,
    N services" to stdout. Exit 2 if a topology has an error.

    \b
    Examples:
      overlaynet validate topologies/demo.yaml
      overlaynet validate --each topologies/*.yaml
      overlaynet validate --json tests/topology/fixtures/kubectl-list.yaml
    """
    from overlaynet.drivers import check_network

    failed = False
    reports = []
    for group in ([f] for f in files) if each else [list(files)]:
        label = " ".join(group)
        try:
            result = load(group, network_check=check_network)
        except TopologyError as exc:
            failed = True
            reports.append({"file": label, "files": group, "ok": False,
                            "errors": [_diag(d) for d in exc.diagnostics if d.severity == "error"],
                            "warnings": [_diag(d) for d in exc.diagnostics if d.severity == "warning"]})
            if not as_json:
                for d in exc.diagnostics:
                    click.echo(str(d), err=True)
            continue
        c = result.cluster
        pods = [p for p in c.pods if not is_system(p)]
        services = [s for s in c.services if not is_system(s)]
        added = [s.key for s in c.services if is_system(s)] + [p.key for p in c.pods if is_system(p)]
        reports.append({"file": label, "files": group, "ok": True, "errors": [], "warnings": [_diag(d) for d in result.warnings],
                        "nodes": len(c.nodes), "pods": len(pods), "services": len(services), "added": added})
        if not as_json:
            for d in result.warnings:
                click.echo(str(d), err=True)
            also = f" (and {len(added)} objects every cluster has: {_added(c)})" if added else ""
            click.echo(f"{label}: OK: {len(c.nodes)} nodes, {len(pods)} pods, {len(services)} services{also}")
    if as_json:
        click.echo(json.dumps(reports, indent=2))
    if failed:
        raise SystemExit(2)


def _added(c: Cluster) -> str:
    services = [s.key for s in c.services if is_system(s)]
    pods = [p for p in c.pods if is_system(p)]
    owners: dict[str, int] = {}
    for p in pods:
        kind, _, name = (p.owner or f"Pod/{p.name}").partition("/")
        owners[f"{kind} {p.namespace}/{name}"] = owners.get(f"{kind} {p.namespace}/{name}", 0) + 1
    return ", ".join([*(f"service {k}" for k in services), *(f"{n} pods of {o}" for o, n in owners.items())])


def _diag(d: object) -> dict[str, object]:
    return {k: getattr(d, k) for k in ("file", "line", "column", "path", "message", "severity")}


@click.command("show")
@_PATHS
@click.option("--json", "as_json", is_flag=True, help="Print nodes, pods and services (with endpoints) as JSON.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for the driver's random choices (as trace's --seed).")
def show(files: tuple[str, ...], as_json: bool, seed: int) -> None:
    """Show what a topology loads to: nodes, pods, services with their endpoints, with the
    addresses the network driver gives (its IPAM: Calico blocks, Weave's ring, a Docker
    overlay's subnet), as trace and routes use them.

    All FILES together make one topology.

    \b
    Examples:
      overlaynet show topologies/demo.yaml
      overlaynet show topologies/docker-k8s.yaml --json | jq '.pods[] | {name, ips, node}'
    """
    from overlaynet.drivers import check_network
    from overlaynet.network import assemble

    result = load(list(files), network_check=check_network)
    # the driver's IPAM runs for every pod here; no host's dataplane is programmed (lazy)
    data = summary(assemble(result.cluster, seed=seed).cluster)
    if as_json:
        data["warnings"] = [_diag(d) for d in result.warnings]
        click.echo(json.dumps(data, indent=2))
        return
    for d in result.warnings:
        click.echo(str(d), err=True)
    _print_tables(data)


def _print_tables(data: dict) -> None:
    from rich.table import Table
    from rich.text import Text

    console = plain_console()
    if not console.is_terminal and "COLUMNS" not in os.environ:
        # piped or redirected: nothing to fit, so no name is broken over lines (a script
        # reading the tables, grep, a diff of two runs see each name whole)
        console = plain_console(width=100_000)
    c = data["cluster"]
    console.print(Text.assemble((c["name"], "bold"), f"  domain {c['domain']}  pods {', '.join(c['podCIDRs'])}  "
                                f"services {', '.join(c['serviceCIDRs'])}  DNS {c['dnsIP']}  driver {c['driver']}"))
    t = Table(title="Nodes")
    for col in ("node", "ip", "segment", "pod CIDRs", "labels"):
        t.add_column(col, overflow="fold")
    for n in data["nodes"]:
        cidrs = ", ".join(n["podCIDRs"]) + (" (allocated)" if n["podCIDRsAllocated"] else "")
        t.add_row(n["name"], n["ip"], n["segment"], cidrs, _labels(n["labels"]))
    console.print(t)
    t = Table(title="Pods")
    for col in ("namespace", "pod", "IPs", "node", "ready", "labels"):
        t.add_column(col, overflow="fold")
    for p in data["pods"]:
        ready = "yes" if p["ready"] else "no"
        if p["terminating"]:
            ready += " (terminating)"
        t.add_row(p["namespace"], p["name"], ", ".join(p["ips"]), p["node"] or "-", ready, _labels(p["labels"]))
    console.print(t)
    t = Table(title="Services")
    for col in ("namespace", "service", "type", "cluster IPs", "ports", "endpoints"):
        t.add_column(col, overflow="fold")
    for s in data["services"]:
        ips = "None (headless)" if s["headless"] else ", ".join(s["clusterIPs"]) or (s["externalName"] or "-")
        ports = ", ".join(
            f"{p['port']}{':' + str(p['nodePort']) if p['nodePort'] else ''}/{p['protocol']}→{p['targetPort']}" for p in s["ports"]
        )
        eps = ", ".join(
            f"{','.join(e['addresses'])}{'' if e['ready'] else ' (not ready)'}" for e in s["endpoints"]
        ) or "-"
        t.add_row(s["namespace"], s["name"], s["type"], ips, ports, eps)
    console.print(t)


def _labels(labels: dict[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in labels.items())


@click.command("graph")
@_PATHS
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Output file; the format follows the suffix: .dot, .json or .png.")
def graph(files: tuple[str, ...], output: Path) -> None:
    """Write the topology graph (segments, routers, hosts, pods; links with MTU).

    \b
    Examples:
      overlaynet graph topologies/demo.yaml -o demo.png
      overlaynet graph topologies/demo.yaml -o demo.dot && dot -Tsvg demo.dot > demo.svg
      overlaynet graph topologies/demo.yaml -o demo.json
    """
    suffix = output.suffix.lower()
    if suffix not in (".dot", ".json", ".png"):
        raise click.BadParameter(f"expected a file name ending in .dot, .json or .png, found {suffix or 'no suffix'!r}", param_hint="-o/--output")
    from overlaynet.drivers import check_network

    g = graph_data(load(list(files), network_check=check_network).cluster)
    try:
        if suffix == ".dot":
            output.write_text(to_dot(g))
        elif suffix == ".json":
            output.write_text(json.dumps(to_json(g), indent=2, default=str) + "\n")
        else:
            draw_png(g, output)
    except OSError as exc:
        raise OverlaynetError(f"cannot write {output}: {exc.strerror or exc}") from None
    click.echo(f"wrote {output} ({g.number_of_nodes()} nodes, {g.number_of_edges()} links)")
