"""Address allocation: host-local IPAM (node pod CIDRs, pod IPs) and the API server's
ClusterIP / NodePort allocators. Pure and deterministic; raise AddressExhausted when out.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import replace

from overlaynet.errors import AddressExhausted
from overlaynet.model import (
    Cluster,
    IPAddress,
    IPNetwork,
    Node,
    Pod,
    Service,
)
from overlaynet.model.base import evolve

NODE_MASK = {4: 24, 6: 64}  # kube-controller-manager --node-cidr-mask-size-ipv4/-ipv6


def _family(addr: IPAddress) -> str:
    return "IPv4" if addr.version == 4 else "IPv6"


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
        if net.version != self.pool.version or not net.overlaps(self.pool):
            return
        first = self.index(max(net.network_address, self.pool.network_address))
        last = self.index(min(net.broadcast_address, self.pool.broadcast_address))
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
            # a node's podCIDRs written in the file are kept as given: a dual-stack cluster
            # does not force a second family on it (its pods get the families it has)
            if sp.pool.version in have or (node.pod_cidrs and not node.pod_cidrs_allocated):
                continue
            sub = sp.for_node(node.name, pod_ips.get(node.name, []))
            if sub is None:
                raise AddressExhausted(
                    f"no free /{sp.prefix} left in pod CIDR {sp.pool} for node {node.name} "
                    f"({len(sp.taken)} node CIDRs already taken); use a larger podCIDR",
                    subject=("node", node.name),
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
            pods.append(evolve(pod, ips=node_.ips))
            continue
        ips: list[IPAddress] = []
        for cidr in _first_per_family(node_.pod_cidrs):
            # .1 is the bridge gateway: pods from .2
            ips.append(_next_free(cidr, used, cursors, 2, f"no free address left in pod CIDR {cidr} of node {pod.node} for pod {pod.key}", ("pod", pod.key)))
        pods.append(evolve(pod, ips=tuple(ips), allocated=True) if ips else pod)
    return replace(cluster, nodes=tuple(nodes), pods=tuple(pods))


def _next_free(cidr: IPNetwork, used: set[IPAddress], cursors: dict[IPNetwork, int], first: int, exhausted: str,
               subject: tuple[str, str] | None = None) -> IPAddress:
    """The next address of ``cidr`` not in ``used``, from offset ``first`` on (a cursor per
    CIDR keeps allocation linear); the IPv4 broadcast address is never handed out."""
    offset = cursors.get(cidr, first)
    last = cidr.num_addresses - (2 if cidr.version == 4 else 1)
    while offset <= last:
        addr = cidr[offset]
        offset += 1
        if addr not in used:
            used.add(addr)
            cursors[cidr] = offset
            return addr
    raise AddressExhausted(exhausted, subject=subject)


# --- service addresses ------------------------------------------------------------------
def allocate_service_addresses(cluster: Cluster) -> Cluster:
    """Fill missing ClusterIPs (one per family in ``ip_families``, sequentially from the second
    address of the service CIDR — the first belongs to the apiserver's ``kubernetes`` Service,
    as kube-apiserver reserves it — skipping the DNS IP and every taken IP; ``default/kubernetes``
    and ``kube-system/kube-dns`` get those two reserved addresses), NodePorts for
    NodePort/LoadBalancer services and healthCheckNodePort for LoadBalancer services with
    externalTrafficPolicy Local."""
    dns_ip = cluster.dns_ip
    taken_ips: set[IPAddress] = {ip for s in cluster.services for ip in s.cluster_ips}
    taken_ips |= {c[1] for c in cluster.service_cidrs if c.num_addresses > 2}  # default/kubernetes
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
            raise AddressExhausted(f"no free node port left in {lo}-{hi} for service {svc.key}", subject=("service", svc.key))
        taken_ports.add(port)
        cursor["port"] = port + 1
        return port

    # The addresses kept back above belong to two well-known Services: kube-apiserver gives
    # default/kubernetes the first address of each service CIDR, and kubeadm gives
    # kube-system/kube-dns the cluster DNS IP (the kubelet's clusterDNS).
    held = {ip for s in cluster.services for ip in s.cluster_ips}
    reserved: dict[tuple[str, str], list[IPAddress]] = {
        ("default", "kubernetes"): [c[1] for c in cluster.service_cidrs if c.num_addresses > 2],
        ("kube-system", "kube-dns"): [dns_ip] if dns_ip is not None else [],
    }

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
                own = [ip for ip in reserved.get((svc.namespace, svc.name), []) if ip in pool and ip not in held]
                if own:
                    held.add(own[0])
                    ips.append(own[0])
                    continue
                ips.append(_next_free(pool, taken_ips, ip_cursor, 1, f"no free ClusterIP left in service CIDR {pool} for service {svc.key}", ("service", svc.key)))
            svc = replace(svc, cluster_ips=tuple(ips))
        if svc.type in ("NodePort", "LoadBalancer"):
            ports = tuple(p if p.node_port is not None else replace(p, node_port=next_port(svc)) for p in svc.ports)
            svc = replace(svc, ports=ports)
            if svc.type == "LoadBalancer" and svc.external_traffic_policy == "Local" and svc.health_check_node_port is None:
                svc = replace(svc, health_check_node_port=next_port(svc))
        services.append(svc)
    return replace(cluster, services=tuple(services))


def covering(items: Iterable[IPAddress | IPNetwork], max_prefix: int) -> IPNetwork | None:
    """The smallest network of prefix length <= ``max_prefix`` containing every item."""
    nets = [ipaddress.ip_network(i) if not isinstance(i, ipaddress.IPv4Network | ipaddress.IPv6Network) else i for i in items]
    if not nets:
        return None
    net = nets[0].supernet(new_prefix=min(max_prefix, nets[0].prefixlen))
    while not all(n.subnet_of(net) for n in nets):  # type: ignore[arg-type]
        net = net.supernet()
    return net
