"""What a sweep traces: source equivalence classes × Service ports, planned from the model.

Pure: reads a loaded ``Cluster`` and returns plain values (``SourceClass``, ``Flow``) that
pickle cheaply to Dask workers. The engine (``engine.py``) traces them; ``diff.py`` compares
two results.

Sources the network cannot tell apart form one class, traced once through its first member:

* pods with the same namespace (and namespace labels), the same labels, the same
  host-network flag and the same *node class*;
* a node class is the nodes of one underlay segment with the same labels (per-node labels
  such as ``kubernetes.io/hostname`` left out) — unless the answer can depend on the very
  node: a Service with ``internalTrafficPolicy: Local`` is traced from every node, and a
  policy ``ipBlock`` that holds pod addresses makes every node its own class;
* every node itself (host network), and outside clients (``--external``, default
  ``203.0.113.10``, TEST-NET-3) entering at the border router.

Targets per Service port: the ClusterIP (from pods and nodes), the NodePort on every node
class's first node (on every node for ``externalTrafficPolicy: Local``), LoadBalancer ingress
IPs and externalIPs (from outside clients).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from ipaddress import ip_address
from typing import Literal

from overlaynet.model import Cluster, Node, Pod, Service

__all__ = ["DEFAULT_EXTERNAL", "Flow", "FlowFilter", "SourceClass", "plan"]

DEFAULT_EXTERNAL = "203.0.113.10"
# labels a kubelet sets per node: they name the node, they do not make it different
_PER_NODE_LABELS = ("kubernetes.io/hostname",)

TargetKind = Literal["ClusterIP", "NodePort", "LoadBalancer", "ExternalIP"]
SourceKind = Literal["pod", "node", "external"]


@dataclass(frozen=True, slots=True)
class SourceClass:
    """Sources traced as one: ``source`` is the word given to the tracer (its first member)."""

    name: str
    kind: SourceKind
    source: str
    members: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Flow:
    """One trace of a sweep: a source class to one Service port through one address."""

    source_class: str
    source: str
    service: str  # namespace/name
    port_name: str
    kind: TargetKind
    address: str
    port: int
    proto: Literal["tcp", "udp"]

    @property
    def key(self) -> tuple[str, str, str, str, str, int, str]:
        return (self.source_class, self.service, self.port_name, self.kind, self.address, self.port, self.proto)

    @property
    def target(self) -> str:
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"{host}:{self.port}"


@dataclass(frozen=True, slots=True)
class FlowFilter:
    """Which Services to sweep: names (``ns/name`` or ``name``), namespaces, ports."""

    services: tuple[str, ...] = ()
    namespaces: tuple[str, ...] = ()
    ports: tuple[int, ...] = ()

    def admits(self, svc: Service) -> bool:
        if self.namespaces and svc.namespace not in self.namespaces:
            return False
        return not self.services or any(s in (svc.key, svc.name) for s in self.services)


@dataclass(frozen=True, slots=True)
class Plan:
    classes: tuple[SourceClass, ...]
    flows: tuple[Flow, ...]
    skipped: tuple[str, ...]  # Service ports not swept, with the reason


def _node_class_key(node: Node, exact: bool) -> tuple[object, ...]:
    if exact:
        return (node.name,)
    labels = tuple(sorted((k, v) for k, v in node.labels.items() if k not in _PER_NODE_LABELS))
    return (node.segment, labels)


def _pod_addresses_in_ip_blocks(cluster: Cluster) -> bool:
    pod_cidrs = [c for n in cluster.nodes for c in n.pod_cidrs]
    for pol in cluster.network_policies:
        for rule in (*pol.ingress, *pol.egress):
            for peer in rule.peers:
                block = peer.ip_block
                if block is not None and any(c.version == block.cidr.version and c.overlaps(block.cidr) for c in pod_cidrs):
                    return True
    return False


def _node_classes(cluster: Cluster, exact: bool) -> dict[str, tuple[Node, ...]]:
    """Node name → the nodes of its class (sorted by name; the first is traced)."""
    groups: dict[tuple[object, ...], list[Node]] = {}
    for node in sorted(cluster.nodes, key=lambda n: n.name):
        groups.setdefault(_node_class_key(node, exact), []).append(node)
    return {n.name: tuple(members) for members in groups.values() for n in members}


def _labels(labels: Iterable[tuple[str, str]]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(labels))


def _pod_classes(cluster: Cluster, node_class: dict[str, tuple[Node, ...]]) -> list[SourceClass]:
    ns_labels = {ns.name: tuple(sorted(ns.labels.items())) for ns in cluster.namespaces}
    groups: dict[tuple[str, str, tuple[tuple[str, str], ...], tuple[tuple[str, str], ...], bool], list[Pod]] = {}
    for pod in sorted(cluster.pods, key=lambda p: p.key):
        if pod.node is None or not pod.ips or pod.phase not in ("Running", "Pending"):
            continue
        first_node = node_class[pod.node][0].name
        key = (first_node, pod.namespace, ns_labels.get(pod.namespace, ()), tuple(sorted(pod.labels.items())), pod.host_network)
        groups.setdefault(key, []).append(pod)
    out = []
    for (first_node, ns, _nsl, labels, host_net), pods in groups.items():
        where = f"{first_node}+{len(node_class[first_node]) - 1}" if len(node_class[first_node]) > 1 else first_node
        net = " hostNetwork" if host_net else ""
        name = f"pod {ns} {{{_labels(labels)}}}{net} @{where}"
        out.append(SourceClass(name, "pod", pods[0].key, tuple(p.key for p in pods)))
    return out


def plan(
    cluster: Cluster,
    *,
    flow_filter: FlowFilter | None = None,
    externals: Sequence[str] = (DEFAULT_EXTERNAL,),
    exact_nodes: bool = False,
) -> Plan:
    """Every source class × every admitted Service port, in a stable order.

    >>> from overlaynet.topology import load
    >>> p = plan(load(["topologies/demo.yaml"]).cluster, flow_filter=FlowFilter(services=("default/web",)))
    >>> sorted({f.kind for f in p.flows}), len({f.source_class for f in p.flows}) == len(p.classes) - 1
    (['ClusterIP'], True)
    """
    for ext in externals:
        try:
            ip_address(ext)
        except ValueError:
            raise ValueError(f"--external {ext!r}: expected an IP address") from None
    flow_filter = flow_filter or FlowFilter()
    exact = exact_nodes or _pod_addresses_in_ip_blocks(cluster)
    node_class = _node_classes(cluster, exact)
    classes = _pod_classes(cluster, node_class)
    nodes = sorted(cluster.nodes, key=lambda n: n.name)
    node_sources = [SourceClass(f"node {n.name}", "node", n.name, (n.name,)) for n in nodes]
    ext_sources = [SourceClass(f"external {e}", "external", e, (e,)) for e in externals] if cluster.underlay.routers else []
    # one node of each node class stands for its class's host-network traffic, except where
    # the very node matters (internalTrafficPolicy Local): then all nodes
    class_heads = {members[0].name for members in node_class.values()}
    flows: list[Flow] = []
    skipped: list[str] = []
    for svc in sorted(cluster.services, key=lambda s: s.key):
        if not flow_filter.admits(svc):
            continue
        for sp in svc.ports:
            pname = sp.name or str(sp.port)
            if flow_filter.ports and sp.port not in flow_filter.ports and (sp.node_port not in flow_filter.ports):
                continue
            if sp.protocol not in ("TCP", "UDP"):
                skipped.append(f"{svc.key}:{pname}: {sp.protocol} is not traced (TCP and UDP only)")
                continue
            proto: Literal["tcp", "udp"] = "tcp" if sp.protocol == "TCP" else "udp"
            if svc.headless or not svc.cluster_ips:
                skipped.append(f"{svc.key}:{pname}: headless (no virtual IP to sweep)")
                continue
            local_itp = svc.internal_traffic_policy == "Local"
            for ip in svc.cluster_ips:
                for sc in classes:
                    flows.append(Flow(sc.name, sc.source, svc.key, pname, "ClusterIP", str(ip), sp.port, proto))
                for ns in node_sources:
                    if local_itp or ns.source in class_heads:
                        flows.append(Flow(ns.name, ns.source, svc.key, pname, "ClusterIP", str(ip), sp.port, proto))
            if sp.node_port is not None and svc.type in ("NodePort", "LoadBalancer"):
                every = svc.external_traffic_policy == "Local"
                for es in ext_sources:
                    for n in nodes:
                        if every or n.name in class_heads:
                            flows.append(Flow(es.name, es.source, svc.key, pname, "NodePort", str(n.ip), sp.node_port, proto))
            outside = [("LoadBalancer", ip) for ip in svc.load_balancer_ips] if svc.type == "LoadBalancer" else []
            outside += [("ExternalIP", ip) for ip in svc.external_ips]
            for kind, ip in outside:
                for es in ext_sources:
                    flows.append(Flow(es.name, es.source, svc.key, pname, kind, str(ip), sp.port, proto))  # type: ignore[arg-type]
    used = {f.source_class for f in flows}
    all_classes = tuple(c for c in (*classes, *node_sources, *ext_sources) if c.name in used or c.kind == "pod")
    return Plan(all_classes, tuple(flows), tuple(skipped))
