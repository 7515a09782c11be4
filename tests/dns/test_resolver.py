"""The pure resolver against the spec and CoreDNS's kubernetes plugin behaviour."""

from __future__ import annotations

import ipaddress

import dns.rcode
import pytest
from dns_clusters import demo_cluster

from overlaynet.dns.resolver import Resolver, Upstream, parse_upstream
from overlaynet.errors import DNSError
from overlaynet.model import Cluster

Z = "cluster.local."


def data(resp, rdtype: str | None = None) -> list[str]:  # type: ignore[no-untyped-def]
    return [r.data for r in resp.answer if rdtype is None or r.type == rdtype]


def test_clusterip_a(resolver: Resolver) -> None:
    resp = resolver.answer("web.default.svc.cluster.local", "A")
    assert resp.kind == "answer" and resp.authoritative
    assert data(resp) == ["10.96.0.20"]
    assert resp.answer[0].ttl == 30


def test_dual_stack_a_and_aaaa(resolver: Resolver) -> None:
    assert data(resolver.answer("dual.default.svc.cluster.local", "A")) == ["10.96.0.30"]
    assert data(resolver.answer("dual.default.svc.cluster.local", "AAAA")) == ["fd00:96::30"]


def test_clusterip_without_aaaa_is_nodata_with_soa(resolver: Resolver) -> None:
    resp = resolver.answer("web.default.svc.cluster.local", "AAAA")
    assert resp.kind == "nodata" and resp.rcode == dns.rcode.NOERROR
    assert [r.type for r in resp.authority] == ["SOA"]


def test_unknown_service_is_nxdomain_with_soa(resolver: Resolver) -> None:
    resp = resolver.answer("nope.default.svc.cluster.local", "A")
    assert resp.rcode == dns.rcode.NXDOMAIN
    soa = resp.authority[0]
    assert soa.type == "SOA"
    assert soa.data == "ns.dns.cluster.local. hostmaster.cluster.local. 1 7200 1800 86400 30"


def test_case_insensitive_and_echoes_question_case(resolver: Resolver) -> None:
    resp = resolver.answer("WEB.Default.SVC.Cluster.Local.", "A")
    assert data(resp) == ["10.96.0.20"]
    assert resp.answer[0].name.to_text() == "WEB.Default.SVC.Cluster.Local."


def test_relative_and_absolute_names_agree(resolver: Resolver) -> None:
    assert resolver.answer("web.default.svc.cluster.local", "A") == resolver.answer(
        "web.default.svc.cluster.local.", "A"
    )


def test_headless_answers_ready_endpoints_only(resolver: Resolver) -> None:
    assert sorted(data(resolver.answer("db.default.svc.cluster.local", "A"))) == ["10.244.1.20", "10.244.2.20"]
    assert data(resolver.answer("db-0.db.default.svc.cluster.local", "A")) == ["10.244.1.20"]
    assert resolver.answer("db-2.db.default.svc.cluster.local", "A").kind == "nxdomain"  # not ready


def test_headless_without_ready_endpoints_is_nxdomain(resolver: Resolver) -> None:
    assert resolver.answer("empty.default.svc.cluster.local", "A").kind == "nxdomain"


def test_publish_not_ready_addresses(resolver: Resolver) -> None:
    assert data(resolver.answer("peers.prod.svc.cluster.local", "A")) == ["10.244.2.40"]
    assert data(resolver.answer("peers.prod.svc.cluster.local", "AAAA")) == ["fd00:244::40"]


def test_dashed_ip_endpoint_names_under_clusterip_service(resolver: Resolver) -> None:
    assert data(resolver.answer("10-244-1-11.web.default.svc.cluster.local", "A")) == ["10.244.1.11"]
    assert data(resolver.answer("fd00-244--40.peers.prod.svc.cluster.local", "AAAA")) == ["fd00:244::40"]


def test_srv_clusterip_named_port(resolver: Resolver) -> None:
    resp = resolver.answer("_http._tcp.web.default.svc.cluster.local", "SRV")
    assert data(resp) == ["0 100 80 web.default.svc.cluster.local."]
    assert [r.data for r in resp.additional] == ["10.96.0.20"]


def test_srv_bare_name_lists_every_port_weight_100_over_n(resolver: Resolver) -> None:
    resp = resolver.answer("web.default.svc.cluster.local", "SRV")
    assert data(resp) == ["0 50 80 web.default.svc.cluster.local.", "0 50 8080 web.default.svc.cluster.local."]


def test_srv_dual_stack_weight_counts_both_addresses(resolver: Resolver) -> None:
    resp = resolver.answer("_http._tcp.dual.default.svc.cluster.local", "SRV")
    assert data(resp) == ["0 50 80 dual.default.svc.cluster.local."]
    assert sorted(r.data for r in resp.additional) == ["10.96.0.30", "fd00:96::30"]


