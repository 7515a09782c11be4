"""The controllers a real cluster runs, as pure functions of a ``Cluster``.

``reconcile_endpoints`` is the EndpointSlice controller (and the mirroring controller's result
for selector-less services); ``allocate_default`` is host-local IPAM with node CIDRs from the
node IPAM controller; ``schedule`` and ``allocate_service_addresses`` stand in for
kube-scheduler and the API server's ClusterIP/NodePort allocators. All are deterministic and
idempotent: drivers call ``reconcile_endpoints`` again after their IPAM moves pod IPs.
"""

from __future__ import annotations

import heapq
import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import replace

from overlaynet.errors import AddressExhausted, Diagnostic, TopologyError
from overlaynet.model import (
    Cluster,
    Endpoint,
    EndpointPort,
    EndpointSlice,
    IPAddress,
    IPNetwork,
    Labels,
    Node,
    ObjectRef,
    Pod,
    Service,
)
from overlaynet.topology.naming import slice_name

MAX_ENDPOINTS_PER_SLICE = 100  # kube-controller-manager --max-endpoints-per-slice default
CONTROLLER = "endpointslice-controller.k8s.io"
NODE_MASK = {4: 24, 6: 64}  # kube-controller-manager --node-cidr-mask-size-ipv4/-ipv6
ZONE_LABEL = "topology.kubernetes.io/zone"

__all__ = [
    "allocate_default",
    "allocate_service_addresses",
    "reconcile_endpoints",
    "schedule",
]


# --- endpoints ---------------------------------------------------------------------------
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
    if not out:  # the controller keeps one empty slice per family so consumers see "no endpoints"
        for fam in families:
            ports = tuple(EndpointPort(p.port if not isinstance(p.target_port, int) else p.target_port, p.protocol, p.name or "", p.app_protocol)
                          for p in svc.ports if not isinstance(p.target_port, str))
            out.append(EndpointSlice(slice_name(svc.namespace, svc.name, f"{fam}/empty"), svc.namespace, svc.name, fam, (), ports, CONTROLLER, svc.source))  # type: ignore[arg-type]
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


def reconcile_endpoints(cluster: Cluster) -> Cluster:
    """Return ``cluster`` with EndpointSlices recomputed for every Service with a selector.

    Selector-less Services keep their slices (given by hand or mirrored from Endpoints);
    slices for services that do not exist are kept as given. Pure and idempotent.
    """
    zones = {n.name: n.labels.get(ZONE_LABEL) for n in cluster.nodes}
    index = PodIndex(cluster.pods)
    selected = {(s.namespace, s.name) for s in cluster.services if s.selector is not None and s.type != "ExternalName"}
    kept = [s for s in cluster.endpoint_slices if (s.namespace, s.service) not in selected]
    made: list[EndpointSlice] = []
    for svc in cluster.services:
        if (svc.namespace, svc.name) in selected:
            made.extend(_slices_for(svc, index.candidates(svc.namespace, svc.selector or {}), zones))
    return replace(cluster, endpoint_slices=tuple(made + kept))


