"""What Calico writes into one node's kernel: the CNI plugin's veths and /32 routes, Felix's
blackhole routes, tunnel devices, VXLAN neighbour/FDB entries, NAT-outgoing, and BIRD's routes
learned over BGP. Facts: reference/drivers.md §2.3–2.5.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Mapping
from typing import Protocol

from overlaynet.dataplane.ir import (
    Address,
    Dataplane,
    Diagnosis,
    FdbEntry,
    Interface,
    IpipInfo,
    Neighbor,
    NetNamespace,
    NsRef,
    Route,
    VxlanInfo,
)
from overlaynet.dataplane.netfilter import ChainRole, Rule
from overlaynet.dataplane.netfilter.matches import Comment, Destination, Source
from overlaynet.dataplane.netfilter.targets import Jump, Masquerade, Verdict_
from overlaynet.drivers.calico.bgp import BGPState
from overlaynet.drivers.calico.ipam import CalicoIPAM
from overlaynet.drivers.calico.options import CalicoOptions
from overlaynet.model import Cluster, IPAddress, IPNetwork, Node, Pod
from overlaynet.policy.calico import CalicoPolicy


class CalicoAgent(Protocol):
    """What programming a node needs of the driver (``CalicoDriver`` is one): its options,
    IPAM, BGP state, policies and tunnel addresses, and its MTU arithmetic."""

    cluster: Cluster
    ipam: CalicoIPAM
    tunnel_ips: dict[str, IPAddress]

    @property
    def opts(self) -> CalicoOptions: ...
    @property
    def pools(self) -> tuple[IPNetwork, ...]: ...
    @property
    def bgp(self) -> BGPState: ...
    @property
    def policies(self) -> list[CalicoPolicy]: ...
    def overhead(self, node: Node) -> int: ...
    def pod_mtu(self, node: Node) -> int: ...
    def _underlay_mtu(self, node: Node) -> int: ...

#: ``Chain.origin`` of every chain Felix writes
FELIX = "calico-felix"
GATEWAY = ipaddress.ip_address("169.254.1.1")
HOST_VETH_MAC = "ee:ee:ee:ee:ee:ee"


def veth_name(pod: Pod) -> str:
    """The host-side veth name Calico's CNI plugin gives a pod (``VethNameForWorkload``)."""
    digest = hashlib.sha1(f"{pod.namespace}.{pod.name}".encode()).hexdigest()
    return f"cali{digest[:11]}"


def vtep_mac(node: str) -> str:
    d = hashlib.sha256(f"vxlan.calico/{node}".encode()).digest()
    return ":".join(f"{b:02x}" for b in (0x66 | 0x02, d[0], d[1], d[2], d[3], d[4]))


def pod_mac(pod: Pod) -> str:
    d = hashlib.sha256(f"pod/{pod.namespace}/{pod.name}".encode()).digest()
    return ":".join(f"{b:02x}" for b in ((d[0] & 0xFE) | 0x02, d[1], d[2], d[3], d[4], d[5]))


def same_subnet(a: Node, b: Node) -> bool:
    return a.segment == b.segment


def program_node(driver: CalicoAgent, dp: Dataplane, node: Node) -> None:
    opts = driver.opts
    root = dp.namespaces[NsRef.root(node.name)]
    underlay_mtu = driver._underlay_mtu(node)
    mtu = driver.pod_mtu(node)
    root.sysctls["net.ipv4.ip_forward"] = "1"
    tunnel_ip = driver.tunnel_ips.get(node.name)

    if opts.encapsulation == "ipip":
        root.add_interface(
            Interface(
                "tunl0",
                "ipip",
                mtu=underlay_mtu - driver.overhead(node),
                addresses=[Address(tunnel_ip, 32)] if tunnel_ip else [],
                ipip=IpipInfo(local=None, remote=None),
                origin="calico-node: IP-in-IP tunnel device, address from the node's block",
            )
        )
    elif opts.encapsulation == "vxlan":
        root.add_interface(
            Interface(
                "vxlan.calico",
                "vxlan",
                mtu=underlay_mtu - driver.overhead(node),
                mac=vtep_mac(node.name),
                addresses=[Address(tunnel_ip, 32)] if tunnel_ip else [],
                vxlan=VxlanInfo(vni=opts.vxlan_vni, local=node.ip, port=opts.vxlan_port, dev="eth0"),
                origin=f"felix: VXLAN device (VNI {opts.vxlan_vni}, UDP {opts.vxlan_port})",
            )
        )

    # Felix: a blackhole route per block affine to this node.
    for block in driver.ipam.node_blocks(node.name):
        root.add_route(
            Route(
                block.cidr,
                type="blackhole",
                proto="bird",
                origin=f"calico: block {block.cidr} is affine to {node.name}; unallocated addresses are dropped here",
            )
        )

    for pod in driver.cluster.pods_on(node.name):
        if pod.host_network or not pod.ips:
            continue
        _program_pod(dp, root, node, pod, mtu)

    _program_remote_routes(driver, root, node)
    _program_nat_outgoing(driver, root)
    _program_policy(driver, root, node)


