"""Namespaces, pods, the controllers that make pods (RC, ReplicaSet, Deployment) and quotas."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from overlaynet.model.base import EMPTY_LABELS, FrozenDict, IPAddress, Labels, LabelSelector, Source

Protocol = Literal["TCP", "UDP", "SCTP"]


@dataclass(frozen=True, slots=True)
class Namespace:
    name: str
    labels: Labels = EMPTY_LABELS
    source: Source | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class ContainerPort:
    port: int
    protocol: Protocol = "TCP"
    name: str | None = None
    host_port: int | None = None


@dataclass(frozen=True, slots=True)
class Probe:
    """A startup, readiness or liveness probe with the kubelet's defaults. A loaded pod's
    readiness is ``Pod.ready``; the scenario's kubelet runs the probe over time."""

    kind: Literal["httpGet", "tcpSocket", "exec", "grpc"]
    port: int | str | None = None
    path: str | None = None
    initial_delay_seconds: int = 0
    period_seconds: int = 10
    timeout_seconds: int = 1
    success_threshold: int = 1
    failure_threshold: int = 3
    command: tuple[str, ...] = field(default=(), compare=False)  # exec (render writes ["true"] when empty)


@dataclass(frozen=True, slots=True)
class Hook:
    """A postStart or preStop handler. ``seconds`` is how long it runs when the handler says
    so (``sleep: {seconds: N}``, or an exec of ``sleep N``); otherwise it returns at once."""

    kind: Literal["exec", "httpGet", "tcpSocket", "sleep"]
    seconds: int = 0
    command: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PodDNSConfig:
    """``spec.dnsConfig``: nameservers and searches added to (or, with dnsPolicy None,
    making up) the pod's resolv.conf; ``ndots`` from its options."""

    nameservers: tuple[str, ...] = ()
    searches: tuple[str, ...] = ()
    ndots: int | None = None


DNSPolicy = Literal["ClusterFirst", "ClusterFirstWithHostNet", "Default", "None"]
TaintEffect = Literal["NoSchedule", "PreferNoSchedule", "NoExecute"]


@dataclass(frozen=True, slots=True)
class Taint:
    """A node's ``spec.taints`` entry: it repels pods that do not tolerate it (NoSchedule,
    NoExecute) or that the scheduler prefers to keep away (PreferNoSchedule)."""

    key: str
    value: str = ""
    effect: TaintEffect = "NoSchedule"

    def __str__(self) -> str:
        return f"{self.key}={self.value}:{self.effect}" if self.value else f"{self.key}:{self.effect}"


@dataclass(frozen=True, slots=True)
class Toleration:
    """A pod's ``spec.tolerations`` entry. An empty ``key`` (with operator Exists) matches
    every key, an empty ``effect`` every effect; ``seconds`` (tolerationSeconds, NoExecute
    only) bounds how long the pod stays on a node after the taint appears (None: forever)."""

    key: str = ""
    operator: Literal["Equal", "Exists"] = "Equal"
    value: str = ""
    effect: Literal["", "NoSchedule", "PreferNoSchedule", "NoExecute"] = ""
    seconds: int | None = None

    def tolerates(self, taint: Taint) -> bool:
        """Toleration.ToleratesTaint of k8s.io/api/core/v1/toleration.go."""
        if self.effect and self.effect != taint.effect:
            return False
        if self.key and self.key != taint.key:
            return False
        return self.operator == "Exists" or self.value == taint.value


@dataclass(frozen=True, slots=True)
class Pod:
    """A pod: one IP per family, on one node, with labels, ports and readiness.

    ``creation_index`` orders pods and services by creation (creationTimestamp, else file
    order); environment-variable discovery depends on it.
    """

    name: str
    namespace: str = "default"
    labels: Labels = EMPTY_LABELS
    node: str | None = None
    ips: tuple[IPAddress, ...] = ()
    ports: tuple[ContainerPort, ...] = ()
    ready: bool = True
    phase: str = "Running"
    terminating: bool = False
    hostname: str | None = None
    subdomain: str | None = None
    host_network: bool = False
    owner: str | None = None  # "ReplicationController/name" etc.
    readiness_probe: Probe | None = None
    liveness_probe: Probe | None = None
    creation_index: int = 0
    creation_timestamp: str | None = None
    allocated: bool = False  # True when IPAM chose ``ips`` (the file gave none): drivers may re-allocate
    enable_service_links: bool = True
    dns_policy: DNSPolicy = "ClusterFirst"
    dns_config: PodDNSConfig | None = None
    image: str | None = field(default=None, compare=False)  # the first container's (render writes a pause image when None)
    startup_probe: Probe | None = None
    post_start: Hook | None = None
    pre_stop: Hook | None = None
    termination_grace_period_seconds: int = 30
    tolerations: tuple[Toleration, ...] = ()
    source: Source | None = field(default=None, compare=False)

    @property
    def ip(self) -> IPAddress | None:
        return self.ips[0] if self.ips else None

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    def port_named(self, name: str, protocol: str = "TCP") -> int | None:
        for p in self.ports:
            if p.name == name and p.protocol == protocol:
                return p.port
        return None


@dataclass(frozen=True, slots=True)
class Workload:
    """A pod-making controller as written in the file: ReplicationController, ReplicaSet,
    Deployment, StatefulSet or DaemonSet. Its pods are expanded into ``Cluster.pods`` with
    stable names (a StatefulSet's ``<name>-<ordinal>``; a DaemonSet's one per fitting node,
    whose count ``replicas`` does not hold: it is 0 for a DaemonSet)."""

    kind: Literal["ReplicationController", "ReplicaSet", "Deployment", "StatefulSet", "DaemonSet"]
    name: str
    namespace: str
    replicas: int
    selector: LabelSelector
    template_labels: Labels = EMPTY_LABELS
    #: the pod template (name ""): what a controller creates; its nodeSelector apart
    template: Pod | None = field(default=None, compare=False)
    node_selector: Labels = EMPTY_LABELS
    min_ready_seconds: int = 0
    strategy: Literal["RollingUpdate", "Recreate"] = "RollingUpdate"  # Deployment only
    max_surge: int | str = "25%"  # Deployment RollingUpdate: a number or "N%"
    max_unavailable: int | str = "25%"
    progress_deadline_seconds: int = 600
    source: Source | None = field(default=None, compare=False)
    #: StatefulSet: the governing (headless) Service its pods' DNS names live under
    service_name: str | None = None
    #: StatefulSet: the first ordinal (spec.ordinals.start)
    first_ordinal: int = 0


@dataclass(frozen=True, slots=True)
class ResourceQuota:
    name: str
    namespace: str
    hard: FrozenDict[str, str] = field(default_factory=FrozenDict)
    source: Source | None = field(default=None, compare=False)
