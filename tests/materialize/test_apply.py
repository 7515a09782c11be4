"""The materializer against the kernel, on IRs built by hand (no driver involved)."""

from __future__ import annotations

import json
import os
import subprocess
from ipaddress import ip_address
from pathlib import Path
from typing import Any

import pytest

from overlaynet.dataplane.ir import FdbEntry, Interface, Neighbor, NsRef, Route, TunInfo
from overlaynet.errors import MaterializeError
from overlaynet.materialize import Materialized, list_namespaces, materialize
from overlaynet.materialize.naming import run_prefix
from overlaynet.materialize.probe import ping
from overlaynet.network import Network, assemble
from overlaynet.topology import load_cluster

from . import irs

pytestmark = pytest.mark.root


def _links(m, ref: NsRef) -> dict[str, dict]:  # type: ignore[no-untyped-def]
    out = m.exec(ref, ["ip", "-j", "-d", "link", "show"]).stdout
    return {link["ifname"]: link for link in json.loads(out)}


def _routes(m, ref: NsRef, *extra: str) -> list[dict]:  # type: ignore[no-untyped-def]
    return json.loads(m.exec(ref, ["ip", "-j", "route", "show", *extra]).stdout)


def test_veth_between_two_namespaces(run_id: str) -> None:
    with materialize(irs.two_namespaces(), run_id=run_id) as m:
        assert m.namespaces == [f"onet-{run_id}-a", f"onet-{run_id}-b"]
        assert m.namespace_name(NsRef("a")) == f"onet-{run_id}-a"
        link = _links(m, NsRef("a"))["veth-a"]
        assert (link["mtu"], link["address"], link["link_netnsid"] is not None) == (1400, "02:00:00:00:0a:01", True)
        assert "UP" in link["flags"] and "UP" in _links(m, NsRef("a"))["lo"]["flags"]
        reply = ping(m, NsRef("a"), "10.0.0.2")
        assert (reply.status, reply.ttl, reply.reply_from) == ("reply", 64, "10.0.0.2")
        too_big = ping(m, NsRef("a"), "10.0.0.2", size=1401, df=True)
        assert (too_big.status, too_big.mtu, too_big.local) == ("frag_needed", 1400, True)
        assert "message too long, mtu=1400" in too_big.message
        # DF clear: the kernel fragments and the echo still comes back
        assert ping(m, NsRef("a"), "10.0.0.2", size=3000).status == "reply"
    assert list_namespaces(run_prefix(run_id)) == []


def test_bridge_ports_and_pod_routes(run_id: str) -> None:
    dp = irs.bridge_with_ports(3)
    dp.namespaces[NsRef("h")].add_fdb(FdbEntry("02:00:00:00:99:01", "vethp1", master="br-test", self_=False))
    with materialize(dp, run_id=run_id) as m:
        host = NsRef("h")
        fdb = json.loads(m.exec(host, ["bridge", "-j", "fdb", "show", "dev", "vethp1"]).stdout)
        entry = next(e for e in fdb if e["mac"] == "02:00:00:00:99:01")
        assert (entry.get("master"), entry["state"]) == ("br-test", "static")
        links = _links(m, host)
        assert {links[f"vethp{i}"].get("master") for i in (1, 2, 3)} == {"br-test"}
        assert links["br-test"]["linkinfo"]["info_kind"] == "bridge"
        pods = [NsRef.pod("h", f"default/p{i}") for i in (1, 2, 3)]
        assert [m.namespace_name(p) for p in pods] == [f"onet-{run_id}-h.p{i}" for i in (1, 2, 3)]
        default = _routes(m, pods[0])[0]
        assert (default["dst"], default["gateway"], default["dev"]) == ("default", "10.1.0.1", "eth0")
        # bridged, not routed: the TTL arrives untouched
        assert ping(m, pods[0], "10.1.0.13").ttl == 64
        assert ping(m, pods[2], "10.1.0.11").ttl == 64
        assert ping(m, pods[1], "10.1.0.1").status == "reply"