# --- scheduling --------------------------------------------------------------------------
def schedule(cluster: Cluster, node_selectors: Mapping[tuple[str, str], Labels] | None = None) -> Cluster:
    """Give every pod without a node one, deterministically, spreading like kube-scheduler's
    default topology spread: fewest pods of the same owner in the zone (the node's
    ``topology.kubernetes.io/zone`` label, else its segment), then on the node, then fewest
    pods overall, then node name. Raises TopologyError when no node fits a nodeSelector."""
    node_selectors = node_selectors or {}
    nodes = sorted(cluster.nodes, key=lambda n: n.name)
    if not nodes or all(p.node is not None for p in cluster.pods):
        return cluster
    zone = {n.name: n.labels.get(ZONE_LABEL, n.segment) for n in nodes}
    total: dict[str, int] = {n.name: 0 for n in nodes}
    by_owner_node: dict[tuple[str, str], int] = {}
    by_owner_zone: dict[tuple[str, str | None], int] = {}

    def group_of(pod: Pod) -> str:
        return pod.owner or f"{pod.namespace}/{sorted(pod.labels.items())}"

    def score(group: str, node: str) -> tuple[int, int, str]:
        return (by_owner_node.get((group, node), 0), total[node], node)

    def count(group: str, node: str) -> None:
        if node in total:
            total[node] += 1
            by_owner_node[(group, node)] = by_owner_node.get((group, node), 0) + 1
            by_owner_zone[(group, zone[node])] = by_owner_zone.get((group, zone[node]), 0) + 1

    def best_in(group: str, heap: list[tuple[tuple[int, int, str], str]]) -> tuple[tuple[int, int, str], str]:
        # Scores only grow, so an entry whose stored score is still current at the top of
        # its heap is the true minimum; stale ones are pushed back with their new score.
        while True:
            stored, name = heap[0]
            current = score(group, name)
            if current == stored:
                return current, name
            heapq.heapreplace(heap, (current, name))

    for pod in cluster.pods:
        if pod.node is not None:
            count(group_of(pod), pod.node)
    # Per (group, nodeSelector): per zone, a lazy min-heap of the fitting nodes.
    heaps: dict[tuple[str, tuple[tuple[str, str], ...]], dict[str | None, list[tuple[tuple[int, int, str], str]]]] = {}
    pods: list[Pod] = []
    for pod in cluster.pods:
        if pod.node is not None:
            pods.append(pod)
            continue
        wanted: Mapping[str, str] = node_selectors.get((pod.namespace, pod.name), {})
        group = group_of(pod)
        hkey = (group, tuple(sorted(wanted.items())))
        zones = heaps.get(hkey)
        if zones is None:
            fits = [n.name for n in nodes if all(n.labels.get(k) == v for k, v in wanted.items())]
            if not fits:
                src = pod.source
                raise TopologyError([Diagnostic(src.file if src else "<topology>", src.line if src else 1, src.column if src else 1,
                                                "spec.nodeSelector", f"expected a node with labels {dict(wanted)} for pod {pod.key}, found none")])
            zones = {}
            for n in fits:
                zones.setdefault(zone[n], []).append((score(group, n), n))
            for heap in zones.values():
                heapq.heapify(heap)
            heaps[hkey] = zones
        low = min(by_owner_zone.get((group, z), 0) for z in zones)
        candidates = [best_in(group, heap) for z, heap in zones.items() if by_owner_zone.get((group, z), 0) == low]
        _, name = min(candidates)
        count(group, name)
        heap = zones[zone[name]]
        best_in(group, heap)  # refresh the chosen node's entry (it is at the top)
        pods.append(replace(pod, node=name))
    return replace(cluster, pods=tuple(pods))


# --- IPAM ----------------------------------------------------------------------------------
def _first_per_family(nets: Iterable[IPNetwork]) -> list[IPNetwork]:
    seen: dict[int, IPNetwork] = {}
    for net in nets:
        seen.setdefault(net.version, net)
    return list(seen.values())


