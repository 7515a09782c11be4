"""Asking the upstream nameservers, synchronously: the I/O adapter the client walk
(``client.client_resolve``) uses to forward names outside the cluster zone, as CoreDNS's
``forward . /etc/resolv.conf`` does. The asyncio server (``server.py``) has its own.

Each upstream is tried in order over UDP (TCP when the reply is truncated); an answer
with any rcode ends the search. When none answers, the result is SERVFAIL, as the
forward plugin replies when every upstream failed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype
import dns.rrset

from overlaynet.dns.message import Response, Upstream, parse_upstream
from overlaynet.dns.records import ForeignRecord, Record


@dataclass(frozen=True)
class UpstreamForwarder:
    """A ``Forwarder`` for ``client_resolve``: ``forwarder(name, rdtype) -> Response``."""

    upstreams: tuple[Upstream, ...]
    timeout: float = 2.0

    @classmethod
    def of(cls, upstreams: Sequence[str | Upstream], *, timeout: float = 2.0) -> UpstreamForwarder:
        return cls(tuple(parse_upstream(u) for u in upstreams), timeout)

    def __call__(self, name: dns.name.Name, rdtype: dns.rdatatype.RdataType) -> Response:
        query = dns.message.make_query(name, rdtype)
        for upstream in self.upstreams:
            reply = self._exchange(query, upstream)
            if reply is not None:
                return Response(name, rdtype, reply.rcode(), _records(reply.answer), _records(reply.authority),
                                _records(reply.additional), authoritative=bool(reply.flags & dns.flags.AA))
        return Response(name, rdtype, dns.rcode.SERVFAIL, authoritative=False)

    def _exchange(self, query: dns.message.Message, upstream: Upstream) -> dns.message.Message | None:
        host, port = str(upstream.host), upstream.port
        with contextlib.suppress(OSError, dns.exception.DNSException):
            reply = dns.query.udp(query, host, port=port, timeout=self.timeout)
            if reply.flags & dns.flags.TC:
                reply = dns.query.tcp(query, host, port=port, timeout=self.timeout)
            return reply
        return None


def _records(section: list[dns.rrset.RRset]) -> tuple[Record, ...]:
    return tuple(ForeignRecord(rrset.name, rrset.ttl, rdata) for rrset in section
                 if rrset.rdtype != dns.rdatatype.OPT for rdata in rrset)
