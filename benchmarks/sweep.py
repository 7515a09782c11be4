"""Sweep throughput: traces per second of ``overlaynet sweep`` embedded in one process and on
a Dask LocalCluster of 1 and 2 worker processes, on a generated cluster, in the same run.

    .venv/bin/python benchmarks/sweep.py [--nodes 500] [--deployments 1000] [--replicas 15] [--flows 2000]

The cluster: racks of 50 nodes behind one router, flannel VXLAN, one Deployment and one
ClusterIP Service per deployment (500 nodes / 15,000 pods / 1,000 Services by default). The
sweep plan of the whole cluster is computed, then ``--flows`` flows drawn from it at even
strides (every Service and every kind of source appears) are traced with all branches. Each
engine's figure includes what it costs to start (worker processes, shipping and assembling
the topology on every worker); the per-trace rate without start-up is printed too.

Printed: plan size, load time, then per engine the cold wall time (start the workers, ship and
assemble the topology, build every host the traces enter) and the warm one (the same flows
again on the same workers), warm traces/s and their ratio to the embedded baseline; last, the
speed-up of 2 workers over 1 (the scaling on this machine).
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

from overlaynet.sweep import TopologySource, plan
from overlaynet.sweep.engine import local_client, trace_all
from overlaynet.sweep.task import network_for


def generate(nodes: int, deployments: int, replicas: int, rack: int = 50) -> str:
    racks = -(-nodes // rack)
    seg = "".join(f"      - {{name: r{r}, cidr: 10.{r // 250}.{r % 250}.0/24}}\n" for r in range(racks))
    ifaces = ", ".join(f"r{r}: 10.{r // 250}.{r % 250}.1" for r in range(racks))
    parts = [
        "apiVersion: overlaynet/v1\nkind: Cluster\nmetadata: {name: sweep-bench}\nspec:\n"
        "  podCIDR: 172.16.0.0/12\n  serviceCIDR: 10.96.0.0/12\n"
        "  network: {driver: flannel, options: {backend: vxlan}}\n"
        f"  underlay:\n    segments:\n{seg}    routers: [{{name: core, interfaces: {{{ifaces}}}}}]\n  nodes:\n"
    ]
    parts += [f"    - {{name: n{i}, ip: 10.{(i // rack) // 250}.{(i // rack) % 250}.{i % rack + 10}}}\n" for i in range(nodes)]
    for d in range(deployments):
        parts.append(
            f"---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: d{d}}}\nspec:\n  replicas: {replicas}\n"
            f"  selector: {{matchLabels: {{app: d{d}}}}}\n  template:\n    metadata: {{labels: {{app: d{d}}}}}\n"
            "    spec: {containers: [{name: c, image: i, ports: [{name: http, containerPort: 80}]}]}\n"
            f"---\napiVersion: v1\nkind: Service\nmetadata: {{name: s{d}}}\n"
            f"spec: {{selector: {{app: d{d}}}, ports: [{{port: 80, targetPort: http}}]}}\n"
        )
    return "".join(parts)


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--nodes", type=int, default=500)
    ap.add_argument("--deployments", type=int, default=1000)
    ap.add_argument("--replicas", type=int, default=15)
    ap.add_argument("--flows", type=int, default=2000)
    ap.add_argument("--hosts-only", action="store_true",
                    help="Only load the cluster and build every host in this process: time and peak memory.")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "cluster.yaml"
        path.write_text(generate(args.nodes, args.deployments, args.replicas))
        source = TopologySource.read([str(path)])
        t0 = time.perf_counter()
        network = network_for(source)
        load = time.perf_counter() - t0
        c = network.cluster
        if args.hosts_only:
            # what one worker pays and holds once its flows have entered every host
            t0, c0 = time.perf_counter(), time.process_time()
            network.build_all()
            print(f"cluster: {len(c.nodes)} nodes, {len(c.pods)} pods, {len(c.services)} Services; load + assemble {load:.1f} s")
            print(f"build all {len(c.nodes)} hosts: {time.perf_counter() - t0:.1f} s wall, {time.process_time() - c0:.1f} s CPU; "
                  f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} MB")
            return
        full = plan(c).flows
        stride = max(1, len(full) // args.flows)
        flows = list(full[::stride][: args.flows])
        print(f"cluster: {len(c.nodes)} nodes, {len(c.pods)} pods, {len(c.services)} Services; "
              f"full sweep plan {len(full):,} flows; traced here: {len(flows):,}")
        print(f"load + assemble in this process: {load:.1f} s")
        # cold: each engine starts, ships the topology, builds every host its traces enter;
        # warm: the same flows again on the same workers (what a long sweep runs at). CPU
        # seconds are summed over the processes that traced (this one, or every worker), so the
        # per-core rate stays comparable when the machine is shared.
        rows: list[tuple[str, float, float, float]] = []  # label, cold wall, warm wall, warm CPU
        t0 = time.perf_counter()
        trace_all(source, flows)
        cold_here = time.perf_counter() - t0
        t0, c0 = time.perf_counter(), time.process_time()
        trace_all(source, flows)
        rows.append(("embedded (this process)", cold_here, time.perf_counter() - t0, time.process_time() - c0))
        for n in (1, 2):
            t0 = time.perf_counter()
            client = local_client(n)
            try:
                size = max(1, len(flows) // (8 * n))
                trace_all(source, flows, client=client, chunk_size=size)
                cold = time.perf_counter() - t0
                before = client.run(time.process_time)
                t0 = time.perf_counter()
                trace_all(source, flows, client=client, chunk_size=size)
                warm = time.perf_counter() - t0
                after = client.run(time.process_time)
                cpu = sum(after[w] - before[w] for w in after)
            finally:
                cluster = client.cluster
                client.close()
                cluster.close()
            rows.append((f"Dask LocalCluster, {n} worker{'s' if n > 1 else ''}", cold, warm, cpu))
        k = len(flows)
        base = k / rows[0][2]
        print(f"load average while measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        print(f"{'engine':<32} {'cold s':>7} {'warm s':>7} {'warm traces/s':>14} {'ratio':>6} {'traces/CPU-s':>13}")
        for label, cold, warm, cpu in rows:
            print(f"{label:<32} {cold:7.1f} {warm:7.1f} {k / warm:14.1f} {k / warm / base:5.2f}x {k / cpu:13.1f}")
        print(f"scaling, 2 workers / 1 worker, warm wall: {rows[1][2] / rows[2][2]:.2f}x; cold wall: {rows[1][1] / rows[2][1]:.2f}x")
        print(f"per flow, embedded, warm: {rows[0][2] / k * 1000:.1f} ms wall, {rows[0][3] / k * 1000:.1f} ms CPU "
              f"(all netfilter branches); cold adds building the hosts: {(rows[0][1] - rows[0][2]) / k * 1000:.1f} ms per flow")

if __name__ == "__main__":
    main()
