"""Fixtures for the kernel tests: a fresh run id per test, removed after it, and a
session-level safety net that removes any namespace of a run id these tests used."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from overlaynet.materialize.naming import list_namespaces, remove_run, run_prefix

_RUN_IDS: set[str] = set()


@pytest.fixture
def run_id() -> Iterator[str]:
    """A run id unique to this test ("t" + 6 hex); its namespaces are removed afterwards."""
    rid = "t" + secrets.token_hex(3)
    _RUN_IDS.add(rid)
    try:
        yield rid
    finally:
        remove_run(rid)


@pytest.fixture(scope="session", autouse=True)
def _netns_safety_net() -> Iterator[None]:
    yield
    leftovers = [rid for rid in sorted(_RUN_IDS) if list_namespaces(run_prefix(rid))]
    for rid in leftovers:
        remove_run(rid)
