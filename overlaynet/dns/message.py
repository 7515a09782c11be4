"""Values the resolver speaks in: the Response to a question, upstream addresses, and the
parsing of names, types and ``IP:PORT`` strings (with clear errors)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from overlaynet.dns.records import Record
from overlaynet.errors import DNSError
from overlaynet.model import IPAddress


@dataclass(frozen=True, slots=True)
class Upstream:
    """A nameserver out-of-zone questions are forwarded to."""

    host: IPAddress
    port: int = 53

    def __str__(self) -> str:
        host = f"[{self.host}]" if self.host.version == 6 else str(self.host)
        return f"{host}:{self.port}"


def parse_upstream(text: str | Upstream) -> Upstream:
    """``IP``, ``IP:PORT`` or ``[IPv6]:PORT`` → Upstream; DNSError when it is not one."""
    if isinstance(text, Upstream):
        return text
    raw = text.strip()
    host, port = raw, "53"
    if raw.startswith("["):
        host, _, rest = raw[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else "53"
    elif raw.count(":") == 1:
        host, port = raw.split(":")
    try:
        addr = ipaddress.ip_address(host)
        number = int(port)
    except ValueError:
        raise DNSError(f"upstream {text!r}: expected IP or IP:PORT") from None
    if not 0 < number < 65536:
        raise DNSError(f"upstream {text!r}: port must be 1-65535")
    return Upstream(addr, number)


def to_name(name: str | dns.name.Name) -> dns.name.Name:
    """A question name; relative names are taken as absolute (a server only sees FQDNs)."""
    if isinstance(name, dns.name.Name):
        return name if name.is_absolute() else name.concatenate(dns.name.root)
    text = name.strip()
    if not text:
        raise DNSError("empty DNS name")
    try:
        return dns.name.from_text(text if text.endswith(".") else text + ".")
    except dns.exception.DNSException as exc:
        raise DNSError(f"bad DNS name {name!r}: {exc}") from exc


def to_rdtype(qtype: str | int) -> dns.rdatatype.RdataType:
    try:
        if isinstance(qtype, str):
            return dns.rdatatype.from_text(qtype.strip().upper())
        return dns.rdatatype.RdataType.make(qtype)
    except (dns.exception.DNSException, ValueError) as exc:
        raise DNSError(f"unknown DNS record type {qtype!r}") from exc


@dataclass(frozen=True, slots=True)
class Response:
    """The answer to one question; ``forward`` non-empty means "ask these upstreams"; ``chase``
    names an out-of-zone ExternalName target whose records the server appends."""

    name: dns.name.Name
    rdtype: dns.rdatatype.RdataType
    rcode: dns.rcode.Rcode
    answer: tuple[Record, ...] = ()
    authority: tuple[Record, ...] = ()
    additional: tuple[Record, ...] = ()
    authoritative: bool = True
    forward: tuple[Upstream, ...] = ()
    chase: dns.name.Name | None = None

    @property
    def kind(self) -> str:
        """``answer``, ``nodata``, ``nxdomain``, ``forward`` or the rcode in lower case."""
        if self.forward:
            return "forward"
        if self.rcode == dns.rcode.NOERROR:
            return "answer" if self.answer else "nodata"
        return dns.rcode.to_text(self.rcode).lower()

    @property
    def cacheable(self) -> bool:
        return not self.forward and self.chase is None

    def to_message(
        self, query: dns.message.Message | None = None, *, recursion_available: bool = False
    ) -> dns.message.Message:
        """A dnspython response (for ``query`` when given: its ID, RD/CD and question)."""
        if query is not None:
            msg = dns.message.make_response(query)
            msg.flags &= dns.flags.QR | dns.flags.RD | dns.flags.CD
        else:
            msg = dns.message.Message()
            msg.flags = dns.flags.QR
            msg.question.append(dns.rrset.RRset(self.name, dns.rdataclass.IN, self.rdtype))
        if self.authoritative:
            msg.flags |= dns.flags.AA
        if recursion_available:
            msg.flags |= dns.flags.RA
        msg.set_rcode(self.rcode)
        for section, records in (
            (msg.answer, self.answer), (msg.authority, self.authority),
            (msg.additional, self.additional),
        ):
            for rec in records:
                rrset = msg.find_rrset(section, rec.name, dns.rdataclass.IN, rec.rdtype, create=True)
                rrset.add(rec.rdata(), rec.ttl)
        return msg

    def to_dict(self) -> dict[str, Any]:
        return {
            "question": {"name": self.name.to_text(), "type": dns.rdatatype.to_text(self.rdtype)},
            "rcode": dns.rcode.to_text(self.rcode),
            "authoritative": self.authoritative,
            "answer": [r.to_dict() for r in self.answer],
            "authority": [r.to_dict() for r in self.authority],
            "additional": [r.to_dict() for r in self.additional],
            "forward": [str(u) for u in self.forward],
            "chase": self.chase.to_text() if self.chase is not None else None,
        }
