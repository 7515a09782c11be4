"""Sweeps through a real Dask scheduler with two worker processes on loopback: the same result
as embedded, also when one worker is killed midway; an unreachable scheduler is a clear error."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from overlaynet.errors import SweepError
from overlaynet.sweep import run_sweep

DASK = str(Path(sys.executable).parent / "dask")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _topology(path: Path, nodes: int = 8, apps: int = 4, replicas: int = 6, services: int = 12) -> str:
    lines = [
        "apiVersion: overlaynet/v1", "kind: Cluster", "metadata: {name: sweep}", "spec:",
        "  network: {driver: flannel, options: {backend: vxlan}}", "  underlay:", "    segments:",
        "      - {name: rack-a, cidr: 192.168.10.0/24}", "      - {name: rack-b, cidr: 192.168.20.0/24}",
        "    routers: [{name: core, interfaces: {rack-a: 192.168.10.1, rack-b: 192.168.20.1}}]", "  nodes:",
    ]
    for i in range(nodes):
        rack = "10" if i % 2 == 0 else "20"
        lines.append(f"    - {{name: node-{i}, ip: 192.168.{rack}.{11 + i}}}")
    for a in range(apps):
        lines += ["---", "apiVersion: apps/v1", "kind: Deployment", f"metadata: {{name: app{a}}}", "spec:",
                  f"  replicas: {replicas}", f"  selector: {{matchLabels: {{app: app{a}}}}}", "  template:",
                  f"    metadata: {{labels: {{app: app{a}}}}}",
                  "    spec: {containers: [{name: c, image: x, ports: [{name: http, containerPort: 8080}]}]}"]
    for s in range(services):
        lines += ["---", "apiVersion: v1", "kind: Service", f"metadata: {{name: svc{s}}}",
                  f"spec: {{selector: {{app: app{s % apps}}}, ports: [{{name: http, port: 80, targetPort: http}}]}}"]
    path.write_text("\n".join(lines) + "\n")
    return str(path)


@pytest.fixture
def dask_cluster() -> Iterator[tuple[str, list[subprocess.Popen[bytes]]]]:
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "DASK_DISTRIBUTED__WORKER__DAEMON": "False"}
    procs: list[subprocess.Popen[bytes]] = []
    try:
        procs.append(subprocess.Popen([DASK, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env))
        for _ in range(2):
            procs.append(subprocess.Popen(
                [DASK, "worker", address, "--nthreads", "1", "--no-nanny", "--no-dashboard", "--host", "127.0.0.1"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env))
        from distributed import Client

        with Client(address, timeout=30) as client:
            client.wait_for_workers(2, timeout=60)
        yield address, procs[1:]
    finally:
        for p in procs:  # nothing of theirs needs a graceful end
            if p.poll() is None:
                p.kill()
        for p in procs:
            p.wait(timeout=30)


def _flows(result: object) -> list[object]:
    return result.to_dict()["flows"]  # type: ignore[attr-defined]


@pytest.mark.slow
def test_scheduler_with_two_workers_equals_embedded(dask_cluster: tuple[str, list[subprocess.Popen[bytes]]], tmp_path: Path) -> None:
    address, _ = dask_cluster
    topo = _topology(tmp_path / "t.yaml", services=4)
    embedded = run_sweep([topo])
    remote = run_sweep([topo], scheduler=address, chunk_size=8)
    assert remote.engine["mode"] == "scheduler" and remote.engine["workers"] == 2
    assert len(embedded.results) == 96  # with the CoreDNS class, kubernetes and kube-dns (every cluster has them)
    assert _flows(remote) == _flows(embedded)


@pytest.mark.slow
def test_a_worker_killed_midway_does_not_change_the_result(dask_cluster: tuple[str, list[subprocess.Popen[bytes]]], tmp_path: Path) -> None:
    address, workers = dask_cluster
    topo = _topology(tmp_path / "t.yaml", nodes=4, apps=3, replicas=3, services=6)
    embedded = run_sweep([topo], exact_nodes=True)
    assert len(embedded.results) == 150  # with the CoreDNS pods, kubernetes and kube-dns (every cluster has them)
    killed: list[int] = []

    def kill_one(done: int, total: int) -> None:
        if not killed and done >= total // 4:
            workers[0].send_signal(signal.SIGKILL)
            killed.append(done)

    remote = run_sweep([topo], exact_nodes=True, scheduler=address, chunk_size=2, progress=kill_one)
    assert killed and killed[0] < len(embedded.results)  # it died before the end
    assert workers[0].wait(timeout=10) == -signal.SIGKILL
    assert _flows(remote) == _flows(embedded)


def test_an_unreachable_scheduler_is_a_clear_error_not_a_hang() -> None:
    port = _free_port()  # nothing listens there
    start = time.monotonic()
    with pytest.raises(SweepError, match=f"--scheduler tcp://127.0.0.1:{port}: cannot reach the Dask scheduler"):
        run_sweep(["topologies/demo.yaml"], scheduler=f"tcp://127.0.0.1:{port}", connect_timeout=2)
    assert time.monotonic() - start < 30
