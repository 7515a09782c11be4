"""The controllers that move a cluster over time, one sync per simulated second:
ReplicationController/ReplicaSet (with ResourceQuota admission and kube-scheduler for the
pods they create), the Deployment controller's rollout, and kubectl's RC rolling updater.

Numbers follow pkg/controller/deployment (rolling.go: reconcileNewReplicaSet,
reconcileOldReplicaSets; util: ResolveFenceposts) and kubectl's rolling_updater.go.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, replace

from overlaynet.model import FrozenDict, Pod
from overlaynet.scenario.kubelet import delete_pod
from overlaynet.scenario.state import Controller, Deployment, SimPod, State
from overlaynet.topology.naming import generated, pod_template_hash
from overlaynet.topology.scheduler import schedule

RETRY_MAX = 300  # seconds between retries of a sync the API server keeps refusing


def scaled(value: int | str, total: int, *, round_up: bool) -> int:
    """intstr.GetScaledValueFromIntOrPercent: a number as is, a percentage of ``total``
    rounded up (maxSurge) or down (maxUnavailable)."""
    if isinstance(value, int):
        return value
    exact = int(value.rstrip("%")) * total / 100
    return math.ceil(exact) if round_up else math.floor(exact)


def fenceposts(max_surge: int | str, max_unavailable: int | str, replicas: int) -> tuple[int, int]:
    """deploymentutil.ResolveFenceposts: (surge, unavailable); both 0 makes unavailable 1."""
    surge = scaled(max_surge, replicas, round_up=True)
    unavailable = scaled(max_unavailable, replicas, round_up=False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def template_digest(template: Pod) -> str:
    """What makes two pod templates different for a rollout (labels apart from the hash)."""
    labels = {k: v for k, v in template.labels.items() if k not in ("pod-template-hash", "deployment")}
    return json.dumps({"labels": labels, "image": template.image, "ports": [(p.port, p.name, p.protocol) for p in template.ports]},
                      sort_keys=True)


# --- pods: admission, scheduling, creation ------------------------------------------------
def quota_rejection(state: State, namespace: str, name: str) -> str | None:
    """The API server's answer when a ResourceQuota's ``pods`` is used up. A terminating pod
    counts until its grace period has passed (QuotaV1Pod)."""
    for quota in state.quotas:
        if quota.namespace != namespace:
            continue
        hard = quota.hard.get("pods") or quota.hard.get("count/pods")
        if hard is None or not str(hard).isdigit():
            continue
        used = sum(1 for p in state.live_pods() if p.namespace == namespace and
                   (p.deleted is None or state.now <= p.deleted + p.grace))
        if used + 1 > int(hard):
            return (f'pods "{name}" is forbidden: exceeded quota: {quota.name}, requested: pods=1, '
                    f"used: pods={used}, limited: pods={hard}")
    return None


def create_pods(state: State, ctrl: Controller, count: int) -> int:
    """Create up to ``count`` pods of ``ctrl``; returns how many the API server admitted."""
    made: list[SimPod] = []
    for _ in range(count):
        state.counter += 1
        name = generated(ctrl.name, f"{state.seed}/{ctrl.namespace}/{ctrl.name}/{state.counter}")
        refused = quota_rejection(state, ctrl.namespace, name)
        if refused is not None:
            state.emit(f"{ctrl.kind.lower()}-controller/{ctrl.name}", f"Error creating: {refused}", warning=True)
            ctrl.last_error = refused
            # the controller's work queue retries a failed sync with exponential back-off
            ctrl.retry_at = state.now + min(2 ** ctrl.failures, RETRY_MAX)
            ctrl.failures += 1
            break
        ctrl.last_error = None
        ctrl.failures = 0
        labels = dict(ctrl.template.labels)
        pod = SimPod(name, ctrl.namespace, labels, ctrl.ref, ctrl.template, None, None, state.now, state.next_index(),
                     grace=ctrl.template.termination_grace_period_seconds)
        state.pods.append(pod)
        made.append(pod)
        state.emit(f"{ctrl.kind.lower()}-controller/{ctrl.name}", f"Created pod: {name}")
    place(state, made, ctrl.node_selector)
    return len(made)


def place(state: State, pods: list[SimPod], node_selector: FrozenDict[str, str] | None = None) -> None:
    """kube-scheduler (the project's deterministic stand-in) over the Ready nodes, then an
    address from the chosen node's subnet."""
    if not pods:
        return
    nodes = tuple(n for n in state.base.nodes if state.node_ready(n.name))
    existing = [p.freeze() for p in state.live_pods() if p.node is not None]
    new = [replace(p.freeze(), node=None) for p in pods]
    selectors = {(p.namespace, p.name): node_selector for p in pods if node_selector}
    if not nodes:
        for p in pods:
            state.emit("default-scheduler", f"pod {p.name}: 0/{len(state.base.nodes)} nodes are available (none Ready)", warning=True)
        return
    try:
        placed = schedule(replace(state.base, nodes=nodes, pods=tuple(existing + new)), selectors)
    except ValueError as exc:
        for p in pods:
            state.emit("default-scheduler", f"pod {p.name}: FailedScheduling: {exc}", warning=True, dedupe=True)
        return
    where = {(p.namespace, p.name): p.node for p in placed.pods}
    for p in pods:
        p.node = where.get((p.namespace, p.name))
        if p.node is not None:
            p.ip = state.allocate_ip(p.node)
            state.emit("default-scheduler", f"Successfully assigned {p.key} to {p.node}")


def schedule_pending(state: State) -> None:
    """Retry pods that found no node (a node came back, or one freed up)."""
    for ctrl in state.controllers.values():
        pending = [p for p in state.owned(ctrl.ref, ctrl.namespace) if p.node is None and p.deleted is None]
        if pending and any(state.node_ready(n.name) for n in state.base.nodes):
            place(state, pending, ctrl.node_selector)


def deletion_rank(pod: SimPod) -> tuple[int, int, int, float]:
    """ReplicaSet scale-down order (controller.ActivePods): unscheduled, then not running,
    then not ready, then newer pods first."""
    return (0 if pod.node is None else 1, 0 if pod.started is None else 1, 1 if pod.ready else 0, -pod.created)


# --- ReplicationController / ReplicaSet -----------------------------------------------------
def sync_controller(state: State, ctrl: Controller) -> None:
    active = [p for p in state.owned(ctrl.ref, ctrl.namespace) if p.deleted is None]
    diff = len(active) - ctrl.replicas
    if diff < 0 and state.now >= ctrl.retry_at:
        create_pods(state, ctrl, -diff)
    elif diff > 0:
        for pod in sorted(active, key=deletion_rank)[:diff]:
            delete_pod(state, pod, reason=f"{ctrl.kind.lower()}-controller/{ctrl.name}")


def available(state: State, ctrl: Controller) -> int:
    return sum(1 for p in state.owned(ctrl.ref, ctrl.namespace) if p.available(state.now, ctrl.min_ready))


# --- Deployment -------------------------------------------------------------------------------
def replica_sets(state: State, d: Deployment) -> list[Controller]:
    owner = f"Deployment/{d.name}"
    return sorted((c for c in state.controllers.values() if c.owner == owner and c.namespace == d.namespace),
                  key=lambda c: (c.created, c.name))


def new_replica_set(state: State, d: Deployment) -> Controller:
    digest = template_digest(d.template)
    for rs in replica_sets(state, d):
        if template_digest(rs.template) == digest:
            return rs
    h = pod_template_hash(f"{d.namespace}/{d.name}/{digest}")
    name = f"{d.name}-{h}"
    labels = {**d.template.labels, "pod-template-hash": h}
    template = replace(d.template, labels=FrozenDict(labels))
    rs = Controller("ReplicaSet", name, d.namespace, 0, {**d.selector.match_labels, "pod-template-hash": h}, template,
                    d.node_selector, d.min_ready, f"Deployment/{d.name}", d.revision, h, state.now)
    state.controllers[("ReplicaSet", d.namespace, name)] = rs
    state.emit(f"deployment-controller/{d.name}", f"Created new replica set {name!r} (revision {d.revision})")
    return rs


def _scale_rs(state: State, d: Deployment, rs: Controller, replicas: int) -> None:
    if rs.replicas == replicas:
        return
    verb = "up" if replicas > rs.replicas else "down"
    state.emit(f"deployment-controller/{d.name}", f"Scaled {verb} replica set {rs.name} from {rs.replicas} to {replicas}")
    rs.replicas = replicas
    d.last_progress = state.now


def sync_deployment(state: State, d: Deployment) -> None:
    new = new_replica_set(state, d)
    olds = [rs for rs in replica_sets(state, d) if rs is not new]
    if d.strategy == "Recreate":
        for rs in olds:
            _scale_rs(state, d, rs, 0)
        if not any(state.owned(rs.ref, rs.namespace) for rs in olds):
            _scale_rs(state, d, new, d.replicas)
    else:
        _rolling(state, d, new, olds)
    _progress(state, d, new, olds)


def _rolling(state: State, d: Deployment, new: Controller, olds: list[Controller]) -> None:
    surge, unavailable = fenceposts(d.max_surge, d.max_unavailable, d.replicas)
    all_rs = [new, *olds]
    # reconcileNewReplicaSet
    if new.replicas > d.replicas:
        _scale_rs(state, d, new, d.replicas)
    elif new.replicas < d.replicas:
        current = sum(rs.replicas for rs in all_rs)
        room = d.replicas + surge - current
        if room > 0:
            _scale_rs(state, d, new, new.replicas + min(room, d.replicas - new.replicas))
    # reconcileOldReplicaSets
    old_count = sum(rs.replicas for rs in olds)
    if old_count == 0:
        return
    all_count = sum(rs.replicas for rs in all_rs)
    min_available = d.replicas - unavailable
    new_unavailable = new.replicas - available(state, new)
    max_down = all_count - min_available - new_unavailable
    if max_down <= 0:
        return
    # cleanupUnhealthyReplicas: old pods that are not available go first
    for rs in olds:
        if max_down <= 0:
            break
        unhealthy = rs.replicas - available(state, rs)
        cut = min(max_down, unhealthy, rs.replicas)
        if cut > 0:
            _scale_rs(state, d, rs, rs.replicas - cut)
            max_down -= cut
    # scaleDownOldReplicaSetsForRollingUpdate
    avail = sum(available(state, rs) for rs in all_rs)
    budget = avail - min_available
    for rs in olds:
        if budget <= 0:
            break
        cut = min(rs.replicas, budget)
        if cut > 0:
            _scale_rs(state, d, rs, rs.replicas - cut)
            budget -= cut


def _progress(state: State, d: Deployment, new: Controller, olds: list[Controller]) -> None:
    # progress is a ReplicaSet scaled (see _scale_rs) or more of the new pods available
    now_available = available(state, new)
    if now_available > d.new_available:
        d.last_progress = state.now
    d.new_available = now_available
    done = new.replicas == d.replicas and available(state, new) == d.replicas and sum(rs.replicas for rs in olds) == 0
    if done and not d.complete:
        d.complete = True
        d.condition = "NewReplicaSetAvailable"
        state.emit(f"deployment-controller/{d.name}", f'deployment "{d.name}" successfully rolled out')
        return
    if done:
        return
    d.complete = False
    if d.condition != "ProgressDeadlineExceeded" and state.now - d.last_progress > d.progress_deadline:
        d.condition = "ProgressDeadlineExceeded"
        state.emit(f"deployment-controller/{d.name}", f'ReplicaSet "{new.name}" has timed out progressing.', warning=True)
    elif d.condition not in ("ProgressDeadlineExceeded", "ReplicaSetUpdated"):
        d.condition = "ReplicaSetUpdated"


# --- kubectl rolling-update (ReplicationController) ---------------------------------------
@dataclass
class RollingUpdater:
    """kubectl rolling-update OLD --image=… (maxSurge 1, maxUnavailable 0): scale NEW up,
    wait ``update_period``, scale OLD down as availability allows, until NEW has them all;
    then delete OLD and, with the single-name form, rename NEW to OLD."""

    old: Controller
    new: Controller
    desired: int
    period: int
    timeout: int
    keep_name: bool
    next_at: float
    phase: str = "up"
    deadline: float = 0.0
    done: bool = False
    failed: str | None = None
    surge: int = 1
    unavailable: int = 0

    def tick(self, state: State) -> None:
        if self.done or state.now < self.next_at:
            return
        src = f"kubectl rolling-update {self.old.name}"
        min_available = self.desired - self.unavailable
        if self.phase == "up":
            if self.new.replicas == self.desired and self.old.replicas == 0:
                self._finish(state, src)
                return
            before = (self.new.replicas, self.old.replicas)
            room = self.desired + self.surge - (self.old.replicas + self.new.replicas)
            inc = min(room, self.desired - self.new.replicas)
            if inc > 0:
                self.new.replicas += inc
                state.emit(src, f"Scaling {self.new.name} up to {self.new.replicas}")
            self._before = before
            self.phase = "down"
            self.next_at = state.now + self.period
            return
        # scaleDown: non-blocking, with what is available now
        if self.old.replicas > 0:
            new_avail = available(state, self.new)
            all_pods = self.old.replicas + self.new.replicas
            dec = min(all_pods - min_available - (self.new.replicas - new_avail), self.old.replicas)
            nxt = max(self.old.replicas - max(dec, 0), 0)
            state.emit(src, f"Scaling {self.old.name} down to {nxt}")
            self.old.replicas = nxt
        if (self.new.replicas, self.old.replicas) != self._before:
            self.deadline = state.now + self.timeout
        elif state.now > self.deadline:
            self.failed = "timed out waiting for any update progress to be made"
            self.done = True
            state.emit(src, f"error: {self.failed}", warning=True)
            return
        self.phase = "up"
        self.next_at = state.now
        if self.new.replicas == self.desired and self.old.replicas == 0:
            self._finish(state, src)

    _before: tuple[int, int] = (0, 0)

    def _finish(self, state: State, src: str) -> None:
        self.done = True
        state.emit(src, f"Update succeeded. Deleting old controller: {self.old.name}")
        for pod in state.owned(self.old.ref, self.old.namespace):  # a cascading delete of what is left
            delete_pod(state, pod, reason=src)
            pod.owner = None
        del state.controllers[("ReplicationController", self.old.namespace, self.old.name)]
        if self.keep_name:
            state.emit(src, f"Renaming {self.new.name} to {self.old.name}")
            del state.controllers[("ReplicationController", self.new.namespace, self.new.name)]
            old_ref = self.new.ref
            self.new.name = self.old.name
            state.controllers[("ReplicationController", self.new.namespace, self.new.name)] = self.new
            for pod in state.pods:  # orphaned by the old name, adopted by the renamed one
                if pod.owner == old_ref:
                    pod.owner = self.new.ref
        state.emit(src, f'replicationcontroller "{self.old.name if self.keep_name else self.new.name}" rolling updated')


def start_rolling_update(state: State, old: Controller, image: str, period: int, timeout: int,
                         next_name: str | None) -> RollingUpdater:
    """Create the next controller as kubectl does: a ``deployment`` label key telling old and
    new pods apart (the md5 of each template), name ``<old>-<hash>`` unless given."""
    new_template = replace(old.template, image=image)
    new_hash = hashlib.md5(template_digest(new_template).encode(), usedforsecurity=False).hexdigest()
    old_hash = hashlib.md5(template_digest(old.template).encode(), usedforsecurity=False).hexdigest()
    for pod in state.owned(old.ref, old.namespace):
        pod.labels["deployment"] = old_hash
    old.selector = {**old.selector, "deployment": old_hash}
    old.template = replace(old.template, labels=FrozenDict({**old.template.labels, "deployment": old_hash}))
    name = next_name or f"{old.name}-{new_hash}"
    labels = {**{k: v for k, v in old.template.labels.items()}, "deployment": new_hash}
    new = Controller("ReplicationController", name, old.namespace, 0, {**old.selector, "deployment": new_hash},
                     replace(new_template, labels=FrozenDict(labels)), old.node_selector, old.min_ready, created=state.now)
    state.controllers[("ReplicationController", old.namespace, name)] = new
    src = f"kubectl rolling-update {old.name}"
    desired = old.replicas
    state.emit(src, f"Created {name}")
    state.emit(src, f"Scaling up {name} from 0 to {desired}, scaling down {old.name} from {desired} to 0 "
                    f"(keep {desired} pods available, don't exceed {desired + 1} pods)")
    return RollingUpdater(old, new, desired, period, timeout, next_name is None, state.now, deadline=state.now + timeout)
