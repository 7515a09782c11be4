"""The kubelet of every node, one simulated second at a time: start containers, run
postStart, probe (startup, readiness, liveness), restart with back-off, terminate with
preStop and the grace period. Pods on a node whose kubelet is down do not move.
"""

from __future__ import annotations

from overlaynet.model import Probe
from overlaynet.scenario.spec import ProbeBehaviour
from overlaynet.scenario.state import (
    NODE_MONITOR_GRACE,
    ProbeState,
    SimPod,
    State,
    eviction_timeout,
)

BACKOFF_START = 10  # CrashLoopBackOff: 10 s, doubling
BACKOFF_MAX = 300


def backoff(restarts: int) -> int:
    """Seconds the kubelet waits before restart number ``restarts`` (the first is at once)."""
    if restarts <= 1:
        return 0
    return min(BACKOFF_START * 2 ** (restarts - 2), BACKOFF_MAX)


def probe_passes(probe: Probe, behaviour: ProbeBehaviour | None) -> tuple[bool, str]:
    """One probe run: (healthy, why). httpGet is healthy for 200–399, tcpSocket when the
    connection opens, exec on exit code 0; an answer slower than timeoutSeconds fails."""
    if behaviour is None:
        return True, "ok"
    if behaviour.response_seconds is not None:
        if behaviour.response_seconds > probe.timeout_seconds:
            return False, f"timeout: no answer within {probe.timeout_seconds}s"
        return True, "ok"
    if behaviour.http_status is not None:
        ok = 200 <= behaviour.http_status < 400
        return ok, "ok" if ok else f"HTTP probe failed with statuscode: {behaviour.http_status}"
    if behaviour.exit_code is not None:
        ok = behaviour.exit_code == 0
        return ok, "ok" if ok else f"command exited with {behaviour.exit_code}"
    if behaviour.refused:
        port = probe.port if probe.port is not None else "?"
        return False, f"dial tcp :{port}: connect: connection refused"
    return behaviour.healthy, "ok" if behaviour.healthy else "probe failed"


def _pod_ref(pod: SimPod) -> str:
    return f"kubelet/{pod.node}"


