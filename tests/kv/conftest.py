"""Fixtures of the KV contract suite: one ``kv`` fixture per backend.

The etcd backend runs against the real ``etcd`` binary (Debian etcd-server), started once per
session on free loopback ports in a temporary data directory, and killed at the end.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest

from overlaynet.kv import KVStore, MemoryKV, NamespacedKV
from overlaynet.testing.etcd import local_etcd


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(scope="session")
def etcd_url() -> Iterator[str]:
    """A real etcd on loopback for the whole session; its URL."""
    if shutil.which("etcd") is None:  # as the etcd marker: a failure in CI, a skip elsewhere
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("CI=true and a required component is missing: needs etcd (Debian etcd-server)")
        pytest.skip("needs etcd (Debian etcd-server)")
    with local_etcd() as url:
        yield url


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=["memory", "namespaced", pytest.param("etcd", marks=pytest.mark.etcd)])
def kv(request: pytest.FixtureRequest, clock: FakeClock) -> Iterator[KVStore]:
    """A store of each backend, empty at the start of the test (``namespaced``: a memory
    store seen through NamespacedKV, next to a neighbour's key it must never see)."""
    store: KVStore
    if request.param == "memory":
        store = MemoryKV(clock=clock)
    elif request.param == "namespaced":
        inner = MemoryKV(clock=clock)
        inner.put("/other-cluster/net/x", "not mine")
        store = NamespacedKV(inner, "/cluster-a")
    else:
        from overlaynet.kv import EtcdKV

        store = EtcdKV([request.getfixturevalue("etcd_url")])
        store.delete_prefix("")
    try:
        yield store
    finally:
        store.close()
