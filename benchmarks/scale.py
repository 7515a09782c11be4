"""The Kubernetes scale envelope: load, check and trace generated clusters of 30 pods and 2
Services per node (flannel VXLAN, racks of 50 nodes behind one router, one Deployment of 15
replicas per Service), per phase, with time and peak memory, against ``yaml.safe_load_all``
of the same files measured in the same run.

    .venv/bin/python benchmarks/scale.py                      # quick: 100 and 250 nodes
    .venv/bin/python benchmarks/scale.py --sizes 1000,2500    # the issue's sizes
    .venv/bin/python benchmarks/scale.py --sizes 5000         # the envelope (150,000 pods)

Every measurement runs in a fresh process (its peak RSS from ``wait4``):

* baseline: ``yaml.load_all`` (CSafeLoader) of the same files, nothing else;
* phases: one process runs the loader with each phase timed (parse, controllers =
  scheduler and Service allocators, IPAM, endpoints, checks), then ``network.assemble``
  (the driver's IPAM, endpoints again, the underlay) and the first trace (a pod to a Service
  name); "peak" after a phase is the process's peak RSS so far;
* the CLI as a user runs it: ``overlaynet validate DIR``, a cold ``overlaynet trace DIR
  --from POD --to SERVICE:80`` (empty cache), then the same trace again (from the on-disk
  cache of the loaded cluster), each in its own process with its own ``XDG_CACHE_HOME``;
  wall time, and CPU time (user + system): on a shared machine the wall time includes
  waiting for a core, the CPU time is what the command costs alone.

The growth exponent between two sizes is log(t2/t1) / log(n2/n1) (1 = linear, 2 = square).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

RACK_SIZE = 50
PODS_PER_NODE = 30
SERVICES_PER_NODE = 2
FILE_DEPLOYMENTS = 1000  # Deployments+Services per file (the loader takes files up to 10 MiB)


def generate(nodes: int, out: Path) -> None:
    """Write the cluster of ``nodes`` nodes into ``out`` as a directory of topology files."""
    racks = (nodes + RACK_SIZE - 1) // RACK_SIZE
    seg = [f"172.{16 + r // 250}.{r % 250}" for r in range(racks)]
    lines = [
        "apiVersion: overlaynet/v1", "kind: Cluster", "metadata: {name: scale}", "spec:",
        "  podCIDR: 10.0.0.0/10", "  network: {driver: flannel, options: {backend: vxlan}}",
        "  underlay:", "    segments:",
        *(f"      - {{name: rack-{r}, cidr: {seg[r]}.0/24}}" for r in range(racks)),
        "    routers:",
        "      - name: core",
        "        interfaces: {" + ", ".join(f"rack-{r}: {seg[r]}.1" for r in range(racks)) + "}",
        "  nodes:",
        *(f"    - {{name: node-{i}, ip: {seg[i // RACK_SIZE]}.{10 + i % RACK_SIZE}, "
          f"labels: {{topology.kubernetes.io/zone: rack-{i // RACK_SIZE}}}}}" for i in range(nodes)),
    ]
    out.mkdir(parents=True, exist_ok=True)
    (out / "00-cluster.yaml").write_text("\n".join(lines) + "\n")
    services = nodes * SERVICES_PER_NODE
    replicas = PODS_PER_NODE // SERVICES_PER_NODE
    for f in range(0, services, FILE_DEPLOYMENTS):
        parts = []
        for d in range(f, min(services, f + FILE_DEPLOYMENTS)):
            parts.append(
                f"---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: app-{d}}}\nspec:\n  replicas: {replicas}\n"
                f"  selector: {{matchLabels: {{app: app-{d}}}}}\n  template:\n    metadata: {{labels: {{app: app-{d}}}}}\n"
                "    spec: {containers: [{name: c, image: i, ports: [{name: http, containerPort: 8080}]}]}\n"
                f"---\napiVersion: v1\nkind: Service\nmetadata: {{name: svc-{d}}}\n"
                f"spec: {{selector: {{app: app-{d}}}, ports: [{{port: 80, targetPort: http}}]}}\n"
            )
        (out / f"{10 + f // FILE_DEPLOYMENTS:04d}-apps.yaml").write_text("".join(parts))


def _maxrss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child_baseline(folder: Path) -> dict[str, Any]:
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    t0 = time.perf_counter()
    docs = 0
    for p in sorted(folder.glob("*.yaml")):
        docs += sum(1 for _ in yaml.load_all(p.read_text(), Loader=loader))
    return {"safe_load_all": time.perf_counter() - t0, "documents": docs, "loader": loader.__name__}


def child_phases(folder: Path) -> dict[str, Any]:
    """The loader with each phase timed by wrapping the functions that run it."""
    from overlaynet.drivers import check_network
    from overlaynet.network import network as network_mod
    from overlaynet.topology import controllers, load
    from overlaynet.topology import loader as loader_mod

    spent: dict[str, float] = {}
    peak: dict[str, float] = {}

    def timed(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[name] = spent.get(name, 0.0) + time.perf_counter() - t0
                peak[name] = _maxrss_mb()
        return wrapper

    loader_mod.assemble = timed("assemble", loader_mod.assemble)  # type: ignore[attr-defined]
    loader_mod.check = timed("checks", loader_mod.check)  # type: ignore[attr-defined]
    controllers.schedule = timed("controllers", controllers.schedule)  # type: ignore[attr-defined]
    controllers.allocate_service_addresses = timed("controllers", controllers.allocate_service_addresses)  # type: ignore[attr-defined]
    controllers.allocate_default = timed("ipam", controllers.allocate_default)  # type: ignore[attr-defined]
    controllers.reconcile_endpoints = timed("endpoints", controllers.reconcile_endpoints)  # type: ignore[attr-defined]
    t0 = time.perf_counter()
    cluster = load([str(folder)], network_check=check_network).cluster
    total_load = time.perf_counter() - t0
    loader_inner = sum(spent.get(k, 0.0) for k in ("assemble", "checks"))
    assemble_inner = sum(spent.get(k, 0.0) for k in ("controllers", "ipam", "endpoints"))
    phases = {
        "parse": total_load - loader_inner,
        "assemble (pods, nodes, order)": spent.get("assemble", 0.0) - assemble_inner,
        "controllers (scheduler, allocators)": spent.get("controllers", 0.0),
        "ipam": spent.get("ipam", 0.0),
        "endpoints": spent.get("endpoints", 0.0),
        "checks": spent.get("checks", 0.0),
    }
    peaks = {"parse": peak.get("controllers", 0.0), "checks": peak.get("checks", 0.0)}
    t0 = time.perf_counter()
    net = network_mod.assemble(cluster)
    phases["network (driver IPAM, endpoints, underlay)"] = time.perf_counter() - t0
    peaks["network"] = _maxrss_mb()
    src, dst = trace_words(cluster)
    t0 = time.perf_counter()
    report = net.trace(src, dst)
    phases["first trace (pod -> Service name)"] = time.perf_counter() - t0
    peaks["first trace"] = _maxrss_mb()
    return {"phases": phases, "peaks": peaks, "load": total_load, "pods": len(cluster.pods),
            "services": len(cluster.services), "nodes": len(cluster.nodes),
            "disposition": report.forward.trace.disposition.name, "src": src, "dst": dst}


def trace_words(cluster: Any) -> tuple[str, str]:
    """A pod of the first Deployment to the last Service, by name and port."""
    pod = next(p for p in cluster.pods if p.owner == "Deployment/app-0")
    return f"{pod.namespace}/{pod.name}", f"{cluster.services[-1].name}:80"


def run_child(argv: list[str], env: dict[str, str] | None = None) -> tuple[float, float, str, float]:
    """Run a process; return its wall time, its peak RSS (MB, from wait4), its stdout and
    its CPU time (user + system, from wait4: on a shared machine, what it would take alone)."""
    with tempfile.TemporaryFile() as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.PIPE, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        err = proc.stderr.read().decode() if proc.stderr else ""
        out.seek(0)
        text = out.read().decode()
    if proc.returncode not in (0, 1) or not text.strip():
        raise SystemExit(f"{' '.join(argv)} exited {proc.returncode}:\n{err[-3000:]}")
    return wall, usage.ru_maxrss / 1024, text, usage.ru_utime + usage.ru_stime


def measure(nodes: int, root: Path, cli: bool) -> dict[str, Any]:
    folder = root / f"n{nodes}"
    t0 = time.perf_counter()
    generate(nodes, folder)
    gen = time.perf_counter() - t0
    me = [sys.executable, "-P", __file__]  # -P: benchmarks/dns.py must not shadow dnspython
    _, b_rss, b_out, _ = run_child([*me, "--child", "baseline", str(folder)])
    base = json.loads(b_out)
    _, p_rss, p_out, _ = run_child([*me, "--child", "phases", str(folder)])
    phases = json.loads(p_out)
    res: dict[str, Any] = {"nodes": nodes, "generate": gen, "baseline": base, "baseline_rss": b_rss,
                           "phases": phases, "phases_rss": p_rss}
    if cli:
        exe = str(Path(sys.executable).with_name("overlaynet"))
        env = {**os.environ, "XDG_CACHE_HOME": str(root / f"cache-{nodes}")}
        def cli(argv: list[str]) -> tuple[float, float, float]:
            wall, rss, _, cpu = run_child(argv, env)
            return wall, rss, cpu

        res["validate"] = cli([exe, "validate", str(folder)])
        trace = [exe, "trace", str(folder), "--from", phases["src"], "--to", phases["dst"]]
        res["trace_cold"] = cli(trace)
        res["trace_second"] = cli(trace)
    return res


def report(results: list[dict[str, Any]]) -> None:
    for r in results:
        ph = r["phases"]
        base = r["baseline"]["safe_load_all"]
        print(f"\n== {ph['nodes']:,} nodes / {ph['pods']:,} pods / {ph['services']:,} Services "
              f"({r['baseline']['documents']:,} documents; first trace {ph['src']} -> {ph['dst']}: {ph['disposition']})")
        print(f"  baseline yaml.load_all ({r['baseline']['loader']}): {base:8.2f} s  peak {r['baseline_rss']:7.0f} MB")
        for name, t in ph["phases"].items():
            print(f"  {name:45s} {t:8.2f} s")
        print(f"  loader total {ph['load']:.2f} s = {ph['load'] / base:.1f}x safe_load_all; "
              "peak RSS after: " + ", ".join(f"{k} {v:.0f} MB" for k, v in ph["peaks"].items()))
        if "validate" in r:
            for key, label in (("validate", "overlaynet validate (cold process)"), ("trace_cold", "overlaynet trace, cold (empty cache)"),
                               ("trace_second", "overlaynet trace, second (cached load)")):
                wall, rss, cpu = r[key]
                print(f"  {label:45s} {wall:8.2f} s  peak {rss:7.0f} MB  ({wall / base:.1f}x safe_load_all)  CPU {cpu:.2f} s")
    if len(results) > 1:
        print("\ngrowth exponent log(t2/t1)/log(n2/n1) (1 = linear):")
        for a, b in zip(results, results[1:], strict=False):
            k = math.log(b["nodes"] / a["nodes"])
            rows = {"safe_load_all (baseline)": (a["baseline"]["safe_load_all"], b["baseline"]["safe_load_all"]),
                    "loader total": (a["phases"]["load"], b["phases"]["load"])}
            rows |= {name: (a["phases"]["phases"][name], b["phases"]["phases"][name]) for name in a["phases"]["phases"]}
            if "validate" in a and "validate" in b:
                rows |= {f"CLI {key}": (a[key][0], b[key][0]) for key in ("validate", "trace_cold", "trace_second")}
                rows |= {f"CLI {key} (CPU time)": (a[key][2], b[key][2]) for key in ("validate", "trace_cold", "trace_second")}
                rows["CLI trace_cold peak memory"] = (a["trace_cold"][1], b["trace_cold"][1])
            print(f"  {a['nodes']:,} -> {b['nodes']:,} nodes:")
            for name, (t1, t2) in rows.items():
                exp = math.log(t2 / t1) / k if t1 > 0 and t2 > 0 else float("nan")
                print(f"    {name:45s} {exp:5.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--sizes", default="100,250", help="comma-separated node counts (default: 100,250)")
    ap.add_argument("--no-cli", action="store_true", help="skip the CLI runs (validate, cold and second trace)")
    ap.add_argument("--child", choices=["baseline", "phases"], help=argparse.SUPPRESS)
    ap.add_argument("folder", nargs="?", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        fn = child_baseline if args.child == "baseline" else child_phases
        print(json.dumps(fn(Path(args.folder))))
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory(prefix="onet-scale-") as tmp:
        results = []
        for n in sizes:
            results.append(measure(n, Path(tmp), not args.no_cli))
            print(f"[{n} nodes measured]", file=sys.stderr, flush=True)
        report(results)


if __name__ == "__main__":
    main()
