"""The cluster DNS server: asyncio UDP + TCP around ``wire.Engine``; stdlib only.

UDP is read straight off a non-blocking socket (many datagrams per wake-up) and answered from
the engine's precomputed wire responses; TCP runs one task per connection with read
timeouts, so a slow client never stalls UDP. Names outside the zone go to the upstreams
(UDP with a timeout, TCP when truncated). The topology is reloaded when a watched file
changes (mtime polling) or on SIGHUP; SIGTERM/SIGINT shut down cleanly.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ipaddress
import logging
import os
import secrets
import signal
import socket
import struct
from collections.abc import Callable, Sequence
from pathlib import Path

import dns.message

from overlaynet.dns.codec import parse_query, parse_simple
from overlaynet.dns.message import Upstream, parse_upstream
from overlaynet.dns.records import DEFAULT_TTL
from overlaynet.dns.resolver import Resolver
from overlaynet.dns.wire import Engine, UpstreamRequest
from overlaynet.errors import DNSError, OverlaynetError
from overlaynet.model import Cluster

log = logging.getLogger("overlaynet.dns.server")

UDP_BURST = 256  # datagrams handled per readiness callback
UDP_QUERY_MAX = 4096  # a query longer than this over UDP is cut, hence FORMERR
UDP_BUFFER = 4 << 20  # socket buffer bytes (the kernel caps it at net.core.rmem_max)
MAX_TCP_CONNECTIONS = 256
MAX_UPSTREAM_INFLIGHT = 1024


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT`` / ``[v6]:PORT`` / ``:PORT`` → (host, port); DNSError when malformed."""
    raw = text.strip()
    if raw.startswith("["):
        host, _, rest = raw[1:].partition("]")
        port = rest[1:]
    else:
        host, _, port = raw.rpartition(":")
    host = host or "127.0.0.1"
    try:
        ipaddress.ip_address(host)
        number = int(port)
    except ValueError:
        raise DNSError(f"--listen {text!r}: expected IP:PORT, e.g. 127.0.0.1:5353") from None
    if not 0 <= number < 65536:
        raise DNSError(f"--listen {text!r}: port must be 0-65535")
    return host, number


