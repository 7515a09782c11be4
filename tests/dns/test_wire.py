"""The wire engine and codec: identical to dnspython's rendering, header rules, EDNS, TC."""

from __future__ import annotations

import dns.edns
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from overlaynet.dns.codec import parse_query, parse_simple
from overlaynet.dns.resolver import Resolver
from overlaynet.dns.wire import OUR_PAYLOAD, Engine, UpstreamRequest


def ask(engine: Engine, name: str, rdtype: str = "A", *, tcp: bool = False, **kw: object) -> dns.message.Message:
    query = dns.message.make_query(name, rdtype, **kw)  # type: ignore[arg-type]
    out = engine.handle(query.to_wire(), tcp=tcp)
    assert isinstance(out, bytes)
    reply = dns.message.from_wire(out)
    assert reply.id == query.id
    return reply


def test_every_precomputed_answer_matches_dnspython(resolver: Resolver, engine: Engine) -> None:
    for name, rdtype in resolver.known_questions():
        query = dns.message.make_query(name, rdtype)
        out = engine.handle(query.to_wire(), tcp=True)
        assert isinstance(out, bytes)
        got = dns.message.from_wire(out)
        want = resolver.answer(name, rdtype).to_message(query)
        assert got.rcode() == want.rcode() and got.flags == want.flags, name
        for section in ("answer", "authority", "additional"):
            assert sorted(map(str, getattr(got, section))) == sorted(map(str, getattr(want, section))), name


def test_flags_echo_rd_and_cd(engine: Engine) -> None:
    plain = ask(engine, "web.default.svc.cluster.local")
    assert plain.flags & dns.flags.AA and plain.flags & dns.flags.RD
    assert not plain.flags & dns.flags.RA  # no upstream, no recursion
    norec = dns.message.make_query("web.default.svc.cluster.local", "A")
    norec.flags = dns.flags.CD
    reply = dns.message.from_wire(engine.handle(norec.to_wire()))  # type: ignore[arg-type]
    assert not reply.flags & dns.flags.RD and reply.flags & dns.flags.CD


def test_question_case_is_echoed(engine: Engine) -> None:
    for _ in range(2):  # the second time from the exact-query cache
        reply = ask(engine, "Web.DEFAULT.svc.cluster.local")
        assert reply.question[0].name.to_text() == "Web.DEFAULT.svc.cluster.local."
        assert reply.answer[0].name.to_text() == "Web.DEFAULT.svc.cluster.local."


def test_edns_opt_out_with_our_payload_and_do_echo(engine: Engine) -> None:
    reply = ask(engine, "web.default.svc.cluster.local", use_edns=0, payload=4096, want_dnssec=True)
    assert reply.edns == 0 and reply.payload == OUR_PAYLOAD and reply.ednsflags & dns.flags.DO
    assert ask(engine, "web.default.svc.cluster.local").edns == -1


def test_large_answer_truncated_over_udp_full_over_tcp(engine: Engine) -> None:
    udp = ask(engine, "big.default.svc.cluster.local")
    assert udp.flags & dns.flags.TC and not udp.answer
    edns = ask(engine, "big.default.svc.cluster.local", use_edns=0, payload=4096)
    assert edns.flags & dns.flags.TC  # 120 records do not fit our 1232 bytes either
    tcp = ask(engine, "big.default.svc.cluster.local", tcp=True)
    assert not tcp.flags & dns.flags.TC and len(tcp.answer[0]) == 120


def test_nxdomain_carries_soa(engine: Engine) -> None:
    reply = ask(engine, "nope.default.svc.cluster.local")
    assert reply.rcode() == dns.rcode.NXDOMAIN and reply.authority[0].rdtype == dns.rdatatype.SOA


def test_refused_out_of_zone_and_other_classes(engine: Engine) -> None:
    assert ask(engine, "www.example.com").rcode() == dns.rcode.REFUSED
    chaos = ask(engine, "version.bind", "TXT", rdclass="CH")
    assert chaos.rcode() == dns.rcode.REFUSED


def test_notimp_for_other_opcodes(engine: Engine) -> None:
    query = dns.message.make_query("web.default.svc.cluster.local", "A")
    query.set_opcode(dns.opcode.NOTIFY)
    reply = dns.message.from_wire(engine.handle(query.to_wire()))  # type: ignore[arg-type]
    assert reply.rcode() == dns.rcode.NOTIMP and reply.opcode() == dns.opcode.NOTIFY


def test_formerr_and_drops(engine: Engine) -> None:
    query = dns.message.make_query("web.default.svc.cluster.local", "A").to_wire()
    two = query[:4] + b"\x00\x02" + query[6:]  # qdcount 2, one question
    reply = engine.handle(two)
    assert isinstance(reply, bytes) and reply[:2] == query[:2] and reply[3] & 0xF == dns.rcode.FORMERR
    assert engine.handle(query[:11]) is None  # shorter than a header
    response = bytes([query[0], query[1], query[2] | 0x80]) + query[3:]
    assert engine.handle(response) is None  # a response: never answered


def test_badvers(engine: Engine) -> None:
    query = dns.message.make_query("web.default.svc.cluster.local", "A", use_edns=1)
    reply = dns.message.from_wire(engine.handle(query.to_wire()))  # type: ignore[arg-type]
    assert reply.rcode() == dns.rcode.BADVERS


