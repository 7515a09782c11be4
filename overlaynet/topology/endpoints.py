"""The EndpointSlice controller: Services with selectors → EndpointSlices from the pods they
select, with ready/serving/terminating as the real reconciler sets them. Pure; see
``controllers.py`` for the other controllers.
"""

from __future__ import annotations

import operator
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import replace

from overlaynet.model import (
    Cluster,
    Endpoint,
    EndpointPort,
    EndpointSlice,
    IPAddress,
    ObjectRef,
    Pod,
    Service,
)
from overlaynet.topology.naming import slice_name

MAX_ENDPOINTS_PER_SLICE = 100  # kube-controller-manager --max-endpoints-per-slice default
CONTROLLER = "endpointslice-controller.k8s.io"
MIRRORING = "endpointslicemirroring-controller.k8s.io"
ZONE_LABEL = "topology.kubernetes.io/zone"


def _family(addr: IPAddress) -> str:
    return "IPv4" if addr.version == 4 else "IPv6"


def _service_families(svc: Service) -> tuple[str, ...]:
    if svc.ip_families:
        return tuple(svc.ip_families)
    if svc.cluster_ips:
        return tuple(dict.fromkeys(_family(i) for i in svc.cluster_ips))
    return ("IPv4",)


def _pod_endpoint(svc: Service, pod: Pod, addr: IPAddress, zones: Mapping[str, str | None]) -> Endpoint:
    # Mirrors podToEndpoint in the EndpointSlice reconciler.
    serving = svc.publish_not_ready_addresses or pod.ready
    ready = svc.publish_not_ready_addresses or (serving and not pod.terminating)
    hostname = pod.hostname if pod.hostname and pod.subdomain == svc.name else None
    return Endpoint(
        addresses=(addr,),
        ready=ready,
        serving=serving,
        terminating=pod.terminating,
        node_name=pod.node,
        hostname=hostname,
        target_ref=ObjectRef("Pod", pod.name, pod.namespace),
        zone=zones.get(pod.node) if pod.node else None,
    )


def _endpoint_ports(svc: Service, pod: Pod) -> tuple[EndpointPort, ...]:
    ports: list[EndpointPort] = []
    for sp in svc.ports:
        target = sp.target_port if sp.target_port is not None else sp.port
        if isinstance(target, str):
            number = pod.port_named(target, sp.protocol)
            if number is None:
                continue  # the controller skips a port the pod does not name
        else:
            number = target
        ports.append(EndpointPort(number, sp.protocol, sp.name or "", sp.app_protocol))
    return tuple(ports)


def _slices_for(svc: Service, pods: Iterable[Pod], zones: Mapping[str, str | None]) -> list[EndpointSlice]:
    groups: dict[tuple[str, tuple[EndpointPort, ...]], list[Endpoint]] = {}
    families = _service_families(svc)
    for pod in pods:
        if pod.namespace != svc.namespace or pod.phase in ("Succeeded", "Failed"):
            continue
        if svc.selector is None or not pod.ips or not _selects(svc.selector, pod.labels):
            continue
        ports = _endpoint_ports(svc, pod)
        for fam in families:
            addr = next((a for a in pod.ips if _family(a) == fam), None)
            if addr is not None:
                groups.setdefault((fam, ports), []).append(_pod_endpoint(svc, pod, addr, zones))
    out: list[EndpointSlice] = []
    for (fam, ports), eps in sorted(groups.items(), key=lambda kv: (kv[0][0], [(p.name or "", p.port) for p in kv[0][1]])):
        for start in range(0, len(eps), MAX_ENDPOINTS_PER_SLICE):
            chunk = tuple(eps[start : start + MAX_ENDPOINTS_PER_SLICE])
            salt = f"{fam}/{[(p.name, p.port, p.protocol) for p in ports]}/{start // MAX_ENDPOINTS_PER_SLICE}"
            out.append(EndpointSlice(slice_name(svc.namespace, svc.name, salt), svc.namespace, svc.name, fam, chunk, ports, CONTROLLER, svc.source))  # type: ignore[arg-type]
    if not out:  # the controller keeps one placeholder slice per family, with no ports
        for fam in families:
            out.append(EndpointSlice(slice_name(svc.namespace, svc.name, f"{fam}/empty"), svc.namespace, svc.name, fam, (), (), CONTROLLER, svc.source))  # type: ignore[arg-type]
    return out


