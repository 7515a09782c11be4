"""How a trace ends: the ``Disposition`` vocabulary (pybatfish's, plus the kernel's own
endings). Its own module so that steps (``DropStep``) and traces can both name it."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["Disposition"]


class Disposition(StrEnum):
    """How a trace ends. Only DELIVERED and ACCEPTED are successes."""

    DELIVERED = "DELIVERED"  # reached the destination pod's namespace
    ACCEPTED = "ACCEPTED"  # terminated on a host or router (a local address there)
    EXITS_NETWORK = "EXITS_NETWORK"  # left the topology through the border router's uplink
    DENIED = "DENIED"  # dropped by a netfilter rule, a policy or rp_filter
    REJECTED = "REJECTED"  # refused with an ICMP error (REJECT, prohibit route)
    NO_ROUTE = "NO_ROUTE"  # no usable route (none, unreachable, bad gateway, forwarding off)
    NULL_ROUTED = "NULL_ROUTED"  # a blackhole route
    NEIGHBOR_UNREACHABLE = "NEIGHBOR_UNREACHABLE"  # ARP / FDB found nobody for the next hop
    LOOP = "LOOP"  # the same packet came back to the same namespace
    TTL_EXCEEDED = "TTL_EXCEEDED"
    FRAG_NEEDED = "FRAG_NEEDED"  # DF set and bigger than the egress MTU
    NXDOMAIN = "NXDOMAIN"  # the target name does not resolve

    @property
    def success(self) -> bool:
        return self in (Disposition.DELIVERED, Disposition.ACCEPTED)

    def __str__(self) -> str:
        return self.value