def test_compressed_question_uses_the_dnspython_path(engine: Engine) -> None:
    # question name "web" + pointer to a name placed in the additional section is illegal;
    # a pointer back into the header is parseable garbage: FORMERR, not a crash.
    data = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x03web\xc0\x0c\x00\x01\x00\x01"
    reply = engine.handle(data)
    assert isinstance(reply, bytes) and reply[:2] == b"\x12\x34"


def test_forward_and_chase_are_upstream_requests() -> None:
    from dns_clusters import demo_cluster

    engine = Engine(Resolver(demo_cluster(upstreams=("127.0.0.1:9",))))
    q = dns.message.make_query("www.example.com", "A")
    req = engine.handle(q.to_wire())
    assert isinstance(req, UpstreamRequest) and req.response.forward
    failed = dns.message.from_wire(engine.finish(req, None))
    assert failed.rcode() == dns.rcode.SERVFAIL and failed.id == q.id
    upstream_reply = dns.message.make_response(q)
    upstream_reply.id = 7
    relayed = dns.message.from_wire(engine.finish(req, upstream_reply.to_wire()))
    assert relayed.id == q.id
    ext = engine.handle(dns.message.make_query("ext.default.svc.cluster.local", "A").to_wire())
    assert isinstance(ext, UpstreamRequest) and ext.response.chase is not None
    answer = dns.message.make_response(dns.message.make_query("example.com", "A"))
    answer.answer.append(dns.rrset.from_text("example.com.", 60, "IN", "A", "93.184.216.34"))
    final = dns.message.from_wire(engine.finish(ext, answer))
    assert [rr.rdtype for rr in final.answer] == [dns.rdatatype.CNAME, dns.rdatatype.A]
    assert final.flags & dns.flags.RA


names = st.lists(st.text(alphabet="abcXYZ-_0123456789", min_size=1, max_size=20), min_size=1, max_size=5)


@settings(max_examples=150)
@given(labels=names, rdtype=st.sampled_from(["A", "AAAA", "SRV", "TXT", "PTR", "MX"]),
       edns=st.sampled_from([-1, 0]), payload=st.integers(512, 65535), do=st.booleans())
def test_parse_simple_agrees_with_dnspython(labels: list[str], rdtype: str, edns: int, payload: int, do: bool) -> None:
    query = dns.message.make_query(".".join(labels), rdtype, use_edns=edns, payload=payload, want_dnssec=do)
    wire = query.to_wire()
    parsed = parse_simple(wire)
    assert parsed is not None
    assert parsed.qname == dns.name.from_text(".".join(labels)).to_wire()
    assert parsed.qtype == dns.rdatatype.from_text(rdtype)
    assert parsed.edns == (edns == 0 or do)  # dnspython adds EDNS for the DO bit
    assert not parsed.edns or parsed.do == do
    assert parse_query(wire) == parsed


@pytest.mark.parametrize("cut", [12, 13, 20, 40])
def test_parse_simple_refuses_truncated(cut: int) -> None:
    wire = dns.message.make_query("web.default.svc.cluster.local", "A", use_edns=0).to_wire()
    assert parse_simple(wire[:cut]) is None


def test_parse_query_general_shapes(engine: Engine) -> None:
    query = dns.message.make_query("web.default.svc.cluster.local", "A", use_edns=0)
    query.additional.append(dns.rrset.from_text("x.example.", 0, "IN", "TXT", '"hi"'))
    wire = query.to_wire()
    assert parse_simple(wire) is None
    parsed = parse_query(wire)
    assert parsed is not None and parsed.edns and parsed.qtype == dns.rdatatype.A
    reply = dns.message.from_wire(engine.handle(wire))  # type: ignore[arg-type]
    assert reply.answer[0][0].address == "10.96.0.20"
    two_opts = wire[:11] + b"\x03" + wire[12:] + wire[-11:]  # arcount 3, a second OPT
    assert parse_query(two_opts) is None


def test_name_loops_and_forward_pointers_are_formerr() -> None:
    header = b"\x00\x01\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00"
    assert parse_query(header + b"\xc0\x0c\x00\x01\x00\x01") is None  # points at itself
    assert parse_query(header + b"\xc0\x20\x00\x01\x00\x01") is None  # points forward
    assert parse_query(header + b"\x40abc\x00\x00\x01\x00\x01") is None  # bad label type


def test_answers_over_64k_are_truncated_even_over_tcp() -> None:
    from dns_clusters import demo_cluster

    engine = Engine(Resolver(demo_cluster(many=5000)), precompute=10)
    out = engine.handle(dns.message.make_query("big.default.svc.cluster.local", "A").to_wire(), tcp=True)
    assert isinstance(out, bytes) and len(out) <= 65535
    assert dns.message.from_wire(out).flags & dns.flags.TC


def test_tsig_signed_query_is_notauth(engine: Engine) -> None:
    import dns.tsigkeyring

    keyring = dns.tsigkeyring.from_text({"k.": "c2VjcmV0c2VjcmV0c2VjcmV0"})
    query = dns.message.make_query("web.default.svc.cluster.local", "A")
    query.use_tsig(keyring, keyname="k.")
    reply = engine.handle(query.to_wire())
    assert isinstance(reply, bytes) and reply[3] & 0xF == dns.rcode.NOTAUTH
