"""A small, fast DNS codec for the server's hot path: encode our own responses, and parse
the one shape of query nearly every client sends (one question, at most an OPT record).

dnspython stays the reference (``wire.py`` falls back to it for anything else, and the tests
compare both); this exists because building a message with dnspython costs ~200 µs here.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import dns.name

from overlaynet.dns.records import (
    AAAARecord,
    ARecord,
    CNAMERecord,
    NSRecord,
    PTRRecord,
    Record,
    SOARecord,
    SRVRecord,
    TXTRecord,
)

_RR = struct.Struct("!HHIH")
_SOA_TAIL = struct.Struct("!IIIII")


class _Writer:
    """A message buffer with RFC 1035 name compression (case-insensitive suffix matching)."""

    __slots__ = ("buf", "_offsets")

    def __init__(self) -> None:
        self.buf = bytearray()
        self._offsets: dict[tuple[bytes, ...], int] = {}

    def name(self, name: dns.name.Name, *, compress: bool = True) -> None:
        labels = name.labels
        lowered = tuple(label.lower() for label in labels) if compress else ()
        for i, label in enumerate(labels):
            if not label:
                self.buf.append(0)
                return
            if compress:
                key = lowered[i:]
                offset = self._offsets.get(key)
                if offset is not None:
                    self.buf += (0xC000 | offset).to_bytes(2, "big")
                    return
                if len(self.buf) < 0x3FFF:
                    self._offsets[key] = len(self.buf)
            self.buf.append(len(label))
            self.buf += label

    def record(self, rec: Record) -> None:
        self.name(rec.name)
        self.buf += _RR.pack(int(rec.rdtype), 1, rec.ttl, 0)
        start = len(self.buf)
        if isinstance(rec, ARecord | AAAARecord):
            self.buf += rec.address.packed
        elif isinstance(rec, SRVRecord):
            self.buf += struct.pack("!HHH", rec.priority, rec.weight, rec.port)
            self.name(rec.target, compress=False)  # RFC 2782: no compression in SRV
        elif isinstance(rec, PTRRecord | CNAMERecord | NSRecord):
            self.name(rec.target)
        elif isinstance(rec, TXTRecord):
            text = rec.text.encode()
            self.buf.append(len(text))
            self.buf += text
        elif isinstance(rec, SOARecord):
            self.name(rec.mname)
            self.name(rec.rname)
            self.buf += _SOA_TAIL.pack(rec.serial, rec.refresh, rec.retry, rec.expire, rec.minimum)
        else:  # pragma: no cover - every Record kind is handled above
            raise TypeError(f"cannot encode {type(rec).__name__}")
        self.buf[start - 2 : start] = (len(self.buf) - start).to_bytes(2, "big")


def encode(
    qname: dns.name.Name, qtype: int, flags: int,
    answer: tuple[Record, ...], authority: tuple[Record, ...], additional: tuple[Record, ...],
) -> bytes:
    """A whole response message (ID 0) with one question and the given sections."""
    w = _Writer()
    w.buf += struct.pack("!HHHHHH", 0, flags, 1, len(answer), len(authority), len(additional))
    w.name(qname)
    w.buf += struct.pack("!HH", qtype, 1)
    for section in (answer, authority, additional):
        for rec in section:
            w.record(rec)
    return bytes(w.buf)


@dataclass(frozen=True, slots=True)
class SimpleQuery:
    """What the server needs from an ordinary query."""

    qname: bytes  # the wire name as sent (case kept, no compression)
    labels: tuple[bytes, ...]
    qtype: int
    qclass: int
    edns: bool  # an OPT record was present
    edns_version: int
    payload: int
    do: bool
    signed: bool = False  # carries a TSIG record (we hold no keys)


def parse_simple(data: bytes) -> SimpleQuery | None:
    """Parse a query with exactly one uncompressed question and at most one OPT record and
    nothing else; None for any other shape (the caller then asks dnspython)."""
    if len(data) < 17 or data[4:10] != b"\x00\x01\x00\x00\x00\x00" or data[10] != 0 or data[11] > 1:
        return None
    pos = 12
    labels: list[bytes] = []
    end = len(data)
    while True:
        if pos >= end:
            return None
        length = data[pos]
        if length == 0:
            pos += 1
            break
        if length > 63 or pos + 1 + length > end:
            return None
        labels.append(data[pos + 1 : pos + 1 + length])
        pos += 1 + length
    if pos - 12 > 255 or pos + 4 > end:
        return None
    qname = data[12:pos]
    qtype = (data[pos] << 8) | data[pos + 1]
    qclass = (data[pos + 2] << 8) | data[pos + 3]
    pos += 4
    if data[11] == 0:
        return SimpleQuery(qname, (*labels, b""), qtype, qclass, False, 0, 0, False) if pos == end else None
    if pos + 11 > end or data[pos] != 0 or data[pos + 1 : pos + 3] != b"\x00\x29":
        return None
    payload = (data[pos + 3] << 8) | data[pos + 4]
    version = data[pos + 6]
    do = bool(data[pos + 7] & 0x80)
    rdlen = (data[pos + 9] << 8) | data[pos + 10]
    if pos + 11 + rdlen != end:
        return None
    return SimpleQuery(qname, (*labels, b""), qtype, qclass, True, version, payload, do)


def _read_name(data: bytes, pos: int) -> tuple[int, list[bytes]] | None:
    """A possibly compressed name at ``pos``: (position after it, labels). Pointers must go
    backwards (no loops); None when malformed."""
    labels: list[bytes] = []
    total = 1
    end_pos = -1
    hops = 0
    limit = pos  # a pointer must point before the name that contains it
    while True:
        if pos >= len(data):
            return None
        length = data[pos]
        if length & 0xC0 == 0xC0:
            if pos + 1 >= len(data):
                return None
            target = ((length & 0x3F) << 8) | data[pos + 1]
            if end_pos < 0:
                end_pos = pos + 2
            if target >= limit or hops > 127:
                return None
            hops += 1
            pos = limit = target
            continue
        if length & 0xC0:
            return None
        if length == 0:
            return (end_pos if end_pos >= 0 else pos + 1), labels
        total += length + 1
        if total > 255 or pos + 1 + length > len(data):
            return None
        labels.append(data[pos + 1 : pos + 1 + length])
        pos += 1 + length


def parse_query(data: bytes) -> SimpleQuery | None:
    """Any well-formed message with one question: compression, extra records, one OPT in
    the additional section. None means FORMERR."""
    if len(data) < 12:
        return None
    qd, an, ns, ar = struct.unpack_from("!HHHH", data, 4)
    if qd != 1:
        return None
    read = _read_name(data, 12)
    if read is None:
        return None
    pos, labels = read
    if pos + 4 > len(data):
        return None
    qtype, qclass = struct.unpack_from("!HH", data, pos)
    pos += 4
    edns = signed = False
    version = payload = 0
    do = False
    for i in range(an + ns + ar):
        read = _read_name(data, pos)
        if read is None or read[0] + 10 > len(data):
            return None
        pos, owner = read
        rtype, rclass, ttl, rdlen = struct.unpack_from("!HHIH", data, pos)
        if rtype == 41:
            if edns or i < an + ns or owner:
                return None  # one OPT, in the additional section, owned by the root
            edns, payload, version, do = True, rclass, (ttl >> 16) & 0xFF, bool(ttl & 0x8000)
        signed |= rtype == 250
        pos += 10 + rdlen
        if pos > len(data):
            return None
    if pos != len(data):
        return None
    qname = b"".join(bytes((len(label),)) + label for label in labels) + b"\x00"
    return SimpleQuery(qname, (*labels, b""), qtype, qclass, edns, version, payload, do, signed)


def reply_empty(query: bytes, q: SimpleQuery, flags: int, rcode: int, *, payload: int) -> bytes:
    """A response carrying the question (and an OPT when the query had one) and no records.
    ``flags`` are the response's header flags without the rcode; an rcode above 15 goes into
    the OPT's extended rcode."""
    out = query[:2] + struct.pack("!HHHHH", flags | (rcode & 0x0F), 1, 0, 0, 1 if q.edns else 0)
    out += q.qname + struct.pack("!HH", q.qtype, q.qclass)
    if q.edns:
        ttl = ((rcode >> 4) << 24) | (0x8000 if q.do else 0)
        out += b"\x00" + struct.pack("!HHIH", 41, payload, ttl, 0)
    return out