def _program_pod(dp: Dataplane, root: NetNamespace, node: Node, pod: Pod, mtu: int) -> None:
    ref = NsRef.pod(node.name, pod.key)
    ns = dp.add_namespace(ref, kind="pod")
    host_if = veth_name(pod)
    origin = f"calico CNI: workload {pod.key}"
    ns.add_interface(Interface("lo", "loopback", mtu=65536, addresses=[Address(ipaddress.ip_address("127.0.0.1"), 8)]))
    ns.add_interface(
        Interface(
            "eth0",
            "veth",
            mtu=mtu,
            mac=pod_mac(pod),
            addresses=[Address(ip, ip.max_prefixlen) for ip in pod.ips],
            peer=(root.ref, host_if),
            origin=origin,
        )
    )
    ns.add_route(Route(ipaddress.ip_network(f"{GATEWAY}/32"), dev="eth0", scope="link", proto="boot", origin=origin + ": the dummy gateway, answered by proxy ARP"))
    ns.add_route(Route(ipaddress.ip_network("0.0.0.0/0"), dev="eth0", via=GATEWAY, proto="boot", origin=origin))
    root.add_interface(
        Interface(
            host_if,
            "veth",
            mtu=mtu,
            mac=HOST_VETH_MAC,
            peer=(ref, "eth0"),
            proxy_arp=True,
            origin=origin + ": host side, proxy_arp=1",
        )
    )
    # the CNI plugin's configureSysctls: answer proxy ARP at once (the kernel otherwise
    # delays a proxied answer by up to proxy_delay, 0.8 s), and forward from the pod
    root.sysctls[f"net.ipv4.conf.{host_if}.proxy_arp"] = "1"
    root.sysctls[f"net.ipv4.neigh.{host_if}.proxy_delay"] = "0"
    root.sysctls[f"net.ipv4.conf.{host_if}.forwarding"] = "1"
    for ip in pod.ips:
        root.add_route(
            Route(
                ipaddress.ip_network(f"{ip}/{ip.max_prefixlen}"),
                dev=host_if,
                scope="link",
                proto="boot",
                origin=origin,
            )
        )


def _program_remote_routes(driver: CalicoAgent, root: NetNamespace, node: Node) -> None:
    opts = driver.opts
    cluster = driver.cluster
    if opts.encapsulation == "vxlan":
        # Felix programs VXLAN routes from the datastore (block affinities), BGP or not.
        for other in cluster.nodes:
            if other.name == node.name:
                continue
            prefixes = [b.cidr for b in driver.ipam.node_blocks(other.name)]
            prefixes += [
                ipaddress.ip_network(f"{a.ip}/{a.ip.max_prefixlen}") for a in driver.ipam.borrowed() if a.node == other.name
            ]
            for prefix in prefixes:
                _route_to(driver, root, node, other, prefix, learned="felix (datastore)")
        return
    # IP-in-IP and unencapsulated pools: the routes BIRD learned over BGP.
    bgp = driver.bgp
    for route in bgp.learned(node.name):
        other = cluster.node(route.originator)
        via_peer = route.learned_from or other.name
        learned = f"BGP from {via_peer}" + (" (reflected)" if route.cluster_list else "")
        _route_to(driver, root, node, other, route.prefix, learned=learned, next_hop=route.next_hop)
    for s in bgp.sessions_of(node.name):
        if s.state != "Established":
            peer = s.b if s.a == node.name else s.a
            root_diag(root).append(
                f"calico BGP session {node.name} ↔ {peer} is {s.state}: {s.reason}; routes to {peer}'s blocks are missing"
            )


def root_diag(ns: NetNamespace) -> list[str | Diagnosis]:
    return ns.diagnostics


