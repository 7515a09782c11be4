"""CLI: ``ui`` (the web view on loopback) and ``report`` (the same, as one HTML file)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from overlaynet.cli._common import load_network, serve_until_interrupted


@click.command(epilog="""
\b
Examples:
  overlaynet ui topologies/demo.yaml
  overlaynet ui topologies/calico-policy.yaml --listen 127.0.0.1:9000
  then open http://127.0.0.1:8080/?from=default/frontend-dtz8lffdhv-blt7m&to=web:80
""")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--listen", default="127.0.0.1:8080", show_default=True, help="Address to serve on (loopback by default).")
@click.option("--seed", type=int, default=0, show_default=True)
def ui(files: tuple[str, ...], listen: str, seed: int) -> None:
    """Serve a web page that draws the topology and traces on it (Ctrl-C stops)."""
    from overlaynet.web.server import WebApp, make_server

    network = load_network(files, seed=seed)
    app = WebApp(network)
    serve_until_interrupted("--listen", listen, lambda h, p: make_server(app, h, p), "overlaynet ui")


@click.command(epilog="""
\b
Examples:
  overlaynet report topologies/demo.yaml --trace default/frontend-dtz8lffdhv-blt7m web:80 -o report.html
  overlaynet report topologies/calico-policy.yaml --trace prod/frontend prod/api --port 8080 -o policy.html
""")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--trace", "traces", nargs=2, multiple=True, metavar="FROM TO", help="A trace to include (repeatable).")
@click.option("--port", type=click.IntRange(1, 65535), help="Destination port of the traces and the reach matrix.")
@click.option("--no-reach", is_flag=True, help="Leave the reach matrix out.")
@click.option("--no-overhead", is_flag=True, help="Leave the overhead chart out.")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="The HTML file to write.")
@click.option("--seed", type=int, default=0, show_default=True)
def report(files: tuple[str, ...], traces: tuple[tuple[str, str], ...], port: int | None, no_reach: bool,
           no_overhead: bool, output: str, seed: int) -> None:
    """Write the web view with the given traces as one self-contained HTML file."""
    from overlaynet.web.report import build_report

    network = load_network(files, seed=seed)
    html = build_report(network, traces, port=port, reach=not no_reach, overhead=not no_overhead)
    try:
        Path(output).write_text(html, encoding="utf-8")
    except OSError as exc:
        raise click.UsageError(f"-o {output}: cannot write: {exc.strerror or exc}") from None
    click.echo(f"wrote {output} ({len(html):,} bytes, {len(traces)} trace(s))", err=True)
    sys.exit(0)

