"""The authoritative cluster DNS as a pure function: question → Response, as CoreDNS answers.

No sockets here: names outside the zone come back as a ``forward`` result and the server
(``server.py``) does the I/O. The client's view (resolv.conf search walk) is in ``client.py``.
The lookup mirrors CoreDNS's kubernetes plugin (``handler.go``, ``parse.go``,
``kubernetes.go``, ``reverse.go``, ``plugin/backend_lookup.go``); docs/dns.md lists every
place where it differs from the specification and why.
"""

from __future__ import annotations

import functools
import ipaddress
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import dns.exception
import dns.name
import dns.rcode
import dns.rdatatype

from overlaynet.dns.index import ZoneIndex
from overlaynet.dns.message import Response, Upstream, parse_upstream, to_name, to_rdtype
from overlaynet.dns.records import (
    DEFAULT_TTL,
    SCHEMA_VERSION,
    SCHEMA_VERSION_TTL,
    CNAMERecord,
    NSRecord,
    PTRRecord,
    Record,
    SOARecord,
    SRVRecord,
    TXTRecord,
    address_from_reverse,
    address_record,
)
from overlaynet.errors import DNSError
from overlaynet.model import Cluster, IPAddress

__all__ = [
    "PODS_MODES", "REVERSE_ZONES", "Resolver", "Response", "Upstream", "default_serial",
    "parse_upstream", "to_name", "to_rdtype",
]  # client_resolve, resolv_conf, ClientResolution and Query also resolve here (__getattr__)

PodsMode = Literal["insecure", "verified", "disabled"]
PODS_MODES: tuple[str, ...] = ("insecure", "verified", "disabled")
REVERSE_ZONES = (dns.name.from_text("in-addr.arpa."), dns.name.from_text("ip6.arpa."))
T = dns.rdatatype.RdataType
_NXDOMAIN = "nxdomain"


@dataclass(slots=True)
class _Item:
    """CoreDNS's msg.Service: an address or CNAME target, a port, the name it is known by."""

    host: IPAddress | dns.name.Name | str  # str: TXT text
    port: int
    target: dns.name.Name
    ttl: int


@dataclass(frozen=True, slots=True)
class _Q:
    name: dns.name.Name  # as asked (case kept)
    rdtype: dns.rdatatype.RdataType
    zone: dns.name.Name  # the zone it falls in (lower case)
    zone_q: dns.name.Name  # the zone part of the question, in the question's case
    base: tuple[str, ...] = field(default=())  # labels left of the zone, lower case


