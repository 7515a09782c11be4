"""CLI: ``trace`` (hop-by-hop packet trace), ``routes`` (a host's interfaces, routes,
neighbours, FDB in iproute2 style) and ``demo`` (a trace across the packaged demo topology)."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

import click

from overlaynet.cli._common import load_network
from overlaynet.errors import TraceError

EXAMPLES_TRACE = """
\b
Examples:
  overlaynet trace --demo
  overlaynet trace topologies/demo.yaml --from default/frontend-dtz8lffdhv-blt7m --to default/backend-lm568x9xcq-qjb4k
  overlaynet trace topologies/demo.yaml --from default/frontend-dtz8lffdhv-blt7m --to web --reply --json
  overlaynet trace topologies/demo.yaml --from default/frontend-dtz8lffdhv-blt7m --to web --brief
  overlaynet trace topologies/demo.yaml --from node-1 --to 10.244.2.3 --proto icmp --size 1480 --df
  overlaynet trace topologies/demo.yaml --from 203.0.113.9 --to 192.168.20.13:30080 --pcap out.pcap
"""


def _emit(report: Any, as_json: bool, pcap: str | None, brief: bool = False) -> None:
    from overlaynet.trace.render import render_result

    if pcap is not None:
        from overlaynet.trace.pcap import write_pcap

        traces = list(report.forward.traces[:1]) + (list(report.reply.traces[:1]) if report.reply else [])
        write_pcap(pcap, traces)
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
    else:
        width = max(100, shutil.get_terminal_size((140, 24)).columns)
        click.echo(render_result(report.forward, width=width, brief=brief), nl=False)
        if report.reply is not None:
            click.echo()
            click.echo(render_result(report.reply, label="reply", width=width, brief=brief), nl=False)
    sys.exit(0 if report.success else 1)


@click.command(epilog=EXAMPLES_TRACE)
@click.argument("files", nargs=-1, type=click.Path(exists=True))
@click.option("--from", "source", help="NS/POD (unique prefix ok), a node name, or an IP.")
@click.option("--to", "target", help="NS/POD, NS/SERVICE, a node, an IP, IP:PORT or NAME[:PORT].")
@click.option("--demo", "use_demo", is_flag=True, help="Use the packaged demo topology (and its demo trace unless --from/--to).")
@click.option("--port", type=click.IntRange(1, 65535), help="Destination port (default: the target's, else 80).")
@click.option("--proto", type=click.Choice(["tcp", "udp", "icmp"]), default="tcp", show_default=True)
@click.option("--size", type=int, default=64, show_default=True, help="IP packet size in bytes.")
@click.option("--df", is_flag=True, help="Set Don't Fragment.")
@click.option("--ttl", type=int, default=64, show_default=True)
@click.option("--reply", is_flag=True, help="Also trace the answer back (conntrack reverses NAT).")
@click.option("--all-branches", is_flag=True, help="Follow every load-balancing branch, with probabilities.")
@click.option("--client-state", type=click.Path(dir_okay=False), help="JSON file carrying ClientIP-affinity state (recent lists) between runs.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for every random choice.")
@click.option("--json", "as_json", is_flag=True, help="Print Trace.to_dict() as JSON.")
@click.option("--pcap", type=click.Path(dir_okay=False), help="Write the packet on every wire it crosses.")
@click.option("--brief", is_flag=True, help="Fold each hook's netfilter traversal into one line: the rules that decided.")
def trace(
    files: tuple[str, ...],
    source: str | None,
    target: str | None,
    use_demo: bool,
    port: int | None,
    proto: str,
    size: int,
    df: bool,
    ttl: int,
    reply: bool,
    all_branches: bool,
    client_state: str | None,
    seed: int,
    as_json: bool,
    pcap: str | None,
    brief: bool,
) -> None:
    """Trace a packet hop by hop: where it goes and why. Exit 0 when delivered or accepted,
    1 when not, 2 on bad input."""
    from overlaynet.network.request import TraceRequest, run
    from overlaynet.network.state import load_client_state, save_client_state

    if use_demo:
        files = files or (str(demo_topology()),)
    if not files:
        raise TraceError("give topology FILE(s), or --demo")
    network = load_network(files, seed=seed)
    if use_demo and source is None and target is None:
        req = demo_request(network, port=port, proto=proto, size=size, df=df, ttl=ttl, reply=reply, all_branches=all_branches, seed=seed)
    elif source is None or target is None:
        raise TraceError("give both --from and --to")
    else:
        req = TraceRequest(source, target, port, proto, size, df, ttl, reply, all_branches, seed)  # type: ignore[arg-type]
    state = load_client_state(client_state, seed)
    report = run(network, req, state)
    if client_state is not None:
        save_client_state(client_state, state)
    _emit(report, as_json, pcap, brief)


EXAMPLES_ROUTES = """
\b
Examples:
  overlaynet routes topologies/demo.yaml --node node-1
  overlaynet routes topologies/demo.yaml --node node-1 --namespace default/frontend-dtz8lffdhv-blt7m --json
  overlaynet routes topologies/demo.yaml --node core
