"""The package's curated top level: exactly these names, each resolving on first use to the
object its home module defines, and the documented entry points working end to end."""

from __future__ import annotations

from pathlib import Path

import pytest

import overlaynet

DEMO = Path(__file__).resolve().parents[1] / "topologies" / "demo.yaml"

PUBLIC = [
    "Cluster", "Disposition", "Hop", "Network", "NsRef", "OverlaynetError", "Packet", "ReachMatrix",
    "Step", "TopologyError", "Trace", "TraceError", "TraceReport", "TraceResult", "__version__",
    "assemble", "load",
]


def test_the_public_surface_is_pinned() -> None:
    assert overlaynet.__all__ == PUBLIC


def test_every_public_name_resolves_to_its_home_object() -> None:
    from overlaynet.dataplane.ir import NsRef
    from overlaynet.network import Network, assemble, load
    from overlaynet.trace import Trace

    for name in PUBLIC:
        assert getattr(overlaynet, name) is not None, name
    assert (overlaynet.Network, overlaynet.load, overlaynet.assemble) == (Network, load, assemble)
    assert overlaynet.NsRef is NsRef and overlaynet.Trace is Trace
    assert set(PUBLIC) <= set(dir(overlaynet))


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'trace_everything'"):
        overlaynet.trace_everything  # noqa: B018


def test_load_trace_reach_routes_rules_in_the_clis_words() -> None:
    net = overlaynet.load(DEMO)
    frontend = next(p for p in net.cluster.pods if p.labels.get("app") == "frontend")
    report = net.trace(frontend.key, "web:80", reply=True)
    assert report.trace.disposition is overlaynet.Disposition.DELIVERED
    assert report.trace.hops[0].ns == overlaynet.NsRef.of_pod(frontend)
    assert report.reply is not None and report.reply.trace.hops[-1].ns == overlaynet.NsRef.of_pod(frontend)
    assert [s.kind for s in report.trace.hops[0].steps][0] == "dns"  # "web" resolved from the pod's resolv.conf
    node = frontend.node
    assert node is not None
    routes = net.routes(node)
    assert any(r.dst.prefixlen == 0 for r in routes) and routes == sorted(
        routes, key=lambda r: (r.dst.version, int(r.dst.network_address), -r.dst.prefixlen))
    assert "KUBE-SERVICES" in net.rules(node).table("nat").chains
    m = net.reach(port=80)  # no policies, one flat network: everyone reaches everyone
    assert m.allowed.shape == (7, 7) and m.allowed.all() and frontend.key in [p.key for p in m.pods]
    with pytest.raises(overlaynet.TraceError, match="no such node or router 'nowhere'"):
        net.routes("nowhere")
    with pytest.raises(overlaynet.TraceError, match="no pod"):
        net.trace("default/nobody", "web:80")


def test_load_reports_bad_files_as_topology_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec: {containers: 3}\n")
    with pytest.raises(overlaynet.TopologyError, match="bad.yaml:"):
        overlaynet.load(bad)
