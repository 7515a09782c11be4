"""The model: frozen, typed dataclasses for a cluster; building one never touches the OS."""

from overlaynet.model import base as _base
from overlaynet.model import cluster as _cluster
from overlaynet.model import netpol as _netpol
from overlaynet.model import policy as _policy
from overlaynet.model import services as _services
from overlaynet.model import workloads as _workloads
from overlaynet.model.base import (
    EMPTY_LABELS,
    FrozenDict,
    IPAddress,
    IPNetwork,
    Labels,
    LabelSelector,
    Requirement,
    Source,
    ip_address,
    ip_network,
    labels,
)
from overlaynet.model.cluster import (
    Cluster,
    DNSSpec,
    KubeProxySpec,
    KVSpec,
    NetworkSpec,
    Node,
    Router,
    Segment,
    Underlay,
)
from overlaynet.model.graph import to_graph
from overlaynet.model.policy import IPBlock, NetworkPolicy, PolicyPeer, PolicyPort, PolicyRule
from overlaynet.model.services import (
    Endpoint,
    EndpointPort,
    EndpointSlice,
    ObjectRef,
    Service,
    ServicePort,
)
from overlaynet.model.workloads import (
    ContainerPort,
    Hook,
    Namespace,
    Pod,
    PodDNSConfig,
    Probe,
    ResourceQuota,
    Taint,
    Toleration,
    Workload,
)

__all__ = [
    "EMPTY_LABELS",
    "Cluster",
    "ContainerPort",
    "DNSSpec",
    "Endpoint",
    "EndpointPort",
    "EndpointSlice",
    "FrozenDict",
    "IPAddress",
    "IPBlock",
    "IPNetwork",
    "KVSpec",
    "KubeProxySpec",
    "LabelSelector",
    "Labels",
    "Namespace",
    "NetworkPolicy",
    "NetworkSpec",
    "Node",
    "ObjectRef",
    "Pod",
    "Hook",
    "PodDNSConfig",
    "PolicyPeer",
    "PolicyPort",
    "PolicyRule",
    "Probe",
    "Requirement",
    "ResourceQuota",
    "Router",
    "Segment",
    "Service",
    "ServicePort",
    "Source",
    "Taint",
    "Toleration",
    "Underlay",
    "Workload",
    "ip_address",
    "ip_network",
    "labels",
    "to_graph",
]

# the load cache unpickles ~10^6 of these at 150,000 pods (base.unpickle_fast)
_base.unpickle_fast(_base, _cluster, _netpol, _policy, _services, _workloads)
