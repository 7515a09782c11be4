"""Taints and tolerations: read from Nodes, Cluster-kind nodes and pod specs, honoured by the
scheduler and the DaemonSet controller (with its default tolerations)."""

from __future__ import annotations

from pathlib import Path

import pytest

from overlaynet.errors import TopologyError
from overlaynet.model import Cluster, FrozenDict, Node, Pod, Taint, Toleration
from overlaynet.topology import load_text
from overlaynet.topology.k8s_scheduling import daemon_tolerations
from overlaynet.topology.loader import load
from overlaynet.topology.scheduler import NodeFit, schedule

FIXTURE = Path(__file__).parent / "fixtures" / "taints.yaml"


def _nodes_of(cluster: Cluster, owner: str) -> list[str]:
    return sorted(p.node or "" for p in cluster.pods if p.owner == owner)


def test_placement_honours_taints_exactly() -> None:
    cluster = load([FIXTURE]).cluster
    # node-2 is cordoned, node-3 has dedicated=gpu:NoSchedule, node-4 spot:PreferNoSchedule
    assert _nodes_of(cluster, "DaemonSet/agent") == ["node-1", "node-2", "node-4"]  # not node-3: no toleration
    assert _nodes_of(cluster, "DaemonSet/gpu-agent") == ["node-1", "node-2", "node-3", "node-4"]
    assert _nodes_of(cluster, "Deployment/web") == ["node-1"] * 4  # node-4 is only preferred against
    assert _nodes_of(cluster, "Deployment/ml") == ["node-1", "node-3"]
    pinned = next(p for p in cluster.pods if p.name == "pinned")
    assert pinned.node == "node-3"  # a bound pod keeps its node, taints or not
    node2 = next(n for n in cluster.nodes if n.name == "node-2")
    assert node2.unschedulable and node2.effective_taints == (Taint("node.kubernetes.io/unschedulable", "", "NoSchedule"),)


def test_daemonset_pods_carry_the_controllers_tolerations() -> None:
    cluster = load([FIXTURE]).cluster
    agent = next(p for p in cluster.pods if p.owner == "DaemonSet/agent")
    keys = [(t.key, t.effect, t.seconds) for t in agent.tolerations]
    assert keys == [
        ("node.kubernetes.io/not-ready", "NoExecute", None), ("node.kubernetes.io/unreachable", "NoExecute", None),
        ("node.kubernetes.io/disk-pressure", "NoSchedule", None), ("node.kubernetes.io/memory-pressure", "NoSchedule", None),
        ("node.kubernetes.io/pid-pressure", "NoSchedule", None), ("node.kubernetes.io/unschedulable", "NoSchedule", None),
    ]
    web = next(p for p in cluster.pods if p.owner == "Deployment/web")
    assert web.tolerations == ()


def test_daemon_tolerations_network_unavailable_for_host_network_and_replace_same() -> None:
    given = (Toleration("node.kubernetes.io/unreachable", "Exists", "", "NoExecute", 30), Toleration("x", "Exists"))
    got = daemon_tolerations(given, host_network=True)
    assert Toleration("x", "Exists") in got
    assert Toleration("node.kubernetes.io/unreachable", "Exists", "", "NoExecute", 30) not in got  # replaced: no limit
    assert Toleration("node.kubernetes.io/network-unavailable", "Exists", "", "NoSchedule") in got
    assert Toleration("node.kubernetes.io/network-unavailable", "Exists", "", "NoSchedule") not in daemon_tolerations((), host_network=False)


