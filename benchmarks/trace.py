"""Tracer throughput: traces per second on the demo topology, on a generated Flannel VXLAN
cluster (500 nodes, 15,000 pods by default), and warm on the scale envelope's 2.5k cluster,
plus the time to build and assemble the generated cluster.

    .venv/bin/python benchmarks/trace.py                       # demo + 500 nodes + 2.5k cluster
    .venv/bin/python benchmarks/trace.py --nodes 100 --pods-per-node 10 --traces 300
    .venv/bin/python benchmarks/trace.py --only demo,scale     # skip the 500-node cluster
    .venv/bin/python benchmarks/trace.py --only scale --scale-nodes 1000

The 2.5k cluster is ``benchmarks/scale.py``'s (2,500 nodes, 75,000 pods, 5,000 Services:
30 pods and 2 Services per node, flannel VXLAN, racks of 50), loaded from its topology files
once in this process; random pod -> pod and pod -> Service pairs whose sources are pods of
``--scale-hosts`` random nodes are traced once to build the hosts they enter, then again warm.

Baselines measured in the same run: eager programming of every node vs the lazy builder (time
to the first trace), the naive linear route scan vs the longest-prefix-match index, and the
first (cold: hosts built on first use) pass over the same traces (best of three alternating
rounds each for the warm rates).
Figures are wall-clock seconds of this run.
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from ipaddress import IPv4Address, ip_network
from pathlib import Path

from overlaynet.cli.trace import demo_request, demo_topology
from overlaynet.dataplane import lookup
from overlaynet.dataplane.netfilter import evaluate
from overlaynet.model import Cluster, FrozenDict, NetworkSpec, Node, Pod, Router, Segment, Underlay
from overlaynet.network import Network, assemble
from overlaynet.network.request import TraceRequest, run
from overlaynet.topology import load
from overlaynet.trace import tunnels, walker

RACK_SIZE = 50


def generated(nodes: int, pods_per_node: int) -> Cluster:
    """``nodes`` hosts in racks of 50 (one /24 segment each) joined by one core router, with
    ``pods_per_node`` pods each; flannel vxlan allocates the subnets and pod addresses."""
    racks = (nodes + RACK_SIZE - 1) // RACK_SIZE
    segments = tuple(Segment(f"rack-{r}", ip_network(f"172.16.{r}.0/24")) for r in range(racks))
    core = Router("core", FrozenDict({s.name: IPv4Address(int(s.cidr.network_address) + 1) for s in segments}))
    node_list = tuple(
        Node(f"node-{i}", IPv4Address(int(segments[i // RACK_SIZE].cidr.network_address) + 10 + i % RACK_SIZE), f"rack-{i // RACK_SIZE}")
        for i in range(nodes)
    )
    pods = tuple(Pod(f"pod-{i}-{j}", "bench", node=f"node-{i}") for i in range(nodes) for j in range(pods_per_node))
    return Cluster(
        name="bench",
        pod_cidrs=(ip_network("10.0.0.0/12"),),
        service_cidrs=(ip_network("10.96.0.0/12"),),
        underlay=Underlay(segments=segments, routers=(core,)),
        nodes=node_list,
        pods=pods,
        network=NetworkSpec("flannel", FrozenDict({"backend": "vxlan"})),
    )


def topology_yaml(nodes: int, pods_per_node: int) -> str:
    """The same cluster as a topology file: a Cluster document with the nodes, and Deployments
    (at most 10,000 replicas each, the loader's limit) the scheduler spreads over them."""
    racks = (nodes + RACK_SIZE - 1) // RACK_SIZE
    lines = [
        "apiVersion: overlaynet/v1", "kind: Cluster", "metadata: {name: bench}", "spec:",
        "  podCIDR: 10.0.0.0/12", "  network: {driver: flannel, options: {backend: vxlan}}",
        "  underlay:", "    segments:",
        *(f"      - {{name: rack-{r}, cidr: 172.16.{r}.0/24}}" for r in range(racks)),
        "    routers:",
        "      - {name: core, interfaces: {" + ", ".join(f"rack-{r}: 172.16.{r}.1" for r in range(racks)) + "}}",
        "  nodes:",
        *(f"    - {{name: node-{i}, ip: 172.16.{i // RACK_SIZE}.{10 + i % RACK_SIZE}}}" for i in range(nodes)),
    ]
    total, n = nodes * pods_per_node, 0
    while total > 0:
        replicas = min(total, 7500)
        total -= replicas
        lines += ["---", "apiVersion: apps/v1", "kind: Deployment", f"metadata: {{name: app-{n}}}", "spec:",
                  f"  replicas: {replicas}", f"  selector: {{matchLabels: {{app: app-{n}}}}}", "  template:",
                  f"    metadata: {{labels: {{app: app-{n}}}}}", "    spec: {containers: [{name: c, image: i}]}"]
        n += 1
    return "\n".join(lines) + "\n"


@contextmanager
def linear_routes() -> Iterator[None]:
    """Swap the LPM index for the naive scan where the walker looks routes up."""
    saved = (walker.lookup_route, tunnels.lookup_route)
    walker.lookup_route = tunnels.lookup_route = lookup.linear_lookup_route  # type: ignore[assignment]
    try:
        yield
    finally:
        walker.lookup_route, tunnels.lookup_route = saved  # type: ignore[assignment]


@contextmanager
def walks_not_remembered() -> Iterator[None]:
    """Walk every netfilter table every time (the engine before remembered walks). With an
    engine that has none (this script run against an older checkout, for a before/after
    comparison) the baseline is the same code."""
    if not hasattr(evaluate._Run, "_walk"):
        yield
        return
    saved = evaluate._Run.walk
    evaluate._Run.walk = lambda run, table: run._walk(table, None)  # type: ignore[method-assign]
    try:
        yield
    finally:
        evaluate._Run.walk = saved  # type: ignore[method-assign]


def rate(net: Network, requests: list[TraceRequest]) -> tuple[float, int]:
    """Traces per second over ``requests`` and how many were delivered."""
    start = time.perf_counter()
    ok = sum(run(net, r).success for r in requests)
    return len(requests) / (time.perf_counter() - start), ok


def rates(net: Network, requests: list[TraceRequest], rounds: int = 3) -> tuple[float, float, int]:
    """Best of ``rounds``: traces per second by the wall clock and by this process's CPU time
    (steadier on a shared machine), and how many were delivered."""
    wall = cpu = 0.0
    ok = 0
    for _ in range(rounds):
        start, cpu_start = time.perf_counter(), time.process_time()
        ok = sum(run(net, r).success for r in requests)
        wall = max(wall, len(requests) / (time.perf_counter() - start))
        cpu = max(cpu, len(requests) / max(time.process_time() - cpu_start, 1e-9))
    return wall, cpu, ok


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def pairs(net: Network, count: int, seed: int) -> list[TraceRequest]:
    rng = random.Random(seed)
    pods = [p.key for p in net.cluster.pods]
    return [TraceRequest(rng.choice(pods), rng.choice(pods), port=8080, seed=i) for i in range(count)]


def bench_demo(count: int) -> None:
    net = assemble(load([demo_topology()]).cluster)
    req = demo_request(net)
    t_first, _ = timed(lambda: run(net, req))  # builds the hosts it enters
    wall, cpu, ok = rates(net, [req] * count)
    with walks_not_remembered():
        base_wall, base_cpu, _ = rates(net, [req] * count)
    print(f"demo topology, warm: {wall:,.0f} traces/s ({cpu:,.0f}/s of CPU time; {ok}/{count} delivered, "
          f"kube-proxy rules walked on every host)   (target >= 1,000)")
    print(f"  baseline, netfilter walks not remembered: {base_wall:,.0f} traces/s ({base_cpu:,.0f}/s of CPU time) "
          f"-> {wall / base_wall:.2f}x wall, {cpu / base_cpu:.2f}x CPU")
    print(f"  baseline cold: the first trace (building the {len(net.dataplane.built_hosts)} hosts it enters) "
          f"{t_first * 1000:.1f} ms -> warm {t_first * wall:.0f}x faster")


def bench_generated(nodes: int, pods_per_node: int, count: int, seed: int) -> None:
    t_model, c = timed(lambda: generated(nodes, pods_per_node))
    cluster: Cluster = c  # type: ignore[assignment]
    t_assemble, n = timed(lambda: assemble(cluster, seed=seed))
    net: Network = n  # type: ignore[assignment]
    print(f"generated cluster: {nodes} nodes, {len(cluster.pods):,} pods, {len(cluster.underlay.segments)} racks")
    print(f"  build model {t_model:.2f} s, assemble (flannel IPAM + leases, endpoints, underlay) {t_assemble:.2f} s")
    with tempfile.TemporaryDirectory(prefix="onet-bench-") as tmp:
        path = Path(tmp) / "bench.yaml"
        path.write_text(topology_yaml(nodes, pods_per_node))
        t_load, loaded = timed(lambda: load([path]).cluster)
    print(f"  the same cluster as a topology file: load (parse, validate, schedule {len(loaded.pods):,} pods) "  # type: ignore[attr-defined]
          f"{t_load:.2f} s")

    requests = pairs(net, count, seed)
    t_first, _ = timed(lambda: run(net, requests[0]))
    cold, ok = rate(net, requests[1:])
    # warm rates: best of three alternating rounds, so both see the same machine load
    warm = linear = 0.0
    for _ in range(3):
        warm = max(warm, rate(net, requests[1:])[0])
        with linear_routes():
            linear = max(linear, rate(net, requests[1:])[0])
    built = len(net.dataplane.built_hosts)
    print(f"  lazy: first trace {t_first * 1000:.0f} ms; {cold:,.0f} traces/s while building hosts "
          f"({ok}/{count - 1} delivered, {built} of {nodes} hosts built), {warm:,.0f} traces/s warm")

    eager_net = assemble(cluster, seed=seed)
    t_eager, _ = timed(eager_net.build_all)
    t_eager_first, _ = timed(lambda: run(eager_net, requests[0]))
    print(f"  baseline eager: programming all {nodes} nodes {t_eager:.2f} s before the first trace "
          f"-> lazy first trace is {(t_eager + t_eager_first) / t_first:,.0f}x sooner")

    print(f"  baseline linear route scan: {linear:,.0f} traces/s warm -> LPM index {warm / linear:.1f}x faster "
          f"({nodes - 1} flannel routes per host)")


def scale_network(nodes: int, seed: int) -> Network:
    """``benchmarks/scale.py``'s cluster of ``nodes`` nodes, loaded from its files and assembled."""
    import scale  # benchmarks/scale.py: the generator of the scale envelope's clusters

    with tempfile.TemporaryDirectory(prefix="onet-bench-") as tmp:
        scale.generate(nodes, Path(tmp))
        t_load, loaded = timed(lambda: load([tmp]).cluster)
    cluster: Cluster = loaded  # type: ignore[assignment]
    t_assemble, n = timed(lambda: assemble(cluster, seed=seed))
    print(f"scale cluster (benchmarks/scale.py): {len(cluster.nodes):,} nodes, {len(cluster.pods):,} pods, "
          f"{len(cluster.services):,} Services; load {t_load:.1f} s, assemble {t_assemble:.1f} s")
    return n  # type: ignore[return-value]


def scale_requests(net: Network, hosts: int, services: int, count: int, seed: int) -> list[TraceRequest]:
    """Half pod -> pod between pods of ``hosts`` random nodes, half from those pods to one of
    ``services`` random Services (whose endpoints' hosts are built too)."""
    cluster = net.cluster
    rng = random.Random(seed)
    chosen = set(rng.sample([nd.name for nd in cluster.nodes], min(hosts, len(cluster.nodes))))
    pods = [p.key for p in cluster.pods if p.node in chosen]
    targets = [f"{s.namespace}/{s.name}" for s in rng.sample([s for s in cluster.services if s.selector], services)]
    return [
        TraceRequest(rng.choice(pods), rng.choice(pods), port=8080, seed=i) if i % 2 == 0
        else TraceRequest(rng.choice(pods), rng.choice(targets), port=80, seed=i)
        for i in range(count)
    ]


def bench_scale(nodes: int, hosts: int, services: int, count: int, seed: int) -> None:
    """Warm traces on ``benchmarks/scale.py``'s cluster of ``nodes`` nodes."""
    net = scale_network(nodes, seed)
    requests = scale_requests(net, hosts, services, count, seed)
    t_first, _ = timed(lambda: run(net, requests[0]))
    cold, ok = rate(net, requests)
    warm, cpu, ok_warm = rates(net, requests)
    with walks_not_remembered():
        base_wall, base_cpu, _ = rates(net, requests)
    built = len(net.dataplane.built_hosts)
    print(f"  {count} traces (half pod -> pod, half pod -> Service) from pods of {hosts} nodes to them and "
          f"to {services} Services; {built} hosts built and warmed")
    print(f"  warm: {warm:,.0f} traces/s ({cpu:,.0f}/s of CPU time; {ok_warm}/{count} delivered)   (target >= 1,000)")
    print(f"  baseline, netfilter walks not remembered: {base_wall:,.0f} traces/s ({base_cpu:,.0f}/s of CPU time) "
          f"-> {warm / base_wall:.2f}x wall, {cpu / base_cpu:.2f}x CPU")
    print(f"  baseline cold (same traces, building hosts on first use; first trace {t_first * 1000:.0f} ms): "
          f"{cold:,.0f} traces/s ({ok}/{count} delivered) -> warm {warm / cold:.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, default=500)
    parser.add_argument("--pods-per-node", type=int, default=30)
    parser.add_argument("--traces", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--scale-nodes", type=int, default=2500, help="nodes of the scale.py cluster (default 2500)")
    parser.add_argument("--scale-hosts", type=int, default=10, help="nodes whose pods send and receive the scale traces (default 10)")
    parser.add_argument("--scale-services", type=int, default=4, help="Services the scale traces go to (default 4)")
    parser.add_argument("--only", default="demo,generated,scale", help="comma-separated: demo, generated, scale")
    args = parser.parse_args()
    only = set(args.only.split(","))
    if unknown := only - {"demo", "generated", "scale"}:
        parser.error(f"--only: unknown {', '.join(sorted(unknown))} (expected demo, generated, scale)")
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    if "demo" in only:
        bench_demo(args.traces)
    if "generated" in only:
        bench_generated(args.nodes, args.pods_per_node, args.traces, args.seed)
    if "scale" in only:
        bench_scale(args.scale_nodes, args.scale_hosts, args.scale_services, args.traces, args.seed)


if __name__ == "__main__":
    main()
