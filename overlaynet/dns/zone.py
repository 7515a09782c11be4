"""Export the cluster zone as an RFC 1035 master file (what ``named-checkzone`` and NSD load).

The content is what the resolver answers for every name it can enumerate
(``Resolver.known_questions``), so the file and the server agree; pods' records are listed
for existing pods only (``pods insecure`` answers any address, which no file can hold).
"""

from __future__ import annotations

import dns.name
import dns.rdatatype

from overlaynet.dns.records import Record
from overlaynet.dns.resolver import Resolver


def zone_records(resolver: Resolver) -> list[Record]:
    """SOA, NS, then every record owned by an enumerable in-zone name, without duplicates."""
    zone = resolver.zone
    out: list[Record] = [resolver.soa()]
    seen: set[Record] = set(out)
    for name, rdtype in resolver.known_questions():
        if not name.is_subdomain(zone) or rdtype == dns.rdatatype.SOA:
            continue
        response = resolver.answer(name, rdtype)
        if response.kind != "answer":
            continue
        owned = [r for r in response.answer if r.name == name and r.rdtype == rdtype]
        if rdtype == dns.rdatatype.NS:
            owned += [r for r in response.additional if r.name.is_subdomain(zone)]
        for rec in owned:
            if rec not in seen:
                seen.add(rec)
                out.append(rec)
    return out


def zone_text(resolver: Resolver) -> str:
    """The zone file text: ``$ORIGIN``, ``$TTL``, then one record per line."""
    zone = resolver.zone
    lines = [
        f"; cluster zone {zone} exported by overlaynet from cluster {resolver.cluster.name!r}",
        f"; legacyNames {'on' if resolver.legacy_names else 'off'}, pods {resolver.pods_mode}",
        f"$ORIGIN {zone}",
        f"$TTL {resolver.ttl}",
    ]
    for rec in zone_records(resolver):
        owner = _relative(rec.name, zone)
        lines.append(f"{owner:<50} {rec.ttl:>6} IN {rec.type:<5} {rec.data}")
    return "\n".join(lines) + "\n"


def _relative(name: dns.name.Name, zone: dns.name.Name) -> str:
    return "@" if name == zone else name.relativize(zone).to_text()
