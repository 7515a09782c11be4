"""Helpers for the DNS tests: a DNSServer running on its own loop in a thread."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from overlaynet.dns.server import DNSServer


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
