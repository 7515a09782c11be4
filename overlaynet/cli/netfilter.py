"""``overlaynet rules`` (a node's ruleset as iptables-save text) and ``overlaynet iptables
trace`` (one packet through any iptables-save file). Thin: parse, call, format."""

from __future__ import annotations

import ipaddress
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from overlaynet.errors import IptablesSyntaxError

if TYPE_CHECKING:
    from overlaynet.dataplane.netfilter import Ruleset
    from overlaynet.dataplane.netfilter.flow import FlowOutcome


@click.command("rules")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--node", "node_name", required=True, help="The node (or router) whose ruleset to print.")
@click.option("--table", type=click.Choice(["raw", "mangle", "filter", "nat"]), default=None, help="Only this table.")
@click.option("--namespace", "ns_name", default="root", show_default=True,
              help="A namespace on the node other than its own, e.g. 'pod:default/web-0'.")
@click.option("--json", "as_json", is_flag=True, help="Tables → chains → policy and rule texts, as JSON.")
def rules(files: tuple[Path, ...], node_name: str, table: str | None, ns_name: str, as_json: bool) -> None:
    """Print a node's whole netfilter ruleset in iptables-save format, base chains included,
    ready for iptables-restore.

    \b
    Examples:
      overlaynet rules topologies/demo.yaml --node node-1
      overlaynet rules topologies/demo.yaml --node node-1 --table nat
    """
    from overlaynet.cli._common import load_network
    from overlaynet.dataplane.netfilter import render_save

    network = load_network([str(f) for f in files])
    ruleset = network.rules(node_name, ns_name)
    if table is not None:
        ruleset.table(table)  # an absent table prints as its empty built-in chains
    if as_json:
        from overlaynet.cli._common import echo_json
        from overlaynet.dataplane.netfilter import render_rule

        echo_json({"node": node_name, "namespace": ns_name, "tables": {
            t.name: {c.name: {"policy": c.policy, "rules": [render_rule(c.name, r) for r in c.rules]}
                     for c in t.ordered_chains()}
            for t in ruleset.ordered_tables() if table is None or t.name == table}})
        return
    click.echo(render_save(ruleset, tables=(table,) if table else None), nl=False)


@click.group("iptables")
def iptables() -> None:
    """Work with iptables-save files.

    \b
    Example:
      overlaynet kube-proxy rules topologies/demo.yaml --node node-1 --full > node-1.save
      overlaynet iptables trace node-1.save --src 10.244.1.5 --dst 10.96.0.10 --dport 53 --proto udp
    """


