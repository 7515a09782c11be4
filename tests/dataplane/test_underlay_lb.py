"""LoadBalancer ingress IPs are routed by the underlay's routers to a node, as a cloud LB does."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from overlaynet.dataplane.ir import NsRef
from overlaynet.network import assemble
from overlaynet.network.request import TraceRequest, run
from overlaynet.topology import load_cluster

LB = Path(__file__).resolve().parents[2] / "topologies" / "loadbalancer.yaml"


def test_router_routes_the_ingress_ip_to_a_node() -> None:
    net = assemble(load_cluster([LB]))
    core = net.dataplane.namespace(NsRef("core"))
    route = next(r for r in core.routes if str(r.dst) == "198.51.100.10/32")
    assert str(route.via) == "192.168.10.11" and "cloud load balancer: default/web" in route.origin


def test_external_client_in_source_ranges_reaches_the_pod() -> None:
    net = assemble(load_cluster([LB]))
    t = run(net, TraceRequest("203.0.113.9", "198.51.100.10:80")).forward.trace
    assert t.disposition.value == "DELIVERED"
    kinds = [s.kind for h in t.hops for s in h.steps]
    assert "dnat" in kinds and "encap" in kinds  # DNAT on node-1, then VXLAN to node-2


def test_external_client_outside_source_ranges_is_dropped_by_the_lb_firewall() -> None:
    net = assemble(load_cluster([LB]))
    t = run(net, TraceRequest("198.18.0.9", "198.51.100.10:80")).forward.trace
    assert t.disposition.value == "DENIED" and "KUBE-PROXY-FIREWALL" in t.reason


def test_traffic_policy_local_routes_to_a_node_with_an_endpoint() -> None:
    cluster = load_cluster([LB])
    web = cluster.service("default", "web")
    svc = replace(web, external_traffic_policy="Local")
    net = assemble(replace(cluster, services=tuple(svc if s is web else s for s in cluster.services)))
    core = net.dataplane.namespace(NsRef("core"))
    route = next(r for r in core.routes if str(r.dst) == "198.51.100.10/32")
    assert str(route.via) == "192.168.20.12" and "externalTrafficPolicy Local" in route.origin
    t = run(net, TraceRequest("203.0.113.9", "198.51.100.10:80")).forward.trace
    assert t.disposition.value == "DELIVERED"
    assert "encap" not in [s.kind for h in t.hops for s in h.steps]  # no second hop: local endpoint
