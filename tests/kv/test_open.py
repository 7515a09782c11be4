"""``open_kv`` and the namespacing wrapper; etcd transport errors."""

from __future__ import annotations

import socket

import pytest

from overlaynet.errors import KVError
from overlaynet.kv import EtcdKV, MemoryKV, NamespacedKV, open_kv
from overlaynet.model import KVSpec


def test_open_memory_default() -> None:
    kv = open_kv(KVSpec())
    assert isinstance(kv, MemoryKV)
    assert kv.put("/a", "1") == 2


def test_open_etcd_does_not_connect_yet() -> None:
    kv = open_kv(KVSpec(backend="etcd", endpoints=("http://127.0.0.1:1",)))
    assert isinstance(kv, EtcdKV)


def test_unknown_backend() -> None:
    with pytest.raises(KVError, match="unknown KV backend 'zookeeper'"):
        open_kv(KVSpec(backend="zookeeper"))  # type: ignore[arg-type]


def test_prefix_namespaces_keys() -> None:
    inner = MemoryKV()
    kv = open_kv(KVSpec(prefix="/cluster-a"))
    assert isinstance(kv, NamespacedKV)
    kv = NamespacedKV(inner, "/cluster-a")
    other = NamespacedKV(inner, "/cluster-b")
    w = kv.watch("/net/")
    kv.put("/net/x", "1")
    other.put("/net/x", "2")
    assert [x.key for x in inner.list_prefix("")] == ["/cluster-a/net/x", "/cluster-b/net/x"]
    assert [(x.key, x.value) for x in kv.list_prefix("/net/")] == [("/net/x", "1")]
    got = kv.get("/net/x")
    assert got is not None and got.key == "/net/x"
    (ev,) = w.events(0)
    assert ev.kv.key == "/net/x" and ev.kv.value == "1"
    assert kv.create("/net/x", "3") is False
    assert kv.delete_prefix("") == 1
    assert other.get("/net/x") is not None
    w.close()
    assert w.closed


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # nothing listens once the socket is closed


def test_unreachable_etcd_names_endpoint_and_chains() -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    kv = EtcdKV([url], timeout=1)
    with pytest.raises(KVError, match=f"etcd unreachable at {url}") as info:
        kv.get("/a")
    assert isinstance(info.value.__cause__, OSError)


def test_bad_endpoint_url() -> None:
    with pytest.raises(KVError, match="expected http://HOST:PORT"):
        EtcdKV(["127.0.0.1:2379"])
    with pytest.raises(KVError, match="at least one endpoint"):
        EtcdKV([])


@pytest.mark.etcd
def test_etcd_gateway_prefix_and_failover(etcd_url: str) -> None:
    dead = f"http://127.0.0.1:{_closed_port()}"
    kv = EtcdKV([dead, etcd_url])
    assert kv.api_prefix in ("/v3/", "/v3beta/")
    kv.put("/failover", "ok")
    got = kv.get("/failover")
    assert got is not None and got.value == "ok"
    kv.delete("/failover")


@pytest.mark.etcd
def test_etcd_server_error_is_kverror(etcd_url: str) -> None:
    kv = EtcdKV([etcd_url])
    with pytest.raises(KVError, match=f"etcd at {etcd_url}.*lease not found"):
        kv.revoke_lease(123456789)


@pytest.mark.etcd
def test_etcd_replaces_a_dropped_kept_alive_connection(etcd_url: str) -> None:
    kv = EtcdKV([etcd_url])
    kv.put("/keepalive", "1")
    conn = kv._conn  # the kept-alive connection the first request opened
    assert conn is not None and conn.sock is not None
    conn.sock.shutdown(socket.SHUT_RDWR)  # as if the server had closed it while idle
    assert kv.put("/keepalive", "2") > 0
    got = kv.get("/keepalive")
    assert got is not None and got.value == "2" and got.version == 2  # written once, not twice
    kv.close()


def test_public_names() -> None:
    import overlaynet.kv as kv_pkg

    assert sorted(kv_pkg.__all__) == kv_pkg.__all__
    for name in kv_pkg.__all__:
        assert getattr(kv_pkg, name) is not None
