"""Properties over generated rollouts: the Deployment controller's bounds, kube-proxy's
shares, terminating endpoints, determinism."""

from __future__ import annotations

from fractions import Fraction

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from overlaynet.scenario import read_scenario, run
from overlaynet.scenario.controllers import fenceposts
from overlaynet.scenario.render import render_text
from overlaynet.topology import load_text

NODES = "".join(
    f"---\napiVersion: v1\nkind: Node\nmetadata: {{name: node-{i}}}\nstatus: {{addresses: [{{type: InternalIP, address: 192.168.0.1{i}}}]}}\n"
    for i in (1, 2, 3)
)


def _topology(replicas: int, surge: int | str, unavailable: int | str, min_ready: int, period: int | None) -> str:
    probe = f"\n          readinessProbe: {{httpGet: {{path: /, port: 80}}, periodSeconds: {period}}}" if period else ""
    return NODES + f"""---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: app}}
spec:
  replicas: {replicas}
  minReadySeconds: {min_ready}
  selector: {{matchLabels: {{app: app}}}}
  strategy: {{type: RollingUpdate, rollingUpdate: {{maxSurge: {surge!r}, maxUnavailable: {unavailable!r}}}}}
  template:
    metadata: {{labels: {{app: app}}}}
    spec:
      containers:
        - name: app
          image: app:1
          ports: [{{containerPort: 80}}]{probe}
---
apiVersion: v1
kind: Service
metadata: {{name: app}}
spec:
  selector: {{app: app}}
  ports: [{{port: 80}}]
"""


amounts = st.one_of(st.integers(0, 4), st.sampled_from(["0%", "10%", "25%", "33%", "50%", "100%"]))


@st.composite
def rollouts(draw: st.DrawFn) -> tuple[int, int | str, int | str, int, int | None, list[str]]:
    replicas = draw(st.integers(1, 8))
    surge = draw(amounts)
    unavailable = draw(amounts)
    if surge in (0, "0%") and unavailable in (0, "0%"):
        unavailable = 1
    min_ready = draw(st.sampled_from([0, 3]))
    period = draw(st.sampled_from([None, 2, 5]))
    extra = draw(st.lists(st.sampled_from([
        "    - scale: {kind: Deployment, name: app, replicas: 0}",
        "    - scale: {kind: Deployment, name: app, replicas: 3}",
        "    - probe: {selector: {app: app}, count: 1, probe: readiness, httpStatus: 500}\n      for: 30s",
        "    - deletePod: {selector: {app: app}, count: 1}",
        "    - nodeDown: node-2\n      for: 60s",
    ]), max_size=2))
    return replicas, surge, unavailable, min_ready, period, extra


def _scenario(extra: list[str], period: int | None) -> str:
    steps = ["    - rollingUpdate: {kind: Deployment, name: app, image: 'app:2'}"]
    for e in extra:
        if "probe:" in e and period is None:
            continue
        steps.append(e)
    return "kind: Scenario\nspec:\n  clients: {count: 2}\n  steps:\n" + "\n".join(steps) + "\n"


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rollouts())
def test_rollouts_keep_the_bounds_and_the_shares(case: tuple[int, int | str, int | str, int, int | None, list[str]]) -> None:
    replicas, surge, unavailable, min_ready, period, extra = case
    cluster = load_text(_topology(replicas, surge, unavailable, min_ready, period)).cluster
    timeline = run(cluster, read_scenario(_scenario(extra, period)))
    max_surge, max_unavailable = fenceposts(surge, unavailable, replicas)
    rollout = timeline.steps[0]
    for views in rollout.workloads:
        d = next(v for v in views if v.kind == "Deployment" and v.namespace != "kube-system")
        assert d.current <= replicas + max_surge, (d, max_surge)
        assert d.available >= replicas - max_unavailable, (d, max_unavailable)
    assert rollout.outcome == 'deployment "app" successfully rolled out'
    for report in timeline.steps:
        for frame in report.frames:
            for sv in frame.services:
                ready = [e for e in sv.endpoints if e.ready]
                serving_terminating = [e for e in sv.endpoints if e.serving and e.terminating]
                usable = ready or serving_terminating  # kube-proxy's fallback to terminating endpoints
                if usable:
                    assert sum(e.probability for e in sv.endpoints) == 1
                    assert all(e.probability > 0 for e in usable)
                    assert sv.rejected is None
                else:
                    assert sv.shares == {}
                    assert sv.rejected is not None and "has no endpoints" in sv.rejected
                if ready:  # a terminating endpoint gets no new connection while a ready one exists
                    assert all(e.probability == 0 for e in sv.endpoints if not e.ready)
                assert sum(sv.shares.values(), Fraction(0)) in (0, 1)


@settings(max_examples=5, deadline=None)
@given(rollouts(), st.integers(0, 3))
def test_same_scenario_and_seed_give_the_same_output(case: tuple[int, int | str, int | str, int, int | None, list[str]], seed: int) -> None:
    replicas, surge, unavailable, min_ready, period, extra = case
    text = _topology(replicas, surge, unavailable, min_ready, period)
    scenario = read_scenario(_scenario(extra, period))
    first = render_text(run(load_text(text).cluster, scenario, seed=seed))
    again = render_text(run(load_text(text).cluster, scenario, seed=seed))
    assert first == again
