"""A deterministic stand-in for kube-scheduler: pods without a node get one, spread by owner
over zones and nodes, respecting nodeSelector.

The choice for each pod is the minimum of a score over every fitting node; it is found with
heaps shared by all owners (keyed by a node's pod count, which only grows, so a stale entry
is refreshed when it surfaces), so the work per pod does not grow with the number of owners.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Mapping
from dataclasses import replace

from overlaynet.errors import Diagnostic, TopologyError
from overlaynet.model import Cluster, Labels, Node, Pod
from overlaynet.model.base import evolve
from overlaynet.topology.endpoints import ZONE_LABEL


# The kubelet labels every node with these (well-known labels); nodeSelectors such as the
# CoreDNS Deployment's kubernetes.io/os: linux rely on them. A node's own labels win.
def kubelet_labels(node: Node) -> dict[str, str]:
    """The labels a nodeSelector sees on ``node``: its own over the kubelet's defaults."""
    return {"kubernetes.io/hostname": node.name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64", **node.labels}


def fits(node: Node, selector: Mapping[str, str]) -> bool:
    labels = kubelet_labels(node)
    return all(labels.get(k) == v for k, v in selector.items())


class NodeFit:
    """Which nodes fit a nodeSelector, with each node's labels built once and the answer kept
    per selector."""

    def __init__(self, nodes: list[Node] | tuple[Node, ...]) -> None:
        self._nodes = list(nodes)
        self._labels = [kubelet_labels(n) for n in self._nodes]
        self._memo: dict[tuple[tuple[str, str], ...], list[Node]] = {}

    def fitting(self, selector: Mapping[str, str]) -> list[Node]:
        key = tuple(sorted(selector.items()))
        out = self._memo.get(key)
        if out is None:
            out = self._memo[key] = [n for n, lab in zip(self._nodes, self._labels, strict=True)
                                     if all(lab.get(k) == v for k, v in key)]
        return out


_Entry = tuple[tuple[int, str], str]  # ((pods on the node, node), node): a node's load
_ZoneEntry = tuple[tuple[int, str], str | None]  # (least-loaded node's load, zone)


class _Spread:
    """The nodes fitting one nodeSelector: per zone a lazy min-heap of node loads, and a lazy
    min-heap of the zones by their least-loaded node (shared by every owner)."""

    def __init__(self, names: list[str], zone: Mapping[str, str | None], total: dict[str, int]) -> None:
        self.total = total
        self.nodes: dict[str | None, list[_Entry]] = {}
        for n in names:
            self.nodes.setdefault(zone[n], []).append(((total[n], n), n))
        for heap in self.nodes.values():
            heapq.heapify(heap)
        self.zones: list[_ZoneEntry] = [(self.top(z), z) for z in self.nodes]
        heapq.heapify(self.zones)

    def top(self, z: str | None) -> tuple[int, str]:
        """The least-loaded node of zone ``z`` as (pods, name), refreshing stale entries."""
        heap = self.nodes[z]
        while True:
            stored, name = heap[0]
            current = (self.total[name], name)
            if current == stored:
                return current
            heapq.heapreplace(heap, (current, name))

    def least_loaded_zone(self, skip: set[str | None] | Mapping[str | None, int]) -> tuple[tuple[int, str], str | None] | None:
        """The zone (not in ``skip``) holding the least-loaded node, and that node's load."""
        held: list[_ZoneEntry] = []
        found = None
        while self.zones:
            stored, z = self.zones[0]
            current = self.top(z)
            if current != stored:
                heapq.heapreplace(self.zones, (current, z))
                continue
            if z in skip:
                held.append(heapq.heappop(self.zones))
                continue
            found = (current, z)
            break
        for entry in held:
            heapq.heappush(self.zones, entry)
        return found

    def least_loaded_node(self, z: str | None, skip: Mapping[str, int]) -> tuple[int, str] | None:
        """The least-loaded node of zone ``z`` not in ``skip``, or None when all are."""
        heap = self.nodes[z]
        held: list[_Entry] = []
        found = None
        while heap:
            stored, name = heap[0]
            current = (self.total[name], name)
            if current != stored:
                heapq.heapreplace(heap, (current, name))
                continue
            if name in skip:
                held.append(heapq.heappop(heap))
                continue
            found = current
            break
        for entry in held:
            heapq.heappush(heap, entry)
        return found


# Past this many of an owner's nodes in one zone, the owner gets its own heap of that zone.
_OWN_HEAP_AFTER = 16


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
    # per owner: pods per node, per zone, and the owner's nodes per zone
    on_node: dict[str, dict[str, int]] = {}
    in_zone: dict[str, dict[str | None, int]] = {}
    owner_nodes: dict[str, dict[str | None, dict[str, int]]] = {}
    fit = NodeFit(nodes)
    spreads: dict[tuple[tuple[str, str], ...], _Spread] = {}
    own_heaps: dict[tuple[str, tuple[tuple[str, str], ...], str | None], list[tuple[tuple[int, int, str], str]]] = {}

    def group_of(pod: Pod) -> str:
        return pod.owner or f"{pod.namespace}/{sorted(pod.labels.items())}"

    def count(group: str, node: str) -> None:
        if node in total:
            total[node] += 1
            per_node = on_node.setdefault(group, {})
            per_node[node] = per_node.get(node, 0) + 1
            zones = in_zone.setdefault(group, {})
            zones[zone[node]] = zones.get(zone[node], 0) + 1
            mine = owner_nodes.setdefault(group, {}).setdefault(zone[node], {})
            mine[node] = per_node[node]

    def best_in_zone(group: str, sel: tuple[tuple[str, str], ...], spread: _Spread, z: str | None) -> tuple[tuple[int, int, str], str]:
        """The node of zone ``z`` with the lowest (owner's pods, pods, name)."""
        mine = owner_nodes.get(group, {}).get(z, {})
        if len(mine) <= _OWN_HEAP_AFTER:
            free = spread.least_loaded_node(z, mine)
            if free is not None:  # a node without the owner's pods beats every node with them
                return (0, *free), free[1]
            fitting = [n for n in mine if n in fitting_names[sel]]
            return min(((mine[n], total[n], n), n) for n in fitting)
        key = (group, sel, z)
        heap = own_heaps.get(key)
        if heap is None:
            per_node = on_node.get(group, {})
            heap = [((per_node.get(n, 0), total[n], n), n) for _, n in spread.nodes[z]]
            heapq.heapify(heap)
            own_heaps[key] = heap
        per_node = on_node.get(group, {})
        while True:
            stored, name = heap[0]
            current = (per_node.get(name, 0), total[name], name)
            if current == stored:
                return current, name
            heapq.heapreplace(heap, (current, name))

    fitting_names: dict[tuple[tuple[str, str], ...], set[str]] = {}
    remaining: Counter[str] = Counter()
    for pod in cluster.pods:
        if pod.node is not None:
            count(group_of(pod), pod.node)
        else:
            remaining[group_of(pod)] += 1
    pods: list[Pod] = []
    for pod in cluster.pods:
        if pod.node is not None:
            pods.append(pod)
            continue
        wanted: Mapping[str, str] = node_selectors.get((pod.namespace, pod.name), {})
        group = group_of(pod)
        sel = tuple(sorted(wanted.items()))
        spread = spreads.get(sel)
        if spread is None:
            fitting = [n.name for n in fit.fitting(wanted)]
            if not fitting:
                src = pod.source
                raise TopologyError([Diagnostic(src.file if src else "<topology>", src.line if src else 1, src.column if src else 1,
                                                "spec.nodeSelector", f"expected a node with labels {dict(wanted)} for pod {pod.key}, found none")])
            spread = spreads[sel] = _Spread(fitting, zone, total)
            fitting_names[sel] = set(fitting)
        zones_used = in_zone.get(group, {})
        name: str
        if sum(1 for z in zones_used if z in spread.nodes) < len(spread.nodes):
            # some zone has none of the owner's pods: the least-loaded node of those zones
            found = spread.least_loaded_zone({z for z, c in zones_used.items() if c})
            assert found is not None
            name = found[0][1]
        else:
            low = min(zones_used.get(z, 0) for z in spread.nodes)
            _, name = min(best_in_zone(group, sel, spread, z) for z in spread.nodes if zones_used.get(z, 0) == low)
        count(group, name)
        pods.append(evolve(pod, node=name))
        remaining[group] -= 1
        if not remaining[group]:  # the owner is placed: drop its heaps
            for key in [k for k in own_heaps if k[0] == group]:
                del own_heaps[key]
    return replace(cluster, pods=tuple(pods))
