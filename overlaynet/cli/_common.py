"""Helpers every CLI module shares: load files into a network, print JSON."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from rich.console import Console

    from overlaynet.model import Cluster
    from overlaynet.network import Network


def load_cluster(files: tuple[str, ...] | list[str]) -> Cluster:
    """Load topology files (a second load of unchanged files comes from the on-disk cache,
    ``overlaynet.topology.cache``); print warnings to stderr; errors propagate as
    TopologyError."""
    from overlaynet.drivers import check_network
    from overlaynet.topology.cache import load_cached

    result = load_cached(list(files), network_check=check_network, keep=True)
    for w in result.warnings:
        click.echo(f"warning: {w}", err=True)
    _settle_collector()
    return result.cluster


def _settle_collector() -> None:
    """The loaded cluster (10^6 objects at 150,000 pods) lives as long as the command: take
    it out of the cyclic collector's scans, collect the young generation every 100,000
    allocations instead of 700 and the whole heap more rarely — programming a node at
    10,000 Services allocates ~10^6 objects that all survive, and the default thresholds
    spent two thirds of that time scanning them (benchmarks/scale.py, second trace)."""
    import gc

    gc.collect()  # cheap when the cache froze the cluster already; garbage is never frozen
    gc.freeze()
    threshold, middle, oldest = gc.get_threshold()
    gc.set_threshold(max(threshold, 100_000), max(middle, 20), max(oldest, 100))


def load_network(files: tuple[str, ...] | list[str], *, seed: int = 0) -> Network:
    from overlaynet.network import assemble

    return assemble(load_cluster(files), seed=seed)


def serve_until_interrupted(option: str, address: str, make: Callable[[str, int], Any], what: str) -> None:
    """``--listen``/``--serve HOST:PORT``: bind ``make(host, port)`` (a ThreadingHTTPServer)
    there and serve until Ctrl-C; a bad address or one that cannot be bound is a UsageError
    (exit 2)."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise click.UsageError(f"{option} {address!r}: expected HOST:PORT, e.g. 127.0.0.1:8080")
    host = host.strip("[]") or "127.0.0.1"
    try:
        server = make(host, int(port))
    except OSError as exc:
        raise click.UsageError(f"{option} {address}: cannot serve there: {exc.strerror or exc}") from None
    shown = f"[{host}]" if ":" in host else host
    click.echo(f"{what}: http://{shown}:{server.server_address[1]}/  (Ctrl-C stops)", err=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def plain_console(**options: Any) -> Console:
    """A rich Console that prints user data exactly: no markup (``[x]``), no emoji codes (an
    IPv6 address ``2001:db8:a:b::11`` holds ``:b:``, which rich would print as 🅱), no
    highlighting. Every table and line the CLI prints goes through one of these; styles are
    given as rich ``Text`` styles, never as markup inside strings."""
    from rich.console import Console

    return Console(markup=False, emoji=False, highlight=False, **options)


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=False))
