"""Turn what the readers parsed into a ``Cluster``: defaults, inferred ranges, nodes and
segments, pods from replicas, creation order, then the controllers (scheduler, allocators,
IPAM, endpoints). Cross-object checks run afterwards in ``checks.py``.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, replace
from typing import Any

from overlaynet.errors import AddressExhausted, TopologyError
from overlaynet.model import (
    Cluster,
    DNSSpec,
    EndpointSlice,
    FrozenDict,
    IPAddress,
    IPNetwork,
    KubeProxySpec,
    KVSpec,
    Labels,
    Namespace,
    NetworkSpec,
    Node,
    Pod,
    Router,
    Segment,
    Service,
    Underlay,
)
from overlaynet.model.base import evolve
from overlaynet.topology import controllers
from overlaynet.topology.controllers import covering
from overlaynet.topology.fields import Ctx, Where
from overlaynet.topology.k8s_scheduling import daemon_tolerations
from overlaynet.topology.naming import generated, pod_name
from overlaynet.topology.owners import WorkloadKey, adopt
from overlaynet.topology.parsed import (
    ClusterSpec,
    NodeEntry,
    Parsed,
    PodEntry,
    WorkloadEntry,
    frozen_plain,
)
from overlaynet.topology.scheduler import NodeFit, fits
from overlaynet.topology.system import add_system_objects, apiserver_slices, is_system

DEFAULT_POD_CIDR = ipaddress.ip_network("10.244.0.0/16")
DEFAULT_SERVICE_CIDR = ipaddress.ip_network("10.96.0.0/12")
DEFAULT_SEGMENT = ipaddress.ip_network("192.168.0.0/24")
# How wide an inferred range may grow before we stop widening it (per IP version).
INFER_POD_PREFIX = {4: 16, 6: 48}
INFER_SERVICE_PREFIX = {4: 16, 6: 112}
INFER_SEGMENT_PREFIX = {4: 24, 6: 64}
BROADEST_SEGMENT = {4: 16, 6: 48}


@dataclass
class Ranges:
    """Cluster-wide ranges and where each came from: "given", "default" or "inferred"."""

    pod_cidrs: tuple[IPNetwork, ...]
    pod_origin: str
    service_cidrs: tuple[IPNetwork, ...]
    service_origin: str
    segments_origin: str = "given"


def _where(ctx: Ctx, key: tuple[object, ...], fallback: object = None) -> Where:
    w = ctx.where.get(key)
    if w is not None:
        return w
    src: Any = getattr(fallback, "source", None) or fallback
    if src is not None and hasattr(src, "line"):
        return Where(src.file, src.line, src.column, "")
    return Where(ctx.file, 1, 1, "")


def _infer(observed: list[IPAddress | IPNetwork], default: IPNetwork, max_prefix: dict[int, int]) -> tuple[tuple[IPNetwork, ...], str]:
    if not observed:
        return (default,), "default"
    out: list[IPNetwork] = []
    origin = "default"
    for version in (4, 6):
        items = [o for o in observed if o.version == version]
        if not items:
            continue
        if version == default.version and all(ipaddress.ip_network(i).subnet_of(default) for i in items):  # type: ignore[arg-type]
            out.append(default)
            continue
        net = covering(items, max_prefix[version])
        if net is not None:
            out.append(net)
            origin = "inferred"
    return tuple(out), origin


def _ranges(parsed: Parsed) -> Ranges:
    spec = parsed.cluster
    if spec is not None and spec.pod_cidrs:
        pods, pod_origin = spec.pod_cidrs, "given"
    else:
        observed: list[IPAddress | IPNetwork] = [c for n in _all_node_entries(parsed) for c in n.pod_cidrs]
        observed += [ip for e in parsed.pods if not e.pod.host_network for ip in e.pod.ips]
        pods, pod_origin = _infer(observed, DEFAULT_POD_CIDR, INFER_POD_PREFIX)
    if spec is not None and spec.service_cidrs:
        svcs, svc_origin = spec.service_cidrs, "given"
    else:
        seen: list[IPAddress | IPNetwork] = [ip for e in parsed.services for ip in e.service.cluster_ips]
        if spec is not None and spec.dns.cluster_ip is not None:
            seen.append(spec.dns.cluster_ip)
        svcs, svc_origin = _infer(seen, DEFAULT_SERVICE_CIDR, INFER_SERVICE_PREFIX)
    return Ranges(pods, pod_origin, svcs, svc_origin)


def _all_node_entries(parsed: Parsed) -> list[NodeEntry]:
    return (parsed.cluster.nodes if parsed.cluster else []) + parsed.nodes


def _merge_nodes(ctx: Ctx, parsed: Parsed) -> list[NodeEntry]:
    """Cluster-kind nodes first, then Node objects (merged into a same-named Cluster node)."""
    out: dict[str, NodeEntry] = {}
    for entry in parsed.cluster.nodes if parsed.cluster else []:
        if entry.name in out:
            ctx.error(ctx.name_at(entry.source) or _where(ctx, ("node", entry.name), entry), f"duplicate node name {entry.name!r}: expected unique names (first at {out[entry.name].source})")
            continue
        out[entry.name] = entry
    from_objects: set[str] = set()
    for entry in parsed.nodes:
        if entry.name in from_objects:
            ctx.error(ctx.name_at(entry.source) or Where(entry.source.file, entry.source.line, entry.source.column, ""), f"duplicate Node {entry.name!r}: expected unique names")
            continue
        from_objects.add(entry.name)
        if entry.name in out:
            base = out[entry.name]
            base.labels = FrozenDict({**entry.labels, **base.labels})
            base.pod_cidrs = base.pod_cidrs or entry.pod_cidrs
            base.ip = base.ip or entry.ip
            base.extra_ips = base.extra_ips or entry.extra_ips
            base.taints = base.taints or entry.taints
            base.unschedulable = base.unschedulable or entry.unschedulable
        else:
            out[entry.name] = entry
    return list(out.values())


def _segments(ctx: Ctx, spec: ClusterSpec | None, nodes: list[NodeEntry]) -> tuple[tuple[Segment, ...], tuple[Router, ...], str]:
    mtu = spec.mtu if spec else 1500
    if spec is not None and spec.segments is not None:
        return spec.segments, spec.routers, "given"
    routers = spec.routers if spec else ()
    ips = [n.ip for n in nodes if n.ip is not None]
    if not nodes:
        return (), routers, "default"
    if not ips:
        seg = Segment("default", DEFAULT_SEGMENT, mtu)
        return (seg,), routers or _gateway([seg], set()), "default"
    segs: list[Segment] = []
    for version in (4, 6):
        vips = [i for i in ips if i.version == version]
        net = covering(vips, INFER_SEGMENT_PREFIX[version]) if vips else None
        if net is None:
            continue
        if net.prefixlen >= BROADEST_SEGMENT[version]:
            segs.append(Segment("default" if not segs else f"default-v{version}", net, mtu))
        else:  # far-apart node addresses: one segment per /24 (or /64) and a router joining them
            subnets = sorted({ipaddress.ip_network(f"{i}/{INFER_SEGMENT_PREFIX[version]}", strict=False) for i in vips}, key=lambda n: int(n.network_address))
            segs.extend(Segment(f"segment-{len(segs) + k + 1}", s, mtu) for k, s in enumerate(subnets))
    if not routers:
        routers = _gateway(segs, set(ips))
    return tuple(segs), routers, "inferred"


def _gateway(segs: list[Segment], taken: set[IPAddress]) -> tuple[Router, ...]:
    """The router a real cluster's nodes have as default gateway (and that joins inferred
    segments): the first free address of each segment. Without it nothing could enter
    from outside, and the hosts would have no default route."""
    if not segs:
        return ()
    ifaces = {s.name: next(a for a in s.cidr.hosts() if a not in taken) for s in segs}
    return (Router("gateway", FrozenDict(ifaces)),)


def _place_nodes(ctx: Ctx, entries: list[NodeEntry], segments: tuple[Segment, ...], routers: tuple[Router, ...]) -> list[Node]:
    """Give every node an IP (the next free from .11 of its segment) and a segment."""
    taken: set[IPAddress] = {n.ip for n in entries if n.ip is not None}
    taken |= {ip for r in routers for ip in r.interfaces.values()}
    out: list[Node] = []
    for e in entries:
        seg_name = e.segment
        ip = e.ip
        if seg_name is None and ip is not None:
            seg_name = next((s.name for s in segments if ip in s.cidr), None)
            if seg_name is None:
                if segments:
                    w = _where(ctx, ("node", e.name, "ip"), e)
                    cidrs = ", ".join(f"{s.name} {s.cidr}" for s in segments)
                    ctx.error(w, f"expected a node IP inside an underlay segment ({cidrs}), found {ip}")
                seg_name = segments[0].name if segments else "default"
        elif seg_name is None:
            seg_name = segments[0].name if segments else "default"
        if ip is None:
            seg = next((s for s in segments if s.name == seg_name), None)
            if seg is not None:
                ip = next((seg.cidr[k] for k in range(11, seg.cidr.num_addresses - 1) if seg.cidr[k] not in taken), None)
            if ip is None:
                ctx.error(_where(ctx, ("node", e.name), e), f"no free address left in segment {seg_name} for node {e.name}")
                continue
            taken.add(ip)
        out.append(Node(e.name, ip, seg_name, e.labels, e.pod_cidrs, e.extra_ips, False, e.source, e.taints, e.unschedulable))
    return out


def _expand_workloads(ctx: Ctx, parsed: Parsed, adopted: dict[WorkloadKey, list[Pod]]) -> list[PodEntry]:
    """Pods from replicas (stable names): as many as the replicas the files' own pods of the
    workload (``adopted``) leave missing; none for a Deployment whose ReplicaSet is in the
    files (the ReplicaSet makes them)."""
    rs_owned = {(w.workload.namespace, ref.kind, ref.name) for w in parsed.workloads for ref in w.owner_refs}
    names = {(e.pod.namespace, e.pod.name) for e in parsed.pods}
    out: list[PodEntry] = []
    for w in parsed.workloads:
        wl = w.workload
        key = (wl.namespace, wl.kind, wl.name)
        if wl.kind == "Deployment" and key in rs_owned:
            continue
        mine = adopted.get(key, [])
        if wl.kind == "StatefulSet":
            out.extend(_stateful_pods(ctx, w, names, {p.name for p in mine}))
            continue
        shared: dict[str, FrozenDict[str, str]] = {}  # the replicas' labels: one map, not one each
        owner = f"{wl.kind}/{wl.name}"
        for index in range(max(0, wl.replicas - len(mine))):
            attempt = 0
            name = pod_name(wl.kind, wl.namespace, wl.name, index, w.template_hash)
            while (wl.namespace, name) in names:
                attempt += 1
                name = pod_name(wl.kind, wl.namespace, wl.name, index, w.template_hash, attempt)
            names.add((wl.namespace, name))
            rs_hash = name.split("-")[-2] if wl.kind == "Deployment" else ""
            lbls = shared.get(rs_hash)
            if lbls is None:
                lbls = shared[rs_hash] = FrozenDict({**w.template.labels, "pod-template-hash": rs_hash} if rs_hash
                                                    else w.template.labels)
            pod = evolve(w.template, name=name, labels=lbls, owner=owner, creation_timestamp=w.timestamp)
            out.append(PodEntry(pod, w.order, w.timestamp, w.node_selector))
            ctx.where.setdefault(("pod", wl.namespace, name), _where(ctx, ("workload", wl.namespace, wl.name), wl))
    return out


def _stateful_pods(ctx: Ctx, w: WorkloadEntry, names: set[tuple[str, str]], present: set[str]) -> list[PodEntry]:
    """A StatefulSet's pods: stable ordinal names ``<name>-<i>``, each its own hostname under
    the governing Service (``subdomain``), so that a headless Service of that name gives
    ``<pod>.<serviceName>.<ns>.svc.<zone>`` (the StatefulSet controller sets both); the
    ordinals the files' own pods of it (``present``) hold are not made again."""
    wl = w.workload
    out = []
    for ordinal in range(wl.first_ordinal, wl.first_ordinal + wl.replicas):
        name = f"{wl.name}-{ordinal}"
        if name in present:
            continue
        names.add((wl.namespace, name))
        lbls = {**w.template.labels, "statefulset.kubernetes.io/pod-name": name, "apps.kubernetes.io/pod-index": str(ordinal)}
        pod = replace(w.template, name=name, labels=FrozenDict(lbls), owner=f"StatefulSet/{wl.name}",
                      hostname=name, subdomain=wl.service_name or w.template.subdomain, creation_timestamp=w.timestamp)
        out.append(PodEntry(pod, w.order, w.timestamp, w.node_selector))
        ctx.where.setdefault(("pod", wl.namespace, name), _where(ctx, ("workload", wl.namespace, wl.name), wl))
    return out


