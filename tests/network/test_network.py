"""assemble(): driver lookup, IPAM and endpoints, lazy per-host programming."""

from __future__ import annotations

from ipaddress import ip_address, ip_network

import pytest

from overlaynet.dataplane.ir import NsRef
from overlaynet.drivers.fake import FakeDriver
from overlaynet.errors import UnknownDriver
from overlaynet.model import (
    Cluster,
    FrozenDict,
    NetworkSpec,
    Node,
    Pod,
    Segment,
    Service,
    ServicePort,
    Underlay,
)
from overlaynet.network import assemble

A = ip_address


def cluster(driver: str = "fake") -> Cluster:
    return Cluster(
        pod_cidrs=(ip_network("10.244.0.0/16"),),
        service_cidrs=(ip_network("10.96.0.0/12"),),
        underlay=Underlay(segments=(Segment("s", ip_network("192.168.1.0/24")),)),
        nodes=(Node("n1", A("192.168.1.11"), "s"), Node("n2", A("192.168.1.12"), "s")),
        pods=(Pod("web-0", labels=FrozenDict({"app": "web"}), node="n1"), Pod("web-1", labels=FrozenDict({"app": "web"}), node="n2")),
        services=(Service("web", selector=FrozenDict({"app": "web"}), ports=(ServicePort(80),), cluster_ips=(A("10.96.0.20"),)),),
        network=NetworkSpec(driver),
    )


def test_hosts_are_programmed_lazily() -> None:
    net = assemble(cluster())
    dp = net.dataplane
    assert not any(ref.host in ("n1", "n2") for ref in dp.namespaces)
    pods = dp.host_namespaces("n1")
    assert {ns.ref for ns in pods} >= {NsRef("n1"), NsRef.pod("n1", "default/web-0")}
    assert NsRef("n2") not in dp.namespaces
    net.build_all()
    assert NsRef.pod("n2", "default/web-1") in dp.namespaces


def test_ipam_and_endpoints_are_filled_in() -> None:
    net = assemble(cluster())
    assert all(p.ip is not None for p in net.cluster.pods)
    slices = net.cluster.slices_for(net.cluster.service("default", "web"))
    assert {e.addresses[0] for s in slices for e in s.endpoints} == {p.ip for p in net.cluster.pods}


def test_driver_by_class_and_by_name() -> None:
    assert isinstance(assemble(cluster(), driver=FakeDriver).driver, FakeDriver)
    assert assemble(cluster("flannel"), driver_options={"backend": "vxlan"}).driver.name == "flannel"


def test_unknown_driver_lists_the_known_ones() -> None:
    with pytest.raises(UnknownDriver, match="flannel"):
        assemble(cluster("nope"))


def test_docstring_examples_run() -> None:
    import doctest

    import overlaynet.network.network as module

    result = doctest.testmod(module)
    assert result.attempted >= 2 and result.failed == 0
