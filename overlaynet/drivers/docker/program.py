"""What dockerd and libnetwork's overlay driver write into one host's kernel.

Per overlay network with a container on the host, a sandbox namespace ``1-<netid[:10]>``
(``osl.GenerateKey(fmt.Sprintf("%d-", initEpoch) + nid)``) holding ``br0`` with the
gateway address and ``vxlan0`` (created in the host namespace, then moved: its UDP socket
stays there) as a port of ``br0`` (``ov_network.go`` setupSubnetSandbox, ``ov_utils.go``
createVxlan: learning, proxy, l2miss, l3miss); per remote endpoint a permanent neighbour
(container IP → MAC) and an FDB entry (MAC → the remote host's address) on ``vxlan0``
(``peerdb.go`` peerAddOp); per local container a veth whose container end is ``ethN``
(``joinleave.go``). North–south: ``docker_gwbridge`` with MASQUERADE and the container's
default route through it (``default_gateway.go``, bridge driver ``setup_ip_tables.go``);
internal networks get none.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

from overlaynet.dataplane.ir import (
    Address,
    Dataplane,
    FdbEntry,
    Interface,
    Neighbor,
    NetNamespace,
    NsRef,
    Route,
    VxlanInfo,
    XfrmPolicy,
)
from overlaynet.dataplane.netfilter import ChainRole, Rule
from overlaynet.dataplane.netfilter.matches import AddrType, Destination, InIface, OutIface, Source
from overlaynet.dataplane.netfilter.matches_ct import Conntrack
from overlaynet.dataplane.netfilter.targets import Jump, Masquerade, Verdict_
from overlaynet.drivers.cni import local_mac, pod_namespace
from overlaynet.model import Node, Pod

from .store import EndpointRecord, NetworkRecord

__all__ = ["GWBRIDGE", "Attachment", "HostPlan", "max_mtu", "program_host", "sandbox_name", "sandbox_ref"]

IPv4Address = ipaddress.IPv4Address
IPv4Network = ipaddress.IPv4Network
GWBRIDGE = "docker_gwbridge"
VXLAN_ENCAP = 50  # vxlanEncap in overlay.go
ESP_EXPANSION = 26  # pktExpansion in encryption.go: SPI 4 + seq 4 + IV 8 + pad len 1 + next 1 + ICV 8
ORIGIN = "libnetwork"
DOCKERD = "dockerd"


def max_mtu(net: NetworkRecord) -> int:
    """``network.maxMTU()`` (``encryption.go``): the option (else 1500) minus 50, and for an
    encrypted network minus 26 more, rounded down to a multiple of 4. It never looks at the
    host's NIC.

    >>> from overlaynet.drivers.docker.store import NetworkRecord
    >>> n = NetworkRecord("x", "x", IPv4Network("10.0.0.0/24"), IPv4Address("10.0.0.1"), None, 256, True, False, False, 0)
    >>> max_mtu(n)
    1424
    """
    mtu = (net.mtu or 1500) - VXLAN_ENCAP
    if net.encrypted:
        mtu -= ESP_EXPANSION
        mtu -= mtu % 4
    return mtu


def sandbox_name(nid: str, epoch: int = 1) -> str:
    """The sandbox key's basename: ``<epoch>-`` + the network id, cut to 12 characters."""
    return f"{epoch}-{nid}"[:12]


def sandbox_ref(host: str, nid: str) -> NsRef:
    """The network's sandbox namespace on ``host`` (one place to change when namespace
    identities become a value type)."""
    return NsRef.network(host, sandbox_name(nid))


def _veth(text: str) -> str:
    # netutils.GenerateIfaceName(vethPrefix "veth", vethLen 7): random there, derived here
    return "veth" + hashlib.sha256(text.encode()).hexdigest()[:7]


@dataclass(frozen=True, slots=True)
class Attachment:
    """One container interface: the endpoint and its network."""

    net: NetworkRecord
    endpoint: EndpointRecord


