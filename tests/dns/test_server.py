"""The real server on a loopback port, queried by dig (bind9-dnsutils) and raw sockets."""

from __future__ import annotations

import asyncio
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import dns.message
import dns.rcode
import dns.rrset
import pytest
from dns_clusters import demo_cluster
from dns_helpers import ServerThread

from overlaynet.errors import DNSError


def dig(port: int, *args: str) -> str:
    out = subprocess.run(
        ["dig", "@127.0.0.1", "-p", str(port), "+time=3", "+tries=1", *args],
        capture_output=True, text=True, timeout=20,
    )
    return out.stdout


def short(port: int, *args: str) -> list[str]:
    return sorted(line for line in dig(port, "+short", *args).splitlines() if line)


def status(text: str) -> str:
    for line in text.splitlines():
        if "status:" in line:
            return line.split("status:")[1].split(",")[0].strip()
    raise AssertionError(f"no status in dig output:\n{text}")



@pytest.mark.dig
@pytest.mark.parametrize("transport", ["+notcp", "+tcp"])
@pytest.mark.parametrize(("args", "expected"), [
    (("web.default.svc.cluster.local",), ["10.96.0.20"]),
    (("web.default.cluster.local",), ["10.96.0.20"]),  # legacy form
    (("dual.default.svc.cluster.local", "AAAA"), ["fd00:96::30"]),
    (("_http._tcp.web.default.svc.cluster.local", "SRV"), ["0 100 80 web.default.svc.cluster.local."]),
    (("_pg._tcp.db.default.svc.cluster.local", "SRV"),
     ["0 50 5432 db-0.db.default.svc.cluster.local.", "0 50 5432 db-1.db.default.svc.cluster.local."]),
    (("-x", "10.96.0.20"), ["web.default.svc.cluster.local."]),
    (("-x", "fd00:96::30"), ["dual.default.svc.cluster.local."]),
    (("-x", "10.244.1.20"), ["db-0.db.default.svc.cluster.local."]),
    (("ext.default.svc.cluster.local", "CNAME"), ["example.com."]),
    (("dns-version.cluster.local", "TXT"), ['"1.1.0"']),
    (("cluster.local", "SOA"), ["ns.dns.cluster.local. hostmaster.cluster.local. 1 7200 1800 86400 30"]),
    (("cluster.local", "NS"), ["ns.dns.cluster.local."]),  # kube-dns has no CoreDNS pod here
    (("db.default.svc.cluster.local",), ["10.244.1.20", "10.244.2.20"]),  # headless
    (("db-1.db.default.svc.cluster.local",), ["10.244.2.20"]),
    (("10-1-2-3.default.pod.cluster.local",), ["10.1.2.3"]),  # pods insecure
])
def test_dig_record_kinds(live_server: ServerThread, transport: str, args: tuple[str, ...], expected: list[str]) -> None:
    assert short(live_server.port, transport, *args) == expected


@pytest.mark.dig
def test_dig_nxdomain_has_soa(live_server: ServerThread) -> None:
    text = dig(live_server.port, "nope.default.svc.cluster.local")
    assert status(text) == "NXDOMAIN"
    assert "AUTHORITY: 1" in text and "hostmaster.cluster.local." in text


@pytest.mark.dig
@pytest.mark.parametrize(("reverse", "zone"), [("10.9.9.9", "in-addr.arpa."), ("fd00::99", "ip6.arpa.")])
def test_dig_reverse_nxdomain_has_the_reverse_zones_soa(live_server: ServerThread, reverse: str, zone: str) -> None:
    text = dig(live_server.port, "+noall", "+comments", "+authority", "-x", reverse)
    assert status(text) == "NXDOMAIN" and "AUTHORITY: 1" in text
    [soa] = [line.split() for line in text.splitlines() if "\tSOA\t" in line or " SOA " in line]
    assert soa[0] == zone and soa[3] == "SOA" and soa[4:6] == [f"ns.dns.{zone}", f"hostmaster.{zone}"]


