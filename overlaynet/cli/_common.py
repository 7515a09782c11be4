"""Helpers every CLI module shares: load files into a network, print JSON."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from overlaynet.assemble import Network
    from overlaynet.dataplane.ir import NsRef
    from overlaynet.model import Cluster


def load_cluster(files: tuple[str, ...] | list[str]) -> Cluster:
    """Load topology files; print warnings to stderr; errors propagate as TopologyError."""
    from overlaynet.drivers import check_network
    from overlaynet.topology import load

    result = load(list(files), network_check=check_network)
    for w in result.warnings:
        click.echo(f"warning: {w}", err=True)
    return result.cluster


def load_network(files: tuple[str, ...] | list[str], *, seed: int = 0) -> Network:
    from overlaynet.assemble import assemble

    return assemble(load_cluster(files), seed=seed)


def namespace_ref(host: str, text: str) -> NsRef:
    """``--namespace`` on ``host``: ``root``, a pod ``NS/NAME`` (or ``pod:NS/NAME``), or the
    name of a namespace an agent created; bad words are a TraceError (exit 2)."""
    from overlaynet.dataplane.ir import NsRef
    from overlaynet.errors import TraceError

    try:
        if "/" in text and not text.startswith("pod:"):
            return NsRef.pod(host, text)
        return NsRef.on(host, text)
    except ValueError as e:
        raise TraceError(f"--namespace {text!r}: {e}") from None


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=False))
