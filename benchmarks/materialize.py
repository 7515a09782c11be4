"""Materializing at scale: ``overlaynet materialize up`` + ``down`` of a generated cluster
(300 pods on 3 flannel VXLAN nodes by default) against Mininet's
``mn --topo single,300 --switch lxbr --controller none --test none``, side by side in the
same run, each repeated and alternated so both see the same machine load.

    sudo .venv/bin/python benchmarks/materialize.py                 # 300 pods, 3 rounds
    sudo .venv/bin/python benchmarks/materialize.py --pods 100 --repeat 5
    sudo PYTHONPATH=/path/to/old/checkout .venv/bin/python benchmarks/materialize.py  # old code

overlaynet runs as a user runs it: two CLI processes, ``overlaynet materialize up FILE
--run-id ID`` then ``overlaynet materialize down --run-id ID`` (the console script next to
this Python, so ``PYTHONPATH`` picks the code measured), with the topology cache off
(``OVERLAYNET_NO_CACHE=1``: every ``up`` loads the file). The cluster: one segment, N
nodes, one Deployment of P replicas behind one Service (kube-proxy rules on every node),
written to a temporary file; ``up`` makes P + N + (2 coredns pods) + 1 segment namespaces.

Mininet (Debian package ``mininet``, plus ``bridge-utils`` for ``--switch lxbr``) runs in a
sandbox: ``unshare --net --pid --fork --mount-proc --mount`` with a private tmpfs on /tmp
and /proc/sys read-only. Its bridge, hosts and links live in the sandbox's network
namespace, and the ``mn -c`` that follows every run (untimed) can only see the sandbox:
``mn -c`` kills processes by name (``killall ping …``, ``pkill -f mininet:``), deletes every
``*-ethN`` link and ``rm``s ``/tmp/*.log``, which on the host could hit other people's
work; and ``mn`` itself raises machine-wide limits (``fixLimits``: ``kernel.pty.max``,
``net.core.wmem_max`` …), which it reports as a warning and goes on without. The time is taken
inside the sandbox around ``mn`` alone. Without ``mn`` the script says so and prints the
overlaynet figures.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def topology(nodes: int, pods: int) -> str:
    """A Cluster of ``nodes`` flannel VXLAN nodes on one segment and one Deployment of
    ``pods`` replicas behind a Service."""
    lines = [
        "apiVersion: overlaynet/v1", "kind: Cluster", "metadata: {name: materialize-bench}", "spec:",
        "  network: {driver: flannel, options: {backend: vxlan}}",
        "  underlay:", "    segments: [{name: rack, cidr: 192.168.10.0/24}]",
        "  nodes:", *(f"    - {{name: node-{i + 1}, ip: 192.168.10.{11 + i}}}" for i in range(nodes)),
        "---", "apiVersion: apps/v1", "kind: Deployment", "metadata: {name: web}", "spec:",
        f"  replicas: {pods}", "  selector: {matchLabels: {app: web}}",
        "  template:", "    metadata: {labels: {app: web}}",
        "    spec: {containers: [{name: c, image: nginx, ports: [{containerPort: 8080}]}]}",
        "---", "apiVersion: v1", "kind: Service", "metadata: {name: web}",
        "spec: {selector: {app: web}, ports: [{port: 80, targetPort: 8080}]}",
    ]
    return "\n".join(lines) + "\n"


def _run(argv: list[str], env: dict[str, str]) -> str:
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=600)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr.strip() or proc.stdout.strip()}")
    return proc.stdout


def overlaynet_round(cli: str, path: Path, run_id: str) -> tuple[float, float, int]:
    """(up seconds, down seconds, namespaces made) of one up + down through the CLI."""
    env = {**os.environ, "OVERLAYNET_NO_CACHE": "1"}
    t0 = time.perf_counter()
    out = _run([cli, "materialize", "up", str(path), "--run-id", run_id], env)
    t1 = time.perf_counter()
    down = _run([cli, "materialize", "down", "--run-id", run_id], env)
    t2 = time.perf_counter()
    made = re.search(r"run \w+: (\d+) namespaces", out)
    removed = re.search(r"(\d+) namespaces removed", down)
    if not made or not removed or made.group(1) != removed.group(1):
        raise SystemExit(f"up made {made and made.group(1)} namespaces, down removed {removed and removed.group(1)}")
    return t1 - t0, t2 - t1, int(made.group(1))


SANDBOX = ["unshare", "--net", "--pid", "--fork", "--mount-proc", "--mount", "--propagation", "private"]
MN_SCRIPT = """set -e
mount -t tmpfs tmpfs /tmp
mount --bind /proc/sys /proc/sys
mount -o remount,bind,ro /proc/sys
ip link set lo up
start=$(date +%s%N)
mn --topo single,{hosts} --switch lxbr --controller none --test none >/tmp/mn.out 2>&1 || {{ cat /tmp/mn.out >&2; exit 1; }}
end=$(date +%s%N)
mn -c >/dev/null 2>&1 || true
echo "mn-ns $((end - start))"
"""


def mininet_missing() -> str | None:
    """Why Mininet cannot run here (a missing tool), or None."""
    for tool, package in (("mn", "mininet"), ("brctl", "bridge-utils"), ("unshare", "util-linux")):
        if shutil.which(tool) is None:
            return f"{package} not installed (no {tool} on PATH; apt-get install mininet bridge-utils)"
    return None


def mininet_round(hosts: int) -> float:
    """Seconds of one ``mn --topo single,HOSTS --switch lxbr --controller none --test none``."""
    out = _run([*SANDBOX, "sh", "-c", MN_SCRIPT.format(hosts=hosts)], dict(os.environ))
    found = re.search(r"mn-ns (\d+)", out)
    if not found:
        raise SystemExit(f"mininet printed no time: {out.strip()}")
    return int(found.group(1)) / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pods", type=int, default=300, help="pods of the Deployment, and Mininet hosts")
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=3, help="rounds of each (median reported)")
    parser.add_argument("--no-mininet", action="store_true", help="measure overlaynet only")
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("needs root (network namespaces)")
    cli = str(Path(sys.executable).with_name("overlaynet"))
    import overlaynet

    print(f"overlaynet code: {Path(overlaynet.__file__).parent} (console script {cli})")
    print(f"load average: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")
    missing = "mininet not run (--no-mininet)" if args.no_mininet else mininet_missing()
    if missing:
        print(f"skipped: {missing}")
    ours: list[float] = []
    ups: list[float] = []
    downs: list[float] = []
    theirs: list[float] = []
    with tempfile.TemporaryDirectory(prefix="onet-bench-") as tmp:
        path = Path(tmp) / "cluster.yaml"
        path.write_text(topology(args.nodes, args.pods))
        for i in range(args.repeat):
            up, down, made = overlaynet_round(cli, path, f"mbench{os.getpid() % 100000}")
            ours.append(up + down)
            ups.append(up)
            downs.append(down)
            line = (f"round {i + 1}: overlaynet up {up:.2f} s + down {down:.2f} s = {up + down:.2f} s "
                    f"({made} namespaces: {args.pods} pods on {args.nodes} nodes + coredns + segment)")
            if not missing:
                theirs.append(mininet_round(args.pods))
                line += f" | mininet single,{args.pods} {theirs[-1]:.2f} s"
            print(line, flush=True)
    ours_med = statistics.median(ours)
    print(f"overlaynet materialize up + down, {args.pods} pods / {args.nodes} nodes: median {ours_med:.2f} s "
          f"(runs {', '.join(f'{t:.2f}' for t in ours)}; up median {statistics.median(ups):.2f} s, "
          f"down median {statistics.median(downs):.2f} s)")
    if theirs:
        theirs_med = statistics.median(theirs)
        print(f"mininet mn --topo single,{args.pods} --switch lxbr --controller none --test none: median "
              f"{theirs_med:.2f} s (runs {', '.join(f'{t:.2f}' for t in theirs)})")
        print(f"ratio: overlaynet is {theirs_med / ours_med:.1f}x faster than mininet (target >= 3x)")
    print(f"load average: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")


if __name__ == "__main__":
    main()
