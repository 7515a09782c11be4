"""CLI: ``overhead`` — what each overlay mode costs on one topology (header bytes per layer,
MTU, MSS, efficiency, a message's cost, a misconfigured MTU), measured from traced packets."""

from __future__ import annotations

import shutil
from typing import Any

import click

EXAMPLES = """
\b
Examples:
  overlaynet overhead topologies/demo.yaml --modes all --plot overhead.png
  overlaynet overhead topologies/demo.yaml --modes flannel:vxlan,flannel:host-gw,calico:ipip --payload 64,1400,imix
  overlaynet overhead topologies/demo.yaml --modes calico --message 10000000 --underlay-mtu 9000 --json
  overlaynet overhead topologies/demo.yaml --modes all --ipv6-underlay
"""


@click.command(epilog=EXAMPLES)
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--modes", "modes_text", default="all", show_default=True,
              help="'all' (every mode of every registered driver) or a comma list of driver:mode; a driver alone means all its modes.")
@click.option("--payload", "payload_text", default="64,512,1400,imix", show_default=True,
              help="TCP payload sizes in bytes, and 'imix' (7:4:1 of 64/576/1500-byte IP packets).")
@click.option("--message", type=int, default=1_000_000, show_default=True,
              help="Bytes of one application message: packets, underlay bytes, overhead %.")
@click.option("--underlay-mtu", type=int, default=None, help="Set every underlay segment's MTU.")
@click.option("--ipv6-underlay", is_flag=True, help="Re-address segments, routers and nodes with IPv6.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the drivers' random choices.")
@click.option("--json", "as_json", is_flag=True, help="The same data as JSON.")
@click.option("--plot", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Write a chart of efficiency per payload size and mode (PNG).")
def overhead(files: tuple[str, ...], modes_text: str, payload_text: str, message: int, underlay_mtu: int | None,
             ipv6_underlay: bool, seed: int, as_json: bool, plot: str | None) -> None:
    """Compare the encapsulation overhead of every driver mode on one topology.

    Only the driver and its options change between modes. Per mode: a cross-node pod-to-pod
    flow is traced (pods on different segments when that mode delivers, else on one
    segment) and its underlay frames are measured; a same-node flow must show no
    encapsulation.
    """
    from overlaynet.analysis.overhead import parse_payloads
    from overlaynet.cli._common import echo_json, load_cluster
    from overlaynet.network.overhead import compare_overhead, parse_modes

    try:
        payloads = parse_payloads(payload_text)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--payload") from exc
    if message < 1:
        raise click.BadParameter(f"{message}: expected at least 1 byte", param_hint="--message")
    if underlay_mtu is not None and not 576 <= underlay_mtu <= 65_535:
        raise click.BadParameter(f"{underlay_mtu}: expected 576..65535", param_hint="--underlay-mtu")
    modes = parse_modes(modes_text)
    cluster = load_cluster(files)
    report = compare_overhead(cluster, modes=modes, payloads=payloads, message=message,
                              underlay_mtu=underlay_mtu, ipv6_underlay=ipv6_underlay, seed=seed)
    if plot is not None:
        from overlaynet.analysis.overhead_plot import plot_efficiency

        plot_efficiency(report, plot)
    if as_json:
        echo_json(report.to_dict())
        return
    _print(report)
    if plot is not None:
        click.echo(f"chart written to {plot}")


def _print(report: Any) -> None:
    from rich.table import Table
    from rich.text import Text

    from overlaynet.cli._common import plain_console

    width = shutil.get_terminal_size((170, 40)).columns
    console = plain_console(width=max(width, 120))
    ok = [m for m in report.modes if m.ok]
    head = Table(title=f"Per-packet overhead — {report.topology}, {report.underlay} underlay", title_justify="left")
    for col in ("mode", "tunnel", "headers on the wire (from the frames)", "+bytes/pkt", "pod MTU", "MSS",
                "largest unfragmented"):
        head.add_column(col, justify="right" if col[0] in "+pML" or col.startswith("largest") else "left")
    for m in ok:
        layers = " + ".join(f"{n} {b}" for n, b in m.layers)
        head.add_row(m.mode.label, m.encapsulation or "none", layers, str(m.overhead_bytes), str(m.pod_mtu),
                     str(m.mss), f"{m.max_packet} IP / {m.max_payload} TCP payload")
    console.print(head)

    eff = Table(title=f"Efficiency (application bytes / underlay wire bytes); message of {report.message_bytes:,} bytes",
                title_justify="left")
    eff.add_column("mode")
    for p in report.payloads:
        eff.add_column(p, justify="right")
    for col in ("packets", "underlay bytes", "overhead"):
        eff.add_column(col, justify="right")
    for m in ok:
        cells = [f"{100 * r.efficiency:.1f}%" for r in m.payloads]
        msg = m.message
        eff.add_row(m.mode.label, *cells, f"{msg.packets:,}", f"{msg.underlay_bytes:,}", f"{msg.overhead_percent:.2f}%")
    console.print(eff)

    mis = Table(title="Pod MTU misconfigured to the underlay MTU (a full-size TCP packet)", title_justify="left")
    for col in ("mode", "scenario", "with DF", "without DF"):
        mis.add_column(col)
    for m in ok:
        for c in m.misconfig:
            mis.add_row(m.mode.label, c.scenario, c.df_detail, f"{c.nodf_fragments} piece(s): {c.nodf_detail}")
        if not m.misconfig:
            mis.add_row(m.mode.label, "pod MTU already equals the underlay MTU", "-", "-")
    console.print(mis)

    for m in report.modes:
        if not m.ok:
            console.print(Text.assemble((m.mode.label, "bold"), f": {m.status}: {m.reason}"))
            continue
        note = f" ({m.pair_note})" if m.pair_note and m.pair_note != "pods on different segments" else ""
        console.print(Text.assemble((m.mode.label, "bold"), f": traced {m.pair}{note}; same node: {m.same_node}"))
        if not m.frames_agree:
            console.print(Text.assemble("  ", ("frames and trace disagree", "red"), f": {m.frame_mismatch}"))
        for w in m.warnings:
            console.print(Text.assemble("  ", ("warning", "yellow"), f": {w}"))
