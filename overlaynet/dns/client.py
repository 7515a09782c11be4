"""A pod's view of cluster DNS: its resolv.conf, and the glibc search walk over the resolver.

``client_resolve`` expands a name through the pod's search list exactly as glibc's
``res_search`` does (ndots:5) and records every query sent, in order, with its rcode.
The tracer (``overlaynet/trace``) calls it for ``trace --to NAME``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import dns.name
import dns.rcode
import dns.rdatatype

from overlaynet.dns.message import Response, to_name, to_rdtype
from overlaynet.dns.records import AAAARecord, ARecord, Record
from overlaynet.dns.resolver import Resolver
from overlaynet.errors import DNSError
from overlaynet.model import Cluster, IPAddress, Pod

NDOTS = 5  # kubelet's defaultDNSOptions
FORWARDED = "FORWARDED"  # pseudo-rcode: the cluster DNS forwarded it; the answer is outside

Forwarder = Callable[[dns.name.Name, dns.rdatatype.RdataType], Response]


@dataclass(frozen=True, slots=True)
class Query:
    """One query the pod's stub resolver sent: name, type, and the rcode it got back."""

    name: str
    type: str
    rcode: str
    answers: int = 0  # records in the answer section (0 with NOERROR is NODATA)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "rcode": self.rcode}


@dataclass(frozen=True, slots=True)
class ClientResolution:
    """The search walk for one name from one pod, and its outcome."""

    pod: str
    name: str
    type: str
    nameserver: str | None
    search: tuple[str, ...]
    queries: tuple[Query, ...]
    answer: tuple[Record, ...]
    addresses: tuple[IPAddress, ...]
    rcode: str  # NOERROR (with answer, or NODATA), NXDOMAIN, REFUSED, SERVFAIL, FORWARDED

    @property
    def resolved(self) -> bool:
        return bool(self.answer) and self.rcode == "NOERROR"

    def to_dict(self) -> dict[str, Any]:
        return {
            "queries": [q.to_dict() for q in self.queries],
            "answer": [r.to_dict() for r in self.answer],
        }


@dataclass(frozen=True, slots=True)
class PodResolver:
    """What the kubelet puts in a pod's resolv.conf (pkg/kubelet/network/dns/dns.go), and
    whether its first nameserver is the cluster DNS."""

    nameservers: tuple[str, ...]
    search: tuple[str, ...]
    ndots: int
    cluster_first: bool


def pod_resolver(cluster: Cluster, pod: Pod) -> PodResolver:
    """``dnsPolicy`` as the kubelet applies it: ClusterFirst (a hostNetwork pod falls back to
    Default unless ClusterFirstWithHostNet) gives the cluster DNS and the search list
    ``<ns>.svc.<zone> svc.<zone> <zone>`` with ndots 5; Default the node's resolver (its
    upstreams, no search list); None only ``dnsConfig``; ``dnsConfig`` adds nameservers (3 at
    most) and searches, and its ``ndots`` option overrides."""
    cluster_dns = str(cluster.dns_ip or "127.0.0.1")
    node_servers = tuple(u.split(":")[0] if u.count(":") == 1 else u for u in cluster.dns.upstreams)
    policy = pod.dns_policy
    if policy == "ClusterFirst" and pod.host_network:
        policy = "Default"
    if policy in ("ClusterFirst", "ClusterFirstWithHostNet"):
        zone = cluster.domain.strip(".").lower()
        servers: tuple[str, ...] = (cluster_dns,)
        search: tuple[str, ...] = (f"{pod.namespace}.svc.{zone}", f"svc.{zone}", zone)
        ndots = NDOTS
    elif policy == "Default":
        servers, search, ndots = node_servers, (), 1
    else:
        servers, search, ndots = (), (), 1
    config = pod.dns_config
    if config is not None:
        servers = tuple(dict.fromkeys((*servers, *config.nameservers)))[:3]
        search = tuple(dict.fromkeys((*search, *(s.strip(".").lower() for s in config.searches))))
        ndots = config.ndots if config.ndots is not None else ndots
    return PodResolver(servers, search, ndots, bool(servers) and servers[0] == cluster_dns)


def search_list(cluster: Cluster, pod: Pod) -> tuple[str, ...]:
    """The pod's search domains (see ``pod_resolver``)."""
    return pod_resolver(cluster, pod).search


def resolv_conf(cluster: Cluster, pod: Pod | str) -> str:
    """The resolv.conf the kubelet writes for ``pod`` (kubelet dns.go)."""
    pod = pod_of(cluster, pod)
    conf = pod_resolver(cluster, pod)
    lines = []
    if pod.host_network and pod.dns_policy == "ClusterFirst":
        lines.append("# hostNetwork pod with dnsPolicy ClusterFirst: the node's resolv.conf")
    if conf.search:
        lines.append(f"search {' '.join(conf.search)}")
    lines += [f"nameserver {ns}" for ns in conf.nameservers]
    if conf.ndots != 1:
        lines.append(f"options ndots:{conf.ndots}")
    return "\n".join(lines) + "\n"


