"""CLI: ``sweep`` (every source class × Service port, embedded or on Dask) and ``sweep diff``
(the flows whose verdict two sweeps disagree on, grouped by cause; exit 1 when any)."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from overlaynet.cli._common import echo_json

if TYPE_CHECKING:
    from overlaynet.sweep import SweepDiff, SweepResult


class _SweepGroup(click.Group):
    """``sweep FILE...`` runs a sweep; ``sweep diff A B`` compares two."""

    def resolve_command(self, ctx: click.Context, args: list[str]) -> tuple[str | None, click.Command | None, list[str]]:
        if args and args[0] in self.commands:
            return super().resolve_command(ctx, args)
        return "run", self.commands["run"], args

    def format_usage(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        formatter.write_usage("overlaynet sweep", "FILE... [OPTIONS]  |  overlaynet sweep diff A B [OPTIONS]")


_EPILOG = """
\b
Examples:
  overlaynet sweep topologies/demo.yaml
  overlaynet sweep topologies/demo.yaml --services web --json -o before.json
  overlaynet sweep topologies/demo.yaml --services web --workers 2 --json -o after.json
  overlaynet sweep topologies/demo.yaml --scheduler tcp://127.0.0.1:8786
  overlaynet sweep diff before.json after.json
  sed 's/{matchLabels: {app: frontend}}/{matchLabels: {app: nobody}}/' topologies/calico-policy.yaml > changed-policy.yaml
  overlaynet sweep diff topologies/calico-policy.yaml changed-policy.yaml
"""


@click.group(cls=_SweepGroup, invoke_without_command=False, epilog=_EPILOG)
def sweep() -> None:
    """Trace every source class to every Service port (all branches), embedded or on Dask."""


def _options(f: Any) -> Any:
    for opt in reversed([
        click.option("--services", "services", multiple=True, metavar="NAME", help="Only these Services (ns/name or name; repeatable)."),
        click.option("--namespace", "namespaces", multiple=True, help="Only Services of these namespaces (repeatable)."),
        click.option("--port", "ports", multiple=True, type=click.IntRange(1, 65535), help="Only these Service ports or node ports (repeatable)."),
        click.option("--external", "externals", multiple=True, metavar="IP", help="Outside client address(es) for NodePort/LoadBalancer/externalIPs (default 203.0.113.10)."),
        click.option("--exact-nodes", is_flag=True, help="Every node its own class (no grouping of alike nodes)."),
        click.option("--scheduler", metavar="ADDRESS", help="A running Dask scheduler (tcp://host:8786); default: embedded."),
        click.option("--workers", type=click.IntRange(1, 1024), help="Embedded: worker processes (default: 1, in this process)."),
        click.option("--seed", type=int, default=0, show_default=True, help="Driver seed (flannel's subnet pick)."),
        click.option("--timeout", "connect_timeout", type=click.FloatRange(0.1, 3600), default=10.0, show_default=True, help="Seconds to reach the scheduler and its first worker."),
    ]):
        f = opt(f)
    return f


def _progress(enabled: bool) -> Any:
    if not enabled:
        return None

    def show(done: int, total: int) -> None:
        width = 30
        filled = width * done // max(1, total)
        click.echo(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} flows", err=True, nl=done >= total)

    return show


def _run(files: Sequence[str], opts: dict[str, Any], quiet: bool) -> SweepResult:
    from overlaynet.sweep import FlowFilter, run_sweep

    flt = FlowFilter(tuple(opts["services"]), tuple(opts["namespaces"]), tuple(opts["ports"]))
    return run_sweep(
        list(files), flow_filter=flt, externals=list(opts["externals"]) or None, exact_nodes=opts["exact_nodes"],
        workers=opts["workers"], scheduler=opts["scheduler"], seed=opts["seed"],
        connect_timeout=opts["connect_timeout"], progress=_progress(not quiet and sys.stderr.isatty()),
    )


@sweep.command("run", epilog=_EPILOG)
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True))
@_options
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Also write the JSON result to this file.")
def run(files: tuple[str, ...], as_json: bool, output: str | None, **opts: Any) -> None:
    """Sweep FILE...: every source class × Service port, with verdicts per endpoint."""
    result = _run(files, opts, quiet=as_json)
    data = result.to_dict()
    if output:
        try:
            Path(output).write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
        except OSError as exc:
            raise click.UsageError(f"-o {output}: cannot write: {exc.strerror or exc}") from None
    if as_json:
        echo_json(data)
    else:
        click.echo(_table(data))
    sys.exit(0)


def _table(data: dict[str, Any]) -> str:
    rows = [("SOURCE CLASS", "SERVICE", "KIND", "TARGET", "VERDICT", "ENDPOINTS / WHY")]
    for f in data["flows"]:
        if f.get("error"):
            why = f["error"]
        elif f["verdict"] in ("DELIVERED", "ACCEPTED"):
            why = ", ".join(f"{b['endpoint']} {b['p']}" for b in f["branches"])
        else:
            why = "; ".join(f"{b['endpoint']} {b['p']}: {b['disposition']} {b['decisive']}" for b in f["branches"])
        host = f"[{f['address']}]" if ":" in f["address"] else f["address"]
        rows.append((f["source_class"], f"{f['service']}:{f['port_name']}", f["kind"], f"{host}:{f['port']}/{f['proto']}", f["verdict"], why))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r[:5], widths, strict=True)) + "  " + r[5] for r in rows]
    s = data["summary"]
    verdicts = ", ".join(f"{k} {v}" for k, v in s["by_verdict"].items())
    lines.append(f"{s['flows']} flows from {len(data['classes'])} source classes: {verdicts or 'none'}")
    lines.extend(f"skipped {x}" for x in data["skipped"])
    return "\n".join(lines)


def _side(path: str, opts: dict[str, Any]) -> Any:
    from overlaynet.sweep import read_results

    p = Path(path)
    if p.is_dir() or p.suffix in (".yaml", ".yml"):
        return list(_run([path], opts, quiet=True).results)
    return read_results(path)


@sweep.command("diff", epilog=_EPILOG)
@click.argument("before", type=click.Path(exists=True))
@click.argument("after", type=click.Path(exists=True))
@_options
@click.option("--json", "as_json", is_flag=True, help="Print the changes as JSON.")
def diff(before: str, after: str, as_json: bool, **opts: Any) -> None:
    """The flows whose verdict changed from BEFORE to AFTER (sweep results or topologies),
    grouped by cause. Exit 1 when anything changed."""
    from overlaynet.sweep import diff_results

    d = diff_results(_side(before, opts), _side(after, opts))
    if as_json:
        echo_json(d.to_dict())
    else:
        click.echo(_diff_text(d))
    sys.exit(1 if d.changes else 0)


def _diff_text(d: SweepDiff) -> str:
    if not d.changes:
        return f"no flow changed ({d.unchanged} compared)"
    lines = [f"{len(d.changes)} flow(s) changed, {d.unchanged} unchanged"]
    for cause, changes in d.groups().items():
        lines.append(f"\n{len(changes)} × {cause}")
        for c in changes:
            src, svc, pname, kind, addr, port, proto = c.key
            host = f"[{addr}]" if ":" in addr else addr
            lines.append(f"  {src} → {svc}:{pname} ({kind} {host}:{port}/{proto}): {c.before} → {c.after}")
    return "\n".join(lines)