class Kubelet:
    def __init__(self, state: State) -> None:
        self.state = state

    def tick(self) -> None:
        st = self.state
        for pod in st.live_pods():
            if pod.node is None:
                continue
            if not st.kubelet_up(pod.node):
                self._node_lost(pod)
                continue
            if pod.deleted is not None and pod.gone_at is None:
                # the kubelet was away when the pod was deleted: it kills it on return
                pod.gone_at = st.now
            if pod.gone_at is not None and st.now >= pod.gone_at:
                pod.removed = st.now
                st.emit(_pod_ref(pod), f"pod {pod.name} terminated and removed")
                continue
            self._lifecycle(pod)

    def _node_lost(self, pod: SimPod) -> None:
        """The node lifecycle controller: NotReady after the grace period marks the pod not
        ready; the NoExecute taint evicts it after the toleration (it stays terminating
        until the kubelet comes back)."""
        st = self.state
        since = st.down_since[pod.node or ""]
        if st.now - since >= NODE_MONITOR_GRACE and pod.ready:
            pod.ready = False
            pod.ready_since = None
            st.emit("node-controller", f"node {pod.node} NotReady: marked pod {pod.name} not ready")
        tolerated = eviction_timeout(pod.template)
        if tolerated is not None and st.now - since >= NODE_MONITOR_GRACE + tolerated and pod.deleted is None:
            pod.deleted = st.now
            st.emit("taint-eviction-controller", f"Marking for deletion Pod {pod.key} (node {pod.node} unreachable for {tolerated}s)")

    def _lifecycle(self, pod: SimPod) -> None:
        st = self.state
        now = st.now
        spec = pod.template
        if pod.restart_at is not None:
            if now < pod.restart_at:
                return
            pod.restart_at = None
            self._start(pod, f"Started container (restart {pod.restarts})")
            return
        if pod.started is None:
            if now >= pod.created + st.pod_start:
                self._start(pod, "Started container")
            return
        if pod.post_start_until is not None:
            if now < pod.post_start_until:
                return
            pod.post_start_until = None
            st.emit(_pod_ref(pod), f"pod {pod.name}: postStart hook completed")
        if spec.startup_probe is not None and not pod.probes.setdefault("startup", ProbeState(next_at=now + spec.startup_probe.initial_delay_seconds)).passed:
            self._run("startup", spec.startup_probe, pod)
            return
        if spec.liveness_probe is not None:
            self._run("liveness", spec.liveness_probe, pod)
            if pod.restart_at is not None:
                return
        if spec.readiness_probe is not None:
            self._run("readiness", spec.readiness_probe, pod)
        elif not pod.ready:
            self._set_ready(pod, True, "containers started")

    def _start(self, pod: SimPod, message: str) -> None:
        st = self.state
        pod.started = st.now
        pod.probes = {}
        st.emit(_pod_ref(pod), f"pod {pod.name}: {message}")
        hook = pod.template.post_start
        if hook is not None:
            pod.post_start_until = st.now + hook.seconds
            if hook.seconds == 0:
                pod.post_start_until = None
                st.emit(_pod_ref(pod), f"pod {pod.name}: postStart hook completed")

    def _run(self, kind: str, probe: Probe, pod: SimPod) -> None:
        st = self.state
        ps = pod.probes.setdefault(kind, ProbeState(next_at=st.now + probe.initial_delay_seconds))
        if st.now < ps.next_at:
            return
        ps.next_at = st.now + probe.period_seconds
        ok, why = probe_passes(probe, pod.behaviour.get(kind))
        if ok:
            ps.successes += 1
            ps.failures = 0
        else:
            ps.failures += 1
            ps.successes = 0
            if ps.failures <= probe.failure_threshold:  # later failures change nothing (Events aggregate them)
                st.emit(_pod_ref(pod), f"pod {pod.name}: {kind.capitalize()} probe failed ({ps.failures}/{probe.failure_threshold}): {why}", warning=True)
        if kind == "startup":
            if ok:
                ps.passed = True
            elif ps.failures >= probe.failure_threshold:
                self._restart(pod, "startup probe failed")
        elif kind == "liveness":
            if not ok and ps.failures >= probe.failure_threshold:
                self._restart(pod, "failed liveness probe, will be restarted")
        else:
            if ok and ps.successes >= probe.success_threshold and not pod.ready:
                self._set_ready(pod, True, f"readiness probe succeeded {ps.successes}×")
            elif not ok and ps.failures >= probe.failure_threshold and pod.ready:
                self._set_ready(pod, False, f"readiness probe failed {ps.failures}× (failureThreshold {probe.failure_threshold})")

    def _set_ready(self, pod: SimPod, ready: bool, why: str) -> None:
        pod.ready = ready
        pod.ready_since = self.state.now if ready else None
        self.state.emit(_pod_ref(pod), f"pod {pod.name} {'Ready' if ready else 'not Ready'}: {why}")

    def _restart(self, pod: SimPod, why: str) -> None:
        st = self.state
        if pod.deleted is not None:
            return
        pod.restarts += 1
        hook = pod.template.pre_stop
        stop = min(hook.seconds if hook else 0, pod.template.termination_grace_period_seconds)
        wait = backoff(pod.restarts)
        pod.restart_at = st.now + stop + wait
        pod.started = None
        pod.probes = {}
        if pod.ready:
            pod.ready = False
            pod.ready_since = None
        extra = f", back-off {wait}s" if wait else ""
        st.emit(_pod_ref(pod), f"pod {pod.name}: container {why} (restart count {pod.restarts}{extra})", warning=True)


def delete_pod(state: State, pod: SimPod, grace: int | None = None, reason: str = "") -> None:
    """Graceful deletion: terminating now; preStop runs (capped by the grace period), then
    SIGTERM ends the container; the kubelet removes the pod when both are done."""
    if pod.deleted is not None:
        return
    pod.deleted = state.now
    pod.grace = pod.template.termination_grace_period_seconds if grace is None else grace
    hook = pod.template.pre_stop
    stop = min(hook.seconds if hook else 0, pod.grace)
    if state.kubelet_up(pod.node) and pod.node is not None:
        pod.gone_at = state.now + max(stop, 1 if pod.grace else 0)
    if pod.node is None or pod.started is None and pod.restart_at is None:
        pod.gone_at = state.now  # never ran: nothing to stop
    hook_note = f", preStop {stop}s" if hook else ""
    state.emit(reason or "api", f"deleting pod {pod.name} (grace {pod.grace}s{hook_note})")
