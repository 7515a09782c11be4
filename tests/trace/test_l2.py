"""ARP resolution on a bridge domain: the indexed lookup finds the station a scan of the
ports would, and sees every later edit of the stations (address, state, MAC, new port)."""

from __future__ import annotations

from ipaddress import ip_address

from trace_irs import addr, namespace, veth

from overlaynet.dataplane.ir import Dataplane, Interface, Neighbor, NetNamespace
from overlaynet.trace.l2 import bridge_station, resolve

A = ip_address


def bridged(pods: int) -> tuple[Dataplane, NetNamespace, list[NetNamespace]]:
    """Host h1 with bridge cni0 (10.244.0.1/24) and ``pods`` pods 10.244.0.(10+i) on its ports."""
    dp = Dataplane()
    host = namespace(dp, "h1")
    host.add_interface(Interface("cni0", "bridge", addresses=[addr("10.244.0.1/24")], mac="02:aa:00:00:00:01"))
    out = []
    for i in range(pods):
        pod = namespace(dp, "h1", f"default/p{i}", kind="pod", forward=False)
        veth(pod, "eth0", f"10.244.0.{10 + i}/24", host, f"veth{i}", None, master="cni0")
        pod.interfaces["eth0"].mac = f"02:00:00:00:{i:02x}:0a"
        out.append(pod)
    return dp, host, out


def test_a_pod_resolves_another_pod_across_the_bridge() -> None:
    dp, host, pods = bridged(5)
    ans = resolve(dp, pods[0], "eth0", A("10.244.0.13"))
    assert ans.how == "arp" and ans.member is not None
    assert ans.member.ns == pods[3].ref and ans.lladdr == pods[3].interfaces["eth0"].mac
    assert [(c.kind, c.dev, c.to_dev, c.in_port) for c in ans.member.path] == [
        ("veth", "eth0", "veth0", None),
        ("bridge", "cni0", "veth3", "veth0"),
        ("veth", "veth3", "eth0", None),
    ]
    gw = resolve(dp, pods[0], "eth0", A("10.244.0.1"))
    assert gw.member is not None and gw.member.iface.name == "cni0" and gw.member.ns == host.ref
    own = resolve(dp, host, "cni0", A("10.244.0.12"))
    assert own.member is not None and own.member.ns == pods[2].ref
    assert resolve(dp, pods[0], "eth0", A("10.244.0.10")).how == "failed"  # its own port is not asked


def test_the_index_sees_edits_of_the_stations() -> None:
    dp, host, pods = bridged(4)
    target = A("10.244.0.50")
    assert resolve(dp, pods[0], "eth0", target).how == "failed"
    pods[2].interfaces["eth0"].addresses.append(addr("10.244.0.50/24"))
    assert resolve(dp, pods[0], "eth0", target).member.ns == pods[2].ref  # type: ignore[union-attr]
    pods[2].interfaces["eth0"].up = False
    assert resolve(dp, pods[0], "eth0", target).how == "failed"
    pods[1].interfaces["eth0"].addresses = [addr("10.244.0.50/24")]
    assert resolve(dp, pods[0], "eth0", target).member.ns == pods[1].ref  # type: ignore[union-attr]
    late = namespace(dp, "h1", "default/late", kind="pod", forward=False)
    veth(late, "eth0", "10.244.0.60/24", host, "veth-late", None, master="cni0")
    assert resolve(dp, pods[0], "eth0", A("10.244.0.60")).member.ns == late.ref  # type: ignore[union-attr]
    host.interfaces["veth-late"].master = None
    assert resolve(dp, pods[0], "eth0", A("10.244.0.60")).how == "failed"


def test_a_neighbour_entry_s_mac_is_matched_before_the_address_owner() -> None:
    dp, host, pods = bridged(4)
    pods[3].interfaces["eth0"].addresses.append(addr("10.244.0.70/24"))
    mac = pods[1].interfaces["eth0"].mac
    pods[0].add_neighbor(Neighbor(A("10.244.0.70"), "eth0", mac.upper()))  # type: ignore[union-attr]
    ans = resolve(dp, pods[0], "eth0", A("10.244.0.70"))
    assert ans.how == "table" and ans.member is not None and ans.member.ns == pods[1].ref
    pods[1].interfaces["eth0"].mac = "02:ff:ff:ff:ff:ff"
    ans = resolve(dp, pods[0], "eth0", A("10.244.0.70"))
    assert ans.how == "table" and ans.member is not None and ans.member.ns == pods[3].ref


def test_bridge_station_prefers_the_frame_s_mac_then_the_address() -> None:
    dp, host, pods = bridged(3)
    by_mac = bridge_station(dp, host, "cni0", "vxlan0", A("10.244.0.10"), pods[2].interfaces["eth0"].mac)
    assert by_mac is not None and by_mac.ns == pods[2].ref
    by_ip = bridge_station(dp, host, "cni0", "vxlan0", A("10.244.0.11"), "02:00:00:00:00:99")
    assert by_ip is not None and by_ip.ns == pods[1].ref
    assert bridge_station(dp, host, "cni0", "veth1", A("10.244.0.11"), None) is None  # came in on that port