def _daemon_pods(ctx: Ctx, parsed: Parsed, nodes: list[Node], adopted: dict[WorkloadKey, list[Pod]]) -> list[PodEntry]:
    """A DaemonSet's pods: one on every node its nodeSelector fits and whose NoSchedule and
    NoExecute taints it tolerates (with the tolerations the DaemonSet controller adds, so a
    cordoned or NotReady node still gets one), bound to it (the controller sets the node
    affinity), named ``<name>-xxxxx`` stably per node; not on a node where the files' own pod
    of the DaemonSet runs."""
    out: list[PodEntry] = []
    fit = NodeFit(nodes)
    for w in parsed.workloads:
        wl = w.workload
        if wl.kind != "DaemonSet":
            continue
        running = {p.node for p in adopted.get((wl.namespace, wl.kind, wl.name), [])}
        tolerations = daemon_tolerations(w.template.tolerations, w.template.host_network)
        for node in fit.fitting(w.node_selector, tolerations):
            if node.name in running:
                continue
            name = generated(wl.name, f"DaemonSet/{wl.namespace}/{wl.name}/{node.name}")
            pod = replace(w.template, name=name, labels=FrozenDict({**w.template.labels, "pod-template-generation": "1"}),
                          owner=f"DaemonSet/{wl.name}", node=node.name, creation_timestamp=w.timestamp, tolerations=tolerations)
            out.append(PodEntry(pod, w.order, w.timestamp, FrozenDict()))
            ctx.where.setdefault(("pod", wl.namespace, name), _where(ctx, ("workload", wl.namespace, wl.name), wl))
    return out


