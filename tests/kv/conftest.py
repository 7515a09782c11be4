"""Fixtures of the KV contract suite: one ``kv`` fixture per backend.

The etcd backend runs against the real ``etcd`` binary (Debian etcd-server), started once per
session on free loopback ports in a temporary data directory, and killed at the end.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from overlaynet.kv import KVStore, MemoryKV


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=1) as resp:
            return bool(json.load(resp).get("health") == "true")
    except (OSError, ValueError):
        return False


@pytest.fixture(scope="session")
def etcd_url() -> Iterator[str]:
    """A real etcd on loopback for the whole session; its URL."""
    binary = shutil.which("etcd")
    if binary is None:
        pytest.skip("needs etcd (Debian etcd-server)")
    data = Path(tempfile.mkdtemp(prefix="onet-kv-etcd-"))
    client, peer = _free_port(), _free_port()
    url, peer_url = f"http://127.0.0.1:{client}", f"http://127.0.0.1:{peer}"
    log = (data / "etcd.log").open("wb")
    proc = subprocess.Popen(
        [binary, "--name", "onet-kv", "--data-dir", str(data / "data"),
         "--listen-client-urls", url, "--advertise-client-urls", url,
         "--listen-peer-urls", peer_url, "--initial-advertise-peer-urls", peer_url,
         "--initial-cluster", f"onet-kv={peer_url}", "--log-level", "error"],
        stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while not _healthy(url):
            if proc.poll() is not None or time.monotonic() > deadline:
                log.flush()
                tail = (data / "etcd.log").read_text(errors="replace")[-2000:]
                pytest.fail(f"etcd did not become healthy at {url}:\n{tail}")
            time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        shutil.rmtree(data, ignore_errors=True)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=["memory", pytest.param("etcd", marks=pytest.mark.etcd)])
def kv(request: pytest.FixtureRequest, clock: FakeClock) -> Iterator[KVStore]:
    """A store of each backend, empty at the start of the test."""
    store: KVStore
    if request.param == "memory":
        store = MemoryKV(clock=clock)
    else:
        from overlaynet.kv import EtcdKV

        store = EtcdKV([request.getfixturevalue("etcd_url")])
        store.delete_prefix("")
    try:
        yield store
    finally:
        store.close()
