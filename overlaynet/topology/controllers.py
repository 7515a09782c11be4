"""The controllers a real cluster runs, as pure functions of a ``Cluster``.

``reconcile_endpoints`` is the EndpointSlice controller (and the mirroring controller's result
for selector-less services), in ``endpoints.py``; ``allocate_default`` is host-local IPAM
with node CIDRs from the node IPAM controller and ``allocate_service_addresses`` the API
server's ClusterIP/NodePort allocators, in ``ipam.py``; ``schedule`` stands in for
kube-scheduler, in ``scheduler.py``. All are deterministic and idempotent: drivers call
``reconcile_endpoints`` again after their IPAM moves pod IPs.
"""

from overlaynet.topology.endpoints import MAX_ENDPOINTS_PER_SLICE, PodIndex, reconcile_endpoints
from overlaynet.topology.ipam import (
    NODE_MASK,
    allocate_default,
    allocate_service_addresses,
    covering,
)
from overlaynet.topology.scheduler import schedule

__all__ = [
    "MAX_ENDPOINTS_PER_SLICE",
    "NODE_MASK",
    "PodIndex",
    "allocate_default",
    "allocate_service_addresses",
    "covering",
    "reconcile_endpoints",
    "schedule",
]
