"""render → load gives the same model back: for generated clusters and the example files."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from overlaynet.model import Cluster
from overlaynet.testing.strategies import clusters
from overlaynet.topology import load, load_text
from overlaynet.topology.render import render

from . import PROPERTIES

TOPOLOGIES = sorted((Path(__file__).parents[2] / "topologies").glob("*.yaml"))


@PROPERTIES
@given(st.booleans().flatmap(lambda dual: clusters(max_nodes=4, policies=True, dual_stack=dual)))
def test_render_then_load_gives_the_same_cluster(cluster: Cluster) -> None:
    text = render(cluster)
    assert load_text(text, "rendered.yaml").cluster == cluster


@PROPERTIES
@given(clusters(max_nodes=2, drivers=("flannel", "calico"), driver_options={
    "flannel": st.fixed_dictionaries({"backend": st.sampled_from(["vxlan", "host-gw", "udp"])}),
    "calico": {"ipipMode": "CrossSubnet", "pools": [{"cidr": "10.244.0.0/16"}]},
}))
def test_driver_options_survive_the_round_trip(cluster: Cluster) -> None:
    assert cluster.network.driver in ("flannel", "calico")
    assert load_text(render(cluster)).cluster.network == cluster.network


def _without_owners(cluster: Cluster) -> Cluster:
    # A plain Pod's ownerReferences do not set Pod.owner when loaded (the loader keeps owner
    # for the pods it expands from workloads), so owners are compared separately.
    return replace(cluster, pods=tuple(replace(p, owner=None) for p in cluster.pods))


@pytest.mark.parametrize("path", TOPOLOGIES, ids=[p.name for p in TOPOLOGIES])
def test_example_topologies_round_trip(path: Path) -> None:
    cluster = load([path]).cluster
    back = load_text(render(cluster), f"rendered-{path.name}").cluster
    assert _without_owners(back) == _without_owners(cluster)
    assert back.workloads == cluster.workloads