def _ip(value: str, flag: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an IP address", param_hint=flag) from None


def read_ruleset(path: Path, list_table: str = "filter") -> Ruleset:
    """An iptables-save file, or ``iptables -S`` output of ``list_table``; bad input raises
    IptablesSyntaxError (exit 2)."""
    from overlaynet.dataplane.netfilter import parse_save
    from overlaynet.dataplane.netfilter.parse import is_list_rules

    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise IptablesSyntaxError(f"cannot read: {exc}", line=0, file=str(path)) from exc
    return parse_save(text, file=str(path), implicit_table=list_table if is_list_rules(text) else None)


def _iface(text: str) -> tuple[str, tuple[ipaddress.IPv4Interface | ipaddress.IPv6Interface, ...]]:
    from overlaynet.dataplane.netfilter.hostaddr import parse_iface

    try:
        return parse_iface(text)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--iface") from None


@iptables.command("trace")
@click.argument("savefile", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--src", required=True, help="Source IP.")
@click.option("--dst", required=True, help="Destination IP.")
@click.option("--dport", type=click.IntRange(0, 65535), default=None, help="Destination port (tcp/udp/sctp).")
@click.option("--sport", type=click.IntRange(0, 65535), default=40000, show_default=True, help="Source port.")
@click.option("--proto", type=click.Choice(["tcp", "udp", "sctp", "icmp"]), default="tcp", show_default=True)
@click.option("--in-iface", default="eth0", show_default=True, help="Interface the packet arrives on (prerouting).")
@click.option("--out-iface", default="eth0", show_default=True, help="Interface it leaves by (forward/postrouting).")
@click.option("--iface", "ifaces", multiple=True, metavar="NAME=ADDR/PLEN[,ADDR/PLEN...]",
              help="An interface of this host and its addresses in the order they were added (repeat per "
                   "interface, in device order; lo has 127.0.0.1/8 and ::1). Its addresses are local; "
                   "MASQUERADE out of it takes its primary address (the first, or the first whose subnet "
                   "holds the destination; never a secondary one), REDIRECT into it its first.")
@click.option("--local-ip", "local_ips", multiple=True, metavar="IP",
              help="An address of this host on an interface not named (repeat): local, and MASQUERADE's "
                   "source when the out-interface has no address (the first given).")
@click.option("--hook", type=click.Choice(["prerouting", "output"]), default="prerouting", show_default=True,
              help="prerouting: the packet arrives from outside (or a pod); output: a local process sends it.")
@click.option("--table", "list_table", type=click.Choice(["raw", "mangle", "filter", "nat"]), default="filter",
              show_default=True, help="The table an 'iptables -S' listing (no *table header) shows.")
@click.option("--kube-proxy-jumps", is_flag=True, help="Add kube-proxy's jumps from the built-in chains when missing (payload-only dumps).")
@click.option("--all-branches", is_flag=True, help="Follow every statistic branch and give each outcome's exact probability.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the sampled statistic choice.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def trace(savefile: Path, src: str, dst: str, dport: int | None, sport: int, proto: str, in_iface: str,
          out_iface: str, ifaces: tuple[str, ...], local_ips: tuple[str, ...], hook: str, list_table: str,
          kube_proxy_jumps: bool, all_branches: bool,
          seed: int, as_json: bool) -> None:
    """Trace one packet through an iptables-save file (or 'iptables -S' output of one
    table, see --table): the hook's tables, then INPUT (for a
    local destination) or FORWARD and POSTROUTING. A packet a local process sends
    (--hook output) to a local address goes out through lo and back in: OUTPUT,
    POSTROUTING, PREROUTING, INPUT. Exit 0 if accepted, 1 if dropped or rejected, 2 on bad
    input.

    \b
    Examples:
      overlaynet kube-proxy rules topologies/demo.yaml --node node-1 --full > node-1.save
      overlaynet iptables trace node-1.save --src 10.244.1.5 --dst 10.96.0.1 --dport 443 --all-branches
      overlaynet kube-proxy rules topologies/demo.yaml --node node-1 > payload.save
      overlaynet iptables trace payload.save --kube-proxy-jumps --src 8.8.8.8 \\
          --dst 192.168.0.11 --dport 30080 --iface eth0=192.168.0.11/24 --json
      overlaynet iptables trace tests/dataplane/netfilter/data/iptables-dumps/helowd-master01-broken.iptables-save \\
          --hook output --src 192.168.1.5 --dst 192.168.1.5 --dport 31306 --iface eth0=192.168.1.5/24
    """
    from overlaynet.dataplane.netfilter.flow import kube_proxy_jumps as add_jumps
    from overlaynet.dataplane.netfilter.flow import overall_verdict, trace_packet
    from overlaynet.dataplane.netfilter.hostaddr import HostAddresses
    from overlaynet.dataplane.packet import Packet

    source, dest = _ip(src, "--src"), _ip(dst, "--dst")
    if source.version != dest.version:
        raise click.BadParameter("--src and --dst are of different IP versions")
    if proto in ("tcp", "udp", "sctp") and dport is None:
        raise click.BadParameter(f"--proto {proto} needs --dport", param_hint="--dport")
    ruleset = read_ruleset(savefile, list_table)
    if kube_proxy_jumps:
        add_jumps(ruleset)
    l4 = proto in ("tcp", "udp", "sctp")
    packet = Packet(source, dest, proto, sport if l4 else None, dport if l4 else None,  # type: ignore[arg-type]
                    icmp_type=8 if proto == "icmp" else None,
                    tcp_flags=frozenset({"SYN"}) if proto == "tcp" else frozenset())
    host = HostAddresses.build([_iface(text) for text in ifaces])
    outcomes = trace_packet(ruleset, packet, hook=hook, in_iface=in_iface, out_iface=out_iface,  # type: ignore[arg-type]
                            local_ips=[_ip(a, "--local-ip") for a in local_ips], host=host,
                            all_branches=all_branches, seed=seed)
    verdict = overall_verdict(outcomes)
    if as_json:
        from overlaynet.cli._common import echo_json

        echo_json({"verdict": verdict, "outcomes": [_outcome_json(o) for o in outcomes]})
    else:
        _print_text(verdict, outcomes)
    sys.exit(0 if verdict == "ACCEPT" else 1)


def _endpoint(addr: tuple[object, int | None] | None) -> str | None:
    if addr is None:
        return None
    ip, port = addr
    host = f"[{ip}]" if getattr(ip, "version", 4) == 6 else str(ip)
    return host if port is None else f"{host}:{port}"


def _outcome_json(o: FlowOutcome) -> dict[str, object]:
    return {
        "verdict": o.verdict,
        "destination": _endpoint(o.destination),
        "probability": str(o.probability),
        "masquerade": o.masquerade,
        "source": _endpoint((o.packet.src, o.packet.sport)),
        "hooks": list(o.hooks),
        "reject_with": o.reject_with,
        "rules": [str(h) for h in o.hits],
    }


def _print_text(verdict: str, outcomes: list[FlowOutcome]) -> None:
    click.echo(f"verdict: {verdict} ({len(outcomes)} outcome{'s' if len(outcomes) != 1 else ''})")
    for i, raw in enumerate(outcomes, start=1):
        o = _outcome_json(raw)
        dest = o["destination"] or "not translated"
        extra = f", {o['reject_with']}" if o["reject_with"] else ""
        click.echo(f"\noutcome {i}: {o['verdict']}{extra}  probability {o['probability']}  destination {dest}  "
                   f"masquerade {'yes' if raw.masquerade else 'no'}  hooks {' → '.join(raw.hooks)}")
        for hit in raw.hits:
            did = f"  → {hit.verdict}" if hit.verdict else ""
            click.echo(f"  {hit.table:<6} {hit.chain:<28} {hit.number:>4}  {hit.text}{did}")


@iptables.command("verify")
@click.argument("savefile", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--table", "list_table", type=click.Choice(["raw", "mangle", "filter", "nat"]), default="filter",
              show_default=True, help="The table an 'iptables -S' listing (no *table header) shows.")
@click.option("--kube-proxy-jumps", is_flag=True, help="Add kube-proxy's jumps from the built-in chains when missing.")
@click.option("--timeout", type=click.FloatRange(0.2, 10), default=1.0, show_default=True,
              help="Seconds a probe waits before its connection counts as dropped.")
@click.option("--limit", type=click.IntRange(1, 500), default=60, show_default=True, help="At most this many probes.")
@click.option("--run-id", default=None, help="Name the namespaces onet-<run-id>-… (default: random).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def verify(savefile: Path, list_table: str, kube_proxy_jumps: bool, timeout: float, limit: int,
           run_id: str | None, as_json: bool) -> None:
    """Load SAVEFILE into a throwaway node namespace between a client and a backend (as
    root), send one TCP connection or UDP datagram per probe through the kernel — ClusterIPs,
    external IPs,
    NodePorts and the node's own ports from the rules, from outside and from the node itself,
    DNAT targets, a port no rule names — and check that 'iptables trace' agrees on each:
    verdict, where it went, the destination after DNAT and the source after SNAT. Exit 0
    when all agree, 1 when one does not, 2 on bad input.

    \b
    Examples:
      overlaynet iptables verify tests/dataplane/netfilter/data/iptables-dumps/helowd-master01-fixed.iptables-save
      overlaynet iptables verify tests/dataplane/netfilter/data/iptables-dumps/aks-calico-kubenet.list-rules \\
          --table filter --json
    """
    import os

    from overlaynet.dataplane.netfilter.flow import kube_proxy_jumps as add_jumps
    from overlaynet.errors import MaterializeError
    from overlaynet.materialize.rules_verify import derive_probes, verify_ruleset

    ruleset = read_ruleset(savefile, list_table)
    if kube_proxy_jumps:
        add_jumps(ruleset)
    if os.geteuid() != 0:
        raise MaterializeError("needs root: the ruleset is loaded into network namespaces")
    report = verify_ruleset(ruleset, probes=derive_probes(ruleset, limit=limit), timeout=timeout, run_id=run_id)
    if as_json:
        from overlaynet.cli._common import echo_json

        echo_json(report.to_dict())
    else:
        for c in report.comparisons:
            mark = "agree   " if c.agree else "DISAGREE"
            click.echo(f"{mark} {c.probe}")
            click.echo(f"         kernel: {c.kernel}")
            if not c.agree or len(c.tracer) > 1 or str(c.tracer[0]) != str(c.kernel):
                click.echo(f"         tracer: {' | '.join(str(o) for o in c.tracer)}")
        for note in report.notes:
            click.echo(f"note: {note}")
        click.echo(f"{len(report.comparisons)} probes, {len(report.disagreements)} disagreements "
                   f"({report.seconds:.1f} s, run {report.run_id})")
    sys.exit(0 if report.ok else 1)
