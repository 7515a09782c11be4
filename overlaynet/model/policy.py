"""NetworkPolicy in the full networking.k8s.io/v1 shape."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from overlaynet.model.base import IPNetwork, LabelSelector, Source


@dataclass(frozen=True, slots=True)
class IPBlock:
    cidr: IPNetwork
    except_: tuple[IPNetwork, ...] = ()

    def contains(self, addr: object) -> bool:
        if addr not in self.cidr:
            return False
        return not any(addr in e for e in self.except_)


@dataclass(frozen=True, slots=True)
class PolicyPeer:
    """One ``from``/``to`` entry. Both selectors set means their AND (pods matching
    ``pod_selector`` in namespaces matching ``namespace_selector``); a lone ``pod_selector``
    means the policy's own namespace; a lone ``namespace_selector`` all pods there."""

    pod_selector: LabelSelector | None = None
    namespace_selector: LabelSelector | None = None
    ip_block: IPBlock | None = None


@dataclass(frozen=True, slots=True)
class PolicyPort:
    protocol: Literal["TCP", "UDP", "SCTP"] = "TCP"
    port: int | str | None = None  # None: all ports; str: a named port of the destination pod
    end_port: int | None = None


@dataclass(frozen=True, slots=True)
class PolicyRule:
    """An ingress or egress rule: empty ``peers`` means all peers, empty ``ports`` all ports."""

    peers: tuple[PolicyPeer, ...] = ()
    ports: tuple[PolicyPort, ...] = ()


@dataclass(frozen=True, slots=True)
class NetworkPolicy:
    name: str
    namespace: str
    pod_selector: LabelSelector = field(default_factory=LabelSelector)
    policy_types: tuple[Literal["Ingress", "Egress"], ...] = ("Ingress",)
    ingress: tuple[PolicyRule, ...] = ()
    egress: tuple[PolicyRule, ...] = ()
    source: Source | None = field(default=None, compare=False)

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"
