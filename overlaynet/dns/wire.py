"""Wire-level answering, still without sockets: query bytes in, response bytes out.

``Engine`` builds every enumerable answer when the topology loads (``Resolver.known_questions``)
as a wire template per (lower-case qname, qtype); a query then costs a dict lookup and a
few byte patches (ID, RD/CD, the question's case, OPT). Exact repeats of a query hit a second
cache keyed by its bytes after the ID. ``server.py`` does the I/O, including the upstream
requests this module hands back for names outside the zone.
"""

from __future__ import annotations

import itertools
import struct
from dataclasses import dataclass

import dns.edns
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype

from overlaynet.dns.codec import SimpleQuery, encode, parse_query, parse_simple, reply_empty
from overlaynet.dns.message import Response
from overlaynet.dns.resolver import Resolver

OUR_PAYLOAD = 1232  # the EDNS UDP size we advertise and cap answers at (DNS flag day 2020)
MIN_UDP = 512  # RFC 1035 limit without EDNS
MAX_PRECOMPUTE = 100_000  # answers built at load, at most (service-level names first)
MAX_LAZY = 50_000  # answers computed on first use (pod names, misses) kept at most
MAX_RAW = 100_000  # exact-query cache entries kept at most
_HEADER = struct.Struct("!HHHHHH")
_COUNTS = struct.Struct("!HHHH")
_QR, _AA, _TC, _RD, _RA, _CD = 0x8000, 0x0400, 0x0200, 0x0100, 0x0080, 0x0010


@dataclass(frozen=True, slots=True)
class Prepared:
    """A response rendered once, with a lower-case question; ``body`` follows the qname."""

    flags: int  # AA, RA and the rcode
    qname: bytes  # the question name as rendered (lower case at load)
    an: int
    ns: int
    ar: int
    qname_len: int
    body: bytes


@dataclass(frozen=True, slots=True)
class UpstreamRequest:
    """The server must ask an upstream: forward the whole query (``response.forward``) or
    look up an ExternalName target (``response.chase``) and append its records."""

    query: SimpleQuery
    wire: bytes
    response: Response
    udp_limit: int | None  # None over TCP


def _opt(do: bool) -> bytes:
    return b"\x00" + struct.pack("!HHIH", 41, OUR_PAYLOAD, 0x8000 if do else 0, 0)


_OPT = (_opt(False), _opt(True))


