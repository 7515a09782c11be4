"""Helpers every CLI module shares: load files into a network, print JSON."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from overlaynet.model import Cluster
    from overlaynet.network import Network


def load_cluster(files: tuple[str, ...] | list[str]) -> Cluster:
    """Load topology files; print warnings to stderr; errors propagate as TopologyError."""
    from overlaynet.drivers import check_network
    from overlaynet.topology import load

    result = load(list(files), network_check=check_network)
    for w in result.warnings:
        click.echo(f"warning: {w}", err=True)
    return result.cluster


def load_network(files: tuple[str, ...] | list[str], *, seed: int = 0) -> Network:
    from overlaynet.network import assemble

    return assemble(load_cluster(files), seed=seed)


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=False))
