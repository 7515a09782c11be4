"""Model → dataplane: run the driver's IPAM and the endpoints controller, build the underlay,
and program each host lazily (underlay host set-up, driver, kube-proxy) on first access.

The design envelope (5,000 nodes, 150,000 pods) rules out programming every node up front: a
trace builds only the hosts it enters.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from overlaynet.dataplane.ir import Dataplane
from overlaynet.dataplane.underlay import build_underlay, program_host
from overlaynet.drivers.base import Driver
from overlaynet.model import Cluster

if TYPE_CHECKING:
    from overlaynet.kv.base import KVStore

__all__ = ["Network", "assemble"]


@dataclass
class Network:
    """A cluster with its driver and its (lazily programmed) dataplane."""

    cluster: Cluster  # as allocated: node pod CIDRs, pod IPs, EndpointSlices filled in
    dataplane: Dataplane
    driver: Driver

    def build_all(self) -> Dataplane:
        """Program every node now (the materializer and the benchmarks' eager baseline)."""
        for node in self.cluster.nodes:
            self.dataplane.ensure_host(node.name)
        return self.dataplane


def assemble(
    cluster: Cluster,
    *,
    seed: int = 0,
    kv: KVStore | None = None,
    driver: str | type[Driver] | None = None,
    driver_options: Mapping[str, Any] | None = None,
) -> Network:
    """Turn a loaded cluster into a ``Network`` ready to trace.

    ``driver`` defaults to ``cluster.network.driver`` (a registry name, or a Driver class for
    drivers that are not registered); ``driver_options`` default to the cluster's. ``kv``
    defaults to the store the cluster's ``kv:`` section names (in-memory unless told); ``seed`` makes the driver's random choices
    (flannel's subnet pick) repeatable.
    """
    from overlaynet.drivers.registry import get_driver
    from overlaynet.topology.controllers import reconcile_endpoints

    if driver is None or isinstance(driver, str):
        driver_cls = get_driver(driver or cluster.network.driver)
    else:
        driver_cls = driver
    if driver_options is None:
        driver_options = dict(cluster.network.options) if driver is None or driver == cluster.network.driver else {}
    if kv is None:
        from overlaynet.kv import open_kv

        kv = open_kv(cluster.kv)
    drv = driver_cls(cluster, driver_options, kv=kv, seed=seed)
    allocated = reconcile_endpoints(drv.allocate())
    dp = build_underlay(allocated)
    network = Network(cluster=allocated, dataplane=dp, driver=drv)
    nodes = {n.name: n for n in allocated.nodes}

    def build_host(dp: Dataplane, host: str) -> None:
        node = nodes.get(host)
        if node is None:
            return  # a router (built with the underlay) or a name that is not a node
        program_host(dp, network.cluster, node)
        drv.program_node(dp, node)
        # kube-proxy programs here
        from overlaynet.kubeproxy.program import program_node as program_kube_proxy

        program_kube_proxy(dp, network.cluster, node)

    dp.builder = build_host
    return network