def test_two_host_vxlan_by_hand(vxlan_by_hand: Materialized) -> None:
    m = vxlan_by_hand
    node1 = NsRef("node-1")
    vx = _links(m, node1)["flannel.1"]
    data = vx["linkinfo"]["info_data"]
    assert (data["id"], data["local"], data["port"], data["link"], data["learning"]) == (1, "192.168.50.1", 8472, "eth0", False)
    assert (vx["mtu"], vx["address"]) == (1450, irs.vtep_mac(1))
    fdb = m.exec(node1, ["bridge", "-j", "fdb", "show", "dev", "flannel.1"]).stdout
    assert {"mac": irs.vtep_mac(2), "dst": "192.168.50.2"}.items() <= next(
        e for e in json.loads(fdb) if e["mac"] == irs.vtep_mac(2)
    ).items()
    neigh = json.loads(m.exec(node1, ["ip", "-j", "neigh", "show", "dev", "flannel.1"]).stdout)
    assert [(n["dst"], n["lladdr"], n["state"]) for n in neigh] == [("10.244.2.0", irs.vtep_mac(2), ["PERMANENT"])]
    route = next(r for r in _routes(m, node1) if r["dst"] == "10.244.2.0/24")
    assert (route["gateway"], route["dev"], route["flags"]) == ("10.244.2.0", "flannel.1", ["onlink"])
    pod = NsRef.pod("node-1", "default/pod-a")
    reply = ping(m, pod, "10.244.2.2")
    assert (reply.status, reply.ttl) == ("reply", 62)  # routed by node-2 and by node-1
    assert ping(m, pod, "10.244.2.2", size=1450, df=True).status == "reply"
    frag = ping(m, pod, "10.244.2.2", size=1451, df=True)
    assert (frag.status, frag.mtu) == ("frag_needed", 1450)


def test_routes_of_every_type_and_sysctls(run_id: str) -> None:
    dp = irs.two_namespaces()
    a = dp.namespaces[NsRef("a")]
    a.sysctls["net.ipv4.ip_forward"] = "1"
    a.sysctls["net.ipv4.conf.veth-a.rp_filter"] = "1"
    a.add_interface(Interface("d.1", "dummy"))
    a.sysctls["net.ipv4.conf.d.1.rp_filter"] = "2"  # a dotted name, as flannel.1
    a.interfaces["veth-a"].proxy_arp = True
    a.add_route(Route(irs.net("10.9.0.0/16"), type="blackhole"))
    a.add_route(Route(irs.net("10.8.0.0/16"), type="unreachable"))
    a.add_route(Route(irs.net("10.7.0.0/16"), dev="veth-a", via=ip_address("10.0.0.2"), metric=50, src=ip_address("10.0.0.1")))
    a.add_route(Route(irs.net("10.6.0.0/16"), dev="veth-a", via=ip_address("172.16.0.1"), onlink=True))
    a.add_route(Route(irs.net("10.5.0.0/16"), dev="veth-a", table="100"))
    a.add_neighbor(Neighbor(ip_address("10.0.0.77"), "veth-a", "02:00:00:00:00:77"))
    a.add_neighbor(Neighbor(ip_address("10.0.0.78"), "veth-a", None, state="FAILED"))
    with materialize(dp, run_id=run_id) as m:
        ref = NsRef("a")
        routes = {r["dst"]: r for r in _routes(m, ref)}
        assert routes["10.9.0.0/16"]["type"] == "blackhole"
        assert routes["10.8.0.0/16"]["type"] == "unreachable"
        assert (routes["10.7.0.0/16"]["metric"], routes["10.7.0.0/16"]["prefsrc"]) == (50, "10.0.0.1")
        assert routes["10.6.0.0/16"]["flags"] == ["onlink"]
        in_100 = _routes(m, ref, "table", "100")[0]
        assert (in_100["dst"], in_100["scope"]) == ("10.5.0.0/16", "link")  # dev only: as `ip route add`
        sysctl = m.exec(ref, ["cat", "/proc/sys/net/ipv4/ip_forward", "/proc/sys/net/ipv4/conf/veth-a/rp_filter",
                              "/proc/sys/net/ipv4/conf/veth-a/proxy_arp", "/proc/sys/net/ipv4/ip_forward"]).stdout.split()
        assert sysctl == ["1", "1", "1", "1"]
        assert m.exec(ref, ["cat", "/proc/sys/net/ipv4/conf/d.1/rp_filter"]).stdout.strip() == "2"
        assert m.exec(NsRef("b"), ["cat", "/proc/sys/net/ipv4/ip_forward"]).stdout.strip() == "0"
        neigh = json.loads(m.exec(ref, ["ip", "-j", "neigh", "show", "10.0.0.77"]).stdout)
        assert neigh[0]["state"] == ["PERMANENT"]
        assert "neighbour 10.0.0.78 lladdr None dev veth-a FAILED" in [s.object for s in m.skipped]


