"""A deterministic stand-in for kube-scheduler: pods without a node get one, spread by owner
over zones and nodes, respecting nodeSelector and taints (the TaintToleration plugin: a
NoSchedule or NoExecute taint the pod does not tolerate filters the node out; untolerated
PreferNoSchedule taints are a preference: the pod goes to the fitting nodes with the fewest).

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
from overlaynet.model import Cluster, Labels, Node, Pod, Taint, Toleration
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


HARD_EFFECTS = ("NoSchedule", "NoExecute")


def untolerated(taints: tuple[Taint, ...], tolerations: tuple[Toleration, ...], effects: tuple[str, ...] = HARD_EFFECTS) -> Taint | None:
    """The first taint of ``effects`` no toleration tolerates (FindMatchingUntoleratedTaint
    in k8s.io/component-helpers/scheduling/corev1), else None."""
    for taint in taints:
        if taint.effect in effects and not any(t.tolerates(taint) for t in tolerations):
            return taint
    return None


def _prefer_no(taints: tuple[Taint, ...], tolerations: tuple[Toleration, ...]) -> int:
    """How many PreferNoSchedule taints the pod does not tolerate (the TaintToleration
    plugin's score counts them; fewer is better)."""
    return sum(1 for t in taints if t.effect == "PreferNoSchedule" and not any(tol.tolerates(t) for tol in tolerations))


class NodeFit:
    """Which nodes fit a nodeSelector and tolerations, with each node's labels built once and
    the answer kept per selector (and per tolerations, only when some node is tainted)."""

    def __init__(self, nodes: list[Node] | tuple[Node, ...]) -> None:
        self._nodes = list(nodes)
        self._labels = [kubelet_labels(n) for n in self._nodes]
        self._memo: dict[tuple[tuple[str, str], ...], list[Node]] = {}
        #: whether any node has a taint (a cordoned node has one): else tolerations are moot
        self.tainted = any(n.taints or n.unschedulable for n in self._nodes)
        self._tolerating: dict[tuple[tuple[tuple[str, str], ...], tuple[Toleration, ...], bool], list[Node]] = {}

    def fitting(self, selector: Mapping[str, str], tolerations: tuple[Toleration, ...] = ()) -> list[Node]:
        """The nodes matching ``selector`` whose NoSchedule/NoExecute taints are tolerated
        (what the DaemonSet controller's predicates and the scheduler's filters keep)."""
        key = tuple(sorted(selector.items()))
        out = self._by_labels(key)
        if not self.tainted:
            return out
        tkey = (key, tolerations, False)
        kept = self._tolerating.get(tkey)
        if kept is None:
            kept = self._tolerating[tkey] = [n for n in out if untolerated(n.effective_taints, tolerations) is None]
        return kept

    def _by_labels(self, key: tuple[tuple[str, str], ...]) -> list[Node]:
        out = self._memo.get(key)
        if out is None:
            out = self._memo[key] = [n for n, lab in zip(self._nodes, self._labels, strict=True)
                                     if all(lab.get(k) == v for k, v in key)]
        return out

    def preferred(self, selector: Mapping[str, str], tolerations: tuple[Toleration, ...] = ()) -> list[Node]:
        """Of ``fitting``, those with the fewest untolerated PreferNoSchedule taints: where the
        scheduler puts a pod when any fitting node lacks such a taint."""
        kept = self.fitting(selector, tolerations)
        if not self.tainted or not kept:
            return kept
        tkey = (tuple(sorted(selector.items())), tolerations, True)
        best = self._tolerating.get(tkey)
        if best is None:
            counts = [_prefer_no(n.effective_taints, tolerations) for n in kept]
            low = min(counts)
            best = self._tolerating[tkey] = [n for n, c in zip(kept, counts, strict=True) if c == low]
        return best

    def why_none(self, selector: Mapping[str, str], tolerations: tuple[Toleration, ...] = ()) -> str:
        """kube-scheduler's FailedScheduling summary: how many nodes each filter refused."""
        by_label = self._by_labels(tuple(sorted(selector.items())))
        reasons: Counter[str] = Counter()
        matched = {n.name for n in by_label}
        for n in self._nodes:
            if n.name not in matched:
                reasons["didn't match Pod's node affinity/selector"] += 1
                continue
            taint = untolerated(n.effective_taints, tolerations)
            if taint is not None:
                reasons[f"had untolerated taint {{{taint.key}: {taint.value}}}"] += 1
        detail = ", ".join(f"{count} node(s) {why}" for why, count in sorted(reasons.items()))
        return f"0/{len(self._nodes)} nodes are available: {detail}"


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


_Key = tuple[tuple[tuple[str, str], ...], tuple[Toleration, ...]]  # (nodeSelector, tolerations)

# Past this many of an owner's nodes in one zone, the owner gets its own heap of that zone.
_OWN_HEAP_AFTER = 16


def schedule(cluster: Cluster, node_selectors: Mapping[tuple[str, str], Labels] | None = None) -> Cluster:
    """Give every pod without a node one, deterministically, spreading like kube-scheduler's
    default topology spread: fewest pods of the same owner in the zone (the node's
    ``topology.kubernetes.io/zone`` label, else its segment), then on the node, then fewest
    pods overall, then node name — among the nodes its nodeSelector and tolerations allow
    (and of those, the ones with the fewest untolerated PreferNoSchedule taints). Pods with
    a node keep it. Raises TopologyError when no node fits."""
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
    # a spread per (nodeSelector, tolerations): the tolerations only count when a node is tainted
    spreads: dict[_Key, _Spread] = {}
    own_heaps: dict[tuple[str, _Key, str | None], list[tuple[tuple[int, int, str], str]]] = {}

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

    def best_in_zone(group: str, sel: _Key, spread: _Spread, z: str | None) -> tuple[tuple[int, int, str], str]:
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

    fitting_names: dict[_Key, set[str]] = {}
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
        tolerations = pod.tolerations if fit.tainted else ()
        sel = (tuple(sorted(wanted.items())), tolerations)
        spread = spreads.get(sel)
        if spread is None:
            fitting = [n.name for n in fit.preferred(wanted, tolerations)]
            if not fitting:
                src = pod.source
                what, path = f"expected a node with labels {dict(wanted)} for pod {pod.key}, found none", "spec.nodeSelector"
                if fit.tainted:
                    what, path = (f"expected a node for pod {pod.key} that matches its nodeSelector and whose taints it tolerates, "
                                  f"found none: {fit.why_none(wanted, tolerations)}", "spec.tolerations")
                raise TopologyError([Diagnostic(src.file if src else "<topology>", src.line if src else 1, src.column if src else 1,
                                                path, what)])
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
