"""Calico: IPAM blocks with node affinity, BGP (BIRD) routes between hosts, IP-in-IP / VXLAN /
native forwarding per pool mode, and (``policy.py``) NetworkPolicy as Felix's netfilter chains.

Module map: ``options`` (validated options), ``ipam`` (blocks, borrowing), ``bgp`` (sessions,
RIBs), ``program`` (what the CNI plugin, Felix and BIRD write into a node's kernel).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from functools import cached_property
from typing import Any, ClassVar

from overlaynet.dataplane.ir import Dataplane
from overlaynet.drivers.base import Driver
from overlaynet.drivers.calico.bgp import BGPState, compute_bgp
from overlaynet.drivers.calico.ipam import Assignment, CalicoIPAM
from overlaynet.drivers.calico.options import OVERHEAD, CalicoOptions, parse_options
from overlaynet.errors import DriverOptionError
from overlaynet.model import Cluster, IPAddress, IPNetwork, Node
from overlaynet.policy.calico import CalicoPolicy, cluster_policies

__all__ = ["CalicoDriver", "CalicoOptions"]


class CalicoDriver(Driver):
    name: ClassVar[str] = "calico"
    enforces_policy: ClassVar[bool] = True
    policy_semantics: ClassVar[str] = "calico"

    @classmethod
    def validate_options(cls, options: Mapping[str, Any]) -> dict[str, Any]:
        return parse_options(options).as_dict()

    @classmethod
    def modes(cls) -> dict[str, dict[str, Any]]:
        return {
            "ipip": {"encapsulation": "ipip"},
            "ipip-crosssubnet": {"encapsulation": "ipip", "crossSubnet": True},
            "vxlan": {"encapsulation": "vxlan"},
            "vxlan-crosssubnet": {"encapsulation": "vxlan", "crossSubnet": True},
            "none": {"encapsulation": "none"},
        }

    @cached_property
    def opts(self) -> CalicoOptions:
        return parse_options(self.options)

    @property
    def pools(self) -> tuple[IPNetwork, ...]:
        if self.opts.pools:
            return self.opts.pools
        v4 = tuple(c for c in self.cluster.pod_cidrs if c.version == 4)
        if v4:
            return v4
        from ipaddress import ip_network

        return (ip_network("192.168.0.0/16"),)  # Calico's default-ipv4-ippool

    # --- IPAM ---------------------------------------------------------------------------
    def allocate(self) -> Cluster:
        o = self.opts
        known = {n.name for n in self.cluster.nodes}
        for rr in o.route_reflectors:
            if rr not in known:
                raise DriverOptionError("calico", "routeReflectors", f"no node {rr!r}; nodes: {', '.join(sorted(known))}")
        for node in self.cluster.nodes:
            if node.ip.version != 4:
                # Calico carries IPv4 pools between IPv4 node addresses (tunl0, vxlan.calico,
                # BIRD's IPv4 routes); an IPv6 underlay carries IPv6 pools (vxlan-v6.calico).
                raise DriverOptionError(
                    "calico", "pools",
                    f"node {node.name} has the IPv6 address {node.ip}: overlaynet's Calico models IPv4 pools, "
                    "which Calico routes between IPv4 node addresses only",
                )
        ipam = CalicoIPAM(
            self.pools,
            block_size=o.block_size,
            strict_affinity=o.strict_affinity,
            max_blocks_per_host=o.max_blocks_per_host,
            kv=self.kv,
        )
        tunnel: dict[str, Assignment] = {}
        # File-given pod IPs first, so automatic assignment works around them.
        for pod in self.cluster.pods:
            if pod.node is not None and not pod.allocated and not pod.host_network:
                for ip in pod.ips:
                    if any(ip in pool for pool in self.pools):
                        ipam.assign_ip(ip, pod.node, f"k8s-pod-network.{pod.namespace}.{pod.name}")
        if o.encapsulation != "none":
            for node in self.cluster.nodes:
                # calico-node allocates the tunnel device's address before any pod's.
                tunnel[node.name] = ipam.assign(node.name, f"{o.encapsulation}-tunnel-addr-{node.name}")
        pods = []
        for pod in self.cluster.pods:
            if pod.node is not None and pod.allocated and not pod.host_network:
                a = ipam.assign(pod.node, f"k8s-pod-network.{pod.namespace}.{pod.name}")
                pod = replace(pod, ips=(a.ip,))
            pods.append(pod)
        nodes = tuple(
            replace(n, pod_cidrs=tuple(b.cidr for b in ipam.node_blocks(n.name)) or n.pod_cidrs)
            for n in self.cluster.nodes
        )
        self.ipam = ipam
        self.tunnel_ips: dict[str, IPAddress] = {n: a.ip for n, a in tunnel.items()}
        self.cluster = replace(self.cluster, nodes=nodes, pods=tuple(pods))
        return self.cluster

    # --- BGP ----------------------------------------------------------------------------
    def originated(self) -> dict[str, list[IPNetwork]]:
        """What each node's BIRD exports: its blocks as aggregates, plus /32s it borrowed."""
        from ipaddress import ip_network

        out: dict[str, list[IPNetwork]] = {n.name: [] for n in self.cluster.nodes}
        for node in self.cluster.nodes:
            out[node.name].extend(b.cidr for b in self.ipam.node_blocks(node.name))
        for a in self.ipam.borrowed():
            out[a.node].append(ip_network(f"{a.ip}/{a.ip.max_prefixlen}"))
        return out

    @cached_property
    def bgp(self) -> BGPState:
        return compute_bgp(
            self.cluster,
            self.originated(),
            as_number=self.opts.as_number,
            reflectors=self.opts.route_reflectors,
        )

    # --- policy -------------------------------------------------------------------------
    @cached_property
    def policies(self) -> list[CalicoPolicy]:
        """Kubernetes and Calico v3 policies, converted and in Calico's order."""
        return cluster_policies(self.cluster)

    # --- dataplane ----------------------------------------------------------------------
    def overhead(self, node: Node) -> int:
        """Bytes the encapsulation adds on ``node``'s (IPv4) underlay."""
        return OVERHEAD[self.opts.encapsulation]

    def pod_mtu(self, node: Node) -> int:
        """Felix's auto-detected MTU: the node's own link MTU minus the overhead."""
        return self._underlay_mtu(node) - self.overhead(node)

    def _underlay_mtu(self, node: Node) -> int:
        try:
            return self.cluster.segment(node.segment).mtu
        except KeyError:
            return self.cluster.underlay.mtu

    def program_node(self, dp: Dataplane, node: Node) -> None:
        from overlaynet.drivers.calico.program import program_node

        program_node(self, dp, node)