@pytest.mark.parametrize(("toleration", "taint", "expected"), [
    (Toleration("k", "Equal", "v", "NoSchedule"), Taint("k", "v", "NoSchedule"), True),
    (Toleration("k", "Equal", "v", "NoSchedule"), Taint("k", "w", "NoSchedule"), False),
    (Toleration("k", "Equal", "v", "NoSchedule"), Taint("k", "v", "NoExecute"), False),
    (Toleration("k", "Exists"), Taint("k", "anything", "NoExecute"), True),
    (Toleration("", "Exists"), Taint("other", "v", "PreferNoSchedule"), True),
    (Toleration("", "Exists", effect="NoSchedule"), Taint("other", "v", "NoExecute"), False),
    (Toleration("k", "Equal", ""), Taint("k", "", "NoSchedule"), True),
])
def test_toleration_matches_as_kubernetes(toleration: Toleration, taint: Taint, expected: bool) -> None:
    assert toleration.tolerates(taint) is expected


def test_node_object_taints_from_a_live_dump() -> None:
    text = """
apiVersion: v1
kind: Node
metadata: {name: cp}
spec:
  taints:
  - {key: node-role.kubernetes.io/control-plane, effect: NoSchedule}
status: {addresses: [{type: InternalIP, address: 10.0.0.1}]}
---
apiVersion: v1
kind: Node
metadata: {name: w1}
status: {addresses: [{type: InternalIP, address: 10.0.0.2}]}
---
apiVersion: v1
kind: ReplicationController
metadata: {name: rc}
spec:
  replicas: 3
  template:
    metadata: {labels: {app: rc}}
    spec: {containers: [{name: c, image: i}]}
"""
    cluster = load_text(text, "dump.yaml").cluster
    cp = next(n for n in cluster.nodes if n.name == "cp")
    assert cp.taints == (Taint("node-role.kubernetes.io/control-plane", "", "NoSchedule"),)
    assert _nodes_of(cluster, "ReplicationController/rc") == ["w1", "w1", "w1"]


def test_no_tolerable_node_is_an_error_at_the_tolerations() -> None:
    text = """
apiVersion: overlaynet/v1
kind: Cluster
metadata: {name: c}
spec:
  nodes:
  - {name: a, ip: 192.168.0.11, taints: [{key: k, value: v, effect: NoSchedule}]}
  - {name: b, ip: 192.168.0.12, labels: {disk: ssd}, taints: [{key: k, effect: NoExecute}]}
---
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  tolerations: [{key: k, value: w, effect: NoSchedule}]
  containers: [{name: c, image: i}]
"""
    with pytest.raises(TopologyError) as err:
        load_text(text, "t.yaml")
    (diag,) = [d for d in err.value.diagnostics if d.severity == "error"]
    assert (diag.file, diag.line) == ("t.yaml", 14)
    assert diag.message == ("expected a node whose taints pod default/p tolerates (spec.tolerations), found none: "
                            "0/2 nodes are available: 1 node(s) had untolerated taint {k: v}, 1 node(s) had untolerated taint {k: }")


def test_untainted_clusters_take_the_same_path() -> None:
    nodes = (Node("a", None, "s"), Node("b", None, "s", FrozenDict({"disk": "ssd"})))  # type: ignore[arg-type]
    fit = NodeFit(nodes)
    assert not fit.tainted
    tol = (Toleration("k", "Exists"),)
    assert fit.fitting({}, tol) is fit.fitting({})  # tolerations are not even looked at
    pods = tuple(Pod(f"p{i}", owner="Deployment/d", tolerations=tol if i % 2 else ()) for i in range(4))
    assert [p.node for p in schedule(Cluster(name="c", nodes=nodes, pods=pods)).pods] == ["a", "b", "a", "b"]


def test_prefer_no_schedule_is_only_a_preference() -> None:
    nodes = (Node("a", None, "s", taints=(Taint("spot", "", "PreferNoSchedule"),)),  # type: ignore[arg-type]
             Node("b", None, "s", taints=(Taint("gpu", "", "NoSchedule"),)))  # type: ignore[arg-type]
    pods = (Pod("p0"), Pod("p1", tolerations=(Toleration("gpu", "Exists"),)))
    placed = schedule(Cluster(name="c", nodes=nodes, pods=pods)).pods
    assert [p.node for p in placed] == ["a", "b"]  # p0: b is refused, a merely avoided
