"""Warm traces see every write: the indexes a trace builds (routes, neighbours, FDB, devices,
kube-proxy's dispatch tables) are rebuilt when what they index changes, so a change made
after a trace shows in the next one."""

from __future__ import annotations

from dataclasses import replace
from ipaddress import ip_address, ip_network

import pytest

from overlaynet.cli.trace import demo_request, demo_topology
from overlaynet.dataplane.ir import Address, FdbEntry, Interface, Neighbor, NsRef, Route
from overlaynet.dataplane.netfilter import parse_rule
from overlaynet.network import Network, assemble
from overlaynet.network.request import run
from overlaynet.topology import load
from overlaynet.trace import Disposition
from overlaynet.trace.steps import EncapStep, NeighborStep, NetfilterStep


@pytest.fixture
def demo() -> Network:
    net = assemble(load([demo_topology()]).cluster)
    run(net, demo_request(net))  # warm: every index the trace uses is built
    return net


def test_a_warm_trace_is_the_cold_one(demo: Network) -> None:
    cold = assemble(load([demo_topology()]).cluster)
    assert run(demo, demo_request(demo)).trace.to_dict() == run(cold, demo_request(cold)).trace.to_dict()


def test_route_writes_after_a_warm_trace(demo: Network) -> None:
    node = demo.dataplane.namespace(NsRef("node-1"))
    backend = run(demo, demo_request(demo)).trace.packet.dst
    blackhole = Route(ip_network(f"{backend}/32"), type="blackhole")
    node.routes.append(blackhole)
    assert run(demo, demo_request(demo)).trace.disposition is Disposition.NULL_ROUTED
    node.routes.remove(blackhole)
    assert run(demo, demo_request(demo)).trace.disposition is Disposition.DELIVERED
    i = next(k for k, r in enumerate(node.routes) if r.dev == "flannel.1" and backend in r.dst)
    node.routes[i] = replace(node.routes[i], type="unreachable")  # in place: same list, same length
    assert run(demo, demo_request(demo)).trace.disposition is Disposition.NO_ROUTE


def test_neighbour_and_fdb_writes_after_a_warm_trace(demo: Network) -> None:
    node = demo.dataplane.namespace(NsRef("node-1"))

    def vtep() -> tuple[str | None, object]:
        hop = run(demo, demo_request(demo)).trace.hops[1]
        neigh = next(s for s in hop.steps if isinstance(s, NeighborStep) and s.dev == "flannel.1")
        encap = next(s for s in hop.steps if isinstance(s, EncapStep))
        return neigh.lladdr, encap.outer_dst

    mac, outer = vtep()
    i = next(k for k, n in enumerate(node.neighbors) if n.lladdr == mac)
    node.neighbors[i] = Neighbor(node.neighbors[i].ip, "flannel.1", "02:00:00:00:00:99")
    node.fdb.append(FdbEntry("02:00:00:00:00:99", "flannel.1", dst=ip_address("192.168.20.99")))
    assert vtep() == ("02:00:00:00:00:99", ip_address("192.168.20.99"))
    node.fdb.pop()
    node.neighbors[i] = Neighbor(node.neighbors[i].ip, "flannel.1", mac)
    assert vtep() == (mac, outer)


def test_device_writes_after_a_warm_trace(demo: Network) -> None:
    node = demo.dataplane.namespace(NsRef("node-1"))
    node.interfaces["flannel.1"].up = False  # its routes go (linkdown): the default route takes the packet
    t = run(demo, demo_request(demo)).trace
    assert not any(isinstance(s, EncapStep) for h in t.hops for s in h.steps)
    node.interfaces["flannel.1"].up = True
    backend = t.packet.dst
    node.interfaces["dummy9"] = Interface("dummy9", "dummy", addresses=[Address(backend, 32)])  # now local
    t = run(demo, demo_request(demo)).trace
    assert t.disposition is Disposition.ACCEPTED and t.hops[-1].ns == NsRef("node-1")
    del node.interfaces["dummy9"]
    assert run(demo, demo_request(demo)).trace.disposition is Disposition.DELIVERED


def test_rule_writes_after_a_warm_trace(demo: Network) -> None:
    node = demo.dataplane.namespace(NsRef("node-1"))
    drop = parse_rule(["-p", "tcp", "-m", "tcp", "--dport", "8080", "-j", "DROP"])
    node.netfilter.insert("filter", "FORWARD", drop)
    t = run(demo, demo_request(demo)).trace
    assert t.disposition is Disposition.DENIED
    last = [s for h in t.hops for s in h.steps if isinstance(s, NetfilterStep)][-1]
    assert (last.chain, last.rule, last.verdict) == ("FORWARD", 1, "DROP")
    node.netfilter.tables["filter"].chains["FORWARD"].rules.remove(drop)
    assert run(demo, demo_request(demo)).trace.disposition is Disposition.DELIVERED