def _creation_order(pods: list[PodEntry], parsed: Parsed) -> tuple[list[Pod], list[Service]]:
    """creation_index: by creationTimestamp when present, else file order (pods and services
    share one counter, so env-var discovery can tell which existed first)."""
    rows: list[tuple[tuple[int, str, int, int], str, int]] = []
    for i, e in enumerate(pods):
        rows.append(((0, e.timestamp, e.order, i) if e.timestamp else (1, "", e.order, i), "pod", i))
    for i, s in enumerate(parsed.services):
        rows.append(((0, s.timestamp, s.order, i) if s.timestamp else (1, "", s.order, i), "svc", i))
    rank = {(kind, i): r for r, (_, kind, i) in enumerate(sorted(rows))}
    out_pods = [evolve(e.pod, creation_index=rank[("pod", i)]) for i, e in enumerate(pods)]
    out_svcs = [replace(s.service, creation_index=rank[("svc", i)]) for i, s in enumerate(parsed.services)]
    return out_pods, out_svcs


def _families(ctx: Ctx, parsed: Parsed, services: list[Service], cidrs: tuple[IPNetwork, ...]) -> list[Service]:
    have = ["IPv4" if c.version == 4 else "IPv6" for c in cidrs]
    have = list(dict.fromkeys(have))
    out: list[Service] = []
    for svc, entry in zip(services, parsed.services, strict=True):
        if svc.type == "ExternalName":
            out.append(svc)
            continue
        fams: list[str] = list(svc.ip_families) or list(dict.fromkeys("IPv4" if i.version == 4 else "IPv6" for i in svc.cluster_ips))
        policy = entry.ip_family_policy or "SingleStack"
        if not fams:
            fams = have[:1] if policy == "SingleStack" else have[:2]
        elif policy != "SingleStack" and len(fams) == 1 and len(have) > 1:
            fams += [f for f in have if f not in fams][:1]
        if policy == "RequireDualStack" and len(have) < 2:
            ctx.error(_where(ctx, ("service", svc.namespace, svc.name, "ipFamilyPolicy"), svc),
                      f"expected a dual-stack cluster (an IPv4 and an IPv6 service CIDR) for ipFamilyPolicy RequireDualStack, found only {', '.join(have)}")
        for fam in fams:
            if fam not in have:
                ctx.error(_where(ctx, ("service", svc.namespace, svc.name, "ipFamilies"), svc),
                          f"expected a service CIDR of family {fam} for this service, found only {', '.join(have)}")
        out.append(replace(svc, ip_families=tuple(fams)))  # type: ignore[arg-type]
    return out


