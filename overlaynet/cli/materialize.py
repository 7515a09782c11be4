"""``overlaynet materialize …``: apply a topology to real network namespaces, check the tracer
against the kernel, list and remove what a run created (``onet-<run id>-*``)."""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from overlaynet.cli._common import echo_json, load_network
from overlaynet.errors import MaterializeError


def _need_root() -> None:
    if os.geteuid() != 0:
        raise MaterializeError("needs root: network namespaces, veth, bridge and vxlan devices are created with netlink")


def _hosts(network: Any) -> list[str]:
    cluster = network.cluster
    return [n.name for n in cluster.nodes] + [r.name for r in cluster.underlay.routers]


@click.group("materialize")
def materialize() -> None:
    """Apply a topology's dataplane to real Linux network namespaces (needs root).

    Every namespace is named onet-<run id>-<name>; every interface lives inside one.
    Run as root (from a root shell with the venv activated: sudo would not find the
    venv's overlaynet on its PATH).

    \b
    Examples (as root):
      overlaynet materialize up topologies/demo.yaml --run-id demo
      overlaynet materialize verify topologies/demo.yaml
      overlaynet materialize down --run-id demo
    """


@materialize.command("up")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--run-id", default=None, help="1-12 lowercase letters/digits; default: random.")
@click.option("--seed", default=0, show_default=True, help="Seed of the driver's random choices.")
@click.option("--json", "as_json", is_flag=True, help="Namespaces and skips as JSON.")
def up(files: tuple[str, ...], run_id: str | None, seed: int, as_json: bool) -> None:
    """Create the namespaces of FILE's hosts, pods, routers and segments and leave them up.

    On any failure everything created is removed again. Run a command inside with
    `ip netns exec onet-<run id>-<name> …`; remove them with `materialize down`.

    \b
    Example (as root):
      overlaynet materialize up topologies/demo.yaml --run-id demo
      ip netns exec onet-demo-node-1 ip route
    """
    from overlaynet.materialize import materialize as apply

    _need_root()
    network = load_network(files, seed=seed)
    network.build_all()
    m = apply(network.dataplane, hosts=_hosts(network), run_id=run_id)
    rows = [{"namespace": str(ref), "netns": m.namespace_name(ref)} for ref in m.refs]
    rows += [{"namespace": f"segment {seg}", "netns": m.segment_namespace(seg)}
             for seg in sorted(network.dataplane.segments) if seg in _materialized_segments(m)]
    if as_json:
        echo_json({"run_id": m.run_id, "namespaces": rows, "skipped": [str(s) for s in m.skipped]})
        return
    click.echo(f"run {m.run_id}: {len(m.namespaces)} namespaces")
    width = max(len(r["namespace"]) for r in rows) if rows else 0
    for r in rows:
        click.echo(f"  {r['namespace']:<{width}}  {r['netns']}")
    for s in m.skipped:
        click.echo(f"skipped: {s}")
    click.echo(f"remove with: overlaynet materialize down --run-id {m.run_id}")


def _materialized_segments(m: Any) -> set[str]:
    out = set()
    for seg in m.dataplane.segments:
        try:
            m.segment_namespace(seg)
        except MaterializeError:
            continue
        out.add(seg)
    return out


@materialize.command("verify")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--pair", "pairs", nargs=2, multiple=True, metavar="SRC DST",
              help="A pod pair to check (ns/name ns/name); repeat. Default: every ordered pair.")
@click.option("--sample", type=click.IntRange(min=1), default=None, help="Check only this many pairs, chosen with --seed.")
@click.option("--size", type=click.IntRange(28, 65535), default=84, show_default=True, help="IP total length of the echo.")
@click.option("--no-capture", is_flag=True, help="Do not capture the underlay (skips the wire-size checks).")
@click.option("--no-mtu", is_flag=True, help="Skip the DF / Frag-needed checks.")
@click.option("--tcp", "tcp_port", type=click.IntRange(1, 65535), default=None,
              help="Also connect over TCP to a listener on this port of each destination pod.")