class Engine:
    """Answers DNS messages from one Resolver; build a new Engine to reload."""

    def __init__(self, resolver: Resolver, *, recursion_available: bool | None = None,
                 precompute: int = MAX_PRECOMPUTE) -> None:
        self.resolver = resolver
        self.recursion_available = (
            bool(resolver.upstreams) if recursion_available is None else recursion_available
        )
        self.raw_cache: dict[bytes, bytes] = {}  # query[2:] -> response[2:], UDP only
        self._lazy: dict[tuple[bytes, int], Prepared] = {}
        self._static: dict[tuple[bytes, int], Prepared] = {}
        # service-level names first, then endpoint and pod names while the budget lasts;
        # the rest is answered on first use
        questions = itertools.chain(
            resolver.known_questions(endpoints=False), resolver.known_questions(services=False)
        )
        for name, rdtype in itertools.islice(questions, precompute):
            response = resolver.answer(name, rdtype)
            if response.cacheable:
                prepared = self._prepare(response)
                self._static[(prepared.qname.lower(), int(rdtype))] = prepared

    @property
    def precomputed(self) -> int:
        return len(self._static)

    # --- entry point -----------------------------------------------------------------------
    def handle(self, data: bytes, *, tcp: bool = False) -> bytes | UpstreamRequest | None:
        """The response to one query message, an UpstreamRequest, or None (drop it: shorter
        than a header, or itself a response). Never raises."""
        if not tcp:
            hit = self.raw_cache.get(data[2:])
            if hit is not None:
                return data[:2] + hit
        try:
            return self._handle(data, tcp)
        except Exception:  # a hostile packet must never take the server down
            return _header_only(data, dns.rcode.SERVFAIL) if len(data) >= 12 else None

    def _handle(self, data: bytes, tcp: bool) -> bytes | UpstreamRequest | None:
        if len(data) < 12:
            return None
        flags = (data[2] << 8) | data[3]
        if flags & _QR:
            return None  # never answer a response (no reflection loops)
        if (flags >> 11) & 0xF != 0:
            return _header_only(data, dns.rcode.NOTIMP)
        q = parse_simple(data) or parse_query(data)
        if q is None:
            return _header_only(data, dns.rcode.FORMERR)
        if q.edns and q.edns_version > 0:
            return self._empty(data, q, dns.rcode.BADVERS)
        if q.signed:
            return self._empty(data, q, dns.rcode.NOTAUTH)  # RFC 8945: a key we do not hold
        limit = None if tcp else (
            max(MIN_UDP, min(q.payload, OUR_PAYLOAD)) if q.edns else MIN_UDP
        )
        if q.qclass != dns.rdataclass.IN:
            return self._empty(data, q, dns.rcode.REFUSED)
        key = (q.qname.lower(), q.qtype)
        prepared = self._static.get(key) or self._lazy.get(key)
        if prepared is None:
            lname = dns.name.Name(tuple(label.lower() for label in q.labels))
            response = self.resolver.answer(lname, q.qtype)
            if not response.cacheable:
                return UpstreamRequest(q, data, response, limit)
            prepared = self._prepare(response)
            if len(self._lazy) >= MAX_LAZY:
                self._lazy.clear()
            self._lazy[key] = prepared
        out = render(prepared, data, q.qname, q.do if q.edns else None, limit or 65535)
        if not tcp:
            if len(self.raw_cache) >= MAX_RAW:
                self.raw_cache.clear()
            self.raw_cache[data[2:]] = out[2:]
        return out

    # --- upstream results ---------------------------------------------------------------
    def finish(self, request: UpstreamRequest, reply: bytes | dns.message.Message | None) -> bytes:
        """The client's response once the upstream answered (``reply``) or did not (None)."""
        q, response = request.query, request.response
        if response.forward:
            if not isinstance(reply, bytes) or len(reply) < 12:
                return self._empty(request.wire, q, dns.rcode.SERVFAIL)
            out = request.wire[:2] + reply[2:]
            if request.udp_limit is not None and len(out) > request.udp_limit:
                return self._empty(request.wire, q, int(reply[3] & 0x0F), truncated=True)
            return out
        query = dns.message.from_wire(request.wire)
        msg = response.to_message(query, recursion_available=self.recursion_available)
        if query.edns >= 0:
            msg.use_edns(0, query.ednsflags & dns.flags.DO, OUR_PAYLOAD)
        if isinstance(reply, dns.message.Message):
            for rrset in reply.answer:
                msg.answer.append(rrset)
            if reply.flags & dns.flags.TC:
                msg.flags |= dns.flags.TC
        try:
            return msg.to_wire(max_size=request.udp_limit or 65535)
        except dns.exception.TooBig:
            return self._empty(request.wire, q, dns.rcode.NOERROR, truncated=True)

    # --- helpers ---------------------------------------------------------------------------
    def _prepare(self, response: Response) -> Prepared:
        flags = (_AA if response.authoritative else 0) | int(response.rcode)
        flags |= _RA if self.recursion_available else 0
        wire = encode(response.name, int(response.rdtype), _QR | flags,
                      response.answer, response.authority, response.additional)
        qlen = sum(len(label) for label in response.name.labels) + len(response.name.labels)
        an, ns, ar = len(response.answer), len(response.authority), len(response.additional)
        return Prepared(flags, wire[12 : 12 + qlen], an, ns, ar, qlen, wire[12 + qlen :])

    def _empty(self, data: bytes, q: SimpleQuery, rcode: int, *, truncated: bool = False) -> bytes:
        flags = _QR | (((data[2] << 8) | data[3]) & (_RD | _CD))
        flags |= (_RA if self.recursion_available else 0) | (_TC if truncated else 0)
        return reply_empty(data, q, flags, int(rcode), payload=OUR_PAYLOAD)


def render(prepared: Prepared, query: bytes, raw_qname: bytes, edns: bool | None, limit: int | None) -> bytes:
    """Patch a prepared response for one query: its ID, RD/CD, its qname bytes (so the
    question and every owner compressed onto it echo the query's case) and an OPT when the
    query had EDNS (echoing DO). Over ``limit`` the answer is dropped and TC set."""
    flags = _QR | prepared.flags | (((query[2] << 8) | query[3]) & (_RD | _CD))
    opt = b"" if edns is None else _OPT[edns]
    extra = 0 if edns is None else 1
    out = b"".join((
        query[:2], flags.to_bytes(2, "big"),
        _COUNTS.pack(1, prepared.an, prepared.ns, prepared.ar + extra),
        raw_qname, prepared.body, opt,
    ))
    if limit is not None and len(out) > limit:
        out = b"".join((
            query[:2], (flags | _TC).to_bytes(2, "big"), _COUNTS.pack(1, 0, 0, extra),
            raw_qname, prepared.body[:4], opt,
        ))
    return out


def _prepare_wire_with_dnspython(response: Response) -> bytes:
    """The naive rendering (dnspython), kept as the baseline of benchmarks/dns_server.py."""
    return response.to_message().to_wire()


def _header_only(data: bytes, rcode: dns.rcode.Rcode) -> bytes:
    """A bare header echoing ID, opcode and RD, for messages too broken to answer properly."""
    flags = _QR | (((data[2] << 8) | data[3]) & (0x7800 | _RD)) | int(rcode)
    return data[:2] + flags.to_bytes(2, "big") + b"\x00" * 8
