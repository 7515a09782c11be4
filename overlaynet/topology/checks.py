"""Cross-object checks on an assembled cluster: duplicates, ranges, references, quotas,
selectors that match nothing (warnings). Locations come from ``Ctx.where``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from overlaynet.model import Cluster, IPAddress, IPNetwork, Node, Source
from overlaynet.topology.assemble import Ranges
from overlaynet.topology.controllers import PodIndex
from overlaynet.topology.fields import Ctx, Where
from overlaynet.topology.system import SYSTEM_FILE


def _at(ctx: Ctx, key: tuple[object, ...], src: Source | None = None, path: str = "") -> Where:
    w = ctx.where.get(key)
    if w is not None:
        return w
    if src is not None:
        return Where(src.file, src.line, src.column, path)
    return Where(ctx.file, 1, 1, path)


def check(ctx: Ctx, cluster: Cluster, ranges: Ranges) -> None:
    _duplicates(ctx, cluster)
    _cluster_ranges(ctx, cluster, ranges)
    _underlay(ctx, cluster, ranges)
    _node_cidrs(ctx, cluster, ranges)
    _addresses(ctx, cluster, ranges)
    _node_ports(ctx, cluster)
    _selectors(ctx, cluster)
    _quotas(ctx, cluster)


def _dups(ctx: Ctx, what: str, items: Iterable[tuple[str, Source | None]]) -> None:
    first: dict[str, Source | None] = {}
    for name, src in items:
        if name in first:
            where = f" (first at {first[name]})" if first[name] is not None else ""
            w = ctx.name_at(src) or (Where(src.file, src.line, src.column, "") if src else Where(ctx.file, 1, 1, ""))
            ctx.error(w, f"duplicate {what} {name!r}: expected unique names{where}")
        else:
            first[name] = src


def _duplicates(ctx: Ctx, c: Cluster) -> None:
    _dups(ctx, "segment", ((s.name, s.source) for s in c.underlay.segments))
    _dups(ctx, "router", ((r.name, r.source) for r in c.underlay.routers))
    _dups(ctx, "namespace", ((n.name, n.source) for n in c.namespaces if n.source is not None))
    _dups(ctx, "pod", ((p.key, p.source) for p in c.pods))
    _dups(ctx, "service", ((s.key, s.source) for s in c.services))
    for kind in ("ReplicationController", "ReplicaSet", "Deployment"):
        _dups(ctx, kind, ((f"{w.namespace}/{w.name}", w.source) for w in c.workloads if w.kind == kind))
    _dups(ctx, "NetworkPolicy", ((p.key, p.source) for p in c.network_policies))
    _dups(ctx, "ResourceQuota", ((f"{q.namespace}/{q.name}", q.source) for q in c.resource_quotas))
    _dups(ctx, "EndpointSlice", ((f"{s.namespace}/{s.name}", s.source) for s in c.endpoint_slices if s.managed_by != "endpointslice-controller.k8s.io"))


def _overlap(ctx: Ctx, w: Where, a_name: str, a: IPNetwork, b_name: str, b: IPNetwork) -> None:
    if a.version == b.version and a.overlaps(b):
        ctx.error(w, f"{a_name} {a} overlaps {b_name} {b}: expected disjoint ranges")


def _cluster_ranges(ctx: Ctx, c: Cluster, r: Ranges) -> None:
    pod_w = _at(ctx, ("cluster", "podCIDR"), c.source, "spec.podCIDR")
    svc_w = _at(ctx, ("cluster", "serviceCIDR"), c.source, "spec.serviceCIDR")
    if "inferred" not in (r.pod_origin, r.service_origin):
        for p in c.pod_cidrs:
            for s in c.service_cidrs:
                _overlap(ctx, pod_w if r.pod_origin == "given" else svc_w, "pod CIDR", p, "service CIDR", s)
    for name, nets, w in (("pod CIDR", c.pod_cidrs, pod_w), ("service CIDR", c.service_cidrs, svc_w)):
        for i, a in enumerate(nets):
            for b in nets[i + 1 :]:
                _overlap(ctx, w, name, a, name, b)
    if c.dns.cluster_ip is not None:
        w = _at(ctx, ("dns", "clusterIP"), c.source, "spec.dns.clusterIP")
        if r.service_origin != "inferred" and not any(c.dns.cluster_ip in s for s in c.service_cidrs):
            ctx.error(w, f"expected the DNS clusterIP inside the service CIDR ({', '.join(map(str, c.service_cidrs))}), found {c.dns.cluster_ip}")
    try:
        dns_ip = c.dns_ip
    except IndexError:  # reported by assemble (service CIDR too small)
        dns_ip = None
    # The cluster DNS answers on its IP; another Service there would shadow it. A Service in
    # kube-system holding it is the DNS service of a dumped cluster (kube-dns, coredns, ...).
    owner = next((s for s in c.services if dns_ip in s.cluster_ips and s.namespace != "kube-system"), None)
    if owner is not None and dns_ip is not None and owner.source is not None and owner.source.file == SYSTEM_FILE:
        ctx.error(_at(ctx, ("dns", "clusterIP"), c.source, "spec.dns.clusterIP"),
                  f"expected a DNS clusterIP other than {dns_ip}, the first address of the service CIDR, "
                  f"which the apiserver keeps for service {owner.key}")
    elif owner is not None and dns_ip is not None:
        ctx.error(_at(ctx, ("service", owner.namespace, owner.name, "clusterIP", dns_ip), owner.source),
                  f"expected a ClusterIP other than the cluster DNS IP {dns_ip}, found it on service {owner.key}")


def _underlay(ctx: Ctx, c: Cluster, r: Ranges) -> None:
    segs = {s.name: s for s in c.underlay.segments}
    for i, a in enumerate(c.underlay.segments):
        for b in c.underlay.segments[i + 1 :]:
            for bc in b.cidrs:
                for ac in a.cidrs:
                    _overlap(ctx, _at(ctx, ("segment", b.name, "cidr"), b.source), f"segment {b.name}", bc, f"segment {a.name}", ac)
        for acidr in a.cidrs:  # a dual-stack segment's second CIDR too
            if r.pod_origin != "inferred":
                for p in c.pod_cidrs:
                    _overlap(ctx, _at(ctx, ("segment", a.name, "cidr"), a.source), f"segment {a.name}", acidr, "pod CIDR", p)
            if r.service_origin != "inferred":
                for s in c.service_cidrs:
                    _overlap(ctx, _at(ctx, ("segment", a.name, "cidr"), a.source), f"segment {a.name}", acidr, "service CIDR", s)
    for router in c.underlay.routers:
        for seg_name, ip in router.interfaces.items():
            w = _at(ctx, ("router", router.name, seg_name), router.source)
            seg = segs.get(seg_name)
            if seg is None:
                ctx.error(w, f"expected a segment name ({', '.join(segs) or 'none defined'}), found unknown segment {seg_name!r}", path=w.path.rsplit(".", 1)[0] + f".{seg_name}" if w.path else "")
            elif ip not in seg.cidr:
                ctx.error(w, f"expected router {router.name}'s address inside segment {seg_name} ({seg.cidr}), found {ip}")
    for node in c.nodes:
        seg = segs.get(node.segment)
        if seg is None:
            if segs:
                w = _at(ctx, ("node", node.name, "segment"), node.source)
                ctx.error(w, f"expected a segment name ({', '.join(segs)}), found unknown segment {node.segment!r}")
        elif node.ip not in seg.cidr and ("node", node.name, "segment") in ctx.where:
            ctx.error(_at(ctx, ("node", node.name, "ip"), node.source), f"expected node {node.name}'s IP inside its segment {seg.name} ({seg.cidr}), found {node.ip}")


def _node_cidrs(ctx: Ctx, c: Cluster, r: Ranges) -> None:
    given = [n for n in c.nodes if not n.pod_cidrs_allocated]
    for n in given:
        w = _at(ctx, ("node", n.name, "podCIDR"), n.source)
        for cidr in n.pod_cidrs:
            pools = [p for p in c.pod_cidrs if p.version == cidr.version]
            if r.pod_origin != "inferred" and pools and not any(cidr.subnet_of(p) for p in pools):  # type: ignore[arg-type]
                ctx.error(w, f"expected node {n.name}'s pod CIDR inside the cluster pod CIDR ({', '.join(map(str, pools))}), found {cidr}")
    # Sweep over the CIDRs sorted by start address: an overlap is a start before the furthest
    # end seen so far. Report it on the node written later in the file.
    order = {n.name: i for i, n in enumerate(c.nodes)}
    spans = sorted(((cidr.version, int(cidr.network_address), int(cidr.broadcast_address), order[n.name], k), n, cidr)
                   for k, (n, cidr) in enumerate((n, cidr) for n in c.nodes for cidr in n.pod_cidrs))
    reach: tuple[int, int, int, Node, IPNetwork] | None = None
    for (version, start, end, idx, _), node, cidr in spans:
        if reach is not None and reach[0] == version and start <= reach[1]:
            _, _, oidx, other, ocidr = reach
            late, early, lc, ec = (node, other, cidr, ocidr) if idx > oidx else (other, node, ocidr, cidr)
            ctx.error(_at(ctx, ("node", late.name, "podCIDR"), late.source),
                      f"node {late.name}'s pod CIDR {lc} overlaps node {early.name}'s {ec}: expected disjoint node pod CIDRs")
        if reach is None or reach[0] != version or end > reach[1]:
            reach = (version, end, idx, node, cidr)


def _addresses(ctx: Ctx, c: Cluster, r: Ranges) -> None:
    owners: dict[IPAddress, str] = {}

    def claim(ip: IPAddress, who: str, w: Where) -> None:
        if ip in owners:
            ctx.error(w, f"duplicate IP {ip}: expected a unique address, found it on {owners[ip]} and {who}")
        else:
            owners[ip] = who

    for n in c.nodes:
        for ip in n.ips:
            claim(ip, f"node {n.name}", _at(ctx, ("node", n.name, "ip"), n.source))
    for router in c.underlay.routers:
        for seg, ip in router.interfaces.items():
            claim(ip, f"router {router.name}", _at(ctx, ("router", router.name, seg), router.source))
    nodes = {n.name: n for n in c.nodes}
    for p in c.pods:
        if p.host_network:
            continue
        node = nodes.get(p.node) if p.node else None
        for ip in p.ips:
            w = _at(ctx, ("pod", p.namespace, p.name, "ip", ip), p.source)
            if not p.allocated:
                claim(ip, f"pod {p.key}", w)
            if p.allocated:
                continue
            if node is not None and node.pod_cidrs and not node.pod_cidrs_allocated:
                fam = [x for x in node.pod_cidrs if x.version == ip.version]
                if fam and not any(ip in x for x in fam):
                    ctx.error(w, f"expected pod {p.key}'s IP inside node {node.name}'s pod CIDR ({', '.join(map(str, fam))}), found {ip}")
                    continue
            elif node is not None and node.pod_cidrs:
                # IPAM chose this node's subnet: no free one holds all its pods' IPs (pods of
                # one node in several subnets, or sharing one with another node's pods).
                fam = [x for x in node.pod_cidrs if x.version == ip.version]
                if fam and not any(ip in x for x in fam):
                    ctx.warn(w, f"pod {p.key}'s IP {ip} is outside {', '.join(map(str, fam))}, the pod CIDR "
                                f"inferred for node {node.name}: no free subnet holds all its pods' IPs; drivers "
                                f"that route one subnet per node (flannel) will reject it; give the node's podCIDR")
            pools = [x for x in c.pod_cidrs if x.version == ip.version]
            if r.pod_origin == "given" and pools and not any(ip in x for x in pools):
                ctx.error(w, f"expected pod {p.key}'s IP inside the pod CIDR ({', '.join(map(str, pools))}), found {ip}")
    for s in c.services:
        for ip in s.cluster_ips:
            w = _at(ctx, ("service", s.namespace, s.name, "clusterIP", ip), s.source)
            claim(ip, f"service {s.key}", w)
            pools = [x for x in c.service_cidrs if x.version == ip.version]
            if r.service_origin != "inferred" and pools and not any(ip in x for x in pools):
                ctx.error(w, f"expected service {s.key}'s ClusterIP inside the service CIDR ({', '.join(map(str, pools))}), found {ip}")


def _node_ports(ctx: Ctx, c: Cluster) -> None:
    lo, hi = c.node_port_range
    used: dict[tuple[int, str], str] = {}
    for s in c.services:
        mine: set[int] = set()
        for i, p in enumerate(s.ports):
            if p.node_port is None:
                continue
            w = _at(ctx, ("service", s.namespace, s.name, "nodePort", i), s.source)
            if not lo <= p.node_port <= hi:
                ctx.error(w, f"expected a nodePort in the service node port range {lo}-{hi}, found {p.node_port}")
            key = (p.node_port, p.protocol)
            if key in used and used[key] != s.key or (p.node_port in mine and key in used):
                ctx.error(w, f"duplicate nodePort {p.node_port}/{p.protocol}: expected a free port, found it already used by service {used[key]}")
            used[key] = s.key
            mine.add(p.node_port)
        hc = s.health_check_node_port
        if hc is not None:
            w = _at(ctx, ("service", s.namespace, s.name, "healthCheckNodePort"), s.source)
            if not lo <= hc <= hi:
                ctx.error(w, f"expected a healthCheckNodePort in the service node port range {lo}-{hi}, found {hc}")
            if (hc, "TCP") in used and used[(hc, "TCP")] != s.key:
                ctx.error(w, f"duplicate node port {hc}: expected a free port, found it already used by service {used[(hc, 'TCP')]}")
            used[(hc, "TCP")] = s.key


def _selectors(ctx: Ctx, c: Cluster) -> None:
    index = PodIndex(c.pods)
    for s in c.services:
        if s.selector is None or s.type == "ExternalName" or (s.source is not None and s.source.file == SYSTEM_FILE):
            continue  # (kube-dns has no CoreDNS pods in a topology without nodes: nothing to say)
        if not index.matching(s.namespace, s.selector):
            w = _at(ctx, ("service", s.namespace, s.name, "selector"), s.source)
            ctx.warn(w, f"service {s.key} selector {dict(s.selector)} matches no pod in namespace {s.namespace}: it has no endpoints")
    services = {(s.namespace, s.name) for s in c.services}
    for sl in c.endpoint_slices:
        if (sl.namespace, sl.service) not in services and sl.source is not None:
            ctx.warn(Where(sl.source.file, sl.source.line, sl.source.column, ""), f"endpoints for {sl.namespace}/{sl.service} name no Service; no traffic will reach them")
    for pol in c.network_policies:
        if pol.pod_selector.empty:
            continue
        if not any(pol.pod_selector.matches(p.labels) for p in index.candidates(pol.namespace, pol.pod_selector.match_labels)):
            w = _at(ctx, ("policy", pol.namespace, pol.name), pol.source)
            ctx.warn(w, f"NetworkPolicy {pol.key} podSelector {pol.pod_selector} matches no pod: it has no effect", path="spec.podSelector")


def _quotas(ctx: Ctx, c: Cluster) -> None:
    for q in c.resource_quotas:
        pods = [p for p in c.pods if p.namespace == q.namespace and p.phase not in ("Succeeded", "Failed")]
        svcs = [s for s in c.services if s.namespace == q.namespace]
        used = Counter({
            "pods": len(pods),
            "count/pods": len(pods),
            "services": len(svcs),
            "count/services": len(svcs),
            "services.nodeports": sum(1 for s in svcs if s.type in ("NodePort", "LoadBalancer") for p in s.ports if p.node_port),
            "services.loadbalancers": sum(1 for s in svcs if s.type == "LoadBalancer"),
            "replicationcontrollers": sum(1 for w in c.workloads if w.namespace == q.namespace and w.kind == "ReplicationController"),
            "count/replicasets.apps": sum(1 for w in c.workloads if w.namespace == q.namespace and w.kind == "ReplicaSet"),
            "count/deployments.apps": sum(1 for w in c.workloads if w.namespace == q.namespace and w.kind == "Deployment"),
            "count/networkpolicies.networking.k8s.io": sum(1 for p in c.network_policies if p.namespace == q.namespace),
        })
        used["count/replicationcontrollers"] = used["replicationcontrollers"]
        for key, limit in q.hard.items():
            if key not in used or not limit.isdigit():
                continue
            if used[key] > int(limit):
                w = _at(ctx, ("quota", q.namespace, q.name, key), q.source)
                ctx.error(w, f"ResourceQuota {q.namespace}/{q.name} exceeded: expected at most {limit} {key}, found {used[key]}")
