"""``overlaynet dns …``: serve, query, resolve from a pod, export the zone, env variables."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from overlaynet.cli._common import echo_json, load_cluster
from overlaynet.errors import DNSError

if TYPE_CHECKING:
    from overlaynet.dns.resolver import Resolver, Response

PODS = click.Choice(["insecure", "verified", "disabled"])
_FILE = click.Path(exists=True, path_type=Path)


def _resolver(files: tuple[str, ...], legacy: bool | None, pods: str | None) -> Resolver:
    from overlaynet.dns.resolver import Resolver

    return Resolver(load_cluster(files), legacy_names=legacy, pods_mode=pods)


def _dig_text(response: Response, recursion_available: bool) -> str:
    """The response laid out like dig's sections."""
    import dns.rdatatype

    flags = ["qr"] + (["aa"] if response.authoritative else []) + (["ra"] if recursion_available else [])
    lines = [
        f";; ->>HEADER<<- opcode: QUERY, status: {response.kind.upper() if response.forward else _rcode(response)}",
        f";; flags: {' '.join(flags)}; QUERY: 1, ANSWER: {len(response.answer)}, "
        f"AUTHORITY: {len(response.authority)}, ADDITIONAL: {len(response.additional)}",
        "",
        ";; QUESTION SECTION:",
        f";{response.name}\t\tIN\t{dns.rdatatype.to_text(response.rdtype)}",
    ]
    for title, records in (("ANSWER", response.answer), ("AUTHORITY", response.authority),
                           ("ADDITIONAL", response.additional)):
        if records:
            lines += ["", f";; {title} SECTION:"]
            lines += [f"{r.name}\t{r.ttl}\tIN\t{r.type}\t{r.data}" for r in records]
    return "\n".join(lines)


def _rcode(response: Response) -> str:
    import dns.rcode

    return dns.rcode.to_text(response.rcode)


@click.group("dns")
def dns() -> None:
    """Cluster DNS as CoreDNS's kubernetes plugin answers it.

    \b
    Examples:
      overlaynet dns serve topologies/demo.yaml --listen 127.0.0.1:5353
      overlaynet dns query topologies/demo.yaml web.default.svc.cluster.local
      overlaynet dns resolve topologies/demo.yaml --from default/frontend-dtz8lffdhv-blt7m web
      overlaynet dns zone topologies/demo.yaml > cluster.local.zone
      overlaynet dns env topologies/demo.yaml --pod default/frontend-dtz8lffdhv-blt7m
    """


@dns.command("serve")
@click.argument("files", nargs=-1, required=True, type=_FILE)
@click.option("--listen", default="127.0.0.1:5353", show_default=True, help="IP:PORT for UDP and TCP.")
@click.option("--upstream", "upstreams", multiple=True, metavar="IP:PORT", help="Forward names outside the zone here (repeatable); none: REFUSED.")
@click.option("--no-legacy-names", is_flag=True, help="Do not answer the 2015 form svc.ns.<zone> (answer exactly as CoreDNS).")
@click.option("--pods", type=PODS, default=None, help="Pod records a-b-c-d.ns.pod.<zone> (default: the topology's dns.pods).")
@click.option("--ttl", type=click.IntRange(0, 3600), default=30, show_default=True, help="TTL of the answers.")
@click.option("--poll", type=float, default=1.0, show_default=True, help="Seconds between checks of the files for changes.")
@click.option("-q", "--quiet", is_flag=True, help="Log only errors.")
def serve(files: tuple[str, ...], listen: str, upstreams: tuple[str, ...], no_legacy_names: bool,
          pods: str | None, ttl: int, poll: float, quiet: bool) -> None:
    """Serve the cluster zone over UDP and TCP until SIGTERM/SIGINT; reload on SIGHUP or when
    a FILE changes.

    \b
    Examples:
      overlaynet dns serve topologies/demo.yaml
      dig @127.0.0.1 -p 5353 web.default.svc.cluster.local
      overlaynet dns serve topologies/demo.yaml --listen 127.0.0.1:0 --upstream 9.9.9.9:53
    """
    from overlaynet.dns.server import DNSServer, parse_listen
    from overlaynet.dns.server import serve as run

    logging.basicConfig(level=logging.ERROR if quiet else logging.INFO, stream=sys.stderr,
                        format="%(asctime)s overlaynet-dns: %(message)s")
    server = DNSServer(
        lambda: load_cluster(files), listen=parse_listen(listen), upstreams=upstreams or None,
        legacy_names=False if no_legacy_names else None, pods_mode=pods, ttl=ttl,
        watch=files, poll_interval=poll,
    )
    run(server)


@dns.command("query")
@click.argument("file", type=_FILE)
@click.argument("name")
@click.option("--type", "qtype", default="A", show_default=True, help="Record type (A, AAAA, SRV, PTR, TXT, SOA, NS, CNAME, …).")
@click.option("--no-legacy-names", is_flag=True, help="Answer exactly as CoreDNS (no svc.ns.<zone>).")
@click.option("--pods", type=PODS, default=None, help="Pod records mode (default: the topology's).")
@click.option("--json", "as_json", is_flag=True, help="The response as JSON.")
def query(file: str, name: str, qtype: str, no_legacy_names: bool, pods: str | None, as_json: bool) -> None:
    """The authoritative answer for NAME, shown like dig. Exit 1 when there is no answer.

    \b
    Examples:
      overlaynet dns query topologies/demo.yaml web.default.svc.cluster.local
      overlaynet dns query topologies/demo.yaml _http._tcp.web.default.svc.cluster.local --type SRV
      overlaynet dns query topologies/demo.yaml 1.0.96.10.in-addr.arpa --type PTR --json
    """
    resolver = _resolver((file,), False if no_legacy_names else None, pods)
    response = resolver.answer(name, qtype)
    if as_json:
        echo_json(response.to_dict())
    else:
        click.echo(_dig_text(response, bool(resolver.upstreams)))
        if response.forward:
            click.echo(f";; outside the zone: forwarded to {', '.join(map(str, response.forward))}")
    sys.exit(0 if response.kind == "answer" else 1)


