"""``FlannelDriver``: flanneld (config, leases, backend) plus the flannel CNI plugin.

``allocate`` writes the network config and one lease per node into the KV store and gives
pods addresses from their node's lease; ``program_node`` reads the leases back, as
flanneld's watch does, and writes the backend's devices/routes and the ``cni0`` bridge.
"""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any, ClassVar

from overlaynet.dataplane.ir import Dataplane, NsRef
from overlaynet.drivers.base import Driver
from overlaynet.drivers.cni import (
    BridgeConf,
    allocate_pod_ips,
    assign_node_cidrs,
    local_mac,
    program_bridge,
    v4_cidr,
)
from overlaynet.errors import Diagnostic, TopologyError
from overlaynet.model import Cluster, Node, Pod

from . import masq
from .backends import HostContext, PeerEntries, ext_interface, program_backend
from .config import NetworkConfig, resolve_config, validate_options
from .leases import Lease, LeaseReader, acquire_etcd, acquire_kube

if TYPE_CHECKING:
    from overlaynet.kv.base import KVStore

__all__ = ["BRIDGE", "FlannelDriver"]

IPv4Address = ipaddress.IPv4Address
IPv4Network = ipaddress.IPv4Network
BRIDGE = "cni0"
CNI = "flannel CNI (bridge plugin)"


