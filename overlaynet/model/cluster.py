"""The cluster as a whole: underlay (segments, routers), nodes and cluster-wide settings.

Workloads live in ``workloads.py``, Services and EndpointSlices in ``services.py``, policies in
``policy.py``; ``Cluster`` holds them all as tuples in file order.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from functools import cached_property
from typing import Any, Literal

from overlaynet.errors import AmbiguousName
from overlaynet.model.base import (
    EMPTY_LABELS,
    FrozenDict,
    IPAddress,
    IPNetwork,
    Labels,
    Source,
)
from overlaynet.model.policy import NetworkPolicy
from overlaynet.model.services import EndpointSlice, Service
from overlaynet.model.workloads import Namespace, Pod, ResourceQuota, Taint, Workload


@dataclass(frozen=True, slots=True)
class Segment:
    """An underlay L2 domain (a rack, a VLAN): one subnet (a dual-stack segment: one of each
    family, the second in ``extra_cidrs``), one MTU."""

    name: str
    cidr: IPNetwork
    mtu: int = 1500
    source: Source | None = field(default=None, compare=False)
    extra_cidrs: tuple[IPNetwork, ...] = ()

    @property
    def cidrs(self) -> tuple[IPNetwork, ...]:
        return (self.cidr, *self.extra_cidrs)


@dataclass(frozen=True, slots=True)
class Router:
    """An underlay router with one address on each segment it joins (segment name → IP)."""

    name: str
    interfaces: FrozenDict[str, IPAddress]
    source: Source | None = field(default=None, compare=False)


UNSCHEDULABLE_TAINT = Taint("node.kubernetes.io/unschedulable", "", "NoSchedule")


@dataclass(frozen=True, slots=True)
class Node:
    """A host: its underlay address(es) and segment, labels and the pod CIDR(s) it owns."""

    name: str
    ip: IPAddress
    segment: str
    labels: Labels = EMPTY_LABELS
    pod_cidrs: tuple[IPNetwork, ...] = ()
    extra_ips: tuple[IPAddress, ...] = ()  # more addresses of the host (on eth0), e.g. a second InternalIP
    pod_cidrs_allocated: bool = False  # True when the default IPAM chose ``pod_cidrs``
    source: Source | None = field(default=None, compare=False)
    taints: tuple[Taint, ...] = ()  # spec.taints
    unschedulable: bool = False  # spec.unschedulable (cordoned): the scheduler sees the taint below

    @property
    def effective_taints(self) -> tuple[Taint, ...]:
        """The taints the scheduler filters on: ``spec.taints`` plus, on a cordoned node,
        ``node.kubernetes.io/unschedulable:NoSchedule`` (the node lifecycle controller adds
        it; the NodeUnschedulable plugin refuses pods that do not tolerate it)."""
        if self.unschedulable and not any(t.key == UNSCHEDULABLE_TAINT.key and t.effect == "NoSchedule" for t in self.taints):
            return (*self.taints, UNSCHEDULABLE_TAINT)
        return self.taints

    @property
    def pod_cidr(self) -> IPNetwork | None:
        return self.pod_cidrs[0] if self.pod_cidrs else None

    @property
    def ips(self) -> tuple[IPAddress, ...]:
        return (self.ip, *self.extra_ips)


@dataclass(frozen=True, slots=True)
class Underlay:
    mtu: int = 1500
    segments: tuple[Segment, ...] = ()
    routers: tuple[Router, ...] = ()


@dataclass(frozen=True, slots=True)
class DNSSpec:
    cluster_ip: IPAddress | None = None  # None: the 10th address of the first service CIDR
    legacy_names: bool = True
    pods: Literal["insecure", "verified", "disabled"] = "insecure"
    upstreams: tuple[str, ...] = ()


DetectLocalMode = Literal["ClusterCIDR", "NodeCIDR", "BridgeInterface", "InterfaceNamePrefix"]
DETECT_LOCAL_MODES: tuple[DetectLocalMode, ...] = ("ClusterCIDR", "NodeCIDR", "BridgeInterface", "InterfaceNamePrefix")


@dataclass(frozen=True, slots=True)
class KubeProxySpec:
    """kube-proxy's settings (KubeProxyConfiguration / its flags) shared by every node."""

    mode: Literal["iptables"] = "iptables"
    masquerade_all: bool = False
    cluster_cidrs: tuple[IPNetwork, ...] | None = None  # None: the pod CIDRs; (): none configured
    nodeport_addresses: tuple[IPNetwork, ...] = ()
    nodeport_primary: bool = False  # nodePortAddresses: [primary]
    detect_local_mode: DetectLocalMode = "ClusterCIDR"
    bridge_interface: str = ""  # detectLocal.bridgeInterface (--pod-bridge-interface)
    interface_name_prefix: str = ""  # detectLocal.interfaceNamePrefix (--pod-interface-name-prefix)


