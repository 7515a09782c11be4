"""Fixtures for the kernel tests: a fresh run id per test, removed after it, and a
session-level safety net that removes any namespace of a run id these tests used."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from overlaynet.materialize import Materialized, materialize
from overlaynet.materialize.naming import list_namespaces, remove_run, run_prefix

_RUN_IDS: set[str] = set()


def _new_run_id() -> str:
    rid = "t" + secrets.token_hex(3)
    _RUN_IDS.add(rid)
    return rid


@pytest.fixture
def run_id() -> Iterator[str]:
    """A run id unique to this test ("t" + 6 hex); its namespaces are removed afterwards."""
    rid = _new_run_id()
    try:
        yield rid
    finally:
        remove_run(rid)


@pytest.fixture(scope="session")
def vxlan_by_hand() -> Iterator[Materialized]:
    """``irs.two_host_vxlan()`` materialized once for the tests that only read it."""
    from .irs import two_host_vxlan

    rid = _new_run_id()
    try:
        with materialize(two_host_vxlan(), run_id=rid) as m:
            yield m
    finally:
        remove_run(rid)


@pytest.fixture(scope="session", autouse=True)
def _netns_safety_net() -> Iterator[None]:
    yield
    leftovers = [rid for rid in sorted(_RUN_IDS) if list_namespaces(run_prefix(rid))]
    for rid in leftovers:
        remove_run(rid)
