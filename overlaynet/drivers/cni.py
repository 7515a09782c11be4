"""The reference CNI plugins drivers delegate to: ``host-local`` IPAM and the ``bridge`` plugin.

flannel's CNI plugin hands exactly these the subnet from ``subnet.env``; the fake driver uses
them as kubenet does. Pure functions over the model, plus one writer into the dataplane IR.
Names and MACs are derived from stable inputs (real ones are random) so runs are repeatable.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from overlaynet.dataplane.ir import Address, Dataplane, Interface, NetNamespace, NsRef, Route
from overlaynet.errors import AddressExhausted, Diagnostic, TopologyError
from overlaynet.model import Node, Pod
from overlaynet.model.base import evolve

__all__ = [
    "BridgeConf",
    "allocate_pod_ips",
    "allocate_pod_ips6",
    "assign_node_cidrs",
    "local_mac",
    "pod_namespace",
    "program_bridge",
    "v4_cidr",
    "veth_name",
]

IPv4Network = ipaddress.IPv4Network
IPv4Address = ipaddress.IPv4Address
IPv6Network = ipaddress.IPv6Network
IPv6Address = ipaddress.IPv6Address


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


def veth_name(pod_key: str) -> str:
    """The host end of a pod's veth: ``veth`` + 8 hex digits, as CNI's ``RandomVethName``
    names it, but derived from the pod key instead of random.

    >>> veth_name("default/web-0")
    'vethf75c58f0'
    """
    return "veth" + _digest(f"veth:{pod_key}").hex()[:8]


def local_mac(text: str) -> str:
    """A locally administered unicast MAC derived from ``text``.

    >>> mac = local_mac("node-1")
    >>> int(mac[:2], 16) & 0b11
    2
    """
    raw = bytearray(_digest(text)[:6])
    raw[0] = (raw[0] & 0xFC) | 0x02
    return ":".join(f"{b:02x}" for b in raw)


def pod_namespace(node: str, pod: Pod) -> NsRef:
    """A pod's namespace on ``node`` (``NsRef.pod``)."""
    return NsRef.pod(node, pod.key)


def v4_cidr(node: Node) -> IPv4Network | None:
    """The node's first IPv4 pod CIDR (flannel and host-local here are IPv4 only)."""
    for cidr in node.pod_cidrs:
        if isinstance(cidr, IPv4Network):
            return cidr
    return None


def _v4(pod: Pod) -> IPv4Address | None:
    for ip in pod.ips:
        if isinstance(ip, IPv4Address):
            return ip
    return None


def _v6(pod: Pod) -> IPv6Address | None:
    for ip in pod.ips:
        if isinstance(ip, IPv6Address):
            return ip
    return None


def _diag(obj: Pod | Node, path: str, message: str) -> Diagnostic:
    src = obj.source
    if src is None:
        return Diagnostic("<cluster>", 0, 0, path, message)
    return Diagnostic(src.file, src.line, src.column, path, message)


