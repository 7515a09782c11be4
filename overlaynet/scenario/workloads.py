"""Per-workload counts at one moment, as ``kubectl get`` shows them, plus a Deployment's
rollout bounds (replicas − maxUnavailable ≤ available, total ≤ replicas + maxSurge)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from overlaynet.scenario.controllers import available, fenceposts, replica_sets
from overlaynet.scenario.state import State


@dataclass(frozen=True)
class WorkloadView:
    kind: str
    name: str
    namespace: str
    desired: int
    current: int  # pods not terminating
    ready: int
    available: int
    terminating: int
    min_available: int | None = None  # Deployments: replicas − maxUnavailable
    max_total: int | None = None  # Deployments: replicas + maxSurge
    condition: str | None = None
    owner: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


def workload_views(state: State) -> list[WorkloadView]:
    out: list[WorkloadView] = []
    for d in sorted(state.deployments.values(), key=lambda d: (d.namespace, d.name)):
        surge, unavailable = fenceposts(d.max_surge, d.max_unavailable, d.replicas)
        pods = [p for rs in replica_sets(state, d) for p in state.owned(rs.ref, rs.namespace)]
        active = [p for p in pods if p.deleted is None]
        rolling = d.strategy == "RollingUpdate"
        out.append(WorkloadView("Deployment", d.name, d.namespace, d.replicas, len(active), sum(p.ready for p in active),
                                sum(available(state, rs) for rs in replica_sets(state, d)), len(pods) - len(active),
                                min_available=d.replicas - unavailable if rolling else None,
                                max_total=d.replicas + surge if rolling else None, condition=d.condition))
    for c in sorted(state.controllers.values(), key=lambda c: (c.namespace, c.created, c.name)):
        pods = state.owned(c.ref, c.namespace)
        active = [p for p in pods if p.deleted is None]
        out.append(WorkloadView(c.kind, c.name, c.namespace, c.replicas, len(active), sum(p.ready for p in active),
                                available(state, c), len(pods) - len(active), owner=c.owner))
    return out
