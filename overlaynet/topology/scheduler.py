"""A deterministic stand-in for kube-scheduler: pods without a node get one, spread by owner
over zones and nodes, respecting nodeSelector.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from dataclasses import replace

from overlaynet.errors import Diagnostic, TopologyError
from overlaynet.model import Cluster, Labels, Node, Pod
from overlaynet.topology.endpoints import ZONE_LABEL


# The kubelet labels every node with these (well-known labels); nodeSelectors such as the
# CoreDNS Deployment's kubernetes.io/os: linux rely on them. A node's own labels win.
def kubelet_labels(node: Node) -> dict[str, str]:
    """The labels a nodeSelector sees on ``node``: its own over the kubelet's defaults."""
    return {"kubernetes.io/hostname": node.name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64", **node.labels}


def fits(node: Node, selector: Mapping[str, str]) -> bool:
    labels = kubelet_labels(node)
    return all(labels.get(k) == v for k, v in selector.items())


def schedule(cluster: Cluster, node_selectors: Mapping[tuple[str, str], Labels] | None = None) -> Cluster:
    """Give every pod without a node one, deterministically, spreading like kube-scheduler's
    default topology spread: fewest pods of the same owner in the zone (the node's
    ``topology.kubernetes.io/zone`` label, else its segment), then on the node, then fewest
    pods overall, then node name. Raises TopologyError when no node fits a nodeSelector."""
    node_selectors = node_selectors or {}
    nodes = sorted(cluster.nodes, key=lambda n: n.name)
    if not nodes or all(p.node is not None for p in cluster.pods):
        return cluster
    zone = {n.name: n.labels.get(ZONE_LABEL, n.segment) for n in nodes}
    total: dict[str, int] = {n.name: 0 for n in nodes}
    by_owner_node: dict[tuple[str, str], int] = {}
    by_owner_zone: dict[tuple[str, str | None], int] = {}

    def group_of(pod: Pod) -> str:
        return pod.owner or f"{pod.namespace}/{sorted(pod.labels.items())}"

    def score(group: str, node: str) -> tuple[int, int, str]:
        return (by_owner_node.get((group, node), 0), total[node], node)

    def count(group: str, node: str) -> None:
        if node in total:
            total[node] += 1
            by_owner_node[(group, node)] = by_owner_node.get((group, node), 0) + 1
            by_owner_zone[(group, zone[node])] = by_owner_zone.get((group, zone[node]), 0) + 1

    def best_in(group: str, heap: list[tuple[tuple[int, int, str], str]]) -> tuple[tuple[int, int, str], str]:
        # Scores only grow, so an entry whose stored score is still current at the top of
        # its heap is the true minimum; stale ones are pushed back with their new score.
        while True:
            stored, name = heap[0]
            current = score(group, name)
            if current == stored:
                return current, name
            heapq.heapreplace(heap, (current, name))

    for pod in cluster.pods:
        if pod.node is not None:
            count(group_of(pod), pod.node)
    # Per (group, nodeSelector): per zone, a lazy min-heap of the fitting nodes.
    heaps: dict[tuple[str, tuple[tuple[str, str], ...]], dict[str | None, list[tuple[tuple[int, int, str], str]]]] = {}
    pods: list[Pod] = []
    for pod in cluster.pods:
        if pod.node is not None:
            pods.append(pod)
            continue
        wanted: Mapping[str, str] = node_selectors.get((pod.namespace, pod.name), {})
        group = group_of(pod)
        hkey = (group, tuple(sorted(wanted.items())))
        zones = heaps.get(hkey)
        if zones is None:
            fitting = [n.name for n in nodes if fits(n, wanted)]
            if not fitting:
                src = pod.source
                raise TopologyError([Diagnostic(src.file if src else "<topology>", src.line if src else 1, src.column if src else 1,
                                                "spec.nodeSelector", f"expected a node with labels {dict(wanted)} for pod {pod.key}, found none")])
            zones = {}
            for n in fitting:
                zones.setdefault(zone[n], []).append((score(group, n), n))
            for heap in zones.values():
                heapq.heapify(heap)
            heaps[hkey] = zones
        low = min(by_owner_zone.get((group, z), 0) for z in zones)
        candidates = [best_in(group, heap) for z, heap in zones.items() if by_owner_zone.get((group, z), 0) == low]
        _, name = min(candidates)
        count(group, name)
        heap = zones[zone[name]]
        best_in(group, heap)  # refresh the chosen node's entry (it is at the top)
        pods.append(replace(pod, node=name))
    return replace(cluster, pods=tuple(pods))


