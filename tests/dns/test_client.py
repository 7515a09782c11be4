"""The pod's view: resolv.conf and glibc's search walk (ndots:5), query by query."""

from __future__ import annotations

import dns.rcode
import pytest
from dns_clusters import demo_cluster

from overlaynet.dns.client import candidates, client_resolve, resolv_conf
from overlaynet.dns.records import ARecord
from overlaynet.dns.resolver import Resolver, Response
from overlaynet.errors import DNSError
from overlaynet.model import Cluster, ip_address

SEARCH = ("default.svc.cluster.local", "svc.cluster.local", "cluster.local")


def test_resolv_conf(cluster: Cluster) -> None:
    assert resolv_conf(cluster, "default/frontend-0") == (
        "search default.svc.cluster.local svc.cluster.local cluster.local\n"
        "nameserver 10.96.0.10\n"
        "options ndots:5\n"
    )


def test_resolv_conf_host_network_pod_gets_the_nodes() -> None:
    text = resolv_conf(demo_cluster(upstreams=("192.0.2.53",)), "default/hostnet")
    assert "search" not in text and "nameserver 192.0.2.53" in text


@pytest.mark.parametrize(("name", "expected"), [
    ("web", ("web.default.svc.cluster.local.", "web.svc.cluster.local.", "web.cluster.local.", "web.")),
    ("web.default.svc.cluster.local", (  # 4 dots < 5: the search list first
        "web.default.svc.cluster.local.default.svc.cluster.local.",
        "web.default.svc.cluster.local.svc.cluster.local.",
        "web.default.svc.cluster.local.cluster.local.",
        "web.default.svc.cluster.local.",
    )),
    ("a.b.c.d.e.f", ("a.b.c.d.e.f.", "a.b.c.d.e.f.default.svc.cluster.local.",
                     "a.b.c.d.e.f.svc.cluster.local.", "a.b.c.d.e.f.cluster.local.")),
    ("web.default.svc.cluster.local.", ("web.default.svc.cluster.local.",)),
])
def test_candidates_follow_glibc(name: str, expected: tuple[str, ...]) -> None:
    assert candidates(name, SEARCH) == expected


def test_candidates_reject_empty() -> None:
    with pytest.raises(DNSError):
        candidates("  ", SEARCH)


def test_short_name_first_query_answers(cluster: Cluster, resolver: Resolver) -> None:
    res = client_resolve(cluster, "default/frontend-0", "web", resolver=resolver)
    assert res.to_dict() == {
        "queries": [{"name": "web.default.svc.cluster.local.", "type": "A", "rcode": "NOERROR"}],
        "answer": [{"name": "web.default.svc.cluster.local.", "type": "A", "ttl": 30, "data": "10.96.0.20"}],
    }
    assert res.addresses == (ip_address("10.96.0.20"),) and res.resolved


def test_other_namespace_walks_the_search_path(cluster: Cluster, resolver: Resolver) -> None:
    res = client_resolve(cluster, "prod/client", "web.default", resolver=resolver)
    assert [(q.name, q.rcode) for q in res.queries] == [
        ("web.default.prod.svc.cluster.local.", "NXDOMAIN"),
        ("web.default.svc.cluster.local.", "NOERROR"),
    ]


def test_fqdn_without_dot_costs_three_nxdomains(cluster: Cluster, resolver: Resolver) -> None:
    res = client_resolve(cluster, "prod/client", "data.prod.svc.cluster.local", resolver=resolver)
    assert [q.rcode for q in res.queries] == ["NXDOMAIN", "NXDOMAIN", "NXDOMAIN", "NOERROR"]


def test_unknown_name_ends_refused_without_upstream(cluster: Cluster, resolver: Resolver) -> None:
    res = client_resolve(cluster, "default/frontend-0", "nope", resolver=resolver)
    assert [q.rcode for q in res.queries] == ["NXDOMAIN", "NXDOMAIN", "NXDOMAIN", "REFUSED"]
    assert res.rcode == "REFUSED" and not res.resolved and res.answer == ()


def test_unknown_name_with_upstream_is_forwarded() -> None:
    c = demo_cluster(upstreams=("192.0.2.53",))
    res = client_resolve(c, "default/frontend-0", "www.example.com")
    assert [q.rcode for q in res.queries] == ["NXDOMAIN", "NXDOMAIN", "NXDOMAIN", "FORWARDED"]
    assert res.rcode == "FORWARDED"


def test_forwarder_answers_outside_names() -> None:
    c = demo_cluster(upstreams=("192.0.2.53",))
    seen = []

    def forwarder(name, rdtype):  # type: ignore[no-untyped-def]
        seen.append(name.to_text())
        return Response(name, rdtype, dns.rcode.NOERROR, (ARecord(name, 60, ip_address("93.184.216.34")),))

    res = client_resolve(c, "default/frontend-0", "www.example.com", forwarder=forwarder)
    assert seen == ["www.example.com."] and res.addresses == (ip_address("93.184.216.34"),)
    chased = client_resolve(c, "default/frontend-0", "ext", forwarder=forwarder)
    assert [r.type for r in chased.answer] == ["CNAME", "A"] and seen[-1] == "example.com."


def test_nodata_continues_and_is_reported(cluster: Cluster, resolver: Resolver) -> None:
    res = client_resolve(cluster, "default/frontend-0", "default.svc.cluster.local.", resolver=resolver)
    assert [q.rcode for q in res.queries] == ["NOERROR"] and res.queries[0].answers == 0
    assert res.rcode == "NOERROR" and not res.resolved


def test_aaaa_and_srv(cluster: Cluster, resolver: Resolver) -> None:
    assert client_resolve(cluster, "default/frontend-0", "dual", "AAAA", resolver=resolver).addresses == (
        ip_address("fd00:96::30"),
    )
    srv = client_resolve(cluster, "default/frontend-0", "_pg._tcp.db", "SRV", resolver=resolver)
    assert len(srv.answer) == 2 and srv.addresses == ()


def test_host_network_pod_does_not_use_cluster_dns(cluster: Cluster) -> None:
    res = client_resolve(cluster, "default/hostnet", "web")
    assert res.search == () and [q.name for q in res.queries] == ["web."]
    assert res.rcode == "REFUSED"


def test_unknown_pod(cluster: Cluster) -> None:
    with pytest.raises(DNSError, match="no pod"):
        client_resolve(cluster, "default/ghost", "web")


def test_resolver_is_reused_for_the_same_cluster() -> None:
    from overlaynet.dns.client import shared_resolver

    c = demo_cluster()
    assert shared_resolver(c) is shared_resolver(c)
    other = demo_cluster()
    assert shared_resolver(other) is not shared_resolver(c) and shared_resolver(other).cluster is other
