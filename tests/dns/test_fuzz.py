"""Fuzz: >= 100,000 random and mutated packets through the handler, a sample over real
sockets, and the server still answers a valid query correctly afterwards."""

from __future__ import annotations

import random
import socket
import struct

import dns.message
import dns.rcode
from dns_helpers import ServerThread

from overlaynet.dns.wire import Engine

SEEDS = [
    dns.message.make_query(name, rdtype, use_edns=edns).to_wire()
    for name, rdtype, edns in [
        ("web.default.svc.cluster.local", "A", -1),
        ("_http._tcp.web.default.svc.cluster.local", "SRV", 0),
        ("db.default.svc.cluster.local", "AAAA", 0),
        ("20.0.96.10.in-addr.arpa", "PTR", -1),
        ("10-1-2-3.default.pod.cluster.local", "A", 0),
        ("nope.default.svc.cluster.local", "TXT", -1),
        ("www.example.com", "A", 0),
    ]
]


def _mutate(rng: random.Random, seed: bytes) -> bytes:
    data = bytearray(seed)
    kind = rng.randrange(8)
    if kind == 0:  # bit flips
        for _ in range(rng.randint(1, 8)):
            i = rng.randrange(len(data))
            data[i] ^= 1 << rng.randrange(8)
    elif kind == 1:  # truncation
        del data[rng.randrange(len(data)):]
    elif kind == 2:  # random length of random bytes
        return rng.randbytes(rng.randrange(0, 600))
    elif kind == 3:  # bogus section counts
        struct.pack_into("!HHHH", data, 4, *(rng.randrange(65536) for _ in range(4)))
    elif kind == 4:  # compression loop in the question
        data[12:14] = b"\xc0\x0c"
    elif kind == 5:  # a pointer forward / out of range
        i = rng.randrange(12, len(data) - 1)
        data[i : i + 2] = struct.pack("!H", 0xC000 | rng.randrange(0x3FFF))
    elif kind == 6:  # junk appended
        data += rng.randbytes(rng.randrange(1, 64))
    else:  # random header flags and opcode
        struct.pack_into("!H", data, 2, rng.randrange(65536))
    return bytes(data)


def _assert_answers(engine_or_port: Engine | int) -> None:
    query = dns.message.make_query("web.default.svc.cluster.local", "A")
    if isinstance(engine_or_port, Engine):
        out = engine_or_port.handle(query.to_wire())
    else:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(5)
            s.sendto(query.to_wire(), ("127.0.0.1", engine_or_port))
            out = s.recv(4096)
    assert isinstance(out, bytes)
    reply = dns.message.from_wire(out)
    assert reply.id == query.id and reply.rcode() == dns.rcode.NOERROR
    assert reply.answer[0][0].address == "10.96.0.20"


def test_handler_survives_100k_hostile_packets(engine: Engine) -> None:
    rng = random.Random(20260525)
    answered = 0
    for i in range(100_000):
        packet = _mutate(rng, SEEDS[i % len(SEEDS)])
        out = engine.handle(packet, tcp=bool(i & 1))
        if out is None:
            continue
        answered += 1
        if isinstance(out, bytes):
            assert out[:2] == packet[:2]  # a reply always carries the query's ID
            assert out[2] & 0x80  # and is a response
    assert answered > 10_000
    _assert_answers(engine)


def test_server_survives_hostile_packets_over_sockets(start_server) -> None:  # type: ignore[no-untyped-def]
    st: ServerThread = start_server()
    rng = random.Random(7)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        for i in range(2000):
            udp.sendto(_mutate(rng, SEEDS[i % len(SEEDS)]), ("127.0.0.1", st.port))
    for i in range(60):
        with socket.create_connection(("127.0.0.1", st.port), timeout=5) as tcp:
            packet = _mutate(rng, SEEDS[i % len(SEEDS)])
            framing = struct.pack("!H", rng.choice([len(packet), rng.randrange(65536)]))
            tcp.sendall(framing + packet[: rng.randrange(len(packet) + 1)] if i % 3 == 0 else framing + packet)
            tcp.shutdown(socket.SHUT_WR)
            tcp.settimeout(5)
            try:
                while tcp.recv(65535):
                    pass
            except OSError:
                pass
    _assert_answers(st.port)