def test_long_names_are_shortened_and_mapped(run_id: str) -> None:
    dp = irs.two_namespaces()
    a = dp.namespaces[NsRef("a")]
    a.add_interface(Interface("a-very-long-interface-name", "dummy", mtu=1300, addresses=[irs.addr("10.3.0.1/24")]))
    a.add_interface(Interface("a-very-long-interface-name-2", "dummy"))
    a.add_route(Route(irs.net("10.4.0.0/16"), dev="a-very-long-interface-name"))
    with materialize(dp, run_id=run_id) as m:
        ref = NsRef("a")
        short = m.ifname(ref, "a-very-long-interface-name")
        other = m.ifname(ref, "a-very-long-interface-name-2")
        assert len(short) <= 15 and len(other) <= 15 and short != other
        links = _links(m, ref)
        assert links[short]["mtu"] == 1300 and other in links
        assert next(r for r in _routes(m, ref) if r["dst"] == "10.4.0.0/16")["dev"] == short
        # a veth with a down peer stands in where the kernel has no dummy link type
        assert links[short]["linkinfo"]["info_kind"] in ("dummy", "veth")


def test_tun_and_missing_ipip_are_skipped_with_reasons(run_id: str) -> None:
    dp = irs.two_namespaces()
    a = dp.namespaces[NsRef("a")]
    a.add_interface(Interface("flannel0", "tun", mtu=1472, tun=TunInfo("flanneld"), addresses=[irs.addr("10.244.1.0/16")]))
    a.add_route(Route(irs.net("10.244.0.0/16"), dev="flannel0"))
    a.add_interface(Interface("tunl0", "ipip", mtu=1480))
    with materialize(dp, run_id=run_id) as m:
        reasons = {s.object: s.reason for s in m.skipped}
        assert "userspace forwarder" in reasons["tun flannel0"]
        assert reasons["route 10.244.0.0/16 dev flannel0"] == "dev flannel0 was not created"
        links = _links(m, NsRef("a"))
        assert "flannel0" not in links
        ipip_skipped = "ipip tunl0" in reasons
        assert ipip_skipped == ("tunl0" not in links)
        if ipip_skipped:
            assert "no ipip link type" in reasons["ipip tunl0"]


def test_kernel_refusal_mid_apply_removes_everything(run_id: str) -> None:
    dp = irs.two_host_vxlan()
    # not onlink, and 10.99.0.1 is on no connected network: the kernel refuses the route,
    # after namespaces, links and addresses already exist
    dp.namespaces[NsRef("node-2")].add_route(Route(irs.net("10.98.0.0/16"), dev="eth0", via=ip_address("10.99.0.1")))
    with pytest.raises(MaterializeError) as err:
        materialize(dp, run_id=run_id)
    message = str(err.value)
    assert f"onet-{run_id}-node-2" in message and "route 10.98.0.0/16 via 10.99.0.1 dev eth0" in message
    assert "Nexthop has invalid gateway" in message
    assert err.value.__cause__ is not None
    assert list_namespaces(run_prefix(run_id)) == []


