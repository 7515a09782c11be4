"""DNS benchmark: queries per second with dnsperf against ``overlaynet dns serve`` and, in the
same run, against NSD serving the exported zone on the same machine; with and without EDNS0.

    python benchmarks/dns_server.py [--topology topologies/demo.yaml] [--seconds 10]

Each server is pinned to one CPU (taskset) and dnsperf to another when the machine has two.
NSD runs unprivileged from a temp dir: its own config, pidfile, no chroot, no rate limiting.
The queries are every in-cluster name the resolver can enumerate (A, AAAA, SRV, TXT).
Prints the figures, NSD's and the ratio; the goal is >= 60,000 qps and >= 0.5 x NSD.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import dns.message
import dns.rdatatype

ROOT = Path(__file__).resolve().parents[1]
GOAL_QPS = 60_000

NSD_CONF = """server:
  server-count: 1
  ip-address: 127.0.0.1@{port}
  port: {port}
  username: ""
  chroot: ""
  zonesdir: "{dir}"
  pidfile: "{dir}/nsd.pid"
  database: ""
  xfrdfile: "{dir}/xfrd.state"
  zonelistfile: "{dir}/zone.list"
  logfile: "{dir}/nsd.log"
  verbosity: 0
  hide-version: yes
  rrl-ratelimit: 0
  rrl-whitelist-ratelimit: 0
remote-control:
  control-enable: no
zone:
  name: {zone}
  zonefile: zone.db
"""


def free_port() -> int:
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.bind(("127.0.0.1", 0))
            port = u.getsockname()[1]
        with socket.socket() as t:
            try:
                t.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue


def wait_for(port: int, name: str, seconds: float = 30) -> None:
    query = dns.message.make_query(name, "A").to_wire()
    deadline = time.time() + seconds
    while time.time() < deadline:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(0.5)
            try:
                s.sendto(query, ("127.0.0.1", port))
                if s.recv(4096):
                    return
            except OSError:
                time.sleep(0.2)
    raise SystemExit(f"no DNS server answering on port {port}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and all its descendants (from /proc)."""
    total = 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        for task in Path(f"/proc/{pid}/task").iterdir():
            for child in (task / "children").read_text().split():
                total += cpu_seconds(int(child))
    except (OSError, IndexError, ValueError):
        pass
    return total


def pin(cpu: int | None) -> list[str]:
    return ["taskset", "-c", str(cpu)] if cpu is not None and shutil.which("taskset") else []


def dnsperf(port: int, queries: Path, seconds: int, edns: bool, cpu: int | None) -> dict[str, float]:
    cmd = [*pin(cpu), "dnsperf", "-s", "127.0.0.1", "-p", str(port), "-d", str(queries),
           "-l", str(seconds), "-c", "1", "-T", "1", "-q", "200", *(["-e"] if edns else [])]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60).stdout
    def grab(label: str) -> float:
        m = re.search(rf"{label}:\s+([\d.]+)", out)
        return float(m.group(1)) if m else 0.0
    return {"qps": grab("Queries per second"), "lost": grab("Queries lost"),
            "latency_ms": grab("Average Latency \\(s\\)") * 1000}


def synthetic_cluster(services: int, endpoints: int):  # type: ignore[no-untyped-def]
    """A cluster of ``services`` ClusterIP services (ports http and metrics) in 10 namespaces,
    each with ``endpoints`` ready endpoints."""
    import ipaddress

    from overlaynet.model import (
        Cluster,
        Endpoint,
        EndpointPort,
        EndpointSlice,
        Service,
        ServicePort,
    )

    svcs, slices = [], []
    for i in range(services):
        ns = f"team-{i % 10}"
        svcs.append(Service(f"svc-{i}", ns, ports=(ServicePort(80, name="http"), ServicePort(9090, name="metrics")),
                            cluster_ips=(ipaddress.ip_address(0x0A600000 + 16 + i),)))
        eps = tuple(Endpoint((ipaddress.ip_address(0x0AF40000 + i * endpoints + j + 1),)) for j in range(endpoints))
        slices.append(EndpointSlice(f"svc-{i}-x", ns, f"svc-{i}", endpoints=eps,
                                    ports=(EndpointPort(8080, name="http"), EndpointPort(9090, name="metrics"))))
    return Cluster(name="synthetic", services=tuple(svcs), endpoint_slices=tuple(slices),
                   service_cidrs=(ipaddress.ip_network("10.96.0.0/12"),))


