"""ProxierConfig: the settings one kube-proxy iptables proxier (one IP family) runs with.

Field for field the arguments of ``NewProxier`` in kubernetes ``pkg/proxy/iptables/proxier.go``
that change the rules it writes; the defaults are kube-proxy's own.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Literal

from overlaynet.dataplane.netfilter.matches import Source
from overlaynet.kubeproxy.local import LocalDetector, LocalMode, local_detector
from overlaynet.kubeproxy.names import masquerade_mark
from overlaynet.model.base import IPAddress, IPNetwork

_LOOPBACK4 = ipaddress.ip_address("127.0.0.1")
_LOOPBACK6 = ipaddress.ip_address("::1")
_IPV4_LOOPBACK_NET = ipaddress.ip_network("127.0.0.0/8")


@dataclass(frozen=True, slots=True)
class ProxierConfig:
    """Settings of one single-family iptables proxier.

    ``detect_local_mode``: ``--detect-local-mode`` (``local.py``): ``ClusterCIDR`` takes the
    first of ``cluster_cidrs`` (``--cluster-cidr``) of ``family``, ``NodeCIDR`` the first of
    ``node_pod_cidrs`` (the Node's podCIDRs), ``BridgeInterface`` ``bridge_interface``
    (``--pod-bridge-interface``), ``InterfaceNamePrefix`` ``interface_name_prefix``
    (``--pod-interface-name-prefix``); a CIDR mode without a CIDR of the family → no detector.
    ``nodeport_addresses``: ``--nodeport-addresses``; empty means every local address (the
    iptables-mode default; only nftables mode defaults to ``primary``).
    ``interface_ips``: the addresses on the node's interfaces that ``--nodeport-addresses``
    selects from (kube-proxy reads them from the host); empty → ``node_ips`` plus loopback.
    ``random_fully``/``nfacct``/``conntrack_tcp_be_liberal`` describe the host's iptables
    and kernel features, as kube-proxy probes them at start-up.
    """

    node_name: str
    node_ips: tuple[IPAddress, ...]
    cluster_cidrs: tuple[IPNetwork, ...] = ()
    masquerade_all: bool = False
    nodeport_addresses: tuple[IPNetwork, ...] = ()
    localhost_nodeports: bool = True
    masquerade_bit: int = 14
    family: Literal[4, 6] = 4
    random_fully: bool = True
    nfacct: bool = False
    conntrack_tcp_be_liberal: bool = False
    interface_ips: tuple[IPAddress, ...] = ()
    detect_local_mode: LocalMode = LocalMode.CLUSTER_CIDR
    node_pod_cidrs: tuple[IPNetwork, ...] = ()
    bridge_interface: str = ""
    interface_name_prefix: str = ""

    def __post_init__(self) -> None:
        if not self.node_name:
            raise ValueError("ProxierConfig needs a node name")
        if self.family not in (4, 6):
            raise ValueError(f"family must be 4 or 6, got {self.family!r}")
        masquerade_mark(self.masquerade_bit)  # validates the bit
        self.local_detector  # noqa: B018 — validates the mode's parameters

    # --- what NewProxier derives -----------------------------------------------------------
    @property
    def mark(self) -> str:
        return masquerade_mark(self.masquerade_bit)

    @property
    def node_ip(self) -> IPAddress | None:
        """The node IP of this family (kube-proxy's ``nodeIP``), or None."""
        return next((ip for ip in self.node_ips if ip.version == self.family), None)

    @property
    def local_detector(self) -> LocalDetector | None:
        """``getLocalDetectors`` for this proxier's family (None: no local detection)."""
        return local_detector(
            self.detect_local_mode,
            self.family,
            cluster_cidrs=self.cluster_cidrs,
            node_pod_cidrs=self.node_pod_cidrs,
            bridge_interface=self.bridge_interface,
            interface_name_prefix=self.interface_name_prefix,
        )

    @property
    def local_cidr(self) -> IPNetwork | None:
        """The detector's CIDR in the CIDR modes (None otherwise, or without one)."""
        detector = self.local_detector
        if detector is None or not isinstance(detector.if_local, Source):
            return None
        return detector.if_local.net

    @property
    def nodeport_cidrs(self) -> tuple[IPNetwork, ...]:
        """``NewNodePortAddresses``: this family's CIDRs, or the zero CIDR when none."""
        own = tuple(c for c in self.nodeport_addresses if c.version == self.family)
        if not own:
            return (ipaddress.ip_network("0.0.0.0/0" if self.family == 4 else "::/0"),)
        for cidr in own:
            if cidr.prefixlen == 0:
                return (cidr,)
        return own

    @property
    def nodeport_match_all(self) -> bool:
        return any(c.prefixlen == 0 for c in self.nodeport_cidrs)

    @property
    def effective_localhost_nodeports(self) -> bool:
        """kube-proxy turns localhost NodePorts off for IPv6 and when the NodePort CIDRs
        contain no IPv4 loopback address."""
        if self.family == 6 or not self.localhost_nodeports:
            return False
        return any(
            c.version == 4 and (c.network_address.is_loopback or _IPV4_LOOPBACK_NET.network_address in c)
            for c in self.nodeport_cidrs
        )

    def nodeport_ips(self) -> tuple[IPAddress, ...]:
        """``GetNodeIPs``: interface addresses inside the NodePort CIDRs, sorted."""
        loop = _LOOPBACK4 if self.family == 4 else _LOOPBACK6
        candidates = self.interface_ips or (*self.node_ips, loop)
        found = {
            ip
            for ip in candidates
            if ip.version == self.family and any(ip in c for c in self.nodeport_cidrs)
        }
        return tuple(sorted(found))
