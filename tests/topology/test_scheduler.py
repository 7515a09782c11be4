"""The scheduler against the straightforward algorithm it replaced (a per-owner heap over every
fitting node, rebuilt for each owner): same node for every pod, on generated clusters."""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from overlaynet.errors import Diagnostic, TopologyError
from overlaynet.model import Cluster, FrozenDict, Labels, Node, Pod, Taint, Toleration
from overlaynet.topology.endpoints import ZONE_LABEL
from overlaynet.topology.scheduler import NodeFit, kubelet_labels, schedule


def _allowed(node: Node, pod: Pod) -> bool:
    """The TaintToleration filter, written out per node and pod."""
    return all(t.effect == "PreferNoSchedule" or any(tol.tolerates(t) for tol in pod.tolerations) for t in node.effective_taints)


def _avoid(node: Node, pod: Pod) -> int:
    return sum(1 for t in node.effective_taints if t.effect == "PreferNoSchedule" and not any(tol.tolerates(t) for tol in pod.tolerations))


def reference_schedule(cluster: Cluster, node_selectors: Mapping[tuple[str, str], Labels] | None = None) -> Cluster:
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
    heaps: dict[tuple[str, tuple[tuple[str, str], ...], tuple[Toleration, ...]], dict[str | None, list[tuple[tuple[int, int, str], str]]]] = {}
    pods: list[Pod] = []
    for pod in cluster.pods:
        if pod.node is not None:
            pods.append(pod)
            continue
        wanted: Mapping[str, str] = node_selectors.get((pod.namespace, pod.name), {})
        group = group_of(pod)
        hkey = (group, tuple(sorted(wanted.items())), pod.tolerations)
        zones = heaps.get(hkey)
        if zones is None:
            allowed = [n for n in nodes if all(kubelet_labels(n).get(k) == v for k, v in wanted.items()) and _allowed(n, pod)]
            least = min((_avoid(n, pod) for n in allowed), default=0)
            fitting = [n.name for n in allowed if _avoid(n, pod) == least]
            if not fitting and any(n.effective_taints for n in nodes):
                raise TopologyError([Diagnostic("<topology>", 1, 1, "spec.tolerations", "no node")])
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




TAINTS = (Taint("dedicated", "gpu", "NoSchedule"), Taint("dedicated", "db", "NoExecute"), Taint("spot", "", "PreferNoSchedule"),
          Taint("zone-drain", "", "PreferNoSchedule"))
# per owner (owner 0, unowned pods, tolerate nothing): every node stays possible (Exists tolerates all)
TOLERATION_SETS: tuple[tuple[Toleration, ...], ...] = (
    (Toleration(operator="Exists"),),
    (),
    (Toleration("dedicated", "Equal", "gpu", "NoSchedule"),),
    (Toleration("dedicated", "Exists"), Toleration("spot", "Exists", effect="PreferNoSchedule")),
    (Toleration("node.kubernetes.io/unschedulable", "Exists", effect="NoSchedule"),),
)


@st.composite
def clusters(draw: st.DrawFn) -> tuple[Cluster, dict[tuple[str, str], Labels]]:
    n_nodes = draw(st.integers(1, 12))
    zones = draw(st.integers(1, 4))
    tainted = draw(st.booleans())
    nodes = []
    for i in range(n_nodes):
        labels = {ZONE_LABEL: f"z{draw(st.integers(0, zones - 1))}"} if draw(st.booleans()) else {}
        if draw(st.booleans()):
            labels["disk"] = draw(st.sampled_from(["ssd", "hdd"]))
        taints = tuple(draw(st.lists(st.sampled_from(TAINTS), max_size=2, unique=True))) if tainted else ()
        nodes.append(Node(f"n{draw(st.integers(0, 99)):02d}-{i}", None, f"seg{i % 2}", FrozenDict(labels),  # type: ignore[arg-type]
                          taints=taints, unschedulable=tainted and draw(st.integers(0, 4)) == 0))
    pods = []
    selectors: dict[tuple[str, str], Labels] = {}
    owners = draw(st.integers(1, 6))
    for i in range(draw(st.integers(1, 60))):
        owner = draw(st.integers(0, owners))
        placed = draw(st.sampled_from([None, None, None, *[n.name for n in nodes]]))
        pod = Pod(f"p{i}", "default", node=placed, owner=f"Deployment/d{owner}" if owner else None,
                  labels=FrozenDict({"app": f"a{draw(st.integers(0, 2))}"}),
                  tolerations=TOLERATION_SETS[owner % len(TOLERATION_SETS)] if tainted else ())
        pods.append(pod)
        if owner and owner % 3 == 0 and any(n.labels.get("disk") == "ssd" for n in nodes):
            selectors[("default", pod.name)] = FrozenDict({"disk": "ssd"})
    return Cluster(name="c", nodes=tuple(nodes), pods=tuple(pods)), selectors


@settings(max_examples=150, deadline=None)
@given(clusters())
def test_same_choices_as_the_reference(case: tuple[Cluster, dict[tuple[str, str], Labels]]) -> None:
    cluster, selectors = case
    try:
        expected = [p.node for p in reference_schedule(cluster, selectors).pods]
    except TopologyError:
        with pytest.raises(TopologyError):
            schedule(cluster, selectors)
        return
    assert [p.node for p in schedule(cluster, selectors).pods] == expected


def test_big_owner_on_few_nodes_uses_its_own_heaps_and_matches() -> None:
    nodes = tuple(Node(f"n{i:02d}", None, "s", FrozenDict({ZONE_LABEL: f"z{i % 3}"})) for i in range(40))  # type: ignore[arg-type]
    pods = tuple(Pod(f"p{i}", "default", owner=f"Deployment/d{i % 2}" if i < 300 else "Deployment/d9") for i in range(330))
    cluster = Cluster(name="c", nodes=nodes, pods=pods)
    got = [p.node for p in schedule(cluster).pods]
    assert got == [p.node for p in reference_schedule(cluster).pods]
    zone_of = {n.name: n.labels[ZONE_LABEL] for n in nodes}
    d0 = [zone_of[n] for n, p in zip(got, pods, strict=True) if p.owner == "Deployment/d0"]
    assert sorted(d0.count(z) for z in ("z0", "z1", "z2")) == [50, 50, 50]  # the owner spreads over zones first


def test_node_fit_sees_kubelet_labels_and_remembers_per_selector() -> None:
    nodes = (Node("a", None, "s", FrozenDict({"disk": "ssd"})), Node("b", None, "s"))  # type: ignore[arg-type]
    fit = NodeFit(nodes)
    assert [n.name for n in fit.fitting({"kubernetes.io/hostname": "b"})] == ["b"]
    assert [n.name for n in fit.fitting({"disk": "ssd", "kubernetes.io/os": "linux"})] == ["a"]
    assert fit.fitting({"disk": "nvme"}) == []
    assert fit.fitting({"kubernetes.io/os": "linux"}) is fit.fitting({"kubernetes.io/os": "linux"})
