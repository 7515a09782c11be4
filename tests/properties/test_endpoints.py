"""EndpointSlices agree with selectors and readiness, as the endpoints controller makes them."""

from __future__ import annotations

from hypothesis import given

from overlaynet.model import Cluster, Pod, Service
from overlaynet.testing.strategies import clusters

from . import PROPERTIES


def selected(svc: Service, pod: Pod) -> bool:
    """The controller's choice, written out independently: same namespace, every selector
    label present with its value, a live pod with an address."""
    assert svc.selector is not None
    return (
        pod.namespace == svc.namespace
        and all(k in pod.labels and pod.labels[k] == v for k, v in svc.selector.items())
        and pod.phase not in ("Succeeded", "Failed")
        and bool(pod.ips)
    )


def _with_selector(cluster: Cluster) -> list[Service]:
    return [s for s in cluster.services if s.selector is not None and s.type != "ExternalName"]


@PROPERTIES
@given(clusters(max_nodes=4, max_pods_per_node=4))
def test_every_selected_ready_pod_is_a_ready_endpoint(cluster: Cluster) -> None:
    for svc in _with_selector(cluster):
        endpoints = [e for sl in cluster.slices_for(svc) for e in sl.endpoints]
        for pod in cluster.pods:
            if not selected(svc, pod) or not pod.ready or pod.terminating:
                continue
            mine = [e for e in endpoints if e.target_ref is not None and e.target_ref.name == pod.name
                    and e.target_ref.namespace == pod.namespace]
            assert mine, f"{pod.key} is selected and ready but no endpoint of {svc.key}"
            assert all(e.ready and e.serving for e in mine)
            assert {a for e in mine for a in e.addresses} <= set(pod.ips)
            assert all(e.node_name == pod.node for e in mine)


@PROPERTIES
@given(clusters(max_nodes=4, max_pods_per_node=4))
def test_no_endpoint_belongs_to_an_unselected_pod(cluster: Cluster) -> None:
    pods = {(p.namespace, p.name): p for p in cluster.pods}
    for svc in _with_selector(cluster):
        for sl in cluster.slices_for(svc):
            assert sl.managed_by == "endpointslice-controller.k8s.io"
            for e in sl.endpoints:
                assert e.target_ref is not None and e.target_ref.kind == "Pod"
                pod = pods[(e.target_ref.namespace, e.target_ref.name)]
                assert selected(svc, pod), f"{pod.key} is an endpoint of {svc.key} but not selected"
                if not svc.publish_not_ready_addresses:
                    assert e.ready == (pod.ready and not pod.terminating)


@PROPERTIES
@given(clusters(max_nodes=3))
def test_selector_less_services_keep_their_hand_written_slices(cluster: Cluster) -> None:
    for svc in cluster.services:
        if svc.selector is None:
            assert all(sl.managed_by == "user" for sl in cluster.slices_for(svc))
