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
    allocate_pod_ips6,
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
from .leases import Lease, LeaseReader, acquire_etcd, acquire_kube, v6_cidr

if TYPE_CHECKING:
    from overlaynet.kv.base import KVStore

__all__ = ["BRIDGE", "FlannelDriver"]

IPv4Address = ipaddress.IPv4Address
IPv4Network = ipaddress.IPv4Network
IPv6Address = ipaddress.IPv6Address
IPv6Network = ipaddress.IPv6Network
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

    def v6_vtep_mac(self, node: Node) -> str:
        """The VTEP MAC of ``node``'s ``flannel-v6.<VNI>``: a device of its own, with its own
        MAC, carried in the lease's BackendV6Data."""
        return local_mac(f"flannel-v6.{self.config.backend.vni}:{node.name}")

    def _attrs(self, node: Node) -> Lease:
        src = node.source
        where = (src.file, src.line, src.column) if src else ("<cluster>", 0, 0)
        if not isinstance(node.ip, IPv4Address):
            raise TopologyError([Diagnostic(*where, "ip", (
                f"node {node.name}: flannel needs an IPv4 PublicIP, got {node.ip}"))])
        public6: IPv6Address | None = None
        if self.config.ipv6 is not None:
            public6 = next((ip for ip in node.ips if isinstance(ip, IPv6Address)), None)
            if public6 is None:  # ipmatch.LookupExtIface with EnableIPv6
                raise TopologyError([Diagnostic(*where, "addresses", (
                    f"node {node.name}: flannel has enableIPv6 and needs an IPv6 PublicIPv6: "
                    f"failed to find IPv6 address for interface eth0 (give the node an IPv6 "
                    f"address in `addresses`, on a segment with an IPv6 CIDR)"))])
        be = self.config.backend
        placeholder = IPv4Network("0.0.0.0/32")
        if be.type == "vxlan":
            mac6 = self.v6_vtep_mac(node) if public6 is not None else None
            return Lease(placeholder, node.ip, "vxlan", be.vni, self.vtep_mac(node),
                         public_ipv6=public6, v6_vtep_mac=mac6)
        if be.type == "host-gw":
            return Lease(placeholder, node.ip, "host-gw", public_ipv6=public6)
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
            v6 = lease.ipv6_subnet
            if v6 is None:
                cidrs: tuple[Any, ...] = (lease.subnet, *(c for c in node.pod_cidrs if not isinstance(c, IPv4Network)))
            else:
                cidrs = (lease.subnet, v6)
            same = v4_cidr(node) == lease.subnet and (v6 is None or v6_cidr(node) == v6)
            new_nodes.append(replace(
                node, pod_cidrs=cidrs,
                pod_cidrs_allocated=node.pod_cidrs_allocated if same else True,
            ))
        subnets = {n.name: lease.subnet for n, lease in zip(new_nodes, leases, strict=True)}
        pods = allocate_pod_ips(cluster.pods, subnets, who="flannel")
        if cfg.ipv6 is not None:
            subnets6 = {n.name: lease.ipv6_subnet for n, lease in zip(new_nodes, leases, strict=True)
                        if lease.ipv6_subnet is not None}
            pods = allocate_pod_ips6(pods, subnets6, who="flannel")
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
        text = f"FLANNEL_NETWORK={self.config.network}\nFLANNEL_SUBNET={first}/{lease.subnet.prefixlen}\n"
        if self.config.ipv6 is not None and lease.ipv6_subnet is not None:
            first6 = lease.ipv6_subnet.network_address + 1
            text += (f"FLANNEL_IPV6_NETWORK={self.config.ipv6.network}\n"
                     f"FLANNEL_IPV6_SUBNET={first6}/{lease.ipv6_subnet.prefixlen}\n")
        return text + (
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
        v6 = self.config.ipv6
        conf = BridgeConf(
            bridge=BRIDGE, subnet=own.subnet, mtu=self.pod_mtu(n), origin=CNI,
            pod_routes=(self.config.network,),
            subnet6=own.ipv6_subnet if v6 is not None else None,
            pod_routes6=(v6.network,) if v6 is not None else (),
        )
        program_bridge(dp, root, conf, self._pods_by_node.get(n.name, ()))
        masq.install(root, self.config.network, own.subnet, ip_masq=self.options["ipMasq"])
