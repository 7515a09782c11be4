"""``MemoryKV``: the embedded, deterministic KV backend, with etcd's revision semantics.

Lease time comes from an injectable clock, so tests expire leases without sleeping: a lease
expires once ``clock() >= granted_or_renewed_at + ttl``, observed at the next operation. The
full change history is kept so watches can replay from any revision.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from overlaynet.errors import KVError
from overlaynet.kv.base import KeyValue, KVStore, Watch, WatchEvent, check_key

__all__ = ["MemoryKV"]


@dataclass(slots=True)
class _Lease:
    ttl: int
    deadline: float
    keys: set[str] = field(default_factory=set)


class _MemoryWatch(Watch):
    def __init__(self, store: MemoryKV, prefix: str) -> None:
        super().__init__(prefix, on_poll=store._expire_leases)
        self._store = store

    def _stop(self) -> None:
        self._store._forget(self)


class MemoryKV(KVStore):
    """An in-process KV store. Thread-safe; lease ids count up from 1 (deterministic)."""

    def __init__(self, *, clock: Callable[[], float] | None = None) -> None:
        self._clock = clock or time.monotonic
        self._lock = threading.RLock()
        self._data: dict[str, KeyValue] = {}
        self._rev = 1  # etcd's revision for a fresh store
        self._history: list[WatchEvent] = []
        self._leases: dict[int, _Lease] = {}
        #: no lease expires before this (a lower bound: every operation checks it, and only
        #: scans the leases once it has passed, so a put does not cost O(leases))
        self._earliest = math.inf
        self._next_lease = 1
        self._watches: list[_MemoryWatch] = []
        self._closed = False

    # --- internals ---------------------------------------------------------------------
    def _begin(self) -> None:
        if self._closed:
            raise KVError("the memory KV store is closed")
        self._expire_leases()

    def _expire_leases(self) -> None:
        with self._lock:
            now = self._clock()
            if now < self._earliest:
                return
            for lease_id in sorted(i for i, lease in self._leases.items() if now >= lease.deadline):
                self._drop_lease(lease_id)
            self._earliest = min((lease.deadline for lease in self._leases.values()), default=math.inf)

    def _drop_lease(self, lease_id: int) -> None:
        lease = self._leases.pop(lease_id)
        if lease.keys:
            self._commit([self._deletion(k, self._rev + 1) for k in sorted(lease.keys)])

    def _check_lease(self, lease: int | None) -> None:
        if lease is not None and lease not in self._leases:
            raise KVError(f"lease {lease} not found (never granted, revoked or expired)")

    def _commit(self, events: list[WatchEvent]) -> int:
        """Apply ``events`` as one write at the next revision and notify watches."""
        self._rev += 1
        for ev in events:
            old = self._data.get(ev.kv.key)
            if old is not None and old.lease is not None and old.lease in self._leases:
                self._leases[old.lease].keys.discard(ev.kv.key)
            if ev.type == "PUT":
                self._data[ev.kv.key] = ev.kv
                if ev.kv.lease is not None:
                    self._leases[ev.kv.lease].keys.add(ev.kv.key)
            else:
                del self._data[ev.kv.key]
        self._history.extend(events)
        for w in self._watches:
            w._deliver([ev for ev in events if ev.kv.key.startswith(w.prefix)])
        return self._rev

    def _put_event(self, key: str, value: str, lease: int | None) -> WatchEvent:
        rev = self._rev + 1
        old = self._data.get(key)
        kv = KeyValue(
            key=key,
            value=value,
            create_revision=old.create_revision if old else rev,
            mod_revision=rev,
            version=old.version + 1 if old else 1,
            lease=lease,
        )
        return WatchEvent("PUT", kv, old)

    def _deletion(self, key: str, rev: int) -> WatchEvent:
        return WatchEvent("DELETE", KeyValue(key, "", 0, rev, 0, None), self._data[key])

    def _forget(self, watch: _MemoryWatch) -> None:
        with self._lock:
            if watch in self._watches:
                self._watches.remove(watch)

    # --- KVStore -----------------------------------------------------------------------
    def get(self, key: str) -> KeyValue | None:
        check_key(key)
        with self._lock:
            self._begin()
            return self._data.get(key)

    def put(self, key: str, value: str, *, lease: int | None = None) -> int:
        check_key(key)
        with self._lock:
            self._begin()
            self._check_lease(lease)
            return self._commit([self._put_event(key, value, lease)])

    def create(self, key: str, value: str, *, lease: int | None = None) -> bool:
        return self.compare_and_swap(key, value, expected_mod_revision=0, lease=lease)

    def compare_and_swap(
        self, key: str, value: str, *, expected_mod_revision: int, lease: int | None = None
    ) -> bool:
        check_key(key)
        with self._lock:
            self._begin()
            old = self._data.get(key)
            if (old.mod_revision if old else 0) != expected_mod_revision:
                return False
            self._check_lease(lease)
            self._commit([self._put_event(key, value, lease)])
            return True

    def compare_and_swap_many(self, writes: Sequence[tuple[str, str, int]]) -> bool:
        keys = [key for key, _, _ in writes]
        for key in keys:
            check_key(key)
        if len(set(keys)) != len(keys):
            raise KVError(f"a transaction may write each key once: {sorted(keys)}")
        with self._lock:
            self._begin()
            for key, _, expected in writes:
                old = self._data.get(key)
                if (old.mod_revision if old else 0) != expected:
                    return False
            if writes:
                rev = self._rev + 1
                events = []
                for key, value, _ in writes:
                    old = self._data.get(key)
                    kv = KeyValue(key, value, old.create_revision if old else rev, rev,
                                  old.version + 1 if old else 1, None)
                    events.append(WatchEvent("PUT", kv, old))
                self._commit(events)
            return True

    def delete(self, key: str) -> bool:
        check_key(key)
        with self._lock:
            self._begin()
            if key not in self._data:
                return False
            self._commit([self._deletion(key, self._rev + 1)])
            return True

    def delete_prefix(self, prefix: str) -> int:
        with self._lock:
            self._begin()
            keys = sorted(k for k in self._data if k.startswith(prefix))
            if keys:
                self._commit([self._deletion(k, self._rev + 1) for k in keys])
            return len(keys)

    def list_prefix(self, prefix: str) -> list[KeyValue]:
        with self._lock:
            self._begin()
            return [self._data[k] for k in sorted(self._data) if k.startswith(prefix)]

    def revision(self) -> int:
        with self._lock:
            self._begin()
            return self._rev

    def grant_lease(self, ttl: int) -> int:
        if not isinstance(ttl, int) or ttl <= 0:
            raise KVError(f"a lease TTL must be a positive number of seconds, got {ttl!r}")
        with self._lock:
            self._begin()
            lease_id = self._next_lease
            self._next_lease += 1
            self._leases[lease_id] = _Lease(ttl, self._clock() + ttl)
            self._earliest = min(self._earliest, self._leases[lease_id].deadline)
            return lease_id

    def keepalive(self, lease: int) -> None:
        with self._lock:
            self._begin()
            self._check_lease(lease)
            entry = self._leases[lease]
            entry.deadline = self._clock() + entry.ttl
            self._earliest = min(self._earliest, entry.deadline)

    def revoke_lease(self, lease: int) -> None:
        with self._lock:
            self._begin()
            self._check_lease(lease)
            self._drop_lease(lease)

    def lease_keys(self, lease: int) -> list[str]:
        """The keys attached to ``lease``, sorted (etcd's LeaseTimeToLive with keys)."""
        with self._lock:
            self._begin()
            self._check_lease(lease)
            return sorted(self._leases[lease].keys)

    def watch(self, prefix: str, *, start_revision: int | None = None) -> Watch:
        with self._lock:
            self._begin()
            w = _MemoryWatch(self, prefix)
            if start_revision is not None:
                w._deliver(
                    ev
                    for ev in self._history
                    if ev.revision >= start_revision and ev.kv.key.startswith(prefix)
                )
            self._watches.append(w)
            return w

    def close(self) -> None:
        with self._lock:
            watches, self._watches = self._watches, []
            self._closed = True
        for w in watches:
            w.close()