@dns.command("resolve")
@click.argument("file", type=_FILE)
@click.argument("name")
@click.option("--from", "pod", required=True, metavar="NS/POD", help="The pod whose resolv.conf is used.")
@click.option("--type", "qtype", default="A", show_default=True, help="Record type.")
@click.option("--upstream", "upstreams", multiple=True, metavar="IP:PORT",
              help="Ask this nameserver about names outside the cluster zone, as CoreDNS's forward plugin "
                   "(repeatable, tried in order; default: the topology's dns.upstreams; none: REFUSED).")
@click.option("--timeout", type=click.FloatRange(0.1, 30), default=2.0, show_default=True,
              help="Seconds to wait for each upstream.")
@click.option("--no-legacy-names", is_flag=True, help="Answer exactly as CoreDNS.")
@click.option("--json", "as_json", is_flag=True, help='{"queries": [...], "answer": [...]}.')
def resolve(file: str, name: str, pod: str, qtype: str, upstreams: tuple[str, ...], timeout: float,
            no_legacy_names: bool, as_json: bool) -> None:
    """Resolve NAME as a pod does: every query of the search path, in order, with its rcode.
    Names outside the cluster zone are forwarded to the upstreams (real DNS queries), as
    CoreDNS does. Exit 1 when the name does not resolve.

    \b
    Examples:
      overlaynet dns resolve topologies/demo.yaml --from default/frontend-dtz8lffdhv-blt7m web
      overlaynet dns resolve topologies/demo.yaml --from default/frontend-dtz8lffdhv-blt7m www.example.com \\
          --upstream 127.0.0.53 --json
    """
    from overlaynet.dns.client import client_resolve, resolv_conf
    from overlaynet.dns.resolver import Resolver
    from overlaynet.dns.upstream import UpstreamForwarder

    resolver = Resolver(load_cluster((file,)), legacy_names=False if no_legacy_names else None,
                        upstream=upstreams or None)
    forwarder = UpstreamForwarder(resolver.upstreams, timeout) if resolver.upstreams else None
    result = client_resolve(resolver.cluster, pod, name, qtype, resolver=resolver, forwarder=forwarder)
    if as_json:
        echo_json(result.to_dict())
    else:
        click.echo(f";; {result.pod} resolv.conf:")
        for line in resolv_conf(resolver.cluster, result.pod).splitlines():
            click.echo(f";;   {line}")
        click.echo(";; queries sent:")
        for i, q in enumerate(result.queries, 1):
            note = " (no data)" if q.rcode == "NOERROR" and not q.answers else ""
            click.echo(f";;   {i}. {q.name:<55} {q.type:<5} {q.rcode}{note}")
        click.echo(f";; result: {result.rcode}")
        for rec in result.answer:
            click.echo(rec.to_text())
    sys.exit(0 if result.resolved else 1)


@dns.command("zone")
@click.argument("files", nargs=-1, required=True, type=_FILE)
@click.option("--no-legacy-names", is_flag=True, help="Leave out the svc.ns.<zone> names.")
@click.option("--pods", type=PODS, default=None, help="Pod records mode (default: the topology's).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Write here instead of stdout.")
def zone(files: tuple[str, ...], no_legacy_names: bool, pods: str | None, output: Path | None) -> None:
    """The cluster zone as an RFC 1035 zone file (named-checkzone and NSD load it).

    \b
    Examples:
      overlaynet dns zone topologies/demo.yaml -o cluster.local.zone
      named-checkzone cluster.local cluster.local.zone
    """
    from overlaynet.dns.zone import zone_text

    text = zone_text(_resolver(files, False if no_legacy_names else None, pods))
    if output is None:
        click.echo(text, nl=False)
    else:
        try:
            output.write_text(text)
        except OSError as exc:
            raise DNSError(f"cannot write {output}: {exc.strerror or exc}") from None


@dns.command("env")
@click.argument("files", nargs=-1, required=True, type=_FILE)
@click.option("--pod", required=True, metavar="NS/POD", help="The pod whose containers get the variables.")
@click.option("--no-service-links", is_flag=True, help="As enableServiceLinks: false (only kubernetes.default); default: the pod's own spec.enableServiceLinks.")
@click.option("--json", "as_json", is_flag=True, help="Variables and skipped services as JSON.")
def env(files: tuple[str, ...], pod: str, no_service_links: bool, as_json: bool) -> None:
    """The service environment variables the kubelet injects into POD's containers: only
    services with a ClusterIP in the pod's namespace (and kubernetes.default) created
    before the pod.

    \b
    Examples:
      overlaynet dns env topologies/demo.yaml --pod default/frontend-dtz8lffdhv-blt7m
    """
    from overlaynet.dns.env import pod_environment

    result = pod_environment(load_cluster(files), pod, enable_service_links=False if no_service_links else None)
    if as_json:
        echo_json({
            "pod": result.pod,
            "variables": result.as_dict(),
            "skipped": [{"service": s.service, "reason": s.reason} for s in result.skipped],
        })
        return
    for var in result.variables:
        click.echo(f"{var.name}={var.value}")
    for skipped in result.skipped:
        click.echo(f"# not injected: {skipped.service}: {skipped.reason}")
