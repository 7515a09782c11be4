"""The driver contract: a driver is a Python CNI plugin plus its node agent.

One class per driver module. It validates its options, allocates addresses (IPAM), and
programs one node's dataplane exactly as the real agent and CNI plugin program a kernel.
Drivers never trace and never import one another.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from overlaynet.dataplane.ir import Dataplane
from overlaynet.model import Cluster, IPNetwork, Node

if TYPE_CHECKING:
    from overlaynet.kv.base import KVStore


class Driver(ABC):
    """Base class of every network driver.

    Lifecycle, driven by ``overlaynet.network``: ``__init__`` (options validated) →
    ``allocate()`` once (returns the cluster with node pod CIDRs / pod IPs the driver's IPAM
    chose, for objects whose addresses the file did not give) → ``program_node()`` per node,
    lazily, the first time a trace enters that node.
    """

    name: ClassVar[str]
    #: Does the driver enforce NetworkPolicy? Traces warn when a policy selects a pod but not.
    enforces_policy: ClassVar[bool] = False
    #: Whose semantics its enforcement follows ("kubernetes" or "calico"), for analyses.
    policy_semantics: ClassVar[str] = "kubernetes"

    def __init__(
        self,
        cluster: Cluster,
        options: Mapping[str, Any] | None = None,
        *,
        kv: KVStore | None = None,
        seed: int = 0,
    ) -> None:
        self.cluster = cluster
        self.options = self.validate_options(dict(options or {}))
        if kv is None:  # a driver always has a store for its state; in memory unless given
            from overlaynet.kv.memory import MemoryKV

            kv = MemoryKV()
        self.kv: KVStore = kv
        self.seed = seed

    @classmethod
    @abstractmethod
    def validate_options(cls, options: Mapping[str, Any]) -> dict[str, Any]:
        """Return the options with defaults filled in; raise DriverOptionError when invalid."""

    @classmethod
    def modes(cls) -> dict[str, dict[str, Any]]:
        """Named option sets worth comparing (``overhead --modes``), e.g. {"vxlan": {...}}."""
        return {"default": {}}

    @abstractmethod
    def allocate(self) -> Cluster:
        """Run the driver's IPAM; return the cluster with the addresses it chose."""

    @abstractmethod
    def program_node(self, dp: Dataplane, node: Node) -> None:
        """Write what the agent and CNI plugin write on ``node``: devices, routes, neighbours,
        FDB, pod namespaces and veths. The node's root namespace and its underlay interface
        already exist (``overlaynet.dataplane.underlay``)."""

    def pod_networks(self, node: Node) -> tuple[IPNetwork, ...]:
        """The networks a pod address on ``node`` comes from: the node's pod CIDRs for
        drivers that give each node a subnet; drivers with cluster-wide networks (Docker
        overlay) say so."""
        return node.pod_cidrs

    @abstractmethod
    def pod_mtu(self, node: Node) -> int:
        """The MTU the CNI plugin gives pod interfaces on ``node``."""
