"""Fixtures for the kernel tests: a fresh run id per test, removed after it, and safety nets.

Every run id a test uses is registered in a file (``REGISTRY/<run id>`` holding the pytest
process id) until its namespaces are gone. At the end of the session every registered run
of this process is removed; at the start, every registered run whose process is dead (a
session killed by ``timeout`` or SIGKILL, which skips fixture teardown) is removed too.
Only run ids registered here are ever touched.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from overlaynet.materialize import Materialized, materialize
from overlaynet.materialize.naming import list_namespaces, remove_run, run_prefix

REGISTRY = Path("/tmp/onet-materialize-tests")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _register() -> str:
    rid = "t" + secrets.token_hex(3)
    with contextlib.suppress(OSError):
        REGISTRY.mkdir(exist_ok=True)
        (REGISTRY / rid).write_text(str(os.getpid()))
    return rid


def _release(rid: str) -> None:
    remove_run(rid)
    with contextlib.suppress(OSError):
        (REGISTRY / rid).unlink()


def _registered() -> list[tuple[str, int]]:
    out = []
    for entry in REGISTRY.glob("t*") if REGISTRY.is_dir() else []:
        with contextlib.suppress(OSError, ValueError):
            out.append((entry.name, int(entry.read_text().strip())))
    return out


@pytest.fixture
def run_id() -> Iterator[str]:
    """A run id unique to this test ("t" + 6 hex); its namespaces are removed afterwards."""
    rid = _register()
    try:
        yield rid
    finally:
        _release(rid)


@pytest.fixture(scope="session")
def vxlan_by_hand() -> Iterator[Materialized]:
    """``irs.two_host_vxlan()`` materialized once for the tests that only read it."""
    from .irs import two_host_vxlan

    rid = _register()
    try:
        with materialize(two_host_vxlan(), run_id=rid) as m:
            yield m
    finally:
        _release(rid)


@pytest.fixture(scope="session", autouse=True)
def _netns_safety_net() -> Iterator[None]:
    if os.geteuid() == 0:
        for rid, pid in _registered():
            if not _alive(pid):
                _release(rid)
    yield
    for rid, pid in _registered():
        if pid == os.getpid() and list_namespaces(run_prefix(rid)):
            _release(rid)