@dataclass(frozen=True, slots=True)
class HostPlan:
    """Everything one host needs: its node, its containers with their attachments (in
    interface order), every endpoint of each network it is on, and the gwbridge subnet."""

    node: Node
    containers: Sequence[tuple[Pod, Sequence[Attachment]]]
    peers: dict[str, Sequence[EndpointRecord]]  # network id -> every endpoint
    gwbridge: IPv4Network
    port: int = 4789  # the VXLAN UDP port (--data-path-port / vxlanPort)


def program_host(dp: Dataplane, root: NetNamespace, plan: HostPlan) -> None:
    host = plan.node.name
    nets: dict[str, NetworkRecord] = {}
    for _, atts in plan.containers:
        for att in atts:
            nets.setdefault(att.net.id, att.net)
    for net in sorted(nets.values(), key=lambda n: n.vni):
        _sandbox(dp, root, plan, net)
    needs_gw = any(not a.net.internal for _, atts in plan.containers for a in atts)
    if needs_gw:
        _gwbridge(root, plan.gwbridge)
    gw_next = 2  # the bridge driver's local IPAM: .1 is the gateway, then join order
    for pod, atts in plan.containers:
        ns = dp.add_namespace(pod_namespace(host, pod), kind="pod")
        ns.add_interface(Interface(
            name="lo", kind="loopback", mtu=65536, addresses=[Address(IPv4Address("127.0.0.1"), 8)],
            origin=f"{DOCKERD}: container {pod.key}: loopback"))
        external = any(not a.net.internal for a in atts)
        names = _interface_names(len(atts), external)
        for att, name in zip(atts, names[0], strict=True):
            _attach(dp, ns, pod, att, name)
        if external:
            gw_ip = plan.gwbridge.network_address + gw_next
            gw_next += 1
            _attach_gwbridge(root, ns, pod, names[1], gw_ip, plan.gwbridge)


def _interface_names(count: int, external: bool) -> tuple[list[str], str]:
    """eth0 for the first network; dockerd joins docker_gwbridge next (eth1), then the
    other networks."""
    if not external:
        return [f"eth{i}" for i in range(count)], ""
    return ["eth0", *(f"eth{i + 2}" for i in range(count - 1))], "eth1"


def _sandbox(dp: Dataplane, root: NetNamespace, plan: HostPlan, net: NetworkRecord) -> None:
    host = plan.node.name
    ref = sandbox_ref(host, net.id)
    why = f"{ORIGIN} overlay: network {net.name} ({net.id[:12]}, VNI {net.vni})"
    sb = dp.add_namespace(ref, kind="other")
    mtu = max_mtu(net)
    sb.add_interface(Interface(
        name="lo", kind="loopback", mtu=65536, addresses=[Address(IPv4Address("127.0.0.1"), 8)],
        origin=f"{why}: sandbox loopback"))
    sb.add_interface(Interface(
        name="br0", kind="bridge", mtu=mtu, mac=local_mac(f"br0:{host}:{net.id}"),
        addresses=[Address(net.gateway, net.subnet.prefixlen)],
        origin=f"{why}: bridge ov-{net.vni:06x}-{net.id[:5]} renamed br0 in sandbox {ref.name}, gateway {net.gateway}"))
    sb.add_route(Route(dst=net.subnet, dev="br0", src=net.gateway, proto="kernel", scope="link",
                       origin=f"{why}: connected route of br0"))
    sb.add_interface(Interface(
        name="vxlan0", kind="vxlan", mtu=mtu, mac=local_mac(f"vxlan0:{host}:{net.id}"), master="br0",
        proxy_arp=True,
        vxlan=VxlanInfo(vni=net.vni, local=None, port=plan.port, dev=None, learning=True, link_ns=root.ref),
        origin=f"{why}: vx-{net.vni:06x}-{net.id[:5]} created in the host namespace (learning, proxy, "
               f"l2miss, l3miss, UDP {plan.port}, MTU {mtu}), moved into the sandbox as vxlan0, port of br0"))
    for ep in plan.peers.get(net.id, ()):
        if ep.locator == plan.node.ip:
            continue
        peer = f"{ORIGIN} peerdb: endpoint {ep.name} ({ep.id[:12]}) on {ep.locator}"
        sb.add_neighbor(Neighbor(ip=ep.ip, dev="vxlan0", lladdr=ep.mac, state="PERMANENT",
                                 origin=f"{peer}: neighbour {ep.ip} → {ep.mac}"))
        sb.add_fdb(FdbEntry(mac=ep.mac, dev="vxlan0", dst=ep.locator, self_=True, permanent=True,
                            origin=f"{peer}: FDB {ep.mac} → VTEP {ep.locator}"))
    if net.encrypted:
        _encryption(root, plan, net)