class FlannelDriver(Driver):
    """Flannel: vxlan, host-gw or udp between hosts, the CNI bridge ``cni0`` inside them.

    >>> from overlaynet.model import Cluster, Node, Segment, Underlay, ip_address, ip_network
    >>> seg = Segment("rack", ip_network("192.168.10.0/24"))
    >>> node = Node("node-1", ip_address("192.168.10.11"), "rack", pod_cidrs=(ip_network("10.244.1.0/24"),))
    >>> drv = FlannelDriver(Cluster(underlay=Underlay(segments=(seg,)), nodes=(node,)))
    >>> print(drv.subnet_env(drv.allocate().node("node-1")), end="")
    FLANNEL_NETWORK=10.244.0.0/16
    FLANNEL_SUBNET=10.244.1.1/24
    FLANNEL_MTU=1450
    FLANNEL_IPMASQ=true
    """

    name: ClassVar[str] = "flannel"
    enforces_policy: ClassVar[bool] = False

    def __init__(
        self,
        cluster: Cluster,
        options: Mapping[str, Any] | None = None,
        *,
        kv: KVStore | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__(cluster, options, kv=kv, seed=seed)
        self.config: NetworkConfig = resolve_config(self.options, cluster)
        self.prefix: str = self.options["etcdPrefix"]
        self._reader = LeaseReader(self.kv, self.prefix)
        self._allocated: Cluster | None = None
        self._pods_by_node: dict[str, list[Pod]] = {}
        owners = {n.ip: n.name for n in cluster.nodes if isinstance(n.ip, IPv4Address)}
        self._entries = PeerEntries(self.config, owners)

    @classmethod
    def validate_options(cls, options: Mapping[str, Any]) -> dict[str, Any]:
        return validate_options(options)

    @classmethod
    def modes(cls) -> dict[str, dict[str, Any]]:
        return {b: {"backend": b} for b in ("vxlan", "host-gw", "udp")}

    # --- IPAM -----------------------------------------------------------------------------
    def vtep_mac(self, node: Node) -> str:
        """The VTEP MAC of ``node``'s ``flannel.<VNI>`` (random in flanneld; derived here)."""
        return local_mac(f"flannel.{self.config.backend.vni}:{node.name}")

    def _attrs(self, node: Node) -> Lease:
        if not isinstance(node.ip, IPv4Address):
            src = node.source
            where = (src.file, src.line, src.column) if src else ("<cluster>", 0, 0)
            raise TopologyError([Diagnostic(*where, "ip", (
                f"node {node.name}: flannel needs an IPv4 PublicIP, got {node.ip}"))])
        be = self.config.backend
        placeholder = IPv4Network("0.0.0.0/32")
        if be.type == "vxlan":
            return Lease(placeholder, node.ip, "vxlan", be.vni, self.vtep_mac(node))
        if be.type == "host-gw":
            return Lease(placeholder, node.ip, "host-gw")
        return Lease(placeholder, node.ip)  # udp leaves BackendType out (udp_amd64.go)

    def allocate(self) -> Cluster:
        """Write ``<prefix>/config``, lease a subnet per node (kube: its pod CIDR; etcd:
        flanneld's seeded random pick), and give pods addresses from their node's lease."""
        cluster = self.cluster
        cfg = self.config
        self.kv.put(f"{self.prefix}/config", cfg.to_json())
        nodes = cluster.nodes
        attrs = [self._attrs(n) for n in nodes]
        if self.options["subnetManager"] == "kube":
            nodes = assign_node_cidrs(nodes, cfg.network, cfg.subnet_len, who="flannel")
            leases = acquire_kube(self.kv, self.prefix, cfg, nodes, attrs)
        else:
            rng = random.Random(self.seed)
            leases = acquire_etcd(self.kv, self.prefix, cfg, nodes, attrs, rng)
        new_nodes = []
        for node, lease in zip(nodes, leases, strict=True):
            others = tuple(c for c in node.pod_cidrs if not isinstance(c, IPv4Network))
            same = v4_cidr(node) == lease.subnet
            new_nodes.append(replace(
                node, pod_cidrs=(lease.subnet, *others),
                pod_cidrs_allocated=node.pod_cidrs_allocated if same else True,
            ))
        subnets = {n.name: lease.subnet for n, lease in zip(new_nodes, leases, strict=True)}
        pods = allocate_pod_ips(cluster.pods, subnets, who="flannel")
        self._allocated = replace(cluster, nodes=tuple(new_nodes), pods=pods)
        self._pods_by_node = {}
        for pod in pods:
            if pod.node is not None and not pod.host_network and pod.ips:
                self._pods_by_node.setdefault(pod.node, []).append(pod)
        return self._allocated

    def _state(self) -> Cluster:
        return self._allocated if self._allocated is not None else self.allocate()

    def _node(self, node: Node | str) -> Node:
        return self._state().node(node if isinstance(node, str) else node.name)

    def lease(self, node: Node | str) -> Lease:
        """``node``'s lease as the KV store holds it now."""
        n = self._node(node)
        subnet = v4_cidr(n)
        for lease in self._reader.leases():
            if lease.subnet == subnet:
                return lease
        raise LookupError(f"flannel: no lease for node {n.name} ({subnet}) in the KV store")

    # --- per host -------------------------------------------------------------------------
    def base_mtu(self, node: Node | str) -> int:
        """The MTU backends subtract their overhead from: the ``mtu`` option, else the MTU of
        the node's own underlay link (so it differs between racks)."""
        if self.config.backend.mtu is not None:
            return self.config.backend.mtu
        n = self._node(node)
        segments = {s.name: s for s in self.cluster.underlay.segments}
        seg = segments.get(n.segment)
        return seg.mtu if seg is not None else self.cluster.underlay.mtu

    def pod_mtu(self, node: Node) -> int:
        """FLANNEL_MTU: the base MTU minus the backend's overhead (vxlan 50, udp 28, host-gw 0)."""
        return self.base_mtu(node) - self.config.backend.overhead

    def subnet_env(self, node: Node | str) -> str:
        """``/run/flannel/subnet.env`` as flanneld's WriteSubnetFile writes it on ``node``."""
        lease = self.lease(node)
        first = lease.subnet.network_address + 1
        return (
            f"FLANNEL_NETWORK={self.config.network}\n"
            f"FLANNEL_SUBNET={first}/{lease.subnet.prefixlen}\n"
            f"FLANNEL_MTU={self.pod_mtu(self._node(node))}\n"
            f"FLANNEL_IPMASQ={'true' if self.options['ipMasq'] else 'false'}\n"
        )

    def program_node(self, dp: Dataplane, node: Node) -> None:
        n = self._node(node)
        root = dp.namespaces[NsRef(n.name)]
        own = self.lease(n)
        peers = [lease for lease in self._reader.leases() if lease.subnet != own.subnet]
        program_backend(HostContext(
            root=root, node=n, ext=ext_interface(root, n), lease=own, config=self.config,
            base_mtu=self.base_mtu(n), peers=peers, entries=self._entries,
        ))
        conf = BridgeConf(
            bridge=BRIDGE, subnet=own.subnet, mtu=self.pod_mtu(n), origin=CNI,
            pod_routes=(self.config.network,),
        )
        program_bridge(dp, root, conf, self._pods_by_node.get(n.name, ()))
        masq.install(root, self.config.network, own.subnet, ip_masq=self.options["ipMasq"])
