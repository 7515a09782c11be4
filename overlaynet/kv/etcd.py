"""``EtcdKV``: the KV contract over a real etcd v3 through its JSON gRPC gateway.

Keys and values travel base64-encoded, 64-bit integers as JSON strings. The gateway prefix
is chosen from the server's ``/version`` (``/v3/`` from etcd 3.4, ``/v3beta/`` on 3.3,
``/v3alpha/`` before). Only the stdlib (``http.client``) is used; every transport or server
error becomes a ``KVError`` naming the endpoint, chained with ``from``.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import socket
import threading
import urllib.parse
from collections.abc import Sequence
from typing import Any

from overlaynet.errors import KVError
from overlaynet.kv.base import (
    KeyValue,
    KVStore,
    Watch,
    WatchEvent,
    check_key,
    prefix_range_end,
)

__all__ = ["EtcdKV"]


def _b64(text: str | bytes) -> str:
    raw = text.encode() if isinstance(text, str) else text
    return base64.b64encode(raw).decode("ascii")


def _unb64(text: str | None) -> str:
    return base64.b64decode(text or "").decode()


def _kv(obj: dict[str, Any]) -> KeyValue:
    lease = int(obj.get("lease", 0))
    return KeyValue(
        key=_unb64(obj.get("key")),
        value=_unb64(obj.get("value")),
        create_revision=int(obj.get("create_revision", 0)),
        mod_revision=int(obj.get("mod_revision", 0)),
        version=int(obj.get("version", 0)),
        lease=lease or None,
    )


def _event(obj: dict[str, Any]) -> WatchEvent:
    prev = obj.get("prev_kv")
    kv, before = _kv(obj["kv"]), _kv(prev) if prev else None
    if obj.get("type") == "DELETE":  # PUT is the enum's zero value, omitted from the JSON
        return WatchEvent("DELETE", kv, before)
    return WatchEvent("PUT", kv, before)


class _Endpoint:
    """One parsed ``http://host:port`` client URL."""

    def __init__(self, url: str) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise KVError(f"etcd endpoint {url!r}: expected http://HOST:PORT")
        self.url = url.rstrip("/")
        self.https = parts.scheme == "https"
        self.host = parts.hostname
        self.port = parts.port or 2379

    def connect(self, timeout: float | None) -> http.client.HTTPConnection:
        cls = http.client.HTTPSConnection if self.https else http.client.HTTPConnection
        return cls(self.host, self.port, timeout=timeout)