#: the SPI base and ICV of libnetwork's SAs (``encryption.go``: rfc4106(gcm(aes)) with a
#: 64-bit ICV; SPIs are derived from the keys and the two hosts there)
ESP_ICV = 8


def _encryption(root: NetNamespace, plan: HostPlan, net: NetworkRecord) -> None:
    """``checkEncryption`` / ``programSA``: an ESP transport SA and SP towards every other
    host with an endpoint on the secure network; iptables marks (0xD0C4E3) this VNI's VXLAN
    packets so only they match (a u32 match on the VNI, modelled as the policy's ``vni``)."""
    remotes = sorted({ep.locator for ep in plan.peers.get(net.id, ()) if ep.locator != plan.node.ip}, key=int)
    for remote in remotes:
        spi = int(hashlib.sha256(f"{plan.node.ip}>{remote}:{net.vni}".encode()).hexdigest()[:8], 16)
        if any(x.dst == remote and x.vni == net.vni for x in root.xfrm):
            continue
        root.xfrm.append(XfrmPolicy(
            dst=remote, src=plan.node.ip, dport=plan.port, vni=net.vni, spi=spi, icv=ESP_ICV,
            origin=f"{ORIGIN} encryption: SA/SP {plan.node.ip} → {remote} for network {net.name} (VNI {net.vni}, "
                   f"mark 0xd0c4e3), rfc4106(gcm(aes)) ICV {ESP_ICV}"))


def _attach(dp: Dataplane, ns: NetNamespace, pod: Pod, att: Attachment, name: str) -> None:
    net, ep = att.net, att.endpoint
    host = ns.ref.host
    sb = dp.namespaces[sandbox_ref(host, net.id)]
    mtu = max_mtu(net)
    host_end = _veth(f"{host}:{net.id}:{pod.key}")
    why = f"{ORIGIN} overlay: container {pod.key} on network {net.name}"
    ns.add_interface(Interface(
        name=name, kind="veth", mtu=mtu, mac=ep.mac, addresses=[Address(ep.ip, ep.prefixlen)],
        peer=(sb.ref, host_end),
        origin=f"{why}: container end of the veth, {ep.ip}/{ep.prefixlen} and MAC {ep.mac} from the store, MTU {mtu}"))
    sb.add_interface(Interface(
        name=host_end, kind="veth", mtu=mtu, mac=local_mac(f"{host_end}:{host}"), master="br0", peer=(ns.ref, name),
        origin=f"{why}: sandbox end of the veth, port of br0"))
    ns.add_route(Route(dst=net.subnet, dev=name, src=ep.ip, proto="kernel", scope="link",
                       origin=f"{why}: connected route of {name}"))


def _attach_gwbridge(root: NetNamespace, ns: NetNamespace, pod: Pod, name: str, ip: IPv4Address, subnet: IPv4Network) -> None:
    host = root.ref.host
    host_end = _veth(f"{host}:gwbridge:{pod.key}")
    gateway = subnet.network_address + 1
    why = f"{DOCKERD} bridge driver: container {pod.key} on {GWBRIDGE}"
    ns.add_interface(Interface(
        name=name, kind="veth", mtu=1500, mac=local_mac(f"gw:{host}:{pod.key}"),
        addresses=[Address(ip, subnet.prefixlen)], peer=(root.ref, host_end),
        origin=f"{why}: container end of the veth (north-south traffic leaves here, not through the overlay)"))
    root.add_interface(Interface(
        name=host_end, kind="veth", mtu=1500, mac=local_mac(f"gw-host:{host}:{pod.key}"), master=GWBRIDGE,
        peer=(ns.ref, name), origin=f"{why}: host end of the veth, port of {GWBRIDGE}"))
    ns.add_route(Route(dst=subnet, dev=name, src=ip, proto="kernel", scope="link",
                       origin=f"{why}: connected route of {name}"))
    ns.add_route(Route(dst=IPv4Network("0.0.0.0/0"), dev=name, via=gateway, proto="boot",
                       origin=f"{why}: default route via the {GWBRIDGE} gateway"))