def _route_to(
    driver: CalicoAgent,
    root: NetNamespace,
    node: Node,
    other: Node,
    prefix: IPNetwork,
    *,
    learned: str,
    next_hop: IPAddress | None = None,
) -> None:
    opts = driver.opts
    hop = next_hop or other.ip
    native = opts.encapsulation == "none" or (opts.cross_subnet and same_subnet(node, other))
    why = f"calico: {other.name}'s {prefix}, {learned}"
    if native:
        connected = any(
            hop in a.network for a in root.interfaces["eth0"].addresses
        ) if "eth0" in root.interfaces else False
        if not connected:
            root_diag(root).append(Diagnosis(
                f"BIRD cannot install {prefix} via {hop}: the next hop is not on a connected network of "
                f"{node.name} (native routing needs L2 adjacency between {node.segment} and {other.segment}, "
                "or routers that learn pod routes)", prefix,
            ))
            return
        root.add_route(Route(prefix, dev="eth0", via=hop, proto="bird", origin=why + ", no encapsulation"))
        return
    if opts.encapsulation == "ipip":
        root.add_route(Route(prefix, dev="tunl0", via=hop, onlink=True, proto="bird", origin=why + ", IP-in-IP"))
        return
    tunnel = driver.tunnel_ips.get(other.name)
    if tunnel is None:
        return
    mac = vtep_mac(other.name)
    root.add_route(Route(prefix, dev="vxlan.calico", via=tunnel, onlink=True, proto="felix", origin=why + ", VXLAN"))
    if not any(n.ip == tunnel for n in root.neighbors):
        root.add_neighbor(Neighbor(tunnel, "vxlan.calico", mac, origin=f"felix: VTEP of {other.name}"))
        root.add_fdb(FdbEntry(mac, "vxlan.calico", dst=other.ip, origin=f"felix: VTEP of {other.name} at {other.ip}"))


def _install(root: NetNamespace, table: str, chains: Mapping[str, list[Rule]], roles: Mapping[str, ChainRole],
             jumps: list[tuple[str, Rule]]) -> None:
    """Felix's way: its own chains replaced wholesale (each with ``origin`` FELIX and its
    role), its jumps inserted at the top of the built-in chains (ChainInsertMode=insert),
    everything else left alone."""
    ruleset = root.netfilter
    ruleset.table(table)  # the built-in chains exist even when Felix writes nothing there
    for builtin in dict.fromkeys(chain for chain, _ in jumps):
        ours = [rule for chain, rule in jumps if chain == builtin]
        target = ruleset.ensure_chain(table, builtin)
        for rule in reversed(ours):
            if rule not in target.rules:
                ruleset.insert(table, builtin, rule, 1)
    for name, rules in chains.items():
        target = ruleset.ensure_chain(table, name, origin=FELIX, role=roles[name])
        target.rules = list(rules)
        target.compiled = None


def _program_policy(driver: CalicoAgent, root: NetNamespace, node: Node) -> None:
    from overlaynet.drivers.calico.policy import render_node_policy

    local = [(p, veth_name(p)) for p in driver.cluster.pods_on(node.name) if p.ips and not p.host_network]
    felix = render_node_policy(driver.cluster, driver.policies, local)
    _install(root, "filter", felix.chains, felix.roles, felix.jumps)


def _program_nat_outgoing(driver: CalicoAgent, root: NetNamespace) -> None:
    """natOutgoing: masquerade pod traffic that leaves every pool (Felix's cali-nat-outgoing,
    written with -s/-d where Felix uses its ipam-pools ipsets)."""
    if not driver.opts.nat_outgoing:
        return
    pools = [p for p in driver.pools if p.version == 4]
    outgoing = [Rule((Destination(pool), Comment(f"calico natOutgoing: inside pool {pool}")), Verdict_("RETURN"))
                for pool in pools]  # traffic staying inside any pool is not masqueraded
    outgoing += [Rule((Source(pool), Comment(f"calico natOutgoing: pool {pool}")), Masquerade(random_fully=True))
                 for pool in pools]
    chains = {
        "cali-POSTROUTING": [Rule((Comment("cali:Z-c7XtVd2Bq7s_hA"),), Jump("cali-nat-outgoing"))],
        "cali-nat-outgoing": outgoing,
    }
    roles = {"cali-POSTROUTING": ChainRole.NAT, "cali-nat-outgoing": ChainRole.MASQUERADE}
    jumps = [("POSTROUTING", Rule((Comment("cali:O3lYWMrLQYEMJtB5"),), Jump("cali-POSTROUTING")))]
    _install(root, "nat", chains, roles, jumps)
