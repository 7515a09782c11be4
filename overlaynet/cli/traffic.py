"""CLI: ``traffic`` — run a traffic mix over a topology and show what monitoring would count."""

from __future__ import annotations

import sys

import click

from overlaynet.cli._common import echo_json, load_network, serve_until_interrupted


@click.command(epilog="""
\b
Examples:
  overlaynet traffic topologies/demo.yaml --mix topologies/traffic/demo-mix.yaml
  overlaynet traffic topologies/demo.yaml --mix topologies/traffic/demo-mix.yaml --json
  overlaynet traffic topologies/demo.yaml --mix topologies/traffic/demo-mix.yaml --plot traffic.png
  overlaynet traffic topologies/demo.yaml --mix topologies/traffic/demo-mix.yaml --serve 127.0.0.1:9100
""")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--mix", "mix_path", required=True, type=click.Path(exists=True, dir_okay=False), help="The TrafficMix file.")
@click.option("--json", "as_json", is_flag=True, help="Every counter as JSON.")
@click.option("--plot", type=click.Path(dir_okay=False), help="Write a chart of the busiest interfaces and links.")
@click.option("--serve", metavar="HOST:PORT", help="Then serve the counters at http://HOST:PORT/metrics for Prometheus (Ctrl-C stops).")
@click.option("--top", type=click.IntRange(1, 1000), default=10, show_default=True, help="Rows in the top lists.")
@click.option("--seed", type=int, default=0, show_default=True, help="Driver seed.")
def traffic(files: tuple[str, ...], mix_path: str, as_json: bool, plot: str | None, serve: str | None, top: int, seed: int) -> None:
    """Simulate a traffic mix: every connection routed by the tracer, kube-proxy's choices
    sampled; per-pod and per-interface packets and bytes (cAdvisor's names), underlay bytes
    and encapsulation, link utilisation, drops by reason, top talkers and hot links."""
    from overlaynet.traffic import read_mix_file, simulate
    from overlaynet.traffic.metrics import exposition, make_metrics_server

    mix = read_mix_file(mix_path)
    network = load_network(files, seed=seed)
    result = simulate(network, mix)
    if plot:
        from overlaynet.traffic.plot import plot_traffic

        try:
            plot_traffic(result, plot)
        except OSError as exc:
            raise click.UsageError(f"--plot {plot}: cannot write: {exc.strerror or exc}") from None
    if as_json:
        echo_json(result.to_dict())
    else:
        click.echo(_table(result.to_dict(), top))
    if serve:
        text = exposition(result)
        serve_until_interrupted("--serve", serve, lambda h, p: make_metrics_server(text, h, p), "serving /metrics")
    sys.exit(0)


def _mb(n: float) -> str:
    return f"{n / 1e6:,.2f} MB"


def _table(d: dict, top: int) -> str:
    lines = [f"traffic mix {d['mix']}: {d['duration']} s, seed {d['seed']}", "", "flows:"]
    for f in d["flows"]:
        ok = sum(f["delivered"].values())
        shares = ", ".join(f"{ep} {n}" for ep, n in f["delivered"].items())
        failed = ", ".join(f"{k} {n}" for k, n in f["failed"].items())
        lines.append(f"  {f['name']}: {f['connections']} connections, {ok} delivered ({shares})" + (f"; failed: {failed}" if failed else ""))
    lines += ["", "underlay links (hot first):"]
    for s in sorted(d["segments"], key=lambda s: -(s["utilisation"] or 0)):
        lines.append(f"  {s['segment']}: {_mb(s['bytes'])} in {s['frames']:,} frames, encapsulation {_mb(s['encapsulation_bytes'])}, "
                     f"{100 * (s['utilisation'] or 0):.3f}% of {s['capacity_bps'] / 1e6:,.0f} Mbps")
    lines += ["", "top talkers (pods, transmitted):"]
    lines += [f"  {t['pod']}: {_mb(t['tx_bytes'])}" for t in d["top_talkers"][:top]]
    busiest = sorted(d["interfaces"], key=lambda i: -(i["tx_bytes"] + i["rx_bytes"]))[:top]
    lines += ["", "busiest interfaces:"]
    lines += [f"  {i['host']} {i['pod'] or i['namespace']} {i['device']}: tx {_mb(i['tx_bytes'])} ({i['tx_packets']:,} pkts), "
              f"rx {_mb(i['rx_bytes'])} ({i['rx_packets']:,} pkts)" for i in busiest]
    lines += ["", "drops:" if d["drops"] else "drops: none"]
    lines += [f"  {x['packets']:,} {x['disposition']} at {x['where']}: {x['reason']}" for x in d["drops"]]
    return "\n".join(lines)
