"""The KV store drivers keep their state in (flannel leases, IPAM blocks, overlay networks).

``open_kv(spec)`` returns the backend a cluster's ``kv:`` section asks for: ``MemoryKV``
(embedded, deterministic, the default) or ``EtcdKV`` (a real etcd v3). Both honour one
contract, ``KVStore``, modelled on etcd v3; see docs/kv.md.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from overlaynet.errors import KVConflict, KVError
from overlaynet.kv.base import KeyValue, KVStore, Watch, WatchEvent
from overlaynet.kv.memory import MemoryKV
from overlaynet.kv.namespace import NamespacedKV

if TYPE_CHECKING:
    from overlaynet.kv.etcd import EtcdKV
    from overlaynet.model import KVSpec

__all__ = [
    "EtcdKV",
    "KVConflict",
    "KVError",
    "KVStore",
    "KeyValue",
    "MemoryKV",
    "NamespacedKV",
    "Watch",
    "WatchEvent",
    "open_kv",
]


def open_kv(spec: KVSpec, *, clock: Callable[[], float] | None = None) -> KVStore:
    """Open the store ``spec`` describes; a non-empty ``spec.prefix`` namespaces every key.

    ``clock`` drives lease expiry of the memory backend (etcd keeps its own time).

    >>> from overlaynet.model import KVSpec
    >>> kv = open_kv(KVSpec())
    >>> kv.put("/coreos.com/network/config", '{"Network": "10.244.0.0/16"}')
    2
    >>> kv.get("/coreos.com/network/config").version
    1
    """
    store: KVStore
    if spec.backend == "memory":
        store = MemoryKV(clock=clock)
    elif spec.backend == "etcd":
        from overlaynet.kv.etcd import EtcdKV

        store = EtcdKV(spec.endpoints or ("http://127.0.0.1:2379",))
    else:
        raise KVError(f"unknown KV backend {spec.backend!r}; known backends: etcd, memory")
    return NamespacedKV(store, spec.prefix) if spec.prefix else store


def __getattr__(name: str) -> object:
    if name == "EtcdKV":  # imported lazily: http.client is not needed by the memory backend
        from overlaynet.kv.etcd import EtcdKV

        return EtcdKV
    raise AttributeError(name)