def _gwbridge(root: NetNamespace, subnet: IPv4Network) -> None:
    host = root.ref.host
    gateway = subnet.network_address + 1
    why = f"{DOCKERD}: {GWBRIDGE}"
    root.add_interface(Interface(
        name=GWBRIDGE, kind="bridge", mtu=1500, mac=local_mac(f"{GWBRIDGE}:{host}"),
        addresses=[Address(gateway, subnet.prefixlen)],
        origin=f"{why}: bridge network for overlay containers' north-south traffic (icc off, masquerade on)"))
    root.add_route(Route(dst=subnet, dev=GWBRIDGE, src=gateway, proto="kernel", scope="link",
                         origin=f"{why}: connected route"))
    root.sysctls["net.ipv4.ip_forward"] = "1"
    _merge(root, _rules(subnet))


#: (table, chain) -> role of every user chain dockerd writes
_ROLES = {
    ("nat", "DOCKER"): ChainRole.NAT,
    ("filter", "DOCKER"): ChainRole.FILTER,
    ("filter", "DOCKER-USER"): ChainRole.FILTER,
    ("filter", "DOCKER-ISOLATION-STAGE-1"): ChainRole.FILTER,
    ("filter", "DOCKER-ISOLATION-STAGE-2"): ChainRole.FILTER,
}


def _rules(subnet: IPv4Network) -> list[tuple[str, str, Rule]]:
    """The bridge driver's rules for ``docker_gwbridge`` (icc=false, ip masquerade on) as
    (table, chain, rule), in the order ``iptables-save`` shows them on a Docker 20.10 host."""
    b = GWBRIDGE
    accept, ret, drop = Verdict_("ACCEPT"), Verdict_("RETURN"), Verdict_("DROP")
    local = AddrType(dst_type=("LOCAL",))
    return [
        ("nat", "PREROUTING", Rule((local,), Jump("DOCKER"))),
        ("nat", "OUTPUT", Rule((Destination(IPv4Network("127.0.0.0/8"), negated=True), local), Jump("DOCKER"))),
        ("nat", "POSTROUTING", Rule((Source(subnet), OutIface(b, negated=True)), Masquerade())),
        ("nat", "DOCKER", Rule((InIface(b),), ret)),
        ("filter", "FORWARD", Rule((), Jump("DOCKER-USER"))),
        ("filter", "FORWARD", Rule((), Jump("DOCKER-ISOLATION-STAGE-1"))),
        ("filter", "FORWARD", Rule((OutIface(b), Conntrack(ctstate=frozenset({"RELATED", "ESTABLISHED"}))), accept)),
        ("filter", "FORWARD", Rule((OutIface(b),), Jump("DOCKER"))),
        ("filter", "FORWARD", Rule((InIface(b), OutIface(b, negated=True)), accept)),
        ("filter", "FORWARD", Rule((InIface(b), OutIface(b)), drop)),
        ("filter", "DOCKER-ISOLATION-STAGE-1", Rule((InIface(b), OutIface(b, negated=True)), Jump("DOCKER-ISOLATION-STAGE-2"))),
        ("filter", "DOCKER-ISOLATION-STAGE-1", Rule((), ret)),
        ("filter", "DOCKER-ISOLATION-STAGE-2", Rule((OutIface(b),), drop)),
        ("filter", "DOCKER-ISOLATION-STAGE-2", Rule((), ret)),
        ("filter", "DOCKER-USER", Rule((), ret)),
    ]


def _merge(root: NetNamespace, rules: list[tuple[str, str, Rule]]) -> None:
    """Append dockerd's rules (each once); every chain dockerd owns is created with its
    origin and role, even without rules (the filter table's DOCKER chain)."""
    nf = root.netfilter
    for (table, chain), role in _ROLES.items():
        nf.ensure_chain(table, chain, origin=DOCKERD, role=role)
    for table, chain, rule in rules:
        target = nf.ensure_chain(table, chain)
        if rule not in target.rules:
            nf.append(table, chain, rule)