def test_srv_headless_one_per_endpoint(resolver: Resolver) -> None:
    resp = resolver.answer("_pg._tcp.db.default.svc.cluster.local", "SRV")
    assert data(resp) == [
        "0 50 5432 db-0.db.default.svc.cluster.local.",
        "0 50 5432 db-1.db.default.svc.cluster.local.",
    ]
    assert {r.name.to_text(): r.data for r in resp.additional} == {
        "db-0.db.default.svc.cluster.local.": "10.244.1.20",
        "db-1.db.default.svc.cluster.local.": "10.244.2.20",
    }


def test_srv_weight_floors_like_coredns() -> None:
    r = Resolver(demo_cluster(many=6))
    weights = {rec.weight for rec in r.answer("_http._tcp.big.default.svc.cluster.local", "SRV").answer}  # type: ignore[attr-defined]
    assert weights == {16}


def test_srv_protocol_case_and_unknown_port(resolver: Resolver) -> None:
    assert resolver.answer("_HTTP._TCP.web.default.svc.cluster.local", "SRV").kind == "answer"
    assert resolver.answer("_http._udp.web.default.svc.cluster.local", "SRV").kind == "nxdomain"
    assert resolver.answer("_gossip._udp.peers.prod.svc.cluster.local", "SRV").kind == "answer"


def test_externalname_cname(resolver: Resolver) -> None:
    resp = resolver.answer("ext.default.svc.cluster.local", "CNAME")
    assert data(resp) == ["example.com."]
    a = resolver.answer("ext.default.svc.cluster.local", "A")
    assert data(a) == ["example.com."] and a.chase is None  # no upstream: the CNAME alone


def test_externalname_chased_upstream_when_configured() -> None:
    r = Resolver(demo_cluster(), upstream=["192.0.2.53:53"])
    resp = r.answer("ext.default.svc.cluster.local", "A")
    assert resp.chase is not None and resp.chase.to_text() == "example.com."
    assert not resp.cacheable


def test_externalname_in_zone_target_is_followed(resolver: Resolver) -> None:
    resp = resolver.answer("alias.default.svc.cluster.local", "A")
    assert [(r.type, r.data) for r in resp.answer] == [
        ("CNAME", "web.default.svc.cluster.local."), ("A", "10.96.0.20"),
    ]


def test_externalname_has_no_srv_or_children(resolver: Resolver) -> None:
    assert resolver.answer("ext.default.svc.cluster.local", "SRV").kind == "nodata"
    assert resolver.answer("_http._tcp.ext.default.svc.cluster.local", "SRV").kind == "nxdomain"
    assert resolver.answer("x.ext.default.svc.cluster.local", "A").kind == "nxdomain"


@pytest.mark.parametrize(("name", "target"), [
    ("20.0.96.10.in-addr.arpa", "web.default.svc.cluster.local."),
    ("11.1.244.10.in-addr.arpa", "10-244-1-11.web.default.svc.cluster.local."),
    ("20.1.244.10.in-addr.arpa", "db-0.db.default.svc.cluster.local."),
])
def test_ptr(resolver: Resolver, name: str, target: str) -> None:
    assert data(resolver.answer(name, "PTR")) == [target]


def test_ptr_ipv6(resolver: Resolver) -> None:
    name = ipaddress.ip_address("fd00:96::30").reverse_pointer
    assert data(resolver.answer(name, "PTR")) == ["dual.default.svc.cluster.local."]


def test_ptr_unknown_address_is_nxdomain_or_forwarded() -> None:
    assert Resolver(demo_cluster()).answer("9.9.9.9.in-addr.arpa", "PTR").kind == "nxdomain"
    assert Resolver(demo_cluster(), upstream="192.0.2.53").answer("9.9.9.9.in-addr.arpa", "PTR").kind == "forward"


def test_dns_version(resolver: Resolver) -> None:
    resp = resolver.answer("dns-version.cluster.local", "TXT")
    assert data(resp) == ['"1.1.0"'] and resp.answer[0].ttl == 28800
    assert resolver.answer("dns-version.cluster.local", "A").kind == "nxdomain"  # CoreDNS quirk
    assert resolver.answer("web.default.svc.cluster.local", "TXT").kind == "nodata"


