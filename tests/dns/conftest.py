"""Fixtures for the DNS tests: the test cluster, its resolver and engine, a live server."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from dns_clusters import demo_cluster
from dns_helpers import ServerThread

from overlaynet.dns.resolver import Resolver
from overlaynet.dns.server import DNSServer
from overlaynet.dns.wire import Engine
from overlaynet.model import Cluster


@pytest.fixture(scope="session")
def cluster() -> Cluster:
    return demo_cluster()


@pytest.fixture(scope="session")
def resolver(cluster: Cluster) -> Resolver:
    return Resolver(cluster)


@pytest.fixture(scope="session")
def engine(resolver: Resolver) -> Engine:
    return Engine(resolver)


@pytest.fixture
def start_server() -> Iterator[Callable[..., ServerThread]]:
    """Factory: ``start_server(load=..., **DNSServer options)``; stopped after the test."""
    started: list[ServerThread] = []

    def start(load: Callable[[], Cluster] | None = None, **options: Any) -> ServerThread:
        options.setdefault("listen", ("127.0.0.1", 0))
        st = ServerThread(DNSServer(load or demo_cluster, **options)).start()
        started.append(st)
        return st

    yield start
    for st in started:
        st.stop()


@pytest.fixture(scope="module")
def live_server() -> Iterator[ServerThread]:
    """One server on the test cluster shared by a module's read-only tests."""
    st = ServerThread(DNSServer(demo_cluster, listen=("127.0.0.1", 0))).start()
    yield st
    st.stop()