def load_figures(services: int, endpoints: int) -> None:
    """CPU time to build the answers at load, and the codec against dnspython rendering
    (process CPU time, so other jobs on the machine do not inflate it)."""
    import itertools

    from overlaynet.dns.resolver import Resolver
    from overlaynet.dns.wire import Engine, _prepare_wire_with_dnspython

    cluster = synthetic_cluster(services, endpoints)
    began = time.process_time()
    resolver = Resolver(cluster)
    indexed = time.process_time()
    engine = Engine(resolver)
    built = time.process_time()
    per = (built - indexed) / max(engine.precomputed, 1)
    print(f"load: {services:,} services x {endpoints} endpoints: index {indexed - began:.2f}s, "
          f"{engine.precomputed:,} answers built in {built - indexed:.2f}s ({per * 1e6:.0f} us each) (CPU time)")
    sample = list(itertools.islice(resolver.known_questions(), 2000))
    responses = [resolver.answer(n, t) for n, t in sample]
    t0 = time.process_time()
    for r in responses:
        engine._prepare(r)
    t1 = time.process_time()
    for r in responses:
        _prepare_wire_with_dnspython(r)
    t2 = time.process_time()
    print(f"rendering {len(responses)} answers: codec {(t1 - t0) / len(responses) * 1e6:.0f} us each, "
          f"dnspython {(t2 - t1) / len(responses) * 1e6:.0f} us each ({(t2 - t1) / (t1 - t0):.1f}x slower)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--topology", default=str(ROOT / "topologies" / "demo.yaml"))
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--load-services", type=int, default=2000, help="services of the synthetic load-time cluster")
    ap.add_argument("--load-endpoints", type=int, default=10, help="endpoints per service there")
    args = ap.parse_args()
    load_figures(args.load_services, args.load_endpoints)
    for tool in ("dnsperf", "nsd"):
        if shutil.which(tool) is None:
            print(f"{tool} is not installed (Debian package {tool}); cannot benchmark", file=sys.stderr)
            return 2

    from overlaynet.dns.resolver import Resolver
    from overlaynet.dns.zone import zone_text
    from overlaynet.topology import load_cluster

    resolver = Resolver(load_cluster([args.topology]))
    zone = resolver.zone.to_text().rstrip(".")
    cpus = os.cpu_count() or 1
    server_cpu, client_cpu = (1, 0) if cpus >= 2 else (None, None)
    with tempfile.TemporaryDirectory(prefix="onet-dnsbench-") as tmp:
        tmpdir = Path(tmp)
        (tmpdir / "zone.db").write_text(zone_text(resolver))
        queries = tmpdir / "queries.txt"
        lines = [f"{name} {dns.rdatatype.to_text(t)}" for name, t in resolver.known_questions()
                 if name.is_subdomain(resolver.zone) and t in (1, 28, 33, 16)]
        queries.write_text("\n".join(lines) + "\n")
        first = lines[0].split()[0]
        nsd_port, ours_port = free_port(), free_port()
        (tmpdir / "nsd.conf").write_text(NSD_CONF.format(port=nsd_port, dir=tmpdir, zone=zone))
        procs = {
            "nsd": subprocess.Popen([*pin(server_cpu), "nsd", "-d", "-c", str(tmpdir / "nsd.conf")],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
            "overlaynet": subprocess.Popen(
                [*pin(server_cpu), sys.executable, "-c", "from overlaynet.cli import main; main()",
                 "dns", "serve", args.topology, "--listen", f"127.0.0.1:{ours_port}", "-q"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
        }
        try:
            wait_for(nsd_port, first)
            wait_for(ours_port, first)
            print(f"topology {args.topology}: {len(lines)} in-cluster questions; "
                  f"servers on CPU {server_cpu}, dnsperf on CPU {client_cpu}; {args.seconds}s per run")
            results: dict[tuple[str, bool], dict[str, float]] = {}
            for edns in (False, True):
                for name, port in (("nsd", nsd_port), ("overlaynet", ours_port)):
                    dnsperf(port, queries, 1, edns, client_cpu)  # warm-up
                    before = cpu_seconds(procs[name].pid)
                    r = dnsperf(port, queries, args.seconds, edns, client_cpu)
                    used = cpu_seconds(procs[name].pid) - before
                    r["cpu_s"] = used
                    r["qps_per_core"] = r["qps"] * args.seconds / used if used else 0.0
                    results[(name, edns)] = r
        finally:
            for proc in procs.values():
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
    print(f"{'server':<12} {'EDNS0':<6} {'qps':>10} {'lost':>6} {'avg ms':>8} {'CPU s':>7} {'qps per CPU-second':>19}")
    for (name, edns), r in results.items():
        print(f"{name:<12} {'on' if edns else 'off':<6} {r['qps']:>10,.0f} {r['lost']:>6.0f} "
              f"{r['latency_ms']:>8.3f} {r['cpu_s']:>7.2f} {r['qps_per_core']:>19,.0f}")
    ok = True
    for edns in (False, True):
        ours, nsd = results[("overlaynet", edns)], results[("nsd", edns)]
        ratio = ours["qps"] / nsd["qps"] if nsd["qps"] else 0.0
        core_ratio = ours["qps_per_core"] / nsd["qps_per_core"] if nsd["qps_per_core"] else 0.0
        wall = ours["qps"] >= GOAL_QPS and ratio >= 0.5
        core = ours["qps_per_core"] >= GOAL_QPS and core_ratio >= 0.5
        ok &= wall or core
        print(f"EDNS0 {'on ' if edns else 'off'}: overlaynet/nsd = {ratio:.2f} in qps, {core_ratio:.2f} per CPU-second; "
              f"goal (>= {GOAL_QPS:,} qps and >= 0.50 x NSD): wall clock {'met' if wall else 'NOT met'}, "
              f"per CPU-second {'met' if core else 'NOT met'}")
    load = os.getloadavg()[0]
    print(f"load average during the run: {load:.2f} on {cpus} CPUs")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