def _given_slices(parsed: Parsed) -> tuple[EndpointSlice, ...]:
    """Slices for selector-less services: EndpointSlices when given, else mirrored Endpoints.

    A live dump holds both an Endpoints object and the slice the mirroring controller made
    of it: the given slice is that mirror, so the Endpoints are not converted a second time."""
    converted = parsed.from_endpoints
    explicit = {(s.namespace, s.service) for s in parsed.endpoint_slices if (s.namespace, s.name) not in converted}
    out = [s for s in parsed.endpoint_slices
           if (s.namespace, s.name) not in converted or (s.namespace, s.service) not in explicit]
    return tuple(out)


def _selectors_fit(ctx: Ctx, cluster: Cluster, entries: list[PodEntry]) -> bool:
    """Every pod left for the scheduler has a node matching its nodeSelector and tolerating
    its taints (else errors, at the nodeSelector or the tolerations, or the pod)."""
    ok = True
    reported: set[tuple[str, int, int]] = set()
    fit = NodeFit(cluster.nodes)
    for e in entries:
        if e.pod.node is not None or not cluster.nodes or not (e.node_selector or fit.tainted):
            continue
        if fit.fitting(e.node_selector, e.pod.tolerations):
            continue
        ok = False
        src = e.pod.source
        by_labels = bool(fit.fitting(e.node_selector)) if not fit.tainted else any(
            fits(n, e.node_selector) for n in cluster.nodes)
        what = e.pod.owner or "pod " + e.pod.key
        if not by_labels:
            w = ctx.where.get(("nodeSelector", src.file, src.line, src.column)) if src else None
            message = f"expected a node with labels {dict(e.node_selector)} (nodeSelector of {what}), found none among {', '.join(n.name for n in cluster.nodes)}"
        else:
            w = (ctx.where.get(("tolerations", src.file, src.line, src.column)) if src else None) or (
                _where(ctx, ("workload", e.pod.namespace, e.pod.owner.partition("/")[2]), e.pod) if e.pod.owner else _where(ctx, ("pod", e.pod.namespace, e.pod.name), e.pod))
            message = (f"expected a node whose taints {what} tolerates (spec.tolerations), found none: "
                       f"{fit.why_none(e.node_selector, e.pod.tolerations)}")
        if w is None or (w.file, w.line, w.column) in reported:
            continue
        reported.add((w.file, w.line, w.column))
        ctx.error(w, message)
    return ok


