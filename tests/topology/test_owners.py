"""Pods of the files with ownerReferences: adopted by the workload they name (counted toward its
replicas), released on a uid or selector mismatch, kept dangling when the owner is absent."""

from __future__ import annotations

from overlaynet.scenario import read_scenario, run
from overlaynet.topology import load_text
from overlaynet.topology.system import is_system

NODES = """
apiVersion: overlaynet/v1
kind: Cluster
metadata: {name: c}
spec:
  nodes:
    - {name: node-1, ip: 192.168.0.11}
    - {name: node-2, ip: 192.168.0.12}
"""


def _rs(replicas: int, uid: str = "") -> str:
    meta = f"{{name: web, uid: {uid}}}" if uid else "{name: web}"
    return (f"---\napiVersion: apps/v1\nkind: ReplicaSet\nmetadata: {meta}\n"
            f"spec: {{replicas: {replicas}, selector: {{matchLabels: {{app: web}}}}, "
            "template: {metadata: {labels: {app: web}}, spec: {containers: [{name: c, image: i}]}}}\n")


def _pod(name: str, ref: str, labels: str = "{app: web}", node: str = "node-2") -> str:
    return (f"---\napiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, labels: {labels}, ownerReferences: [{ref}]}}\n"
            f"spec: {{nodeName: {node}, containers: [{{name: c, image: i}}]}}\n")


CTRL = "{apiVersion: apps/v1, kind: ReplicaSet, name: web, uid: u-1, controller: true}"


def _mine(text: str) -> list[tuple[str, str | None]]:
    return [(p.name, p.owner) for p in load_text(text, "t.yaml").cluster.pods if not is_system(p)]


def test_adopted_pods_count_toward_the_replicas() -> None:
    pods = _mine(NODES + _rs(3, "u-1") + _pod("web-aaaaa", CTRL) + _pod("web-bbbbb", CTRL))
    assert len(pods) == 3 and {o for _, o in pods} == {"ReplicaSet/web"}
    assert {"web-aaaaa", "web-bbbbb"} <= {n for n, _ in pods}  # one pod made for the missing replica
    assert len(_mine(NODES + _rs(2) + _pod("web-aaaaa", CTRL) + _pod("web-bbbbb", CTRL))) == 2  # a full dump: none made
    assert len(_mine(NODES + _rs(1) + _pod("web-aaaaa", CTRL) + _pod("web-bbbbb", CTRL))) == 2  # surplus kept as given


def test_a_uid_or_selector_mismatch_releases_the_pod_with_a_warning() -> None:
    result = load_text(NODES + _rs(2, "u-2") + _pod("web-aaaaa", CTRL), "t.yaml")
    pods = [(p.name, p.owner) for p in result.cluster.pods if not is_system(p)]
    assert ("web-aaaaa", None) in pods and len(pods) == 3  # the RS makes its 2 replicas
    (warning,) = [d for d in result.warnings]
    assert warning.line == 17 and "has uid u-1, the ReplicaSet in the files has uid u-2" in warning.message
    result = load_text(NODES + _rs(2) + _pod("web-aaaaa", CTRL, labels="{app: other}"), "t.yaml")
    assert ("web-aaaaa", None) in [(p.name, p.owner) for p in result.cluster.pods]
    assert any("do not match the selector" in d.message for d in result.warnings)


def test_a_reference_to_an_absent_owner_is_kept_without_a_warning() -> None:
    ref = "{apiVersion: batch/v1, kind: Job, name: nightly, uid: j-1, controller: true}"
    result = load_text(NODES + _pod("nightly-x", ref), "t.yaml")
    assert [(p.name, p.owner) for p in result.cluster.pods if not is_system(p)] == [("nightly-x", "Job/nightly")]
    assert [d for d in result.warnings] == []


def test_a_daemonset_makes_pods_only_for_nodes_without_one() -> None:
    ds = ("---\napiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: agent}\n"
          "spec: {selector: {matchLabels: {app: agent}}, template: {metadata: {labels: {app: agent}}, spec: {containers: [{name: c}]}}}\n")
    ref = "{kind: DaemonSet, name: agent, controller: true}"
    pods = load_text(NODES + ds + _pod("agent-zzzzz", ref, "{app: agent}"), "t.yaml").cluster.pods
    assert sorted((p.node or "", p.name == "agent-zzzzz") for p in pods if p.owner == "DaemonSet/agent") == [
        ("node-1", False), ("node-2", True)]


def test_two_controller_references_are_an_error() -> None:
    import pytest

    from overlaynet.errors import TopologyError
    with pytest.raises(TopologyError, match="t.yaml:17:.*expected at most one owner reference with controller: true"):
        load_text(NODES + _rs(1) + _pod("web-aaaaa", f"{CTRL}, {{kind: ReplicaSet, name: x, controller: true}}"), "t.yaml")


def test_a_scenario_s_controller_replaces_its_adopted_pod() -> None:
    rc = ("---\napiVersion: v1\nkind: ReplicationController\nmetadata: {name: web}\n"
          "spec: {replicas: 1, template: {metadata: {labels: {app: web}}, spec: {containers: [{name: c, image: i}]}}}\n")
    cluster = load_text(NODES + rc + _pod("web-given", "{kind: ReplicationController, name: web, controller: true}"), "t.yaml").cluster
    assert [p.name for p in cluster.pods if p.owner == "ReplicationController/web"] == ["web-given"]
    down = run(cluster, read_scenario("kind: Scenario\nspec:\n  steps:\n    - nodeDown: node-2\n      for: 6m\n")).steps[0]
    created = [e.message for e in down.events if e.source == "replicationcontroller-controller/web"]
    assert len(created) == 1 and created[0].startswith("Created pod: web-")  # after web-given's eviction, not before
