"""Reachability at scale: 10,000 pods in 100 namespaces with 1,000 NetworkPolicies.

Prints the time for the full all-pairs matrix and for recomputing it after one policy
change (equivalence classes, ``overlaynet.analysis.reach``), against a naive pairwise
evaluation of every pod pair measured in the same run on a sample of source pods and
extrapolated to all pairs (said so in the output). Policy only (``routing=None``): the
routing part costs one trace per node pair and does not grow with pods.

    .venv/bin/python benchmarks/reach.py [--pods 10000] [--namespaces 100] [--policies 1000]
"""

from __future__ import annotations

import argparse
import ipaddress
import random
import time

from overlaynet.analysis.reach import ReachAnalyzer, ReachQuery
from overlaynet.model import (
    Cluster,
    ContainerPort,
    FrozenDict,
    LabelSelector,
    Namespace,
    NetworkPolicy,
    Pod,
    PolicyPeer,
    PolicyPort,
    PolicyRule,
)
from overlaynet.model.netpol import connection_allowed

APPS = [f"app-{i}" for i in range(20)]
TIERS = ["web", "api", "db", "cache", "batch"]


def build(pods: int, namespaces: int, policies: int, seed: int = 1) -> Cluster:
    rng = random.Random(seed)
    nss = tuple(
        Namespace(f"ns-{i}", FrozenDict({"kubernetes.io/metadata.name": f"ns-{i}", "team": f"t{i % 10}"}))
        for i in range(namespaces)
    )
    out = []
    for i in range(pods):
        ns = f"ns-{i % namespaces}"
        labels = FrozenDict({"app": rng.choice(APPS), "tier": rng.choice(TIERS)})
        ip = ipaddress.ip_address(int(ipaddress.ip_address("10.0.0.0")) + i + 2)
        out.append(Pod(f"p{i}", ns, labels, node=f"node-{i % 100}", ips=(ip,), ports=(ContainerPort(8080, name="http"),)))
    pols = []
    for i in range(policies):
        ns = f"ns-{i % namespaces}"
        sel = LabelSelector(FrozenDict({"tier": rng.choice(TIERS)}))
        peer_kind = rng.random()
        if peer_kind < 0.4:
            peer = PolicyPeer(pod_selector=LabelSelector(FrozenDict({"app": rng.choice(APPS)})))
        elif peer_kind < 0.8:
            peer = PolicyPeer(namespace_selector=LabelSelector(FrozenDict({"team": f"t{rng.randrange(10)}"})))
        else:
            peer = PolicyPeer(
                pod_selector=LabelSelector(FrozenDict({"tier": rng.choice(TIERS)})),
                namespace_selector=LabelSelector(FrozenDict({"team": f"t{rng.randrange(10)}"})),
            )
        port = PolicyPort("TCP", rng.choice([8080, "http", 9090]))
        pols.append(NetworkPolicy(f"pol-{i}", ns, sel, ("Ingress",), ingress=(PolicyRule((peer,), (port,)),)))
    return Cluster(namespaces=nss, pods=tuple(out), network_policies=tuple(pols))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pods", type=int, default=10_000)
    ap.add_argument("--namespaces", type=int, default=100)
    ap.add_argument("--policies", type=int, default=1_000)
    ap.add_argument("--naive-sources", type=int, default=5, help="source pods the naive baseline evaluates")
    args = ap.parse_args()
    cluster = build(args.pods, args.namespaces, args.policies)
    query = ReachQuery(port=8080)

    t0 = time.perf_counter()
    analyzer = ReachAnalyzer(cluster, query)
    matrix = analyzer.matrix()
    full = time.perf_counter() - t0

    changed = NetworkPolicy(
        "pol-0", "ns-0", LabelSelector(FrozenDict({"tier": "db"})), ("Ingress",),
        ingress=(PolicyRule((PolicyPeer(pod_selector=LabelSelector(FrozenDict({"app": "app-3"}))),)),),
    )
    old = next(p for p in cluster.network_policies if p.key == "ns-0/pol-0")
    t0 = time.perf_counter()
    analyzer.replace_policy(old, changed)
    analyzer.class_matrix()
    incremental = time.perf_counter() - t0

    pods = list(cluster.pods)
    sample = pods[: args.naive_sources]
    t0 = time.perf_counter()
    for src in sample:
        for dst in pods:
            connection_allowed(cluster, src, src.ips[0], dst, dst.ips[0], "TCP", 8080)
    naive_sample = time.perf_counter() - t0
    naive = naive_sample * len(pods) / len(sample)

    allowed = int(matrix.allowed.sum())
    print(f"cluster: {args.pods} pods, {args.namespaces} namespaces, {args.policies} policies; "
          f"{matrix.classes} classes; {allowed} of {args.pods ** 2} pairs allowed")
    print(f"full matrix (classes):      {full:8.3f} s   goal < 10 s")
    print(f"after one policy change:    {incremental * 1000:8.1f} ms  goal < 100 ms")
    print(f"naive pairwise (baseline):  {naive:8.1f} s   extrapolated from {len(sample)} source pods "
          f"({naive_sample:.2f} s for {len(sample) * len(pods)} pairs)")
    print(f"ratio naive / classes:      {naive / full:8.1f}x")
    print(f"ratio naive / incremental:  {naive / incremental:8.0f}x")


if __name__ == "__main__":
    main()