def assign_node_cidrs(
    nodes: Sequence[Node], network: IPv4Network, prefixlen: int, *, who: str
) -> tuple[Node, ...]:
    """Give every node without an IPv4 pod CIDR the first free ``/prefixlen`` block of
    ``network``, in node order, as kube-controller-manager's range allocator does; the
    result is marked ``pod_cidrs_allocated``. ``AddressExhausted`` when the blocks run out."""
    size = 1 << (32 - prefixlen)
    base, count = int(network.network_address), network.num_addresses // size
    taken: set[int] = set()  # block indexes any existing pod CIDR overlaps
    for cidr in (c for n in nodes if (c := v4_cidr(n)) is not None):
        lo = max(int(cidr.network_address), base)
        hi = min(int(cidr.broadcast_address), base + network.num_addresses - 1)
        taken.update(range((lo - base) // size, (hi - base) // size + 1) if lo <= hi else ())
    slot = 0
    out: list[Node] = []
    for node in nodes:
        if v4_cidr(node) is not None:
            out.append(node)
            continue
        while slot in taken:
            slot += 1
        if slot >= count:
            raise AddressExhausted(
                f"{who}: no free /{prefixlen} left in {network} for node {node.name} "
                f"({len(taken)} blocks in use)"
            )
        taken.add(slot)
        block = IPv4Network((base + slot * size, prefixlen))
        out.append(replace(node, pod_cidrs=(block, *node.pod_cidrs), pod_cidrs_allocated=True))
    return tuple(out)


def allocate_pod_ips(
    pods: Sequence[Pod], subnets: Mapping[str, IPv4Network], *, who: str
) -> tuple[Pod, ...]:
    """host-local IPAM per node: the gateway is the subnet's first address (``.1``), pods get
    ``.2`` upwards in creation order, skipping addresses the file gave other pods.

    Pods whose address the file gave (``allocated=False``) keep it; one outside its node's
    subnet (or on its network, gateway or broadcast address, or given twice) is a
    ``TopologyError`` naming the pod's source line: the file contradicts the driver's IPAM,
    which is bad input rather than an exhausted pool. Pods IPAM chose (``allocated=True``)
    or without an address are (re)allocated. hostNetwork pods and pods on nodes without a
    subnet are left as they are. ``AddressExhausted`` when a node's subnet is full.
    """
    errors: list[Diagnostic] = []
    taken: dict[str, dict[IPv4Address, str]] = {name: {} for name in subnets}
    todo: dict[str, list[int]] = {name: [] for name in subnets}
    for index, pod in enumerate(pods):
        node = pod.node
        if node is None or pod.host_network:
            continue
        pending = todo.get(node)
        if pending is None:  # no subnet on that node
            continue
        ip = None if pod.allocated else _v4(pod)
        if ip is None:
            pending.append(index)
            continue
        subnet = subnets[node]
        reserved = (subnet.network_address, subnet.network_address + 1, subnet.broadcast_address)
        if ip not in subnet:
            errors.append(_diag(pod, "status.podIP", (
                f"pod {pod.key} has IP {ip}, outside {subnet}, the pod subnet {who} gave node "
                f"{pod.node}; remove status.podIP to let IPAM choose, or fix the node's podCIDR")))
        elif ip in reserved:
            errors.append(_diag(pod, "status.podIP", (
                f"pod {pod.key} has IP {ip}, the network, gateway or broadcast address of "
                f"{subnet} on node {pod.node}")))
        elif ip in taken[node]:
            errors.append(_diag(pod, "status.podIP", (
                f"pod {pod.key} has IP {ip}, already used by pod {taken[node][ip]}")))
        else:
            taken[node][ip] = pod.key
    if errors:
        raise TopologyError(errors)

    out = list(pods)
    for node_name, indexes in todo.items():
        subnet = subnets[node_name]
        used = {int(ip) for ip in taken[node_name]}  # as integers: no address object per candidate
        candidate = int(subnet.network_address) + 2
        last = int(subnet.broadcast_address) - 1
        # by creation, ties in file order (``indexes`` ascend and the sort is stable)
        for index in sorted(indexes, key=lambda i: pods[i].creation_index):
            while candidate <= last and candidate in used:
                candidate += 1
            if candidate > last:
                raise AddressExhausted(
                    f"{who}: node {node_name}: no free address left in {subnet} for pod "
                    f"{pods[index].key} (host-local range {subnet.network_address + 2}-"
                    f"{IPv4Address(last)}, {len(used)} in use)"
                )
            used.add(candidate)
            pod = pods[index]
            had = pod.ips
            # the same pod when IPAM agrees (endpoints stay valid)
            if not (pod.allocated and len(had) == 1 and isinstance(had[0], IPv4Address) and int(had[0]) == candidate):
                out[index] = evolve(pod, ips=(IPv4Address(candidate),), allocated=True)
            candidate += 1
    return tuple(out)


def allocate_pod_ips6(
    pods: Sequence[Pod], subnets: Mapping[str, IPv6Network], *, who: str
) -> tuple[Pod, ...]:
    """The IPv6 range of a dual-stack host-local IPAM: every pod on a node with an IPv6
    subnet gets a second address, ``::2`` upwards in creation order (``::1`` is the bridge's),
    after its IPv4 one. An IPv6 address the file gave (``status.podIPs``) is kept when it lies
    in the subnet and is free; otherwise it is a ``TopologyError`` naming the pod's line."""
    errors: list[Diagnostic] = []
    taken: dict[str, set[int]] = {name: set() for name in subnets}
    todo: list[int] = []
    for index, pod in enumerate(pods):
        if pod.node is None or pod.host_network or pod.node not in subnets:
            continue
        ip = _v6(pod)
        subnet = subnets[pod.node]
        if ip is None:
            todo.append(index)
        elif ip not in subnet or ip in (subnet.network_address, subnet.network_address + 1):
            errors.append(_diag(pod, "status.podIPs", (
                f"pod {pod.key} has IPv6 {ip}, not a pod address of {subnet}, the IPv6 pod "
                f"subnet {who} gave node {pod.node}; remove it to let IPAM choose")))
        elif int(ip) in taken[pod.node]:
            errors.append(_diag(pod, "status.podIPs", f"pod {pod.key} has IPv6 {ip}, already used"))
        else:
            taken[pod.node].add(int(ip))
    if errors:
        raise TopologyError(errors)
    out = list(pods)
    next_free = {name: int(net.network_address) + 2 for name, net in subnets.items()}
    for index in sorted(todo, key=lambda i: pods[i].creation_index):
        pod = pods[index]
        assert pod.node is not None
        subnet, used = subnets[pod.node], taken[pod.node]
        candidate = next_free[pod.node]
        while candidate in used:
            candidate += 1
        if candidate > int(subnet.broadcast_address):
            raise AddressExhausted(f"{who}: node {pod.node}: no free IPv6 address left in {subnet} for pod {pod.key}")
        used.add(candidate)
        next_free[pod.node] = candidate + 1
        out[index] = evolve(pod, ips=(*pod.ips, IPv6Address(candidate)))
    return tuple(out)


@dataclass(frozen=True, slots=True)
class BridgeConf:
    """What the bridge plugin is told: bridge name, the node's subnet, the MTU, routes to
    add in pods via the gateway (besides the default route), and who is writing."""

    bridge: str
    subnet: IPv4Network
    mtu: int
    origin: str
    pod_routes: tuple[IPv4Network, ...] = ()
    #: the bridge's address when it is not the subnet's first (Weave: the ``weave expose``
    #: address its IPAM gave the host)
    gateway_ip: IPv4Address | None = None
    #: dual stack: the node's IPv6 subnet (the bridge gets its ``::1``) and the IPv6 routes
    #: pods get via that gateway
    subnet6: IPv6Network | None = None
    pod_routes6: tuple[IPv6Network, ...] = ()

    @property
    def gateway(self) -> IPv4Address:
        return self.gateway_ip if self.gateway_ip is not None else self.subnet.network_address + 1

    @property
    def gateway6(self) -> IPv6Address | None:
        return None if self.subnet6 is None else self.subnet6.network_address + 1


def program_bridge(dp: Dataplane, root: NetNamespace, conf: BridgeConf, pods: Iterable[Pod]) -> None:
    """Write what the bridge plugin writes: the bridge with the gateway address, and per pod
    a namespace with ``lo`` and ``eth0`` (veth whose host end is a bridge port), the pod's
    address, its connected route, a default route via the gateway and ``conf.pod_routes``."""
    host = root.ref.host
    gw = conf.gateway
    addresses = [Address(gw, conf.subnet.prefixlen)]
    gw6 = conf.gateway6
    if conf.subnet6 is not None and gw6 is not None:
        addresses.append(Address(gw6, conf.subnet6.prefixlen))
    root.add_interface(Interface(
        name=conf.bridge, kind="bridge", mtu=conf.mtu, mac=local_mac(f"bridge:{host}:{conf.bridge}"),
        addresses=addresses,
        origin=f"{conf.origin}: bridge {conf.bridge}, gateway {gw}/{conf.subnet.prefixlen}",
    ))
    root.add_route(Route(
        dst=conf.subnet, dev=conf.bridge, src=gw, proto="kernel", scope="link",
        origin=f"{conf.origin}: connected route of {conf.bridge}",
    ))
    root.sysctls["net.ipv4.ip_forward"] = "1"  # the bridge plugin enables forwarding as gateway
    if conf.subnet6 is not None:
        root.add_route(Route(
            dst=conf.subnet6, dev=conf.bridge, proto="kernel", scope="link",
            origin=f"{conf.origin}: connected route of {conf.bridge} (IPv6)",
        ))
        root.sysctls["net.ipv6.conf.all.forwarding"] = "1"
    for pod in pods:
        ip = _v4(pod)
        if ip is None:
            continue
        _program_pod(dp, root, conf, pod, ip)


def _program_pod(dp: Dataplane, root: NetNamespace, conf: BridgeConf, pod: Pod, ip: IPv4Address) -> None:
    host = root.ref.host
    ref = pod_namespace(host, pod)
    host_if = veth_name(pod.key)
    why = f"{conf.origin}: pod {pod.key}"
    ns = dp.add_namespace(ref, kind="pod")
    ns.add_interface(Interface(
        name="lo", kind="loopback", mtu=65536, addresses=[Address(IPv4Address("127.0.0.1"), 8)],
        origin=f"{why}: loopback",
    ))
    ns.add_interface(Interface(
        name="eth0", kind="veth", mtu=conf.mtu, mac=local_mac(f"pod:{host}:{pod.key}"),
        addresses=[Address(ip, conf.subnet.prefixlen)], peer=(root.ref, host_if),
        origin=f"{why}: container end of the veth, address from host-local IPAM",
    ))
    root.add_interface(Interface(
        name=host_if, kind="veth", mtu=conf.mtu, mac=local_mac(f"veth:{host}:{pod.key}"),
        master=conf.bridge, peer=(ref, "eth0"),
        origin=f"{why}: host end of the veth, port of {conf.bridge}",
    ))
    ns.add_route(Route(
        dst=conf.subnet, dev="eth0", src=ip, proto="kernel", scope="link",
        origin=f"{why}: connected route of eth0",
    ))
    for dst in conf.pod_routes:
        ns.add_route(Route(dst=dst, dev="eth0", via=conf.gateway, proto="boot",
                           origin=f"{why}: IPAM route to {dst} via the gateway"))
    ns.add_route(Route(
        dst=IPv4Network("0.0.0.0/0"), dev="eth0", via=conf.gateway, proto="boot",
        origin=f"{why}: default route via the gateway (isDefaultGateway)",
    ))
    ip6 = _v6(pod)
    if conf.subnet6 is None or conf.gateway6 is None or ip6 is None:
        return
    eth0 = ns.interfaces["eth0"]
    eth0.addresses.append(Address(ip6, conf.subnet6.prefixlen))
    ns.add_route(Route(
        dst=conf.subnet6, dev="eth0", proto="kernel", scope="link",
        origin=f"{why}: connected route of eth0 (IPv6)",
    ))
    for dst6 in conf.pod_routes6:
        ns.add_route(Route(dst=dst6, dev="eth0", via=conf.gateway6, proto="boot",
                           origin=f"{why}: IPAM route to {dst6} via the IPv6 gateway"))
    ns.add_route(Route(
        dst=IPv6Network("::/0"), dev="eth0", via=conf.gateway6, proto="boot",
        origin=f"{why}: IPv6 default route via the gateway (isDefaultGateway)",
    ))