class _EtcdWatch(Watch):
    """Reads one streaming ``/watch`` response on a daemon thread."""

    def __init__(self, prefix: str, conn: http.client.HTTPConnection,
                 resp: http.client.HTTPResponse, endpoint: str) -> None:
        super().__init__(prefix)
        self._conn = conn
        self._resp = resp
        self._endpoint = endpoint
        self._thread = threading.Thread(target=self._run, name=f"etcd-watch {prefix!r}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        try:
            while not self.closed:
                line = self._resp.readline()
                if not line:
                    if not self.closed:
                        self._fail(KVError(f"etcd at {self._endpoint}: watch stream ended"))
                    return
                if line.strip():
                    self._handle(json.loads(line))
        # Any failure of the thread is handed to the reader: after close() http.client may
        # raise odd errors from the half-closed socket, which are then expected and dropped.
        except Exception as exc:
            if not self.closed:
                err = KVError(f"etcd at {self._endpoint}: watch stream failed: {exc}")
                err.__cause__ = exc
                self._fail(err)
        finally:
            self._resp.close()
            self._conn.close()

    def _handle(self, msg: dict[str, Any]) -> None:
        if "error" in msg:
            self._fail(KVError(f"etcd at {self._endpoint}: watch: {msg['error'].get('message', msg['error'])}"))
            return
        result = msg.get("result", {})
        if result.get("compact_revision"):
            self._fail(KVError(f"etcd at {self._endpoint}: watch start revision compacted "
                               f"(oldest available {result['compact_revision']})"))
            return
        events = [_event(e) for e in result.get("events", [])]
        if events:
            self._deliver(events)

    def _stop(self) -> None:
        sock = self._conn.sock
        if sock is not None:
            with contextlib.suppress(OSError):  # already gone: the reader sees EOF either way
                sock.shutdown(socket.SHUT_RDWR)


class EtcdKV(KVStore):
    """A client of a real etcd v3 cluster; tries ``endpoints`` in order until one answers."""

    def __init__(self, endpoints: Sequence[str], *, timeout: float = 5.0) -> None:
        if not endpoints:
            raise KVError("the etcd backend needs at least one endpoint (http://HOST:PORT)")
        self._endpoints = [_Endpoint(u) for u in endpoints]
        self._timeout = timeout
        self._api: str | None = None
        self._lock = threading.Lock()
        self._watches: list[_EtcdWatch] = []
        self._conn_lock = threading.Lock()
        self._conn: http.client.HTTPConnection | None = None
        self._conn_ep: _Endpoint | None = None

    # --- transport ---------------------------------------------------------------------
    def _open(self, method: str, path: str, body: dict[str, Any] | None, timeout: float | None,
              ) -> tuple[_Endpoint, http.client.HTTPConnection, http.client.HTTPResponse]:
        """Send one request to the first endpoint that answers; return the open response."""
        errors: list[str] = []
        last: Exception | None = None
        payload = json.dumps(body).encode() if body is not None else None
        for ep in self._endpoints:
            conn = ep.connect(timeout)
            try:
                conn.request(method, path, body=payload, headers={"Content-Type": "application/json"})
                return ep, conn, conn.getresponse()
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                errors.append(f"{ep.url}: {exc}")
                last = exc
        raise KVError(f"etcd unreachable at {'; '.join(errors)}") from last

    def _exchange(self, method: str, path: str, body: dict[str, Any] | None) -> tuple[_Endpoint, int, bytes]:
        """One request/response on the kept-alive connection, opening one when needed.

        A kept connection the server closed while idle fails before the request is read;
        only that case is retried (on a fresh connection), so no write is ever sent twice.
        """
        payload = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"}
        with self._conn_lock:
            if self._conn is not None and self._conn_ep is not None:
                conn, ep = self._conn, self._conn_ep
                try:
                    conn.request(method, path, body=payload, headers=headers)
                    resp = conn.getresponse()
                    return ep, resp.status, resp.read()
                except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                    conn.close()
                    self._conn = self._conn_ep = None
                except (OSError, http.client.HTTPException) as exc:
                    conn.close()
                    self._conn = self._conn_ep = None
                    raise KVError(f"etcd at {ep.url}: {path}: {exc}") from exc
            ep, conn, resp = self._open(method, path, body, self._timeout)
            try:
                raw = resp.read()
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                raise KVError(f"etcd at {ep.url}: {path}: {exc}") from exc
            self._conn, self._conn_ep = conn, ep
            return ep, resp.status, raw

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        ep, status, raw = self._exchange(method, path, body)
        try:
            data: dict[str, Any] = json.loads(raw) if raw.strip() else {}
        except ValueError as exc:
            raise KVError(f"etcd at {ep.url}: {path}: not JSON: {raw[:200]!r}") from exc
        if status != 200 or "error" in data:
            message = data.get("message") or data.get("error") or raw[:200].decode(errors="replace")
            raise KVError(f"etcd at {ep.url}: {path}: HTTP {status}: {message}")
        if "result" in data:  # streaming RPCs (keepalive) answer {"result": {...}}
            result: dict[str, Any] = data["result"]
            return result
        return data

    def _rpc(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._call("POST", f"{self.api_prefix}{name}", body)

    @property
    def api_prefix(self) -> str:
        """The gateway prefix this server speaks: ``/v3/``, ``/v3beta/`` or ``/v3alpha/``."""
        if self._api is None:
            version = str(self._call("GET", "/version").get("etcdserver", ""))
            try:
                major, minor = (int(x) for x in version.split(".")[:2])
            except ValueError as exc:
                raise KVError(f"etcd answered /version with {version!r}, not a version") from exc
            if (major, minor) >= (3, 4):
                self._api = "/v3/"
            elif (major, minor) == (3, 3):
                self._api = "/v3beta/"
            else:
                self._api = "/v3alpha/"
        return self._api

    @staticmethod
    def _put_op(key: str, value: str, lease: int | None) -> dict[str, Any]:
        op: dict[str, Any] = {"key": _b64(key), "value": _b64(value)}
        if lease is not None:
            op["lease"] = str(lease)
        return op

    # --- KVStore -----------------------------------------------------------------------
    def get(self, key: str) -> KeyValue | None:
        check_key(key)
        kvs = self._rpc("kv/range", {"key": _b64(key)}).get("kvs", [])
        return _kv(kvs[0]) if kvs else None

    def put(self, key: str, value: str, *, lease: int | None = None) -> int:
        check_key(key)
        return int(self._rpc("kv/put", self._put_op(key, value, lease))["header"]["revision"])

    def create(self, key: str, value: str, *, lease: int | None = None) -> bool:
        check_key(key)
        return self._txn(key, "CREATE", "create_revision", 0, self._put_op(key, value, lease))

    def compare_and_swap(
        self, key: str, value: str, *, expected_mod_revision: int, lease: int | None = None
    ) -> bool:
        check_key(key)
        op = self._put_op(key, value, lease)
        return self._txn(key, "MOD", "mod_revision", expected_mod_revision, op)

    def _txn(self, key: str, target: str, field: str, expected: int, put: dict[str, Any]) -> bool:
        body = {
            "compare": [{"key": _b64(key), "target": target, "result": "EQUAL", field: str(expected)}],
            "success": [{"request_put": put}],
        }
        return bool(self._rpc("kv/txn", body).get("succeeded", False))

    def compare_and_swap_many(self, writes: Sequence[tuple[str, str, int]]) -> bool:
        keys = [key for key, _, _ in writes]
        for key in keys:
            check_key(key)
        if len(set(keys)) != len(keys):
            raise KVError(f"a transaction may write each key once: {sorted(keys)}")
        if not writes:
            return True
        body = {
            "compare": [{"key": _b64(k), "target": "MOD", "result": "EQUAL", "mod_revision": str(rev)}
                        for k, _, rev in writes],
            "success": [{"request_put": self._put_op(k, v, None)} for k, v, _ in writes],
        }
        return bool(self._rpc("kv/txn", body).get("succeeded", False))

    def delete(self, key: str) -> bool:
        check_key(key)
        return int(self._rpc("kv/deleterange", {"key": _b64(key)}).get("deleted", 0)) > 0

    def _prefix(self, prefix: str) -> dict[str, str]:
        raw = prefix.encode()
        return {"key": _b64(raw or b"\0"), "range_end": _b64(prefix_range_end(raw))}

    def delete_prefix(self, prefix: str) -> int:
        return int(self._rpc("kv/deleterange", self._prefix(prefix)).get("deleted", 0))

    def list_prefix(self, prefix: str) -> list[KeyValue]:
        return [_kv(o) for o in self._rpc("kv/range", self._prefix(prefix)).get("kvs", [])]

    def revision(self) -> int:
        body = {"key": _b64(b"\0"), "range_end": _b64(b"\0"), "count_only": True}
        return int(self._rpc("kv/range", body)["header"]["revision"])

    def grant_lease(self, ttl: int) -> int:
        if not isinstance(ttl, int) or ttl <= 0:
            raise KVError(f"a lease TTL must be a positive number of seconds, got {ttl!r}")
        return int(self._rpc("lease/grant", {"TTL": str(ttl)})["ID"])

    def keepalive(self, lease: int) -> None:
        result = self._rpc("lease/keepalive", {"ID": str(lease)})
        if int(result.get("TTL", 0)) <= 0:  # etcd answers TTL 0 for an unknown lease
            raise KVError(f"lease {lease} not found (never granted, revoked or expired)")

    def revoke_lease(self, lease: int) -> None:
        self._rpc("lease/revoke", {"ID": str(lease)})

    def watch(self, prefix: str, *, start_revision: int | None = None) -> Watch:
        request: dict[str, Any] = {**self._prefix(prefix), "prev_kv": True}
        if start_revision is not None:
            request["start_revision"] = str(start_revision)
        path = f"{self.api_prefix}watch"
        ep, conn, resp = self._open("POST", path, {"create_request": request}, self._timeout)
        try:
            if resp.status != 200:
                raise KVError(f"etcd at {ep.url}: {path}: HTTP {resp.status}: {resp.read()[:200]!r}")
            first = json.loads(resp.readline() or b"{}")  # wait for "created": the watch is live
            if not first.get("result", {}).get("created"):
                raise KVError(f"etcd at {ep.url}: {path}: watch not created: {first}")
            if conn.sock is not None:
                conn.sock.settimeout(None)  # the stream idles until something changes
        except (OSError, ValueError, http.client.HTTPException) as exc:
            conn.close()
            raise KVError(f"etcd at {ep.url}: {path}: {exc}") from exc
        except KVError:
            conn.close()
            raise
        w = _EtcdWatch(prefix, conn, resp, ep.url)
        with self._lock:
            self._watches = [x for x in self._watches if not x.closed] + [w]
        w.start()
        return w

    def close(self) -> None:
        with self._lock:
            watches, self._watches = self._watches, []
        for w in watches:
            w.close()
        with self._conn_lock:
            if self._conn is not None:
                self._conn.close()
            self._conn = self._conn_ep = None
