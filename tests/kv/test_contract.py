"""The KV contract, run on every backend (memory, and a real etcd when present)."""

from __future__ import annotations

import pytest

from overlaynet.errors import KVError
from overlaynet.kv import KeyValue, KVStore, MemoryKV, WatchEvent

from .conftest import FakeClock


def test_fresh_store_and_put_revisions(kv: KVStore) -> None:
    start = kv.revision()
    assert kv.get("/a") is None
    rev = kv.put("/a", "1")
    assert rev == start + 1 == kv.revision()
    assert kv.get("/a") == KeyValue("/a", "1", rev, rev, 1, None)
    rev2 = kv.put("/a", "2")
    assert rev2 == rev + 1
    assert kv.get("/a") == KeyValue("/a", "2", rev, rev2, 2, None)


def test_create_only_if_absent(kv: KVStore) -> None:
    assert kv.create("/subnets/10.244.1.0-24", "node-1") is True
    before = kv.revision()
    assert kv.create("/subnets/10.244.1.0-24", "node-2") is False
    assert kv.revision() == before  # a failed compare writes nothing
    got = kv.get("/subnets/10.244.1.0-24")
    assert got is not None and got.value == "node-1" and got.version == 1


def test_compare_and_swap_many_is_all_or_nothing(kv: KVStore) -> None:
    kv.put("/bits", "0")
    bits = kv.get("/bits")
    assert bits is not None
    before = kv.revision()
    # one stale compare: nothing is written, not even the key whose compare held
    stale = [("/bits", "1", bits.mod_revision), ("/ep/a", "x", 0), ("/count", "1", 5)]
    assert kv.compare_and_swap_many(stale) is False
    assert kv.revision() == before and kv.get("/ep/a") is None and kv.get("/bits").value == "0"  # type: ignore[union-attr]
    ok = [("/bits", "1", bits.mod_revision), ("/ep/a", "x", 0)]
    assert kv.compare_and_swap_many(ok) is True
    assert kv.revision() == before + 1  # one transaction, one revision
    got = kv.get("/bits"), kv.get("/ep/a")
    assert [g.value for g in got if g] == ["1", "x"]
    assert {g.mod_revision for g in got if g} == {before + 1}
    assert got[0].version == 2 and got[1].version == 1  # type: ignore[union-attr]
    assert kv.compare_and_swap_many([("/ep/a", "y", 0)]) is False  # exists now
    with pytest.raises(KVError):
        kv.compare_and_swap_many([("/x", "1", 0), ("/x", "2", 0)])


def test_compare_and_swap(kv: KVStore) -> None:
    kv.put("/k", "a")
    cur = kv.get("/k")
    assert cur is not None
    assert kv.compare_and_swap("/k", "b", expected_mod_revision=cur.mod_revision + 7) is False
    assert kv.compare_and_swap("/k", "b", expected_mod_revision=cur.mod_revision) is True
    new = kv.get("/k")
    assert new is not None and new.value == "b" and new.version == 2
    assert new.create_revision == cur.create_revision
    # the old revision is stale now
    assert kv.compare_and_swap("/k", "c", expected_mod_revision=cur.mod_revision) is False
    # 0 means "must not exist", as etcd's compare on an absent key
    assert kv.compare_and_swap("/k", "c", expected_mod_revision=0) is False
    assert kv.compare_and_swap("/new", "x", expected_mod_revision=0) is True
    assert kv.compare_and_swap("/absent", "x", expected_mod_revision=5) is False


def test_delete_and_recreate_restarts_version(kv: KVStore) -> None:
    kv.put("/k", "a")
    kv.put("/k", "b")
    before = kv.revision()
    assert kv.delete("/k") is True
    assert kv.revision() == before + 1
    assert kv.get("/k") is None
    assert kv.delete("/k") is False
    assert kv.revision() == before + 1  # deleting nothing is not a write
    rev = kv.put("/k", "c")
    assert kv.get("/k") == KeyValue("/k", "c", rev, rev, 1, None)


def test_prefix_listing_is_sorted_and_exact(kv: KVStore) -> None:
    for key in ["/net/b", "/net/a", "/net/a/x", "/neta", "/other", "/net/\u00e9"]:
        kv.put(key, key.upper())
    assert [x.key for x in kv.list_prefix("/net/")] == ["/net/a", "/net/a/x", "/net/b", "/net/\u00e9"]
    assert [x.key for x in kv.list_prefix("/net")] == [
        "/net/a", "/net/a/x", "/net/b", "/net/\u00e9", "/neta"
    ]
    assert kv.list_prefix("/nothing/") == []
    assert len(kv.list_prefix("")) == 6
    assert kv.list_prefix("/net/a")[0].value == "/NET/A"


def test_delete_prefix_is_one_write(kv: KVStore) -> None:
    for key in ["/p/1", "/p/2", "/p/3", "/q/1"]:
        kv.put(key, "v")
    before = kv.revision()
    assert kv.delete_prefix("/p/") == 3
    assert kv.revision() == before + 1
    assert [x.key for x in kv.list_prefix("")] == ["/q/1"]
    assert kv.delete_prefix("/p/") == 0
    assert kv.delete_prefix("") == 1
    assert kv.list_prefix("") == []


def test_empty_key_is_refused(kv: KVStore) -> None:
    with pytest.raises(KVError, match="non-empty"):
        kv.put("", "v")
    with pytest.raises(KVError):
        kv.get("")