class Resolver:
    """Answers questions about one Cluster, as CoreDNS's kubernetes plugin would.

    ``legacy_names`` (default ``cluster.dns.legacy_names``) also answers ``svc.ns.<zone>``;
    ``pods_mode`` is ``insecure``/``verified``/``disabled`` (default ``cluster.dns.pods``);
    ``upstream`` lists forwarders for names outside the zone (default
    ``cluster.dns.upstreams``; none: such questions are REFUSED).
    """

    def __init__(
        self,
        cluster: Cluster,
        *,
        legacy_names: bool | None = None,
        pods_mode: str | None = None,
        upstream: Sequence[str | Upstream] | str | None = None,
        ttl: int = DEFAULT_TTL,
        serial: int | None = None,
    ) -> None:
        mode = pods_mode if pods_mode is not None else cluster.dns.pods
        if mode not in PODS_MODES:
            raise DNSError(f"pods mode {mode!r}: expected one of {', '.join(PODS_MODES)}")
        if not 0 <= ttl <= 3600:
            raise DNSError(f"ttl {ttl}: expected 0-3600 (as CoreDNS)")
        ups: Sequence[str | Upstream] = cluster.dns.upstreams if upstream is None else (
            [upstream] if isinstance(upstream, str) else upstream
        )
        self.cluster = cluster
        self.legacy_names = cluster.dns.legacy_names if legacy_names is None else legacy_names
        self.pods_mode: str = mode
        self.upstreams: tuple[Upstream, ...] = tuple(parse_upstream(u) for u in ups)
        self.ttl = ttl
        self.index = ZoneIndex(cluster)
        self.zone = self.index.zone
        self.serial = serial if serial is not None else default_serial(cluster)
        self.dns_ip: IPAddress = cluster.dns_ip or ipaddress.IPv4Address("127.0.0.1")
        self._soa: dict[tuple[bytes, ...], SOARecord] = {}

    # --- public -----------------------------------------------------------------------------
    def answer(self, name: str | dns.name.Name, qtype: str | int = "A") -> Response:
        """The authoritative response to ``name``/``qtype`` (class IN)."""
        qname = to_name(name)
        rdtype = to_rdtype(qtype)
        lowered = tuple(label.lower() for label in qname.labels)
        for zone in (self.zone, *REVERSE_ZONES):
            size = len(zone.labels)
            if lowered[len(lowered) - size :] == zone.labels:
                base = tuple(label.decode("latin-1") for label in lowered[: len(lowered) - size])
                zone_q = _name_of(qname.labels[len(qname.labels) - size :])
                return self._in_zone(_Q(qname, rdtype, zone, zone_q, base))
        if self.upstreams:
            return Response(qname, rdtype, dns.rcode.NOERROR, authoritative=False,
                            forward=self.upstreams)
        return Response(qname, rdtype, dns.rcode.REFUSED, authoritative=False)

    def soa(self, zone: dns.name.Name | None = None) -> SOARecord:
        """CoreDNS's SOA: ``ns.dns.<zone> hostmaster.<zone> serial 7200 1800 86400 <ttl>``."""
        zone = zone or self.zone
        soa = self._soa.get(zone.labels)
        if soa is None:
            soa = self._soa[zone.labels] = SOARecord(
                zone, min(self.ttl, 300), dns.name.Name((b"ns", b"dns", *zone.labels)),
                dns.name.Name((b"hostmaster", *zone.labels)), self.serial, minimum=self.ttl,
            )
        return soa

    def known_questions(self, *, services: bool = True, endpoints: bool = True) -> Iterator[tuple[dns.name.Name, dns.rdatatype.RdataType]]:
        """Every question with a positive answer that can be enumerated from the model, for
        precomputing answers and exporting the zone: ``services`` selects the apex and the
        service-level names (and ClusterIP PTRs), ``endpoints`` the endpoint names, pods'
        names (existing pods only) and endpoint PTRs."""
        seen: set[tuple[tuple[bytes, ...], int]] = set()
        for name, rdtype, endpoint_level in self._questions():
            key = (name.labels, int(rdtype))  # our names are lower case: labels compare
            if (endpoints if endpoint_level else services) and key not in seen:
                seen.add(key)
                yield name, rdtype

    def _questions(self) -> Iterator[tuple[dns.name.Name, dns.rdatatype.RdataType, bool]]:
        z = self.zone
        yield z, T.SOA, False
        yield z, T.NS, False
        yield _n(("ns", "dns"), z), T.A if self.dns_ip.version == 4 else T.AAAA, False
        yield _n(("dns-version",), z), T.TXT, False
        for (ns, name), svc in sorted(self.index.services.items()):
            if svc.headless and not self.index.endpoints.get((ns, name)):
                continue  # NXDOMAIN: no ready endpoints
            forms: list[tuple[str, ...]] = [("svc",)]
            if self.legacy_names and ns not in ("svc", "pod"):  # else they read as svc form
                forms.append(())
            for form in forms:
                base = _n((name, ns, *form), z)
                if svc.type == "ExternalName":
                    yield base, T.CNAME, False
                    continue
                yield from ((base, t, False) for t in (T.A, T.AAAA, T.SRV))
                named = {(p.name.lower(), p.protocol.lower()) for p in svc.ports if p.name}
                for subset in self.index.endpoints.get((ns, name), ()):
                    if svc.headless:
                        named.update((p.name, p.protocol) for p in subset.ports if p.name)
                    for addr in subset.addresses:
                        yield _n((addr.label,), base), T.A, True
                        yield _n((addr.label,), base), T.AAAA, True
                for port_name, proto in sorted(named):
                    yield _n((f"_{port_name}", f"_{proto}"), base), T.SRV, False
        if self.pods_mode != "disabled":
            for pod in self.cluster.pods:
                if pod.ip is not None and not pod.host_network:
                    dashed = str(pod.ip).replace(".", "-").replace(":", "-")
                    owner = _n((dashed, pod.namespace.lower(), "pod"), z)
                    yield owner, T.A if pod.ip.version == 4 else T.AAAA, True
        ips = set(self.index.reverse_services) | set(self.index.reverse_endpoints)
        for ip in sorted(ips, key=lambda a: (a.version, int(a))):
            yield dns.name.from_text(ip.reverse_pointer + "."), T.PTR, ip not in self.index.reverse_services

    # --- the zone handler (CoreDNS handler.go) ---------------------------------------------
    def _in_zone(self, q: _Q) -> Response:
        t = q.rdtype
        extra: list[Record] = []
        chase: dns.name.Name | None = None
        err: str | None = None
        records: list[Record] = []
        if t in (T.AXFR, T.IXFR):
            return Response(q.name, t, dns.rcode.REFUSED)
        if t in (T.A, T.AAAA):
            records, err, chase = self._address(q, ())
        elif t == T.TXT:
            records, err, chase = self._txt(q, ())
        elif t == T.CNAME:
            records, err = self._cname(q)
        elif t == T.PTR:
            records, err = self._ptr(q)
        elif t == T.SRV:
            records, extra, err = self._srv(q)
        elif t == T.SOA:
            records = [self.soa(q.zone)] if not q.base else []
        elif t == T.NS and not q.base:
            records, extra = self._ns(q)
        else:  # a fake A lookup tells NODATA from NXDOMAIN (also MX: no mail records here)
            _, err, _ = self._address(_Q(q.name, T.A, q.zone, q.zone_q, q.base), ())
        if err is not None:
            if q.zone is not self.zone and self.upstreams:  # fallthrough in-addr.arpa ip6.arpa
                return Response(q.name, t, dns.rcode.NOERROR, authoritative=False,
                                forward=self.upstreams)
            return Response(q.name, t, dns.rcode.NXDOMAIN, authority=(self.soa(q.zone),))
        if not records:
            return Response(q.name, t, dns.rcode.NOERROR, authority=(self.soa(q.zone),))
        return Response(q.name, t, dns.rcode.NOERROR, tuple(_dedup(records)), (),
                        tuple(_dedup(extra)), chase=chase)

    # --- record kinds (plugin/backend_lookup.go) ---------------------------------------------
    def _address(self, q: _Q, chain: tuple[Record, ...]) -> tuple[list[Record], str | None, dns.name.Name | None]:
        items, err = self._services(q)
        if err is not None:
            return [], err, None
        out: list[Record] = []
        chase: dns.name.Name | None = None
        seen: set[IPAddress] = set()
        for it in items:
            if isinstance(it.host, dns.name.Name):
                sub, sub_chase, ok = self._follow_cname(q, it, chain, self._address)
                out.extend(sub)
                chase = chase or sub_chase
                continue
            if isinstance(it.host, str) or it.host in seen:
                continue
            if (it.host.version == 4) == (q.rdtype == T.A):
                seen.add(it.host)
                out.append(address_record(q.name, it.ttl, it.host))
        return out, None, chase

    def _txt(self, q: _Q, chain: tuple[Record, ...]) -> tuple[list[Record], str | None, dns.name.Name | None]:
        items, err = self._services(q)
        if err is not None:
            return [], err, None
        out: list[Record] = []
        chase: dns.name.Name | None = None
        for it in items:
            if isinstance(it.host, dns.name.Name):
                sub, sub_chase, _ = self._follow_cname(q, it, chain, self._txt)
                out.extend(sub)
                chase = chase or sub_chase
            elif isinstance(it.host, str):
                out.append(TXTRecord(q.name, it.ttl, it.host))
        return out, None, chase

    def _follow_cname(self, q: _Q, it: _Item, chain: tuple[Record, ...], lookup: Any) -> tuple[list[Record], dns.name.Name | None, bool]:
        """A CNAME to an ExternalName target: chased inside the zone, else left to upstream."""
        target = it.host
        assert isinstance(target, dns.name.Name)
        if target == q.name or len(chain) > 7:
            return [], None, False
        cname = CNAMERecord(q.name, it.ttl, target)
        if any(isinstance(c, CNAMERecord) and c.name == cname.name and c.target == target for c in chain):
            return [], None, False
        if target.is_subdomain(self.zone):
            sub_q = self._question(target, q.rdtype)
            records, err, chase = lookup(sub_q, (*chain, cname))
            if err is None and records:
                return [cname, *records], chase, True
            return [], None, False
        return [cname], (target if self.upstreams else None), True

    def _cname(self, q: _Q) -> tuple[list[Record], str | None]:
        items, err = self._services(q)
        if err is not None:
            return [], err
        if items and isinstance(items[0].host, dns.name.Name):
            return [CNAMERecord(q.name, items[0].ttl, items[0].host)], None
        return [], None

    def _srv(self, q: _Q) -> tuple[list[Record], list[Record], str | None]:
        items, err = self._services(q)
        if err is not None:
            return [], [], err
        items = [it for it in items if not isinstance(it.host, dns.name.Name | str)]
        # every item weighs 100 at priority 0: weight = floor(100 / N), at least 1
        weight = max(1, math.floor(100.0 / float(100 * len(items)) * 100)) if items else 0
        records: list[Record] = []
        extra: list[Record] = []
        seen_srv: set[tuple[dns.name.Name, int]] = set()
        seen_addr: set[tuple[dns.name.Name, IPAddress]] = set()
        for it in items:
            if it.port == -1 or isinstance(it.host, dns.name.Name | str):
                continue
            if (it.target, it.port) not in seen_srv:
                seen_srv.add((it.target, it.port))
                records.append(SRVRecord(q.name, it.ttl, 0, weight, it.port, it.target))
            if (it.target, it.host) not in seen_addr:
                seen_addr.add((it.target, it.host))
                extra.append(address_record(it.target, it.ttl, it.host))
        return records, extra, None

    def _ptr(self, q: _Q) -> tuple[list[Record], str | None]:
        ip = address_from_reverse(q.name) if q.zone is not self.zone else None
        if ip is None:
            _, err = self._records(q)
            return [], err
        svc = self.index.reverse_services.get(ip)
        if svc is not None:
            target = _n((svc.name.lower(), svc.namespace.lower(), "svc"), self.zone)
            return [PTRRecord(q.name, self.ttl, target)], None
        targets = self.index.reverse_endpoints.get(ip, [])
        records: list[Record] = [
            PTRRecord(q.name, self.ttl, _n((t.label, t.service, t.namespace, "svc"), self.zone))
            for t in targets
        ]
        return (records, None) if records else ([], _NXDOMAIN)

    def _ns(self, q: _Q) -> tuple[list[Record], list[Record]]:
        targets = self._ns_targets(q.zone)
        names = list(dict.fromkeys(name for name, _ in targets))
        return ([NSRecord(q.name, self.ttl, name) for name in names],
                [address_record(name, self.ttl, ip) for name, ip in targets])

    def _ns_targets(self, zone: dns.name.Name) -> list[tuple[dns.name.Name, IPAddress]]:
        """CoreDNS's ``nsAddrs`` (plugin/kubernetes/ns.go): for every Service the server's own
        address is a ready endpoint of, ``<svc>.<ns>.svc.<zone>`` with its ClusterIP (a
        headless one: ``<ep>.<svc>.<ns>.svc.<zone>`` with the endpoint address), where
        ``<zone>`` is the zone asked, reverse zones included; when it backs no Service,
        ``ns.dns.<zone>`` with its own addresses. The server here is the first ready endpoint
        of the Service at the cluster DNS IP (a CoreDNS pod behind kube-dns); with none,
        the DNS IP stands for its address."""
        own = self._own_addresses()
        found: list[tuple[dns.name.Name, IPAddress]] = []
        for ip in own:
            for target in self.index.reverse_endpoints.get(ip, ()):
                svc = self.index.services.get((target.namespace, target.service))
                if svc is None:
                    continue
                name = _n((target.service, target.namespace, "svc"), zone)
                if svc.headless:
                    found.append((_n((target.label,), name), ip))
                elif svc.cluster_ips:
                    found.append((name, svc.cluster_ips[0]))
        if found:
            return found
        return [(_n(("ns", "dns"), zone), ip) for ip in own or (self.dns_ip,)]

    def _own_addresses(self) -> tuple[IPAddress, ...]:
        svc = self.index.reverse_services.get(self.dns_ip)
        if svc is None:
            return ()
        subsets = self.index.endpoints.get((svc.namespace.lower(), svc.name.lower()), ())
        ready = sorted({a.ip for s in subsets for a in s.addresses}, key=lambda a: (a.version, int(a)))
        return tuple(ready[:1])

    # --- Services() and Records() (kubernetes.go) --------------------------------------------
    def _services(self, q: _Q) -> tuple[list[_Item], str | None]:
        if q.rdtype == T.TXT and q.base == ("dns-version",) and q.zone is self.zone:
            return [_Item(SCHEMA_VERSION, 0, q.name, SCHEMA_VERSION_TTL)], None
        if q.base == ("ns", "dns"):  # CoreDNS's isDefaultNS: the addresses of the NS answer
            version = 4 if q.rdtype == T.A else 6 if q.rdtype == T.AAAA else 0
            return [_Item(ip, 0, q.name, self.ttl) for _, ip in self._ns_targets(q.zone) if ip.version == version], None
        return self._records(q)

    def _records(self, q: _Q) -> tuple[list[_Item], str | None]:
        base = q.base
        if base in ((), ("svc",), ("pod",)):
            return [], None
        if q.zone is not self.zone:
            return [], _NXDOMAIN
        kind = base[-1]
        if kind in ("svc", "pod"):
            rest = base[:-1]
        elif self.legacy_names and kind in self.index.namespaces:
            kind, rest = "svc", base  # the 2015 form <service>.<namespace>.<zone>
        else:
            return [], _NXDOMAIN
        namespace = rest[-1]
        service = rest[-2] if len(rest) >= 2 else ""
        left = rest[:-2]
        endpoint = port = protocol = ""
        if len(left) == 1:
            endpoint = left[0]
        elif len(left) == 2:
            port, protocol = _strip_underscore(left[0]), _strip_underscore(left[1])
        elif len(left) > 2:
            return [], _NXDOMAIN
        if namespace not in self.index.namespaces:
            return [], _NXDOMAIN
        if kind == "pod":
            return self._find_pods(q, namespace, service)
        return self._find_services(q, namespace, service, endpoint, port, protocol)

    def _find_pods(self, q: _Q, namespace: str, podname: str) -> tuple[list[_Item], str | None]:
        if self.pods_mode == "disabled":
            return [], _NXDOMAIN
        if not podname:
            return [], None
        if podname.count("-") == 3 and "--" not in podname:
            text = podname.replace("-", ".")
        else:
            text = podname.replace("-", ":")
        target = _n((podname, namespace, "pod"), q.zone_q)
        if self.pods_mode == "insecure":
            try:
                ip = ipaddress.ip_address(text) if "%" not in text else None
            except ValueError:
                ip = None
            if ip is None:
                return [], _NXDOMAIN
            if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
                ip = ip.ipv4_mapped  # Go's net.IP.To4() makes these A records
            return [_Item(ip, 0, target, self.ttl)], None
        items = [
            _Item(pod.ip, 0, target, self.ttl)
            for pod in self.index.pods_by_ip.get(text, [])
            if pod.ip is not None and pod.namespace.lower() == namespace
        ]
        return (items, None) if items else ([], _NXDOMAIN)

    def _find_services(self, q: _Q, namespace: str, service: str, endpoint: str, port: str, protocol: str) -> tuple[list[_Item], str | None]:
        if not service:
            return [], None
        svc = self.index.services.get((namespace, service))
        if svc is None:
            return [], _NXDOMAIN
        canonical = _n((service, namespace, "svc"), q.zone_q)
        if svc.type == "ExternalName":
            if endpoint or port or protocol or not svc.external_name:
                return [], _NXDOMAIN
            try:
                ipaddress.ip_address(svc.external_name)
                return [], _NXDOMAIN  # an IP is no CNAME target (HostType is A)
            except ValueError:
                pass
            try:
                target = dns.name.from_text(svc.external_name.rstrip(".") + ".")
            except dns.exception.DNSException:
                return [], _NXDOMAIN
            return [_Item(target, 0, canonical, self.ttl)], None
        items: list[_Item] = []
        found = False
        if svc.headless or endpoint:
            for subset in self.index.endpoints.get((namespace, service), ()):
                for addr in subset.addresses:
                    if endpoint and endpoint != addr.label:
                        continue
                    for p in subset.ports:
                        if _port_match(port, p.name, protocol, p.protocol):
                            found = True
                            items.append(_Item(addr.ip, p.port, _n((addr.label,), canonical), self.ttl))
            return (items, None) if found else ([], _NXDOMAIN)
        ports = [(p.port, (p.name or "").lower(), p.protocol.lower()) for p in svc.ports] or [(-1, "", "")]
        for number, name, proto in ports:
            if not _port_match(port, name, protocol, proto):
                continue
            found = True
            items.extend(_Item(ip, number, canonical, self.ttl) for ip in svc.cluster_ips)
        return (items, None) if found else ([], _NXDOMAIN)

    def _question(self, name: dns.name.Name, rdtype: dns.rdatatype.RdataType) -> _Q:
        rel = name.relativize(self.zone) if name != self.zone else dns.name.empty
        base = tuple(label.lower().decode("latin-1") for label in rel.labels)
        zone_q = dns.name.Name(name.labels[len(name.labels) - len(self.zone.labels) :])
        return _Q(name, rdtype, self.zone, zone_q, base)


