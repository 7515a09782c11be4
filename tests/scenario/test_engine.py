"""The scenario engine over the example topologies: controllers, rollouts, affinity."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from overlaynet.scenario import load_scenario, read_scenario, run
from overlaynet.topology import load_cluster


def _theirs(frame: Any) -> Any:
    """The first Service the file wrote (not default/kubernetes or kube-system/kube-dns)."""
    return next(s for s in frame.services if s.service not in ("default/kubernetes", "kube-system/kube-dns"))

AB = ["topologies/ab-test.yaml"]


def _shares(frame: object) -> dict[str, Fraction]:
    return _theirs(frame).shares  # type: ignore[attr-defined]


def test_ab_shift_moves_shares_from_75_25_to_100_0_and_sticky_clients_move_only_when_their_pod_goes() -> None:
    timeline = run(load_cluster(AB), load_scenario("topologies/scenarios/ab-shift.yaml"))
    ends = [_shares(s.frames[-1]) for s in timeline.steps]
    assert ends[1] == {"a": Fraction(3, 4), "b": Fraction(1, 4)}  # 3/1
    assert ends[3] == {"a": Fraction(1)}  # 4/0
    # a client on an `a` pod keeps it while the pod is in the service
    before = {c.client: c.pod for c in _theirs(timeline.steps[0].frames[-1]).clients}
    after = {c.client: c.pod for c in _theirs(timeline.steps[3].frames[-1]).clients}
    for client, pod in before.items():
        if pod is not None and "-a-" in pod:
            assert after[client] == pod
    # the deleted `a` pod's clients move to another `a` pod, and their connections break
    last = timeline.steps[4]
    gone = {b.pod for f in last.frames for b in f.broken}
    assert len(gone) == 1
    victim = gone.pop()
    moved = {c.client: c.pod for c in _theirs(last.frames[-1]).clients}
    assert victim not in moved.values()
    assert any(before.get(c) == victim or after.get(c) == victim for c in moved)


def test_rc_rolling_update_names_the_next_controller_and_replaces_one_pod_per_period() -> None:
    timeline = run(load_cluster(["topologies/node-js.yaml"]), load_scenario("topologies/scenarios/rc-rolling-update.yaml"))
    step = timeline.steps[0]
    messages = [e.message for e in step.events]
    created = next(m for m in messages if m.startswith("Created node-js-"))
    assert len(created.removeprefix("Created node-js-")) == 32  # the md5 of the new template, as kubectl names it
    ups = [e.time for e in step.events if "up to" in e.message and e.source.startswith("kubectl")]
    assert [b - a for a, b in zip(ups, ups[1:], strict=False)] == [121, 121]  # update period 2m, then the scale-down tick
    assert messages[-1] != ""
    assert step.outcome == 'replicationcontroller "node-js" rolling updated'
    assert _shares(step.frames[-1]) == {"jonbaier/node-express-info:0.2": Fraction(1)}


def test_deployment_rollout_respects_surge_and_unavailability_bounds() -> None:
    timeline = run(load_cluster(["topologies/scenarios/deployment.yaml"]), load_scenario("topologies/scenarios/deployment-rollout.yaml"))
    step = timeline.steps[0]
    for views in step.workloads:
        d = next(v for v in views if v.kind == "Deployment" and v.namespace != "kube-system")
        assert (d.min_available, d.max_total) == (8, 13)  # 25% of 10: surge rounds up to 3, unavailable down to 2
        assert d.available >= 8
        assert d.current <= 13
    assert step.outcome == 'deployment "web" successfully rolled out'


def test_quota_stalls_the_rollout_with_the_quota_message() -> None:
    timeline = run(load_cluster(["topologies/scenarios/deployment.yaml"]), load_scenario("topologies/scenarios/deployment-quota.yaml"))
    step = timeline.steps[1]
    refused = [e.message for e in step.events if e.warning and "exceeded quota" in e.message]
    assert refused and refused[0].startswith('Error creating: pods "web-')
    assert "exceeded quota: pod-limit, requested: pods=1, used: pods=10, limited: pods=10" in refused[0]
    assert step.outcome.startswith("rollout stalled: ProgressDeadlineExceeded")
    assert "exceeded quota: pod-limit" in step.outcome


def test_unknown_workload_is_reported_at_the_step() -> None:
    sc = read_scenario("kind: Scenario\nspec:\n  steps:\n    - scale: {kind: rc, name: nope, replicas: 2}\n", "s.yaml")
    try:
        run(load_cluster(AB), sc)
    except ValueError as exc:
        assert str(exc).startswith("s.yaml:4:7: spec.steps[0]: expected a ReplicationController 'nope'")
    else:
        raise AssertionError("expected a ScenarioError")


PROBES = ["topologies/scenarios/probes.yaml"]


def test_apply_adds_services_with_addresses_dns_and_env_and_a_deployment_that_rolls_out() -> None:
    timeline = run(load_cluster(PROBES), load_scenario("tests/scenario/apply-services.yaml"))
    first = timeline.steps[0].frames[-1]
    views = {s.service: s for s in first.services}
    assert views["default/api"].address.startswith("10.96.0.") and views["default/api"].address.endswith(":8080")
    assert views["default/api"].shares == {"api:1": Fraction(1)}
    assert views["default/web-headless"].address == "None"
    assert views["default/web-headless"].dns == tuple(sorted(e.address.split(":")[0] for e in views["default/web"].endpoints))
    assert first.env == ("API_SERVICE_HOST", "KUBERNETES_SERVICE_HOST", "KUBE_DNS_SERVICE_HOST", "WEB_SERVICE_HOST")
    debug = next(p for p in first.pods if p[0] == "debug")
    assert debug[2] == "node-2" and debug[3] is not None and debug[3].startswith("10.244.1.")  # scheduled by its nodeSelector
    scaled = {s.service: s for s in timeline.steps[1].frames[-1].services}
    assert len(scaled["default/web-headless"].dns or ()) == 1
    rolled = {s.service: s for s in timeline.steps[2].frames[-1].services}
    assert rolled["default/api"].shares == {"api:2": Fraction(1)}


def test_a_lost_node_s_pods_go_not_ready_then_are_evicted_and_replaced_elsewhere() -> None:
    sc = read_scenario("kind: Scenario\nspec:\n  steps:\n    - nodeDown: node-2\n      for: 6m\n    - nodeUp: node-2\n")
    timeline = run(load_cluster(PROBES), sc)
    down = timeline.steps[0]
    on_node_2 = {p[0] for p in timeline.initial.pods if p[2] == "node-2"}  # a CoreDNS pod too
    not_ready = {e.message.split()[-3] for e in down.events if "marked pod" in e.message}
    assert not_ready == on_node_2
    assert {e.time for e in down.events if "marked pod" in e.message} == {40.0}  # node-monitor grace period
    evicted = [e for e in down.events if e.source == "taint-eviction-controller"]
    assert {e.time for e in evicted} == {340.0} and len(evicted) == len(on_node_2)  # + the 300 s toleration
    replacements = [e.message for e in down.events if e.message.startswith("Successfully assigned")]
    assert len(replacements) == len(on_node_2) and all(m.endswith("to node-1") for m in replacements)
    held = down.frames[-1]
    assert {p[0] for p in held.pods if p[4] == "Terminating"} == on_node_2  # the kubelet is away
    up = timeline.steps[1].frames[-1]
    assert not {p[0] for p in up.pods} & on_node_2


def test_affinity_expires_after_its_timeout_and_recreate_empties_the_service_first() -> None:
    timeline = run(load_cluster(["tests/scenario/recreate-affinity.yaml"]), load_scenario("tests/scenario/recreate-affinity-scenario.yaml"))
    wait, update = timeline.steps
    first = {c.client: c.pod for c in _theirs(timeline.initial).clients}
    after = _theirs(wait.frames[-1]).clients
    assert wait.frames[-1].time == 120
    moved = [c for c in after if c.pod != first[c.client]]
    assert moved and all(c.note == f"affinity to {first[c.client]} expired: idle since 0:00" for c in moved)
    assert all(c.note is None for c in after if c.pod == first[c.client])
    assert {c.version for c in after} == {"stable"}  # versionLabel: track
    # Recreate: every old pod goes before a new one is made, so the Service rejects meanwhile
    empty = [f for f in update.frames if _theirs(f).rejected]
    assert empty and "default/web has no endpoints" in _theirs(empty[0]).rejected  # type: ignore[operator]
    made = min(e.time for e in update.events if e.message.startswith("Created pod"))
    removed = max(e.time for e in update.events if e.message.endswith("terminated and removed"))
    assert made >= removed
    views = update.workloads[-1]
    d = next(v for v in views if v.kind == "Deployment" and v.namespace != "kube-system")
    assert d.min_available is None and d.available == 4  # no rolling bounds for Recreate
    # the startup probe passes before the pod can be ready
    started = [e for e in update.events if e.message.endswith("Started container")]
    ready = [e for e in update.events if " Ready: " in e.message]
    assert min(e.time for e in ready) > min(e.time for e in started)


def test_daemonset_and_statefulset_pods_stay_while_nothing_happens() -> None:
    """A DaemonSet's desired count is its pods (one per fitting node), not replicas: the
    scenario's controller deleted every DaemonSet pod at 0:00."""
    sc = read_scenario("kind: Scenario\nspec:\n  steps:\n    - wait: 30\n")
    timeline = run(load_cluster(["tests/topology/fixtures/statefulset-daemonset.yaml"]), sc)
    assert not [e for s in timeline.steps for e in s.events if "deleting pod" in e.message]
    names = {p[0] for p in timeline.steps[-1].frames[-1].pods}
    assert {"db-0", "db-1", "db-2"} <= names and sum(n.startswith("everywhere-") for n in names) == 2