class _SubnetPool:
    """The node-sized subnets of one pool, by index, and who blocks each: node CIDRs (for
    everyone) and known pod IPs (for every node but their own)."""

    def __init__(self, pool: IPNetwork, taken: Iterable[IPNetwork], pod_ips: Mapping[str, list[IPAddress]]) -> None:
        self.pool = pool
        self.prefix = max(NODE_MASK[pool.version], pool.prefixlen)
        self.shift = pool.max_prefixlen - self.prefix
        self.count = 1 << (self.prefix - pool.prefixlen)
        self.base = int(pool.network_address)
        self.taken: set[int] = set()
        self.pinned: dict[int, set[str]] = {}
        self.cursor = 0
        for net in taken:
            self.take(net)
        for node, ips in pod_ips.items():
            for ip in ips:
                if ip.version == pool.version and ip in pool:
                    self.pinned.setdefault(self.index(ip), set()).add(node)

    def index(self, addr: IPAddress) -> int:
        return (int(addr) - self.base) >> self.shift

    def subnet(self, idx: int) -> IPNetwork:
        return ipaddress.ip_network((self.base + (idx << self.shift), self.prefix))

    def take(self, net: IPNetwork) -> None:
        if net.version != self.pool.version or not net.overlaps(self.pool):  # type: ignore[arg-type]
            return
        first = self.index(max(net.network_address, self.pool.network_address))  # type: ignore[type-var]
        last = self.index(min(net.broadcast_address, self.pool.broadcast_address))  # type: ignore[type-var]
        self.taken.update(range(first, last + 1))

    def for_node(self, node: str, ips: list[IPAddress]) -> IPNetwork | None:
        """The subnet holding all the node's known pod IPs if free, else the next free one."""
        mine = {self.index(ip) for ip in ips if ip.version == self.pool.version and ip in self.pool}
        if len(mine) == 1:
            (idx,) = mine
            if idx not in self.taken and self.pinned.get(idx, set()) <= {node}:
                return self._claim(idx)
        while self.cursor < self.count:
            idx = self.cursor
            self.cursor += 1
            if idx not in self.taken and not self.pinned.get(idx):
                return self._claim(idx)
        return None

    def _claim(self, idx: int) -> IPNetwork:
        self.taken.add(idx)
        return self.subnet(idx)


def allocate_default(cluster: Cluster) -> Cluster:
    """Host-local IPAM: a /24 (IPv4) or /64 (IPv6) per node from the cluster pod CIDRs, in node
    order, then pod addresses from ``.2`` (``.1`` is the bridge gateway) in pod order.

    Only nodes without a pod CIDR of a family and pods without IPs are touched; they are
    marked ``pod_cidrs_allocated`` / ``allocated``. Raises AddressExhausted when out.
    """
    # Pods that already have addresses pin their node's subnet (a live dump without podCIDRs).
    pod_ips: dict[str, list[IPAddress]] = {}
    for p in cluster.pods:
        if p.node is not None and not p.host_network:
            pod_ips.setdefault(p.node, []).extend(p.ips)
    given = [c for n in cluster.nodes for c in n.pod_cidrs]
    pools = [_SubnetPool(pool, given, pod_ips) for pool in _first_per_family(cluster.pod_cidrs)]
    nodes: list[Node] = []
    for node in cluster.nodes:
        have = {c.version for c in node.pod_cidrs}
        added: list[IPNetwork] = []
        for sp in pools:
            if sp.pool.version in have:
                continue
            sub = sp.for_node(node.name, pod_ips.get(node.name, []))
            if sub is None:
                raise AddressExhausted(
                    f"no free /{sp.prefix} left in pod CIDR {sp.pool} for node {node.name} "
                    f"({len(sp.taken)} node CIDRs already taken); use a larger podCIDR"
                )
            added.append(sub)
        if added:
            node = replace(node, pod_cidrs=tuple(sorted((*node.pod_cidrs, *added), key=lambda c: c.version)), pod_cidrs_allocated=True)
        nodes.append(node)
    by_name = {n.name: n for n in nodes}
    used: set[IPAddress] = {ip for p in cluster.pods for ip in p.ips}
    cursors: dict[IPNetwork, int] = {}
    pods: list[Pod] = []
    for pod in cluster.pods:
        node_ = by_name.get(pod.node) if pod.node else None
        if pod.ips or node_ is None or pod.phase in ("Succeeded", "Failed"):
            pods.append(pod)
            continue
        if pod.host_network:
            pods.append(replace(pod, ips=node_.ips))
            continue
        ips: list[IPAddress] = []
        for cidr in _first_per_family(node_.pod_cidrs):
            ips.append(_next_address(cidr, used, cursors, pod))
        pods.append(replace(pod, ips=tuple(ips), allocated=True) if ips else pod)
    return replace(cluster, nodes=tuple(nodes), pods=tuple(pods))


