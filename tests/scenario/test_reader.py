"""Scenario files: every mistake reported with file:line:column and what was expected."""

from __future__ import annotations

import pytest

from overlaynet.errors import ScenarioError
from overlaynet.scenario import load_scenario, read_scenario
from overlaynet.scenario.spec import (
    Apply,
    DeletePod,
    NodeChange,
    ProbeBehaviour,
    RollingUpdate,
    Scale,
    Wait,
)


def _errors(text: str) -> list[str]:
    with pytest.raises(ScenarioError) as info:
        read_scenario(text, "s.yaml")
    return [str(d) for d in info.value.diagnostics]


def test_reads_every_action_with_defaults() -> None:
    sc = read_scenario("""
apiVersion: overlaynet/v1
kind: Scenario
metadata: {name: all}
spec:
  seed: 7
  clients: {count: 3, cidr: 203.0.113.0/28, node: node-2}
  steps:
    - scale: {kind: rc, name: a, replicas: 3}
      at: 1m30s
    - rollingUpdate: {kind: ReplicationController, name: a, image: x:2, updatePeriod: 2m}
    - rollingUpdate: {kind: Deployment, name: d, image: x:2, maxSurge: 25%, maxUnavailable: 1}
    - probe: {pod: default/a-xyz, probe: readiness, httpStatus: 503}
    - probe: {selector: {app: a}, count: 2, probe: liveness, exitCode: 0}
    - deletePod: {pod: a-xyz, gracePeriod: 5}
    - nodeDown: node-1
      for: 6m
    - nodeUp: {node: node-1}
    - apply: {apiVersion: v1, kind: ResourceQuota, metadata: {name: q}, spec: {hard: {pods: "4"}}}
    - wait: 90
""")
    kinds = [type(s.action) for s in sc.steps]
    assert kinds == [Scale, RollingUpdate, RollingUpdate, ProbeBehaviour, ProbeBehaviour, DeletePod, NodeChange, NodeChange, Apply, Wait]
    assert sc.seed == 7 and sc.clients.count == 3 and str(sc.clients.cidr) == "203.0.113.0/28"
    assert sc.steps[0].at == 90
    rc = sc.steps[1].action
    assert isinstance(rc, RollingUpdate) and rc.update_period == 120 and rc.target.kind == "ReplicationController"
    dep = sc.steps[2].action
    assert isinstance(dep, RollingUpdate) and (dep.max_surge, dep.max_unavailable) == ("25%", 1)
    probe = sc.steps[3].action
    assert isinstance(probe, ProbeBehaviour) and not probe.healthy and probe.pods.name == "a-xyz"
    assert isinstance(sc.steps[4].action, ProbeBehaviour) and sc.steps[4].action.healthy
    assert sc.steps[6].duration == 360
    apply = sc.steps[8].action
    assert isinstance(apply, Apply) and apply.parsed.resource_quotas[0].hard["pods"] == "4"
    assert isinstance(sc.steps[9].action, Wait) and sc.steps[9].action.seconds == 90


@pytest.mark.parametrize(("text", "expected"), [
    ("kind: Scenario\nspec:\n  steps:\n    - scale: {kind: rc, name: a}\n",
     "s.yaml:4:14: spec.steps[0].scale.replicas: missing required field 'replicas': expected a replica count"),
    ("kind: Scenario\nspec:\n  steps:\n    - {scale: {kind: rc, name: a, replicas: 1}, wait: 3}\n",
     "s.yaml:4:7: spec.steps[0]: expected exactly one action"),
    ("kind: Scenario\nspec:\n  steps:\n    - wait: soon\n",
     "s.yaml:4:13: spec.steps[0].wait: expected a duration (seconds, or like 90s, 2m, 1h30m), found a string 'soon'"),
    ("kind: Scenario\nspec:\n  steps:\n    - scale: {kind: Job, name: a, replicas: 1}\n",
     "s.yaml:4:21: spec.steps[0].scale.kind: expected one of ReplicationController, ReplicaSet, Deployment, found 'Job'"),
    ("kind: Scenario\nspec:\n  steps:\n    - probe: {pod: a, probe: readiness, httpStatus: 503, exitCode: 1}\n",
     "s.yaml:4:14: spec.steps[0].probe: expected exactly one of result (fail/pass), httpStatus, exitCode, refused or responseSeconds, found httpStatus, exitCode"),
    ("kind: Scenario\nspec:\n  steps:\n    - wait: 10\n      at: 2m\n    - wait: 10\n      at: 1m\n",
     "s.yaml:7:11: spec.steps[1].at: expected step times in order: at 60s comes after a step at 120s"),
    ("kind: Scenario\nspec:\n  steps:\n    - rollingUpdate: {kind: Deployment, name: d, image: x, updatePeriod: 1m}\n",
     "s.yaml:4:74: spec.steps[0].rollingUpdate.updatePeriod: expected no updatePeriod for a Deployment rolling update"),
    ("kind: Scenario\nspec:\n  stepz: []\n",
     "s.yaml:3:3: spec.stepz: unknown field 'stepz'; did you mean 'steps'?"),
    ("kind: Pod\nspec: {steps: [{wait: 1}]}\n", "s.yaml:1:7: kind: expected kind Scenario, found 'Pod'"),
    ("kind: Scenario\nspec:\n  steps:\n    - apply: {apiVersion: v1, kind: Service, metadata: {name: Bad_Name}, spec: {ports: [{port: 80}]}}\n",
     "s.yaml:4:63: spec.steps[0].apply.metadata.name: expected a name made of lower-case"),
])
def test_errors_point_at_the_offending_value(text: str, expected: str) -> None:
    errors = _errors(text)
    assert any(e.startswith(expected) for e in errors), errors


def test_unreadable_file(tmp_path: object) -> None:
    with pytest.raises(ScenarioError, match="cannot read scenario file"):
        load_scenario("/nonexistent/scenario.yaml")
