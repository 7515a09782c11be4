"""The demo's web view served on a free loopback port for the module's tests."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from overlaynet.network import load
from overlaynet.web.server import WebApp, make_server


@pytest.fixture(scope="module")
def base() -> Iterator[str]:
    server = make_server(WebApp(load(["topologies/demo.yaml"])), "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