@pytest.mark.dig
def test_dig_ns_and_glue_are_coredns_s(start_server) -> None:  # type: ignore[no-untyped-def]
    """With a CoreDNS pod behind kube-dns, the NS is kube-dns's name in the zone asked, and the
    glue its ClusterIP (CoreDNS ns.go nsAddrs); without one, ns.dns.<zone> (see the
    parametrized cases above)."""
    from test_resolver import with_coredns

    port = start_server(load=lambda: with_coredns(demo_cluster(), "10.244.1.53")).port
    answer = dig(port, "+noall", "+answer", "+additional", "cluster.local", "NS").split()
    assert answer == ["cluster.local.", "30", "IN", "NS", "kube-dns.kube-system.svc.cluster.local.",
                      "kube-dns.kube-system.svc.cluster.local.", "30", "IN", "A", "10.96.0.10"]
    reverse = dig(port, "+noall", "+answer", "+additional", "in-addr.arpa", "NS").split()
    assert reverse == ["in-addr.arpa.", "30", "IN", "NS", "kube-dns.kube-system.svc.in-addr.arpa.",
                       "kube-dns.kube-system.svc.in-addr.arpa.", "30", "IN", "A", "10.96.0.10"]


@pytest.mark.dig
def test_dig_nodata(live_server: ServerThread) -> None:
    text = dig(live_server.port, "web.default.svc.cluster.local", "AAAA")
    assert status(text) == "NOERROR" and "ANSWER: 0" in text and "SOA" in text


@pytest.mark.dig
def test_dig_norecurse_is_authoritative(live_server: ServerThread) -> None:
    text = dig(live_server.port, "+norecurse", "web.default.svc.cluster.local")
    flags = next(line for line in text.splitlines() if line.startswith(";; flags:"))
    assert " aa" in flags and " rd" not in flags and "10.96.0.20" in text


@pytest.mark.dig
def test_dig_edns_on_and_off(live_server: ServerThread) -> None:
    assert "udp: 1232" in dig(live_server.port, "+edns=0", "web.default.svc.cluster.local")
    noedns = dig(live_server.port, "+noedns", "web.default.svc.cluster.local")
    assert "OPT PSEUDOSECTION" not in noedns and "10.96.0.20" in noedns


@pytest.mark.dig
def test_dig_truncation_then_tcp(live_server: ServerThread) -> None:
    ignored = dig(live_server.port, "+ignore", "big.default.svc.cluster.local")
    assert " tc" in next(line for line in ignored.splitlines() if line.startswith(";; flags:"))
    retried = dig(live_server.port, "big.default.svc.cluster.local")
    assert "Truncated, retrying in TCP mode" in retried and "ANSWER: 120" in retried


@pytest.mark.dig
def test_dig_out_of_zone_refused(live_server: ServerThread) -> None:
    assert status(dig(live_server.port, "www.example.com")) == "REFUSED"


@pytest.mark.dig
def test_mixed_case_question_echoed(live_server: ServerThread) -> None:
    answer = dig(live_server.port, "+noall", "+answer", "WeB.DeFault.SVC.cluster.local").split()
    assert answer == ["WeB.DeFault.SVC.cluster.local.", "30", "IN", "A", "10.96.0.20"]


# --- without dig: forwarding, reload, TCP behaviour ------------------------------------------

def _udp_query(port: int, name: str, rdtype: str = "A", timeout: float = 5) -> dns.message.Message:
    query = dns.message.make_query(name, rdtype)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(query.to_wire(), ("127.0.0.1", port))
        reply = dns.message.from_wire(s.recv(65535))
    assert reply.id == query.id
    return reply