def test_apex_soa_and_ns(resolver: Resolver) -> None:
    soa = resolver.answer(Z, "SOA")
    assert soa.answer[0].data.split()[2:] == ["1", "7200", "1800", "86400", "30"]
    # kube-dns has no endpoint here, so no CoreDNS pod answers: CoreDNS's own IP backs no
    # Service and it names itself ns.dns.<zone> (ns.go nsAddrs; kubernetes_apex_test.go)
    ns = resolver.answer(Z, "NS")
    assert data(ns) == ["ns.dns.cluster.local."]
    assert [(r.name.to_text(), r.data) for r in ns.additional] == [("ns.dns.cluster.local.", "10.96.0.10")]
    assert data(resolver.answer("ns.dns.cluster.local", "A")) == ["10.96.0.10"]
    assert data(resolver.answer("in-addr.arpa.", "NS")) == ["ns.dns.in-addr.arpa."]


def with_coredns(cluster: Cluster, *ips: str) -> Cluster:
    """``cluster`` with CoreDNS pods at ``ips`` behind kube-dns (an EndpointSlice)."""
    from dataclasses import replace

    from overlaynet.model import (
        Endpoint,
        EndpointPort,
        EndpointSlice,
        ObjectRef,
        Pod,
        ip_address,
        labels,
    )

    pods = tuple(Pod(f"coredns-{i}", "kube-system", labels({"k8s-app": "kube-dns"}), "node-1", (ip_address(ip),))
                 for i, ip in enumerate(ips))
    slice_ = EndpointSlice("kube-dns-abc", "kube-system", "kube-dns", endpoints=tuple(
        Endpoint(addresses=(p.ip,), target_ref=ObjectRef("Pod", p.name, "kube-system")) for p in pods),
        ports=(EndpointPort(53, "UDP", name="dns"),))
    return replace(cluster, pods=cluster.pods + pods, endpoint_slices=cluster.endpoint_slices + (slice_,))


def test_ns_is_the_service_coredns_backs_with_its_cluster_ip_as_glue(cluster: Cluster) -> None:
    """CoreDNS names itself after every Service its pod IP is a ready endpoint of, joined to
    the zone asked (ns.go nsAddrs, ns_test.go TestNsAddrs) — in a reverse zone too."""
    r = Resolver(with_coredns(cluster, "10.244.1.53", "10.244.2.53"))
    ns = r.answer(Z, "NS")
    assert data(ns) == ["kube-dns.kube-system.svc.cluster.local."]
    assert [(a.name.to_text(), a.data) for a in ns.additional] == [("kube-dns.kube-system.svc.cluster.local.", "10.96.0.10")]
    rev = r.answer("in-addr.arpa.", "NS")
    assert data(rev) == ["kube-dns.kube-system.svc.in-addr.arpa."]
    assert [a.data for a in rev.additional] == ["10.96.0.10"]
    assert data(r.answer("ns.dns.cluster.local", "A")) == ["10.96.0.10"]  # isDefaultNS: the NS addresses
    assert r.answer("ns.dns.cluster.local", "AAAA").kind == "nodata"


def test_reverse_nxdomain_carries_the_reverse_zones_soa(resolver: Resolver) -> None:
    for name, zone in (("9.9.9.10.in-addr.arpa.", "in-addr.arpa."), ("10.in-addr.arpa.", "in-addr.arpa."),
                       (ipaddress.ip_address("fd00::99").reverse_pointer + ".", "ip6.arpa.")):
        resp = resolver.answer(name, "PTR")
        assert resp.kind == "nxdomain" and resp.authoritative
        [soa] = resp.authority
        assert (soa.name.to_text(), soa.type) == (zone, "SOA")
        assert soa.data.split()[:2] == [f"ns.dns.{zone}", f"hostmaster.{zone}"]


def test_ns_without_dns_service_is_ns_dns(cluster) -> None:  # type: ignore[no-untyped-def]
    from dataclasses import replace

    c = replace(cluster, services=tuple(s for s in cluster.services if s.name != "kube-dns"))
    assert data(Resolver(c).answer(Z, "NS")) == ["ns.dns.cluster.local."]


@pytest.mark.parametrize(("name", "kind"), [
    ("cluster.local", "nodata"),
    ("svc.cluster.local", "nodata"),
    ("pod.cluster.local", "nodata"),
    ("default.svc.cluster.local", "nodata"),
    ("nonexistent.svc.cluster.local", "nxdomain"),
    ("web.nonexistent.svc.cluster.local", "nxdomain"),
    ("a.b.c.web.default.svc.cluster.local", "nxdomain"),
    ("web.default.foo.cluster.local", "nxdomain"),
    ("*.default.svc.cluster.local", "nxdomain"),  # wildcards removed in CoreDNS 1.9.0
    ("any.default.svc.cluster.local", "nxdomain"),
])
def test_existence(resolver: Resolver, name: str, kind: str) -> None:
    assert resolver.answer(name, "A").kind == kind


def test_soa_below_apex_is_nodata_even_for_missing_names(resolver: Resolver) -> None:
    assert resolver.answer("nope.default.svc.cluster.local", "SOA").kind == "nodata"