def _node_entries(ctx: Ctx, parsed: Parsed, all_pods: list[PodEntry]) -> tuple[list[NodeEntry], list[PodEntry]]:
    """The nodes: declared ones (then a pod naming another node is an error), else the nodes
    the pods name (addresses from their ``status.hostIP``), else one default node if pods
    need one."""
    entries = _merge_nodes(ctx, parsed)
    declared = {e.name for e in entries}
    if declared:
        for e in all_pods:
            if e.pod.node is not None and e.pod.node not in declared:
                w = _where(ctx, ("pod", e.pod.namespace, e.pod.name, "node"), e.pod)
                ctx.error(w, f"expected spec.nodeName to name a node ({', '.join(sorted(declared))}), found unknown node {e.pod.node!r}")
        kept = [e if e.pod.node is None or e.pod.node in declared
                else PodEntry(evolve(e.pod, node=None), e.order, e.timestamp, e.node_selector) for e in all_pods]
        return entries, kept
    named: set[str] = set()
    for e in all_pods:
        if e.pod.node is not None and e.pod.node not in named:
            named.add(e.pod.node)
            entries.append(NodeEntry(e.pod.node, e.host_ip, FrozenDict(), (), None, (), e.pod.source))  # type: ignore[arg-type]
    if not entries and any(e.pod.node is None for e in all_pods):
        entries.append(NodeEntry("node-1", None, FrozenDict(), (), None, (), all_pods[0].pod.source))  # type: ignore[arg-type]
    return entries, all_pods


