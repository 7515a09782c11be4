"""Fixtures for the DNS tests: the test cluster, its resolver and engine, a live server."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from dns_clusters import demo_cluster

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


class ServerThread:
    """A DNSServer on its own event loop in a daemon thread (bound to 127.0.0.1:0)."""

    def __init__(self, server: DNSServer) -> None:
        self.server = server
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def start(self) -> ServerThread:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.server.start(), self.loop).result(30)
        return self

    def call(self, coro: Any, timeout: float = 30) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    @property
    def port(self) -> int:
        return self.server.address[1]

    def stop(self) -> None:
        try:
            self.call(self.server.close(), 10)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.loop.close()


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
