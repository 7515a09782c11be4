"""Topology loading at scale: ``overlaynet.topology.load_text`` on a generated cluster versus
plain ``yaml.safe_load_all`` of the same text (the floor: parsing alone, no validation, no
controllers), in the same run.

    .venv/bin/python benchmarks/topology_load.py [--nodes 500] [--deployments 300] [--replicas 50]

Prints the time of each, pods/second for the loader and the ratio loader / safe_load.
"""

from __future__ import annotations

import argparse
import time

import yaml

from overlaynet.topology import load_text


def generate(nodes: int, deployments: int, replicas: int) -> str:
    parts = [
        "apiVersion: overlaynet/v1\nkind: Cluster\nmetadata: {name: big}\nspec:\n  podCIDR: 10.0.0.0/12\n"
        "  underlay:\n    segments: [{name: s, cidr: 192.168.0.0/16}]\n  nodes:\n"
    ]
    parts += [f"    - {{name: n{i}, ip: 192.168.{i // 200}.{i % 200 + 10}}}\n" for i in range(nodes)]
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
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, default=500)
    ap.add_argument("--deployments", type=int, default=300)
    ap.add_argument("--replicas", type=int, default=50)
    args = ap.parse_args()
    text = generate(args.nodes, args.deployments, args.replicas)
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    t0 = time.perf_counter()
    docs = list(yaml.load_all(text, Loader=loader))
    base = time.perf_counter() - t0
    t0 = time.perf_counter()
    cluster = load_text(text, "generated.yaml").cluster
    ours = time.perf_counter() - t0
    print(f"topology: {args.nodes} nodes, {len(cluster.pods)} pods, {len(cluster.services)} services, {len(docs)} documents")
    print(f"baseline yaml.safe_load_all ({loader.__name__}): {base:.3f} s")
    print(f"overlaynet load_text (parse, validate, schedule, IPAM, endpoints): {ours:.3f} s "
          f"= {len(cluster.pods) / ours:,.0f} pods/s")
    print(f"ratio load_text / safe_load_all: {ours / base:.1f}x")


if __name__ == "__main__":
    main()
