"""Every example topology loads and traces; the host-gw one explains its cross-rack failure."""

from __future__ import annotations

from pathlib import Path

import pytest

from overlaynet.assemble import assemble
from overlaynet.topology import load_cluster
from overlaynet.trace.request import TraceRequest, run

TOPOLOGIES = Path(__file__).resolve().parents[2] / "topologies"


@pytest.mark.parametrize("path", sorted(TOPOLOGIES.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_example_traces_pod_to_pod_without_an_error(path: Path) -> None:
    net = assemble(load_cluster([path]))
    pods = [p for p in net.cluster.pods if p.ips]
    for src, dst in zip(pods, pods[1:], strict=False):
        t = run(net, TraceRequest(src.key, dst.key)).forward.trace
        assert t.disposition.value and t.reason  # a verdict with a reason, never an exception


def test_host_gw_across_racks_says_it_needs_l2_adjacency() -> None:
    net = assemble(load_cluster([TOPOLOGIES / "flannel-host-gw.yaml"]))
    assert run(net, TraceRequest("default/a1", "default/a2")).forward.success
    t = run(net, TraceRequest("default/a1", "default/b1")).forward.trace
    assert not t.success
    assert "host-gw needs L2 adjacency" in t.reason and "Nexthop has invalid gateway" in t.reason
