"""The KV contract: values, watch events, the ``Watch`` stream and the ``KVStore`` ABC.

It mirrors etcd v3 exactly (revisions, versions, leases, prefix ranges, watch replay) so the
in-memory backend (``memory.py``) and the real one (``etcd.py``) are interchangeable.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Literal

from overlaynet.errors import KVError

__all__ = ["KVStore", "KeyValue", "Watch", "WatchEvent", "check_key", "prefix_range_end"]


@dataclass(frozen=True, slots=True)
class KeyValue:
    """One key as etcd's ``mvccpb.KeyValue``.

    ``create_revision`` is the store revision that created the key, ``mod_revision`` the one
    that last wrote it, ``version`` counts writes since creation (1 after the first). In a
    DELETE event only ``key`` and ``mod_revision`` (the deleting revision) are set, as etcd
    sends them. ``lease`` is None when no lease is attached.
    """

    key: str
    value: str
    create_revision: int
    mod_revision: int
    version: int
    lease: int | None = None


@dataclass(frozen=True, slots=True)
class WatchEvent:
    """A change to one key; ``prev`` is the key as it was before, None if it did not exist."""

    type: Literal["PUT", "DELETE"]
    kv: KeyValue
    prev: KeyValue | None = None

    @property
    def revision(self) -> int:
        return self.kv.mod_revision


class Watch:
    """A stream of ``WatchEvent``s over a key prefix, in revision order.

    Iterate it (blocks until the next event; ends when closed) or poll it with
    ``events(timeout)``. Backends feed it with ``_deliver`` and ``_fail``; a failure is raised
    from the next read. Use it as a context manager, or call ``close()``.
    """

    def __init__(self, prefix: str, *, on_poll: Callable[[], None] | None = None) -> None:
        self.prefix = prefix
        self._queue: deque[WatchEvent] = deque()
        self._cond = threading.Condition()
        self._closed = False
        self._error: KVError | None = None
        self._on_poll = on_poll

    # --- fed by the backend ------------------------------------------------------------
    def _deliver(self, events: Iterable[WatchEvent]) -> None:
        with self._cond:
            if self._closed:
                return
            self._queue.extend(events)
            self._cond.notify_all()

    def _fail(self, error: KVError) -> None:
        with self._cond:
            if not self._closed:
                self._error = error
            self._cond.notify_all()

    def _stop(self) -> None:
        """Release backend resources; backends override."""

    # --- read by the user --------------------------------------------------------------
    @property
    def closed(self) -> bool:
        return self._closed

    def events(self, timeout: float | None = 0.0) -> list[WatchEvent]:
        """Return every event received so far, waiting up to ``timeout`` seconds for the
        first one (0: do not wait; None: wait until one arrives or the watch closes)."""
        if self._on_poll is not None and not self._closed:
            self._on_poll()
        with self._cond:
            self._cond.wait_for(
                lambda: bool(self._queue) or self._closed or self._error is not None, timeout
            )
            out = list(self._queue)
            self._queue.clear()
            if not out and self._error is not None:
                raise self._error
            return out

    def __iter__(self) -> Iterator[WatchEvent]:
        return self

    def __next__(self) -> WatchEvent:
        if self._on_poll is not None and not self._closed:
            self._on_poll()
        with self._cond:
            self._cond.wait_for(lambda: bool(self._queue) or self._closed or self._error is not None)
            if self._queue:
                return self._queue.popleft()
            if self._error is not None:
                raise self._error
            raise StopIteration

    def close(self) -> None:
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._cond.notify_all()
        self._stop()

    def __enter__(self) -> Watch:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class KVStore(ABC):
    """A revisioned key-value store with leases and watches (the etcd v3 data model).

    Every write bumps the store revision by one (a prefix delete or a lease expiry that
    removes several keys is one write). Failed compares and deletes of absent keys do not.
    """

    @abstractmethod
    def get(self, key: str) -> KeyValue | None:
        """The key's current value, or None."""

    @abstractmethod
    def put(self, key: str, value: str, *, lease: int | None = None) -> int:
        """Write ``key``; return the new store revision. Without ``lease`` the key is
        detached from any lease it had (as etcd). An unknown lease raises ``KVError``."""

    @abstractmethod
    def create(self, key: str, value: str, *, lease: int | None = None) -> bool:
        """Write ``key`` only if it does not exist (txn ``create_revision == 0``)."""

    @abstractmethod
    def compare_and_swap(
        self, key: str, value: str, *, expected_mod_revision: int, lease: int | None = None
    ) -> bool:
        """Write ``key`` only if its ``mod_revision`` equals ``expected_mod_revision``
        (0 means: the key must not exist)."""

    @abstractmethod
    def compare_and_swap_many(self, writes: Sequence[tuple[str, str, int]]) -> bool:
        """Write every ``(key, value, expected_mod_revision)`` only if every key's
        ``mod_revision`` equals its expected one (0: absent), as one transaction: all the
        writes land at one revision, or none does (False). Keys must be distinct."""

    @abstractmethod
    def delete(self, key: str) -> bool:
        """Delete ``key``; False if it did not exist."""

    @abstractmethod
    def delete_prefix(self, prefix: str) -> int:
        """Delete every key starting with ``prefix`` ("" means all); return how many."""

    @abstractmethod
    def list_prefix(self, prefix: str) -> list[KeyValue]:
        """Every key starting with ``prefix``, sorted by key (byte order)."""

    @abstractmethod
    def revision(self) -> int:
        """The current store revision (1 for an empty, never-written store)."""

    @abstractmethod
    def grant_lease(self, ttl: int) -> int:
        """Grant a lease of ``ttl`` seconds; return its id."""

    @abstractmethod
    def keepalive(self, lease: int) -> None:
        """Renew ``lease`` for its full TTL; ``KVError`` if it is unknown or expired."""

    @abstractmethod
    def revoke_lease(self, lease: int) -> None:
        """Revoke ``lease`` and delete every key attached to it; ``KVError`` if unknown."""

    @abstractmethod
    def watch(self, prefix: str, *, start_revision: int | None = None) -> Watch:
        """Watch keys under ``prefix``. With ``start_revision``, first replay every change
        at that revision and after; without, report only changes after this call."""

    @abstractmethod
    def close(self) -> None:
        """Close open watches and connections."""

    def __enter__(self) -> KVStore:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def check_key(key: str) -> None:
    """etcd refuses empty keys; so do we, on every backend."""
    if not isinstance(key, str) or not key:
        raise KVError(f"a key must be a non-empty string, got {key!r}")


def prefix_range_end(prefix: bytes) -> bytes:
    """etcd's range end for a prefix: the prefix with its last byte incremented (trailing
    0xff bytes dropped); ``b"\\0"`` (everything) for the empty or all-0xff prefix."""
    end = bytearray(prefix)
    while end:
        if end[-1] < 0xFF:
            end[-1] += 1
            return bytes(end)
        end.pop()
    return b"\0"
