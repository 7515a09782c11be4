"""``local_etcd()``: a throwaway etcd v3 on loopback for tests and benchmarks.

It runs the real ``etcd`` binary (Debian etcd-server) on two free loopback ports with a
temporary data directory, and kills it and removes the directory on exit, also on errors.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from overlaynet.errors import KVError

__all__ = ["local_etcd"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=1) as resp:
            return bool(json.load(resp).get("health") == "true")
    except (OSError, ValueError):
        return False


@contextlib.contextmanager
def local_etcd(*, binary: str | None = None, startup_timeout: float = 30.0) -> Iterator[str]:
    """Start etcd, wait until ``/health`` says true, yield its client URL.

    Raises ``KVError`` when the binary is missing or the server does not come up (with the
    tail of its log).
    """
    exe = binary or shutil.which("etcd")
    if exe is None:
        raise KVError("etcd is not installed (Debian package etcd-server)")
    data = Path(tempfile.mkdtemp(prefix="onet-etcd-"))
    client, peer = _free_port(), _free_port()
    url, peer_url = f"http://127.0.0.1:{client}", f"http://127.0.0.1:{peer}"
    log_path = data / "etcd.log"
    with log_path.open("wb") as log:
        try:
            proc = subprocess.Popen(
                [exe, "--name", "onet", "--data-dir", str(data / "data"),
                 "--listen-client-urls", url, "--advertise-client-urls", url,
                 "--listen-peer-urls", peer_url, "--initial-advertise-peer-urls", peer_url,
                 "--initial-cluster", f"onet={peer_url}", "--log-level", "error"],
                stdout=log, stderr=subprocess.STDOUT,
            )
        except OSError as exc:
            shutil.rmtree(data, ignore_errors=True)
            raise KVError(f"cannot start etcd ({exe}): {exc}") from exc
        try:
            deadline = time.monotonic() + startup_timeout
            while not _healthy(url):
                if proc.poll() is not None or time.monotonic() > deadline:
                    log.flush()
                    tail = log_path.read_text(errors="replace")[-2000:]
                    raise KVError(f"etcd did not become healthy at {url}:\n{tail}")
                time.sleep(0.05)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            shutil.rmtree(data, ignore_errors=True)
