"""The simulated cluster's mutable state: pods with their lifecycle, the pod-making
controllers, nodes up or down, quotas, and the events each actor reports.

``kubelet.py`` moves pods, ``controllers.py`` moves controllers; ``snapshot`` freezes the
state into a ``Cluster`` for the endpoints controller, kube-proxy and DNS.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field, replace

from overlaynet.model import (
    Cluster,
    FrozenDict,
    IPAddress,
    LabelSelector,
    Pod,
    ResourceQuota,
    Service,
    Taint,
    Workload,
)
from overlaynet.scenario.spec import ProbeBehaviour

NODE_MONITOR_GRACE = 40  # kube-controller-manager --node-monitor-grace-period
EVICTION_TIMEOUT = 300  # the default not-ready/unreachable NoExecute toleration
UNREACHABLE = Taint("node.kubernetes.io/unreachable", "", "NoExecute")


def eviction_timeout(pod: Pod) -> int | None:
    """Seconds a pod stays on an unreachable node once the NoExecute taint is on it: its
    toleration's tolerationSeconds (None: it tolerates for ever, as a DaemonSet's pods do);
    without a matching toleration, the 300 s the DefaultTolerationSeconds admission plugin
    gives every pod."""
    matching = [t for t in pod.tolerations if t.tolerates(UNREACHABLE)]
    if not matching:
        return EVICTION_TIMEOUT
    if any(t.seconds is None for t in matching):
        return None
    return max(t.seconds or 0 for t in matching)


@dataclass
class ProbeState:
    successes: int = 0
    failures: int = 0
    next_at: float = 0.0
    passed: bool = False  # startup: succeeded once; readiness: last verdict


@dataclass
class SimPod:
    """One pod over time. ``template`` holds its spec (ports, probes, hooks, image)."""

    name: str
    namespace: str
    labels: dict[str, str]
    owner: str | None
    template: Pod
    node: str | None
    ip: IPAddress | None
    created: float
    index: int  # creation order among pods and services
    started: float | None = None  # the containers (re)started at
    post_start_until: float | None = None
    restart_at: float | None = None  # container down (liveness kill) until
    ready: bool = False
    ready_since: float | None = None
    restarts: int = 0
    probes: dict[str, ProbeState] = field(default_factory=dict)
    behaviour: dict[str, ProbeBehaviour] = field(default_factory=dict)
    deleted: float | None = None  # deletionTimestamp
    grace: int = 30
    gone_at: float | None = None  # when the kubelet finishes termination
    removed: float | None = None  # the object is gone from the API

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def terminating(self) -> bool:
        return self.deleted is not None

    def available(self, now: float, min_ready: int) -> bool:
        return self.ready and self.deleted is None and self.ready_since is not None and now - self.ready_since >= min_ready

    def freeze(self) -> Pod:
        return replace(self.template, name=self.name, namespace=self.namespace, labels=FrozenDict(self.labels),
                       node=self.node, ips=(self.ip,) if self.ip is not None else (), ready=self.ready,
                       phase="Running" if self.started is not None else "Pending", terminating=self.terminating,
                       owner=self.owner, creation_index=self.index, allocated=False)


@dataclass
class Controller:
    """A ReplicationController or ReplicaSet: keeps ``replicas`` pods matching ``selector``."""

    kind: str  # ReplicationController | ReplicaSet
    name: str
    namespace: str
    replicas: int
    selector: dict[str, str]
    template: Pod
    node_selector: FrozenDict[str, str]
    min_ready: int = 0
    owner: str | None = None  # "Deployment/name" for a ReplicaSet
    revision: int = 1
    template_hash: str = ""
    created: float = 0.0
    last_error: str | None = None
    failures: int = 0  # consecutive refused creations: the sync is retried with back-off
    retry_at: float = 0.0

    @property
    def ref(self) -> str:
        return f"{self.kind}/{self.name}"


@dataclass
class Deployment:
    name: str
    namespace: str
    replicas: int
    selector: LabelSelector
    template: Pod
    node_selector: FrozenDict[str, str]
    min_ready: int
    strategy: str
    max_surge: int | str
    max_unavailable: int | str
    progress_deadline: int
    revision: int = 1
    last_progress: float = 0.0
    new_available: int = 0  # the new ReplicaSet's available pods at the last sync
    condition: str = "NewReplicaSetAvailable"
    complete: bool = True


@dataclass
class Event:
    time: float
    source: str
    message: str
    warning: bool = False

    def to_dict(self) -> dict[str, object]:
        return {"time": self.time, "source": self.source, "message": self.message, "type": "Warning" if self.warning else "Normal"}


@dataclass
class State:
    """Everything that moves, plus the frozen base cluster (nodes, ranges, services)."""

    base: Cluster
    now: float = 0.0
    pods: list[SimPod] = field(default_factory=list)
    controllers: dict[tuple[str, str, str], Controller] = field(default_factory=dict)  # (kind, ns, name)
    deployments: dict[tuple[str, str], Deployment] = field(default_factory=dict)
    services: list[Service] = field(default_factory=list)
    quotas: list[ResourceQuota] = field(default_factory=list)
    down_since: dict[str, float] = field(default_factory=dict)  # node -> when its kubelet stopped
    ip_cursor: dict[str, int] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    counter: int = 0  # names and creation order of new objects
    seed: int = 0
    pod_start: int = 1

    # --- queries ----------------------------------------------------------------------
    def live_pods(self) -> list[SimPod]:
        return [p for p in self.pods if p.removed is None]

    def owned(self, ref: str, namespace: str) -> list[SimPod]:
        return [p for p in self.pods if p.removed is None and p.owner == ref and p.namespace == namespace]

    def node_ready(self, node: str) -> bool:
        """The API's view: NotReady once the node monitor grace period has passed."""
        since = self.down_since.get(node)
        return since is None or self.now - since < NODE_MONITOR_GRACE

    def kubelet_up(self, node: str | None) -> bool:
        return node is not None and node not in self.down_since

    def emit(self, source: str, message: str, *, warning: bool = False, dedupe: bool = False) -> None:
        if dedupe and any(e.source == source and e.message == message for e in self.events):
            return
        self.events.append(Event(self.now, source, message, warning))

    def next_index(self) -> int:
        self.counter += 1
        return 1_000_000 + self.counter

    # --- freezing -----------------------------------------------------------------------
    def snapshot(self) -> Cluster:
        """The cluster as the API server holds it now, EndpointSlices recomputed."""
        from overlaynet.topology.controllers import reconcile_endpoints

        workloads = [Workload(c.kind, c.name, c.namespace, c.replicas, LabelSelector(FrozenDict(c.selector)),  # type: ignore[arg-type]
                              c.template.labels, c.template, c.node_selector, c.min_ready)
                     for c in self.controllers.values()]
        workloads += [Workload("Deployment", d.name, d.namespace, d.replicas, d.selector, d.template.labels, d.template,
                               d.node_selector, d.min_ready, d.strategy, d.max_surge, d.max_unavailable, d.progress_deadline)  # type: ignore[arg-type]
                      for d in self.deployments.values()]
        namespaces = list(self.base.namespaces)
        known = {n.name for n in namespaces}
        for ns in sorted({p.namespace for p in self.pods} | {s.namespace for s in self.services}):
            if ns not in known:
                from overlaynet.model import Namespace

                namespaces.append(Namespace(ns, FrozenDict({"kubernetes.io/metadata.name": ns})))
        cluster = replace(self.base, pods=tuple(p.freeze() for p in self.live_pods()), services=tuple(self.services),
                          workloads=tuple(workloads), resource_quotas=tuple(self.quotas), namespaces=tuple(namespaces))
        return reconcile_endpoints(cluster)

    # --- IPAM ---------------------------------------------------------------------------
    def allocate_ip(self, node: str) -> IPAddress | None:
        """host-local IPAM: the next free address after the last one handed out on the node
        (it goes round the range before reusing an address)."""
        spec = next((n for n in self.base.nodes if n.name == node), None)
        cidr = next((c for c in spec.pod_cidrs if c.version == 4), None) if spec else None
        if cidr is None:
            return None
        used = {p.ip for p in self.pods if p.removed is None and p.ip is not None}
        size = cidr.num_addresses
        start = self.ip_cursor.get(node, 1)
        for step in range(1, size):
            offset = (start + step - 2) % (size - 3) + 2  # .2 … broadcast-1 (.1 is the gateway)
            ip = cidr.network_address + offset
            if ip not in used:
                self.ip_cursor[node] = offset
                return ipaddress.ip_address(ip)
        return None