def test_a_refusal_while_the_namespaces_are_made_removes_everything(run_id: str) -> None:
    dp = irs.two_host_vxlan()
    # written by the thread that makes node-2's namespace, before any link exists
    dp.namespaces[NsRef("node-2")].sysctls["net.ipv4.ip_forward"] = "banana"
    host_forward = Path("/proc/sys/net/ipv4/ip_forward").read_text()
    with pytest.raises(MaterializeError, match=f"namespace onet-{run_id}-node-2: net/ipv4/ip_forward=banana"):
        materialize(dp, run_id=run_id)
    assert list_namespaces(run_prefix(run_id)) == []
    assert Path("/proc/sys/net/ipv4/ip_forward").read_text() == host_forward


def test_run_id_is_validated_and_not_reused(run_id: str) -> None:
    with pytest.raises(MaterializeError, match="run id 'Bad-Id'"):
        materialize(irs.two_namespaces(), run_id="Bad-Id")
    with materialize(irs.two_namespaces(), run_id=run_id) as m:
        with pytest.raises(MaterializeError, match="already has namespaces"):
            materialize(irs.two_namespaces(), run_id=run_id)
        with pytest.raises(MaterializeError, match="not materialized"):
            m.namespace_name(NsRef("zzz"))
    assert list_namespaces(run_prefix(run_id)) == []


def test_only_the_hosts_asked_for(run_id: str) -> None:
    with materialize(irs.two_host_vxlan(), hosts=["node-1"], run_id=run_id) as m:
        assert m.namespaces == [f"onet-{run_id}-node-1", f"onet-{run_id}-node-1.pod-a", f"onet-{run_id}-seg.lan"]
        assert m.skipped == ()
        with pytest.raises(MaterializeError, match="not materialized"):
            m.namespace_name(NsRef("node-2"))
        # node-1's pod reaches its own host through cni0; node-2 does not exist here
        assert ping(m, NsRef.pod("node-1", "default/pod-a"), "10.244.1.1").ttl == 64


def _flannel_cluster(tmp_path: Path, pods_per_node: int) -> Network:
    """Three flannel VXLAN nodes on one segment, ``pods_per_node`` pods pinned on each and a
    Service over them (kube-proxy rules on every node)."""
    pods = "\n".join(
        f"  - {{apiVersion: v1, kind: Pod, metadata: {{name: p{n}-{i}, labels: {{app: web}}}}, "
        f"spec: {{nodeName: node-{n}, containers: [{{name: c, image: i}}]}}}}"
        for n in (1, 2, 3) for i in range(pods_per_node))
    path = tmp_path / f"flannel-{pods_per_node}.yaml"
    path.write_text(
        "apiVersion: overlaynet/v1\nkind: Cluster\nmetadata: {name: batch}\nspec:\n"
        "  network: {driver: flannel, options: {backend: vxlan}}\n"
        "  underlay: {segments: [{name: rack, cidr: 192.168.10.0/24}]}\n"
        "  nodes: [{name: node-1, ip: 192.168.10.11}, {name: node-2, ip: 192.168.10.12}, {name: node-3, ip: 192.168.10.13}]\n"
        "---\napiVersion: v1\nkind: List\nitems:\n" + pods + "\n"
        "---\napiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {selector: {app: web}, ports: [{port: 80}]}\n")
    return assemble(load_cluster([path]))


