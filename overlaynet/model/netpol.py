"""Kubernetes NetworkPolicy semantics, as pure functions of the model.

Isolation per direction; a connection needs egress allowed at the source AND ingress allowed
at the destination; policies are a union of allows; replies of an allowed connection pass.
Source: kubernetes.io "Network Policies" (reference/drivers.md §2.7). Drivers that enforce
policy render these semantics into netfilter chains; analyses use them to group pods.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from overlaynet.model.base import IPAddress, LabelSelector
from overlaynet.model.cluster import Cluster
from overlaynet.model.policy import NetworkPolicy, PolicyPeer, PolicyPort, PolicyRule
from overlaynet.model.workloads import Pod

Direction = Literal["Ingress", "Egress"]


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer for one direction: allowed or not, and which policy/rule said so.

    ``rule`` is 1-based within the policy's ingress or egress list.
    """

    allowed: bool
    isolated: bool
    policy: str | None = None
    rule: int | None = None
    selecting: tuple[str, ...] = ()

    def reason(self, direction: Direction) -> str:
        d = direction.lower()
        if not self.isolated:
            return f"{d}: no policy selects the pod, allowed by default"
        if self.allowed:
            return f"{d}: allowed by policy {self.policy}, {d} rule {self.rule}"
        return f"{d}: denied, no policy allows it ({', '.join(self.selecting)} select(s) the pod)"


def selects(policy: NetworkPolicy, pod: Pod) -> bool:
    return policy.namespace == pod.namespace and policy.pod_selector.matches(pod.labels)


def applies(policy: NetworkPolicy, direction: Direction) -> bool:
    return direction in policy.policy_types


def selecting_policies(cluster: Cluster, pod: Pod, direction: Direction) -> tuple[NetworkPolicy, ...]:
    return tuple(p for p in cluster.network_policies if applies(p, direction) and selects(p, pod))


def _selector_matches(sel: LabelSelector | None, labels: object) -> bool:
    return sel is None or sel.matches(labels)  # type: ignore[arg-type]


def peer_matches(
    cluster: Cluster, policy: NetworkPolicy, peer: PolicyPeer, other: Pod | None, other_ip: IPAddress
) -> bool:
    """Does ``peer`` (a from/to entry of ``policy``) match the other end of the connection?"""
    if peer.ip_block is not None:
        return peer.ip_block.contains(other_ip)
    if other is None:
        return False  # pod and namespace selectors only ever select pods
    if peer.namespace_selector is not None:
        if not peer.namespace_selector.matches(cluster.namespace_labels(other.namespace)):
            return False
    elif other.namespace != policy.namespace:
        return False
    return _selector_matches(peer.pod_selector, other.labels)


def port_matches(port: PolicyPort, proto: str, dport: int | None, dst_pod: Pod | None) -> bool:
    if port.protocol.lower() != proto.lower():
        return False
    if port.port is None:
        return True
    if dport is None:
        return False
    if isinstance(port.port, str):
        if dst_pod is None:
            return False
        named = dst_pod.port_named(port.port, port.protocol)
        return named is not None and named == dport
    hi = port.end_port if port.end_port is not None else port.port
    return port.port <= dport <= hi


def rule_matches(
    cluster: Cluster,
    policy: NetworkPolicy,
    rule: PolicyRule,
    other: Pod | None,
    other_ip: IPAddress,
    proto: str,
    dport: int | None,
    dst_pod: Pod | None,
) -> bool:
    if rule.peers and not any(peer_matches(cluster, policy, p, other, other_ip) for p in rule.peers):
        return False
    return not rule.ports or any(port_matches(p, proto, dport, dst_pod) for p in rule.ports)


def decide(
    cluster: Cluster,
    pod: Pod,
    direction: Direction,
    other: Pod | None,
    other_ip: IPAddress,
    proto: str,
    dport: int | None,
) -> Decision:
    """Is traffic allowed for ``pod`` in ``direction`` with ``other`` (pod or plain address)?"""
    policies = selecting_policies(cluster, pod, direction)
    if not policies:
        return Decision(True, False)
    dst_pod = pod if direction == "Ingress" else other
    for policy in policies:
        rules = policy.ingress if direction == "Ingress" else policy.egress
        for i, rule in enumerate(rules, 1):
            if rule_matches(cluster, policy, rule, other, other_ip, proto, dport, dst_pod):
                return Decision(True, True, policy.key, i, tuple(p.key for p in policies))
    return Decision(False, True, selecting=tuple(p.key for p in policies))


@dataclass(frozen=True, slots=True)
class ConnectionVerdict:
    allowed: bool
    egress: Decision
    ingress: Decision


def connection_allowed(
    cluster: Cluster,
    src: Pod | None,
    src_ip: IPAddress,
    dst: Pod | None,
    dst_ip: IPAddress,
    proto: str = "TCP",
    dport: int | None = None,
) -> ConnectionVerdict:
    """Egress at the source pod and ingress at the destination pod (either may be outside)."""
    allow = Decision(True, False)
    egress = decide(cluster, src, "Egress", dst, dst_ip, proto, dport) if src is not None else allow
    ingress = decide(cluster, dst, "Ingress", src, src_ip, proto, dport) if dst is not None else allow
    return ConnectionVerdict(egress.allowed and ingress.allowed, egress, ingress)
