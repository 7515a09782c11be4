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
from overlaynet.model.base import IPAddress, IPNetwork
from overlaynet.model.cluster import Cluster

PRIMARY = "primary"


def parse_nodeport_addresses(values: Sequence[str], node_ips: Sequence[IPAddress]) -> tuple[IPNetwork, ...]:
    """``--nodeport-addresses``: CIDRs, or the single word ``primary`` (the node IPs /32, /128)."""
    if list(values) == [PRIMARY]:
        return tuple(ipaddress.ip_network(f"{ip}/{ip.max_prefixlen}") for ip in node_ips if not ip.is_loopback)
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
) -> ProxierConfig:
    """The ProxierConfig kube-proxy on ``node_name`` uses; arguments override the cluster's
    ``kubeProxy`` settings (clusterCIDRs default to the cluster's pod CIDRs)."""
    ips = tuple(node_ips)
    if not ips:
        node = next((n for n in cluster.nodes if n.name == node_name), None)
        if node is None:
            known = ", ".join(n.name for n in cluster.nodes) or "none"
            raise KubeProxyError(
                f"node {node_name!r} is not in the topology (nodes: {known}); "
                "give its address with --node-ip"
            )
        ips = node.ips
    spec = cluster.kube_proxy
    cidrs = tuple(cluster_cidrs) if cluster_cidrs is not None else (spec.cluster_cidrs or cluster.pod_cidrs)
    return ProxierConfig(
        node_name=node_name,
        node_ips=ips,
        cluster_cidrs=cidrs,
        masquerade_all=spec.masquerade_all if masquerade_all is None else masquerade_all,
        nodeport_addresses=tuple(nodeport_addresses) if nodeport_addresses is not None else spec.nodeport_addresses,
        localhost_nodeports=localhost_nodeports,
        family=family,
        interface_ips=tuple(interface_ips),
    )


def node_rules(
    cluster: Cluster, config: ProxierConfig, *, full: bool = False, cache: FragmentCache | None = None
) -> str:
    """What kube-proxy restores on that node (``full``: plus its built-in chain jumps)."""
    render = generate_full if full else generate
    return render(cluster.services, cluster.endpoint_slices, config, cache=cache)
