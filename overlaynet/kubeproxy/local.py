"""kube-proxy's local-traffic detector (``--detect-local-mode``): the match that tells a
packet from a local pod from any other, used to masquerade off-cluster traffic to a
ClusterIP and to short-circuit pods in externalTrafficPolicy=Local chains.

As ``getLocalDetectors`` in kubernetes ``cmd/kube-proxy/app/server_linux.go`` and the
detectors of ``pkg/proxy/util/localdetector.go`` (kubernetes@3db434d6): ``ClusterCIDR``
(the default) → ``-s <first --cluster-cidr of the family>``; ``NodeCIDR`` → ``-s <first of
the node's podCIDRs of the family>``; ``BridgeInterface`` → ``-i <--pod-bridge-interface>``;
``InterfaceNamePrefix`` → ``-i <--pod-interface-name-prefix>+``; the negation with ``!``.
A CIDR mode without a CIDR of the family, or an unknown mode, gives no detector at all
(``NewNoOpLocalDetector``): no off-cluster masquerade rule and no pod short-circuit.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from overlaynet.dataplane.netfilter.matches import InIface, Match, Source
from overlaynet.kubeproxy.written import Arg
from overlaynet.model.base import IPNetwork


class LocalMode(enum.Enum):
    """``--detect-local-mode`` values, spelled as kube-proxy spells them."""

    CLUSTER_CIDR = "ClusterCIDR"
    NODE_CIDR = "NodeCIDR"
    BRIDGE_INTERFACE = "BridgeInterface"
    INTERFACE_NAME_PREFIX = "InterfaceNamePrefix"

    @classmethod
    def parse(cls, text: str) -> LocalMode:
        """The mode named ``text`` (kube-proxy's spelling); ValueError lists the known ones."""
        for mode in cls:
            if mode.value == text:
                return mode
        known = ", ".join(m.value for m in cls)
        raise ValueError(f"unknown detect-local mode {text!r}; known: {known}")


@dataclass(frozen=True, slots=True)
class LocalDetector:
    """``IfLocal``/``IfNotLocal`` as typed matches, and how kube-proxy spells them."""

    if_local: Match
    if_not_local: Match
    arg: Arg  # SRC_NET for the CIDR modes, IN_IFACE for the interface modes

    @classmethod
    def by_cidr(cls, cidr: IPNetwork) -> LocalDetector:
        return cls(Source(cidr), Source(cidr, negated=True), Arg.SRC_NET)

    @classmethod
    def by_interface(cls, name: str) -> LocalDetector:
        return cls(InIface(name), InIface(name, negated=True), Arg.IN_IFACE)


def local_detector(
    mode: LocalMode,
    family: int,
    *,
    cluster_cidrs: Sequence[IPNetwork] = (),
    node_pod_cidrs: Sequence[IPNetwork] = (),
    bridge_interface: str = "",
    interface_name_prefix: str = "",
) -> LocalDetector | None:
    """The detector one proxier of ``family`` runs with, or None (no detection)."""
    if mode in (LocalMode.CLUSTER_CIDR, LocalMode.NODE_CIDR):
        cidrs = cluster_cidrs if mode is LocalMode.CLUSTER_CIDR else node_pod_cidrs
        first = next((c for c in cidrs if c.version == family), None)
        return LocalDetector.by_cidr(first) if first is not None else None
    if mode is LocalMode.BRIDGE_INTERFACE:
        if not bridge_interface:
            raise ValueError("detect-local mode BridgeInterface needs a bridge interface (--pod-bridge-interface)")
        return LocalDetector.by_interface(bridge_interface)
    if not interface_name_prefix:
        raise ValueError(
            "detect-local mode InterfaceNamePrefix needs an interface name prefix (--pod-interface-name-prefix)"
        )
    return LocalDetector.by_interface(interface_name_prefix + "+")