def _namespaces(parsed: Parsed, pods: list[Pod], services: list[Service]) -> tuple[Namespace, ...]:
    """Declared namespaces, then every other one an object lives in (``default`` always):
    pods, services, workloads, EndpointSlices/Endpoints, NetworkPolicies, ResourceQuotas."""
    out = list(parsed.namespaces)
    known = {n.name for n in out}
    named = [
        *(w.workload.namespace for w in parsed.workloads), *(s.namespace for s in parsed.endpoint_slices),
        *(p.namespace for p in parsed.network_policies), *(q.namespace for q in parsed.resource_quotas),
    ]
    for ns in ["default", *(p.namespace for p in pods), *(s.namespace for s in services), *named]:
        if ns not in known:
            known.add(ns)
            out.append(Namespace(ns, FrozenDict({"kubernetes.io/metadata.name": ns})))
    return tuple(out)


def _dns(ctx: Ctx, spec: ClusterSpec | None, services: list[Service], service_cidrs: tuple[IPNetwork, ...]) -> DNSSpec:
    dns = spec.dns if spec else DNSSpec()
    if dns.cluster_ip is None:  # a live dump names its DNS service; use its address
        kube_dns = next((s for s in services if s.namespace == "kube-system" and s.name == "kube-dns" and s.cluster_ips), None)
        if kube_dns is not None:
            return replace(dns, cluster_ip=kube_dns.cluster_ips[0])
        if service_cidrs and service_cidrs[0].num_addresses <= 10:
            ctx.error(_where(ctx, ("cluster", "serviceCIDR"), spec),
                      f"expected a service CIDR with room for the DNS service at its 10th address (or an explicit dns.clusterIP), found {service_cidrs[0]}")
    return dns


def _without_homeless_system_pods(ctx: Ctx, cluster: Cluster, all_pods: list[PodEntry]) -> tuple[Cluster, list[PodEntry]]:
    """The CoreDNS pods we add stay Pending in a real cluster whose every node has a taint
    they do not tolerate: leave them out, with a warning, rather than fail the user's file."""
    fit = NodeFit(cluster.nodes)
    if not fit.tainted:
        return cluster, all_pods
    homeless = {(e.pod.namespace, e.pod.name) for e in all_pods
                if e.pod.node is None and is_system(e.pod) and not fit.fitting(e.node_selector, e.pod.tolerations)}
    if not homeless:
        return cluster, all_pods
    first = next(e.pod for e in all_pods if (e.pod.namespace, e.pod.name) in homeless)
    ctx.warn(_where(ctx, ("cluster",), cluster), f"the cluster DNS pods ({first.owner} in kube-system) tolerate no node's taints: "
             f"they stay Pending and kube-dns has no endpoints ({fit.why_none(FrozenDict(), first.tolerations)})")
    return (replace(cluster, pods=tuple(p for p in cluster.pods if (p.namespace, p.name) not in homeless)),
            [e for e in all_pods if (e.pod.namespace, e.pod.name) not in homeless])


def _run_controllers(ctx: Ctx, cluster: Cluster, all_pods: list[PodEntry]) -> Cluster:
    """Scheduler, service allocators, IPAM, endpoints; their errors become diagnostics."""
    cluster, all_pods = _without_homeless_system_pods(ctx, cluster, all_pods)
    selectors: dict[tuple[str, str], Labels] = {(e.pod.namespace, e.pod.name): e.node_selector for e in all_pods if e.node_selector}
    if not _selectors_fit(ctx, cluster, all_pods):
        return cluster
    try:
        cluster = controllers.schedule(cluster, selectors)
        cluster = controllers.allocate_service_addresses(cluster)
        cluster = controllers.allocate_default(cluster)
    except TopologyError as exc:
        ctx.diagnostics.extend(exc.diagnostics)
    except AddressExhausted as exc:
        ctx.error(_asker(ctx, cluster, exc), str(exc))
    return controllers.reconcile_endpoints(cluster)