class FakeUpstream:
    """A UDP+TCP responder on loopback answering every A question with 192.0.2.1; names
    starting with ``big`` get 200 records (truncated over UDP, so the server retries TCP)."""

    def __init__(self) -> None:
        for _ in range(20):  # the UDP port's TCP twin may be taken: try another
            self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.udp.bind(("127.0.0.1", 0))
            self.port = self.udp.getsockname()[1]
            self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                self.tcp.bind(("127.0.0.1", self.port))
                break
            except OSError:
                self.udp.close()
                self.tcp.close()
        self.tcp.listen()
        self.questions: list[str] = []
        for target in (self._serve_udp, self._serve_tcp):
            threading.Thread(target=target, daemon=True).start()

    def _answer(self, wire: bytes, udp: bool) -> bytes:
        query = dns.message.from_wire(wire)
        name = query.question[0].name.to_text()
        self.questions.append(name)
        reply = dns.message.make_response(query)
        count = 200 if name.startswith("big") else 1
        reply.answer.append(dns.rrset.from_text(name, 60, "IN", "A", *[f"192.0.2.{i % 250 + 1}" for i in range(count)]))
        try:
            return reply.to_wire(max_size=512 if udp else 65535)
        except dns.exception.TooBig:
            reply.answer.clear()
            reply.flags |= dns.flags.TC
            return reply.to_wire()

    def _serve_udp(self) -> None:
        while True:
            try:
                data, addr = self.udp.recvfrom(65535)
            except OSError:
                return
            self.udp.sendto(self._answer(data, True), addr)

    def _serve_tcp(self) -> None:
        while True:
            try:
                conn, _ = self.tcp.accept()
            except OSError:
                return
            with conn:
                size = struct.unpack("!H", conn.recv(2))[0]
                data = b""
                while len(data) < size:
                    data += conn.recv(size - len(data))
                out = self._answer(data, False)
                conn.sendall(struct.pack("!H", len(out)) + out)

    def close(self) -> None:
        self.udp.close()
        self.tcp.close()


@pytest.fixture
def upstream() -> Iterator[FakeUpstream]:
    up = FakeUpstream()
    yield up
    up.close()


@pytest.mark.dig
def test_forwarding_and_externalname_chase(start_server, upstream: FakeUpstream) -> None:  # type: ignore[no-untyped-def]
    st = start_server(upstreams=[f"127.0.0.1:{upstream.port}"])
    assert short(st.port, "www.example.com") == ["192.0.2.1"]
    assert short(st.port, "+tcp", "www.example.com") == ["192.0.2.1"]
    chased = short(st.port, "ext.default.svc.cluster.local")
    assert chased == ["192.0.2.1", "example.com."]
    big = _udp_query(st.port, "big.example.org")
    assert big.flags & dns.flags.TC  # upstream answered over TCP; too big for our UDP client
    assert "big.example.org." in upstream.questions
    reply = _udp_query(st.port, "web.default.svc.cluster.local")
    assert reply.flags & dns.flags.RA  # recursion available once an upstream is configured


def test_upstream_timeout_is_servfail(start_server) -> None:  # type: ignore[no-untyped-def]
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    try:
        st = start_server(upstreams=[f"127.0.0.1:{silent.getsockname()[1]}"], upstream_timeout=0.3)
        assert _udp_query(st.port, "www.example.com").rcode() == dns.rcode.SERVFAIL
    finally:
        silent.close()


