"""One node's kube-proxy settings from a Cluster: what ``kube-proxy`` on that node would run
with (``cluster.kube_proxy`` plus the node's own addresses), with explicit overrides."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import Literal

from overlaynet.errors import KubeProxyError
from overlaynet.kubeproxy.config import ProxierConfig
from overlaynet.kubeproxy.full import generate_full
from overlaynet.kubeproxy.generate import FragmentCache, generate
from overlaynet.kubeproxy.local import LocalMode
from overlaynet.model.base import IPAddress, IPNetwork
from overlaynet.model.cluster import Cluster

PRIMARY = "primary"


def primary_cidrs(node_ips: Sequence[IPAddress]) -> tuple[IPNetwork, ...]:
    """``--nodeport-addresses primary``: the node's primary IP of each family, as a /32 or
    /128 (``NewNodePortAddresses`` with the node IPs kube-proxy was started with)."""
    out: list[IPNetwork] = []
    for family in (4, 6):
        first = next((ip for ip in node_ips if ip.version == family and not ip.is_loopback), None)
        if first is not None:
            out.append(ipaddress.ip_network(f"{first}/{first.max_prefixlen}"))
    return tuple(out)


def parse_nodeport_addresses(values: Sequence[str], node_ips: Sequence[IPAddress]) -> tuple[IPNetwork, ...]:
    """``--nodeport-addresses``: CIDRs, or the single word ``primary``."""
    if list(values) == [PRIMARY]:
        return primary_cidrs(node_ips)
    out = []
    for value in values:
        try:
            out.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError as exc:
            raise KubeProxyError(
                f"--nodeport-addresses: {value!r} is not a CIDR (or the single word 'primary')"
            ) from exc
    return tuple(out)


def config_for_node(
    cluster: Cluster,
    node_name: str,
    *,
    family: Literal[4, 6] = 4,
    node_ips: Sequence[IPAddress] = (),
    cluster_cidrs: Sequence[IPNetwork] | None = None,
    masquerade_all: bool | None = None,
    nodeport_addresses: Sequence[IPNetwork] | None = None,
    localhost_nodeports: bool = True,
    interface_ips: Sequence[IPAddress] = (),
    detect_local_mode: str | None = None,
    bridge_interface: str | None = None,
    interface_name_prefix: str | None = None,
) -> ProxierConfig:
    """The ProxierConfig kube-proxy on ``node_name`` uses; arguments override the cluster's
    ``kubeProxy`` settings (clusterCIDRs default to the cluster's pod CIDRs; NodeCIDR mode
    takes the node's podCIDRs). ``interface_ips``: the host's interface addresses (default:
    the node's addresses and loopback). Bad settings raise KubeProxyError."""
    node = next((n for n in cluster.nodes if n.name == node_name), None)
    ips = tuple(node_ips)
    if not ips:
        if node is None:
            known = ", ".join(n.name for n in cluster.nodes) or "none"
            raise KubeProxyError(
                f"node {node_name!r} is not in the topology (nodes: {known}); "
                "give its address with --node-ip"
            )
        ips = node.ips
    spec = cluster.kube_proxy
    if cluster_cidrs is not None:
        cidrs = tuple(cluster_cidrs)
    else:
        cidrs = spec.cluster_cidrs if spec.cluster_cidrs is not None else cluster.pod_cidrs
    if nodeport_addresses is not None:
        np_cidrs = tuple(nodeport_addresses)
    else:
        np_cidrs = primary_cidrs(ips) if spec.nodeport_primary else spec.nodeport_addresses
    try:
        mode = LocalMode.parse(detect_local_mode if detect_local_mode is not None else spec.detect_local_mode)
        return ProxierConfig(
            node_name=node_name,
            node_ips=ips,
            cluster_cidrs=cidrs,
            masquerade_all=spec.masquerade_all if masquerade_all is None else masquerade_all,
            nodeport_addresses=np_cidrs,
            localhost_nodeports=localhost_nodeports,
            family=family,
            interface_ips=tuple(interface_ips),
            detect_local_mode=mode,
            node_pod_cidrs=node.pod_cidrs if node is not None else (),
            bridge_interface=spec.bridge_interface if bridge_interface is None else bridge_interface,
            interface_name_prefix=spec.interface_name_prefix if interface_name_prefix is None else interface_name_prefix,
        )
    except ValueError as exc:
        raise KubeProxyError(str(exc)) from exc


def node_rules(
    cluster: Cluster, config: ProxierConfig, *, full: bool = False, cache: FragmentCache | None = None
) -> str:
    """What kube-proxy restores on that node (``full``: plus its built-in chain jumps)."""
    render = generate_full if full else generate
    return render(cluster.services, cluster.endpoint_slices, config, cache=cache)
