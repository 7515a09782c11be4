"""Probes and lifecycle over time: readiness outages, liveness restarts with back-off,
postStart before ready, preStop and the grace period keeping a terminating endpoint."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from overlaynet.scenario import load_scenario, network_at, read_scenario, run
from overlaynet.scenario.kubelet import backoff
from overlaynet.topology import load_cluster, load_text


def _theirs(frame: Any) -> Any:
    """The first Service the file wrote (not default/kubernetes or kube-system/kube-dns)."""
    return next(s for s in frame.services if s.service not in ("default/kubernetes", "kube-system/kube-dns"))

PROBES = ["topologies/scenarios/probes.yaml"]


def _ready_times(events: list, pod: str, word: str) -> list[float]:
    return [e.time for e in events if e.message.startswith(f"pod {pod} {word}")]


def test_readiness_outage_removes_the_endpoint_after_failure_threshold_periods_and_restores_it() -> None:
    timeline = run(load_cluster(PROBES), load_scenario("topologies/scenarios/readiness-outage.yaml"))
    outage, recovery = timeline.steps
    victim = next(e.message.split()[1].rstrip(":") for e in outage.events if "now HTTP 503" in e.message)
    # failureThreshold 3 × periodSeconds 5 after the outage began at 0:00
    assert _ready_times(outage.events, victim, "not Ready") == [15.0]
    ep = next(e for e in _theirs(outage.frames[-1]).endpoints if e.pod == victim)
    assert (ep.ready, ep.serving, ep.probability, ep.chain) == (False, False, Fraction(0), None)
    # successThreshold 2 × periodSeconds 5 after the recovery at 1:00
    assert _ready_times(recovery.events, victim, "Ready") == [70.0]
    back = next(e for e in _theirs(recovery.frames[-1]).endpoints if e.pod == victim)
    assert back.ready and back.probability == Fraction(1, 3)


def test_trace_at_the_outage_no_longer_reaches_the_unready_pod() -> None:
    cluster = load_cluster(PROBES)
    scenario = load_scenario("topologies/scenarios/readiness-outage.yaml")
    timeline = run(cluster, scenario)
    victim = next(e.message.split()[1].rstrip(":") for e in timeline.steps[0].events if "now HTTP 503" in e.message)
    report = network_at(cluster, scenario, 1).trace("default/client", "default/web", all_branches=True)
    before = network_at(cluster, scenario, 0).trace("default/client", "default/web", all_branches=True)
    assert victim in {t.hops[-1].ns.name.split("/")[-1] for t in before.forward.traces}
    reached = {t.hops[-1].ns.name.split("/")[-1] for t in report.forward.traces if t.success}
    assert victim not in reached
    assert len(reached) == 2 and all(t.probability == Fraction(1, 2) for t in report.forward.traces)


LIVE = """
apiVersion: v1
kind: Pod
metadata: {name: app, labels: {app: app}}
spec:
  nodeName: node-1
  containers:
    - name: app
      image: app:1
      ports: [{containerPort: 80}]
      livenessProbe: {exec: {command: [cat, /tmp/healthy]}, periodSeconds: 5, failureThreshold: 2}
      lifecycle:
        postStart: {sleep: {seconds: 10}}
---
apiVersion: v1
kind: Service
metadata: {name: app}
spec:
  selector: {app: app}
  ports: [{port: 80}]
