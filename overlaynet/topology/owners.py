"""Which workload of the files owns each Pod the files give, as the workload controllers'
``ClaimPods`` decides it (pkg/controller/controller_ref_manager.go): a pod whose ControllerRef
(the ownerReference with ``controller: true``) names a workload in the files belongs to it
while its labels match the workload's selector; a pod without a ControllerRef is adopted by a
workload one of its ownerReferences names, on the same condition. The owner's replicas count
these pods (``assemble._expand_workloads`` makes only the missing ones).

A ControllerRef to an object not in the files (a partial dump: the ReplicaSet left out, a
Job) is kept as written in ``Pod.owner``, without a warning. A Deployment's pods name its
ReplicaSet ``<deployment>-<pod-template-hash>``; when only the Deployment is in the files,
the pods are the Deployment's (the model's pods of a Deployment have it as their owner).
"""

from __future__ import annotations

from overlaynet.model import Pod
from overlaynet.model.base import evolve
from overlaynet.topology.fields import Ctx, Where
from overlaynet.topology.parsed import OwnerRef, Parsed, WorkloadEntry

WorkloadKey = tuple[str, str, str]  # (namespace, kind, name)


def _where(ref: OwnerRef, pod: Pod, ctx: Ctx) -> Where:
    src = ref.where or pod.source
    return Where(src.file, src.line, src.column, "metadata.ownerReferences") if src else Where(ctx.file, 1, 1, "")


def _target(ref: OwnerRef, pod: Pod, workloads: dict[WorkloadKey, WorkloadEntry]) -> tuple[WorkloadEntry, bool] | None:
    """The workload ``ref`` names in the pod's namespace, and whether it is that very object
    (False: the Deployment of a ReplicaSet the files leave out)."""
    found = workloads.get((pod.namespace, ref.kind, ref.name))
    if found is not None:
        return found, True
    rs_hash = pod.labels.get("pod-template-hash")
    if ref.kind == "ReplicaSet" and rs_hash and ref.name.endswith(f"-{rs_hash}"):
        deployment = workloads.get((pod.namespace, "Deployment", ref.name[: -len(rs_hash) - 1]))
        if deployment is not None:
            return deployment, False
    return None


def adopt(ctx: Ctx, parsed: Parsed) -> dict[WorkloadKey, list[Pod]]:
    """Set ``owner`` on the files' pods that have one; returns each workload's adopted pods."""
    workloads: dict[WorkloadKey, WorkloadEntry] = {(w.workload.namespace, w.workload.kind, w.workload.name): w for w in parsed.workloads}
    adopted: dict[WorkloadKey, list[Pod]] = {}
    for entry in parsed.pods:
        if not entry.owner_refs:
            continue
        pod = entry.pod
        controller = next((r for r in entry.owner_refs if r.controller), None)
        owner: str | None = None
        candidates = [controller] if controller is not None else list(entry.owner_refs)
        for ref in candidates:
            found = _target(ref, pod, workloads)
            if found is None:
                if ref is controller:
                    owner = f"{ref.kind}/{ref.name}"  # dangling, as in a partial dump
                continue
            target, exact = found
            wl = target.workload
            if exact and ref.uid and target.uid and ref.uid != target.uid:
                ctx.warn(_where(ref, pod, ctx), f"ownerReference to {ref.kind}/{ref.name} has uid {ref.uid}, the {ref.kind} in the files "
                         f"has uid {target.uid}: pod {pod.key} is not counted as its (its owner was deleted and made again)")
                continue
            if not wl.selector.matches(pod.labels):
                ctx.warn(_where(ref, pod, ctx), f"pod {pod.key} names {ref.kind}/{ref.name} as its owner but its labels {dict(pod.labels)} "
                         f"do not match the selector {wl.selector}: the {wl.kind} releases it and does not count it")
                continue
            owner = f"{wl.kind}/{wl.name}"
            adopted.setdefault((wl.namespace, wl.kind, wl.name), []).append(evolve(pod, owner=owner))
            break
        if owner is not None:
            entry.pod = evolve(pod, owner=owner)
    return adopted