@click.option("--run-id", default=None, help="Run id of the namespaces; default: random.")
@click.option("--seed", default=0, show_default=True, help="Seed of the driver and of --sample.")
@click.option("--json", "as_json", is_flag=True, help="The whole report as JSON.")
def verify(files: tuple[str, ...], pairs: tuple[tuple[str, str], ...], sample: int | None, size: int,
           no_capture: bool, no_mtu: bool, tcp_port: int | None, run_id: str | None, seed: int,
           as_json: bool) -> None:
    """Materialize FILE, ping pod pairs in the kernel, compare with the tracer, tear down.

    Compared: reachability, the reply's TTL, every frame on the underlay (fragments and
    tunnel packets counted one by one, as the pcap holds them), and "Frag needed" for a DF
    echo one byte above the tracer's path MTU (its MTU and where it comes from). Exit 0
    when everything compared agrees, 1 on a disagreement; what the kernel here cannot
    answer is counted apart (n/a), never as agreement.

    \b
    Examples (as root):
      overlaynet materialize verify topologies/demo.yaml
      overlaynet materialize verify topologies/demo.yaml --sample 5 --json
      overlaynet materialize verify tests/materialize/topologies/flannel-vxlan-3node.yaml --pair default/a1 default/c2 --tcp 8080
    """
    from overlaynet.materialize.verify import verify as run_verify

    _need_root()
    network = load_network(files, seed=seed)
    report = run_verify(network, list(pairs) or None, run_id=run_id, size=size, sample=sample, seed=seed,
                        capture=not no_capture, mtu=not no_mtu, tcp_port=tcp_port)
    if as_json:
        echo_json(report.to_dict())
    else:
        for c in report.comparisons:
            mark = {True: "ok  ", False: "DIFF", None: "n/a "}[c.agree]
            click.echo(f"{mark} {c.check:<11} {c.src} → {c.dst}: tracer {c.tracer} | kernel {c.kernel}"
                       + (f"  ({c.detail})" if c.agree is not True and c.detail else ""))
        for s in report.skipped:
            click.echo(f"skipped: {s}")
        for note in report.notes:
            click.echo(f"note: {note}")
        click.echo(report.summary())
    if not report.ok:
        sys.exit(1)


@materialize.command("down")
@click.option("--run-id", default=None, help="Remove the namespaces of this run (onet-<run id>-*).")
@click.option("--all", "all_runs", is_flag=True, help="Remove every onet-* namespace on this machine.")
@click.option("--json", "as_json", is_flag=True, help="The removed namespaces as JSON.")
def down(run_id: str | None, all_runs: bool, as_json: bool) -> None:
    """Remove the namespaces of one run (and every interface in them), or of all runs.

    \b
    Examples (as root):
      overlaynet materialize down --run-id demo
      overlaynet materialize down --all
    """
    from overlaynet.materialize.naming import PREFIX, list_namespaces, remove_namespaces, remove_run

    if (run_id is None) == (not all_runs):
        raise MaterializeError("give exactly one of --run-id ID or --all")
    _need_root()
    removed = remove_namespaces(list_namespaces(PREFIX)) if all_runs else remove_run(run_id or "")
    if as_json:
        echo_json({"removed": removed})
        return
    for name in removed:
        click.echo(f"removed {name}")
    click.echo(f"{len(removed)} namespaces removed")


@materialize.command("list")
@click.option("--json", "as_json", is_flag=True, help="Runs and their namespaces as JSON.")
def list_(as_json: bool) -> None:
    """List the onet-* network namespaces on this machine, by run id.

    \b
    Example:
      overlaynet materialize list
    """
    from overlaynet.materialize.naming import PREFIX, list_namespaces, run_ids, run_prefix

    names = list_namespaces(PREFIX)
    runs = {rid: [n for n in names if n.startswith(run_prefix(rid))] for rid in run_ids(names)}
    if as_json:
        echo_json({"runs": runs})
        return
    if not runs:
        click.echo("no onet- namespaces")
    for rid, members in runs.items():
        click.echo(f"run {rid}: {len(members)} namespaces")
        for name in members:
            click.echo(f"  {name}")