"""


def test_liveness_failures_restart_the_container_with_back_off() -> None:
    sc = read_scenario("kind: Scenario\nspec:\n  steps:\n    - probe: {pod: app, probe: liveness, exitCode: 1}\n      for: 3m\n")
    timeline = run(load_text(LIVE).cluster, sc)
    restarts = [(e.time, e.message) for e in timeline.steps[0].events if "restart count" in e.message]
    assert restarts[0] == (10.0, "pod app: container failed liveness probe, will be restarted (restart count 1)")
    assert "restart count 2, back-off 10s" in restarts[1][1]
    assert "restart count 3, back-off 20s" in restarts[2][1]
    # after each restart: postStart (10 s), then two failed probes (5 s apart) before the next kill
    started = [e.time for e in timeline.steps[0].events if e.message.startswith("pod app: Started container")]
    assert started[0] == 11.0  # restart 1 at the kubelet's next sync (no back-off yet)
    assert started[1] == restarts[1][0] + 10
    assert [backoff(n) for n in range(1, 8)] == [0, 10, 20, 40, 80, 160, 300]
    statuses = {p[4] for f in timeline.steps[0].frames for p in f.pods}
    assert "CrashLoopBackOff" in statuses


def test_post_start_runs_before_the_pod_can_be_ready() -> None:
    sc = read_scenario("kind: Scenario\nspec:\n  steps:\n    - deletePod: {pod: app}\n")
    text = LIVE.replace("apiVersion: v1\nkind: Pod\nmetadata: {name: app, labels: {app: app}}\nspec:\n  nodeName: node-1\n",
                        "apiVersion: apps/v1\nkind: ReplicaSet\nmetadata: {name: app}\nspec:\n  replicas: 1\n  selector: {matchLabels: {app: app}}\n"
                        "  template:\n    metadata: {labels: {app: app}}\n    spec:\n      nodeName: node-1\n")
    text = text.replace("\n  containers:", "\n      containers:").replace("\n    - name: app\n      image", "\n        - name: app\n          image")
    text = text.replace("\n      ports: [{containerPort: 80}]\n      liveness", "\n          ports: [{containerPort: 80}]\n          liveness")
    text = text.replace("\n      lifecycle:\n        postStart", "\n          lifecycle:\n            postStart")
    timeline = run(load_text(text).cluster, sc)
    events = timeline.steps[0].events
    new = next(e.message.split(": ")[1] for e in events if e.message.startswith("Created pod"))
    started = next(e.time for e in events if e.message == f"pod {new}: Started container")
    hook = next(e.time for e in events if e.message == f"pod {new}: postStart hook completed")
    ready = next(e.time for e in events if e.message.startswith(f"pod {new} Ready"))
    assert (started, hook, ready) == (1.0, 11.0, 11.0)


def test_pre_stop_keeps_a_terminating_endpoint_serving_but_without_new_connections() -> None:
    timeline = run(load_cluster(PROBES), load_scenario("topologies/scenarios/graceful-shutdown.yaml"))
    first = timeline.steps[0]
    victim = next(e.message.split()[2] for e in first.events if e.message.startswith("deleting pod"))
    seen = []
    for frame in first.frames:
        ep = next((e for e in _theirs(frame).endpoints if e.pod == victim), None)
        if ep is not None:
            assert (ep.ready, ep.serving, ep.terminating) == (False, True, True)
            assert ep.probability == 0  # ready endpoints exist
            seen.append(frame.time)
    assert seen and max(seen) < 20  # preStop sleeps 20 s
    removed = next(e.time for e in first.events if e.message == f"pod {victim} terminated and removed")
    assert removed == 20.0
    assert {b.pod for f in first.frames for b in f.broken if f.time == 20.0} == {victim}
    second = timeline.steps[1]
    cut = next(e for e in second.events if e.message.startswith("deleting pod"))
    assert "grace 5s, preStop 5s" in cut.message
    gone = next(e.time for e in second.events if e.message.endswith("terminated and removed"))
    assert gone == cut.time + 5


TAINTED = """
apiVersion: overlaynet/v1
kind: Cluster
metadata: {name: tainted}
spec:
  nodes:
    - {name: node-1, ip: 192.168.0.11}
    - {name: node-2, ip: 192.168.0.12}
    - {name: node-3, ip: 192.168.0.13, taints: [{key: dedicated, value: db, effect: NoSchedule}]}
---
apiVersion: v1
kind: ReplicationController
metadata: {name: web}
spec:
  replicas: 4
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: c, image: nginx}]}
---
apiVersion: v1
kind: Pod
metadata: {name: quick}
spec:
  nodeName: node-2
  tolerations: [{key: node.kubernetes.io/unreachable, operator: Exists, effect: NoExecute, tolerationSeconds: 60}]
  containers: [{name: c, image: i}]
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec: {containers: [{name: c, image: agent}]}
"""


def test_a_lost_node_s_pods_are_evicted_per_their_tolerations_and_replaced_on_untainted_nodes() -> None:
    cluster = load_text(TAINTED, "tainted.yaml").cluster
    assert sorted(p.node or "" for p in cluster.pods if p.owner == "ReplicationController/web") == ["node-1", "node-1", "node-2", "node-2"]
    sc = read_scenario("kind: Scenario\nspec:\n  steps:\n    - nodeDown: node-2\n      for: 6m\n")
    down = run(cluster, sc).steps[0]
    evicted = {e.message.split()[4]: e.time for e in down.events if e.source == "taint-eviction-controller"}
    others = {p.key for p in cluster.pods if p.node == "node-2" and p.name != "quick" and p.owner != "DaemonSet/agent"}
    assert len(others) == 3  # two of web's and a CoreDNS pod
    # quick: its own 60 s; the others: the default 300 s; the DaemonSet's pod: never (it tolerates for ever)
    assert evicted == {"default/quick": 100.0, **dict.fromkeys(others, 340.0)}
    replaced = [e.message for e in down.events if e.message.startswith("Successfully assigned")]
    assert len(replaced) == 3 and all(m.endswith(" to node-1") for m in replaced)  # node-3's taint keeps them off
