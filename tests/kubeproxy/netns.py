"""Throwaway network namespaces for kernel tests: ``onet-kp-<pid>-<n>``, always deleted."""

from __future__ import annotations

import itertools
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

_counter = itertools.count()


def run(ns: str, *argv: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run a command inside namespace ``ns``."""
    return subprocess.run(
        ["ip", "netns", "exec", ns, *argv], input=input, capture_output=True, text=True, check=check, timeout=30
    )


@contextmanager
def netns(tag: str = "") -> Iterator[str]:
    name = f"onet-kp-{os.getpid()}-{tag}{next(_counter)}"
    subprocess.run(["ip", "netns", "add", name], check=True, capture_output=True, timeout=10)
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=10)


def ip(ns: str, *args: str) -> None:
    """``ip -n NS ...``, failing loudly."""
    subprocess.run(["ip", "-n", ns, *args], check=True, capture_output=True, timeout=10)


def wire(node: str, other: str, node_side: str, other_side: str, *, prefix: int = 24, iface: str | None = None) -> None:
    """A veth pair created inside the node namespace (never in the host's), one end moved to
    ``other`` as its eth0 with a default route back through the node."""
    name = iface or f"v-{other[-6:]}"[:15]
    ip(node, "link", "add", name, "type", "veth", "peer", "name", "eth0", "netns", other)
    ip(node, "addr", "add", f"{node_side}/{prefix}", "dev", name)
    ip(node, "link", "set", name, "up")
    ip(other, "addr", "add", f"{other_side}/{prefix}", "dev", "eth0")
    ip(other, "link", "set", "eth0", "up")
    ip(other, "link", "set", "lo", "up")
    ip(other, "route", "add", "default", "via", node_side)
