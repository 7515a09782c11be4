"""Netfilter engine benchmark: parse and render a kube-proxy-shaped ruleset of N services
× 10 endpoints against ``iptables-restore --test`` of the same text (run in the same run,
inside a throwaway namespace ``onet-nfb-<pid>`` when root), and the cost of tracing one
packet to the last service with the rule-by-rule walk against the compiled dispatch.

    python benchmarks/netfilter.py [--services 1000 10000] [--endpoints 10]

Prints each figure and its ratio to the baseline measured in the same run.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import shutil
import subprocess
import time

from overlaynet.dataplane.netfilter import (
    HookContext,
    NetfilterState,
    parse_save,
    render_save,
    run_hook,
)
from overlaynet.dataplane.packet import Packet


def ruleset_text(services: int, endpoints: int) -> str:
    chains, rules = [":KUBE-SERVICES - [0:0]", ":KUBE-MARK-MASQ - [0:0]"], []
    rules.append("-A PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES")
    rules.append("-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000")
    for s in range(services):
        svc = f"KUBE-SVC-{s:016X}"
        ip = ipaddress.ip_address(int(ipaddress.ip_address("172.16.0.0")) + s)
        chains.append(f":{svc} - [0:0]")
        rules.append(f'-A KUBE-SERVICES -d {ip}/32 -p tcp -m comment --comment "ns/svc{s}:http cluster IP" '
                     f"-m tcp --dport 80 -j {svc}")
        for e in range(endpoints):
            sep = f"KUBE-SEP-{s:08X}{e:08X}"
            ep = ipaddress.ip_address(int(ipaddress.ip_address("10.0.0.0")) + s * endpoints + e)
            chains.append(f":{sep} - [0:0]")
            stat = f" -m statistic --mode random --probability {1 / (endpoints - e):.10f}" if e < endpoints - 1 else ""
            rules.append(f'-A {svc} -m comment --comment "ns/svc{s}:http -> {ep}:80"{stat} -j {sep}')
            rules.append(f'-A {sep} -s {ep}/32 -m comment --comment "ns/svc{s}:http" -j KUBE-MARK-MASQ')
            rules.append(f'-A {sep} -p tcp -m comment --comment "ns/svc{s}:http" -m tcp -j DNAT --to-destination {ep}:80')
    head = ["*nat", ":PREROUTING ACCEPT [0:0]", ":INPUT ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]", ":POSTROUTING ACCEPT [0:0]"]
    return "\n".join(head + chains + rules + ["COMMIT", ""])


def timed(fn, repeat: int = 1) -> float:  # type: ignore[no-untyped-def]
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def restore_test(text: str) -> float | None:
    if os.geteuid() != 0 or not shutil.which("iptables-restore") or not shutil.which("ip"):
        return None
    name = f"onet-nfb-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", name], check=True, capture_output=True)
    try:
        start = time.perf_counter()
        subprocess.run(["ip", "netns", "exec", name, "iptables-restore", "--test"], input=text, text=True,
                       check=True, capture_output=True)
        return time.perf_counter() - start
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False, capture_output=True)


def trace_cost(ruleset, services: int, compiled: bool) -> float:  # type: ignore[no-untyped-def]
    last = ipaddress.ip_address(int(ipaddress.ip_address("172.16.0.0")) + services - 1)
    packet = Packet(ipaddress.ip_address("10.200.0.1"), last, "tcp", 40000, 80)

    def once() -> None:
        ctx = HookContext("PREROUTING", "eth0", None, frozenset(), lambda n, v: None, NetfilterState(),
                          all_branches=True, namespace="bench")
        outs = run_hook(ruleset, packet, ctx, compiled=compiled)
        assert len(outs) >= 1 and outs[0].nat

    once()  # build the dispatch table outside the timing
    return timed(once, repeat=5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--services", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--endpoints", type=int, default=10)
    args = parser.parse_args()
    for n in args.services:
        text = ruleset_text(n, args.endpoints)
        lines = text.count("\n")
        parse_s = timed(lambda: parse_save(text))  # noqa: B023
        ruleset = parse_save(text)
        render_s = timed(lambda: render_save(ruleset))  # noqa: B023
        kernel_s = restore_test(text)
        walk = trace_cost(ruleset, n, compiled=False)
        fast = trace_cost(ruleset, n, compiled=True)
        print(f"{n} services x {args.endpoints} endpoints ({lines} lines)")
        base = f" ({parse_s / kernel_s:.2f}x iptables-restore --test {kernel_s:.2f} s)" if kernel_s else " (no root: no baseline)"
        print(f"  parse_save   {parse_s:8.2f} s{base}")
        print(f"  render_save  {render_s:8.2f} s" + (f" ({render_s / kernel_s:.2f}x)" if kernel_s else ""))
        print(f"  trace to the last service, all branches: walk {walk * 1e3:8.2f} ms, compiled {fast * 1e3:8.2f} ms "
              f"({walk / fast:.0f}x faster)")


if __name__ == "__main__":
    main()