def test_other_types_do_a_fake_a_lookup(resolver: Resolver) -> None:
    assert resolver.answer("web.default.svc.cluster.local", "MX").kind == "nodata"
    assert resolver.answer("web.default.svc.cluster.local", "ANY").kind == "nodata"
    assert resolver.answer("nope.default.svc.cluster.local", "MX").kind == "nxdomain"
    assert resolver.answer("web.default.svc.cluster.local", "NS").kind == "nodata"


def test_zone_transfer_refused(resolver: Resolver) -> None:
    assert resolver.answer(Z, "AXFR").rcode == dns.rcode.REFUSED


def test_legacy_names_on_and_off() -> None:
    on = Resolver(demo_cluster(legacy=True))
    off = Resolver(demo_cluster(legacy=False))
    assert data(on.answer("web.default.cluster.local", "A")) == ["10.96.0.20"]
    assert data(on.answer("_http._tcp.web.default.cluster.local", "SRV")) == [
        "0 100 80 web.default.svc.cluster.local."
    ]
    assert on.answer("default.cluster.local", "A").kind == "nodata"
    assert on.answer("web.nonexistent.cluster.local", "A").kind == "nxdomain"
    assert off.answer("web.default.cluster.local", "A").kind == "nxdomain"  # exactly CoreDNS
    assert Resolver(demo_cluster(legacy=True), legacy_names=False).answer(
        "web.default.cluster.local", "A").kind == "nxdomain"


@pytest.mark.parametrize(("mode", "name", "expected"), [
    ("insecure", "1-2-3-4.default.pod.cluster.local", "answer"),
    ("insecure", "1-2-3-4.nonexistent.pod.cluster.local", "nxdomain"),
    ("insecure", "1-2-3.default.pod.cluster.local", "nxdomain"),
    ("insecure", "default.pod.cluster.local", "nodata"),
    ("verified", "10-244-1-10.default.pod.cluster.local", "answer"),
    ("verified", "1-2-3-4.default.pod.cluster.local", "nxdomain"),
    ("verified", "10-244-1-10.prod.pod.cluster.local", "nxdomain"),
    ("disabled", "10-244-1-10.default.pod.cluster.local", "nxdomain"),
    ("disabled", "default.pod.cluster.local", "nxdomain"),
])
def test_pod_records(mode: str, name: str, expected: str) -> None:
    assert Resolver(demo_cluster(), pods_mode=mode).answer(name, "A").kind == expected


def test_pod_record_ipv6_insecure() -> None:
    resp = Resolver(demo_cluster()).answer("fd00--1.default.pod.cluster.local", "AAAA")
    assert data(resp) == ["fd00::1"]


def test_out_of_zone_refused_without_upstream_forward_with(resolver: Resolver) -> None:
    resp = resolver.answer("www.example.com", "A")
    assert resp.rcode == dns.rcode.REFUSED and not resp.authoritative
    fwd = Resolver(demo_cluster(upstreams=("192.0.2.53:5353",))).answer("www.example.com", "A")
    assert fwd.kind == "forward" and fwd.forward == (Upstream(ipaddress.ip_address("192.0.2.53"), 5353),)


def test_to_message_roundtrip(resolver: Resolver) -> None:
    msg = resolver.answer("_pg._tcp.db.default.svc.cluster.local", "SRV").to_message()
    assert len(msg.answer[0]) == 2 and msg.rcode() == dns.rcode.NOERROR


@pytest.mark.parametrize("bad", ["", "nope:port", "1.2.3.4:0", "1.2.3.4:99999", "host.example:53"])
def test_parse_upstream_rejects(bad: str) -> None:
    with pytest.raises(DNSError):
        parse_upstream(bad)


def test_parse_upstream_forms() -> None:
    assert str(parse_upstream("1.1.1.1")) == "1.1.1.1:53"
    assert str(parse_upstream("[2001:db8::1]:5353")) == "[2001:db8::1]:5353"
    assert str(parse_upstream("2001:db8::1")) == "[2001:db8::1]:53"


def test_bad_options_are_dns_errors(cluster) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(DNSError):
        Resolver(cluster, pods_mode="sometimes")
    with pytest.raises(DNSError):
        Resolver(cluster, ttl=5000)
    with pytest.raises(DNSError):
        Resolver(cluster).answer("web.default", "NOTATYPE")
    with pytest.raises(DNSError):
        Resolver(cluster).answer("a..b", "A")


def test_known_questions_all_answer(resolver: Resolver) -> None:
    questions = list(resolver.known_questions())
    assert len(questions) == len(set(questions))
    kinds = {resolver.answer(n, t).kind for n, t in questions}
    assert kinds <= {"answer", "nodata"}