def test_reload_when_the_file_changes(start_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from overlaynet.topology import load_cluster

    topo = tmp_path / "t.yaml"
    svc = "apiVersion: v1\nkind: Service\nmetadata: {{name: {name}, namespace: default}}\nspec:\n  clusterIP: 10.96.0.50\n  ports: [{{port: 80}}]\n"
    topo.write_text(svc.format(name="alpha"))
    st = start_server(load=lambda: load_cluster([topo]), watch=[topo], poll_interval=0.05)
    assert _udp_query(st.port, "alpha.default.svc.cluster.local").answer
    topo.write_text(svc.format(name="beta"))
    import os

    os.utime(topo, (time.time() + 5, time.time() + 5))
    deadline = time.time() + 10
    while st.server.reloads == 0 and time.time() < deadline:
        time.sleep(0.05)
    assert _udp_query(st.port, "beta.default.svc.cluster.local").answer
    assert _udp_query(st.port, "alpha.default.svc.cluster.local").rcode() == dns.rcode.NXDOMAIN
    topo.write_text("kind: Service\nmetadata: [broken\n")  # a bad file keeps the old answers
    os.utime(topo, (time.time() + 10, time.time() + 10))
    time.sleep(0.5)
    assert _udp_query(st.port, "beta.default.svc.cluster.local").answer


def test_slow_tcp_client_does_not_stall_udp(start_server) -> None:  # type: ignore[no-untyped-def]
    st = start_server(tcp_idle_timeout=30)
    slow = [socket.create_connection(("127.0.0.1", st.port)) for _ in range(20)]
    try:
        for s in slow:
            s.sendall(b"\x00")  # half a length prefix, then nothing
        began = time.monotonic()
        for _ in range(50):
            assert _udp_query(st.port, "web.default.svc.cluster.local", timeout=2).answer
        assert time.monotonic() - began < 5
    finally:
        for s in slow:
            s.close()


def test_tcp_pipelined_queries(live_server: ServerThread) -> None:
    queries = [dns.message.make_query(n, "A") for n in ("web.default.svc.cluster.local", "db.default.svc.cluster.local")]
    with socket.create_connection(("127.0.0.1", live_server.port), timeout=5) as s:
        s.sendall(b"".join(struct.pack("!H", len(w)) + w for w in (q.to_wire() for q in queries)))
        buf = b""
        replies = []
        while len(replies) < 2:
            buf += s.recv(65535)
            while len(buf) >= 2 and len(buf) >= 2 + struct.unpack("!H", buf[:2])[0]:
                size = struct.unpack("!H", buf[:2])[0]
                replies.append(dns.message.from_wire(buf[2 : 2 + size]))
                buf = buf[2 + size :]
    assert [r.id for r in replies] == [q.id for q in queries]


def test_bind_failure_is_a_dns_error(live_server: ServerThread) -> None:
    from overlaynet.dns.server import DNSServer

    server = DNSServer(demo_cluster, listen=("127.0.0.1", live_server.port))
    with pytest.raises(DNSError, match="cannot listen"):
        asyncio.run(server.start())


@pytest.mark.parametrize("bad", ["nope", "1.2.3.4:99999", "host:53"])
def test_parse_listen_rejects(bad: str) -> None:
    from overlaynet.dns.server import parse_listen

    with pytest.raises(DNSError):
        parse_listen(bad)


def _has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _has_ipv6_loopback(), reason="no IPv6 loopback")
def test_listen_on_ipv6_loopback(start_server) -> None:  # type: ignore[no-untyped-def]
    st = start_server(listen=("::1", 0))
    query = dns.message.make_query("web.default.svc.cluster.local", "A")
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
        s.settimeout(5)
        s.sendto(query.to_wire(), ("::1", st.port))
        assert dns.message.from_wire(s.recv(4096)).answer


class LyingUpstream(FakeUpstream):
    """Answers with the right ID but another question."""

    def _answer(self, wire: bytes, udp: bool) -> bytes:
        query = dns.message.from_wire(wire)
        other = dns.message.make_query("evil.example.", "A")
        other.id = query.id
        reply = dns.message.make_response(other)
        reply.answer.append(dns.rrset.from_text("evil.example.", 60, "IN", "A", "203.0.113.66"))
        return reply.to_wire()


def test_upstream_reply_for_another_question_is_ignored(start_server) -> None:  # type: ignore[no-untyped-def]
    liar = LyingUpstream()
    try:
        st = start_server(upstreams=[f"127.0.0.1:{liar.port}"], upstream_timeout=0.5)
        reply = _udp_query(st.port, "www.example.com")
        assert reply.rcode() == dns.rcode.SERVFAIL and not reply.answer
    finally:
        liar.close()