def _asker(ctx: Ctx, cluster: Cluster, exc: AddressExhausted) -> Where:
    """Where the object that asked for the address is written: a workload's pod at its
    ``replicas``, a pod, node or Service at its own place; else the Cluster document."""
    kind, key = exc.subject or ("", "")
    ns, _, name = key.partition("/")
    if kind == "pod":
        pod = next((p for p in cluster.pods if p.key == key), None)
        if pod is not None and pod.owner is not None:
            owner = pod.owner.partition("/")[2]
            w = ctx.where.get(("workload", ns, owner, "replicas")) or ctx.where.get(("workload", ns, owner))
            if w is not None:
                return w
        w = ctx.where.get(("pod", ns, name))
    elif kind == "node":
        w = ctx.where.get(("node", key, "podCIDR")) or ctx.where.get(("node", key))
    elif kind == "service":
        svc = next((s for s in cluster.services if s.key == key), None)
        w = _where(ctx, ("service", ns, name), svc) if svc is not None else None
    else:
        w = None
    return w or _where(ctx, ("cluster",), cluster)


def assemble(ctx: Ctx, parsed: Parsed) -> tuple[Cluster, Ranges]:
    """The cluster the parsed documents describe, with every default and controller applied."""
    spec = parsed.cluster
    apiserver = add_system_objects(ctx, parsed, has_nodes=bool(_all_node_entries(parsed) or parsed.pods or parsed.workloads))
    ranges = _ranges(parsed)
    adopted = adopt(ctx, parsed)
    entries, all_pods = _node_entries(ctx, parsed, parsed.pods + _expand_workloads(ctx, parsed, adopted))
    segments, routers, ranges.segments_origin = _segments(ctx, spec, entries)
    nodes = _place_nodes(ctx, entries, segments, routers)
    all_pods = all_pods + _daemon_pods(ctx, parsed, nodes, adopted)  # they need the nodes
    pods, services = _creation_order(all_pods, parsed)
    # pods in the order they were created (as IPAM meets them in a real cluster), whether a
    # file lists them or a controller made them: a rendered file gives the same order back
    pods.sort(key=lambda p: p.creation_index)
    services = _families(ctx, parsed, services, ranges.service_cidrs)
    cluster = Cluster(
        name=spec.name if spec else "cluster",
        domain=(spec.domain if spec and spec.domain else "cluster.local"),
        pod_cidrs=ranges.pod_cidrs,
        service_cidrs=ranges.service_cidrs,
        node_port_range=(spec.node_port_range if spec and spec.node_port_range else (30000, 32767)),
        dns=_dns(ctx, spec, services, ranges.service_cidrs),
        kube_proxy=spec.kube_proxy if spec else KubeProxySpec(),
        network=spec.network if spec else NetworkSpec(),
        kv=spec.kv if spec else KVSpec(),
        underlay=Underlay(spec.mtu if spec else 1500, segments, routers),
        nodes=tuple(nodes),
        namespaces=_namespaces(parsed, pods, services),
        workloads=tuple(w.workload for w in parsed.workloads),
        pods=tuple(pods),
        services=tuple(services),
        endpoint_slices=_given_slices(parsed) + (apiserver_slices(nodes) if apiserver else ()),
        network_policies=tuple(parsed.network_policies),
        resource_quotas=tuple(parsed.resource_quotas),
        extra=FrozenDict({
            **({"calico": tuple(parsed.calico)} if parsed.calico else {}),
            # (kind, record); a record's source is its pod's (Container) or not needed (Network)
            **({"docker": tuple((k, frozen_plain(v)) for k, v, _src in parsed.docker)} if parsed.docker else {}),
        }),
        source=spec.source if spec else None,
    )
    return _run_controllers(ctx, cluster, all_pods), ranges
