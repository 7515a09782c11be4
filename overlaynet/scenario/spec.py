"""A scenario as read from its file: timed steps over a topology (inert, typed values).

``reader.py`` builds these from YAML; ``engine.py`` runs them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from overlaynet.model import FrozenDict, IPNetwork, Labels, Source
from overlaynet.topology.parsed import Parsed

WorkloadKind = Literal["ReplicationController", "ReplicaSet", "Deployment"]
KIND_ALIASES: dict[str, WorkloadKind] = {
    "ReplicationController": "ReplicationController", "rc": "ReplicationController",
    "ReplicaSet": "ReplicaSet", "rs": "ReplicaSet", "Deployment": "Deployment", "deployment": "Deployment",
}


@dataclass(frozen=True, slots=True)
class Target:
    """A workload named by kind and name (``rc/node-js``)."""

    kind: WorkloadKind
    name: str
    namespace: str = "default"

    def __str__(self) -> str:
        return f"{self.kind}/{self.namespace}/{self.name}"


@dataclass(frozen=True, slots=True)
class PodSelection:
    """Pods named (``ns/name``) or chosen by labels in a namespace; ``count`` limits a label
    choice to the first N pods by name."""

    namespace: str = "default"
    name: str | None = None
    labels: Labels = field(default_factory=FrozenDict)
    count: int | None = None

    def __str__(self) -> str:
        if self.name is not None:
            return f"{self.namespace}/{self.name}"
        what = ",".join(f"{k}={v}" for k, v in self.labels.items()) or "all pods"
        return f"{what} in {self.namespace}" + (f" (first {self.count})" if self.count else "")


@dataclass(frozen=True, slots=True)
class Scale:
    target: Target
    replicas: int


@dataclass(frozen=True, slots=True)
class SetImage:
    target: Target
    image: str


@dataclass(frozen=True, slots=True)
class RollingUpdate:
    """``kubectl rolling-update`` of an RC (``update_period``, a next controller named as
    kubectl names it), or a Deployment rollout with its RollingUpdate parameters."""

    target: Target
    image: str
    update_period: int = 60
    timeout: int = 300
    next_name: str | None = None
    max_surge: int | str | None = None
    max_unavailable: int | str | None = None


@dataclass(frozen=True, slots=True)
class ProbeBehaviour:
    """How a container answers its probes from now on: healthy, or failing in the way the
    probe kind sees it (HTTP status, refused connection, exit code, a slow answer)."""

    probe: Literal["readiness", "liveness", "startup"]
    pods: PodSelection
    healthy: bool
    http_status: int | None = None
    exit_code: int | None = None
    refused: bool = False
    response_seconds: float | None = None

    def describe(self) -> str:
        if self.http_status is not None:
            return f"HTTP {self.http_status}"
        if self.exit_code is not None:
            return f"exit code {self.exit_code}"
        if self.refused:
            return "connection refused"
        if self.response_seconds is not None:
            return f"answers after {self.response_seconds:g}s"
        return "succeeds" if self.healthy else "fails"


@dataclass(frozen=True, slots=True)
class DeletePod:
    pods: PodSelection
    grace_period: int | None = None


@dataclass(frozen=True, slots=True)
class NodeChange:
    node: str
    up: bool


@dataclass(frozen=True, slots=True)
class Apply:
    parsed: Parsed = field(compare=False)
    summary: str = ""


@dataclass(frozen=True, slots=True)
class Wait:
    seconds: int


Action = Scale | SetImage | RollingUpdate | ProbeBehaviour | DeletePod | NodeChange | Apply | Wait


@dataclass(frozen=True, slots=True)
class Step:
    """One step: an action at ``at`` seconds (or when the previous step ends), then the
    cluster runs ``duration`` seconds, or until it settles (nothing changes for ``settle``
    seconds) within ``timeout``."""

    index: int
    name: str
    action: Action
    at: int | None = None
    duration: int | None = None
    timeout: int = 900
    source: Source | None = field(default=None, compare=False)

    @property
    def kind(self) -> str:
        return type(self.action).__name__


@dataclass(frozen=True, slots=True)
class Clients:
    """Sample clients that open connections to each watched Service at every frame."""

    count: int = 6
    cidr: IPNetwork | None = None  # default 198.51.100.0/24 (TEST-NET-2)
    node: str | None = None  # whose kube-proxy rules they hit (default: the first node)


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    steps: tuple[Step, ...]
    seed: int = 0
    services: tuple[str, ...] = ()  # "ns/name" to watch; empty: every Service with a selector
    version_label: str | None = None  # group traffic by this pod label (default: "version", else the image)
    clients: Clients = Clients()
    settle: int = 60
    pod_start_seconds: int = 1
    source: Source | None = field(default=None, compare=False)