def _spawned(monkeypatch: pytest.MonkeyPatch) -> tuple[list[list[str]], list[int], list[int]]:
    """Record from now on every process started (``subprocess.Popen``, ``os.fork``), every
    pyroute2 session opened and every netlink socket taken for batches."""
    import pyroute2

    import overlaynet.materialize._state as state_mod

    argvs: list[list[str]] = []
    sessions: list[int] = []
    batch_sockets: list[int] = []
    popen_init, fork, iproute, raw_socket = subprocess.Popen.__init__, os.fork, pyroute2.IPRoute, state_mod.raw_socket

    def counting_popen(self: subprocess.Popen[Any], args: Any, *a: Any, **kw: Any) -> None:
        argvs.append([str(x) for x in args])
        popen_init(self, args, *a, **kw)

    def counting_fork() -> int:
        argvs.append(["fork"])
        return fork()

    def counting_iproute(*a: Any, **kw: Any) -> Any:
        sessions.append(kw.get("fileno", -1))
        return iproute(*a, **kw)

    def counting_raw_socket(fd: int) -> Any:
        batch_sockets.append(fd)
        return raw_socket(fd)

    monkeypatch.setattr(subprocess.Popen, "__init__", counting_popen)
    monkeypatch.setattr(os, "fork", counting_fork)
    monkeypatch.setattr(pyroute2, "IPRoute", counting_iproute)
    monkeypatch.setattr(state_mod, "raw_socket", counting_raw_socket)
    return argvs, sessions, batch_sockets


def test_processes_and_netlink_sessions_do_not_grow_with_the_pods(run_id: str, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    for pods_per_node in (1, 5):
        network = _flannel_cluster(tmp_path, pods_per_node)
        dp = network.build_all()
        argvs, sessions, batch_sockets = _spawned(monkeypatch)
        m = materialize(dp, hosts=["node-1", "node-2", "node-3"], run_id=run_id)
        with m:
            # 3 nodes × (1 + pods) pod namespaces (+ 2 CoreDNS pods) and the segment
            assert len(m.namespaces) == 3 + 3 * pods_per_node + 2 + 1
            # the only processes: one iptables-restore per node (the pods have no rules)
            nodes = [m.namespace_name(NsRef(f"node-{n}")) for n in (1, 2, 3)]
            assert argvs == [["ip", "netns", "exec", name, "iptables-restore"] for name in nodes]
            # one netlink socket per namespace carries its batches; pyroute2 sessions only
            # where links are created (the segment's bridge and ports, each node's cni0,
            # flannel.1 and the veth pairs to its pods), whatever the number of pods
            assert len(batch_sockets) == len(set(batch_sockets)) == len(m.namespaces)
            assert len(sessions) == 4
            monkeypatch.undo()
            _same_as_the_ir(m, dp)
            argvs, _, _ = _spawned(monkeypatch)
        assert argvs == []  # tear-down spawns nothing
        monkeypatch.undo()
        assert list_namespaces(run_prefix(run_id)) == []


def _same_as_the_ir(m: Materialized, dp: Any) -> None:
    """Every namespace holds exactly the IR's addresses and main-table routes, and its
    forwarding and rp_filter sysctls."""
    for ref in m.refs:
        ns = dp.namespaces[ref]
        addrs = {(a["local"], a["prefixlen"]) for link in json.loads(m.exec(ref, ["ip", "-j", "-4", "addr"]).stdout)
                 for a in link["addr_info"]}
        lo = {("127.0.0.1", 8)}  # every namespace's lo has it, whether the IR lists it or not
        assert addrs == lo | {(str(a.ip), a.prefixlen) for _, a in ns.addresses() if a.ip.version == 4}, ref
        routes = {(r["dst"], r.get("gateway")) for r in _routes(m, ref)}
        want = {("default" if r.dst.prefixlen == 0 else str(r.dst), str(r.via) if r.via else None)
                for r in ns.routes if r.table == "main"}
        assert routes == want, ref
        forward, rp = m.exec(ref, ["cat", "/proc/sys/net/ipv4/ip_forward", "/proc/sys/net/ipv4/conf/all/rp_filter"]).stdout.split()
        want_sysctls = (ns.sysctls.get("net.ipv4.ip_forward", "0"), ns.sysctls.get("net.ipv4.conf.all.rp_filter", "0"))
        assert (forward, rp) == want_sysctls, ref