def candidates(name: str, search: tuple[str, ...], ndots: int = NDOTS) -> tuple[str, ...]:
    """The names glibc's res_search tries, in order: an absolute name alone; a name with at
    least ``ndots`` dots as-is first, then with each suffix; otherwise suffixes first."""
    text = name.strip()
    if not text or text == ".":
        raise DNSError(f"bad DNS name {name!r}")
    if text.endswith("."):
        return (text,)
    suffixed = tuple(f"{text}.{s}." for s in search)
    if text.count(".") >= ndots:
        return (f"{text}.", *suffixed)
    return (*suffixed, f"{text}.")


def client_resolve(
    cluster: Cluster,
    pod: Pod | str,
    name: str,
    qtype: str = "A",
    *,
    resolver: Resolver | None = None,
    forwarder: Forwarder | None = None,
) -> ClientResolution:
    """Resolve ``name`` as ``pod`` would (``pod`` is a Pod or ``"ns/name"``).

    The walk continues on NXDOMAIN, NODATA and SERVFAIL and stops at the first answer; any
    other rcode (REFUSED) ends it, as in glibc. A query the cluster DNS forwards upstream is
    answered by ``forwarder`` when given, else recorded as ``FORWARDED`` and the walk stops.
    Without ``resolver``, one with the cluster's own DNS options is built and reused for
    later calls on the same Cluster object.
    """
    pod = pod_of(cluster, pod)
    rdtype = to_rdtype(qtype)
    resolver = resolver or shared_resolver(cluster)
    conf = pod_resolver(cluster, pod)
    search = conf.search
    queries: list[Query] = []
    answer: tuple[Record, ...] = ()
    nodata = servfail = False
    final = "NXDOMAIN"
    type_text = dns.rdatatype.to_text(rdtype)
    for cand in candidates(name, search, conf.ndots):
        qname = to_name(cand)
        if not conf.cluster_first:  # the node's resolver (or dnsConfig's), not the cluster DNS
            resp = Response(qname, rdtype, dns.rcode.NOERROR, forward=resolver.upstreams) \
                if resolver.upstreams else Response(qname, rdtype, dns.rcode.REFUSED)
        else:
            resp = resolver.answer(qname, rdtype)
        if resp.forward:
            if forwarder is None:
                queries.append(Query(qname.to_text(), type_text, FORWARDED))
                final = FORWARDED
                break
            resp = forwarder(qname, rdtype)
        records = resp.answer
        if resp.chase is not None and forwarder is not None:
            records = (*records, *forwarder(resp.chase, rdtype).answer)
        rcode = dns.rcode.to_text(resp.rcode)
        queries.append(Query(qname.to_text(), type_text, rcode, len(records)))
        if resp.rcode == dns.rcode.NOERROR and records:
            answer, final = records, "NOERROR"
            break
        if resp.rcode == dns.rcode.NOERROR:
            nodata = True
        elif resp.rcode == dns.rcode.SERVFAIL:
            servfail = True
        elif resp.rcode != dns.rcode.NXDOMAIN:
            final = rcode
            break
    else:
        final = "NOERROR" if nodata else "SERVFAIL" if servfail else "NXDOMAIN"
    addresses = tuple(r.address for r in answer if isinstance(r, ARecord | AAAARecord))
    return ClientResolution(
        pod=pod.key, name=name, type=type_text,
        nameserver=conf.nameservers[0] if conf.nameservers else None,
        search=search, queries=tuple(queries), answer=answer, addresses=addresses, rcode=final,
    )


_RECENT: OrderedDict[int, Resolver] = OrderedDict()
_RECENT_MAX = 4


def shared_resolver(cluster: Cluster) -> Resolver:
    """A Resolver with the cluster's own options, reused across calls for the same Cluster
    object (the last few are kept; each keeps its cluster alive, so ids cannot be reused)."""
    found = _RECENT.get(id(cluster))
    if found is not None and found.cluster is cluster:
        _RECENT.move_to_end(id(cluster))
        return found
    resolver = Resolver(cluster)
    _RECENT[id(cluster)] = resolver
    while len(_RECENT) > _RECENT_MAX:
        _RECENT.popitem(last=False)
    return resolver


def pod_of(cluster: Cluster, pod: Pod | str) -> Pod:
    """``pod`` itself, or the pod ``ns/name`` (or unique prefix) names; DNSError if none."""
    if isinstance(pod, Pod):
        return pod
    found = cluster.find_pod(pod)
    if found is None:
        raise DNSError(f"no pod {pod if '/' in pod else 'default/' + pod} in the topology")
    return found