def _n(labels: tuple[str, ...], origin: dns.name.Name) -> dns.name.Name:
    return _name_of(tuple(label.encode("latin-1") for label in labels) + origin.labels)


@functools.lru_cache(maxsize=1 << 16)
def _name_of(labels: tuple[bytes, ...]) -> dns.name.Name:
    """Names are immutable; building one validates every label, so reuse them."""
    return dns.name.Name(labels)


def _strip_underscore(label: str) -> str:
    return label[1:] if label.startswith("_") else label


def _port_match(q_port: str, port: str, q_proto: str, proto: str) -> bool:
    return (not q_port or q_port == port) and (not q_proto or q_proto == proto)


def _dedup(records: list[Record]) -> Iterator[Record]:
    if len(records) < 2:
        yield from records
        return
    seen: set[Record] = set()
    for rec in records:
        if rec not in seen:
            seen.add(rec)
            yield rec


def default_serial(cluster: Cluster) -> int:
    """A deterministic SOA serial: the newest creationTimestamp (unix time), else 1.
    CoreDNS uses the time of the last API change; the server passes the file's mtime."""
    newest = 0
    stamps = [s.creation_timestamp for s in cluster.services]
    stamps += [p.creation_timestamp for p in cluster.pods]
    for stamp in stamps:
        if not stamp:
            continue
        try:
            newest = max(newest, int(datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()))
        except ValueError:
            continue
    return newest or 1