"""


def _routes_dict(ns: Any) -> dict[str, Any]:
    from overlaynet.dataplane.iproute import (
        format_addresses,
        format_fdb,
        format_link,
        format_neighbor,
        format_route,
    )
    from overlaynet.dataplane.lookup import effective_routes

    links: list[str] = []
    for i, iface in enumerate(ns.interfaces.values(), 1):
        links += format_link(i, iface) + format_addresses(iface)
    return {
        "host": ns.ref.host,
        "namespace": ns.ref.label,
        "kind": ns.kind,
        "links": links,
        # the kernel dumps its FIB trie in key order, longer prefixes first at one key
        "routes": [
            format_route(r)
            for r in sorted(effective_routes(ns), key=lambda r: (r.dst.version, int(r.dst.network_address), -r.dst.prefixlen))
        ],
        "neighbors": [format_neighbor(n) for n in ns.neighbors],
        "fdb": [format_fdb(e) for e in ns.fdb],
        "sysctls": dict(sorted(ns.sysctls.items())),
        "forwarders": {
            name: [f"{e.dst} → {e.peer}:{e.port}" for e in fw.table] for name, fw in ns.forwarders.items()
        },
    }


@click.command(epilog=EXAMPLES_ROUTES)
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--node", required=True, help="A node or router name.")
@click.option("--namespace", "namespace", default="root", show_default=True, help="root, a pod NS/NAME, or a namespace name.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def routes(files: tuple[str, ...], node: str, namespace: str, seed: int, as_json: bool) -> None:
    """Print a host's interfaces (ip -d link / ip addr), routes (ip route), neighbours
    (ip neigh), FDB (bridge fdb) and sysctls, as the driver programmed them."""
    network = load_network(files, seed=seed)
    ref = network.namespace_of(node, namespace)
    data = _routes_dict(network.dataplane.namespaces[ref])
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    title = node if ref.is_root else f"{node} / {ref.label}"
    click.echo(f"# {title} ({data['kind']})")
    sections = [("ip -d link / ip addr", data["links"]), ("ip route", data["routes"]),
                ("ip neigh", data["neighbors"]), ("bridge fdb", data["fdb"]),
                ("sysctl", [f"{k} = {v}" for k, v in data["sysctls"].items()])]
    for fw, table in data["forwarders"].items():
        sections.append((f"forwarder {fw}", table))
    for head, lines in sections:
        click.echo(f"\n$ {head}")
        for line in lines:
            click.echo(line)


def demo_topology() -> Path:
    """The packaged demo topology (``overlaynet/examples/demo.yaml``), else the repository's."""
    from importlib import resources

    try:
        packaged = resources.files("overlaynet") / "examples" / "demo.yaml"
        if packaged.is_file():
            return Path(str(packaged))
    except (ModuleNotFoundError, FileNotFoundError):
        pass
    repo = Path(__file__).resolve().parents[2] / "topologies" / "demo.yaml"
    if repo.is_file():
        return repo
    raise TraceError("the demo topology (overlaynet/examples/demo.yaml) is not installed")


def demo_request(network: Any, **options: Any) -> Any:
    """The demo's trace: TCP from the first frontend pod on the first segment to a backend
    pod on another segment."""
    from overlaynet.network.request import TraceRequest

    cluster = network.cluster
    segment_of = {n.name: n.segment for n in cluster.nodes}
    segments = [s.name for s in cluster.underlay.segments]
    frontends = [p for p in cluster.pods if p.name.startswith("frontend") and p.node]
    backends = [p for p in cluster.pods if p.name.startswith("backend") and p.node]
    if not frontends or not backends:
        raise TraceError("the demo topology needs frontend and backend pods")
    first_seg = segments[0] if segments else None
    src = next((p for p in frontends if segment_of.get(p.node or "") == first_seg), frontends[0])
    dst = next((p for p in backends if segment_of.get(p.node or "") != segment_of.get(src.node or "")), backends[0])
    port = next((cp.port for cp in dst.ports), 8080)
    return TraceRequest(src.key, dst.key, port=options.pop("port", None) or port, **options)


@click.command(epilog="\b\nExamples:\n  overlaynet demo\n  overlaynet demo --size 1480 --df\n  overlaynet demo --brief\n  overlaynet demo --json")
@click.option("--size", type=int, default=64, show_default=True)
@click.option("--df", is_flag=True)
@click.option("--reply", is_flag=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@click.option("--pcap", type=click.Path(dir_okay=False))
@click.option("--brief", is_flag=True, help="Fold each hook's netfilter traversal into one line.")
def demo(size: int, df: bool, reply: bool, seed: int, as_json: bool, pcap: str | None, brief: bool) -> None:
    """Trace TCP from a frontend pod on rack-a to a backend pod on rack-b across the packaged
    demo topology (Flannel VXLAN, two racks joined by router core)."""
    from overlaynet.network.request import run

    path = demo_topology()
    network = load_network((str(path),), seed=seed)
    req = demo_request(network, size=size, df=df, reply=reply, seed=seed)
    if not as_json:
        click.echo(f"demo: {path.name} — {req.source} → {req.target}:{req.port}\n")
    _emit(run(network, req), as_json, pcap, brief)
