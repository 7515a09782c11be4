"""A topology of Kubernetes objects only gets the default gateway every real node has."""

from __future__ import annotations

from pathlib import Path

from overlaynet.network import assemble
from overlaynet.network.request import TraceRequest, run
from overlaynet.topology import load_cluster, load_text

TOPOLOGIES = Path(__file__).resolve().parents[2] / "topologies"


def test_inferred_segment_gets_a_gateway_router() -> None:
    cluster = load_cluster([TOPOLOGIES / "node-js.yaml"])
    [router] = cluster.underlay.routers
    assert router.name == "gateway" and str(router.interfaces["default"]) == "192.168.0.1"


def test_no_node_address_default_segment_gets_a_gateway_too() -> None:
    cluster = load_text("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c, image: x}]}\n").cluster
    assert [r.name for r in cluster.underlay.routers] == ["gateway"]


def test_selector_less_service_to_outside_endpoints_leaves_by_the_gateway() -> None:
    net = assemble(load_cluster([TOPOLOGIES / "custom-service.yaml"]))
    t = run(net, TraceRequest("default/client", "default/custom-service")).forward.trace
    assert t.disposition.value == "EXITS_NETWORK" and "gateway" in t.reason


def test_a_service_name_wins_over_a_prefix_of_its_pods() -> None:
    net = assemble(load_cluster([TOPOLOGIES / "node-js.yaml"]))
    src = net.cluster.pods[0].key
    t = run(net, TraceRequest(src, "default/node-js")).forward.trace  # Service node-js, pods node-js-*
    assert t.disposition.value == "DELIVERED"
    assert any(s.kind == "dnat" for h in t.hops for s in h.steps)
