"""Properties over generated clusters (overlaynet.testing.strategies.clusters)."""

from __future__ import annotations

import dns.message
import dns.rcode
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from overlaynet.dns.client import client_resolve
from overlaynet.dns.resolver import Resolver
from overlaynet.dns.wire import Engine
from overlaynet.dns.zone import zone_records
from overlaynet.model import Cluster
from overlaynet.testing.strategies import clusters

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(clusters(max_nodes=3, dual_stack=True))
def test_every_clusterip_service_resolves_to_its_cluster_ips(cluster: Cluster) -> None:
    resolver = Resolver(cluster)
    for svc in cluster.services:
        name = f"{svc.name}.{svc.namespace}.svc.{cluster.domain}"
        if svc.type == "ExternalName":
            assert resolver.answer(name, "CNAME").kind == "answer"
            continue
        if svc.headless or not svc.cluster_ips:
            continue
        got = {r.address for t in ("A", "AAAA") for r in resolver.answer(name, t).answer}  # type: ignore[attr-defined]
        assert got == set(svc.cluster_ips)


@SETTINGS
@given(clusters(max_nodes=3, dual_stack=True))
def test_zone_records_are_answers_and_engine_matches_resolver(cluster: Cluster) -> None:
    resolver = Resolver(cluster)
    engine = Engine(resolver)
    for rec in zone_records(resolver):
        resp = resolver.answer(rec.name, rec.rdtype)
        assert rec in resp.answer or rec in resp.additional
        query = dns.message.make_query(rec.name, rec.rdtype)
        out = engine.handle(query.to_wire(), tcp=True)
        assert isinstance(out, bytes)
        reply = dns.message.from_wire(out)
        assert reply.rcode() == dns.rcode.NOERROR and reply.answer


@SETTINGS
@given(clusters(max_nodes=2), st.lists(st.from_regex(r"[a-z0-9_*-]{1,10}", fullmatch=True), min_size=1, max_size=6),
       st.sampled_from(["A", "AAAA", "SRV", "PTR", "TXT", "CNAME", "MX", "ANY", "NS", "SOA"]))
def test_resolver_total_and_client_walk_terminates(cluster: Cluster, labels: list[str], qtype: str) -> None:
    resolver = Resolver(cluster)
    name = ".".join(labels)
    for suffix in ("", f".svc.{cluster.domain}", f".{cluster.domain}", ".in-addr.arpa"):
        resp = resolver.answer(name + suffix, qtype)
        assert resp.kind in ("answer", "nodata", "nxdomain", "refused", "forward")
        if resp.rcode != dns.rcode.NOERROR or not resp.answer:
            assert resp.kind != "answer"
    if cluster.pods:
        res = client_resolve(cluster, cluster.pods[0], name, qtype, resolver=resolver)
        assert 1 <= len(res.queries) <= 4
        assert res.resolved == (res.queries[-1].rcode == "NOERROR" and bool(res.answer))