def _next_address(cidr: IPNetwork, used: set[IPAddress], cursors: dict[IPNetwork, int], pod: Pod) -> IPAddress:
    offset = cursors.get(cidr, 2)
    last = cidr.num_addresses - (2 if cidr.version == 4 else 1)  # keep the broadcast address
    while offset <= last:
        addr = cidr[offset]
        offset += 1
        if addr not in used:
            used.add(addr)
            cursors[cidr] = offset
            return addr
    raise AddressExhausted(f"no free address left in pod CIDR {cidr} of node {pod.node} for pod {pod.key}")


# --- service addresses ------------------------------------------------------------------
def allocate_service_addresses(cluster: Cluster) -> Cluster:
    """Fill missing ClusterIPs (one per family in ``ip_families``, sequentially from the first
    address of the service CIDR, skipping the DNS IP and every taken IP), NodePorts for
    NodePort/LoadBalancer services and healthCheckNodePort for LoadBalancer services with
    externalTrafficPolicy Local."""
    try:
        dns_ip = cluster.dns_ip
    except IndexError:  # a service CIDR too small to hold the 10th address
        dns_ip = None
    taken_ips: set[IPAddress] = {ip for s in cluster.services for ip in s.cluster_ips}
    if dns_ip is not None:
        taken_ips.add(dns_ip)
    taken_ports: set[int] = {p.node_port for s in cluster.services for p in s.ports if p.node_port is not None}
    taken_ports |= {s.health_check_node_port for s in cluster.services if s.health_check_node_port is not None}
    lo, hi = cluster.node_port_range
    cursor = {"ip": {}, "port": lo}  # type: dict[str, object]
    ip_cursor: dict[IPNetwork, int] = {}

    def next_port(svc: Service) -> int:
        port = int(cursor["port"])  # type: ignore[call-overload]
        while port <= hi and port in taken_ports:
            port += 1
        if port > hi:
            raise AddressExhausted(f"no free node port left in {lo}-{hi} for service {svc.key}")
        taken_ports.add(port)
        cursor["port"] = port + 1
        return port

    services: list[Service] = []
    for svc in cluster.services:
        if svc.type != "ExternalName" and not svc.headless:
            have = {_family(i) for i in svc.cluster_ips}
            ips = list(svc.cluster_ips)
            for fam in svc.ip_families:
                if fam in have:
                    continue
                pool = next((c for c in cluster.service_cidrs if _family(c.network_address) == fam), None)
                if pool is None:
                    continue  # reported by validation
                ips.append(_next_service_ip(pool, taken_ips, ip_cursor, svc))
            svc = replace(svc, cluster_ips=tuple(ips))
        if svc.type in ("NodePort", "LoadBalancer"):
            ports = tuple(p if p.node_port is not None else replace(p, node_port=next_port(svc)) for p in svc.ports)
            svc = replace(svc, ports=ports)
            if svc.type == "LoadBalancer" and svc.external_traffic_policy == "Local" and svc.health_check_node_port is None:
                svc = replace(svc, health_check_node_port=next_port(svc))
        services.append(svc)
    return replace(cluster, services=tuple(services))


def _next_service_ip(pool: IPNetwork, taken: set[IPAddress], cursors: dict[IPNetwork, int], svc: Service) -> IPAddress:
    offset = cursors.get(pool, 1)
    last = pool.num_addresses - (2 if pool.version == 4 else 1)
    while offset <= last:
        addr = pool[offset]
        offset += 1
        if addr not in taken:
            taken.add(addr)
            cursors[pool] = offset
            return addr
    raise AddressExhausted(f"no free ClusterIP left in service CIDR {pool} for service {svc.key}")


def covering(items: Iterable[IPAddress | IPNetwork], max_prefix: int) -> IPNetwork | None:
    """The smallest network of prefix length <= ``max_prefix`` containing every item."""
    nets = [ipaddress.ip_network(i) if not isinstance(i, ipaddress.IPv4Network | ipaddress.IPv6Network) else i for i in items]
    if not nets:
        return None
    net = nets[0].supernet(new_prefix=min(max_prefix, nets[0].prefixlen))
    while not all(n.subnet_of(net) for n in nets):  # type: ignore[arg-type]
        net = net.supernet()
    return net
