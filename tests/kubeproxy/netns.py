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
