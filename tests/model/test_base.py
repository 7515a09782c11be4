"""``evolve``: the same result as ``dataclasses.replace`` for the model's dataclasses."""

from __future__ import annotations

import ipaddress
import pickle
from dataclasses import dataclass, replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from overlaynet.model import Cluster, FrozenDict, Node, Pod
from overlaynet.model.base import evolve


@settings(max_examples=50, deadline=None)
@given(node=st.none() | st.sampled_from(["n1", "n2"]), ready=st.booleans(), last=st.integers(1, 254))
def test_evolve_equals_replace(node: str | None, ready: bool, last: int) -> None:
    pod = Pod("web-0", "shop", FrozenDict({"app": "web"}), owner="Deployment/web")
    ips = (ipaddress.ip_address(f"10.0.0.{last}"),)
    got = evolve(pod, node=node, ready=ready, ips=ips)
    assert got == replace(pod, node=node, ready=ready, ips=ips)
    assert (got.node, got.ready, got.ips, got.labels, got.owner) == (node, ready, ips, pod.labels, "Deployment/web")
    assert pod.node is None and pod.ips == ()  # the original is untouched


def test_evolve_rejects_unknown_fields_and_keeps_frozen() -> None:
    pod = Pod("p")
    with pytest.raises(TypeError, match="no field 'nod'"):
        evolve(pod, nod="n1")
    with pytest.raises(AttributeError):
        evolve(pod, node="n1").node = "n2"  # type: ignore[misc]


def test_evolve_runs_post_init_through_replace() -> None:
    @dataclass(frozen=True)
    class Checked:
        value: int

        def __post_init__(self) -> None:
            if self.value < 0:
                raise ValueError("negative")

    with pytest.raises(ValueError, match="negative"):
        evolve(Checked(1), value=-1)


def test_clusters_and_label_maps_pickle_without_their_indexes() -> None:
    node = Node("n1", ipaddress.ip_address("192.168.0.11"), "s", FrozenDict({"zone": "a"}))
    cluster = Cluster(nodes=(node,), pods=(Pod("p", node="n1"),))
    assert cluster.pods_on("n1") == cluster.pods  # builds an index
    copy = pickle.loads(pickle.dumps(cluster))
    assert copy == cluster and "_pods_by_node" not in copy.__dict__
    assert copy.pods_on("n1") == cluster.pods and copy.nodes[0].labels == FrozenDict({"zone": "a"})


class _SubPod(Pod):  # not a dataclass of its own: takes Pod's fields
    __slots__ = ()


def test_every_slotted_model_class_unpickles_through_its_own_setstate() -> None:
    """base.unpickle_fast: each class gets straight-line code for its own fields (the
    dataclasses one calls fields() per object); a subclass never inherits its parent's."""
    import overlaynet.model as model
    from overlaynet.model.base import _setstate_by_fields
    from overlaynet.model.services import Endpoint, EndpointSlice, ObjectRef

    modules = (model._base, model._cluster, model._netpol, model._policy, model._services, model._workloads)
    slotted = [c for m in modules for c in vars(m).values()
               if isinstance(c, type) and c.__module__ == m.__name__ and "__slots__" in vars(c) and "__setstate__" in vars(c)]
    assert Pod in slotted and ObjectRef in slotted and len(slotted) >= 25
    assert all(vars(c)["__setstate__"].__qualname__ in (_setstate_by_fields.__qualname__, "setstate") for c in slotted)

    ep = Endpoint(addresses=(ipaddress.ip_address("10.0.0.2"),), node_name="n1", ready=False,
                  target_ref=ObjectRef("Pod", "p", "shop"))
    eps = EndpointSlice(name="s-1", namespace="shop", service="s", endpoints=(ep,))
    pod = Pod("web-0", "shop", FrozenDict({"app": "web"}), node="n1", ips=(ipaddress.ip_address("10.0.0.2"),), creation_index=7)
    for obj in (eps, pod, _SubPod("x", node="n2"), eps, pod):  # the second time through the generated code
        copy = pickle.loads(pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL))
        assert copy == obj and type(copy) is type(obj)
    assert pickle.loads(pickle.dumps(pod)).creation_index == 7
    assert vars(Pod)["__setstate__"].__qualname__ == "setstate"  # made on first use
