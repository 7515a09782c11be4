"""``NamespacedKV``: a view of a KV store under a key prefix (etcd clientv3's ``namespace``).

``open_kv`` wraps a backend in it when ``KVSpec.prefix`` is set, so several clusters can
share one etcd without seeing each other's keys.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from overlaynet.kv.base import KeyValue, KVStore, Watch, WatchEvent, check_key

__all__ = ["NamespacedKV"]


class _NamespacedWatch(Watch):
    """The inner watch's events with the namespace prefix stripped from every key."""

    def __init__(self, inner: Watch, prefix: str, strip: int) -> None:
        super().__init__(prefix)
        self._inner = inner
        self._strip = strip

    def events(self, timeout: float | None = 0.0) -> list[WatchEvent]:
        return [_strip_event(ev, self._strip) for ev in self._inner.events(timeout)]

    def __next__(self) -> WatchEvent:
        return _strip_event(next(self._inner), self._strip)

    def _stop(self) -> None:
        self._inner.close()


def _strip_kv(kv: KeyValue, n: int) -> KeyValue:
    return replace(kv, key=kv.key[n:])


def _strip_event(ev: WatchEvent, n: int) -> WatchEvent:
    return WatchEvent(ev.type, _strip_kv(ev.kv, n), _strip_kv(ev.prev, n) if ev.prev else None)


class NamespacedKV(KVStore):
    """Every key is stored as ``namespace + key``; reads strip the namespace again."""

    def __init__(self, inner: KVStore, namespace: str) -> None:
        self.inner = inner
        self.namespace = namespace

    def _k(self, key: str) -> str:
        check_key(key)
        return self.namespace + key

    def get(self, key: str) -> KeyValue | None:
        kv = self.inner.get(self._k(key))
        return _strip_kv(kv, len(self.namespace)) if kv else None

    def put(self, key: str, value: str, *, lease: int | None = None) -> int:
        return self.inner.put(self._k(key), value, lease=lease)

    def create(self, key: str, value: str, *, lease: int | None = None) -> bool:
        return self.inner.create(self._k(key), value, lease=lease)

    def compare_and_swap(
        self, key: str, value: str, *, expected_mod_revision: int, lease: int | None = None
    ) -> bool:
        return self.inner.compare_and_swap(
            self._k(key), value, expected_mod_revision=expected_mod_revision, lease=lease
        )

    def compare_and_swap_many(self, writes: Sequence[tuple[str, str, int]]) -> bool:
        return self.inner.compare_and_swap_many([(self._k(k), v, rev) for k, v, rev in writes])

    def delete(self, key: str) -> bool:
        return self.inner.delete(self._k(key))

    def delete_prefix(self, prefix: str) -> int:
        return self.inner.delete_prefix(self.namespace + prefix)

    def list_prefix(self, prefix: str) -> list[KeyValue]:
        n = len(self.namespace)
        return [_strip_kv(kv, n) for kv in self.inner.list_prefix(self.namespace + prefix)]

    def revision(self) -> int:
        return self.inner.revision()

    def grant_lease(self, ttl: int) -> int:
        return self.inner.grant_lease(ttl)

    def keepalive(self, lease: int) -> None:
        self.inner.keepalive(lease)

    def revoke_lease(self, lease: int) -> None:
        self.inner.revoke_lease(lease)

    def watch(self, prefix: str, *, start_revision: int | None = None) -> Watch:
        inner = self.inner.watch(self.namespace + prefix, start_revision=start_revision)
        return _NamespacedWatch(inner, prefix, len(self.namespace))

    def close(self) -> None:
        self.inner.close()