def test_lease_attach_and_revoke_deletes_keys(kv: KVStore) -> None:
    lease = kv.grant_lease(60)
    kv.put("/leases/a", "1", lease=lease)
    assert kv.create("/leases/b", "2", lease=lease) is True
    kv.put("/kept", "3")
    a = kv.get("/leases/a")
    assert a is not None and a.lease == lease
    kv.keepalive(lease)
    before = kv.revision()
    kv.revoke_lease(lease)
    assert kv.revision() == before + 1  # the keys go in one write
    assert kv.get("/leases/a") is None and kv.get("/leases/b") is None
    assert kv.get("/kept") is not None
    with pytest.raises(KVError, match="not found"):
        kv.keepalive(lease)
    with pytest.raises(KVError, match="not found"):
        kv.revoke_lease(lease)
    with pytest.raises(KVError, match="not found"):
        kv.put("/x", "y", lease=lease)


def test_put_without_lease_detaches(kv: KVStore) -> None:
    lease = kv.grant_lease(60)
    kv.put("/k", "1", lease=lease)
    kv.put("/k", "2")
    got = kv.get("/k")
    assert got is not None and got.lease is None
    kv.revoke_lease(lease)
    assert kv.get("/k") is not None


def test_bad_ttl(kv: KVStore) -> None:
    with pytest.raises(KVError, match="TTL"):
        kv.grant_lease(0)


def test_watch_future_events(kv: KVStore) -> None:
    kv.put("/w/old", "x")
    with kv.watch("/w/") as w:
        assert w.events(0) == []
        r1 = kv.put("/w/a", "1")
        kv.put("/elsewhere", "no")
        r2 = kv.put("/w/a", "2")
        r3 = kv.delete("/w/a") and kv.revision()
        got = _collect(w, 3)
    assert [(e.type, e.kv.key, e.kv.mod_revision) for e in got] == [
        ("PUT", "/w/a", r1), ("PUT", "/w/a", r2), ("DELETE", "/w/a", r3)
    ]
    assert got[0].prev is None
    assert got[1].prev is not None and got[1].prev.value == "1"
    assert got[2].kv == KeyValue("/w/a", "", 0, r3, 0, None)
    assert got[2].prev is not None and got[2].prev.value == "2" and got[2].prev.version == 2


def test_watch_replays_from_start_revision(kv: KVStore) -> None:
    r1 = kv.put("/r/a", "1")
    r2 = kv.put("/r/b", "2")
    kv.put("/other", "3")
    r4 = kv.delete_prefix("/r/") and kv.revision()
    with kv.watch("/r/", start_revision=r2) as w:
        replay = _collect(w, 3)
        r5 = kv.put("/r/c", "5")
        live = _collect(w, 1)
    assert [(e.type, e.kv.key, e.revision) for e in replay] == [
        ("PUT", "/r/b", r2), ("DELETE", "/r/a", r4), ("DELETE", "/r/b", r4)
    ]
    assert [(e.type, e.kv.key, e.revision) for e in live] == [("PUT", "/r/c", r5)]
    with kv.watch("/r/", start_revision=r1) as w:
        everything = _collect(w, 5)
    assert [e.revision for e in everything] == [r1, r2, r4, r4, r5]


def test_watch_sees_lease_revocation(kv: KVStore) -> None:
    lease = kv.grant_lease(60)
    kv.put("/l/a", "1", lease=lease)
    with kv.watch("/l/") as w:
        kv.revoke_lease(lease)
        (ev,) = _collect(w, 1)
    assert ev.type == "DELETE" and ev.kv.key == "/l/a"
    assert ev.prev is not None and ev.prev.lease == lease


def test_watch_iteration_and_close(kv: KVStore) -> None:
    w = kv.watch("/i/")
    kv.put("/i/x", "1")
    ev = next(iter(w))
    assert isinstance(ev, WatchEvent) and ev.kv.key == "/i/x"
    w.close()
    assert w.closed
    assert list(w) == []


def _collect(w: object, n: int) -> list[WatchEvent]:
    """Read ``n`` events, waiting at most a few seconds in all (etcd delivers asynchronously)."""
    from overlaynet.kv import Watch

    assert isinstance(w, Watch)
    out: list[WatchEvent] = []
    for _ in range(50):
        out.extend(w.events(timeout=0.1))
        if len(out) >= n:
            break
    assert len(out) == n, out
    return out


# --- memory backend only: lease expiry driven by the injected clock ----------------------


def test_memory_lease_expires_when_clock_passes_ttl(clock: FakeClock) -> None:
    kv = MemoryKV(clock=clock)
    lease = kv.grant_lease(10)
    kv.put("/subnet", "node-1", lease=lease)
    w = kv.watch("/")
    clock.advance(9)
    assert kv.get("/subnet") is not None
    kv.keepalive(lease)  # renewed for 10 more seconds from now
    clock.advance(9)
    assert kv.get("/subnet") is not None
    assert kv.lease_keys(lease) == ["/subnet"]
    clock.advance(1)
    (ev,) = w.events(0)  # polling a watch is an operation: it observes the expiry
    assert ev.type == "DELETE" and ev.kv.key == "/subnet"
    assert kv.get("/subnet") is None
    with pytest.raises(KVError, match="not found"):
        kv.keepalive(lease)


def test_memory_is_deterministic() -> None:
    def run() -> list[object]:
        kv = MemoryKV(clock=FakeClock())
        leases = [kv.grant_lease(5), kv.grant_lease(5)]
        kv.put("/a", "1", lease=leases[1])
        return [leases, kv.list_prefix(""), kv.revision()]

    assert run() == run()
    assert run()[0] == [1, 2]


def test_memory_closed_store_refuses() -> None:
    kv = MemoryKV()
    w = kv.watch("/")
    kv.close()
    assert w.closed
    with pytest.raises(KVError, match="closed"):
        kv.get("/a")
