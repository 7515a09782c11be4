"""An ``apply`` step: objects read by the topology's readers join the running cluster as
the API server would take them (new Services get addresses from its allocators; a changed
Deployment template starts a rollout; a changed RC/ReplicaSet template affects new pods)."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from overlaynet.errors import AddressExhausted, TopologyError
from overlaynet.scenario.controllers import place
from overlaynet.scenario.spec import Apply, Step
from overlaynet.scenario.state import Controller, Deployment, SimPod
from overlaynet.topology.controllers import allocate_service_addresses

if TYPE_CHECKING:
    from overlaynet.scenario.engine import Engine


def apply_parsed(engine: Engine, step: Step, act: Apply) -> None:
    from overlaynet.scenario.engine import _error

    st = engine.state
    src = f"step {step.index}"
    parsed = act.parsed
    first_family = "IPv4" if not st.base.service_cidrs or st.base.service_cidrs[0].version == 4 else "IPv6"
    for entry in parsed.services:
        svc = replace(entry.service, creation_index=st.next_index())
        if not svc.ip_families and svc.type != "ExternalName":  # SingleStack in the cluster's first family
            fams = tuple(dict.fromkeys("IPv4" if ip.version == 4 else "IPv6" for ip in svc.cluster_ips)) or (first_family,)
            svc = replace(svc, ip_families=fams)  # type: ignore[arg-type]
        old = next((s for s in st.services if s.key == svc.key), None)
        if old is not None:  # an update keeps the allocated addresses
            svc = replace(svc, cluster_ips=svc.cluster_ips or old.cluster_ips, creation_index=old.creation_index)
            st.services = [svc if s.key == svc.key else s for s in st.services]
        else:
            st.services.append(svc)
        st.emit(src, f"service/{svc.name} {'configured' if old else 'created'}")
    try:
        allocated = allocate_service_addresses(replace(st.base, services=tuple(st.services)))
    except (TopologyError, AddressExhausted) as exc:
        raise _error(step, f"expected the applied services to get addresses, found: {exc}") from exc
    st.services = list(allocated.services)
    for q in parsed.resource_quotas:
        st.quotas = [x for x in st.quotas if (x.namespace, x.name) != (q.namespace, q.name)] + [q]
        st.emit(src, f"resourcequota/{q.name} applied (hard: {', '.join(f'{k}={v}' for k, v in q.hard.items())})")
    for w in parsed.workloads:
        wl = w.workload
        template = wl.template or w.template
        if wl.kind == "Deployment":
            d = st.deployments.get((wl.namespace, wl.name))
            if d is None:
                st.deployments[(wl.namespace, wl.name)] = Deployment(
                    wl.name, wl.namespace, wl.replicas, wl.selector, template, wl.node_selector, wl.min_ready_seconds,
                    wl.strategy, wl.max_surge, wl.max_unavailable, wl.progress_deadline_seconds, last_progress=st.now, complete=False)
                st.emit(src, f"deployment/{wl.name} created")
                continue
            d.replicas, d.min_ready, d.strategy = wl.replicas, wl.min_ready_seconds, wl.strategy
            d.max_surge, d.max_unavailable, d.progress_deadline = wl.max_surge, wl.max_unavailable, wl.progress_deadline_seconds
            if d.template.image != template.image or d.template.labels != template.labels:
                d.template = template
                d.revision += 1
                d.complete = False
                d.last_progress = st.now
            st.emit(src, f"deployment/{wl.name} configured")
            continue
        key = (wl.kind, wl.namespace, wl.name)
        ctrl = st.controllers.get(key)
        if ctrl is None:
            st.controllers[key] = Controller(wl.kind, wl.name, wl.namespace, wl.replicas, dict(wl.selector.match_labels),
                                             template, wl.node_selector, wl.min_ready_seconds, created=st.now)
            st.emit(src, f"{wl.kind.lower()}/{wl.name} created")
        else:
            ctrl.replicas, ctrl.template, ctrl.min_ready = wl.replicas, template, wl.min_ready_seconds
            st.emit(src, f"{wl.kind.lower()}/{wl.name} configured")
    for e in parsed.pods:
        pod = e.pod
        if any(p.namespace == pod.namespace and p.name == pod.name for p in st.live_pods()):
            raise _error(step, f"expected a new pod name, found existing pod {pod.key}")
        sim = SimPod(pod.name, pod.namespace, dict(pod.labels), None, pod, pod.node, None, st.now, st.next_index(),
                     grace=pod.termination_grace_period_seconds)
        st.pods.append(sim)
        if sim.node is None:
            place(st, [sim], e.node_selector)
        else:
            sim.ip = st.allocate_ip(sim.node)
        st.emit(src, f"pod/{pod.name} created on {sim.node}")
    if parsed.network_policies or parsed.endpoint_slices:
        st.base = replace(st.base, network_policies=(*st.base.network_policies, *parsed.network_policies),
                          endpoint_slices=(*st.base.endpoint_slices, *parsed.endpoint_slices))
