"""Run a scenario: set the simulated cluster up from a loaded topology, then for each step
apply its action and let the kubelets and controllers move second by second, observing the
network whenever pods or endpoints change. Deterministic for a given topology, scenario
and seed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from overlaynet.errors import Diagnostic, ScenarioError
from overlaynet.model import Cluster, FrozenDict, Pod
from overlaynet.scenario import controllers as ctl
from overlaynet.scenario.kubelet import Kubelet, delete_pod
from overlaynet.scenario.network import Observation, Observer
from overlaynet.scenario.spec import (
    Apply,
    DeletePod,
    NodeChange,
    PodSelection,
    ProbeBehaviour,
    RollingUpdate,
    Scale,
    Scenario,
    SetImage,
    Step,
    Target,
    Wait,
)
from overlaynet.scenario.state import Controller, Deployment, Event, ProbeState, SimPod, State
from overlaynet.scenario.workloads import WorkloadView, workload_views

if TYPE_CHECKING:
    from overlaynet.network import Network


@dataclass
class StepReport:
    step: Step
    start: float
    end: float
    frames: list[Observation] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    workloads: list[list[WorkloadView]] = field(default_factory=list)  # one per frame
    cluster: Cluster | None = None  # as the step ends (for ``scenario trace --at``)
    outcome: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"step": self.step.index, "name": self.step.name, "action": self.step.kind,
                "source": str(self.step.source) if self.step.source else None,
                "start": self.start, "end": self.end, "outcome": self.outcome,
                "frames": [{**f.to_dict(), "workloads": [w.to_dict() for w in ws]} for f, ws in zip(self.frames, self.workloads, strict=True)],
                "events": [e.to_dict() for e in self.events]}


@dataclass
class Timeline:
    scenario: Scenario
    seed: int
    initial: Observation
    initial_workloads: list[WorkloadView]
    steps: list[StepReport]

    def to_dict(self) -> dict[str, Any]:
        return {"scenario": self.scenario.name, "seed": self.seed,
                "initial": {**self.initial.to_dict(), "workloads": [w.to_dict() for w in self.initial_workloads]},
                "steps": [s.to_dict() for s in self.steps]}


def _error(step: Step, message: str) -> ScenarioError:
    src = step.source
    return ScenarioError([Diagnostic(src.file if src else "<scenario>", src.line if src else 1, src.column if src else 1,
                                     f"spec.steps[{step.index - 1}]", message)])


class Engine:
    def __init__(self, cluster: Cluster, scenario: Scenario, *, seed: int | None = None,
                 keep_clusters: bool = False) -> None:
        self.scenario = scenario
        self.seed = scenario.seed if seed is None else seed
        self.state = _setup(cluster, self.seed, scenario.pod_start_seconds)
        self.kubelet = Kubelet(self.state)
        self.observer = Observer(scenario, self.seed)
        self.updaters: list[ctl.RollingUpdater] = []
        self.keep_clusters = keep_clusters
        self._signature: object = None

    # --- the clock ---------------------------------------------------------------------
    def tick(self) -> None:
        self.state.now += 1
        self.kubelet.tick()
        self.sync()

    def sync(self) -> None:
        st = self.state
        for d in list(st.deployments.values()):
            ctl.sync_deployment(st, d)
        for u in self.updaters:
            u.tick(st)
        for c in list(st.controllers.values()):
            ctl.sync_controller(st, c)
        ctl.schedule_pending(st)
        st.pods = [p for p in st.pods if p.removed is None or st.now - p.removed < 1]

    def signature(self) -> object:
        st = self.state
        return (tuple((p.name, p.node, p.ready, p.deleted is not None, p.started is not None, p.restart_at is not None)
                      for p in st.live_pods()),
                tuple((c.name, c.replicas) for c in st.controllers.values()), tuple(sorted(st.down_since)),
                tuple(s.key for s in st.services))

    # --- running -------------------------------------------------------------------------
    def run(self, progress: Callable[[StepReport], None] | None = None, *, until: int | None = None) -> Timeline:
        """Run the steps (the first ``until`` of them when given)."""
        initial = self.observer.observe(self.state, self.state.snapshot())
        first_views = workload_views(self.state)
        self._signature = self.signature()
        reports: list[StepReport] = []
        for step in self.scenario.steps[:until]:
            if step.at is not None:
                while self.state.now < step.at:
                    self.tick()
            report = StepReport(step, self.state.now, self.state.now)
            mark = len(self.state.events)
            self.apply(step)
            self.sync()
            self._frame(report, force=True)
            self._advance(step, report)
            if report.frames[-1].time != self.state.now:
                self._frame(report, force=True)  # the state as the step ends
            report.end = self.state.now
            report.events = self.state.events[mark:]
            if self.keep_clusters:
                report.cluster = self.state.snapshot()
            report.outcome = self._outcome(step)
            reports.append(report)
            if progress:
                progress(report)
        return Timeline(self.scenario, self.seed, initial, first_views, reports)

    def _frame(self, report: StepReport, *, force: bool = False) -> None:
        sig = self.signature()
        if sig == self._signature and not force:
            return
        self._signature = sig
        report.frames.append(self.observer.observe(self.state, self.state.snapshot()))
        report.workloads.append(workload_views(self.state))

    def _advance(self, step: Step, report: StepReport) -> None:
        st = self.state
        if isinstance(step.action, Wait) or step.duration is not None:
            until = st.now + (step.action.seconds if isinstance(step.action, Wait) else step.duration or 0)
            while st.now < until:
                self.tick()
                self._frame(report)
            return
        quiet_since = st.now
        limit = st.now + step.timeout
        while st.now < limit:
            self.tick()
            before = self._signature
            self._frame(report)
            if self._signature != before:
                quiet_since = st.now
            busy = any(not u.done for u in self.updaters)
            if not busy and st.now - quiet_since >= self.scenario.settle:
                break

    def _outcome(self, step: Step) -> str:
        st = self.state
        act = step.action
        if isinstance(act, RollingUpdate) and act.target.kind == "Deployment" or isinstance(act, SetImage | Scale) and act.target.kind == "Deployment":
            d = st.deployments.get((act.target.namespace, act.target.name))
            if d is not None:
                if d.complete:
                    return f'deployment "{d.name}" successfully rolled out'
                stuck = next((c.last_error for c in ctl.replica_sets(st, d) if c.last_error), None)
                if d.condition == "ProgressDeadlineExceeded":
                    return "rollout stalled: ProgressDeadlineExceeded" + (f"; {stuck}" if stuck else "")
                return "rollout stalled" + (f": {stuck}" if stuck else " (waiting for available pods)")
        if isinstance(act, RollingUpdate):
            u = self.updaters[-1] if self.updaters else None
            if u is not None and u.failed:
                return f"error: {u.failed}"
            if u is not None and not u.done:
                return "rolling update still in progress"
            return f'replicationcontroller "{act.target.name}" rolling updated'
        if isinstance(act, Scale):
            ctrl = st.controllers.get((act.target.kind, act.target.namespace, act.target.name))
            if ctrl is not None and ctrl.last_error:
                return f"scale stalled: {ctrl.last_error}"
        return ""

    # --- actions -------------------------------------------------------------------------
    def apply(self, step: Step) -> None:
        st = self.state
        act = step.action
        src = f"step {step.index}"
        if isinstance(act, Wait):
            return
        if isinstance(act, Scale):
            if act.target.kind == "Deployment":
                self._deployment(step, act.target).replicas = act.replicas
            else:
                self._controller(step, act.target).replicas = act.replicas
            st.emit(src, f"scaled {act.target.kind} {act.target.name} to {act.replicas}")
        elif isinstance(act, SetImage):
            self._set_image(step, act.target, act.image)
        elif isinstance(act, RollingUpdate):
            if act.target.kind == "Deployment":
                d = self._deployment(step, act.target)
                if act.max_surge is not None:
                    d.max_surge = act.max_surge
                if act.max_unavailable is not None:
                    d.max_unavailable = act.max_unavailable
                d.strategy = "RollingUpdate"
                self._set_image(step, act.target, act.image)
            else:
                old = self._controller(step, act.target)
                if act.next_name and ("ReplicationController", old.namespace, act.next_name) in st.controllers:
                    raise _error(step, f"expected a new controller name, found existing ReplicationController {act.next_name!r}")
                self.updaters.append(ctl.start_rolling_update(st, old, act.image, act.update_period, act.timeout, act.next_name))
        elif isinstance(act, ProbeBehaviour):
            for pod in self._pods(step, act.pods):
                probe = {"readiness": pod.template.readiness_probe, "liveness": pod.template.liveness_probe,
                         "startup": pod.template.startup_probe}[act.probe]
                if probe is None:
                    raise _error(step, f"expected pod {pod.key} to have a {act.probe} probe, found none")
                _check_kind(step, act, probe.kind, pod.key)
                pod.behaviour[act.probe] = act
                st.emit(src, f"pod {pod.name}: {act.probe} probe ({probe.kind}) now {act.describe()}")
        elif isinstance(act, DeletePod):
            for pod in self._pods(step, act.pods):
                delete_pod(st, pod, act.grace_period, reason=src)
        elif isinstance(act, NodeChange):
            if act.node not in {n.name for n in st.base.nodes}:
                raise _error(step, f"expected a node of the topology ({', '.join(n.name for n in st.base.nodes)}), found {act.node!r}")
            if act.up:
                st.down_since.pop(act.node, None)
                st.emit(src, f"node {act.node} up: kubelet reporting again")
            else:
                st.down_since.setdefault(act.node, st.now)
                st.emit(src, f"node {act.node} down: kubelet stopped reporting")
        elif isinstance(act, Apply):
            from overlaynet.scenario.apply import apply_parsed

            apply_parsed(self, step, act)

    def _controller(self, step: Step, target: Target) -> Controller:
        ctrl = self.state.controllers.get((target.kind, target.namespace, target.name))
        if ctrl is None:
            known = ", ".join(sorted(f"{k}/{n}" for k, ns, n in self.state.controllers if k == target.kind and ns == target.namespace)) or "none"
            raise _error(step, f"expected a {target.kind} {target.name!r} in namespace {target.namespace} (have: {known}), found none")
        return ctrl

    def _deployment(self, step: Step, target: Target) -> Deployment:
        d = self.state.deployments.get((target.namespace, target.name))
        if d is None:
            known = ", ".join(sorted(n for ns, n in self.state.deployments if ns == target.namespace)) or "none"
            raise _error(step, f"expected a Deployment {target.name!r} in namespace {target.namespace} (have: {known}), found none")
        return d

    def _set_image(self, step: Step, target: Target, image: str) -> None:
        st = self.state
        if target.kind == "Deployment":
            d = self._deployment(step, target)
            if d.template.image != image:
                d.template = replace(d.template, image=image)
                d.revision += 1
                d.complete = False
                d.condition = "ReplicaSetUpdated"
                d.last_progress = st.now
                st.emit(f"step {step.index}", f"deployment {d.name}: image {image} (revision {d.revision})")
        else:
            ctrl = self._controller(step, target)
            ctrl.template = replace(ctrl.template, image=image)
            st.emit(f"step {step.index}", f"{ctrl.kind} {ctrl.name}: template image {image} (running pods keep theirs)")

    def _pods(self, step: Step, sel: PodSelection) -> list[SimPod]:
        live = [p for p in self.state.live_pods() if p.namespace == sel.namespace and p.deleted is None]
        if sel.name is not None:
            found = [p for p in live if p.name == sel.name] or [p for p in live if p.name.startswith(sel.name)]
            if len(found) != 1:
                what = "no pod" if not found else f"{len(found)} pods ({', '.join(p.name for p in found)})"
                raise _error(step, f"expected one running pod named {sel}, found {what}")
            return found
        found = sorted((p for p in live if all(p.labels.get(k) == v for k, v in sel.labels.items())), key=lambda p: p.name)
        if not found:  # as kubectl with a selector: "No resources found", not an error
            self.state.emit(f"step {step.index}", f"No resources found: no running pod matches {sel}", warning=True)
        return found[: sel.count] if sel.count else found


def _check_kind(step: Step, act: ProbeBehaviour, kind: str, pod: str) -> None:
    wants = {"http_status": "httpGet", "exit_code": "exec"}
    for attr, probe_kind in wants.items():
        if getattr(act, attr) is not None and kind != probe_kind:
            raise _error(step, f"expected a {probe_kind} {act.probe} probe on pod {pod} for {attr.replace('_', ' ')}, found a {kind} probe")
    if act.refused and kind not in ("tcpSocket", "httpGet", "grpc"):
        raise _error(step, f"expected a network probe (tcpSocket, httpGet, grpc) on pod {pod} for a refused connection, found {kind}")


def _setup(cluster: Cluster, seed: int, pod_start: int) -> State:
    """The simulated state of a loaded topology: the driver's addresses (so traces at any
    step agree with the first), one controller per workload, running pods."""
    from overlaynet.network import assemble

    allocated = assemble(cluster, seed=seed).cluster
    st = State(base=allocated, seed=seed, pod_start=pod_start, services=list(allocated.services),
               quotas=list(allocated.resource_quotas))
    for w in allocated.workloads:
        template = w.template or Pod(name="", namespace=w.namespace, labels=w.template_labels)
        if w.kind == "Deployment":
            st.deployments[(w.namespace, w.name)] = Deployment(
                w.name, w.namespace, w.replicas, w.selector, template, w.node_selector, w.min_ready_seconds, w.strategy,
                w.max_surge, w.max_unavailable, w.progress_deadline_seconds)
            continue
        # a DaemonSet wants the pods it has (one per fitting node, made at load), not replicas
        desired = sum(1 for p in allocated.pods if p.owner == f"DaemonSet/{w.name}" and p.namespace == w.namespace) \
            if w.kind == "DaemonSet" else w.replicas
        st.controllers[(w.kind, w.namespace, w.name)] = Controller(
            w.kind, w.name, w.namespace, desired, dict(w.selector.match_labels), template, w.node_selector, w.min_ready_seconds)
    for pod in allocated.pods:
        owner = pod.owner
        if owner and owner.startswith("Deployment/"):
            d = st.deployments.get((pod.namespace, owner.split("/", 1)[1]))
            h = pod.labels.get("pod-template-hash", "")
            if d is not None:
                name = f"{d.name}-{h}"
                if ("ReplicaSet", d.namespace, name) not in st.controllers:
                    sel = {**d.selector.match_labels, "pod-template-hash": h}
                    st.controllers[("ReplicaSet", d.namespace, name)] = Controller(
                        "ReplicaSet", name, d.namespace, d.replicas, sel, replace(d.template, labels=FrozenDict({**d.template.labels, "pod-template-hash": h})),
                        d.node_selector, d.min_ready, f"Deployment/{d.name}", 1, h, -1.0)
                owner = f"ReplicaSet/{name}"
        sim = SimPod(pod.name, pod.namespace, dict(pod.labels), owner, pod, pod.node, pod.ip, -60.0, pod.creation_index,
                     started=-60.0 if pod.phase == "Running" else None, ready=pod.ready,
                     ready_since=-3600.0 if pod.ready else None, grace=pod.termination_grace_period_seconds)
        if pod.terminating:
            sim.deleted = 0.0
        for kind, probe in (("readiness", pod.readiness_probe), ("liveness", pod.liveness_probe), ("startup", pod.startup_probe)):
            if probe is not None:
                # as if each probe had just run at time 0 with the pod's current verdict
                sim.probes[kind] = ProbeState(successes=probe.success_threshold if pod.ready else 0,
                                              next_at=float(probe.period_seconds), passed=True)
        st.pods.append(sim)
        if pod.node is not None and pod.ip is not None:
            for n in allocated.nodes:
                cidr = next((c for c in n.pod_cidrs if c.version == 4), None)
                if n.name == pod.node and cidr is not None and pod.ip in cidr:
                    st.ip_cursor[n.name] = max(st.ip_cursor.get(n.name, 1), int(pod.ip) - int(cidr.network_address))
    return st


def network_at(cluster: Cluster, scenario: Scenario, step: int, *, seed: int | None = None) -> Network:
    """The programmed network (ready to ``trace``) as the cluster is when step ``step`` ends
    (0: before the first step)."""
    from overlaynet.network import assemble

    if not 0 <= step <= len(scenario.steps):
        src = scenario.source
        raise ScenarioError([Diagnostic(src.file if src else "<scenario>", src.line if src else 1, src.column if src else 1, "",
                                        f"expected a step number 0-{len(scenario.steps)}, found {step}")])
    engine = Engine(cluster, scenario, seed=seed, keep_clusters=True)
    timeline = engine.run(until=step)
    frozen = timeline.steps[-1].cluster if timeline.steps else engine.state.snapshot()
    assert frozen is not None
    return assemble(frozen, seed=engine.seed)


def run(cluster: Cluster, scenario: Scenario, *, seed: int | None = None, keep_clusters: bool = False) -> Timeline:
    """Run ``scenario`` over ``cluster`` (a loaded topology); ScenarioError when a step
    names what does not exist."""
    return Engine(cluster, scenario, seed=seed, keep_clusters=keep_clusters).run()
