"""Batched netlink requests are the messages pyroute2's own calls send (compared decoded,
without a kernel), and their acks are matched back to the request they answer."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from overlaynet.errors import MaterializeError
from overlaynet.materialize._batch import Batch

AF_INET, AF_INET6 = 2, 10


def _decoded(data: bytes) -> list[tuple[Any, ...]]:
    """(type, flags, header fields, attributes) of each message in ``data``."""
    from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg
    from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg
    from pyroute2.netlink.rtnl.rtmsg import rtmsg

    classes = {16: ifinfmsg, 20: ifaddrmsg, 24: rtmsg}
    out, offset = [], 0
    while offset < len(data):
        length = int.from_bytes(data[offset:offset + 4], "little")
        cls = classes[int.from_bytes(data[offset + 4:offset + 6], "little")]
        msg = cls(data[offset:offset + length])
        msg.decode()
        fields = tuple((name, msg[name]) for name, _ in cls.fields if not name.startswith("__"))
        out.append((msg["header"]["type"], msg["header"]["flags"], fields, sorted((a[0], a[1]) for a in msg["attrs"])))
        offset += length
    return out


def _pyroute2(calls: list[tuple[str, str, dict[str, Any]]]) -> list[tuple[Any, ...]]:
    from pyroute2 import IPBatch

    ipb = IPBatch()
    for method, command, kwargs in calls:
        getattr(ipb, method)(command, **kwargs)
    return _decoded(bytes(ipb.asyncore.batch))


def test_the_messages_are_those_pyroute2_sends() -> None:
    batch = Batch("onet-x-a", socket.socket(socket.AF_UNIX))
    batch.link_set("a", 5, mtu=1450, address="02:00:00:00:00:01", up=True)
    batch.link_set("b", 5, master=3, up=True)
    batch.link_set("c", 7, master=3)
    batch.link_set("d", 8, mtu=9000)
    batch.addr_add("e", 5, "10.244.0.2", 24, AF_INET)
    batch.addr_add("f", 5, "fd00::2", 64, AF_INET6)
    batch.route_add("g", family=AF_INET, dst="10.244.0.0", dst_len=16, table=254, type="unicast", proto=3,
                    scope=0, oif=5, gateway="10.244.0.1")
    batch.route_add("h", family=AF_INET, dst="0.0.0.0", dst_len=0, table=254, type="unicast", proto=3,
                    scope=0, oif=5, gateway="10.244.0.1")
    batch.route_add("i", family=AF_INET, dst="10.9.0.0", dst_len=16, table=100, type="blackhole", proto=4,
                    scope=0, flags=4, prefsrc="10.0.0.1", priority=50)
    batch.route_add("j", family=AF_INET, dst="10.5.0.0", dst_len=16, table=1000, type="unicast", proto=4,
                    scope=253, oif=5)
    batch.route_add("k", family=AF_INET6, dst="fd00:1::", dst_len=64, table=254, type="unicast", proto=4,
                    scope=0, oif=5, gateway="fd00::1")
    ours = _decoded(b"".join(batch.encoded()))
    theirs = _pyroute2([
        ("link", "set", {"index": 5, "mtu": 1450, "address": "02:00:00:00:00:01", "state": "up"}),
        ("link", "set", {"index": 5, "master": 3, "state": "up"}),
        ("link", "set", {"index": 7, "master": 3}),
        ("link", "set", {"index": 8, "mtu": 9000}),
        ("addr", "add", {"index": 5, "address": "10.244.0.2", "prefixlen": 24}),
        ("addr", "add", {"index": 5, "address": "fd00::2", "prefixlen": 64}),
        ("route", "add", {"dst": "10.244.0.0", "dst_len": 16, "family": AF_INET, "table": 254, "type": "unicast",
                          "proto": 3, "scope": 0, "oif": 5, "gateway": "10.244.0.1"}),
        ("route", "add", {"dst": "0.0.0.0", "dst_len": 0, "family": AF_INET, "table": 254, "type": "unicast",
                          "proto": 3, "scope": 0, "oif": 5, "gateway": "10.244.0.1"}),
        ("route", "add", {"dst": "10.9.0.0", "dst_len": 16, "family": AF_INET, "table": 100, "type": "blackhole",
                          "proto": 4, "scope": 0, "flags": 4, "prefsrc": "10.0.0.1", "priority": 50}),
        ("route", "add", {"dst": "10.5.0.0", "dst_len": 16, "family": AF_INET, "table": 1000, "type": "unicast",
                          "proto": 4, "scope": 253, "oif": 5}),
        ("route", "add", {"dst": "fd00:1::", "dst_len": 64, "family": AF_INET6, "table": 254, "type": "unicast",
                          "proto": 4, "scope": 0, "oif": 5, "gateway": "fd00::1"}),
    ])
    assert len(ours) == len(theirs) == 11
    for mine, pyroute2s in zip(ours, theirs, strict=True):
        assert mine == pyroute2s


@pytest.mark.root
def test_acks_are_matched_to_their_request_and_a_refusal_names_it(run_id: str) -> None:
    from overlaynet.materialize import _netns
    from overlaynet.materialize._batch import link_index, raw_socket
    from overlaynet.materialize.naming import remove_namespaces, run_prefix

    created: list[str] = []
    name = f"{run_prefix(run_id)}a"
    try:
        [(_, fd)] = _netns.create([name], created, lambda _: None).items()
        sock = raw_socket(fd)
        with sock:
            assert link_index(name, sock, "lo") == 1 and link_index(name, sock, "nosuch") is None
            # a veth pair whose peer is put in a namespace named by a descriptor held open
            pair = Batch(name, sock)
            pair.veth_add("veth v0", "v0", "p0", name)
            [fd] = pair._fds
            assert _decoded(b"".join(pair.encoded())) == _pyroute2(
                [("link", "add", {"ifname": "v0", "kind": "veth", "peer": {"ifname": "p0", "net_ns_fd": fd}})])
            pair.flush()
            assert pair._fds == [] and link_index(name, sock, "v0") and link_index(name, sock, "p0")
            batch = Batch(name, sock)
            batch.link_set("lo up", 1, up=True)
            batch.addr_add("address 127.0.0.1/8 dev lo", 1, "127.0.0.1", 8, AF_INET, tolerate=lambda code: code == 17)
            for i in range(100):  # more than one chunk
                batch.route_add(f"route 10.{i}.0.0/16", family=AF_INET, dst=f"10.{i}.0.0", dst_len=16, table=254,
                                type="blackhole", proto=4, scope=0)
            batch.route_add("route 10.50.0.0/16 again", family=AF_INET, dst="10.50.0.0", dst_len=16, table=254,
                            type="blackhole", proto=4, scope=0)
            batch.route_add("route 10.200.0.0/16", family=AF_INET, dst="10.200.0.0", dst_len=16, table=254,
                            type="blackhole", proto=4, scope=0)
            with pytest.raises(MaterializeError) as err:
                batch.flush()
            assert str(err.value).startswith(f"namespace {name}: route 10.50.0.0/16 again: the kernel refused it: ")
            assert str(err.value).endswith("(errno 17)") and err.value.__cause__ is not None
            assert len(batch) == 0
            # the socket is still in step: the next request gets its own answer
            assert link_index(name, sock, "lo") == 1
    finally:
        remove_namespaces(created)
