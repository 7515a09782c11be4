"""CLI: ``weave status`` — a Weave topology's peers, connections and IPAM ring."""

from __future__ import annotations

import click

from overlaynet.cli._common import echo_json, load_network
from overlaynet.errors import TraceError


@click.group()
def weave() -> None:
    """Weave Net: what ``weave status`` would print on the peers of a topology."""


@weave.command(
    epilog="""
\b
Examples:
  overlaynet weave status topologies/weave-partial-mesh.yaml
  overlaynet weave status topologies/weave-partial-mesh.yaml --node node-2 --json
"""
)
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--node", help="Show only this peer's connections (and the ring as it sees it).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def status(files: tuple[str, ...], node: str | None, as_json: bool) -> None:
    """Peers, connections (established or failed and why, fastdp or sleeve, encrypted) and
    IPAM ownership, as ``weave status connections`` and ``weave status ipam``."""
    network = load_network(files)
    from overlaynet.drivers.weave import WeaveDriver
    from overlaynet.drivers.weave import status as weave_status

    driver = network.driver
    if not isinstance(driver, WeaveDriver):
        raise TraceError(f"weave status: the topology uses the {driver.name} driver, not weave")
    names = sorted(driver.mesh.peers)
    if node is not None and node not in names:
        raise TraceError(f"--node {node}: no such peer; peers: {', '.join(names)}")
    data = weave_status.status(driver, node)
    if as_json:
        echo_json(data)
    else:
        click.echo(weave_status.render(data))
