"""``overlaynet kv dump``: the KV store as the driver left it after allocating a topology
(flannel's leases, Docker overlay's ``docker/network/v1.0/…`` objects), as ``etcdctl get
--prefix`` prints it."""

from __future__ import annotations

import json

import click

from overlaynet.cli._common import echo_json, load_network


@click.group()
def kv() -> None:
    """Inspect the KV store a topology's driver writes."""


@kv.command(
    "dump",
    epilog="""\b
Examples:
  overlaynet kv dump topologies/docker-k8s.yaml
  overlaynet kv dump topologies/docker-k8s.yaml --prefix docker/network/v1.0/endpoint/ --json
  overlaynet kv dump topologies/demo.yaml --prefix /coreos.com/network/""",
)
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--prefix", default="", help="Only keys starting with this (default: every key).")
@click.option("--json", "as_json", is_flag=True, help="JSON: key, value (decoded when it is JSON), revisions, version, lease.")
def dump(files: tuple[str, ...], prefix: str, as_json: bool) -> None:
    """Every key and value in the store after the driver allocated FILES (etcdctl's
    key-then-value lines), sorted by key."""
    network = load_network(files)
    entries = network.driver.kv.list_prefix(prefix)
    if as_json:
        out = []
        for e in entries:
            try:
                value: object = json.loads(e.value)
            except ValueError:
                value = e.value
            out.append({"key": e.key, "value": value, "create_revision": e.create_revision,
                        "mod_revision": e.mod_revision, "version": e.version, "lease": e.lease})
        echo_json(out)
        return
    for e in entries:
        click.echo(e.key)
        click.echo(e.value)
