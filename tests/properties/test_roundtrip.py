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
from overlaynet.topology.system import without_system

from . import PROPERTIES

TOPOLOGIES = sorted((Path(__file__).parents[2] / "topologies").glob("*.yaml"))


@PROPERTIES
@given(st.booleans().flatmap(lambda dual: clusters(max_nodes=4, policies=True, dual_stack=dual)))
def test_render_then_load_gives_the_same_cluster(cluster: Cluster) -> None:
    text = render(cluster)
    assert without_system(load_text(text, "rendered.yaml").cluster) == cluster


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


def test_render_writes_plain_pods_and_only_hand_written_slices() -> None:
    import yaml

    cluster = load([Path(__file__).parents[2] / "topologies" / "custom-service.yaml"]).cluster
    docs = list(yaml.safe_load_all(render(cluster)))
    assert docs[0]["apiVersion"] == "overlaynet/v1" and docs[0]["kind"] == "Cluster"
    kinds = [d["kind"] for d in docs]
    assert {"Deployment", "ReplicaSet", "ReplicationController"}.isdisjoint(kinds)  # none in this file
    for pod in (d for d in docs if d["kind"] == "Pod"):
        model = cluster.pod(pod["metadata"].get("namespace", "default"), pod["metadata"]["name"])
        assert pod["spec"]["nodeName"] == model.node
        # an address the default IPAM chose is left for the loader to choose again
        assert pod["status"].get("podIP") == (None if model.allocated else str(model.ip))
    selected = {s.name for s in cluster.services if s.selector is not None}
    slices = [d for d in docs if d["kind"] == "EndpointSlice"]
    assert slices, "the selector-less service's hand-written endpoints are written out"
    assert all(d["metadata"]["labels"]["kubernetes.io/service-name"] not in selected for d in slices)
