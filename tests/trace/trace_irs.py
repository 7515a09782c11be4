"""Hand-built dataplane IRs for walker tests: a few namespaces wired by veths and segments."""

from __future__ import annotations

from ipaddress import ip_address, ip_interface, ip_network

from overlaynet.dataplane.ir import (
    Address,
    Dataplane,
    Interface,
    L2Segment,
    NetNamespace,
    NsRef,
    Route,
)


def addr(text: str) -> Address:
    i = ip_interface(text)
    return Address(i.ip, i.network.prefixlen)


def namespace(dp: Dataplane, host: str, name: str = "root", kind: str = "host", forward: bool = True) -> NetNamespace:
    ref = NsRef.pod(host, name) if kind == "pod" else NsRef.on(host, name)
    ns = dp.add_namespace(ref, kind=kind)  # type: ignore[arg-type]
    dp.built_hosts.add(host)
    ns.add_interface(Interface("lo", "loopback", mtu=65536, addresses=[addr("127.0.0.1/8")]))
    if forward:
        ns.sysctls["net.ipv4.ip_forward"] = "1"
    return ns


def veth(a: NetNamespace, a_name: str, a_addr: str | None, b: NetNamespace, b_name: str, b_addr: str | None, mtu: int = 1500, **kw: object) -> None:
    a.add_interface(Interface(a_name, "veth", mtu=mtu, addresses=[addr(a_addr)] if a_addr else [], peer=(b.ref, b_name), mac=f"02:00:00:00:{len(a.interfaces):02x}:0a"))
    b.add_interface(Interface(b_name, "veth", mtu=mtu, addresses=[addr(b_addr)] if b_addr else [], peer=(a.ref, a_name), mac=f"02:00:00:00:{len(b.interfaces):02x}:0b", **kw))  # type: ignore[arg-type]


def segment(dp: Dataplane, name: str, cidr: str, mtu: int = 1500) -> L2Segment:
    seg = L2Segment(name, ip_network(cidr), mtu)
    dp.segments[name] = seg
    return seg


def plug(dp: Dataplane, ns: NetNamespace, ifname: str, seg: L2Segment, address: str, mtu: int | None = None) -> None:
    a = addr(address)
    ns.add_interface(Interface(ifname, "phys", mtu=mtu or seg.mtu, addresses=[a], segment=seg.name, mac=f"02:11:{len(seg.ports):02x}:{len(dp.segments):02x}:00:01"))
    seg.ports.append((ns.ref, ifname))
    seg.directory[a.ip] = (ns.ref, ifname)


def route(ns: NetNamespace, dst: str, **kw: object) -> None:
    via = kw.pop("via", None)
    ns.add_route(Route(dst=ip_network(dst), via=ip_address(via) if via else None, **kw))  # type: ignore[arg-type]


def pod_and_host() -> tuple[Dataplane, NetNamespace, NetNamespace]:
    """Host h1 (10.0.0.1) and pod h1/pod:default/a (10.0.0.2) on a veth pair, pod default via host."""
    dp = Dataplane()
    host = namespace(dp, "h1")
    pod = namespace(dp, "h1", "default/a", kind="pod", forward=False)
    veth(pod, "eth0", "10.0.0.2/24", host, "veth-a", "10.0.0.1/24")
    route(pod, "0.0.0.0/0", via="10.0.0.1", dev="eth0")
    return dp, host, pod


def two_routers_on_segment() -> tuple[Dataplane, NetNamespace, NetNamespace]:
    dp = Dataplane()
    seg = segment(dp, "s", "192.168.1.0/24")
    r1 = namespace(dp, "r1", kind="router")
    r2 = namespace(dp, "r2", kind="router")
    plug(dp, r1, "eth0", seg, "192.168.1.1/24")
    plug(dp, r2, "eth0", seg, "192.168.1.2/24")
    return dp, r1, r2