@dataclass(frozen=True, slots=True)
class NetworkSpec:
    driver: str = "flannel"
    options: FrozenDict[str, Any] = field(default_factory=FrozenDict)
    source: Source | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class KVSpec:
    backend: Literal["memory", "etcd"] = "memory"
    endpoints: tuple[str, ...] = ()
    prefix: str = ""


@dataclass(frozen=True)
class Cluster:
    """A whole cluster, inert and typed; controllers and drivers read it, never mutate it."""

    name: str = "cluster"
    domain: str = "cluster.local"
    pod_cidrs: tuple[IPNetwork, ...] = ()
    service_cidrs: tuple[IPNetwork, ...] = ()
    node_port_range: tuple[int, int] = (30000, 32767)
    dns: DNSSpec = DNSSpec()
    kube_proxy: KubeProxySpec = KubeProxySpec()
    network: NetworkSpec = NetworkSpec()
    kv: KVSpec = KVSpec()
    underlay: Underlay = Underlay()
    nodes: tuple[Node, ...] = ()
    namespaces: tuple[Namespace, ...] = ()
    workloads: tuple[Workload, ...] = ()
    pods: tuple[Pod, ...] = ()
    services: tuple[Service, ...] = ()
    endpoint_slices: tuple[EndpointSlice, ...] = ()
    network_policies: tuple[NetworkPolicy, ...] = ()
    resource_quotas: tuple[ResourceQuota, ...] = ()
    extra: FrozenDict[str, Any] = field(default_factory=FrozenDict)  # foreign kinds (e.g. Calico policies) by driver
    source: Source | None = field(default=None, compare=False)

    def __getstate__(self) -> dict[str, Any]:
        # the fields only: lookup indexes (cached properties) are rebuilt on first use
        return {f.name: self.__dict__[f.name] for f in fields(self)}

    # --- lookups -----------------------------------------------------------------------
    @cached_property
    def _node_index(self) -> Mapping[str, Node]:
        return {n.name: n for n in self.nodes}

    @cached_property
    def _pod_index(self) -> Mapping[tuple[str, str], Pod]:
        return {(p.namespace, p.name): p for p in self.pods}

    @cached_property
    def _service_index(self) -> Mapping[tuple[str, str], Service]:
        return {(s.namespace, s.name): s for s in self.services}

    @cached_property
    def _namespace_index(self) -> Mapping[str, Namespace]:
        return {n.name: n for n in self.namespaces}

    @cached_property
    def _segment_index(self) -> Mapping[str, Segment]:
        return {s.name: s for s in self.underlay.segments}

    def node(self, name: str) -> Node:
        return self._node_index[name]

    def pod(self, namespace: str, name: str) -> Pod:
        return self._pod_index[(namespace, name)]

    def service(self, namespace: str, name: str) -> Service:
        return self._service_index[(namespace, name)]

    def namespace(self, name: str) -> Namespace:
        return self._namespace_index[name]

    def segment(self, name: str) -> Segment:
        return self._segment_index[name]

    def find_pod(self, text: str) -> Pod | None:
        """The pod ``ns/name`` (a bare ``name`` means namespace ``default``), or the only pod of
        ``ns`` whose name starts with ``name``; None when nothing matches. Raises
        AmbiguousName listing the candidates when several pods match the prefix."""
        ns, sep, name = text.partition("/")
        if not sep:
            ns, name = "default", text
        exact = self._pod_index.get((ns, name))
        if exact is not None or not name:
            return exact
        matches = [p for p in self.pods if p.namespace == ns and p.name.startswith(name)]
        if len(matches) > 1:
            raise AmbiguousName(text, [p.key for p in matches])
        return matches[0] if matches else None

    @cached_property
    def _slice_index(self) -> Mapping[tuple[str, str], tuple[EndpointSlice, ...]]:
        out: dict[tuple[str, str], list[EndpointSlice]] = {}
        for s in self.endpoint_slices:
            out.setdefault((s.namespace, s.service), []).append(s)
        return {k: tuple(v) for k, v in out.items()}

    def pods_on(self, node: str) -> tuple[Pod, ...]:
        return self._pods_by_node.get(node, ())

    @cached_property
    def _pods_by_node(self) -> Mapping[str, tuple[Pod, ...]]:
        out: dict[str, list[Pod]] = {}
        for p in self.pods:
            if p.node is not None:
                out.setdefault(p.node, []).append(p)
        return {k: tuple(v) for k, v in out.items()}

    def slices_for(self, service: Service) -> tuple[EndpointSlice, ...]:
        """The EndpointSlices of ``service`` (in the cluster's order), from an index built once."""
        return self._slice_index.get((service.namespace, service.name), ())

    def namespace_labels(self, name: str) -> Labels:
        ns = self._namespace_index.get(name)
        return ns.labels if ns is not None else FrozenDict({"kubernetes.io/metadata.name": name})

    @property
    def dns_ip(self) -> IPAddress | None:
        if self.dns.cluster_ip is not None:
            return self.dns.cluster_ip
        if not self.service_cidrs or self.service_cidrs[0].num_addresses <= 10:
            return None  # no room for the 10th address; the loader reports it
        return self.service_cidrs[0][10]
