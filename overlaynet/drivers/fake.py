"""``FakeDriver``: the simplest correct CNI, for tests (ours and users'): no encapsulation.

Per node a Linux bridge ``cbr0`` holding the first address of the node's pod CIDR, pods on
veths (the bridge + host-local plugins, as kubenet), and a plain route to every other
node's pod CIDR via that node's IP when both share a segment. Across segments it does what
a cloud route table does: each underlay router gets ``<pod CIDR> via <next hop>`` for every
node, and hosts reach other segments' pods through their default route.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any, ClassVar

from overlaynet.dataplane.ir import Dataplane, NetNamespace, NsRef, Route
from overlaynet.dataplane.lookup import lookup_route
from overlaynet.drivers.base import Driver
from overlaynet.drivers.cni import (
    BridgeConf,
    allocate_pod_ips,
    assign_node_cidrs,
    program_bridge,
    v4_cidr,
)
from overlaynet.errors import DriverOptionError
from overlaynet.model import Cluster, Node, Pod

if TYPE_CHECKING:
    from overlaynet.kv.base import KVStore

__all__ = ["BRIDGE", "FakeDriver"]

IPv4Network = ipaddress.IPv4Network
BRIDGE = "cbr0"
DEFAULT_NETWORK = IPv4Network("10.244.0.0/16")
NODE_PREFIX = 24  # kube-controller-manager's --node-cidr-mask-size default
ORIGIN = "fake CNI (bridge plugin)"
CLOUD = "fake cloud route table"


class FakeDriver(Driver):
    """No overlay: bridge ``cbr0`` per node, routes between nodes' pod CIDRs.

    >>> FakeDriver.validate_options({"backend": "vxlan"})
    Traceback (most recent call last):
    ...
    overlaynet.errors.DriverOptionError: fake: option 'backend': the fake driver takes no options
    """

    name: ClassVar[str] = "fake"

    def __init__(
        self,
        cluster: Cluster,
        options: Mapping[str, Any] | None = None,
        *,
        kv: KVStore | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__(cluster, options, kv=kv, seed=seed)
        self._allocated: Cluster | None = None
        self._pods_by_node: dict[str, list[Pod]] = {}

    @classmethod
    def validate_options(cls, options: Mapping[str, Any]) -> dict[str, Any]:
        for key in options:
            raise DriverOptionError("fake", str(key), "the fake driver takes no options", unknown=True)
        return {}

    def allocate(self) -> Cluster:
        """Nodes without a pod CIDR get the first free /24 of the cluster's pod CIDR; pods
        get addresses from their node's CIDR (host-local: ``.1`` is ``cbr0``, pods ``.2``+)."""
        cluster = self.cluster
        v4 = [c for c in cluster.pod_cidrs if isinstance(c, IPv4Network)]
        network = v4[0] if v4 else DEFAULT_NETWORK
        nodes = assign_node_cidrs(cluster.nodes, network, max(NODE_PREFIX, network.prefixlen), who="fake")
        subnets = {n.name: c for n in nodes if (c := v4_cidr(n)) is not None}
        pods = allocate_pod_ips(cluster.pods, subnets, who="fake")
        self._allocated = replace(cluster, nodes=nodes, pods=pods)
        self._pods_by_node = {}
        for pod in pods:
            if pod.node is not None and not pod.host_network and pod.ips:
                self._pods_by_node.setdefault(pod.node, []).append(pod)
        return self._allocated

    def _state(self) -> Cluster:
        return self._allocated if self._allocated is not None else self.allocate()

    def pod_mtu(self, node: Node) -> int:
        """The MTU of the node's underlay link: no encapsulation, no overhead."""
        segments = {s.name: s for s in self.cluster.underlay.segments}
        seg = segments.get(node.segment)
        return seg.mtu if seg is not None else self.cluster.underlay.mtu

    def program_node(self, dp: Dataplane, node: Node) -> None:
        cluster = self._state()
        n = cluster.node(node.name)
        subnet = v4_cidr(n)
        if subnet is None:
            return
        root = dp.namespaces[NsRef(n.name)]
        program_bridge(dp, root, BridgeConf(BRIDGE, subnet, self.pod_mtu(n), ORIGIN),
                       self._pods_by_node.get(n.name, ()))
        for other in cluster.nodes:
            cidr = v4_cidr(other)
            if other.name == n.name or cidr is None or other.segment != n.segment:
                continue
            root.add_route(Route(
                dst=cidr, via=other.ip, dev="eth0", proto="boot",
                origin=f"fake: pod CIDR {cidr} of {other.name}, same segment {n.segment}",
            ))
        for router in cluster.underlay.routers:
            ns = dp.namespaces.get(NsRef(router.name))
            if ns is not None:
                _program_router(ns, cluster)


def _program_router(ns: NetNamespace, cluster: Cluster) -> None:
    """Once per router: a route to every node's pod CIDR towards that node, as a cloud
    route table would (next hop: the node if on a connected segment, else the underlay's
    own next hop to the node's address)."""
    if any(r.origin.startswith(CLOUD) for r in ns.routes):
        return
    plan: list[Route] = []
    for node in cluster.nodes:
        cidr = v4_cidr(node)
        if cidr is None:
            continue
        towards = lookup_route(ns, node.ip)
        if towards is None or towards.dst.prefixlen == 0 or towards.type != "unicast":
            continue  # unreachable through the underlay (or only via the outside)
        plan.append(Route(
            dst=cidr, via=towards.via or node.ip, dev=towards.dev, proto="static",
            origin=f"{CLOUD}: pod CIDR {cidr} of {node.name} ({node.ip})",
        ))
    for route in plan:
        ns.add_route(route)