def _selects(selector: Mapping[str, str], lbls: Mapping[str, str]) -> bool:
    return all(lbls.get(k) == v for k, v in selector.items())


class PodIndex:
    """Pods by namespace and by (namespace, label, value), so matching a selector looks at
    the pods of its rarest label instead of every pod of the cluster."""

    def __init__(self, pods: Iterable[Pod]) -> None:
        self.by_ns: dict[str, list[Pod]] = {}
        self.by_label: dict[tuple[str, str, str], list[Pod]] = {}
        for pod in pods:
            self.by_ns.setdefault(pod.namespace, []).append(pod)
            for k, v in pod.labels.items():
                self.by_label.setdefault((pod.namespace, k, v), []).append(pod)

    def candidates(self, namespace: str, selector: Mapping[str, str]) -> list[Pod]:
        """A superset (in pod order) of the pods of ``namespace`` that ``selector`` matches."""
        if not selector:
            return self.by_ns.get(namespace, [])
        return min((self.by_label.get((namespace, k, v), []) for k, v in selector.items()), key=len)

    def matching(self, namespace: str, selector: Mapping[str, str]) -> list[Pod]:
        return [p for p in self.candidates(namespace, selector) if _selects(selector, p.labels)]


# The inputs of the last few reconciles, by the id of the slices they produced: reconciling
# again a cluster whose slices, pods and Services are those very objects (a driver's IPAM
# that moved no pod) returns it as it is instead of redoing every Service.
_Inputs = tuple[tuple[EndpointSlice, ...], tuple[Pod, ...], tuple[Service, ...], tuple[tuple[str, str | None], ...]]
_RECONCILED: OrderedDict[int, _Inputs] = OrderedDict()
_RECONCILED_MAX = 8


def _zones(cluster: Cluster) -> tuple[tuple[str, str | None], ...]:
    return tuple((n.name, n.labels.get(ZONE_LABEL)) for n in cluster.nodes)


def _same_objects(a: tuple[object, ...], b: tuple[object, ...]) -> bool:
    return a is b or (len(a) == len(b) and all(map(operator.is_, a, b)))


def remember_reconciled(cluster: Cluster) -> None:
    """Note that ``cluster``'s EndpointSlices are what ``reconcile_endpoints`` makes of its
    pods and Services (the loader's result, also when read back from its on-disk cache)."""
    _RECONCILED[id(cluster.endpoint_slices)] = (cluster.endpoint_slices, cluster.pods, cluster.services, _zones(cluster))
    _RECONCILED.move_to_end(id(cluster.endpoint_slices))
    while len(_RECONCILED) > _RECONCILED_MAX:
        _RECONCILED.popitem(last=False)


def reconcile_endpoints(cluster: Cluster) -> Cluster:
    """Return ``cluster`` with EndpointSlices recomputed for every Service with a selector.

    Selector-less Services keep their slices (given by hand or mirrored from Endpoints);
    slices for services that do not exist are kept as given, and so are slices another
    controller manages (``managed-by`` neither controller's). Pure and idempotent.
    """
    known = _RECONCILED.get(id(cluster.endpoint_slices))
    if (known is not None and known[0] is cluster.endpoint_slices and _same_objects(known[1], cluster.pods)
            and _same_objects(known[2], cluster.services) and known[3] == _zones(cluster)):
        return cluster
    out = _reconcile(cluster)
    remember_reconciled(out)
    return out


def _reconcile(cluster: Cluster) -> Cluster:
    zones = {n.name: n.labels.get(ZONE_LABEL) for n in cluster.nodes}
    index = PodIndex(cluster.pods)
    selected = {(s.namespace, s.name) for s in cluster.services if s.selector is not None and s.type != "ExternalName"}
    # The controller owns only the slices labelled managed-by itself (and the mirroring
    # controller skips services with a selector). Slices someone else manages stay, and
    # kube-proxy and CoreDNS use them along with the controller's.
    kept = [s for s in cluster.endpoint_slices
            if (s.namespace, s.service) not in selected or s.managed_by not in (CONTROLLER, MIRRORING)]
    made: list[EndpointSlice] = []
    for svc in cluster.services:
        if (svc.namespace, svc.name) in selected:
            made.extend(_slices_for(svc, index.candidates(svc.namespace, svc.selector or {}), zones))
    return replace(cluster, endpoint_slices=tuple(made + kept))


