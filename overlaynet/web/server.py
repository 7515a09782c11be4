"""The web view's server: the standard library's HTTP server on loopback, the page's static
assets from the package, and a small JSON API over one loaded network.

    GET /                     the page (static/index.html)
    GET /static/<file>        app.js, app.css
    GET /api/topology         topology_view(cluster)
    GET /api/trace?from=&to=&port=&proto=&size=&df=1&all=1
                              trace_view of that trace, or 400 {"error": ...} on bad words
    GET /api/reach?port=      the reach matrix

The network is built lazily per host as traces enter it, so requests are served one at a
time (a lock), as the CLI would run them one after the other.
"""

from __future__ import annotations

import json
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from overlaynet.errors import OverlaynetError
from overlaynet.web.view import reach_view, topology_view, trace_view

if TYPE_CHECKING:
    from overlaynet.network import Network

__all__ = ["WebApp", "serve"]

_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
_STATIC = ("index.html", "app.js", "app.css")


def static_text(name: str) -> str:
    return resources.files("overlaynet.web").joinpath("static", name).read_text(encoding="utf-8")


class WebApp:
    """The answers the page asks for, as (status, content type, body)."""

    def __init__(self, network: Network) -> None:
        self.network = network
        self.lock = threading.Lock()
        self._topology: bytes | None = None

    def handle(self, path: str, query: dict[str, list[str]]) -> tuple[int, str, bytes]:
        if path in ("/", "/index.html"):
            return 200, _TYPES[".html"], static_text("index.html").encode()
        if path.startswith("/static/"):
            name = path[len("/static/"):]
            if name not in _STATIC:
                return self._error(HTTPStatus.NOT_FOUND, f"no such file {name!r}")
            return 200, _TYPES["." + name.rsplit(".", 1)[1]], static_text(name).encode()
        try:
            with self.lock:
                if path == "/api/topology":
                    if self._topology is None:
                        self._topology = json.dumps(topology_view(self.network.cluster)).encode()
                    return 200, "application/json", self._topology
                if path == "/api/trace":
                    return self._json(self._trace(query))
                if path == "/api/reach":
                    port = _int(query, "port")
                    return self._json(reach_view(self.network.reach(port=port)))
        except OverlaynetError as exc:
            return self._error(HTTPStatus.BAD_REQUEST, str(exc))
        except ValueError as exc:
            return self._error(HTTPStatus.BAD_REQUEST, str(exc))
        return self._error(HTTPStatus.NOT_FOUND, f"no such page {path!r}")

    def _trace(self, query: dict[str, list[str]]) -> dict[str, Any]:
        src, dst = _one(query, "from"), _one(query, "to")
        if not src or not dst:
            raise ValueError("a trace needs from= and to=")
        proto = _one(query, "proto") or "tcp"
        if proto not in ("tcp", "udp", "icmp"):
            raise ValueError(f"proto={proto!r}: expected tcp, udp or icmp")
        report = self.network.trace(
            src, dst, port=_int(query, "port"), proto=proto,  # type: ignore[arg-type]
            size=_int(query, "size") or 64, df=_one(query, "df") in ("1", "true", "on"),
            all_branches=_one(query, "all") in ("1", "true", "on"),
        )
        return trace_view(self.network.cluster, report)

    @staticmethod
    def _json(data: Any) -> tuple[int, str, bytes]:
        return 200, "application/json", json.dumps(data).encode()

    @staticmethod
    def _error(status: HTTPStatus, message: str) -> tuple[int, str, bytes]:
        return int(status), "application/json", json.dumps({"error": message}).encode()


def _one(query: dict[str, list[str]], key: str) -> str:
    values = query.get(key) or [""]
    return values[0].strip()


def _int(query: dict[str, list[str]], key: str) -> int | None:
    text = _one(query, key)
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{key}={text!r}: expected a whole number") from None


def make_server(app: WebApp, host: str = "127.0.0.1", port: int = 8080) -> ThreadingHTTPServer:
    """An HTTP server for ``app`` bound to host:port (port 0: any free port)."""

    class Handler(BaseHTTPRequestHandler):
        server_version = "overlaynet"

        def do_GET(self) -> None:  # noqa: N802 - the standard library's name
            parts = urlsplit(self.path)
            status, ctype, body = app.handle(parts.path, parse_qs(parts.query))
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            return  # quiet: the CLI prints the address once

    return ThreadingHTTPServer((host, port), Handler)


def serve(network: Network, host: str = "127.0.0.1", port: int = 8080) -> None:  # pragma: no cover - blocks
    server = make_server(WebApp(network), host, port)
    try:
        server.serve_forever()
    finally:
        server.server_close()
