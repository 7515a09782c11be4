"""``overlaynet kube-proxy …``: the rules kube-proxy (iptables mode) writes on a node."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path

import click

from overlaynet.errors import KubeProxyError


def _ips(values: tuple[str, ...], flag: str = "--node-ip") -> tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, ...]:
    out = []
    for value in values:
        try:
            out.append(ipaddress.ip_address(value))
        except ValueError as exc:
            raise KubeProxyError(f"{flag}: {value!r} is not an IP address") from exc
    return tuple(out)


def _cidrs(value: str | None, flag: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] | None:
    if value is None:
        return None
    out = []
    if not value.strip():
        return ()  # given empty: none (for --cluster-cidr, no local-traffic detection)
    for part in value.split(","):
        try:
            out.append(ipaddress.ip_network(part.strip(), strict=False))
        except ValueError as exc:
            raise KubeProxyError(f"{flag}: {part!r} is not a CIDR") from exc
    return tuple(out)


@click.group("kube-proxy")
def kube_proxy() -> None:
    """What kube-proxy programs on a node.

    \b
    Example:
      overlaynet kube-proxy rules topologies/demo.yaml --node node-1
    """


@kube_proxy.command("rules")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--node", "node_name", required=True, help="The node kube-proxy runs on.")
@click.option("--node-ip", "node_ips", multiple=True, help="The node's IP (repeat for dual-stack); default: from its Node.")
@click.option("--node-address", "node_addresses", multiple=True,
              help="Another address on the node's interfaces (repeatable), for --nodeport-addresses; "
                   "default: the node's addresses, loopback, and with pods the interfaces the network driver creates.")
@click.option("--cluster-cidr", default=None,
              help="Cluster CIDR(s), comma-separated, for --detect-local-mode ClusterCIDR; '' for none "
                   "(no local-traffic detection); default: kubeProxy.clusterCIDR or the pod CIDRs.")
@click.option("--detect-local-mode", type=click.Choice(["ClusterCIDR", "NodeCIDR", "BridgeInterface", "InterfaceNamePrefix"]),
              default=None, help="How kube-proxy tells local pod traffic; default: kubeProxy.detectLocalMode or ClusterCIDR.")
@click.option("--pod-bridge-interface", default=None, help="The pods' bridge, for --detect-local-mode BridgeInterface.")
@click.option("--pod-interface-name-prefix", default=None,
              help="The pods' interface name prefix, for --detect-local-mode InterfaceNamePrefix.")
@click.option("--masquerade-all", is_flag=True, default=None, help="SNAT all traffic to cluster IPs.")
@click.option("--nodeport-addresses", default=None, help="CIDRs NodePorts answer on, comma-separated, or 'primary'; default: all local addresses.")
@click.option("--ip-family", type=click.Choice(["4", "6"]), default="4", show_default=True, help="Which proxier (iptables or ip6tables).")
@click.option("--no-localhost-nodeports", is_flag=True, help="As --iptables-localhost-nodeports=false.")
@click.option("--full", is_flag=True, help="Also the jumps from the built-in chains (a complete ruleset).")
@click.option("--json", "as_json", is_flag=True, help="Rules per table as JSON.")
def rules(
    files: tuple[Path, ...],
    node_name: str,
    node_ips: tuple[str, ...],
    node_addresses: tuple[str, ...],
    cluster_cidr: str | None,
    detect_local_mode: str | None,
    pod_bridge_interface: str | None,
    pod_interface_name_prefix: str | None,
    masquerade_all: bool | None,
    nodeport_addresses: str | None,
    ip_family: str,
    no_localhost_nodeports: bool,
    full: bool,
    as_json: bool,
) -> None:
    """Print the iptables-restore payload kube-proxy writes on NODE.

    FILE may be a whole topology or nothing but Service and EndpointSlice manifests
    (then --node-ip is needed unless a Node object names the node).

    \b
    Examples:
      overlaynet kube-proxy rules topologies/demo.yaml --node node-1
      overlaynet kube-proxy rules tests/topology/fixtures/kubectl-list.yaml --node n1 --node-ip 192.168.0.2 --cluster-cidr 10.0.0.0/8
      overlaynet kube-proxy rules topologies/demo.yaml --node node-1 --detect-local-mode BridgeInterface --pod-bridge-interface cni0
      overlaynet kube-proxy rules topologies/demo.yaml --node node-1 --node-address 10.0.0.5 --nodeport-addresses 10.0.0.0/8
      overlaynet kube-proxy rules tests/topology/fixtures/kubectl-list.yaml --node n1 --node-ip 192.168.0.2 | iptables-restore --test --noflush
    """
    from overlaynet.cli._common import load_cluster
    from overlaynet.kubeproxy.node import config_for_node, node_rules, parse_nodeport_addresses

    cluster = load_cluster([str(f) for f in files])
    ips = _ips(node_ips)
    node = next((n for n in cluster.nodes if n.name == node_name), None)
    host_ips: tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, ...] = ()
    if cluster.pods:
        # pod IPs (and so endpoints) as the network driver's IPAM allocates them for a trace,
        # and the node's interface addresses as the driver leaves them (cni0, flannel.1, ...)
        from overlaynet.dataplane.ir import NsRef
        from overlaynet.network import assemble

        network = assemble(cluster)
        cluster = network.cluster
        if node is not None and not ips:
            host_ips = tuple(network.dataplane.namespace(NsRef.root(node_name)).local_ips())
    extra = _ips(node_addresses, "--node-address")
    interface_ips: tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, ...] = ()
    if host_ips or extra:
        own = ips or (node.ips if node is not None else ())
        loopback = (ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1"))
        interface_ips = tuple(dict.fromkeys((*own, *host_ips, *extra, *loopback)))
    np_addresses = None
    if nodeport_addresses is not None:
        node_addrs = ips or (node.ips if node is not None else ())
        np_addresses = parse_nodeport_addresses(nodeport_addresses.split(","), node_addrs)
    config = config_for_node(
        cluster,
        node_name,
        family=4 if ip_family == "4" else 6,
        node_ips=ips,
        cluster_cidrs=_cidrs(cluster_cidr, "--cluster-cidr"),
        masquerade_all=masquerade_all,
        nodeport_addresses=np_addresses,
        localhost_nodeports=not no_localhost_nodeports,
        interface_ips=interface_ips,
        detect_local_mode=detect_local_mode,
        bridge_interface=pod_bridge_interface,
        interface_name_prefix=pod_interface_name_prefix,
    )
    text = node_rules(cluster, config, full=full)
    if not as_json:
        click.echo(text, nl=False)
        return
    tables: dict[str, list[str]] = {}
    current = ""
    for line in text.splitlines():
        if line.startswith("*"):
            current = line[1:]
            tables[current] = []
        elif line.startswith(("-A ", ":")):
            tables[current].append(line)
    doc = {
        "node": node_name,
        "family": f"IPv{ip_family}",
        "tables": tables,
        "rule_counts": {t: sum(1 for line in ls if line.startswith("-A ")) for t, ls in tables.items()},
    }
    click.echo(json.dumps(doc, indent=2))
