"""KV benchmark: writes and reads per second on MemoryKV and on a real etcd through EtcdKV,
against a naive etcd client measured in the same run (urllib, a new connection per request).

    python benchmarks/kv.py [--ops 2000]

Starts a throwaway etcd on loopback (Debian etcd-server). Prints each figure and the ratio
EtcdKV / naive client; EtcdKV keeps one HTTP connection alive, the naive client does not.
"""

from __future__ import annotations

import argparse
import base64
import json
import time
import urllib.request
from collections.abc import Callable

from overlaynet.kv import EtcdKV, MemoryKV
from overlaynet.testing.etcd import local_etcd


def rate(n: int, op: Callable[[int], object]) -> float:
    start = time.perf_counter()
    for i in range(n):
        op(i)
    return n / (time.perf_counter() - start)


def naive_put(url: str) -> Callable[[int], object]:
    def put(i: int) -> object:
        body = json.dumps({"key": base64.b64encode(f"/naive/{i}".encode()).decode(),
                           "value": base64.b64encode(b"v").decode()}).encode()
        req = urllib.request.Request(f"{url}/v3/kv/put", data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.read()

    return put


def naive_get(url: str) -> Callable[[int], object]:
    def get(i: int) -> object:
        body = json.dumps({"key": base64.b64encode(f"/naive/{i}".encode()).decode()}).encode()
        req = urllib.request.Request(f"{url}/v3/kv/range", data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.read()

    return get


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=2000, help="operations per measurement")
    n = parser.parse_args().ops
    mem = MemoryKV()
    print(f"MemoryKV  put {rate(n, lambda i: mem.put(f'/m/{i}', 'v')):>10.0f}/s   "
          f"get {rate(n, lambda i: mem.get(f'/m/{i}')):>10.0f}/s")
    with local_etcd() as url:
        kv = EtcdKV([url])
        naive_p, naive_g = rate(n, naive_put(url)), rate(n, naive_get(url))
        put = rate(n, lambda i: kv.put(f"/e/{i}", "v"))
        get = rate(n, lambda i: kv.get(f"/e/{i}"))
        cas = rate(n, lambda i: kv.create(f"/c/{i}", "v"))
        kv.close()
    print(f"naive     put {naive_p:>10.0f}/s   get {naive_g:>10.0f}/s   (urllib, new connection each)")
    print(f"EtcdKV    put {put:>10.0f}/s   get {get:>10.0f}/s   create {cas:.0f}/s")
    print(f"ratio EtcdKV / naive: put {put / naive_p:.2f}x   get {get / naive_g:.2f}x")


if __name__ == "__main__":
    main()