class DNSServer:
    """Serve one topology. ``load`` returns the Cluster (called again on reload); ``watch``
    lists the files whose mtime triggers a reload."""

    def __init__(
        self,
        load: Callable[[], Cluster],
        *,
        listen: tuple[str, int] = ("127.0.0.1", 5353),
        upstreams: Sequence[str | Upstream] | None = None,
        legacy_names: bool | None = None,
        pods_mode: str | None = None,
        ttl: int = DEFAULT_TTL,
        watch: Sequence[str | os.PathLike[str]] = (),
        poll_interval: float = 1.0,
        tcp_idle_timeout: float = 10.0,
        upstream_timeout: float = 2.0,
    ) -> None:
        self._load = load
        self._listen = listen
        self._upstreams = None if upstreams is None else tuple(parse_upstream(u) for u in upstreams)
        self._options = {"legacy_names": legacy_names, "pods_mode": pods_mode, "ttl": ttl}
        self._watch = tuple(Path(p) for p in watch)
        self._poll_interval = poll_interval
        self._tcp_idle = tcp_idle_timeout
        self._upstream_timeout = upstream_timeout
        self._engine: Engine | None = None
        self._udp: socket.socket | None = None
        self._tcp: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._tcp_count = 0
        self._mtimes: tuple[float, ...] = ()
        self._stopped: asyncio.Event | None = None
        self.reloads = 0

    # --- lifecycle -------------------------------------------------------------------------
    @property
    def engine(self) -> Engine:
        if self._engine is None:
            raise DNSError("the server has not loaded a topology yet")
        return self._engine

    @property
    def address(self) -> tuple[str, int]:
        """The bound (host, port) — useful with port 0."""
        if self._udp is None:
            return self._listen
        host, port = self._udp.getsockname()[:2]
        return host, port

    def build(self) -> Engine:
        """Load the topology and build a fresh engine (answers precomputed)."""
        self._mtimes = self._current_mtimes()
        cluster = self._load()
        serial = int(max(self._mtimes)) if self._mtimes else None
        resolver = Resolver(
            cluster, upstream=self._upstreams, serial=serial,
            legacy_names=self._options["legacy_names"],  # type: ignore[arg-type]
            pods_mode=self._options["pods_mode"],  # type: ignore[arg-type]
            ttl=self._options["ttl"],  # type: ignore[arg-type]
        )
        return Engine(resolver)

    async def start(self) -> None:
        """Load the topology, bind UDP and TCP, start the reload watcher."""
        loop = asyncio.get_running_loop()
        self._engine = self.build()
        self._stopped = asyncio.Event()
        host, port = self._listen
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        for attempt in range(5):
            udp = socket.socket(family, socket.SOCK_DGRAM)
            try:
                udp.setblocking(False)
                for opt in (socket.SO_RCVBUF, socket.SO_SNDBUF):  # absorb bursts while busy
                    with contextlib.suppress(OSError):
                        udp.setsockopt(socket.SOL_SOCKET, opt, UDP_BUFFER)
                udp.bind((host, port))
                bound = udp.getsockname()[1]
                tcp = socket.socket(family, socket.SOCK_STREAM)
                tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    tcp.bind((host, bound))
                except OSError:
                    tcp.close()
                    raise
            except OSError as exc:
                udp.close()
                if port == 0 and exc.errno == errno.EADDRINUSE and attempt < 4:
                    continue
                raise DNSError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
            break
        tcp.setblocking(False)
        self._udp = udp
        loop.add_reader(udp.fileno(), self._on_udp)
        self._tcp = await asyncio.start_server(self._on_tcp, sock=tcp, backlog=128)
        if self._watch:
            self._spawn(self._watch_files())
        log.info("serving %s on %s:%d (udp, tcp), %d answers precomputed",
                 self.engine.resolver.zone, *self.address, self.engine.precomputed)

    async def close(self) -> None:
        loop = asyncio.get_running_loop()
        if self._udp is not None:
            loop.remove_reader(self._udp.fileno())
            self._udp.close()
            self._udp = None
        if self._tcp is not None:
            self._tcp.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._tcp.wait_closed(), 1.0)
            self._tcp = None
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._stopped is not None:
            self._stopped.set()

    def stop(self) -> None:
        """Ask ``serve_forever`` to return (safe from a signal handler)."""
        if self._stopped is not None:
            self._stopped.set()

    async def serve_forever(self) -> None:
        """Start, handle SIGHUP (reload) and SIGTERM/SIGINT (stop), serve until stopped."""
        await self.start()
        loop = asyncio.get_running_loop()
        handled: list[signal.Signals] = []
        for sig, handler in ((signal.SIGHUP, self._reload_soon), (signal.SIGTERM, self.stop),
                             (signal.SIGINT, self.stop)):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, handler)
                handled.append(sig)
        try:
            assert self._stopped is not None
            await self._stopped.wait()
        finally:
            for sig in handled:
                loop.remove_signal_handler(sig)
            await self.close()
            log.info("stopped")

    # --- reload ----------------------------------------------------------------------------
    def reload(self) -> bool:
        """Rebuild from the topology now; on a bad file keep serving the old answers."""
        try:
            engine = self.build()
        except OverlaynetError as exc:
            log.error("reload failed, keeping the previous topology:\n%s", exc)
            return False
        self._engine = engine
        self.reloads += 1
        log.info("reloaded: %d answers precomputed", engine.precomputed)
        return True

    def _reload_soon(self) -> None:
        self._spawn(self._reload_async())

    async def _reload_async(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            engine = await loop.run_in_executor(None, self.build)
        except OverlaynetError as exc:
            log.error("reload failed, keeping the previous topology:\n%s", exc)
            return
        except Exception:
            log.exception("reload failed, keeping the previous topology")
            return
        self._engine = engine
        self.reloads += 1
        log.info("reloaded: %d answers precomputed", engine.precomputed)

    def _current_mtimes(self) -> tuple[float, ...]:
        out: list[float] = []
        for path in self._watch:
            files = sorted(path.glob("*.yaml")) if path.is_dir() else [path]
            for f in files:
                with contextlib.suppress(OSError):
                    out.append(f.stat().st_mtime)
        return tuple(out)

    async def _watch_files(self) -> None:
        while True:
            await asyncio.sleep(self._poll_interval)
            if self._current_mtimes() != self._mtimes:
                await self._reload_async()

    # --- UDP -------------------------------------------------------------------------------
    def _on_udp(self) -> None:
        # The hot path: kept free of per-packet allocations beyond the reply itself.
        sock = self._udp
        engine = self._engine
        if sock is None or engine is None:
            return
        recvfrom, sendto, get = sock.recvfrom, sock.sendto, engine.raw_cache.get
        for _ in range(UDP_BURST):
            try:
                data, addr = recvfrom(UDP_QUERY_MAX)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                continue  # e.g. an ICMP error queued on the socket
            hit = get(data[2:])
            if hit is not None:
                try:  # noqa: SIM105 - contextlib.suppress costs an object per packet here
                    sendto(data[:2] + hit, addr)
                except OSError:
                    pass
                continue
            out = engine.handle(data)
            if out is None:
                continue
            if isinstance(out, bytes):
                try:  # noqa: SIM105
                    sendto(out, addr)
                except OSError:
                    pass
            elif len(self._tasks) < MAX_UPSTREAM_INFLIGHT:
                self._spawn(self._udp_upstream(engine, out, addr))

    async def _udp_upstream(self, engine: Engine, request: UpstreamRequest, addr: tuple[str, int]) -> None:
        out = engine.finish(request, await self._ask(request))
        if self._udp is not None:
            with contextlib.suppress(OSError):
                self._udp.sendto(out, addr)

    # --- TCP -------------------------------------------------------------------------------
    async def _on_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._tcp_count >= MAX_TCP_CONNECTIONS:
            writer.close()
            return
        self._tcp_count += 1
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            while True:
                head = await asyncio.wait_for(reader.readexactly(2), self._tcp_idle)
                data = await asyncio.wait_for(
                    reader.readexactly(int.from_bytes(head, "big")), self._tcp_idle
                )
                engine = self.engine
                out = engine.handle(data, tcp=True)
                if out is None:
                    break  # garbage: drop the connection
                if isinstance(out, UpstreamRequest):
                    out = engine.finish(out, await self._ask(out))
                writer.write(len(out).to_bytes(2, "big") + out)
                await asyncio.wait_for(writer.drain(), self._tcp_idle)
        except (asyncio.IncompleteReadError, TimeoutError, ConnectionError, OSError):
            pass
        except asyncio.CancelledError:
            pass
        except Exception:  # never let one connection take the server down
            log.exception("TCP connection failed")
        finally:
            self._tcp_count -= 1
            if task is not None:
                self._tasks.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 1.0)

    # --- upstreams -------------------------------------------------------------------------
    async def _ask(self, request: UpstreamRequest) -> bytes | dns.message.Message | None:
        """Forward the query (or the ExternalName chase) to the upstreams in order."""
        response = request.response
        if response.forward:
            for upstream in response.forward:
                reply = await self._exchange(request.wire, upstream, tcp=request.udp_limit is None)
                if reply is not None:
                    return reply
            return None
        assert response.chase is not None
        query = dns.message.make_query(response.chase, response.rdtype)
        for upstream in self.engine.resolver.upstreams:
            reply = await self._exchange(query.to_wire(), upstream, tcp=False)
            if reply is not None:
                with contextlib.suppress(Exception):
                    return dns.message.from_wire(reply)
        return None

    async def _exchange(self, wire: bytes, upstream: Upstream, *, tcp: bool) -> bytes | None:
        qid = secrets.randbits(16).to_bytes(2, "big")
        query = qid + wire[2:]
        try:
            reply = None
            if not tcp:
                reply = await asyncio.wait_for(self._udp_exchange(query, upstream), self._upstream_timeout)
                tcp = reply is not None and len(reply) > 3 and bool(reply[2] & 0x02)
            if tcp:
                reply = await asyncio.wait_for(self._tcp_exchange(query, upstream), self._upstream_timeout)
        except (TimeoutError, OSError, asyncio.IncompleteReadError) as exc:
            log.warning("upstream %s failed: %s", upstream, exc or type(exc).__name__)
            return None
        if reply is None or len(reply) < 12 or reply[:2] != qid:
            return None
        asked = parse_simple(wire) or parse_query(wire)
        if asked is not None:  # the reply must be for our question (anti-spoofing)
            question = (asked.qname + struct.pack("!HH", asked.qtype, asked.qclass)).lower()
            if reply[12 : 12 + len(question)].lower() != question:
                log.warning("upstream %s answered another question; ignored", upstream)
                return None
        return reply

    async def _udp_exchange(self, query: bytes, upstream: Upstream) -> bytes:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bytes] = loop.create_future()
        qid = query[:2]

        class _Proto(asyncio.DatagramProtocol):
            def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
                if data[:2] == qid and not future.done():
                    future.set_result(data)

            def error_received(self, exc: Exception) -> None:
                if not future.done():
                    future.set_exception(exc)

        transport, _ = await loop.create_datagram_endpoint(
            _Proto, remote_addr=(str(upstream.host), upstream.port)
        )
        try:
            transport.sendto(query)
            return await future
        finally:
            transport.close()

    async def _tcp_exchange(self, query: bytes, upstream: Upstream) -> bytes:
        reader, writer = await asyncio.open_connection(str(upstream.host), upstream.port)
        try:
            writer.write(len(query).to_bytes(2, "big") + query)
            await writer.drain()
            head = await reader.readexactly(2)
            return await reader.readexactly(int.from_bytes(head, "big"))
        finally:
            writer.close()

    def _spawn(self, coro: object) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)  # type: ignore[call-overload]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def serve(server: DNSServer) -> None:
    """Run ``server`` in this thread until SIGTERM/SIGINT (for the CLI)."""
    asyncio.run(server.serve_forever())


__all__ = ["DNSServer", "parse_listen", "serve"]
