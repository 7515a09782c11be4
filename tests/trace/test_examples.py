"""Every example topology loads and traces; the host-gw one explains its cross-rack failure."""

from __future__ import annotations

from pathlib import Path

import pytest

from overlaynet.network import assemble
from overlaynet.network.request import TraceRequest, run
from overlaynet.topology import load_cluster

TOPOLOGIES = Path(__file__).resolve().parents[2] / "topologies"


# Consecutive pod pairs (port 80) that are not delivered, and why: native routing and
# host-gw across racks need L2 adjacency; calico-policy's policies deny (its allow is 8080);
# Docker overlay networks are isolated from each other: db (network app) reaches web-tuned
# (network tuned) only through docker_gwbridge and the host, which has no route there.
NOT_DELIVERED = {
    ("docker-mtu1400", "default/db", "default/web-tuned"): "NO_ROUTE",
    # the CoreDNS pods every cluster has join the network `app` only (podSelector {}), not `tuned`
    ("docker-mtu1400", "default/db-tuned", "kube-system/coredns-kpj9ldf8t6-rg6xx"): "NO_ROUTE",
    ("docker-plain", "default/db", "kube-system/coredns-kpj9ldf8t6-rg6xx"): "NO_ROUTE",
    ("calico-native", "default/a2", "default/b1"): "EXITS_NETWORK",
    ("flannel-host-gw", "default/a2", "default/b1"): "EXITS_NETWORK",
    # and so does the way from rack-b to the CoreDNS pod on rack-a (every cluster has CoreDNS)
    ("calico-native", "default/b1", "kube-system/coredns-kpj9ldf8t6-rg6xx"): "EXITS_NETWORK",
    ("flannel-host-gw", "default/b1", "kube-system/coredns-kpj9ldf8t6-rg6xx"): "EXITS_NETWORK",
    ("calico-native", "kube-system/coredns-kpj9ldf8t6-rg6xx", "kube-system/coredns-kpj9ldf8t6-kz5bc"): "EXITS_NETWORK",
    ("flannel-host-gw", "kube-system/coredns-kpj9ldf8t6-rg6xx", "kube-system/coredns-kpj9ldf8t6-kz5bc"): "EXITS_NETWORK",
    ("calico-policy", "prod/frontend", "prod/api"): "DENIED",
    ("calico-policy", "prod/api", "prod/db"): "DENIED",
    ("calico-policy", "prod/db", "staging/frontend"): "DENIED",
    ("calico-policy", "staging/frontend", "staging/api"): "DENIED",
    ("calico-policy", "staging/api", "staging/db"): "DENIED",
    ("calico-policy", "qa/api", "qa/db"): "DENIED",
}


@pytest.mark.parametrize("path", sorted(TOPOLOGIES.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_example_traces_pod_to_pod_as_expected(path: Path) -> None:
    net = assemble(load_cluster([path]))
    pods = [p for p in net.cluster.pods if p.ips]
    for src, dst in zip(pods, pods[1:], strict=False):
        t = run(net, TraceRequest(src.key, dst.key)).forward.trace
        expected = NOT_DELIVERED.get((path.stem, src.key, dst.key), "DELIVERED")
        assert t.disposition.value == expected, (src.key, dst.key, t.reason)
        assert t.reason


def test_host_gw_across_racks_says_it_needs_l2_adjacency() -> None:
    net = assemble(load_cluster([TOPOLOGIES / "flannel-host-gw.yaml"]))
    assert run(net, TraceRequest("default/a1", "default/a2")).forward.success
    t = run(net, TraceRequest("default/a1", "default/b1")).forward.trace
    assert not t.success
    assert "host-gw needs L2 adjacency" in t.reason and "Nexthop has invalid gateway" in t.reason
