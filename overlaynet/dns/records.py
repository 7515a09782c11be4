"""DNS resource records as small immutable values, and the name helpers the resolver shares.

One class per record kind (as dnspython's ``rdtypes/IN/A.py``); each renders to a dnspython
rdata for the wire and to zone-file text. ``resolver.py`` builds them from the model.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any, ClassVar

import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.CNAME
import dns.rdtypes.ANY.NS
import dns.rdtypes.ANY.PTR
import dns.rdtypes.ANY.SOA
import dns.rdtypes.ANY.TXT
import dns.rdtypes.IN.A
import dns.rdtypes.IN.AAAA
import dns.rdtypes.IN.SRV

from overlaynet.model import IPAddress

IN = dns.rdataclass.IN
SCHEMA_VERSION = "1.1.0"  # Kubernetes DNS schema; CoreDNS DNSSchemaVersion
SCHEMA_VERSION_TTL = 28800  # hard-coded in CoreDNS for dns-version.<zone>
DEFAULT_TTL = 30  # the Kubernetes addon Corefile's `ttl 30` (CoreDNS's own default is 5)


@dataclass(frozen=True, slots=True)
class Record:
    """One resource record: owner name and TTL; subclasses add the data."""

    name: dns.name.Name
    ttl: int
    rdtype: ClassVar[dns.rdatatype.RdataType]

    def rdata(self) -> dns.rdata.Rdata:
        raise NotImplementedError

    @property
    def type(self) -> str:
        return dns.rdatatype.to_text(self.rdtype)

    @property
    def data(self) -> str:
        """The record data in presentation (zone-file) format."""
        return self.rdata().to_text()

    def to_text(self) -> str:
        return f"{self.name} {self.ttl} IN {self.type} {self.data}"

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name.to_text(), "type": self.type, "ttl": self.ttl, "data": self.data}


@dataclass(frozen=True, slots=True)
class ARecord(Record):
    address: ipaddress.IPv4Address
    rdtype = dns.rdatatype.A

    def rdata(self) -> dns.rdata.Rdata:
        return dns.rdtypes.IN.A.A(IN, self.rdtype, str(self.address))


@dataclass(frozen=True, slots=True)
class AAAARecord(Record):
    address: ipaddress.IPv6Address
    rdtype = dns.rdatatype.AAAA

    def rdata(self) -> dns.rdata.Rdata:
        return dns.rdtypes.IN.AAAA.AAAA(IN, self.rdtype, str(self.address))


@dataclass(frozen=True, slots=True)
class SRVRecord(Record):
    priority: int
    weight: int
    port: int
    target: dns.name.Name
    rdtype = dns.rdatatype.SRV

    def rdata(self) -> dns.rdata.Rdata:
        return dns.rdtypes.IN.SRV.SRV(
            IN, self.rdtype, self.priority, self.weight, self.port, self.target
        )


@dataclass(frozen=True, slots=True)
class PTRRecord(Record):
    target: dns.name.Name
    rdtype = dns.rdatatype.PTR

    def rdata(self) -> dns.rdata.Rdata:
        return dns.rdtypes.ANY.PTR.PTR(IN, self.rdtype, self.target)


@dataclass(frozen=True, slots=True)
class CNAMERecord(Record):
    target: dns.name.Name
    rdtype = dns.rdatatype.CNAME

    def rdata(self) -> dns.rdata.Rdata:
        return dns.rdtypes.ANY.CNAME.CNAME(IN, self.rdtype, self.target)


@dataclass(frozen=True, slots=True)
class NSRecord(Record):
    target: dns.name.Name
    rdtype = dns.rdatatype.NS

    def rdata(self) -> dns.rdata.Rdata:
        return dns.rdtypes.ANY.NS.NS(IN, self.rdtype, self.target)


@dataclass(frozen=True, slots=True)
class TXTRecord(Record):
    text: str
    rdtype = dns.rdatatype.TXT

    def rdata(self) -> dns.rdata.Rdata:
        return dns.rdtypes.ANY.TXT.TXT(IN, self.rdtype, [self.text.encode()])


@dataclass(frozen=True, slots=True)
class SOARecord(Record):
    mname: dns.name.Name
    rname: dns.name.Name
    serial: int
    refresh: int = 7200
    retry: int = 1800
    expire: int = 86400
    minimum: int = DEFAULT_TTL
    rdtype = dns.rdatatype.SOA

    def rdata(self) -> dns.rdata.Rdata:
        return dns.rdtypes.ANY.SOA.SOA(
            IN, self.rdtype, self.mname, self.rname, self.serial,
            self.refresh, self.retry, self.expire, self.minimum,
        )


@dataclass(frozen=True, slots=True)
class ForeignRecord(Record):
    """A record of any type as an upstream nameserver sent it (forwarded answers)."""

    value: dns.rdata.Rdata

    def rdata(self) -> dns.rdata.Rdata:
        return self.value

    # the type is the value's, not the class's
    rdtype = property(lambda self: self.value.rdtype)


def address_record(name: dns.name.Name, ttl: int, address: IPAddress) -> ARecord | AAAARecord:
    """An A or AAAA record, by the address family."""
    if isinstance(address, ipaddress.IPv4Address):
        return ARecord(name, ttl, address)
    return AAAARecord(name, ttl, address)


def dashed_ip(address: IPAddress) -> str:
    """CoreDNS's endpoint name for an address without hostname: ``10-244-1-5``; for IPv6 the
    colons become dashes and a trailing dash gets a ``0`` (``2001-db8--0``)."""
    text = str(address)
    if isinstance(address, ipaddress.IPv4Address):
        return text.replace(".", "-")
    dashed = text.replace(":", "-")
    return dashed + "0" if dashed.endswith("-") else dashed


def reverse_name(address: IPAddress) -> dns.name.Name:
    """``4.3.2.1.in-addr.arpa.`` or the 32 reversed nibbles under ``ip6.arpa.``."""
    return dns.name.from_text(address.reverse_pointer + ".")


def address_from_reverse(name: dns.name.Name) -> IPAddress | None:
    """The address a full reverse name stands for, or None (partial names, bad labels)."""
    labels = [label.decode("ascii", "replace").lower() for label in name.labels[:-1]]
    if len(labels) == 6 and labels[-2:] == ["in-addr", "arpa"]:
        text = ".".join(reversed(labels[:4]))
    elif len(labels) == 34 and labels[-2:] == ["ip6", "arpa"]:
        nibbles = labels[:32]
        if any(len(n) != 1 or n not in "0123456789abcdef" for n in nibbles):
            return None
        hexa = "".join(reversed(nibbles))
        text = ":".join(hexa[i : i + 4] for i in range(0, 32, 4))
    else:
        return None
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None
